//! Real bounce emails (sisimai/set-of-emails, read from `../shared/corpus/dsn`,
//! never copied here) through `ingest` and the shipped policy, against
//! Sisimai's labels: the recipient found for ≥ 99% of labelled rows, the
//! reason the same for ≥ 90%, hard/not-hard the same for ≥ 97%. The rows
//! where Rebound and Sisimai still differ are listed, each with a word on
//! why, in `tests/data/dsn_disagreements.tsv`; the test fails when the list
//! and the run part ways, so the file stays true.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rebound::event::Event;
use rebound::ingest::{Options, mail};

/// Where the shared corpus is: `$REBOUND_SHARED/corpus/dsn` (CI sets it),
/// else `../shared/corpus/dsn` beside the repository.
fn corpus_dir() -> Option<PathBuf> {
    match std::env::var_os("REBOUND_SHARED") {
        Some(s) => {
            let dir = PathBuf::from(s).join("corpus/dsn");
            assert!(dir.is_dir(), "REBOUND_SHARED is set but {} does not exist", dir.display());
            Some(dir)
        }
        None => {
            let dir = crate::root().join("../shared/corpus/dsn");
            if dir.is_dir() {
                Some(dir)
            } else {
                eprintln!("NOTE: ../shared/corpus/dsn is not beside the repository; the DSN corpus test did not run");
                None
            }
        }
    }
}

/// Sisimai's reason names, mapped to Rebound's (SPEC §3, corpus README).
pub fn map_reason(sisimai: &str) -> &str {
    match sisimai {
        "userunknown" => "user_unknown",
        "hostunknown" => "host_unknown",
        "hasmoved" => "has_moved",
        "notaccept" => "not_accept",
        "mailboxfull" => "mailbox_full",
        "mesgtoobig" | "exceedlimit" => "message_too_big",
        "speeding" | "toomanyconn" => "rate_limited",
        "badreputation" => "bad_reputation",
        "requireptr" => "require_ptr",
        "authfailure" => "auth_failure",
        "spamdetected" => "spam_detected",
        "virusdetected" => "virus_detected",
        "policyviolation" => "policy_violation",
        "securityerror" => "security_error",
        "notcompliantrfc" => "not_compliant_rfc",
        "systemerror" => "system_error",
        "systemfull" => "system_full",
        "networkerror" => "network_error",
        "contenterror" => "content_error",
        "mailererror" => "mailer_error",
        "syntaxerror" => "syntax_error",
        "norelaying" => "no_relaying",
        "failedstarttls" => "failed_starttls",
        "onhold" => "on_hold",
        other => other,
    }
}

/// One labelled row and what Rebound made of it.
#[derive(Debug, Clone)]
pub struct Row {
    pub file: String,
    pub index: usize,
    pub sisimai: String,
    pub sisimai_hard: bool,
    pub recipient: Option<String>,
    pub reason: Option<String>,
    pub hard: bool,
    pub rule: Option<String>,
    pub text: Option<String>,
}

/// Every labelled row of the corpus, through ingest and classify.
pub fn evaluate(dir: &std::path::Path) -> Vec<Row> {
    let policy = rebound::load::compile_shipped().policy.expect("the shipped policy compiles");
    let expected = std::fs::read_to_string(dir.join("expected.jsonl")).expect("expected.jsonl");
    let mut by_file: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON row");
        by_file.entry(v["file"].as_str().unwrap_or("").to_string()).or_default().push(v);
    }
    let mut rows = Vec::new();
    for (file, labels) in by_file {
        let raw = std::fs::read(dir.join("emails").join(&file)).expect("the email");
        let parsed = mail::parse(&raw, &file, &Options::default());
        for label in labels {
            let index = label["index"].as_u64().unwrap_or(1) as usize;
            let event = parsed.events.get(index - 1);
            let (reason, hard, rule, text) = match event {
                Some(e) => {
                    let line = e.to_json_line();
                    let ev = Event::parse(&line).expect("ingest writes valid events");
                    let v = policy.classify(&ev);
                    (
                        Some(v.reason.to_string()),
                        v.class == rebound::Class::Hard,
                        v.rule.map(str::to_string),
                        e.text.clone(),
                    )
                }
                None => (None, false, None, None),
            };
            rows.push(Row {
                file: file.clone(),
                index,
                sisimai: map_reason(label["reason"].as_str().unwrap_or("")).to_string(),
                sisimai_hard: label["hardbounce"].as_bool().unwrap_or(false),
                recipient: event.map(|e| e.recipient.clone()),
                reason,
                hard,
                rule,
                text,
            });
        }
    }
    rows
}

