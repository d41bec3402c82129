//! The policy watcher: which file-system events can change a policy, and one
//! call back per burst of them.
//!
//! It watches a list of paths (files or directories: whatever a policy is
//! read from) and calls back when what the loader reads there may have
//! changed. It knows nothing of how a policy is built, so a policy made of
//! several layers is watched the same way as one directory. Bursts of events
//! are debounced by `notify-debouncer-full` ([`DEBOUNCE`]); the batches that
//! arrive while a rebuild runs make one more rebuild, not one each.
//!
//! Three rules keep it correct and quiet; each fixes a defect of the first,
//! hand-written watcher:
//! - **Paths are absolute.** `notify` reports absolute paths, so the paths
//!   are made absolute before they are watched and compared (a relative
//!   `--policy pol` used to never reload).
//! - **Only changes count**: creations, writes, renames and removals; never
//!   an open, a read, a close without writing or a change of metadata. A
//!   rebuild opens every file it reads: counting those made an idle service
//!   rebuild itself several times a second, forever.
//! - **Only what the loader reads counts.** Below a watched directory, hidden
//!   entries (`.git`, editors' swap files) and files other than `.rebound`
//!   files are skipped, as the loader skips them; except a hidden symlink to
//!   a directory put in place, which is how Kubernetes updates a mounted
//!   ConfigMap (its visible files point through `..data`).
//!
//! A watched directory is watched recursively and the parent of every watched
//! path not, so a path that is renamed away and back, deleted and created
//! again, or a symlink that is swapped, is watched again. Nothing here prints.

use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, DebouncedEvent, Debouncer, RecommendedCache, new_debouncer};

/// How long a file event waits before it is acted on, and how long the
/// policy's files must have been left alone before a rebuild reads them
/// (see `LivePolicy`'s settling): one save is one rebuild, a save that takes
/// less is read whole, and while files keep changing two rebuilds are at
/// least this far apart.
pub const DEBOUNCE: Duration = Duration::from_millis(75);

type Backend = Debouncer<notify::RecommendedWatcher, RecommendedCache>;

enum Msg {
    Batch(Vec<DebouncedEvent>),
    Stop,
}

/// Stops a watch when dropped, after the rebuild in progress if there is one.
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

/// Calls `on_change` (on the watch's own thread) after each burst of changes
/// to the policy at `paths`, until the guard is dropped. Fails when a path
/// that exists cannot be watched; a path that does not exist yet is watched
/// from its parent and picked up when it appears.
pub(crate) fn watch(paths: &[PathBuf], on_change: impl FnMut() + Send + 'static) -> notify::Result<WatchGuard> {
    let (tx, rx) = mpsc::channel::<Msg>();
    let batches = tx.clone();
    // The debouncer looks for expired events every DEBOUNCE / 4.
    let backend = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        // Errors of the backend are not changes; a lost event comes as a rescan.
        if let Ok(events) = result {
            let _ = batches.send(Msg::Batch(events));
        }
    })?;
    let mut watcher = Watcher { backend, roots: paths.iter().map(|p| Root::new(absolute(p))).collect() };
    watcher.arm()?;
    let thread = std::thread::Builder::new()
        .name("rebound-watch".into())
        .spawn(move || watcher.run(&rx, on_change))
        .map_err(notify::Error::io)?;
    Ok(WatchGuard { stop: tx, thread: Some(thread) })
}

/// `path` made absolute against the current directory, without resolving
/// symlinks (a swapped symlink must lead to its new target); as given when
/// there is no current directory.
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// One watched path.
#[derive(Debug)]
struct Root {
    /// Absolute, as given: what is watched (and what the build reads).
    path: PathBuf,
    /// With symlinks resolved, when it differs: some backends report these.
    real: Option<PathBuf>,
    /// Whether it is a directory (or missing: it may come back as one).
    dir: bool,
    /// Whether it has its own recursive watch (a directory not inside another).
    armed: bool,
}

