//! `explain` output, snapshotted (text and JSON), and `classify` from the command line.

use assert_cmd::Command;

fn rebound() -> Command {
    Command::cargo_bin("rebound").unwrap()
}

fn data(name: &str) -> String {
    crate::root().join("tests/data").join(name).display().to_string()
}

#[test]
fn explain_text() {
    let out = rebound().args(["explain", "--format", "text", &data("explain.jsonl")]).assert().success();
    insta::assert_snapshot!(String::from_utf8_lossy(&out.get_output().stdout));
}

#[test]
fn explain_json() {
    let out = rebound().args(["explain", "--format", "json", &data("explain.jsonl")]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let values: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    insta::assert_json_snapshot!(values, {"[].verdict.version" => "[version]"});
}

#[test]
fn classify_json_lines_in_order() {
    let out = rebound().args(["classify", &data("explain.jsonl")]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let ids: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["e-1", "e-2", "e-3", "e-4", "e-5", "e-6", "e-7", "e-8", "e-9"]);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["class"], "hard");
    assert_eq!(first["reason"], "user_unknown");
    assert_eq!(first["receiver"], "gmail");
    // Gmail's wording for an unknown user is any receiver's: a global phrase decides it.
    assert_eq!(first["rule"], "phrases.user_unknown");
    assert!(first["source"].as_str().unwrap().starts_with("policies/phrases/user_unknown.rebound:"));
    assert_eq!(first["status"], "5.1.1");
    assert_eq!(first["version"].as_str().unwrap().len(), 16);
}

#[test]
fn bad_lines_are_reported_and_skipped() {
    let input = "{\"id\":\"a\",\"recipient\":\"a@gmail.com\",\"code\":550,\"status\":\"5.1.1\"}\nnot json\n{\"id\":\"b\"}\n\n{\"id\":\"c\",\"recipient\":\"c@yahoo.com\",\"code\":\"421\",\"text\":\"[TS01] deferred\"}\n";
    let out = rebound().args(["classify", "-"]).write_stdin(input).assert().code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stderr.contains("line 2:") && stderr.contains("line 3:") && stderr.contains("recipient"), "{stderr}");
}

#[test]
fn overlong_and_non_utf8_lines_are_skipped() {
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"recipient\":\"a@b.c\",\"text\":\"");
    input.extend(std::iter::repeat_n(b'x', rebound::event::MAX_EVENT_LINE_BYTES + 10));
    input.extend_from_slice(b"\"}\n{\"recipient\":\"\xff\"}\n{\"recipient\":\"ok@b.c\",\"code\":550}\n");
    let out = rebound().args(["classify"]).write_stdin(input).assert().code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert_eq!(stdout.lines().count(), 1);
    assert!(stderr.contains("line 1: the line is longer than"), "{stderr}");
    assert!(stderr.contains("line 2: the line is not UTF-8"), "{stderr}");
}

#[test]
fn a_broken_policy_classifies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.rebound");
    std::fs::write(&p, "rule a { when code 650 then hard user_unknown }").unwrap();
    rebound()
        .args(["--policy", &p.display().to_string(), "classify", &data("explain.jsonl")])
        .assert()
        .code(1)
        .stdout("");
}

/// Runs `rebound ARGS` with its stdout on a terminal (a pseudo-terminal made
/// by util-linux `script`); `None` where `script` is missing.
fn on_a_terminal(args: &str) -> Option<String> {
    let bin = assert_cmd::cargo::cargo_bin("rebound");
    let line = format!("{} {args}", bin.display());
    let out = Command::new("script").args(["-qec", &line, "/dev/null"]).output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).replace('\r', ""))
}

#[test]
fn classify_prints_json_whether_piped_or_on_a_terminal() {
    let file = data("explain.jsonl");
    let parses = |text: &str| {
        text.lines().filter(|l| !l.is_empty()).all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    };
    let piped = String::from_utf8_lossy(&rebound().args(["classify", &file]).assert().success().get_output().stdout)
        .to_string();
    assert!(parses(&piped) && piped.lines().count() == 9, "{piped}");
    if let Some(tty) = on_a_terminal(&format!("classify {file}")) {
        assert!(parses(&tty) && tty.lines().count() == 9, "on a terminal: {tty}");
    }
    let text = rebound().args(["classify", "--format", "text", &file]).assert().success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    assert!(
        text.starts_with("e-1 alice@gmail.com: hard user_unknown (scope recipient) by phrases.user_unknown"),
        "{text}"
    );
}

#[test]
fn explain_prints_text_whether_piped_or_on_a_terminal() {
    let file = data("explain.jsonl");
    let piped = rebound().args(["explain", &file]).assert().success();
    let piped = String::from_utf8_lossy(&piped.get_output().stdout).to_string();
    assert!(piped.starts_with("event e-1 → alice@gmail.com\n  response: code 550"), "{piped}");
    if let Some(tty) = on_a_terminal(&format!("explain {file}")) {
        assert_eq!(tty, piped, "the same on a terminal");
    }
    let json = rebound().args(["explain", "--format", "json", &file]).assert().success();
    let first = String::from_utf8_lossy(&json.get_output().stdout).lines().next().unwrap_or("").to_string();
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["verdict"]["rule"], "phrases.user_unknown");
}
