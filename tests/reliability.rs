//! Nothing lost: concurrent writers on one database, event identity, a
//! panicking host function, outcomes handed out before the commit, and
//! memory bounded by bytes. Each test reproduces a defect a reliability
//! probe found (docs/reliability.md).

use std::path::Path;
use std::process::{Command, Stdio};

use rebound::Engine;
use rebound::lifecycle::runner::{RunError, Runner};
use rebound::store::sqlite::SqliteStore;
use rebound::store::{MemoryStore, Store};
use serde_json::json;

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("rebound")
}

fn lines(values: impl Iterator<Item = serde_json::Value>) -> String {
    values.map(|v| v.to_string() + "\n").collect()
}

/// The state a database holds, in a form that does not depend on the order
/// in which commuting events were applied.
type Row = (String, String, String, u32, Option<String>);

fn state(db: &Path) -> (Vec<Row>, Vec<String>, i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt =
        conn.prepare("SELECT address, delivery, consent, strikes, last_reason FROM contacts ORDER BY address").unwrap();
    let contacts = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let mut stmt = conn.prepare("SELECT event FROM log ORDER BY event").unwrap();
    let log = stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<Vec<String>, _>>().unwrap();
    let seen = conn.query_row("SELECT count(*) FROM seen", [], |r| r.get(0)).unwrap();
    (contacts, log, seen)
}

fn run(events: &Path, db: &Path, batch: usize) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["run", "--events"]).arg(events).arg("--db").arg(db).args(["--batch", &batch.to_string()]);
    cmd
}

#[test]
fn concurrent_writers_end_in_the_state_of_one_sequential_run() {
    const N: usize = 1_200;
    let dir = tempfile::tempdir().unwrap();
    let contact = |i: usize| format!("c{i}@example.org");
    let unsubscribes =
        lines((0..N).map(|i| json!({"id": format!("u{i}"), "type": "unsubscribe", "recipient": contact(i)})));
    // Soft bounces of two campaigns, over contacts that overlap the unsubscribes and each other.
    let soft = |campaign: &'static str, from: usize| {
        lines((from..from + N).map(move |i| {
            json!({"id": format!("{campaign}-{i}"), "recipient": contact(i), "campaign": campaign,
                "code": 552, "status": "5.2.2", "text": "552 5.2.2 mailbox full"})
        }))
    };
    let inputs = [unsubscribes.clone(), soft("c1", N / 3), soft("c2", 2 * N / 3), unsubscribes];
    let files: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let path = dir.path().join(format!("w{i}.jsonl"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect();

    // Four writers at once on one database, in small transactions so that they interleave.
    let shared = dir.path().join("shared.db");
    // Each child's output is read while the others run: a writer prints its
    // outcomes before it commits, so a reader that stops reading holds the others up.
    let readers: Vec<_> = files
        .iter()
        .map(|f| {
            let child = run(f, &shared, 40).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
            std::thread::spawn(move || child.wait_with_output().unwrap())
        })
        .collect();
    let mut printed: Vec<String> = Vec::new();
    for reader in readers {
        let out = reader.join().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            printed.push(v["id"].as_str().unwrap().to_string());
        }
    }

    // The same inputs one after the other.
    let sequential = dir.path().join("sequential.db");
    for f in &files {
        assert!(run(f, &sequential, 40).output().unwrap().status.success());
    }

    let (contacts, log, seen) = state(&shared);
    assert_eq!((contacts.clone(), log.clone(), seen), state(&sequential));
    // Every event processed exactly once: one transition printed, one id seen.
    let distinct = 3 * N;
    assert_eq!(seen as usize, distinct);
    printed.sort();
    let before = printed.len();
    printed.dedup();
    assert_eq!((before, printed.len()), (distinct, distinct), "every event printed once");
    // No unsubscribe lost, and every soft bounce counted.
    let index = |a: &str| a.trim_start_matches('c').split('@').next().unwrap().parse::<usize>().unwrap();
    let unsubscribed = contacts.iter().filter(|c| index(&c.0) < N);
    assert!(
        unsubscribed.clone().count() == N && unsubscribed.clone().all(|c| c.2 == "opted_out"),
        "an unsubscribe was lost"
    );
    let strikes: u32 = contacts.iter().map(|c| c.3).sum();
    assert_eq!(strikes as usize, 2 * N, "a strike was lost or doubled");
}

