//! Live reload through the library (`LivePolicy`, what `Engine::live` and
//! `rebound serve` use): classification never stops and never sees a broken
//! or half policy while the policy is rewritten, every way a person or a tool
//! saves is picked up, and nothing but a change rebuilds. Waits are liveness
//! bounds for a loaded machine, never the thing tested; counts are.
//! `reload_service.rs` does the same through the `rebound serve` binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rebound::event::Event;
use rebound::reload::{LivePolicy, ReloadEvent};

/// The longest a change may take to be served on a loaded machine: a bound
/// for liveness, not a latency under test.
pub const LIVENESS: Duration = Duration::from_secs(30);

/// How long a service is watched for rebuilds that should not happen.
pub const IDLE: Duration = Duration::from_secs(5);

/// Polls `f` until it answers, at most [`LIVENESS`].
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + LIVENESS;
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "{what}: still not after {LIVENESS:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The reload events that arrive until none has for `quiet` (so that the
/// rebuilds a change caused are over), within [`LIVENESS`].
fn settle(events: &Receiver<ReloadEvent>, quiet: Duration) -> Vec<ReloadEvent> {
    let deadline = Instant::now() + LIVENESS;
    let mut seen = Vec::new();
    while let Ok(e) = events.recv_timeout(quiet) {
        seen.push(e);
        assert!(Instant::now() < deadline, "rebuilds went on for {LIVENESS:?}: {} so far", seen.len());
    }
    seen
}

/// What a policy's files on disk compile to now.
pub fn version_on_disk(paths: &[PathBuf]) -> String {
    let compiled = rebound::load::compile_paths(paths);
    compiled.policy.map(|p| p.version().to_string()).unwrap_or_else(|| panic!("{:?}", compiled.diagnostics))
}

/// The ways people and tools save a file.
#[derive(Debug, Clone, Copy)]
pub enum Save {
    /// Truncate and write (most programs; `std::fs::write`).
    InPlace,
    /// Write a temporary file beside it and rename it over (vim, VS Code, config tools).
    RenameOver,
    /// Delete, then create.
    DeleteCreate,
    /// `sed -i`: a temporary file renamed over, by another process.
    SedInPlace,
    /// `cp` a file over it: truncate and write, by another process.
    CopyOver,
}

pub const SAVES: [Save; 5] = [Save::InPlace, Save::RenameOver, Save::DeleteCreate, Save::SedInPlace, Save::CopyOver];

impl Save {
    /// Appends `line` to `path`, saving this way.
    pub fn append(self, path: &Path, line: &str) {
        let text = format!("{}{line}\n", std::fs::read_to_string(path).unwrap());
        match self {
            Save::InPlace => std::fs::write(path, text).unwrap(),
            Save::RenameOver => {
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, text).unwrap();
                std::fs::rename(&tmp, path).unwrap();
            }
            Save::DeleteCreate => {
                std::fs::remove_file(path).unwrap();
                std::fs::write(path, text).unwrap();
            }
            Save::SedInPlace => run(Command::new("sed").arg("-i").arg(format!("$a {line}")).arg(path)),
            Save::CopyOver => {
                let elsewhere = tempfile::NamedTempFile::new().unwrap();
                std::fs::write(elsewhere.path(), text).unwrap();
                run(Command::new("cp").arg(elsewhere.path()).arg(path));
            }
        }
    }
}

/// Runs a command to success.
pub fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

const REASONS: &[&str] = &["blocked", "rate_limited", "spam_detected", "policy_violation", "bad_reputation"];

/// Version `i` of the policy: the marker answer gets a reason that depends on `i`.
fn valid(i: usize) -> String {
    let reason = REASONS[i % REASONS.len()];
    format!(
        "# version {i}\nrule marker {{\n  when text contains \"rebound-marker\"\n  then block {reason}\n}}\n\nreplies {{\n  5xx -> soft on_hold\n}}\n"
    )
}

fn invalid(i: usize) -> String {
    format!(
        "# broken version {i}\nrule marker {{\n  when code 650 and text contains \"rebound-marker\"\n  then block blocked\n}}\n"
    )
}

fn version_of(text: &str) -> String {
    let mut s = rebound::Sources::new();
    s.add("a.rebound", "a.rebound", text.to_string());
    rebound::compile::version_of(&s)
}