/// What an event path is to a watched path.
#[derive(Debug, PartialEq, Eq)]
enum Concern {
    None,
    /// Something the loader reads below it.
    Policy,
    /// The watched path itself.
    Root,
}

impl Root {
    fn new(path: PathBuf) -> Root {
        let mut root = Root { path, real: None, dir: true, armed: false };
        root.refresh();
        root
    }

    fn refresh(&mut self) {
        self.real = std::fs::canonicalize(&self.path).ok().filter(|r| *r != self.path);
        self.dir = std::fs::metadata(&self.path).map_or(true, |m| m.is_dir());
    }

    fn concern(&self, path: &Path, kind: &EventKind) -> Concern {
        for base in std::iter::once(self.path.as_path()).chain(self.real.as_deref()) {
            if path == base {
                return Concern::Root;
            }
            if let Some(rel) = path.strip_prefix(base).ok().filter(|_| self.dir) {
                return if loader_reads(path, rel, kind) { Concern::Policy } else { Concern::None };
            }
        }
        Concern::None
    }
}

/// Whether an event's kind can change what a file holds or which files
/// there are. A close after writing counts (writes through a memory map
/// raise no modify event); opens, reads, closes without writing and
/// metadata (permissions, times) do not.
fn changes(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Other => false,
    }
}

/// Whether `path` (`rel` below a watched directory) is something the loader
/// reads, was, or leads to: no hidden component, and not a file other than a
/// `.rebound` one. A hidden symlink to a directory counts: visible files can
/// point through it.
fn loader_reads(path: &Path, rel: &Path, kind: &EventKind) -> bool {
    let hidden = rel.components().any(|c| matches!(c, Component::Normal(n) if n.to_string_lossy().starts_with('.')));
    if hidden {
        let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink());
        return link && std::fs::metadata(path).is_ok_and(|m| m.is_dir());
    }
    let rebound = path.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".rebound"));
    let file = match kind {
        EventKind::Create(CreateKind::File) | EventKind::Remove(RemoveKind::File) => true,
        _ => std::fs::metadata(path).is_ok_and(|m| m.is_file()),
    };
    rebound || !file
}

/// What a batch of events asks for.
#[derive(Debug, Default, PartialEq, Eq)]
struct Change {
    rebuild: bool,
    /// The watched paths (indexes) that were themselves replaced, or all of
    /// them after the backend lost events.
    rearm: Vec<usize>,
}

/// What `events` ask for. Changes that happened before `built` (when the
/// last rebuild started) were read by it: they ask for nothing more, so the
/// events of one save that straddle two batches make one rebuild. A path
/// watched again (a directory replaced, or become one) is always rebuilt:
/// what was written into it before its watch was not seen.
fn assess(roots: &[Root], events: &[DebouncedEvent], built: Option<Instant>) -> Change {
    let mut change = Change::default();
    for event in events {
        if event.need_rescan() {
            return Change { rebuild: true, rearm: (0..roots.len()).collect() };
        }
        if !changes(&event.kind) {
            continue;
        }
        let new = built.is_none_or(|b| event.time >= b);
        for path in &event.paths {
            for (i, root) in roots.iter().enumerate() {
                match root.concern(path, &event.kind) {
                    Concern::None => {}
                    Concern::Policy => change.rebuild |= new,
                    Concern::Root if root.dir || std::fs::metadata(path).is_ok_and(|m| m.is_dir()) => {
                        change.rebuild = true;
                        if !change.rearm.contains(&i) {
                            change.rearm.push(i);
                        }
                    }
                    Concern::Root => change.rebuild |= new,
                }
            }
        }
    }
    change
}

struct Watcher {
    backend: Backend,
    roots: Vec<Root>,
}