#[test]
fn concurrent_writers_in_threads_share_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("threads.db");
    let policy = rebound::load::compile_shipped().policy.unwrap();
    let input = |t: usize| {
        lines((0..300).map(move |i| {
            json!({"id": format!("t{t}-{i}"), "recipient": format!("p{}@example.org", i % 50), "campaign": format!("k{t}-{}", i / 50),
                "code": 552, "status": "5.2.2", "text": "mailbox full"})
        }))
    };
    std::thread::scope(|s| {
        for t in 0..3 {
            let (db, policy, text) = (&db, &policy, input(t));
            s.spawn(move || {
                let store = SqliteStore::open(db).unwrap();
                let mut runner = Runner::new(policy, store).unwrap().batch_events(7);
                let summary = runner.run(text.as_bytes(), |_| Ok(()), |_, _| Ok(())).unwrap();
                assert_eq!(summary.processed, 300);
            });
        }
    });
    let (contacts, _, seen) = state(&db);
    assert_eq!(seen, 900);
    assert_eq!(contacts.len(), 50);
}

#[test]
fn ids_are_strings_recipients_are_not_empty_and_times_are_times() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let db = dir.path().join("ids.db");
    std::fs::write(
        &events,
        lines(
            [
                json!({"id": 1, "recipient": "a@example.org", "code": 550, "status": "5.1.1", "text": "user unknown"}),
                json!({"id": "1", "type": "unsubscribe", "recipient": "b@example.org"}),
                json!({"id": "2", "recipient": ""}),
                json!({"id": "3", "recipient": "   ", "type": "delivered"}),
                json!({"id": "4", "type": "delivered", "recipient": "c@example.org"}),
                json!({"id": "5", "type": "delivered", "recipient": "d@example.org", "at": "yesterday"}),
                json!({"id": "6", "type": "delivered", "recipient": "d@example.org", "at": "2026-11-20 10:00"}),
            ]
            .into_iter(),
        ),
    )
    .unwrap();
    let out = run(&events, &db, 100).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "bad lines make the run exit 1: {stderr}");
    assert!(stderr.contains("line 1: `id` must be a string, not the number 1"), "{stderr}");
    assert!(stderr.contains("line 3: `recipient` is empty"), "{stderr}");
    assert!(stderr.contains("line 4: `recipient` is empty"), "{stderr}");
    assert!(stderr.contains("line 6: `at` is not an RFC 3339 time with an offset: `yesterday`"), "{stderr}");
    assert!(stderr.contains("line 7: `at` is not an RFC 3339 time"), "{stderr}");
    assert!(stderr.contains("events: 7 read, 2 processed, 0 already processed, 5 bad lines"), "{stderr}");
    let (contacts, _, _) = state(&db);
    let addresses: Vec<_> = contacts.iter().map(|c| (c.0.as_str(), c.2.as_str())).collect();
    assert_eq!(addresses, [("b@example.org", "opted_out"), ("c@example.org", "single")]);
}

const BOOM_POLICY: &str = r#"
rule boom { when call explodes then block blocked }
rule rest { when code 5xx then soft on_hold }
lifecycle {
  states delivery: active, error
  states consent: single, opted_out
  transition struck_out { on strikes  delivery active -> error }
  transition unsubscribe { on unsubscribe  consent * -> opted_out }
  strikes four { count soft  consecutive 4 campaigns }
}
"#;

/// A policy whose host function panics for recipients at `boom.example`.
fn boom_policy() -> rebound::Policy {
    let mut engine = Engine::new();
    engine.register_predicate("explodes", |ctx| {
        assert!(ctx.domain != "boom.example", "the host function failed");
        false
    });
    engine.load_str("boom.rebound", BOOM_POLICY).unwrap()
}

