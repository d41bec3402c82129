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

fn has_git() -> bool {
    std::process::Command::new("git").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// A policy repository as docs/ci.md sets one up: the shipped policy in
/// `policies/`, committed; last week's events in `samples/last-week.jsonl`
/// (here, the example events).
fn policy_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in rebound::load::shipped_files() {
        let target = dir.path().join("policies").join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, text).unwrap();
    }
    std::fs::create_dir(dir.path().join("samples")).unwrap();
    std::fs::copy(crate::root().join("examples/events.jsonl"), dir.path().join("samples/last-week.jsonl")).unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=Policy Editor", "-c", "user.email=editor@example.org"])
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(ok.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&ok.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "the shipped policy"]);
    dir
}

/// The edit of the issue: soft bounces in 3 consecutive campaigns, not 4.
fn lower_the_threshold(repo: &Path) {
    let file = repo.join("policies/lifecycle.rebound");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("consecutive 4 campaigns"), "the shipped strike rule changed; update the test");
    std::fs::write(&file, text.replacen("consecutive 4 campaigns", "consecutive 3 campaigns", 1)).unwrap();
}

/// Every key of every object in `v`, anywhere.
fn keys(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                keys(x, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
        _ => {}
    }
}

#[test]
fn diff_sees_a_contact_reach_error_a_campaign_earlier() {
    if !has_git() {
        return;
    }
    let repo = policy_repo();
    lower_the_threshold(repo.path());
    let line = "rebound diff --old git:HEAD:policies --new policies --events samples/last-week.jsonl";
    let text = stdout(&shell(repo.path(), line).assert().success());
    insta::assert_snapshot!(text);

    let out = shell(repo.path(), &format!("{line} --format json")).assert().success();
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!((v["schema"].as_u64(), v["contacts_changed"].as_u64()), (Some(1), Some(1)));
    assert_eq!(v["final_states_changed"], 0);
    let erin = &v["contacts"][0];
    assert_eq!(erin["address"], "erin@example.org");
    assert_eq!(erin["final_changed"], false);
    assert_eq!((erin["old"]["delivery"].as_str(), erin["new"]["delivery"].as_str()), (Some("active"), Some("active")));
    assert_eq!(
        erin["transitions_changed"],
        serde_json::json!([{"transition": "struck_out",
            "old": {"id": "ev-0027", "at": "2026-11-10T09:00:00Z"},
            "new": {"id": "ev-0021", "at": "2026-11-03T09:00:00Z"}}])
    );
    assert_eq!(erin["first_error"]["old"]["id"], "ev-0027");
    assert_eq!(erin["first_error"]["new"]["id"], "ev-0021");
    // In error from the strike to the reactivation of 2026-12-15T10:00:00Z.
    assert_eq!(erin["seconds_in_error"], serde_json::json!({"old": 3_027_600, "new": 3_632_400}));
    let fired = |side: &str| -> Vec<(String, String)> {
        erin["path"][side]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].as_str().unwrap().to_string(), t["rule"].as_str().unwrap().to_string()))
            .collect()
    };
    let pair = |id: &str, rule: &str| (id.to_string(), rule.to_string());
    assert_eq!(fired("old"), [pair("ev-0027", "struck_out"), pair("ev-0032", "reactivate")]);
    assert_eq!(fired("new"), [pair("ev-0021", "struck_out"), pair("ev-0032", "reactivate")]);

    shell(repo.path(), &format!("{line} --fail-on-change")).assert().code(1);
}

#[test]
fn diff_reads_events_from_stdin() {
    if !has_git() {
        return;
    }
    let repo = policy_repo();
    lower_the_threshold(repo.path());
    let line = "rebound diff --old git:HEAD:policies --new policies";
    let from_file = stdout(&shell(repo.path(), &format!("{line} --events samples/last-week.jsonl")).assert().success());
    let piped =
        stdout(&shell(repo.path(), &format!("cat samples/last-week.jsonl | {line} --events -")).assert().success());
    assert_eq!(piped, from_file);
    assert!(piped.contains("contacts whose path changes: 1"), "{piped}");
    // docs/ingest.md, as written there.
    let ses = crate::root().join("tests/fixtures/ingest/ses");
    std::fs::create_dir(repo.path().join("sns-posts")).unwrap();
    for f in std::fs::read_dir(ses).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, repo.path().join("sns-posts").join(f.file_name().unwrap())).unwrap();
    }
    let out = shell(
        repo.path(),
        "rebound ingest --from ses sns-posts/ | rebound diff --old git:HEAD:policies --new policies --events -",
    )
    .assert()
    .success();
    assert!(stdout(&out).starts_with("events: 9;"), "{}", stdout(&out));
}

#[test]
fn diff_json_has_objects_and_plain_keys() {
    let dir = tempfile::tempdir().unwrap();
    let new = flipped_policy(dir.path());
    let (old, events) = (path("policies"), path("tests/data/diff/events.jsonl"));
    let out = rebound()
        .args(["diff", "--old", &old, "--new", &new, "--events", &events, "--format", "json"])
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let mut all = Vec::new();
    keys(&v, &mut all);
    let odd: Vec<&String> = all.iter().filter(|k| !k.chars().all(|c| c.is_ascii_lowercase() || c == '_')).collect();
    assert!(odd.is_empty(), "keys that are not plain names: {odd:?}");
    assert_eq!(v["by_class"], serde_json::json!([{"old": "block", "new": "hard", "count": 4}]));
    assert_eq!(v["by_reason"], serde_json::json!([{"old": "spam_detected", "new": "spam_detected", "count": 4}]));
    for c in v["contacts"].as_array().unwrap() {
        assert!(c["address"].is_string() && c["old"].is_object() && c["new"].is_object(), "{c}");
        assert_eq!((c["old"]["schema"].as_u64(), c["new"]["delivery"].as_str()), (Some(1), Some("error")));
    }
    let sample = &v["samples"][0];
    assert_eq!((sample["old"]["class"].as_str(), sample["new"]["class"].as_str()), (Some("block"), Some("hard")));
    assert_eq!(sample["new"]["rule"], "flip_unsolicited");
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
    // The cases the policy agrees with (the others are listed, each with why).
    let listed = std::fs::read_to_string(crate::root().join("tests/data/corpus-disagreements.jsonl")).unwrap();
    let disagree: Vec<String> = listed
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["id"].as_str().map(|id| format!("\"id\": \"{id}\"")))
        .collect();
    let lines: Vec<&str> =
        corpus.lines().filter(|l| !l.trim().is_empty() && !disagree.iter().any(|d| l.contains(d.as_str()))).collect();
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

/// A global rule that turns "likely unsolicited" (a block of the message)
/// into a hard bounce of the recipient: the mistake a diff must show.
pub const FLIP: &str = "rule flip_unsolicited {\n  when text contains \"likely unsolicited\"\n  then hard spam_detected scope recipient\n}\n";

/// The shipped policy with Gmail's "likely unsolicited" block turned into a hard bounce.
fn flipped_policy(dir: &std::path::Path) -> String {
    for (rel, text) in rebound::load::shipped_files() {
        let target = dir.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, text).unwrap();
    }
    std::fs::write(dir.join("zz_flip.rebound"), FLIP).unwrap();
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
