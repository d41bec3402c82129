//! One JSON shape per concept: a verdict, a transition and a contact look
//! the same from every command and endpoint that hands one out, carry
//! `"schema": 1`, and keep the fields of SPEC §7.

use assert_cmd::Command;
use serde_json::Value;

use crate::serve::{get, json, post, start_with};

fn rebound() -> Command {
    Command::cargo_bin("rebound").unwrap()
}

fn lines(out: &assert_cmd::assert::Assert) -> Vec<Value> {
    String::from_utf8_lossy(&out.get_output().stdout).lines().map(json).collect()
}

/// The fields of a verdict, in order: SPEC §7's, after `schema`.
const VERDICT: &[&str] = &[
    "schema",
    "id",
    "recipient",
    "class",
    "reason",
    "scope",
    "receiver",
    "rule",
    "source",
    "code",
    "status",
    "version",
];
/// The fields every transition has: SPEC §7's, with `schema` and the event's `at`.
const TRANSITION: &[&str] = &["schema", "id", "recipient", "at", "verdict", "from", "to", "strikes", "rule", "version"];
/// The fields a transition has only when they say something.
const TRANSITION_OPTIONAL: &[&str] = &["transitions", "strike_rule", "reactivation"];
/// The fields of a contact: SPEC §7's, with `schema` and where its delivery state came from.
const CONTACT: &[&str] =
    &["schema", "address", "delivery", "consent", "strikes", "last_reason", "updated", "since", "via", "error_reason"];

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().map(String::as_str).collect()
}

fn is_verdict(v: &Value, from: &str) {
    assert_eq!(keys(v), VERDICT, "a verdict from {from}: {v}");
    assert_eq!(v["schema"], 1);
}

fn is_contact(v: &Value, from: &str) {
    assert_eq!(keys(v), CONTACT, "a contact from {from}: {v}");
    assert_eq!(v["schema"], 1);
}

fn is_transition(v: &Value, from: &str) {
    let k = keys(v);
    assert_eq!(&k[..TRANSITION.len().min(k.len())], TRANSITION, "a transition from {from}: {v}");
    assert!(k[TRANSITION.len()..].iter().all(|x| TRANSITION_OPTIONAL.contains(x)), "a transition from {from}: {v}");
    assert_eq!(v["schema"], 1);
    assert_eq!(keys(&v["from"]), ["delivery", "consent"]);
    assert_eq!(keys(&v["to"]), ["delivery", "consent"]);
    if !v["verdict"].is_null() {
        is_verdict(&v["verdict"], from);
    }
    if !v["reactivation"].is_null() {
        assert_eq!(keys(&v["reactivation"]), ["allowed", "rule"]);
    }
}

#[test]
fn the_command_line_hands_out_one_shape_of_each() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db").display().to_string();
    let events = crate::root().join("examples/events.jsonl").display().to_string();

    for v in lines(&rebound().args(["classify", &events]).assert().success()) {
        is_verdict(&v, "classify");
    }
    for v in lines(&rebound().args(["explain", "--format", "json", &events]).assert().success()) {
        is_verdict(&v["verdict"], "explain");
    }
    let run = lines(&rebound().args(["run", "--events", &events, "--db", &db]).assert().success());
    assert_eq!(run.len(), 36);
    for v in &run {
        is_transition(v, "run");
    }
    assert!(run.iter().any(|t| !t["reactivation"].is_null()) && run.iter().any(|t| !t["strike_rule"].is_null()));
    let get = rebound().args(["contacts", "--db", &db, "--format", "json", "get", "dave@gmail.com"]).assert().success();
    is_contact(&lines(&get)[0], "contacts get");
    let list = lines(&rebound().args(["contacts", "--db", &db, "--format", "json", "list"]).assert().success());
    assert!(list.len() > 5);
    for v in &list {
        is_contact(v, "contacts list");
    }

    // diff: a strike threshold of 3 campaigns instead of 4, and Gmail's
    // "likely unsolicited" block made hard, on the example events.
    let new = dir.path().join("new");
    for (rel, text) in rebound::load::shipped_files() {
        let target = new.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, text.replacen("consecutive 4 campaigns", "consecutive 3 campaigns", 1)).unwrap();
    }
    std::fs::write(new.join("zz_flip.rebound"), crate::dryrun::FLIP).unwrap();
    let policies = crate::root().join("policies").display().to_string();
    let diff = rebound()
        .args(["diff", "--old", &policies, "--new", &new.display().to_string(), "--events", &events])
        .args(["--format", "json"])
        .assert()
        .success();
    let report = &lines(&diff)[0];
    assert_eq!(report["schema"], 1);
    let samples = report["samples"].as_array().unwrap();
    assert!(!samples.is_empty());
    for s in samples {
        is_verdict(&s["old"], "diff");
        is_verdict(&s["new"], "diff");
    }
    let contacts = report["contacts"].as_array().unwrap();
    assert!(contacts.iter().any(|c| c["address"] == "erin@example.org"));
    for c in contacts {
        is_contact(&c["old"], "diff");
        is_contact(&c["new"], "diff");
        for side in ["old", "new"] {
            for t in c["path"][side].as_array().unwrap() {
                is_transition(t, "diff");
            }
        }
    }
}

#[test]
fn the_service_hands_out_the_same_shapes() {
    let s = start_with(None, rebound::serve::Limits::default());
    let one = r#"{"id":"s-1","recipient":"alice@gmail.com","code":550,"status":"5.1.1","text":"The email account that you tried to reach does not exist."}"#;
    let (status, body) = post(&format!("{}/v1/classify", s.base), one);
    assert_eq!(status, 200, "{body}");
    is_verdict(&json(&body), "/v1/classify");
    let (_, body) = post(&format!("{}/v1/classify?explain=true", s.base), one);
    is_verdict(&json(&body)["verdict"], "/v1/classify?explain=true");

    let events = std::fs::read_to_string(crate::root().join("examples/events.jsonl")).unwrap();
    let (status, body) = post(&format!("{}/v1/events", s.base), &events);
    assert_eq!(status, 200, "{body}");
    for t in body.lines().map(json) {
        is_transition(&t, "/v1/events");
    }
    let (status, body) = get(&format!("{}/v1/contacts/dave@gmail.com", s.base));
    assert_eq!(status, 200, "{body}");
    is_contact(&json(&body), "/v1/contacts");
}