/// Writes a file the way different editors save.
fn save(path: &std::path::Path, text: &str, style: usize) {
    match style % 3 {
        0 => {
            let tmp = path.with_extension("swp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
        1 => std::fs::write(path, text).unwrap(),
        _ => {
            let _ = std::fs::remove_file(path);
            std::fs::write(path, text).unwrap();
        }
    }
}

#[test]
fn readers_never_see_a_broken_or_half_policy() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.rebound");
    std::fs::write(&file, valid(0)).unwrap();
    let live = LivePolicy::open(dir.path()).unwrap();
    let _watch = live.watch().unwrap();
    let expected: Arc<Mutex<HashMap<String, &str>>> = Arc::new(Mutex::new(HashMap::new()));
    expected.lock().unwrap().insert(version_of(&valid(0)), REASONS[0]);
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<HashMap<(String, String), usize>>> = Arc::default();

    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (live, stop, seen) = (live.clone(), stop.clone(), seen.clone());
            std::thread::spawn(move || {
                let event = Event::bounce("someone@example.org", Some(550), None, "rebound-marker");
                let mut local: HashMap<(String, String), usize> = HashMap::new();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let loaded = live.current();
                    let v = loaded.policy.classify(&event);
                    *local.entry((v.version.to_string(), v.reason.to_string())).or_default() += 1;
                    n += 1;
                }
                let mut all = seen.lock().unwrap();
                for (k, c) in local {
                    *all.entry(k).or_default() += c;
                }
                n
            })
        })
        .collect();

    let mut last_valid = 0;
    for i in 1..=24 {
        if i % 2 == 0 {
            save(&file, &invalid(i), i);
        } else {
            expected.lock().unwrap().insert(version_of(&valid(i)), REASONS[i % REASONS.len()]);
            save(&file, &valid(i), i);
            last_valid = i;
        }
        // Apart by more than the debounce and the settling of the files, so
        // that most saves serve (or are refused) before the next one.
        std::thread::sleep(rebound::reload::DEBOUNCE * 3);
    }
    // Let the last valid version settle, then stop the readers.
    save(&file, &valid(last_valid + 2), 0);
    expected.lock().unwrap().insert(version_of(&valid(last_valid + 2)), REASONS[(last_valid + 2) % REASONS.len()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while live.current().policy.version() != version_of(&valid(last_valid + 2)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let classified: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();

    let expected = expected.lock().unwrap();
    let seen = seen.lock().unwrap();
    for ((version, reason), count) in seen.iter() {
        let want = expected
            .get(version)
            .unwrap_or_else(|| panic!("version {version} served {count} verdicts but was never a valid version"));
        assert_eq!(reason, want, "version {version} decided the marker as {reason}, its policy says {want}");
    }
    let versions: std::collections::HashSet<&String> = seen.keys().map(|(v, _)| v).collect();
    assert!(versions.len() >= 3, "the edits were picked up: {} versions served", versions.len());
    assert_eq!(live.current().policy.version(), version_of(&valid(last_valid + 2)), "the last good edit serves");
    // The debounce may fold a broken save into the good one after it, so
    // refusals are not counted here (`a_broken_edit_never_serves…` does).
    let counts = live.counts();
    assert!(counts.reloads >= 3, "{counts:?}");
    assert!(classified > 1000, "classification never stopped: {classified}");
}

#[test]
fn a_failed_reload_keeps_serving_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.rebound");
    std::fs::write(&file, valid(1)).unwrap();
    let live = LivePolicy::open(dir.path()).unwrap();
    let events = live.subscribe();
    let before = live.current().policy.version().to_string();
    std::fs::write(&file, invalid(2)).unwrap();
    let e = live.reload();
    assert!(!e.ok);
    assert_eq!(e.version, before);
    assert_eq!(live.current().policy.version(), before);
    let err = live.last_error().unwrap();
    assert_eq!(err.diagnostics[0].code, "rebound::check::impossible_code");
    assert!(
        err.diagnostics[0].location.as_deref().unwrap().ends_with("a.rebound:3:13"),
        "{:?}",
        err.diagnostics[0].location
    );
    assert!(!events.recv_timeout(Duration::from_secs(1)).unwrap().ok);
    std::fs::write(&file, valid(3)).unwrap();
    let e = live.reload();
    assert!(e.ok && e.version != before);
    assert!(live.last_error().is_none(), "a good build clears the error");
    assert!(events.recv_timeout(Duration::from_secs(1)).unwrap().ok);
}

#[test]
fn a_renamed_or_unreadable_directory_is_reported_then_recovered() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("policies");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.rebound"), valid(1)).unwrap();
    let live = LivePolicy::open(&dir).unwrap();
    let _watch = live.watch().unwrap();
    let before = live.current().policy.version().to_string();
    std::fs::rename(&dir, root.path().join("moved")).unwrap();
    let e = live.reload();
    assert!(!e.ok, "a missing directory is a failed reload, not a crash");
    assert_eq!(live.current().policy.version(), before);
    std::fs::rename(root.path().join("moved"), &dir).unwrap();
    std::fs::write(dir.join("a.rebound"), valid(4)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while live.current().policy.version() == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(live.current().policy.version(), version_of(&valid(4)), "the watch picked the directory up again");
    // A file that cannot be read (a dangling link; permissions do not stop root) is reported.
    std::os::unix::fs::symlink(root.path().join("nowhere"), dir.join("b.rebound")).unwrap();
    let e = live.reload();
    assert!(!e.ok);
    assert!(e.diagnostics.iter().any(|d| d.code == "rebound::load::io"), "{:?}", e.diagnostics);
}

#[test]
fn sighup_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.rebound");
    std::fs::write(&file, valid(1)).unwrap();
    let live = LivePolicy::open(dir.path()).unwrap();
    let _hup = live.reload_on_sighup().unwrap();
    let events = live.subscribe();
    std::fs::write(&file, valid(2)).unwrap();
    signal_hook::low_level::raise(signal_hook::consts::SIGHUP).unwrap();
    let e = events.recv_timeout(Duration::from_secs(10)).expect("a reload event after SIGHUP");
    assert_eq!(e.trigger, "sighup");
    assert!(e.ok);
    assert_eq!(live.current().policy.version(), version_of(&valid(2)));
}

