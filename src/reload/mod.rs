//! Live policy: watch the policy directory, rebuild, swap; keep the last
//! good policy.
//!
//! A [`LivePolicy`] serves one compiled [`Policy`] at a time behind an
//! `arc-swap`: readers load it without locks and never wait for a reload.
//! A reload builds the complete new policy off to the side (read, parse,
//! check, compile) and swaps it in only when it has no error; otherwise the
//! last good policy keeps serving and the failure stays readable
//! ([`LivePolicy::last_error`]) until a good build replaces it. Reloads come
//! from [`LivePolicy::reload`] (an API call), from [`LivePolicy::watch`]
//! (`notify` on the directory, debounced, robust to editors' save
//! strategies, renames and deletions) and from SIGHUP
//! ([`LivePolicy::reload_on_sighup`]). Every attempt is announced to
//! [`LivePolicy::subscribe`]rs as a [`ReloadEvent`]. Nothing here prints.
//!
//! ```
//! use rebound::event::Event;
//! use rebound::reload::LivePolicy;
//!
//! let dir = tempfile::tempdir()?;
//! let file = dir.path().join("policy.rebound");
//! std::fs::write(&file, "rule full { when status 5.2.2 then soft mailbox_full }")?;
//! let live = LivePolicy::open(dir.path()).map_err(|c| format!("{:?}", c.diagnostics))?;
//! let _watching = live.watch()?; // rebuild on every save; drop to stop
//! let reloads = live.subscribe();
//!
//! // A broken edit is refused: the old policy keeps serving.
//! std::fs::write(&file, "rule full { when status 5.2.2 then soft mailbox_ful }")?;
//! let refused = live.reload();
//! assert!(!refused.ok);
//! assert_eq!(refused.diagnostics[0].code, "rebound::check::unknown_reason");
//!
//! // The fix is swapped in; every attempt was announced to subscribers.
//! std::fs::write(&file, "rule full { when status 5.2.2 then defer mailbox_full scope recipient }")?;
//! assert!(live.reload().ok);
//! let event = Event::bounce("a@example.org", Some(552), Some("5.2.2"), "Mailbox full");
//! assert_eq!(live.current().policy.classify(&event).class, rebound::Class::Defer);
//! assert!(reloads.try_iter().any(|e| !e.ok));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::Serialize;

use crate::compile::Compiled;
use crate::policy::Policy;

/// How long the watcher waits for a burst of file events to end before it
/// reloads, so that one save is one reload.
pub const DEBOUNCE: Duration = Duration::from_millis(75);

/// A compiled policy and when it was loaded.
#[derive(Debug)]
pub struct Loaded {
    /// The policy.
    pub policy: Policy,
    /// When it was swapped in (RFC 3339).
    pub loaded_at: String,
}

/// One diagnostic of a failed reload, for people and tools.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadDiagnostic {
    /// The stable code.
    pub code: String,
    /// The message.
    pub message: String,
    /// `file:line:col`, when located.
    pub location: Option<String>,
    /// The full rendering with the source line and caret.
    pub rendered: String,
}

/// The outcome of one reload attempt.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadEvent {
    /// Whether the new policy is now serving.
    pub ok: bool,
    /// The version serving after the attempt.
    pub version: String,
    /// The version that was serving before.
    pub previous: String,
    /// The files that were read.
    pub files: Vec<String>,
    /// How long the build took, in milliseconds.
    pub took_ms: f64,
    /// When the attempt ended (RFC 3339).
    pub at: String,
    /// Why it failed (errors, and warnings when it did not).
    pub diagnostics: Vec<ReloadDiagnostic>,
    /// What triggered it: `api`, `watch`, `sighup`.
    pub trigger: String,
}

/// Where a live policy is read from.
#[derive(Debug, Clone)]
enum Origin {
    Path(PathBuf),
    Shipped,
}

