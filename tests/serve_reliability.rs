//! The service stays up: bounded explain and requests, streamed answers,
//! reads that never wait behind a write, deadlines on sockets, a busy
//! limit, strict tokens and JSON for every error (docs/reliability.md).
//! Waits in these tests are liveness bounds (a hang fails the test), never
//! a measured duration.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rebound::serve::Limits;
use serde_json::json;

use crate::serve::{TOKEN, agent, get, json, post, start_with};

const UNKNOWN: &str = r#"{"id":"r-1","recipient":"alice@gmail.com","code":550,"status":"5.1.1","text":"The email account that you tried to reach does not exist.","mx":"gmail-smtp-in.l.google.com"}"#;

fn events(n: usize, kind: &str) -> String {
    (0..n)
        .map(|i| {
            json!({"id": format!("{kind}-{i}"), "type": kind, "recipient": format!("p{i}@example.org")}).to_string()
                + "\n"
        })
        .collect()
}

fn bounces(n: usize) -> String {
    (0..n)
        .map(|i| {
            json!({"id": format!("b-{i}"), "recipient": format!("p{i}@example.org"), "code": 552, "status": "5.2.2",
                "text": "552 5.2.2 mailbox full", "campaign": "k1"})
            .to_string()
                + "\n"
        })
        .collect()
}

/// Sends raw bytes and reads until the server closes the connection (or
/// the liveness bound passes, which fails the test).
fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => String::from_utf8_lossy(&out).to_string(),
        Err(e) => panic!("the server kept the connection open: {e} (read so far: {})", String::from_utf8_lossy(&out)),
    }
}

fn short() -> Limits {
    Limits { header_timeout: Duration::from_millis(500), body_timeout: Duration::from_millis(500), ..Limits::default() }
}

