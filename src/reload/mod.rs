//! Live policy: watch the policy's files, rebuild, swap; keep the last good
//! policy.
//!
//! A [`LivePolicy`] serves one compiled [`Policy`] at a time behind an
//! `arc-swap`: readers load it without locks and never wait for a reload.
//! A reload calls the policy's build (one function: read, parse, check,
//! compile) off to the side and swaps the result in only when it has no
//! error; otherwise the last good policy keeps serving and the failure stays
//! readable ([`LivePolicy::last_error`]) until a good build replaces it.
//! A rebuild first waits for files being written to settle
//! ([`SETTLE_LIMIT`]), so that it does not read half of a save. Reloads
//! come from [`LivePolicy::reload`] (an API call), from
//! [`LivePolicy::watch`] (the [`watch`] module: the watched paths, debounced,
//! robust to editors' save strategies, renames and deletions) and from SIGHUP
//! ([`LivePolicy::reload_on_sighup`]). Every attempt is counted
//! ([`LivePolicy::counts`]) and announced to [`LivePolicy::subscribe`]rs as a
//! [`ReloadEvent`]. The build and the watched paths are given apart
//! ([`LivePolicy::new`]), so how a policy is made (one directory, or layers)
//! is not the watcher's business. Nothing here prints.
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

pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use serde::Serialize;

use crate::compile::Compiled;
use crate::policy::Policy;

pub use watch::{DEBOUNCE, WatchGuard};

/// What a reload calls to make the complete policy, from scratch, from what
/// is on disk now.
type Build = dyn Fn() -> Compiled + Send + Sync;

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
    /// How long the build took, in milliseconds (with any wait for files
    /// being written to settle).
    pub took_ms: f64,
    /// When the attempt ended (RFC 3339).
    pub at: String,
    /// Why it failed (errors, and warnings when it did not).
    pub diagnostics: Vec<ReloadDiagnostic>,
    /// What triggered it: `api`, `watch`, `sighup`.
    pub trigger: String,
}

/// How many reloads a live policy has attempted since it started, and what
/// came of them. `reloads` counts every attempt, whatever triggered it (the
/// watcher, SIGHUP, an API call); `failures` and `swaps` are parts of it, and
/// the rest (`reloads - failures - swaps`) built the version already serving.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReloadCounts {
    /// Rebuilds attempted.
    pub reloads: u64,
    /// Rebuilds refused because the new policy has errors (the last good
    /// policy kept serving).
    pub failures: u64,
    /// Rebuilds that swapped in a different version.
    pub swaps: u64,
}

/// What serves, and the last refused reload, swapped together so that a
/// reader never sees a new version with an old error or the reverse.
struct Snapshot {
    loaded: Arc<Loaded>,
    last_error: Option<ReloadEvent>,
}

struct Inner {
    build: Box<Build>,
    /// Absolute paths; empty for a policy that is not on disk.
    watched: Vec<PathBuf>,
    current: ArcSwap<Snapshot>,
    subscribers: Mutex<Vec<Sender<ReloadEvent>>>,
    /// One rebuild at a time.
    building: Mutex<()>,
    reloads: AtomicU64,
    failures: AtomicU64,
    swaps: AtomicU64,
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
    /// compiler's report when the first build has errors. A relative path is
    /// taken from the current directory now, once.
    pub fn open(path: &Path) -> Result<LivePolicy, Box<Compiled>> {
        LivePolicy::open_with(path, crate::script::Host::default())
    }

    /// Like [`LivePolicy::open`], with an embedding program's predicates and
    /// script limits (every rebuild uses them).
    pub fn open_with(path: &Path, host: crate::script::Host) -> Result<LivePolicy, Box<Compiled>> {
        LivePolicy::open_layers(&[crate::load::Layer::Path(path.to_path_buf())], host)
    }