#[test]
fn a_panicking_host_function_fails_the_batch_and_misaligns_nothing() {
    let policy = boom_policy();
    // Below and above the size at which classification is split over threads.
    for n in [10, 2_000] {
        let text = lines((0..n).map(|i| {
            let domain = if i == n / 2 { "boom.example" } else { "example.org" };
            json!({"id": format!("e{i}"), "recipient": format!("r{i}@{domain}"), "code": 550, "text": "no"})
        }));
        let mut store = MemoryStore::new();
        let mut handed_out = 0;
        let result = Runner::new(&policy, &mut store).unwrap().run(
            text.as_bytes(),
            |o| {
                handed_out += o.len();
                Ok(())
            },
            |_, _| Ok(()),
        );
        let Err(RunError::Panic(message)) = result else { panic!("the panic was not reported: {result:?}") };
        assert!(message.contains("the host function failed"), "{message}");
        assert_eq!(handed_out, 0, "no outcome of the failed batch was handed out");
        assert!(store.list(&Default::default()).unwrap().is_empty(), "nothing of the failed batch was applied");
    }
}

#[test]
fn outcomes_are_handed_out_before_the_commit() {
    let policy = rebound::load::compile_shipped().policy.unwrap();
    let text =
        lines((0..5).map(|i| json!({"id": format!("o{i}"), "type": "unsubscribe", "recipient": "pat@example.org"})));
    let mut store = MemoryStore::new();
    // The consumer fails (a closed stdout): the batch is not committed…
    let failed = Runner::new(&policy, &mut store).unwrap().run(
        text.as_bytes(),
        |_| Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed")),
        |_, _| Ok(()),
    );
    assert!(matches!(failed, Err(RunError::Io(_))));
    assert!(store.processed(&["o0"]).unwrap() == [false], "a batch whose outcomes were lost was committed");
    // …so the next run hands the same outcomes out.
    let mut ids = Vec::new();
    let summary = Runner::new(&policy, &mut store)
        .unwrap()
        .run(
            text.as_bytes(),
            |o| {
                ids.extend(o.iter().map(|o| o.id.clone()));
                Ok(())
            },
            |_, _| Ok(()),
        )
        .unwrap();
    assert_eq!(summary.processed, 5);
    assert_eq!(ids, ["o0", "o1", "o2", "o3", "o4"]);
}

#[test]
fn a_closed_stdout_rolls_the_batch_back() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let db = dir.path().join("pipe.db");
    std::fs::write(
        &events,
        lines(
            (0..3000)
                .map(|i| json!({"id": format!("p{i}"), "type": "delivered", "recipient": format!("r{i}@example.org")})),
        ),
    )
    .unwrap();
    // A reader that goes away at once: the first write fails with a broken pipe.
    let mut child = run(&events, &db, 1000).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let (_, _, seen) = state(&db);
    // Whatever was committed was printed first: with no reader, nothing was.
    assert_eq!(seen, 0, "{}", String::from_utf8_lossy(&out.stderr));
    let again = run(&events, &db, 1000).output().unwrap();
    assert!(again.status.success());
    assert_eq!(String::from_utf8_lossy(&again.stdout).lines().count(), 3000);
}

#[test]
fn batches_are_bounded_by_bytes() {
    // Lines near the 1 MiB limit: a batch ends at BATCH_BYTES, not after BATCH_EVENTS of them.
    let policy = rebound::load::compile_shipped().policy.unwrap();
    let text_len = 900 * 1024;
    let n = rebound::lifecycle::runner::BATCH_BYTES / text_len + 8;
    let pad = "x".repeat(text_len);
    let input =
        lines((0..n).map(
            |i| json!({"id": format!("b{i}"), "recipient": format!("r{i}@example.org"), "code": 550, "text": pad}),
        ));
    let mut batches = Vec::new();
    let summary = Runner::new(&policy, MemoryStore::new())
        .unwrap()
        .run(
            input.as_bytes(),
            |o| {
                batches.push(o.len());
                Ok(())
            },
            |_, _| Ok(()),
        )
        .unwrap();
    assert_eq!(summary.processed, n);
    assert!(batches.len() >= 2, "one batch held {n} lines of {text_len} bytes: {batches:?}");
    let most = batches.iter().max().copied().unwrap_or(0);
    assert!(most * text_len <= rebound::lifecycle::runner::BATCH_BYTES + text_len, "{batches:?}");
}

