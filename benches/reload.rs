//! Live reload: save-to-serving latency (file write → the watcher's
//! debounced rebuild → the new version serving) for the shipped policy and
//! a 10,000-rule policy, the build-and-swap time alone, and classification
//! throughput while the policy is reloaded without pause.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rebound::event::Event;
use rebound::reload::LivePolicy;

#[path = "classify.rs"]
#[allow(dead_code)]
mod classify_bench;

fn write_shipped(dir: &std::path::Path, extra_rules: usize) {
    for (rel, text) in rebound::load::shipped_files() {
        let target = dir.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, text).unwrap();
    }
    let generated: String = (0..extra_rules)
        .map(|i| format!("rule g{i} {{ when text contains \"generated phrase {i} here\" and code 5{}x then hard user_unknown }}\n", i % 6))
        .collect();
    std::fs::write(dir.join("generated.rebound"), generated).unwrap();
}

/// Appends a harmless comment to a file (a new version), then waits until it serves.
fn save_and_wait(live: &LivePolicy, file: &std::path::Path, n: u64) -> Duration {
    let before = live.current().policy.version().to_string();
    let mut text = std::fs::read_to_string(file).unwrap();
    text.push_str(&format!("# edit {n}\n"));
    let start = Instant::now();
    std::fs::write(file, text).unwrap();
    while live.current().policy.version() == before {
        if start.elapsed() > Duration::from_secs(30) {
            panic!("the edit was not picked up");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("reload");
    g.sample_size(10);
    for (name, extra) in [("shipped", 0usize), ("10000-rules", 10_000)] {
        let dir = tempfile::tempdir().unwrap();
        write_shipped(dir.path(), extra);
        let live = LivePolicy::open(dir.path()).unwrap();
        let _watch = live.watch().unwrap();
        let file = dir.path().join("generated.rebound");
        let mut n = 0u64;
        g.bench_function(format!("save-to-serving/{name}"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        n += 1;
                        save_and_wait(&live, &file, n)
                    })
                    .sum()
            })
        });
        // Unwatched, so that the watcher's own rebuild does not compete.
        let unwatched = LivePolicy::open(dir.path()).unwrap();
        g.bench_function(format!("build-and-swap/{name}"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        n += 1;
                        let mut text = std::fs::read_to_string(&file).unwrap();
                        text.push_str(&format!("# edit {n}\n"));
                        std::fs::write(&file, text).unwrap();
                        // A reload waits for a file written less than DEBOUNCE ago: not timed here.
                        std::thread::sleep(rebound::reload::DEBOUNCE);
                        let start = Instant::now();
                        unwatched.reload();
                        start.elapsed()
                    })
                    .sum()
            })
        });
    }
    g.finish();

    // Classification while another thread reloads without pause: the shipped
    // policy and a file that changes at every build, in memory (files on disk
    // would make each reload wait for the file it just wrote to settle).
    let edits = AtomicU64::new(0);
    let live = LivePolicy::new(Vec::new(), move || {
        let mut sources = rebound::load::shipped();
        let n = edits.fetch_add(1, Ordering::Relaxed);
        sources.add("generated.rebound", "generated.rebound", format!("# edit {n}\n"));
        rebound::compile::compile(sources, Vec::new())
    })
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reloader = {
        let (live, stop) = (live.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                live.reload();
            }
            n
        })
    };
    let input = classify_bench::mix(10_000);
    let events: Vec<Event> = input.lines().map(|l| Event::parse(l).unwrap()).collect();
    let mut g = c.benchmark_group("classify-during-reloads");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("shipped", |b| {
        b.iter(|| {
            let mut n = 0;
            for e in &events {
                let loaded = live.current();
                n += loaded.policy.classify(e).class as usize;
            }
            n
        })
    });
    g.finish();
    stop.store(true, Ordering::Relaxed);
    let reloads = reloader.join().unwrap();
    eprintln!("reloads completed during the classification benchmark: {reloads}");
}

criterion_group!(benches, bench);
criterion_main!(benches);