/// What serves, and the last refused reload, swapped together so that a
/// reader never sees a new version with an old error or the reverse.
struct Snapshot {
    loaded: Arc<Loaded>,
    last_error: Option<ReloadEvent>,
}

struct Inner {
    origin: Origin,
    host: crate::script::Host,
    current: ArcSwap<Snapshot>,
    subscribers: Mutex<Vec<Sender<ReloadEvent>>>,
    build: Mutex<()>,
    /// The files of the last good build, to notice files caught mid-save.
    last_files: Mutex<Fingerprint>,
    reloads: AtomicU64,
    failures: AtomicU64,
    /// Script errors of the policies swapped out (each policy counts its own).
    retired_script_errors: AtomicU64,
}

/// A policy that can be replaced while it serves.
#[derive(Clone)]
pub struct LivePolicy {
    inner: Arc<Inner>,
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

fn diagnostics(c: &Compiled) -> Vec<ReloadDiagnostic> {
    c.diagnostics
        .iter()
        .map(|d| ReloadDiagnostic {
            code: d.code.to_string(),
            message: d.message.clone(),
            location: d.span.map(|s| c.sources.location(s)),
            rendered: c.sources.render(d),
        })
        .collect()
}

impl LivePolicy {
    /// Loads the policy at `path` (a file or a directory); fails with the
    /// compiler's report when the first build has errors.
    pub fn open(path: &Path) -> Result<LivePolicy, Box<Compiled>> {
        LivePolicy::start(Origin::Path(path.to_path_buf()), crate::script::Host::default())
    }

    /// Like [`LivePolicy::open`], with an embedding program's predicates and
    /// script limits (every rebuild uses them).
    pub fn open_with(path: &Path, host: crate::script::Host) -> Result<LivePolicy, Box<Compiled>> {
        LivePolicy::start(Origin::Path(path.to_path_buf()), host)
    }

    /// The shipped policy (it never changes; reloading it is a no-op).
    pub fn shipped() -> Result<LivePolicy, Box<Compiled>> {
        LivePolicy::start(Origin::Shipped, crate::script::Host::default())
    }

    fn start(origin: Origin, host: crate::script::Host) -> Result<LivePolicy, Box<Compiled>> {
        let mut compiled = build(&origin, &host);
        let Some(policy) = compiled.policy.take() else { return Err(Box::new(compiled)) };
        let files = fingerprint(&origin);
        Ok(LivePolicy {
            inner: Arc::new(Inner {
                origin,
                host,
                current: ArcSwap::from_pointee(Snapshot {
                    loaded: Arc::new(Loaded { policy, loaded_at: now() }),
                    last_error: None,
                }),
                subscribers: Mutex::new(Vec::new()),
                build: Mutex::new(()),
                last_files: Mutex::new(files),
                reloads: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                retired_script_errors: AtomicU64::new(0),
            }),
        })
    }

    /// The policy serving now. Cheap (an `Arc` clone); hold it while you use
    /// verdicts that borrow from it.
    pub fn current(&self) -> Arc<Loaded> {
        self.inner.current.load().loaded.clone()
    }

    /// The last failed reload, until a good build replaces it.
    pub fn last_error(&self) -> Option<ReloadEvent> {
        self.inner.current.load().last_error.clone()
    }

    /// The policy serving and the last failed reload, read together.
    pub fn status(&self) -> (Arc<Loaded>, Option<ReloadEvent>) {
        let snap = self.inner.current.load();
        (snap.loaded.clone(), snap.last_error.clone())
    }

    /// Successful reloads (that changed the policy) and failed ones so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.inner.reloads.load(Ordering::Relaxed), self.inner.failures.load(Ordering::Relaxed))
    }

    /// Script errors (a limit crossed, an error raised, an invalid outcome)
    /// since this live policy started, across reloads.
    pub fn script_errors(&self) -> u64 {
        self.inner.retired_script_errors.load(Ordering::Relaxed) + self.current().policy.script_errors()
    }

