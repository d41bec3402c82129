//! `rebound serve` over real HTTP on a loopback port: classify, events,
//! contacts, policy and reload, metrics, auth and limits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rebound::reload::LivePolicy;
use rebound::serve::{AppState, Db, Limits, serve};

pub struct Server {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub state: Arc<AppState>,
    pub db: std::path::PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
    policy_dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(token: Option<&str>, max_body: usize) -> Server {
    start_with(token, Limits { max_body, ..Limits::default() })
}

/// A service on a loopback port over a copy of the shipped policy, with
/// these limits, on 2 async workers.
pub fn start_with(token: Option<&str>, limits: Limits) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let policy_dir = dir.path().join("policies");
    for (rel, text) in rebound::load::shipped_files() {
        let target = policy_dir.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, text).unwrap();
    }
    let live = LivePolicy::open(&policy_dir).unwrap();
    let db_path = dir.path().join("state.db");
    let db = Db::open(&db_path).unwrap();
    let state = Arc::new(AppState::new(live, db, token.map(str::to_string), limits));
    let shared = state.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let watch = state.live.watch().unwrap();
            serve(listener, state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
            drop(watch);
        });
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Server {
        base: format!("http://{addr}"),
        addr,
        state: shared,
        db: db_path,
        stop: Some(tx),
        thread: Some(thread),
        _dir: dir,
        policy_dir,
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

pub fn post(url: &str, body: &str) -> (u16, String) {
    let mut r = agent().post(url).header("Content-Type", "application/json").send(body).unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

pub fn get(url: &str) -> (u16, String) {
    let mut r = agent().get(url).call().unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

const GMAIL_DISABLED: &str = r#"{"id":"s-3","recipient":"dora@gmail.com","code":550,"status":"5.2.1","text":"The email account that you tried to reach is disabled.","mx":"gmail-smtp-in.l.google.com"}"#;
const GMAIL_UNKNOWN: &str = r#"{"id":"s-1","recipient":"alice@gmail.com","code":550,"status":"5.1.1","text":"The email account that you tried to reach does not exist.","mx":"gmail-smtp-in.l.google.com"}"#;

#[test]
fn classify_events_contacts_policy_metrics() {
    let s = start(None, rebound::serve::MAX_BODY_BYTES);
    let (status, body) = get(&format!("{}/healthz", s.base));
    assert_eq!((status, body.trim()), (200, "ok"));

    let (status, body) = post(&format!("{}/v1/classify", s.base), GMAIL_UNKNOWN);
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(
        (v["class"].as_str(), v["reason"].as_str(), v["rule"].as_str()),
        (Some("hard"), Some("user_unknown"), Some("phrases.user_unknown"))
    );

    let two = format!(
        "{GMAIL_UNKNOWN}\n{}\n",
        r#"{"id":"s-2","recipient":"bob@yahoo.com","code":421,"text":"[TSS04] Messages from 192.0.2.25 temporarily deferred"}"#
    );
    let (status, body) = post(&format!("{}/v1/classify", s.base), &two);
    assert_eq!(status, 200);
    let lines: Vec<serde_json::Value> = body.lines().map(json).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["class"], "defer");

    let (status, body) = post(&format!("{}/v1/classify?explain=true", s.base), GMAIL_UNKNOWN);
    assert_eq!(status, 200);
    assert!(json(&body)["trace"]["tried"].as_array().is_some_and(|t| !t.is_empty()));

    let (status, body) = post(&format!("{}/v1/classify", s.base), &format!("{GMAIL_UNKNOWN}\n{{broken\n"));
    assert_eq!(status, 400, "bad JSON is a 400, not a dropped connection");
    assert_eq!(json(&body)["line"], 2);

    let events = std::fs::read_to_string(rebound_root().join("examples/events.jsonl")).unwrap();
    let (status, body) = post(&format!("{}/v1/events", s.base), &events);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.lines().count(), 36);

    let (status, body) = get(&format!("{}/v1/contacts/dave@gmail.com", s.base));
    assert_eq!(status, 200);
    assert_eq!(json(&body)["delivery"], "error");
    let (status, _) = get(&format!("{}/v1/contacts/nobody@example.org", s.base));
    assert_eq!(status, 404);
    let (status, body) = get(&format!("{}/v1/contacts/gina@icloud.com/eligible?for=marketing", s.base));
    assert_eq!(status, 200);
    assert_eq!(json(&body)["eligible"], false);

    let (status, body) = get(&format!("{}/v1/policy", s.base));
    assert_eq!(status, 200);
    let p = json(&body);
    assert_eq!(p["version"].as_str().unwrap().len(), 16);
    assert!(p["last_error"].is_null());
    assert!(p["files"].as_array().unwrap().len() > 5);

    let (status, body) = get(&format!("{}/metrics", s.base));
    assert_eq!(status, 200);
    assert!(
        body.contains("rebound_verdicts_total{class=\"hard\",reason=\"user_unknown\",receiver=\"gmail\"}"),
        "{body}"
    );
    assert!(body.contains("rebound_transitions_total{transition=\"hard_bounce\"}"), "{body}");
    assert!(body.contains("rebound_http_request_duration_seconds_bucket{route=\"/v1/classify\""), "{body}");
    assert!(body.contains("rebound_reload_failures_total 0"));
    assert!(body.contains("rebound_script_errors_total 0"), "the shipped policy has no script");
}

fn rebound_root() -> std::path::PathBuf {
    crate::root()
}

#[test]
fn a_bad_edit_is_visible_while_the_old_policy_serves_and_a_fix_is_picked_up() {
    let s = start(None, rebound::serve::MAX_BODY_BYTES);
    let (_, body) = get(&format!("{}/v1/policy", s.base));
    let before = json(&body)["version"].as_str().unwrap().to_string();
    let gmail = s.policy_dir.join("receivers/gmail.rebound");
    let good = std::fs::read_to_string(&gmail).unwrap();
    std::fs::write(&gmail, good.replacen("then hard user_unknown", "then hard usr_unknown", 1)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut policy = serde_json::Value::Null;
    while Instant::now() < deadline {
        policy = json(&get(&format!("{}/v1/policy", s.base)).1);
        if !policy["last_error"].is_null() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let err = &policy["last_error"];
    assert!(!err.is_null(), "the failed reload is visible");
    assert_eq!(policy["version"], before.as_str(), "the old policy keeps serving");
    let diag = &err["diagnostics"][0];
    assert_eq!(diag["code"], "rebound::check::unknown_reason");
    assert!(diag["location"].as_str().unwrap().contains("gmail.rebound:"), "{diag}");
    let (status, body) = post(&format!("{}/v1/classify", s.base), GMAIL_UNKNOWN);
    assert_eq!(status, 200);
    assert_eq!(json(&body)["version"], before.as_str());

    // The fix, with a visible change: a disabled Gmail account becomes a soft strike.
    assert_eq!(json(&post(&format!("{}/v1/classify", s.base), GMAIL_DISABLED).1)["class"], "hard");
    assert!(good.contains("then hard suspend"), "the Gmail rule for disabled accounts changed; update the test");
    std::fs::write(&gmail, good.replacen("then hard suspend", "then soft suspend", 1)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        policy = json(&get(&format!("{}/v1/policy", s.base)).1);
        if policy["version"] != before.as_str() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_ne!(policy["version"], before.as_str(), "the fix is serving");
    assert!(policy["last_error"].is_null());
    let v = json(&post(&format!("{}/v1/classify", s.base), GMAIL_DISABLED).1);
    assert_eq!(v["class"], "soft");
    assert_eq!(v["version"], policy["version"]);
    let (status, body) = post(&format!("{}/v1/policy/reload", s.base), "");
    assert_eq!(status, 200, "{body}");
    let metrics = get(&format!("{}/metrics", s.base)).1;
    assert!(
        metrics.contains("rebound_reload_failures_total 1") || metrics.contains("rebound_reload_failures_total 2"),
        "{metrics}"
    );
}

pub const TOKEN: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn token_and_body_limit() {
    let s = start(Some(TOKEN), 1024);
    let (status, _) = post(&format!("{}/v1/classify", s.base), GMAIL_UNKNOWN);
    assert_eq!(status, 401);
    let mut r = agent()
        .post(&format!("{}/v1/classify", s.base))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .send(GMAIL_UNKNOWN)
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.body_mut().read_to_string().unwrap());
    let (status, _) = get(&format!("{}/healthz", s.base));
    assert_eq!(status, 200, "health needs no token");
    let big = format!("{}\n", GMAIL_UNKNOWN).repeat(50);
    let r = agent()
        .post(&format!("{}/v1/classify", s.base))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .send(&big)
        .unwrap();
    assert_eq!(r.status().as_u16(), 413, "bodies are size-limited");
}

#[test]
fn listening_beyond_loopback_needs_a_token() {
    let out = assert_cmd::Command::cargo_bin("rebound")
        .unwrap()
        .args(["serve", "--listen", "0.0.0.0:0", "--db", "/nonexistent/x.db"])
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("needs --token-file"));
}

#[test]
fn classify_takes_an_object_an_array_or_json_lines() {
    let s = start(None, rebound::serve::MAX_BODY_BYTES);
    // The first curl of docs/operations.md: one object over two lines.
    let pretty = "{\"recipient\":\"alice@gmail.com\",\"code\":550,\"status\":\"5.1.1\",\n  \"text\":\"The email account that you tried to reach does not exist.\"}";
    let (status, body) = post(&format!("{}/v1/classify", s.base), pretty);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["reason"], "user_unknown");
    let (status, body) =
        post(&format!("{}/v1/classify", s.base), &serde_json::to_string_pretty(&json(GMAIL_UNKNOWN)).unwrap());
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["rule"], "phrases.user_unknown");
    // An array gets an array, in order.
    let array = format!(
        "[{GMAIL_UNKNOWN},\n {{\"id\":\"s-2\",\"recipient\":\"bob@yahoo.com\",\"code\":421,\"text\":\"[TSS04] Messages from 192.0.2.25 temporarily deferred\"}}]"
    );
    let (status, body) = post(&format!("{}/v1/classify", s.base), &array);
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v.as_array().map(Vec::len), Some(2));
    assert_eq!((v[0]["id"].as_str(), v[1]["class"].as_str()), (Some("s-1"), Some("defer")));
    let (status, body) = post(&format!("{}/v1/classify", s.base), &format!("[{GMAIL_UNKNOWN}]"));
    assert_eq!(status, 200);
    assert_eq!(json(&body).as_array().map(Vec::len), Some(1), "an array of one is still an array");
    // A bad item is named by its place in the array.
    let (status, body) = post(&format!("{}/v1/classify", s.base), &format!("[{GMAIL_UNKNOWN}, {{\"code\":550}}]"));
    assert_eq!(status, 400);
    assert!(json(&body)["error"].as_str().unwrap().starts_with("item 2:"), "{body}");
    assert_eq!(json(&body)["line"], 2);
    // /v1/events takes the same shapes.
    let events = "[{\"id\":\"a-1\",\"type\":\"unsubscribe\",\"recipient\":\"x@example.org\"},\n{\"id\":\"a-2\",\"type\":\"delivered\",\"recipient\":\"y@example.org\"}]";
    let (status, body) = post(&format!("{}/v1/events", s.base), events);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.lines().count(), 2);
}