#[cfg(unix)]
#[test]
fn a_new_database_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("private.db");
    let events = crate::root().join("examples/events.jsonl");
    run(&events, &db, 100).output().unwrap();
    for file in [db.clone(), dir.path().join("private.db-wal")] {
        if let Ok(meta) = std::fs::metadata(&file) {
            assert_eq!(meta.permissions().mode() & 0o077, 0, "{} is readable by others", file.display());
        }
    }
}

#[test]
fn a_panicking_host_function_stops_classify_before_any_misplaced_verdict() {
    let policy = boom_policy();
    for n in [10, 3_000] {
        let text = lines((0..n).map(|i| {
            let domain = if i == n - 3 { "boom.example" } else { "example.org" };
            json!({"id": format!("e{i}"), "recipient": format!("r{i}@{domain}"), "code": 550, "text": "no"})
        }));
        let mut out = Vec::new();
        let result = rebound::cli::classify::stream(
            &policy,
            text.as_bytes(),
            &mut out,
            &mut Vec::new(),
            rebound::cli::Format::Json,
        );
        let err = result.expect_err("the panic is an error");
        assert!(err.to_string().contains("panicked"), "{err}");
        // Whatever was written before is in its place.
        for (i, line) in String::from_utf8(out).unwrap().lines().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["id"], format!("e{i}"));
        }
    }
}

/// Pieces of event lines, valid and not, for the property below; the
/// inputs the reliability probe found are among them.
const PIECES: &[&str] = &[
    r#"{"id":1,"recipient":"a@example.org"}"#,
    r#"{"id":"1","recipient":"a@example.org","type":"unsubscribe"}"#,
    r#"{"recipient":""}"#,
    r#"{"recipient":"   "}"#,
    r#"{"id":"x","recipient":"b@example.org","code":550,"status":"5.1.1","text":"user unknown"}"#,
    r#"{"id":"x","recipient":"b@example.org","type":"delivered"}"#,
    r#"{"id":null,"recipient":"c@example.org","campaign":7,"at":"2026-13-45T99:00:00Z"}"#,
    r#"{"recipient":"d@example.org","type":"subscribe","optin":"triple"}"#,
    r#"{"recipient":"d@example.org","type":"reactivate"}"#,
    r#"{"recipient":"e@example.org","code":"abc","status":5,"text":["no"]}"#,
    r#"{"recipient":"e@example.org","type":"nonsense"}"#,
    "{broken",
    "",
    "   ",
    "[]",
    "null",
    "\u{feff}{\"recipient\":\"f@example.org\"}",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 128, ..Default::default() })]

    /// Every line is accounted for: processed, a duplicate, or reported bad
    /// with its number — whatever the mix.
    #[test]
    fn every_line_is_processed_or_reported(picks in proptest::collection::vec(0..PIECES.len(), 0..40)) {
        static SHIPPED: std::sync::OnceLock<rebound::Policy> = std::sync::OnceLock::new();
        let policy = SHIPPED.get_or_init(|| rebound::load::compile_shipped().policy.unwrap());
        let text: String = picks.iter().map(|i| PIECES[*i].to_string() + "\n").collect();
        let mut reported = Vec::new();
        let mut handed_out = 0;
        let summary = Runner::new(policy, MemoryStore::new()).unwrap().batch_events(7).run(
            text.as_bytes(),
            |o| {
                handed_out += o.len();
                Ok(())
            },
            |line, _| {
                reported.push(line);
                Ok(())
            },
        ).unwrap();
        let nonblank = picks.iter().filter(|i| !PIECES[**i].trim().is_empty()).count();
        proptest::prop_assert_eq!(summary.events, nonblank);
        proptest::prop_assert_eq!(summary.processed + summary.duplicates + summary.bad, nonblank);
        proptest::prop_assert_eq!(handed_out, summary.processed);
        proptest::prop_assert_eq!(reported.len(), summary.bad);
    }
}