/// The listed disagreements: `file`, `index` → the word on it.
fn listed() -> BTreeMap<(String, usize), String> {
    let text = std::fs::read_to_string(crate::root().join("tests/data/dsn_disagreements.tsv")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Some(((cols.first()?.to_string(), cols.get(1)?.parse().ok()?), cols.last()?.to_string()))
        })
        .collect()
}

#[test]
fn the_dsn_corpus_agrees_with_sisimai() {
    let Some(dir) = corpus_dir() else { return };
    let rows = evaluate(&dir);
    let n = rows.len() as f64;
    let found = rows.iter().filter(|r| r.recipient.is_some()).count();
    let same_reason = rows.iter().filter(|r| r.reason.as_deref() == Some(r.sisimai.as_str())).count();
    let same_hard = rows.iter().filter(|r| r.recipient.is_some() && r.hard == r.sisimai_hard).count();
    let pct = |k: usize| 100.0 * k as f64 / n;
    println!(
        "DSN corpus: {} rows; recipient found {:.1}%, reason agrees {:.1}%, hard/not-hard agrees {:.1}%",
        rows.len(),
        pct(found),
        pct(same_reason),
        pct(same_hard)
    );
    let disagreements: Vec<&Row> =
        rows.iter().filter(|r| r.reason.as_deref() != Some(r.sisimai.as_str()) || r.hard != r.sisimai_hard).collect();
    if std::env::var_os("REBOUND_CORPUS_REPORT").is_some() {
        for r in &disagreements {
            println!(
                "{}\t{}\t{}{}\t{}{}\t{}\t{}",
                r.file,
                r.index,
                r.sisimai,
                if r.sisimai_hard { " (hard)" } else { "" },
                r.reason.as_deref().unwrap_or("-"),
                if r.hard { " (hard)" } else { "" },
                r.rule.as_deref().unwrap_or("-"),
                r.text.as_deref().unwrap_or("-").chars().take(160).collect::<String>()
            );
        }
    }
    assert!(pct(found) >= 99.0, "recipient found for {:.1}% of rows (< 99%)", pct(found));
    assert!(pct(same_reason) >= 90.0, "reason agrees on {:.1}% of rows (< 90%)", pct(same_reason));
    assert!(pct(same_hard) >= 97.0, "hard/not-hard agrees on {:.1}% of rows (< 97%)", pct(same_hard));

    // The data file lists exactly the rows that still disagree.
    let listed = listed();
    let now: BTreeMap<(String, usize), &Row> = disagreements.iter().map(|r| ((r.file.clone(), r.index), *r)).collect();
    let new: Vec<String> = now
        .iter()
        .filter(|(k, _)| !listed.contains_key(*k))
        .map(|((f, i), r)| format!("{f}\t{i}\t{}\t{}\t<why>", r.sisimai, r.reason.as_deref().unwrap_or("-")))
        .collect();
    let gone: Vec<String> = listed.keys().filter(|k| !now.contains_key(*k)).map(|(f, i)| format!("{f}\t{i}")).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "tests/data/dsn_disagreements.tsv is out of date.\nadd (with a word on each):\n{}\nremove (they agree now):\n{}",
        new.join("\n"),
        gone.join("\n")
    );
}