    /// A stream of every reload attempt from now on.
    pub fn subscribe(&self) -> Receiver<ReloadEvent> {
        let (tx, rx) = mpsc::channel();
        if let Ok(mut subs) = self.inner.subscribers.lock() {
            subs.push(tx);
        }
        rx
    }

    /// The directory (or file) this policy is read from, if any.
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.origin {
            Origin::Path(p) => Some(p),
            Origin::Shipped => None,
        }
    }

    /// Rebuilds now; swaps the new policy in only when it has no error.
    pub fn reload(&self) -> ReloadEvent {
        self.reload_by("api")
    }

    fn reload_by(&self, trigger: &str) -> ReloadEvent {
        let _one_at_a_time = self.inner.build.lock();
        let start = Instant::now();
        let previous = self.current().policy.version().to_string();
        let mut compiled = self.build_settled();
        let files: Vec<String> = compiled.sources.files().iter().map(|f| f.name.clone()).collect();
        let diags = diagnostics(&compiled);
        let took_ms = start.elapsed().as_secs_f64() * 1000.0;
        let event = match compiled.policy.take() {
            Some(policy) => {
                let version = policy.version().to_string();
                if let Ok(mut f) = self.inner.last_files.lock() {
                    *f = fingerprint(&self.inner.origin);
                }
                let loaded = if version != previous {
                    self.inner.reloads.fetch_add(1, Ordering::Relaxed);
                    let retired = self.current().policy.script_errors();
                    self.inner.retired_script_errors.fetch_add(retired, Ordering::Relaxed);
                    Arc::new(Loaded { policy, loaded_at: now() })
                } else {
                    self.current()
                };
                self.inner.current.store(Arc::new(Snapshot { loaded, last_error: None }));
                ReloadEvent {
                    ok: true,
                    version,
                    previous,
                    files,
                    took_ms,
                    at: now(),
                    diagnostics: diags,
                    trigger: trigger.into(),
                }
            }
            None => {
                self.inner.failures.fetch_add(1, Ordering::Relaxed);
                let event = ReloadEvent {
                    ok: false,
                    version: previous.clone(),
                    previous,
                    files,
                    took_ms,
                    at: now(),
                    diagnostics: diags,
                    trigger: trigger.into(),
                };
                let loaded = self.current();
                self.inner.current.store(Arc::new(Snapshot { loaded, last_error: Some(event.clone()) }));
                event
            }
        };
        if let Ok(mut subs) = self.inner.subscribers.lock() {
            subs.retain(|s| s.send(event.clone()).is_ok());
        }
        event
    }

    /// Watches the policy's directory (and its parent, to notice a rename or
    /// a re-creation) and reloads after each burst of changes. The watch
    /// stops when the returned guard is dropped.
    pub fn watch(&self) -> Result<WatchGuard, notify::Error> {
        let Origin::Path(path) = &self.inner.origin else {
            return Err(notify::Error::generic("the shipped policy cannot be watched"));
        };
        let dir = path.clone();
        let (tx, rx) = mpsc::channel::<Msg>();
        let fs_tx = tx.clone();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let _ = fs_tx.send(Msg::Fs(res.map(|e| e.paths).unwrap_or_default()));
        })?;
        arm(&mut watcher, &dir);
        let live = self.clone();
        let thread = std::thread::Builder::new()
            .name("rebound-watch".into())
            .spawn(move || watch_loop(&live, &dir, &mut watcher, &rx))
            .map_err(|e| notify::Error::generic(&e.to_string()))?;
        Ok(WatchGuard { stop: tx, thread: Some(thread) })
    }

    /// Reloads on every SIGHUP until the returned guard is dropped.
    pub fn reload_on_sighup(&self) -> std::io::Result<SighupGuard> {
        let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])?;
        let handle = signals.handle();
        let live = self.clone();
        let thread = std::thread::Builder::new().name("rebound-sighup".into()).spawn(move || {
            for _ in signals.forever() {
                live.reload_by("sighup");
            }
        })?;
        Ok(SighupGuard { handle, thread: Some(thread) })
    }
}