impl Watcher {
    /// Watches every directory recursively (unless it is inside another) and
    /// every parent not; fails on a path that exists and cannot be watched.
    fn arm(&mut self) -> notify::Result<()> {
        let mut parents: Vec<PathBuf> = Vec::new();
        for i in 0..self.roots.len() {
            let nested = self.nested(i);
            let Some(root) = self.roots.get_mut(i) else { continue };
            if root.dir && !nested {
                watch_existing(&mut self.backend, &root.path, RecursiveMode::Recursive)?;
                root.armed = root.path.exists();
            }
            parents.extend(root.path.parent().map(Path::to_path_buf));
        }
        parents.sort();
        parents.dedup();
        parents.retain(|p| !self.roots.iter().any(|r| r.dir && p.starts_with(&r.path)));
        for parent in &parents {
            watch_existing(&mut self.backend, parent, RecursiveMode::NonRecursive)?;
        }
        Ok(())
    }

    /// Whether watched path `i` is inside another watched directory (whose
    /// recursive watch covers it).
    fn nested(&self, i: usize) -> bool {
        let Some(me) = self.roots.get(i) else { return false };
        self.roots
            .iter()
            .enumerate()
            .any(|(j, r)| j != i && r.dir && me.path.starts_with(&r.path) && (me.path != r.path || j < i))
    }

    /// Watches a path again after it was replaced (or events were lost).
    /// Errors are expected (the path may be gone): its parent's watch says
    /// when it is back.
    fn rearm(&mut self, i: usize) {
        let nested = self.nested(i);
        let Some(root) = self.roots.get_mut(i) else { return };
        root.refresh();
        if root.armed {
            let _ = self.backend.unwatch(&root.path);
            root.armed = false;
        }
        if root.dir && !nested {
            root.armed = self.backend.watch(&root.path, RecursiveMode::Recursive).is_ok();
        }
    }

    fn run(mut self, rx: &Receiver<Msg>, mut on_change: impl FnMut()) {
        let mut built = None;
        while let Some(events) = next_batch(rx) {
            let change = assess(&self.roots, &events, built);
            // Watch first, then build: a change in between is then either
            // read by the build or seen by the watch.
            for &i in &change.rearm {
                self.rearm(i);
            }
            if change.rebuild {
                built = Some(Instant::now());
                on_change();
            }
        }
        self.backend.stop();
    }
}

/// The next batch, joined with those already waiting (they arrived during the
/// last rebuild); `None` when the watch stops.
fn next_batch(rx: &Receiver<Msg>) -> Option<Vec<DebouncedEvent>> {
    let Ok(Msg::Batch(mut events)) = rx.recv() else { return None };
    loop {
        match rx.try_recv() {
            Ok(Msg::Batch(more)) => events.extend(more),
            Err(TryRecvError::Empty) => return Some(events),
            Ok(Msg::Stop) | Err(TryRecvError::Disconnected) => return None,
        }
    }
}

