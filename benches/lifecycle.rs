//! The lifecycle: the pure core (`apply`), the runner with a memory store,
//! and the runner with the SQLite store (events per second, end to end).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rebound::event::Event;
use rebound::lifecycle::engine::{Contact, Input, apply};
use rebound::lifecycle::runner::Runner;
use rebound::store::MemoryStore;
use rebound::store::sqlite::SqliteStore;

#[path = "classify.rs"]
#[allow(dead_code)]
mod classify_bench;

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
}

criterion_group!(benches, bench);
criterion_main!(benches);