    /// A live policy of layers (`--policy shipped --policy ./local`, or a
    /// directory whose files say `extends shipped`): every rebuild reads the
    /// layers again, and [`LivePolicy::watch`] watches the directories and
    /// files among them (the shipped policy and `git:` layers do not
    /// change). Relative paths are taken from the current directory now.
    pub fn open_layers(layers: &[crate::load::Layer], host: crate::script::Host) -> Result<LivePolicy, Box<Compiled>> {
        use crate::load::Layer;
        let layers: Vec<Layer> = layers
            .iter()
            .map(|l| match l {
                Layer::Path(p) => Layer::Path(watch::absolute(p)),
                other => other.clone(),
            })
            .collect();
        let watched: Vec<PathBuf> = layers
            .iter()
            .filter_map(|l| match l {
                Layer::Path(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        LivePolicy::new(watched, move || crate::load::compile_layers_with(&layers, &host))
    }

    /// The shipped policy (it never changes: a reload builds the same
    /// version, and there is nothing to watch).
    pub fn shipped() -> Result<LivePolicy, Box<Compiled>> {
        LivePolicy::open_layers(&[], crate::script::Host::default())
    }

    /// A live policy that `build` makes from the files at `watched` (files
    /// or directories; relative ones are taken from the current directory
    /// now). Every reload calls `build`, and [`LivePolicy::watch`] watches
    /// `watched`: give it every path `build` reads that can change. Fails
    /// with the compiler's report when the first build has errors.
    ///
    /// ```
    /// use rebound::reload::LivePolicy;
    ///
    /// // A policy made of two directories, built by one function.
    /// let (base, local) = (tempfile::tempdir()?, tempfile::tempdir()?);
    /// std::fs::write(base.path().join("base.rebound"), "rule full { when status 5.2.2 then soft mailbox_full }")?;
    /// std::fs::write(local.path().join("local.rebound"), "rule gone { when status 5.1.1 then hard user_unknown }")?;
    /// let layers = vec![base.path().to_path_buf(), local.path().to_path_buf()];
    /// let read = layers.clone();
    /// let live = LivePolicy::new(layers.clone(), move || rebound::load::compile_paths(&read))
    ///     .map_err(|c| format!("{:?}", c.diagnostics))?;
    /// let _watching = live.watch()?; // both directories, until dropped
    /// assert_eq!(live.paths(), layers);
    /// assert_eq!(live.current().policy.sources().files().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(
        watched: Vec<PathBuf>,
        build: impl Fn() -> Compiled + Send + Sync + 'static,
    ) -> Result<LivePolicy, Box<Compiled>> {
        let mut compiled = build();
        let Some(policy) = compiled.policy.take() else { return Err(Box::new(compiled)) };
        Ok(LivePolicy {
            inner: Arc::new(Inner {
                build: Box::new(build),
                watched: watched.iter().map(|p| watch::absolute(p)).collect(),
                current: ArcSwap::from_pointee(Snapshot {
                    loaded: Arc::new(Loaded { policy, loaded_at: now() }),
                    last_error: None,
                }),
                subscribers: Mutex::new(Vec::new()),
                building: Mutex::new(()),
                reloads: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                swaps: AtomicU64::new(0),
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

    /// The reloads attempted so far, and what came of them.
    pub fn counts(&self) -> ReloadCounts {
        ReloadCounts {
            reloads: self.inner.reloads.load(Ordering::Relaxed),
            failures: self.inner.failures.load(Ordering::Relaxed),
            swaps: self.inner.swaps.load(Ordering::Relaxed),
        }
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

    /// The paths this policy is read from and watched, absolute (none for
    /// the shipped policy).
    pub fn paths(&self) -> &[PathBuf] {
        &self.inner.watched
    }

    /// Rebuilds now; swaps the new policy in only when it has no error.
    pub fn reload(&self) -> ReloadEvent {
        self.reload_by("api")
    }

    fn reload_by(&self, trigger: &str) -> ReloadEvent {
        let _one_at_a_time = self.inner.building.lock();
        let start = Instant::now();
        let previous = self.current().policy.version().to_string();
        let mut compiled = self.build_settled();
        let files: Vec<String> = compiled.sources.files().iter().map(|f| f.name.clone()).collect();
        let diags = diagnostics(&compiled);
        let took_ms = start.elapsed().as_secs_f64() * 1000.0;
        self.inner.reloads.fetch_add(1, Ordering::Relaxed);
        let (ok, version, last_error) = match compiled.policy.take() {
            Some(policy) => {
                let version = policy.version().to_string();
                let loaded = if version != previous {
                    self.inner.swaps.fetch_add(1, Ordering::Relaxed);
                    let retired = self.current().policy.script_errors();
                    self.inner.retired_script_errors.fetch_add(retired, Ordering::Relaxed);
                    Arc::new(Loaded { policy, loaded_at: now() })
                } else {
                    self.current()
                };
                self.inner.current.store(Arc::new(Snapshot { loaded, last_error: None }));
                (true, version, false)
            }
            None => {
                self.inner.failures.fetch_add(1, Ordering::Relaxed);
                (false, previous.clone(), true)
            }
        };
        let event = ReloadEvent {
            ok,
            version,
            previous,
            files,
            took_ms,
            at: now(),
            diagnostics: diags,
            trigger: trigger.into(),
        };
        if last_error {
            let loaded = self.current();
            self.inner.current.store(Arc::new(Snapshot { loaded, last_error: Some(event.clone()) }));
        }
        if let Ok(mut subs) = self.inner.subscribers.lock() {
            subs.retain(|s| s.send(event.clone()).is_ok());
        }
        event
    }

    /// Watches the policy's paths (see [`watch`]) and rebuilds after each
    /// burst of changes. The watch stops when the returned guard is dropped.
    pub fn watch(&self) -> Result<WatchGuard, notify::Error> {
        if self.inner.watched.is_empty() {
            return Err(notify::Error::generic("the policy is built into the binary: there are no files to watch"));
        }
        let live = self.clone();
        watch::watch(&self.inner.watched, move || {
            live.reload_by("watch");
        })
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

/// The longest a rebuild waits for the policy's files to settle; past it,
/// it builds what is there.
pub const SETTLE_LIMIT: Duration = Duration::from_secs(2);

impl LivePolicy {
    /// Builds from files that are not being written. The debounce says when
    /// to rebuild, not whether a save is still under way as the rebuild
    /// reads: a save that starts then, the rest of a checkout, a writer
    /// paused between truncating a file and writing it. So a rebuild waits
    /// until every policy file is [`DEBOUNCE`] old by its own modification
    /// time (an empty one [`SETTLE_LIMIT`] old: that is what an in-place
    /// save looks like before its write), and builds again when a file
    /// changed while it was read; past [`SETTLE_LIMIT`], it builds what is
    /// there.
    fn build_settled(&self) -> Compiled {
        let give_up = Instant::now() + SETTLE_LIMIT;
        loop {
            let before = Fingerprint::of(&self.inner.watched);
            let late = Instant::now() >= give_up;
            if let Some(wait) = before.unsettled_for(SystemTime::now()).filter(|_| !late) {
                std::thread::sleep(wait.min(DEBOUNCE));
                continue;
            }
            let compiled = (self.inner.build)();
            if late || Fingerprint::of(&self.inner.watched) == before {
                return compiled;
            }
        }
    }
}

/// Each policy file's path, length and modification time.
#[derive(PartialEq, Eq)]
struct Fingerprint(Vec<(PathBuf, u64, Option<SystemTime>)>);

impl Fingerprint {
    fn of(paths: &[PathBuf]) -> Fingerprint {
        let files = paths.iter().flat_map(|p| crate::load::policy_files(p).unwrap_or_default());
        Fingerprint(
            files
                .map(|(path, _)| {
                    let meta = std::fs::metadata(&path).ok();
                    let (len, modified) = meta.map_or((0, None), |m| (m.len(), m.modified().ok()));
                    (path, len, modified)
                })
                .collect(),
        )
    }

    /// How long until every file is settled (see
    /// [`LivePolicy::build_settled`]); `None` when they are. A time in the
    /// future counts as settled: a clock that is off must not stop reloads.
    fn unsettled_for(&self, now: SystemTime) -> Option<Duration> {
        self.0
            .iter()
            .filter_map(|(_, len, modified)| {
                let age = now.duration_since((*modified)?).ok()?;
                let quiet = if *len == 0 { SETTLE_LIMIT } else { DEBOUNCE };
                quiet.checked_sub(age).filter(|d| !d.is_zero())
            })
            .max()
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