#[path = "../benches/data/events.rs"]
mod list;

/// Everything a database holds: every column of every contact (the strike
/// history too), each contact's log in order (its `seq` aside: batches
/// number it differently), and the processed ids.
type Full = (Vec<Vec<Option<String>>>, Vec<Vec<Option<String>>>, Vec<String>);

fn full_state(db: &Path) -> Full {
    let conn = rusqlite::Connection::open(db).unwrap();
    let rows = |sql: &str| -> Vec<Vec<Option<String>>> {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| (0..n).map(|i| r.get::<_, rusqlite::types::Value>(i)).collect::<Result<Vec<_>, _>>())
            .unwrap()
            .map(|row| row.unwrap().into_iter().map(|v| Some(format!("{v:?}"))).collect())
            .collect()
    };
    let contacts = rows("SELECT * FROM contacts ORDER BY address");
    let log = rows(
        "SELECT event, address, kind, at, from_delivery, from_consent, to_delivery, to_consent, rule, strike_rule,
         class, reason, verdict_rule, reactivation, strikes, version FROM log ORDER BY address, seq",
    );
    let mut stmt = conn.prepare("SELECT id FROM seen ORDER BY id").unwrap();
    let seen = stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<Vec<String>, _>>().unwrap();
    (contacts, log, seen)
}

/// The ids a run printed, in order.
fn printed(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn batching_and_the_kept_contacts_change_no_state() {
    // Ten campaigns over 300 contacts: each contact is in many batches, so
    // the contacts kept between transactions and the batch prepared during
    // the previous one's transaction are used again and again.
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("list.jsonl");
    let mut text = Vec::new();
    list::write(3_000, 300, &mut text).unwrap();
    std::fs::write(&events, &text).unwrap();
    // One batch: nothing kept from a previous transaction, nothing prepared beside one.
    let one = dir.path().join("one.db");
    let reference = run(&events, &one, 1_000_000).output().unwrap();
    assert!(reference.status.success(), "{}", String::from_utf8_lossy(&reference.stderr));
    let expected = full_state(&one);
    assert_eq!(expected.2.len(), 3_000);
    for batch in [7, 128, 1_000] {
        let db = dir.path().join(format!("b{batch}.db"));
        let out = run(&events, &db, batch).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, reference.stdout, "batches of {batch} print other transitions");
        assert!(full_state(&db) == expected, "batches of {batch} end in another state");
        // The re-run: everything already processed, nothing printed, nothing changed.
        let again = run(&events, &db, batch).output().unwrap();
        assert!(String::from_utf8_lossy(&again.stderr).contains("0 processed, 3000 already processed"));
        assert!(again.stdout.is_empty());
        assert!(full_state(&db) == expected, "the re-run in batches of {batch} changed the state");
    }
}

