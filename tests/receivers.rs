//! The receiver pack: every receiver rule carries provenance and is hit by a
//! real answer (an example in the policy or a corpus case), every example
//! passes, and `docs/receivers.md` is what the policy says.

use rebound::testing::{read_cases, run};

fn shipped() -> rebound::Policy {
    rebound::load::compile_shipped().policy.unwrap()
}

#[test]
fn every_receiver_rule_has_provenance() {
    let policy = shipped();
    let mut missing = Vec::new();
    for rec in policy.receivers() {
        for rule in &rec.rules {
            let p = &rule.provenance;
            if p.source.is_none() || p.observed.is_none() || p.note.is_none() {
                missing.push(format!("{} ({})", rule.id, rule.location));
            }
        }
    }
    assert!(missing.is_empty(), "receiver rules without source, observed and note: {missing:#?}");
}

#[test]
fn every_receiver_rule_is_hit_by_a_real_answer_and_examples_pass() {
    let policy = shipped();
    let text = std::fs::read_to_string(crate::root().join("tests/data/responses.jsonl")).unwrap();
    let (cases, errors) = read_cases("responses.jsonl", &text);
    assert!(errors.is_empty(), "{errors:?}");
    let report = run(&policy, &cases);
    let failed: Vec<String> = report
        .outcomes
        .iter()
        .filter(|o| o.kind != "case" && !o.passed)
        .map(|o| format!("{} {}: {}", o.kind, o.name, o.actual))
        .collect();
    assert!(failed.is_empty(), "examples or scenarios of the shipped policy fail: {failed:#?}");
    let receiver_rules: Vec<&str> =
        policy.receivers().iter().flat_map(|r| r.rules.iter().map(|x| x.id.as_str())).collect();
    let dead: Vec<&(String, String)> =
        report.coverage.never_hit.iter().filter(|(id, _)| receiver_rules.contains(&id.as_str())).collect();
    assert!(dead.is_empty(), "receiver rules no real answer reaches: {dead:#?}");
    println!(
        "coverage of the shipped policy (examples and corpus): {:.1}% of {} rules",
        report.coverage.percent, report.coverage.rules
    );
}

#[test]
fn the_required_receivers_are_there() {
    let policy = shipped();
    let names: Vec<&str> = policy.receivers().iter().map(|r| r.name.as_str()).collect();
    for want in [
        "gmail",
        "yahoo",
        "microsoft",
        "apple",
        "comcast",
        "cox",
        "spectrum",
        "att",
        "orange",
        "gmx",
        "mailru",
        "yandex",
        "qq",
        "zoho",
        "godaddy",
        "mimecast",
        "proofpoint",
        "barracuda",
        "cloudflare",
    ] {
        assert!(names.contains(&want), "no receiver `{want}` in {names:?}");
    }
}

#[test]
fn receivers_page_is_generated_from_the_policy() {
    let generated = rebound::docgen::receivers_markdown(&shipped());
    let path = crate::root().join("docs/receivers.md");
    if std::env::var_os("REBOUND_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(on_disk == generated, "docs/receivers.md is out of date: run `cargo run -- receivers > docs/receivers.md`");
}