fn watch_existing(backend: &mut Backend, path: &Path, mode: RecursiveMode) -> notify::Result<()> {
    match backend.watch(path, mode) {
        Err(e) if path.exists() => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::DataChange;

    fn event(kind: EventKind, paths: &[&Path]) -> DebouncedEvent {
        let mut e = notify::Event::new(kind);
        for p in paths {
            e = e.add_path(p.to_path_buf());
        }
        DebouncedEvent::new(e, std::time::Instant::now())
    }

    fn policy_dir() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.rebound"), "").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "").unwrap();
        let root = Root::new(dir.path().join(".").canonicalize().unwrap());
        (dir, root)
    }

    fn rebuilds(root: Root, kind: EventKind, rel: &str) -> bool {
        let path = root.path.join(rel);
        assess(&[root], &[event(kind, &[&path])], None).rebuild
    }

    #[test]
    fn opens_reads_and_closes_without_writing_are_not_changes() {
        let kinds = [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Read),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Modify(ModifyKind::Metadata(notify::event::MetadataKind::Any)),
            EventKind::Other,
        ];
        for kind in kinds {
            let (_dir, root) = policy_dir();
            assert!(!rebuilds(root, kind, "a.rebound"), "{kind:?}");
        }
        let changes = [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Name(notify::event::RenameMode::Both)),
            EventKind::Remove(RemoveKind::File),
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
        ];
        for kind in changes {
            let (_dir, root) = policy_dir();
            assert!(rebuilds(root, kind, "a.rebound"), "{kind:?}");
        }
    }

    #[test]
    fn only_what_the_loader_reads_counts() {
        let write = || EventKind::Modify(ModifyKind::Data(DataChange::Any));
        for (rel, counts) in [
            ("a.rebound", true),
            ("receivers/new.rebound", true),
            ("gone", true),
            ("notes.txt", false),
            (".git/index", false),
            (".a.rebound.swp", false),
            ("sub/.hidden/b.rebound", false),
        ] {
            let (_dir, root) = policy_dir();
            assert_eq!(rebuilds(root, write(), rel), counts, "{rel}");
        }
        let (_dir, root) = policy_dir();
        assert!(!rebuilds(root, EventKind::Remove(RemoveKind::File), "old.txt"), "a removed file other than policy");
        let (_dir, root) = policy_dir();
        let outside = root.path.parent().unwrap().join("elsewhere.rebound");
        assert!(!assess(&[root], &[event(write(), &[&outside])], None).rebuild);
    }

    #[test]
    fn a_hidden_symlink_to_a_directory_swapped_in_counts() {
        let (dir, root) = policy_dir();
        std::fs::create_dir(dir.path().join("..v2")).unwrap();
        std::os::unix::fs::symlink("..v2", dir.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("nowhere", dir.path().join(".#a.rebound")).unwrap();
        let rename = EventKind::Modify(ModifyKind::Name(notify::event::RenameMode::Both));
        let (tmp, data) = (root.path.join("..data_tmp"), root.path.join("..data"));
        assert!(assess(&[Root::new(root.path.clone())], &[event(rename, &[&tmp, &data])], None).rebuild);
        assert!(!rebuilds(root, EventKind::Create(CreateKind::File), ".#a.rebound"), "an editor's lock link");
    }

    #[test]
    fn the_watched_path_itself_is_watched_again() {
        let (_dir, root) = policy_dir();
        let path = root.path.clone();
        let parent_open = event(EventKind::Access(AccessKind::Open(AccessMode::Any)), &[&path]);
        let moved = event(EventKind::Modify(ModifyKind::Name(notify::event::RenameMode::To)), &[&path]);
        let roots = [root];
        assert_eq!(assess(&roots, std::slice::from_ref(&parent_open), None), Change::default());
        let later = Some(std::time::Instant::now());
        assert_eq!(assess(&roots, &[parent_open, moved], later), Change { rebuild: true, rearm: vec![0] });
    }

    #[test]
    fn a_change_the_last_rebuild_read_asks_for_nothing() {
        let (_dir, root) = policy_dir();
        let write = event(EventKind::Modify(ModifyKind::Data(DataChange::Any)), &[&root.path.join("a.rebound")]);
        let roots = [root];
        assert!(assess(&roots, std::slice::from_ref(&write), Some(write.time)).rebuild, "a change as the build starts");
        let after = Some(write.time + Duration::from_millis(1));
        assert!(!assess(&roots, std::slice::from_ref(&write), after).rebuild, "a change before it started");
    }

    #[test]
    fn a_file_is_watched_by_its_own_path_only() {
        let (dir, _) = policy_dir();
        let file = Root::new(dir.path().join("a.rebound"));
        assert!(!file.dir);
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert_eq!(file.concern(&dir.path().join("a.rebound"), &write), Concern::Root);
        assert_eq!(file.concern(&dir.path().join("b.rebound"), &write), Concern::None);
    }
}