/// A policy directory (or its one file) being watched, and its reload events.
struct Watched {
    live: LivePolicy,
    events: Receiver<ReloadEvent>,
    _watch: rebound::reload::WatchGuard,
}

impl Watched {
    fn open(path: &Path) -> Watched {
        let live = LivePolicy::open(path).unwrap();
        let events = live.subscribe();
        let _watch = live.watch().unwrap();
        Watched { live, events, _watch }
    }

    /// Waits until `version` serves; the events until then.
    fn serves(&self, version: &str, what: &str) -> Vec<ReloadEvent> {
        let mut seen = Vec::new();
        eventually(what, || {
            seen.extend(self.events.try_iter());
            (self.live.current().policy.version() == version).then_some(())
        });
        seen
    }
}

#[test]
fn every_way_of_saving_is_picked_up_in_a_directory_and_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.rebound");
    std::fs::write(&file, valid(0)).unwrap();
    for watched in [dir.path().to_path_buf(), file.clone()] {
        let w = Watched::open(&watched);
        for (i, save) in SAVES.into_iter().enumerate() {
            save.append(&file, &format!("# {save:?} {i} of {}", watched.display()));
            let want = version_on_disk(std::slice::from_ref(&watched));
            w.serves(&want, &format!("{save:?} on {}", watched.display()));
        }
    }
}

#[test]
fn a_relative_path_is_watched_as_the_absolute_one() {
    // `cargo test` runs in the package's directory: `policies` is relative to it.
    let live = LivePolicy::open(Path::new("policies")).unwrap();
    assert_eq!(live.paths(), [crate::root().join("policies")]);
    assert!(LivePolicy::shipped().unwrap().paths().is_empty());
    assert!(LivePolicy::shipped().unwrap().watch().is_err(), "the shipped policy has no files to watch");
}

#[test]
fn an_idle_watch_rebuilds_nothing_not_even_after_reading_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.rebound");
    std::fs::write(&file, valid(1)).unwrap();
    std::fs::create_dir(dir.path().join("receivers")).unwrap();
    std::fs::write(
        dir.path().join("receivers/b.rebound"),
        "rule b { when text contains \"b-marker\" then block blocked }\n",
    )
    .unwrap();
    let w = Watched::open(dir.path());
    // One edit, and the rebuild it causes (which opens and reads every file).
    Save::InPlace.append(&file, "# edited");
    w.serves(&version_on_disk(&[dir.path().to_path_buf()]), "the edit");
    settle(&w.events, Duration::from_secs(1));
    // Reading the files (a rebuild through the API, `rebound check`) is not a change either.
    assert!(w.live.reload().ok);
    let read = rebound::load::compile_paths(&[dir.path().to_path_buf()]);
    assert!(read.policy.is_some());
    let before = w.live.counts();
    let rebuilt: Vec<ReloadEvent> =
        w.events.try_iter().chain(std::iter::from_fn(|| w.events.recv_timeout(IDLE).ok())).collect();
    assert_eq!(rebuilt.len(), 1, "only the API reload: {rebuilt:?}");
    assert_eq!(rebuilt[0].trigger, "api");
    assert_eq!(w.live.counts(), before, "no rebuild while idle");
}

