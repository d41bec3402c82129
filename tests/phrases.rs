//! Phrase tables, the subject gate and the computed class, case by case:
//! `tests/data/phrases/policy.rebound` and what it must decide,
//! `tests/data/phrases/cases.jsonl` (one line per case, with why).

use rebound::event::Event;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    why: String,
    code: Option<u16>,
    status: Option<String>,
    phase: Option<String>,
    action: Option<String>,
    text: String,
    expect: String,
}

#[test]
fn every_case_decides_as_written() {
    let dir = crate::root().join("tests/data/phrases");
    let text = std::fs::read_to_string(dir.join("policy.rebound")).unwrap();
    let compiled = rebound::compile_str("policy.rebound", &text);
    let rendered: String = compiled.diagnostics.iter().map(|d| compiled.sources.render(d)).collect();
    assert!(compiled.diagnostics.is_empty(), "{rendered}");
    let policy = compiled.policy.unwrap();
    let cases = std::fs::read_to_string(dir.join("cases.jsonl")).unwrap();
    let mut failures = Vec::new();
    for line in cases.lines().filter(|l| !l.trim().is_empty()) {
        let c: Case = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let mut e = Event::bounce("pat@example.org", c.code, c.status.as_deref(), &c.text);
        e.phase = c.phase.as_deref().map(Into::into);
        e.action = c.action.as_deref().map(Into::into);
        let v = policy.classify(&e);
        let got = format!("{} {} {}", v.class, v.reason, v.rule.unwrap_or("-"));
        if got != c.expect {
            failures.push(format!("{}: expected `{}`, got `{got}`", c.why, c.expect));
        }
        // The traced path reaches the same verdict.
        assert_eq!(policy.classify_traced(&e).0, v, "{}", c.why);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn explain_says_which_phrase_decided_and_why_others_did_not() {
    let text = std::fs::read_to_string(crate::root().join("tests/data/phrases/policy.rebound")).unwrap();
    let policy = rebound::compile_str("policy.rebound", &text).policy.unwrap();
    let e = Event::bounce("pat@example.org", Some(550), None, "over quota, no such user mailbox is full");
    let (_, trace) = policy.classify_traced(&e);
    let f = trace.fallback.unwrap_or_default();
    assert!(f.contains("the phrase \"mailbox is full\" of `phrases mailbox_full`"), "{f}");
    assert!(f.contains("\"no such user\" of `phrases.user_unknown` (less specific)"), "{f}");
}
