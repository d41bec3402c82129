//! Live reload as a user meets it: the real `rebound serve` binary, started
//! from a directory with `--policy` relative to it or absolute, the policy a
//! copy of the shipped one, edited every way people and tools save, read
//! back over HTTP. An idle service rebuilds nothing and logs nothing.

use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::reload::{IDLE, LIVENESS, SAVES, eventually, version_on_disk};
use crate::serve::{get, json, post};

/// A `rebound serve` process, its address and its stderr, line by line.
struct Service {
    child: Child,
    base: String,
    log: Receiver<String>,
    /// Every line read from `log` so far.
    history: RefCell<Vec<String>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// `rebound serve --policy POLICY` run from `cwd`, on a free loopback port.
    fn start(cwd: &Path, policy: &Path) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rebound"))
            .current_dir(cwd)
            .arg("serve")
            .arg("--policy")
            .arg(policy)
            .args(["--listen", "127.0.0.1:0", "--db", "state.db"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // Built before the first line is read, so that a failure ends the process.
        let mut service = Service { child, base: String::new(), log, history: RefCell::default() };
        let first = service.log.recv_timeout(LIVENESS).unwrap_or_else(|_| panic!("`rebound serve` said nothing"));
        let addr = first.strip_prefix("rebound serving on ").and_then(|rest| rest.split_whitespace().next());
        service.base = addr.unwrap_or_else(|| panic!("not serving: {first}")).to_string();
        service
    }

    fn version(&self) -> String {
        let (status, body) = get(&format!("{}/v1/policy", self.base));
        assert_eq!(status, 200, "{body}");
        json(&body)["version"].as_str().unwrap().to_string()
    }

    fn metric(&self, name: &str) -> u64 {
        let body = get(&format!("{}/metrics", self.base)).1;
        let line = body.lines().find(|l| l.split_whitespace().next() == Some(name));
        line.and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name}: {body}"))
    }

    /// Waits until `version` serves.
    fn serves(&self, version: &str, what: &str) {
        eventually(what, || (self.version() == version).then_some(()));
    }

    /// The next log line, if one comes within `wait`.
    fn next_line(&self, wait: Duration) -> Option<String> {
        let line = self.log.recv_timeout(wait).ok()?;
        self.history.borrow_mut().push(line.clone());
        Some(line)
    }

    /// Every log line since the service said where it serves.
    fn logged(&self) -> Vec<String> {
        self.history.borrow_mut().extend(self.log.try_iter());
        self.history.borrow().clone()
    }
}

/// A directory holding `pol`, a copy of the shipped policy.
fn shipped_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("pol");
    for (rel, text) in rebound::load::shipped_files() {
        let target = pol.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, text).unwrap();
    }
    (dir, pol)
}

/// Edits the policy every way of saving; each edit serves.
fn every_save_serves(service: &Service, pol: &Path) {
    for (i, save) in SAVES.into_iter().enumerate() {
        let file = pol.join(if i % 2 == 0 { "default.rebound" } else { "receivers/gmail.rebound" });
        save.append(&file, &format!("# edit {i}, {save:?}"));
        let want = version_on_disk(&[pol.to_path_buf()]);
        service.serves(&want, &format!("{save:?}"));
    }
}

/// Nothing is rebuilt or logged for [`IDLE`], even while the service reads
/// and writes its database beside the policy and is asked what it serves.
fn idle_is_quiet(service: &Service) {
    // The rebuilds the last edit caused are over when none is logged for a second.
    let deadline = Instant::now() + LIVENESS;
    while service.next_line(Duration::from_secs(1)).is_some() {
        assert!(Instant::now() < deadline, "the service kept logging: {:#?}", service.logged());
    }
    let reloads = service.metric("rebound_reloads_total");
    let event = r#"{"id":"idle-1","type":"bounce","recipient":"a@example.org","code":550,"status":"5.1.1","text":"No such user"}"#;
    assert_eq!(post(&format!("{}/v1/events", service.base), event).0, 200);
    let logged: Vec<String> = std::iter::from_fn(|| service.next_line(IDLE)).collect();
    assert!(logged.is_empty(), "an idle service logged: {logged:?}");
    assert_eq!(service.metric("rebound_reloads_total"), reloads, "an idle service rebuilt");
}

#[test]
fn serve_with_a_relative_policy_path_reloads_on_every_save_and_idles_quietly() {
    let (dir, pol) = shipped_copy();
    let service = Service::start(dir.path(), Path::new("pol"));
    let first = service.version();
    assert_eq!(first, version_on_disk(std::slice::from_ref(&pol)));
    every_save_serves(&service, &pol);
    idle_is_quiet(&service);
    let log = service.logged();
    let served = log.iter().filter(|l| l.starts_with("reload (watch): serving version ")).count();
    assert_eq!(served, SAVES.len(), "each save served once: {log:#?}");
    assert_eq!(log.len(), SAVES.len(), "and nothing else was logged: {log:#?}");
}

#[test]
fn serve_with_an_absolute_policy_path_reloads_counts_and_idles_quietly() {
    let (dir, pol) = shipped_copy();
    let service = Service::start(dir.path(), &pol);
    idle_is_quiet(&service);
    assert_eq!(service.metric("rebound_reloads_total"), 0, "no rebuild without a change");

    // A broken edit is refused and logged; the fix serves.
    let gmail = pol.join("receivers/gmail.rebound");
    let good = std::fs::read_to_string(&gmail).unwrap();
    let before = service.version();
    std::fs::write(&gmail, good.replacen("then hard user_unknown", "then hard usr_unknown", 1)).unwrap();
    eventually("the refusal", || (service.metric("rebound_reload_failures_total") > 0).then_some(()));
    assert_eq!(service.version(), before, "the broken edit never serves");
    std::fs::write(&gmail, good.replacen("then hard user_unknown", "then soft user_unknown", 1)).unwrap();
    service.serves(&version_on_disk(std::slice::from_ref(&pol)), "the fix");
    let (status, _) = post(&format!("{}/v1/policy/reload", service.base), "");
    assert_eq!(status, 200);
    idle_is_quiet(&service);

    // What was logged is what was counted.
    let log = service.logged();
    let count = |prefix: &str| log.iter().filter(|l| l.starts_with(prefix)).count() as u64;
    let (reloads, failures, swaps) = (
        service.metric("rebound_reloads_total"),
        service.metric("rebound_reload_failures_total"),
        service.metric("rebound_reload_swaps_total"),
    );
    assert_eq!(reloads, count("reload ("), "{log:#?}");
    assert_eq!(failures, count("reload (watch) refused"), "{log:#?}");
    assert_eq!(swaps, count("reload (watch): serving version"), "{log:#?}");
    assert_eq!(swaps, 1, "{log:#?}");
    assert_eq!(count("reload (api): unchanged"), 1, "{log:#?}");
}
