//! The corpus of real receiver answers (`tests/data/responses.jsonl`, copied
//! from `../shared/corpus`) through the shipped policy: agreement with the
//! labels, and the fast path agreeing with the traced one on every case.

use rebound::event::Event;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Case {
    pub id: String,
    pub recipient: String,
    pub mx: Option<String>,
    pub code: Option<u16>,
    pub status: Option<String>,
    pub text: String,
    pub expect: Expect,
}

#[derive(Deserialize)]
pub struct Expect {
    pub class: String,
    pub reason: String,
    pub scope: String,
}

pub fn cases() -> Vec<Case> {
    let data = std::fs::read_to_string(crate::root().join("tests/data/responses.jsonl")).unwrap();
    data.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

pub fn event(c: &Case) -> Event<'_> {
    let mut e = Event::bounce(&c.recipient, c.code, c.status.as_deref(), &c.text);
    e.mx = c.mx.as_deref().map(Into::into);
    e
}

#[test]
fn fast_path_agrees_with_the_trace() {
    let policy = rebound::load::compile_shipped().policy.unwrap();
    for c in cases() {
        let e = event(&c);
        let fast = policy.classify(&e);
        let (traced, _) = policy.classify_traced(&e);
        assert_eq!(fast, traced, "{}", c.id);
    }
}

/// A case where the policy and the label disagree, and why the policy is right.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Disagreement {
    id: String,
    why: String,
}

#[test]
fn agreement_with_the_labels() {
    let policy = rebound::load::compile_shipped().policy.unwrap();
    let cases = cases();
    let listed: Vec<Disagreement> =
        std::fs::read_to_string(crate::root().join("tests/data/corpus-disagreements.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
    let (mut class, mut reason, mut scope) = (0, 0, 0);
    let mut misses = Vec::new();
    for c in &cases {
        let v = policy.classify(&event(c));
        let ok = (v.class.as_str() == c.expect.class, v.reason == c.expect.reason, v.scope.as_str() == c.expect.scope);
        class += usize::from(ok.0);
        reason += usize::from(ok.1);
        scope += usize::from(ok.2);
        if !(ok.0 && ok.1 && ok.2) {
            misses.push((
                c.id.clone(),
                format!(
                    "{}: expected {} {} {}, got {} {} {} ({})",
                    c.id,
                    c.expect.class,
                    c.expect.reason,
                    c.expect.scope,
                    v.class,
                    v.reason,
                    v.scope,
                    v.rule.unwrap_or("table")
                ),
            ));
        }
    }
    let n = cases.len() as f64;
    let pct = |x: usize| 100.0 * x as f64 / n;
    println!(
        "corpus: {} cases; class {:.1}%, reason {:.1}%, scope {:.1}%",
        cases.len(),
        pct(class),
        pct(reason),
        pct(scope)
    );
    for (_, m) in &misses {
        println!("  {m}");
    }
    assert!(pct(class) >= 98.0, "class agreement {:.1}% < 98%", pct(class));
    assert!(pct(reason) >= 95.0, "reason agreement {:.1}% < 95%", pct(reason));
    let unlisted: Vec<&String> =
        misses.iter().filter(|(id, _)| !listed.iter().any(|d| d.id == *id)).map(|(_, m)| m).collect();
    assert!(unlisted.is_empty(), "disagreements not explained in tests/data/corpus-disagreements.jsonl: {unlisted:#?}");
    let stale: Vec<&str> =
        listed.iter().filter(|d| !misses.iter().any(|(id, _)| *id == d.id)).map(|d| d.id.as_str()).collect();
    assert!(stale.is_empty(), "listed as disagreements but the policy now agrees: {stale:?}");
    assert!(listed.iter().all(|d| !d.why.trim().is_empty()), "every listed disagreement says why");
}
