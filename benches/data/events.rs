//! Lifecycle events for benchmarks: bounces with the corpus answers
//! (`tests/data/responses.jsonl`), deliveries, unsubscribes, complaints and
//! reactivation requests, spread over many contacts in campaign rounds.
//!
//! Event `i` goes to contact `i % contacts` (`user{k}@DOMAIN`, the domain
//! one of the corpus's receivers), in campaign `c-{i / contacts}` a day after
//! the previous one; ids are unique (`ev-{i}`). The output depends only on
//! `n` and `contacts`.

use std::io::Write;

/// Writes `n` events over `contacts` contacts as JSON Lines.
pub fn write(n: usize, contacts: usize, out: &mut impl Write) -> std::io::Result<()> {
    let corpus = include_str!("../../tests/data/responses.jsonl");
    let cases: Vec<serde_json::Value> = corpus.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // The answers by the recipient's domain, so that an address and its answers agree.
    let mut domains: Vec<(String, Vec<&serde_json::Value>)> = Vec::new();
    for c in &cases {
        let domain = c["recipient"].as_str().unwrap().rsplit_once('@').unwrap().1;
        match domains.iter_mut().find(|(d, _)| d == domain) {
            Some((_, v)) => v.push(c),
            None => domains.push((domain.to_string(), vec![c])),
        }
    }
    let start = jiff::Timestamp::from_second(1_767_225_600).unwrap(); // 2026-01-01T00:00:00Z
    let contacts = contacts.max(1);
    for i in 0..n {
        let (k, round) = (i % contacts, i / contacts);
        let (domain, answers) = &domains[k % domains.len()];
        let at = start + jiff::SignedDuration::from_secs((round * 86_400 + k % 86_400) as i64);
        let mut e = serde_json::json!({
            "id": format!("ev-{i}"), "recipient": format!("user{k}@{domain}"),
            "campaign": format!("c-{round}"), "at": at.to_string(),
        });
        let pick = (k.wrapping_mul(31) + round.wrapping_mul(17)) % 100;
        let kind = match pick {
            0..68 => None,
            68..93 => Some("delivered"),
            93..96 => Some("unsubscribe"),
            96..98 => Some("complaint"),
            _ => Some("reactivate"),
        };
        match kind {
            None => {
                let a = answers[(k / domains.len() + round) % answers.len()];
                for key in ["code", "status", "text", "mx"] {
                    if !a[key].is_null() {
                        e[key] = a[key].clone();
                    }
                }
            }
            Some(kind) => {
                e["type"] = kind.into();
                if kind == "complaint" {
                    e["feedback_type"] = "abuse".into();
                }
            }
        }
        serde_json::to_writer(&mut *out, &e)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
