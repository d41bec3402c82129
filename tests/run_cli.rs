//! `rebound run` and `rebound contacts` over the embedded database, and the
//! crash-safety of a run.

use assert_cmd::Command;
use std::path::Path;

fn rebound() -> Command {
    Command::cargo_bin("rebound").unwrap()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn run_the_example_then_read_contacts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let events = crate::root().join("examples/events.jsonl");
    let out = rebound().args(["run", "--events", &s(&events), "--db", &s(&db)]).assert().success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 36, "one transition per processed event (one duplicate skipped)");
    let first = &lines[0];
    for key in ["id", "recipient", "verdict", "from", "to", "strikes", "rule", "version"] {
        assert!(first.get(key).is_some(), "missing {key} in {first}");
    }
    assert!(stderr.contains("events: 37 read, 36 processed, 1 already processed"), "{stderr}");
    assert!(stderr.contains("contacts in error: 3"), "{stderr}");

    let get =
        rebound().args(["contacts", "--db", &s(&db), "--format", "json", "get", "dave@gmail.com"]).assert().success();
    let c: serde_json::Value = serde_json::from_slice(&get.get_output().stdout).unwrap();
    assert_eq!(c["delivery"], "error");
    assert_eq!(c["last_reason"], "user_unknown");
    assert_eq!(c["updated"], "2026-11-05T10:00:00Z");

    let list = rebound()
        .args(["contacts", "--db", &s(&db), "--format", "json", "list", "--delivery", "error"])
        .assert()
        .success();
    let errored: Vec<String> = String::from_utf8_lossy(&list.get_output().stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["address"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(errored, ["dave@gmail.com", "jack@yahoo.co.jp", "mona@mail.ru"]);

    let history = rebound().args(["contacts", "--db", &s(&db), "history", "erin@example.org"]).assert().success();
    let text = String::from_utf8_lossy(&history.get_output().stdout).to_string();
    let version = regex::Regex::new(r"\[policy [0-9a-f]{16}\]").unwrap();
    insta::assert_snapshot!(version.replace_all(&text, "[policy …]"));

    let eligible = |address: &str, kind: &str| {
        let out = rebound()
            .args(["contacts", "--db", &s(&db), "--format", "json", "eligible", address, "--for", kind])
            .assert();
        let v = serde_json::from_slice::<serde_json::Value>(&out.get_output().stdout).unwrap();
        // Scriptable: 0 when eligible, 1 when not.
        let code = if v["eligible"] == true { 0 } else { 1 };
        out.code(code);
        v
    };
    assert_eq!(eligible("alice@gmail.com", "marketing")["eligible"], true);
    assert_eq!(eligible("ivy@hotmail.com", "marketing")["eligible"], true);
    assert_eq!(eligible("gina@icloud.com", "marketing")["eligible"], false);
    assert_eq!(eligible("gina@icloud.com", "transactional")["eligible"], true);
    assert_eq!(eligible("dave@gmail.com", "transactional")["eligible"], false);
    let text = rebound()
        .args(["contacts", "--db", &s(&db), "eligible", "dave@gmail.com", "--for", "marketing"])
        .assert()
        .code(1);
    let unknown = rebound()
        .args(["contacts", "--db", &s(&db), "eligible", "dave@gmail.com", "--for", "markting"])
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&unknown.get_output().stderr).contains("did you mean `marketing`?"));
    assert!(
        String::from_utf8_lossy(&text.get_output().stdout)
            .contains("not eligible for marketing by `eligible marketing`")
    );

    // A second run of the same events changes nothing.
    let again = rebound().args(["run", "--events", &s(&events), "--db", &s(&db)]).assert().success();
    assert!(String::from_utf8_lossy(&again.get_output().stderr).contains("0 processed, 37 already processed"));
    rebound().args(["contacts", "--db", &s(&db), "get", "nobody@example.org"]).assert().code(1);
}

#[test]
fn bad_lines_are_reported_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let input = "{\"id\":\"1\",\"recipient\":\"a@gmail.com\",\"code\":550,\"status\":\"5.1.1\"}\n{broken\n{\"id\":\"2\",\"type\":\"unsubscribe\",\"recipient\":\"b@gmail.com\"}\n";
    let out = rebound().args(["run", "--events", "-", "--db", &s(&db)]).write_stdin(input).assert().code(1);
    assert_eq!(String::from_utf8_lossy(&out.get_output().stdout).lines().count(), 2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("line 2:"));
}

/// Events over many contacts: soft and hard bounces, blocks, deliveries.
fn many_events(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let contact = i % 5_000;
        let campaign = i / 5_000;
        let at = format!("2026-{:02}-{:02}T{:02}:00:00Z", 1 + campaign / 28 % 12, 1 + campaign % 28, contact % 24);
        let body = match (i * 7) % 10 {
            0..=3 => r#""code":552,"status":"5.2.2","text":"Mailbox full""#,
            4 => r#""code":550,"status":"5.1.1","text":"User unknown""#,
            5..=6 => r#""code":550,"status":"5.7.1","text":"blocked using zen.spamhaus.org""#,
            _ => r#""type":"delivered""#,
        };
        out.push_str(&format!("{{\"id\":\"e{i}\",\"recipient\":\"c{contact}@example.org\",\"campaign\":\"k{campaign}\",\"at\":\"{at}\",{body}}}\n"));
    }
    out
}

fn dump(db: &Path) -> String {
    let out = rebound().args(["contacts", "--db", &s(db), "--format", "json", "list"]).assert().success();
    String::from_utf8_lossy(&out.get_output().stdout).to_string()
}

#[test]
fn a_killed_run_resumes_to_the_same_final_state() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, many_events(150_000)).unwrap();
    let clean = dir.path().join("clean.db");
    rebound().args(["run", "--quiet", "--events", &s(&events), "--db", &s(&clean)]).assert().success();

    let crashed = dir.path().join("crashed.db");
    let bin = assert_cmd::cargo::cargo_bin("rebound");
    let mut child = std::process::Command::new(&bin)
        .args(["run", "--quiet", "--events", &s(&events), "--db", &s(&crashed)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the run has committed a batch, then kill it without warning.
    let committed = || {
        let conn = rusqlite::Connection::open(&crashed).ok()?;
        conn.query_row("SELECT count(*) FROM seen", [], |r| r.get::<_, i64>(0)).ok()
    };
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(60) {
        if committed().is_some_and(|n| n > 0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let finished_early = child.try_wait().unwrap().is_some();
    child.kill().ok();
    child.wait().unwrap();

    let rerun = rebound().args(["run", "--quiet", "--events", &s(&events), "--db", &s(&crashed)]).assert().success();
    let stderr = String::from_utf8_lossy(&rerun.get_output().stderr).to_string();
    if !finished_early {
        assert!(!stderr.contains(" 0 already processed"), "the killed run had committed some batches: {stderr}");
        assert!(!stderr.contains("150000 already processed"), "the killed run must not have finished: {stderr}");
    }
    assert_eq!(dump(&crashed), dump(&clean), "a killed and resumed run ends where a clean run ends");
}
