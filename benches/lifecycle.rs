//! The lifecycle: the pure core (`apply`), the runner with a memory store,
//! and the runner with the SQLite store (events per second, end to end) —
//! on the classification mix, and as `rebound run` sees a list: 100,000
//! events over 10,000 contacts in ten campaigns (`benches/data/events.rs`),
//! first into an empty database, then again (every event already processed).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rebound::event::Event;
use rebound::lifecycle::engine::{Contact, Input, apply};
use rebound::lifecycle::runner::Runner;
use rebound::store::MemoryStore;
use rebound::store::sqlite::SqliteStore;

#[path = "classify.rs"]
#[allow(dead_code)]
mod classify_bench;

#[path = "data/events.rs"]
mod events;

fn bench(c: &mut Criterion) {
    let policy = rebound::load::compile_shipped().policy.unwrap();
    let lc = policy.lifecycle().unwrap();
    let input = classify_bench::mix(20_000);
    let lines: Vec<&str> = input.lines().collect();
    let events: Vec<Event> = lines.iter().map(|l| Event::parse(l).unwrap()).collect();
    let verdicts: Vec<_> = events.iter().map(|e| policy.classify(e)).collect();

    let mut g = c.benchmark_group("lifecycle");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("core/apply", |b| {
        // Ten events per contact, as a contact sees a few campaigns.
        b.iter(|| {
            let mut strikes = 0;
            for (chunk, vs) in events.chunks(10).zip(verdicts.chunks(10)) {
                let mut contact = Contact::new("someone@example.org", lc);
                for (e, v) in chunk.iter().zip(vs) {
                    let input = Input { event: e, id: "x", verdict: Some(v), at: None };
                    apply(lc, &mut contact, &input);
                }
                strikes += contact.strikes;
            }
            strikes
        })
    });
    g.sample_size(10);
    g.bench_function("runner/memory", |b| {
        b.iter(|| {
            let mut runner = Runner::new(&policy, MemoryStore::new()).unwrap();
            runner.run(input.as_bytes(), |_| Ok(()), |_, _| Ok(())).unwrap().processed
        })
    });
    g.bench_function("runner/sqlite", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("bench.db")).unwrap();
            let mut runner = Runner::new(&policy, store).unwrap();
            runner.run(input.as_bytes(), |_| Ok(()), |_, _| Ok(())).unwrap().processed
        })
    });
    g.finish();

    // `rebound run` on a list: the transitions serialised as the CLI does.
    let mut list = Vec::new();
    events::write(100_000, 10_000, &mut list).unwrap();
    let version = policy.version().to_string();
    let run = |store: SqliteStore| {
        let mut runner = Runner::new(&policy, store).unwrap();
        let mut out = Vec::new();
        let summary = runner
            .run(
                list.as_slice(),
                |outcomes| {
                    out.clear();
                    for o in outcomes {
                        serde_json::to_writer(&mut out, &o.json(&version))?;
                        out.push(b'\n');
                    }
                    Ok(())
                },
                |_, _| Ok(()),
            )
            .unwrap();
        (summary.processed, summary.duplicates)
    };
    let mut g = c.benchmark_group("run");
    g.throughput(Throughput::Elements(100_000));
    // Ten runs each (a run is a second or less): flat sampling keeps the bench short.
    g.sample_size(10);
    g.sampling_mode(criterion::SamplingMode::Flat);
    g.measurement_time(std::time::Duration::from_secs(8));
    g.bench_function("sqlite/100k-events-10k-contacts", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let store = SqliteStore::open(&dir.path().join("bench.db")).unwrap();
                (dir, store)
            },
            |(dir, store)| {
                assert_eq!(run(store), (100_000, 0));
                dir
            },
            criterion::BatchSize::PerIteration,
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rerun.db");
    run(SqliteStore::open(&db).unwrap());
    g.bench_function("sqlite/100k-events-10k-contacts-rerun", |b| {
        b.iter(|| assert_eq!(run(SqliteStore::open(&db).unwrap()), (0, 100_000)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
