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

fn stderr_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).to_string()
}

#[test]
fn fmt_comment_with_trailing_whitespace() {
    for input in ["# \n", "#\t\n", "rule a { when code 550 then hard user_unknown } # x \t\n"] {
        let out = rebound().args(["fmt", "-"]).write_stdin(input).assert().success();
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        assert!(stdout.lines().all(|l| l == l.trim_end()), "{input:?} gave {stdout:?}");
        rebound().args(["fmt", "-"]).write_stdin(stdout.clone()).assert().success().stdout(stdout);
    }
}

#[test]
fn fmt_invalid_utf8_is_invalid_input() {
    let out = rebound().args(["fmt", "-"]).write_stdin(b"\xff\n".to_vec()).assert().code(1);
    let stderr = stderr_of(&out);
    assert!(stderr.contains("<stdin>:1:1") && stderr.contains("not valid UTF-8"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.rebound");
    std::fs::write(&file, b"# fine\n# caf\xe9\n").unwrap();
    let path = file.display().to_string();
    for check in [false, true] {
        let args: &[&str] = if check { &["fmt", "--check", &path] } else { &["fmt", &path] };
        let stderr = stderr_of(&rebound().args(args).assert().code(1));
        assert!(stderr.contains(&format!("{path}:2:6")) && stderr.contains("not valid UTF-8"), "{stderr}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"# fine\n# caf\xe9\n", "the file was changed");
}

/// Past `MAX_FILE_BYTES`, `fmt` and `check` refuse the input (exit 1) without
/// reading it whole; at the limit they take it.
#[test]
fn policy_file_size_limit() {
    use rebound::syntax::MAX_FILE_BYTES;
    let policy = "rule a {\n  when code 550\n  then hard user_unknown\n}\n";
    let mut at_limit = policy.to_string();
    at_limit.push_str(&"\n".repeat(MAX_FILE_BYTES - policy.len()));
    rebound().args(["fmt", "-"]).write_stdin(at_limit.clone()).assert().success().stdout(policy);
    let mut over = at_limit;
    over.push('\n');
    let stderr = stderr_of(&rebound().args(["fmt", "-"]).write_stdin(over.clone()).assert().code(1));
    assert!(stderr.contains("<stdin>") && stderr.contains("larger than the limit"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.rebound");
    std::fs::write(&file, &over).unwrap();
    let path = file.display().to_string();
    for args in [["fmt", "--check"], ["check", "--deny-warnings"]] {
        let stderr = stderr_of(&rebound().args(args).arg(&path).assert().code(1));
        assert!(stderr.contains(&path) && stderr.contains("larger than the limit"), "{args:?}: {stderr}");
    }
}

/// An endless input is refused after the limit, not read until memory runs out.
#[cfg(unix)]
#[test]
fn endless_policy_input_is_refused() {
    for args in [["fmt", "/dev/zero"], ["check", "/dev/zero"]] {
        let stderr = stderr_of(&rebound().args(args).timeout(std::time::Duration::from_secs(60)).assert().code(1));
        assert!(stderr.contains("/dev/zero") && stderr.contains("larger than the limit"), "{args:?}: {stderr}");
    }
}
