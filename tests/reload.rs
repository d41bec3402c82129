//! Live reload: classification never stops and never sees a broken or half
//! policy while the policy directory is rewritten, the good way and the bad.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rebound::event::Event;
use rebound::reload::LivePolicy;

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
        std::thread::sleep(Duration::from_millis(150));
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
    let (reloads, failures) = live.counts();
    assert!(reloads >= 3 && failures >= 3, "reloads {reloads}, failures {failures}");
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