#[test]
fn a_burst_of_edits_is_a_few_rebuilds_and_ends_serving_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.rebound");
    std::fs::write(&file, valid(0)).unwrap();
    let w = Watched::open(dir.path());
    for i in 1..=100 {
        std::fs::write(&file, valid(i)).unwrap();
    }
    w.serves(&version_of(&valid(100)), "the last edit of the burst");
    settle(&w.events, Duration::from_secs(1));
    let counts = w.live.counts();
    assert!((1..=10).contains(&counts.reloads), "100 edits made {counts:?}");
    assert_eq!(counts.failures, 0, "no half-written file was built: {counts:?}");
}

#[test]
fn a_broken_edit_never_serves_the_fix_does_and_the_counts_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.rebound");
    std::fs::write(&file, valid(1)).unwrap();
    let w = Watched::open(dir.path());
    let good = w.live.current().policy.version().to_string();

    std::fs::write(&file, invalid(2)).unwrap();
    let mut events: Vec<ReloadEvent> = Vec::new();
    let refused = eventually("the broken edit is refused", || {
        events.extend(w.events.try_iter());
        events.iter().find(|e| !e.ok).cloned()
    });
    assert_eq!((refused.trigger.as_str(), refused.version.as_str()), ("watch", good.as_str()));
    assert_eq!(refused.diagnostics[0].code, "rebound::check::impossible_code");
    assert_eq!(w.live.current().policy.version(), good, "the old policy serves");
    assert!(w.live.last_error().is_some());

    std::fs::write(&file, valid(3)).unwrap();
    events.extend(w.serves(&version_of(&valid(3)), "the fix"));
    assert!(w.live.last_error().is_none(), "a good build clears the error");
    assert!(w.live.reload().ok, "builds the version serving: not a failure, not a swap");
    events.extend(settle(&w.events, Duration::from_secs(1)));

    // Every attempt counts once, whatever came of it.
    let counts = w.live.counts();
    assert_eq!(counts.reloads, events.len() as u64, "{events:?}");
    assert_eq!(counts.failures, events.iter().filter(|e| !e.ok).count() as u64);
    assert_eq!(counts.swaps, events.iter().filter(|e| e.ok && e.version != e.previous).count() as u64);
    assert_eq!(counts.swaps, 1, "one new version served: {events:?}");
    assert!(counts.failures >= 1 && counts.reloads > counts.failures + counts.swaps, "{counts:?}");
}

/// `git` in `dir`, as a person with no configuration would run it.
fn git(dir: &Path, args: &[&str]) {
    run(Command::new("git")
        .args(["-c", "user.name=Rebound", "-c", "user.email=rebound@example.org", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir));
}

#[test]
fn a_git_checkout_of_the_directory_is_picked_up_and_git_itself_is_not_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let other = "rule other {\n  when text contains \"other-marker\"\n  then block blocked\n}\n";
    std::fs::write(d.join("a.rebound"), valid(1)).unwrap();
    std::fs::write(d.join("b.rebound"), other).unwrap();
    git(d, &["init", "-q"]);
    git(d, &["add", "."]);
    git(d, &["commit", "-q", "-m", "one"]);
    std::fs::write(d.join("a.rebound"), valid(2)).unwrap();
    std::fs::remove_file(d.join("b.rebound")).unwrap();
    std::fs::create_dir(d.join("receivers")).unwrap();
    std::fs::write(d.join("receivers/c.rebound"), other.replace("other", "third")).unwrap();
    git(d, &["add", "-A"]);
    git(d, &["commit", "-q", "-m", "two"]);
    let two = version_on_disk(&[d.to_path_buf()]);

    let w = Watched::open(d);
    git(d, &["checkout", "-q", "HEAD~1"]);
    let one = version_on_disk(&[d.to_path_buf()]);
    assert_ne!(one, two);
    w.serves(&one, "the checkout of the first commit");
    git(d, &["checkout", "-q", "main"]);
    w.serves(&two, "the checkout back to the second");
    settle(&w.events, Duration::from_secs(1));

    // git's own files are hidden: the loader skips them, and so does the watch.
    let before = w.live.counts();
    git(d, &["status", "--short"]);
    git(d, &["gc", "-q"]);
    git(d, &["commit", "-q", "--allow-empty", "-m", "three"]);
    assert!(w.events.recv_timeout(Duration::from_secs(2)).is_err(), "git's own writes rebuilt the policy");
    assert_eq!(w.live.counts(), before);
}

