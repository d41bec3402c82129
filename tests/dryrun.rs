//! `rebound test` (examples, scenarios, corpus cases, coverage, formats) and
//! `rebound diff` (what a policy change does to real traffic).

use std::path::Path;

use assert_cmd::Command;

fn rebound() -> Command {
    Command::cargo_bin("rebound").unwrap()
}

/// A command line run as a person types it — by `sh`, globs, quotes, pipes
/// and redirections included — in `dir`, with `rebound` on the PATH.
fn shell(dir: &Path, line: &str) -> Command {
    let bin = assert_cmd::cargo::cargo_bin("rebound");
    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let mut c = Command::new("sh");
    c.current_dir(dir).env("PATH", path).args(["-c", line]);
    c
}

fn stdout(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stdout).to_string()
}

fn path(rel: &str) -> String {
    crate::root().join(rel).display().to_string()
}

#[test]
fn failures_show_expected_actual_and_the_trace() {
    let out = rebound().args(["test", &path("tests/fixtures/test/failing.rebound"), "--coverage"]).assert().code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    insta::assert_snapshot!(text.replace(&crate::root().display().to_string(), "[root]"));
}

#[test]
fn junit_and_json() {
    let out =
        rebound().args(["test", &path("tests/fixtures/test/failing.rebound"), "--format", "junit"]).assert().code(1);
    let xml = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        xml.starts_with("<?xml") && xml.contains("<testsuites name=\"rebound\" tests=\"6\" failures=\"3\">"),
        "{xml}"
    );
    assert!(xml.contains("<failure message=\"expected receiver none rule unknown_user; got block policy_violation"));
    let out =
        rebound().args(["test", &path("tests/fixtures/test/failing.rebound"), "--format", "json"]).assert().code(1);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["passed"], 3);
    assert_eq!(v["failed"], 3);
    assert_eq!(v["coverage"]["rules"], 2);
}

#[test]
fn shipped_policy_examples_pass_and_coverage_gates() {
    rebound().args(["test"]).assert().success();
    let out = rebound().args(["test", "--cases", &path("tests/data/responses.jsonl"), "--format", "json"]).assert();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let pct = v["coverage"]["percent"].as_f64().unwrap();
    assert!(pct > 90.0, "coverage with the corpus: {pct}");
    rebound().args(["test", "--min-coverage", "100.1"]).assert().code(1);
}

#[test]
fn corpus_case_files_are_read_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.jsonl");
    std::fs::write(
        &cases,
        "{\"id\":\"ok\",\"recipient\":\"a@gmail.com\",\"code\":550,\"status\":\"5.1.1\",\"text\":\"The email account that you tried to reach does not exist.\",\"expect\":{\"class\":\"hard\",\"reason\":\"user_unknown\",\"scope\":\"recipient\"}}\nnot json\n",
    )
    .unwrap();
    let out = rebound().args(["test", "--cases", &cases.display().to_string()]).assert().code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("cases.jsonl:2"));
}

/// The shipped policy with Gmail's "likely unsolicited" block turned into a hard bounce.
fn flipped_policy(dir: &std::path::Path) -> String {
    for (rel, text) in rebound::load::shipped_files() {
        let target = dir.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let text = if *rel == "receivers/gmail.rebound" {
            let at = text.find("rule likely_unsolicited {").expect("the Gmail rule moved; update the test");
            let (head, tail) = text.split_at(at);
            assert!(tail.contains("then block spam_detected"), "the Gmail rule changed; update the test");
            format!("{head}{}", tail.replacen("then block spam_detected", "then hard spam_detected scope recipient", 1))
        } else {
            text.to_string()
        };
        std::fs::write(target, text).unwrap();
    }
    dir.display().to_string()
}

#[test]
fn diff_shows_contacts_that_would_wrongly_go_to_error() {
    let dir = tempfile::tempdir().unwrap();
    let new = flipped_policy(dir.path());
    let old = path("policies");
    let events = path("tests/data/diff/events.jsonl");
    let out = rebound().args(["diff", "--old", &old, "--new", &new, "--events", &events]).assert().success();
    insta::assert_snapshot!(String::from_utf8_lossy(&out.get_output().stdout));
    let out = rebound()
        .args(["diff", "--old", &old, "--new", &new, "--events", &events, "--format", "json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["events"], 7);
    assert_eq!(v["changed"], 4);
    assert_eq!(v["contacts_changed"], 4);
    rebound().args(["diff", "--old", &old, "--new", &new, "--events", &events, "--fail-on-change"]).assert().code(1);
    rebound().args(["diff", "--old", &old, "--new", &old, "--events", &events, "--fail-on-change"]).assert().success();
}

#[test]
fn diff_reads_a_side_from_git() {
    let root = crate::root();
    let inside_git = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(&root)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !inside_git {
        return;
    }
    let out = rebound()
        .current_dir(&root)
        .args([
            "diff",
            "--old",
            "git:HEAD:policies",
            "--new",
            "policies",
            "--events",
            "tests/data/diff/events.jsonl",
            "--format",
            "json",
        ])
        .assert();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap_or_default();
    assert_eq!(v["events"], 7, "{:?}", String::from_utf8_lossy(&out.get_output().stderr));
    rebound()
        .current_dir(&root)
        .args([
            "diff",
            "--old",
            "git:no-such-rev:policies",
            "--new",
            "policies",
            "--events",
            "tests/data/diff/events.jsonl",
        ])
        .assert()
        .code(1);
}

#[test]
fn test_takes_several_case_files_and_globs() {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in rebound::load::shipped_files() {
        let target = dir.path().join("policies").join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, text).unwrap();
    }
    let corpus = std::fs::read_to_string(crate::root().join("tests/data/responses.jsonl")).unwrap();
    let lines: Vec<&str> = corpus.lines().filter(|l| !l.trim().is_empty()).collect();
    let (a, b) = lines.split_at(lines.len() / 2);
    std::fs::create_dir(dir.path().join("corpus")).unwrap();
    std::fs::write(dir.path().join("corpus/a.jsonl"), a.join("\n")).unwrap();
    std::fs::write(dir.path().join("corpus/b.jsonl"), b.join("\n")).unwrap();
    let cases = |junit: &str| junit.matches("<testcase classname=\"case\"").count();
    // docs/ci.md, as written there: the shell expands the glob.
    let docs =
        "rebound test policies/ --cases corpus/*.jsonl --coverage --min-coverage 90 --format junit > rebound-junit.xml";
    shell(dir.path(), docs).assert().success();
    let junit = std::fs::read_to_string(dir.path().join("rebound-junit.xml")).unwrap();
    assert_eq!(cases(&junit), lines.len(), "every case of both files");
    // Quoted, the glob reaches Rebound as it is; so does one that matches nothing.
    for line in [
        "rebound test policies/ --cases 'corpus/*.jsonl' --format junit",
        "rebound test policies/ --cases corpus/a.jsonl corpus/b.jsonl --format junit",
        "rebound test --cases corpus/a.jsonl --cases corpus/b.jsonl --format junit",
    ] {
        let junit = stdout(&shell(dir.path(), line).assert().success());
        assert_eq!(cases(&junit), lines.len(), "{line}");
    }
    let out = shell(dir.path(), "rebound test --cases 'corpus/*.yaml'").assert().code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("no case file matches `corpus/*.yaml`"));
    let out = shell(dir.path(), "rebound test --cases corpus/a.jsonl policies/").assert().code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("put policy paths before `--cases`"));
}