#[test]
fn kept_contacts_are_read_again_after_another_writer_commits() {
    // Runner `a` keeps the contacts of its batches; runner `b`, another
    // connection, changes the same contacts between `a`'s runs. `a` must see
    // `b`'s strikes and unsubscribes, not its own older copies.
    let policy = rebound::load::compile_shipped().policy.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("two.db");
    let soft = |campaign: &str| {
        lines((0..40).map(|i| {
            json!({"id": format!("{campaign}-{i}"), "recipient": format!("k{i}@example.org"), "campaign": campaign,
                "code": 552, "status": "5.2.2", "text": "552 5.2.2 mailbox full"})
        }))
    };
    let unsubscribe = lines(
        (0..20)
            .map(|i| json!({"id": format!("u{i}"), "type": "unsubscribe", "recipient": format!("k{i}@example.org")})),
    );
    let parts = [soft("c1"), soft("c2"), unsubscribe + soft("c3").as_str(), soft("c4")];
    let mut a = Runner::new(&policy, SqliteStore::open(&db).unwrap()).unwrap().batch_events(9);
    let mut b = Runner::new(&policy, SqliteStore::open(&db).unwrap()).unwrap().batch_events(9);
    for (i, part) in parts.iter().enumerate() {
        let runner = if i % 2 == 0 { &mut a } else { &mut b };
        let summary = runner.run(part.as_bytes(), |_| Ok(()), |_, _| Ok(())).unwrap();
        assert_eq!(summary.duplicates, 0);
    }
    // The same events through one runner on a fresh database.
    let alone = dir.path().join("alone.db");
    let mut one = Runner::new(&policy, SqliteStore::open(&alone).unwrap()).unwrap().batch_events(9);
    for part in &parts {
        one.run(part.as_bytes(), |_| Ok(()), |_, _| Ok(())).unwrap();
    }
    let (contacts, _, seen) = state(&db);
    assert_eq!((contacts.clone(), seen), {
        let (c, _, s) = state(&alone);
        (c, s)
    });
    // Four campaigns of soft bounces: every contact struck out; the first 20 opted out.
    assert!(contacts.iter().all(|c| c.1 == "error" && c.3 == 4), "{contacts:?}");
    assert_eq!(contacts.iter().filter(|c| c.2 == "opted_out").count(), 20);
}

#[test]
fn a_run_killed_between_batches_loses_no_printed_transition() {
    // Small batches, killed as soon as one is committed: whatever is in the
    // store was printed first, and the re-run prints the rest and ends in
    // the state of a clean run.
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("list.jsonl");
    let mut text = Vec::new();
    list::write(30_000, 2_000, &mut text).unwrap();
    std::fs::write(&events, &text).unwrap();
    let clean = dir.path().join("clean.db");
    assert!(run(&events, &clean, 500).output().unwrap().status.success());

    let db = dir.path().join("killed.db");
    let mut child = run(&events, &db, 500).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut { stdout }, &mut out).unwrap();
        out
    });
    let committed = || {
        let conn = rusqlite::Connection::open(&db).ok()?;
        conn.query_row("SELECT count(*) FROM seen", [], |r| r.get::<_, i64>(0)).ok()
    };
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(60) && committed().is_none_or(|n| n <= 0) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().ok();
    child.wait().unwrap();
    let first = printed(&reader.join().unwrap());
    let (_, _, seen) = full_state(&db);
    let shown: std::collections::HashSet<&String> = first.iter().collect();
    assert!(seen.iter().all(|id| shown.contains(id)), "a committed event was not printed before its commit");

    let again = run(&events, &db, 500).output().unwrap();
    assert!(again.status.success());
    let second = printed(&again.stdout);
    // The re-run prints exactly what the store did not have.
    let mut all: Vec<&String> = seen.iter().chain(&second).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 30_000, "an event was neither committed before the kill nor printed by the re-run");
    assert!(second.iter().all(|id| !seen.contains(id)), "the re-run printed a committed event again");
    assert!(full_state(&db) == full_state(&clean), "the killed and resumed run ended elsewhere");
}
#[test]
fn writers_creating_one_database_at_once_all_open_it() {
    // Switching a new database to WAL answers "database is locked" at once,
    // without the busy handler, while another connection opens it: the
    // full suite's load made `concurrent_writers_in_threads_share_one_file` meet it.
    for round in 0..50 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("new.db");
        std::thread::scope(|s| {
            let opening: Vec<_> = (0..4).map(|_| s.spawn(|| SqliteStore::open(&db).map(|_| ()))).collect();
            for o in opening {
                if let Err(e) = o.join().unwrap() {
                    panic!("round {round}: {e}");
                }
            }
        });
    }
}
