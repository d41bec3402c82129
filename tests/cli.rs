//! The command line: exit codes (SPEC §8), where output goes, formats.

use assert_cmd::Command;

fn rebound() -> Command {
    Command::cargo_bin("rebound").unwrap()
}

fn fixture(name: &str) -> String {
    crate::root().join("tests/fixtures/check").join(name).display().to_string()
}

#[test]
fn check_shipped_policy_passes() {
    let out = rebound().arg("check").arg("--deny-warnings").assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.starts_with("ok: "), "{stdout}");
}

#[test]
fn check_reports_location_and_exits_1() {
    let out = rebound().args(["check", &fixture("unknown_reason.rebound")]).assert().code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("unknown_reason.rebound:3:13"), "{stderr}");
    assert!(stderr.contains("did you mean `mailbox_full`?"), "{stderr}");
}

#[test]
fn check_json() {
    let out = rebound().args(["check", "--format", "json", &fixture("impossible_code.rebound")]).assert().code(1);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["diagnostics"][0]["code"], "rebound::check::impossible_code");
    assert_eq!(v["diagnostics"][0]["line"], 2);
    assert_eq!(v["diagnostics"][0]["column"], 13);
}

#[test]
fn warnings_fail_only_when_denied() {
    rebound().args(["check", &fixture("shadowed_rule.rebound")]).assert().success();
    rebound().args(["check", "--deny-warnings", &fixture("shadowed_rule.rebound")]).assert().code(1);
}

#[test]
fn policy_flag_and_paths() {
    rebound().args(["--policy", &fixture("valid.rebound"), "check"]).assert().success();
    rebound().args(["check", "/nonexistent/policy"]).assert().code(1);
    let empty = tempfile::tempdir().unwrap();
    let out = rebound().args(["check", &empty.path().display().to_string()]).assert().code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("no `.rebound` file"));
}

#[test]
fn usage_error_exits_2() {
    rebound().args(["check", "--no-such-flag"]).assert().code(2);
    rebound().arg("frobnicate").assert().code(2);
}

#[test]
fn fmt_check_write_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.rebound");
    std::fs::write(&file, "rule a {when code 550   then hard user_unknown}").unwrap();
    let path = file.display().to_string();
    rebound().args(["fmt", "--check", &path]).assert().code(1);
    rebound().args(["fmt", &path]).assert().success();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "rule a {\n  when code 550\n  then hard user_unknown\n}\n");
    rebound().args(["fmt", "--check", &path]).assert().success();
    rebound()
        .args(["fmt", "-"])
        .write_stdin("rule b {when code 551 then hard has_moved}")
        .assert()
        .success()
        .stdout("rule b {\n  when code 551\n  then hard has_moved\n}\n");
    rebound().args(["fmt", "-"]).write_stdin("rule b {").assert().code(1);
}