/// How many times a build is retried while files are still being written.
pub const SETTLE_ATTEMPTS: usize = 4;

/// Each policy file's path, length and modification time.
type Fingerprint = Vec<(PathBuf, u64, Option<std::time::SystemTime>)>;

fn fingerprint(origin: &Origin) -> Fingerprint {
    let Origin::Path(p) = origin else { return Vec::new() };
    let files = crate::load::policy_files(p).unwrap_or_default();
    files
        .into_iter()
        .map(|(path, _)| {
            let meta = std::fs::metadata(&path).ok();
            let (len, modified) = meta.map_or((0, None), |m| (m.len(), m.modified().ok()));
            (path, len, modified)
        })
        .collect()
}

impl LivePolicy {
    /// Builds from files that are not being written: when the files change
    /// during the build, or a file that had content is found empty (an editor
    /// caught between truncating and writing), waits and builds again.
    fn build_settled(&self) -> Compiled {
        let origin = &self.inner.origin;
        let mut attempt = 0;
        loop {
            let before = fingerprint(origin);
            let compiled = build(origin, &self.inner.host);
            let after = fingerprint(origin);
            let emptied = self.inner.last_files.lock().is_ok_and(|last| {
                after.iter().any(|(p, len, _)| *len == 0 && last.iter().any(|(q, l, _)| q == p && *l > 0))
            });
            attempt += 1;
            if (before == after && !emptied) || attempt >= SETTLE_ATTEMPTS {
                return compiled;
            }
            std::thread::sleep(DEBOUNCE);
        }
    }
}

fn build(origin: &Origin, host: &crate::script::Host) -> Compiled {
    match origin {
        Origin::Path(p) => {
            let (sources, diags) = crate::load::read_paths(std::slice::from_ref(p));
            crate::compile::compile_with(sources, diags, host)
        }
        Origin::Shipped => crate::compile::compile_with(crate::load::shipped(), Vec::new(), host),
    }
}

enum Msg {
    Fs(Vec<PathBuf>),
    Stop,
}

/// (Re)registers the watches: the directory recursively, its parent not.
fn arm(watcher: &mut notify::RecommendedWatcher, dir: &Path) {
    use notify::{RecursiveMode, Watcher};
    let _ = watcher.unwatch(dir);
    let _ = watcher.watch(dir, RecursiveMode::Recursive);
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        let _ = watcher.unwatch(parent);
        let _ = watcher.watch(parent, RecursiveMode::NonRecursive);
    }
}

fn watch_loop(live: &LivePolicy, dir: &Path, watcher: &mut notify::RecommendedWatcher, rx: &Receiver<Msg>) {
    let relevant =
        |paths: &[PathBuf]| paths.is_empty() || paths.iter().any(|p| p.starts_with(dir) || dir.starts_with(p));
    loop {
        match rx.recv() {
            Ok(Msg::Fs(paths)) if relevant(&paths) => {}
            Ok(Msg::Fs(_)) => continue,
            Ok(Msg::Stop) | Err(_) => return,
        }
        // Debounce: wait for the burst of events of one save to end.
        loop {
            match rx.recv_timeout(DEBOUNCE) {
                Ok(Msg::Fs(_)) => {}
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => break,
            }
        }
        live.reload_by("watch");
        // A directory deleted and created again is a new inode: watch it again.
        arm(watcher, dir);
    }
}

/// Stops a [`LivePolicy::watch`] when dropped.
pub struct WatchGuard {
    stop: Sender<Msg>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let _ = self.stop.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Stops a [`LivePolicy::reload_on_sighup`] when dropped.
pub struct SighupGuard {
    handle: signal_hook::iterator::Handle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for SighupGuard {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