#[test]
fn explain_is_capped_and_classify_streams() {
    let s = start_with(None, Limits::default());
    let many = |n: usize| format!("{UNKNOWN}\n").repeat(n);
    let (status, body) = post(&format!("{}/v1/classify?explain=true", s.base), &many(101));
    assert_eq!(status, 413, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("at most 100 events"), "{body}");
    let (status, body) = post(&format!("{}/v1/classify?explain=true", s.base), &many(100));
    assert_eq!(status, 200);
    assert_eq!(body.lines().count(), 100);
    assert!(json(body.lines().next().unwrap())["trace"].is_object());

    // Many events come back as a stream, every one in order.
    let text = bounces(20_000);
    let mut r = agent().post(&format!("{}/v1/classify", s.base)).send(&text).unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("content-length").is_none(), "a large answer is streamed, not built whole");
    let body = r.body_mut().with_config().limit(u64::MAX).read_to_string().unwrap();
    let ids: Vec<String> = body.lines().map(|l| json(l)["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 20_000);
    assert!(ids.iter().enumerate().all(|(i, id)| *id == format!("b-{i}")));
}

#[test]
fn requests_and_lines_are_bounded() {
    let s = start_with(None, Limits { max_request_events: 50, ..Limits::default() });
    let (status, body) = post(&format!("{}/v1/events", s.base), &events(51, "delivered"));
    assert_eq!(status, 413, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("at most 50 events"));
    let (status, _) = post(&format!("{}/v1/events", s.base), &events(50, "delivered"));
    assert_eq!(status, 200);
    // A line over the CLI's limit is refused by line, as the CLI does.
    let long =
        json!({"recipient": "a@example.org", "text": "x".repeat(rebound::event::MAX_EVENT_LINE_BYTES)}).to_string();
    let (status, body) = post(&format!("{}/v1/classify", s.base), &format!("{UNKNOWN}\n{long}\n"));
    assert_eq!(status, 400);
    assert_eq!(json(&body)["line"], 2);
    assert!(body.contains("longer than"), "{body}");
}

#[test]
fn reads_and_health_never_wait_behind_a_write() {
    let s = start_with(None, Limits::default());
    let (status, _) = post(&format!("{}/v1/events", s.base), &events(3, "unsubscribe"));
    assert_eq!(status, 200);
    // Another process holds the database's write lock, and the service's
    // writer is stuck behind it in a long write.
    let blocker = rusqlite::Connection::open(&s.db).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let state = s.state.clone();
    let writer = std::thread::spawn(move || state.db.write(|_| held.recv().ok()).unwrap());
    let stuck: Vec<_> = (0..4)
        .map(|i| {
            let url = format!("{}/v1/events", s.base);
            let late = json!({"id": format!("late-{i}"), "type": "delivered", "recipient": "p1@example.org"});
            std::thread::spawn(move || post(&url, &late.to_string()))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // Reads and health answer while all of that waits (the async workers are free).
    for _ in 0..8 {
        let (status, body) = get(&format!("{}/v1/contacts/p1@example.org", s.base));
        assert_eq!(status, 200, "{body}");
        assert_eq!(json(&body)["consent"], "opted_out");
    }
    assert_eq!(get(&format!("{}/healthz", s.base)).0, 200);
    release.send(()).unwrap();
    writer.join().unwrap();
    blocker.execute_batch("COMMIT").unwrap();
    for t in stuck {
        assert_eq!(t.join().unwrap().0, 200, "the waiting writes went through once the lock was free");
    }
}

#[test]
fn too_many_requests_at_work_get_a_503() {
    let s = start_with(None, Limits { max_busy: 1, busy_wait: Duration::from_millis(100), ..Limits::default() });
    let (release, held) = std::sync::mpsc::channel::<()>();
    let state = s.state.clone();
    let writer = std::thread::spawn(move || state.db.write(|_| held.recv().ok()).unwrap());
    let url = format!("{}/v1/events", s.base);
    let first = std::thread::spawn(move || post(&url, &events(1, "unsubscribe")));
    std::thread::sleep(Duration::from_millis(300));
    // A large classify waits for a place, and gets a 503 when none frees up in time.
    let r = agent().post(&format!("{}/v1/classify", s.base)).send(&bounces(200)).unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    // A small classify needs no place: it is answered on the spot, even now.
    assert_eq!(post(&format!("{}/v1/classify", s.base), UNKNOWN).0, 200);
    release.send(()).unwrap();
    writer.join().unwrap();
    assert_eq!(first.join().unwrap().0, 200);
    assert_eq!(post(&format!("{}/v1/classify", s.base), &bounces(200)).0, 200);
}

#[test]
fn slow_and_idle_connections_are_closed() {
    let s = start_with(None, short());
    // A request head that never ends.
    let out = raw(s.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    assert!(!out.contains("200 OK"), "{out}");
    // A kept-alive connection that goes idle after one answer.
    let out = raw(s.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    // A body that trickles: a 408 in the documented JSON, then the connection ends.
    let out = raw(s.addr, b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\n{\"recipient\":");
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(out.contains(r#""error":"the body did not arrive"#), "{out}");
    // Many idle sockets: the service still answers.
    let idle: Vec<TcpStream> = (0..64).map(|_| TcpStream::connect(s.addr).unwrap()).collect();
    assert_eq!(get(&format!("{}/healthz", s.base)).0, 200);
    drop(idle);
}

#[test]
fn connections_beyond_the_cap_wait_their_turn() {
    let s = start_with(None, Limits { max_connections: 4, ..short() });
    let idle: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(s.addr).unwrap()).collect();
    // The idle ones time out and free their places; the request gets one.
    assert_eq!(get(&format!("{}/healthz", s.base)).0, 200);
    drop(idle);
}

#[test]
fn every_error_is_the_documented_json() {
    let s = start_with(None, Limits { max_body: 4096, ..Limits::default() });
    let cases: Vec<(u16, String, Option<u64>)> = vec![
        {
            let mut r = agent()
                .post(&format!("{}/v1/classify", s.base))
                .send(&b"{\"recipient\":\"a@b.c\"}\n\xff\xfe\n"[..])
                .unwrap();
            (r.status().as_u16(), r.body_mut().read_to_string().unwrap(), Some(2))
        },
        {
            let (st, b) = post(&format!("{}/v1/classify?explain=maybe", s.base), UNKNOWN);
            (st, b, None)
        },
        {
            let (st, b) = get(&format!("{}/v1/nothing-here", s.base));
            (st, b, None)
        },
        {
            let (st, b) = get(&format!("{}/v1/classify", s.base));
            (st, b, None)
        },
        {
            let (st, b) = post(&format!("{}/v1/classify", s.base), &"x".repeat(5000));
            (st, b, None)
        },
        {
            let (st, b) = get(&format!("{}/v1/contacts/a@b.c/eligible", s.base));
            (st, b, None)
        },
        {
            let (st, b) = post(&format!("{}/v1/events", s.base), "");
            (st, b, None)
        },
    ];
    let statuses: Vec<u16> = cases.iter().map(|c| c.0).collect();
    assert_eq!(statuses, [400, 400, 404, 405, 413, 400, 400]);
    for (status, body, line) in cases {
        let v: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("a {status} that is not JSON ({e}): {body}"));
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
        assert_eq!(v["line"].as_u64(), line, "{body}");
    }
    let (status, body) = get(&format!("{}/v1/contacts/a@b.c/eligible?for=markting", s.base));
    assert_eq!(status, 400);
    assert!(json(&body)["error"].as_str().unwrap().contains("did you mean `marketing`?"), "{body}");
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let s = start_with(Some(TOKEN), Limits::default());
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let r = agent()
            .post(&format!("{}/v1/classify", s.base))
            .header("Authorization", format!("{scheme} {TOKEN}"))
            .send(UNKNOWN)
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{scheme}");
    }
    let r = agent()
        .post(&format!("{}/v1/classify", s.base))
        .header("Authorization", format!("Basic {TOKEN}"))
        .send(UNKNOWN)
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
}

#[cfg(unix)]
#[test]
fn weak_or_exposed_token_files_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str, mode: u32| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    };
    let good = file("good", &format!("{TOKEN}\n"), 0o600);
    assert_eq!(rebound::serve::read_token(&good).unwrap(), TOKEN);
    let short = file("short", "x\n", 0o600);
    assert!(rebound::serve::read_token(&short).unwrap_err().contains("at least 32"));
    let open = file("open", TOKEN, 0o666);
    assert!(rebound::serve::read_token(&open).unwrap_err().contains("chmod 600"));
    let group = file("group", TOKEN, 0o620);
    assert!(rebound::serve::read_token(&group).is_err());
    let huge = file("huge", &"t".repeat(5000), 0o600);
    assert!(rebound::serve::read_token(&huge).unwrap_err().contains("larger than 4096"));
    let out = assert_cmd::Command::cargo_bin("rebound")
        .unwrap()
        .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&short)
        .arg("--db")
        .arg(dir.path().join("x.db"))
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("use at least 32"));
}

#[test]
fn run_and_the_service_write_one_database_without_losing_updates() {
    let s = start_with(None, Limits::default());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("unsubscribes.jsonl");
    std::fs::write(&file, events(3_000, "unsubscribe")).unwrap();
    let run = std::process::Command::new(assert_cmd::cargo::cargo_bin("rebound"))
        .args(["run", "--quiet", "--batch", "100", "--events"])
        .arg(&file)
        .arg("--db")
        .arg(&s.db)
        .spawn()
        .unwrap();
    let text = bounces(3_000);
    for chunk in text.lines().collect::<Vec<_>>().chunks(250) {
        let (status, body) = post(&format!("{}/v1/events", s.base), &chunk.join("\n"));
        assert_eq!(status, 200, "{body}");
    }
    assert!(run.wait_with_output().unwrap().status.success());
    let conn = rusqlite::Connection::open(&s.db).unwrap();
    let (opted_out, strikes, seen): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM contacts WHERE consent = 'opted_out'), (SELECT sum(strikes) FROM contacts), (SELECT count(*) FROM seen)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((opted_out, strikes, seen), (3_000, 3_000, 6_000), "an update was lost");
}