#[test]
fn a_kubernetes_configmap_update_is_picked_up() {
    // A mounted ConfigMap: visible files are links through `..data`, a link
    // to a hidden timestamped directory that an update replaces atomically.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("..2026_01")).unwrap();
    std::fs::write(d.join("..2026_01/a.rebound"), valid(1)).unwrap();
    std::os::unix::fs::symlink("..2026_01", d.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/a.rebound", d.join("a.rebound")).unwrap();
    let w = Watched::open(d);
    assert_eq!(w.live.current().policy.version(), version_of(&valid(1)));

    std::fs::create_dir(d.join("..2026_02")).unwrap();
    std::fs::write(d.join("..2026_02/a.rebound"), valid(2)).unwrap();
    std::os::unix::fs::symlink("..2026_02", d.join("..data_tmp")).unwrap();
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
    std::fs::remove_dir_all(d.join("..2026_01")).unwrap();
    w.serves(&version_of(&valid(2)), "the new ConfigMap");
}

#[test]
fn a_symlinked_directory_that_is_swapped_is_followed() {
    // A deploy that points `current` at a new release directory.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (release, i) in [("v1", 1), ("v2", 2)] {
        std::fs::create_dir(d.join(release)).unwrap();
        std::fs::write(d.join(release).join("a.rebound"), valid(i)).unwrap();
    }
    std::os::unix::fs::symlink("v1", d.join("current")).unwrap();
    let w = Watched::open(&d.join("current"));
    std::os::unix::fs::symlink("v2", d.join("next")).unwrap();
    std::fs::rename(d.join("next"), d.join("current")).unwrap();
    w.serves(&version_of(&valid(2)), "the new release");
    // And the new release is watched.
    Save::RenameOver.append(&d.join("v2/a.rebound"), "# hotfix");
    w.serves(&version_on_disk(&[d.join("current")]), "an edit of the new release");
}

#[test]
fn a_policy_built_from_several_paths_watches_each_of_them_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = ["base", "local", "unrelated"].iter().map(|n| dir.path().join(n)).collect();
    for (i, p) in paths.iter().enumerate() {
        std::fs::create_dir(p).unwrap();
        std::fs::write(
            p.join(format!("r{i}.rebound")),
            format!("rule r{i} {{ when text contains \"m{i}\" then block blocked }}\n"),
        )
        .unwrap();
    }
    let layers = paths[..2].to_vec();
    let build = layers.clone();
    let live = LivePolicy::new(layers.clone(), move || rebound::load::compile_paths(&build)).unwrap();
    let events = live.subscribe();
    let _watch = live.watch().unwrap();
    for (i, layer) in layers.iter().enumerate() {
        Save::RenameOver.append(&layer.join(format!("r{i}.rebound")), "# edited");
        let want = version_on_disk(&layers);
        eventually("an edit of each layer", || (live.current().policy.version() == want).then_some(()));
    }
    settle(&events, Duration::from_secs(1));
    let before = live.counts();
    Save::InPlace.append(&paths[2].join("r2.rebound"), "# not part of the policy");
    assert!(events.recv_timeout(Duration::from_secs(2)).is_err(), "a path outside the policy rebuilt it");
    assert_eq!(live.counts(), before);
}

#[test]
fn a_layer_over_the_shipped_policy_is_watched_and_the_shipped_one_stays_under_it() {
    use rebound::load::Layer;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.rebound");
    std::fs::write(&local, "extends shipped\n").unwrap();
    let layers = [Layer::Shipped, Layer::Path(dir.path().to_path_buf())];
    let live = LivePolicy::open_layers(&layers, rebound::script::Host::default()).unwrap();
    let events = live.subscribe();
    let _watch = live.watch().unwrap();
    let event: Event =
        serde_json::from_str(r#"{"recipient":"a@example.org","code":550,"text":"5.1.1 no such user here"}"#).unwrap();
    let reason = |live: &LivePolicy| live.current().policy.classify(&event).reason.to_string();
    assert_eq!(reason(&live), "user_unknown");
    let before = live.current().policy.version().to_string();
    std::fs::write(&local, "extends shipped\nrule local_gone { when status 5.1.1 then soft mailbox_full }\n").unwrap();
    eventually("the local layer's edit", || (live.current().policy.version() != before).then_some(()));
    settle(&events, Duration::from_millis(500));
    assert_eq!(reason(&live), "mailbox_full", "the local layer decides over the shipped one");
}
