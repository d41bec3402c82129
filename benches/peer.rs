//! Rebound beside its speed peer, KumoMTA's classifier, on the same answers.
//!
//! `../shared/bench/kumomta/run.sh` writes the shared inputs (`lines.txt` for
//! KumoMTA, `events.jsonl` for Rebound) to `$OUT` (default
//! `/tmp/rebound-peer-inputs`) and prints KumoMTA's ns per line; run this
//! right after, in the same sitting:
//!
//! ```sh
//! ../shared/bench/kumomta/run.sh && cargo bench --bench peer
//! ```
//!
//! `REBOUND_PEER_INPUTS` names another directory; `REBOUND_PEER_N` how many
//! events to read (default 200,000). Without the inputs the bench says so
//! and measures nothing.

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rebound::event::Event;

fn inputs() -> Option<String> {
    let dir = std::env::var_os("REBOUND_PEER_INPUTS").map(PathBuf::from).unwrap_or_else(|| {
        let tmp = std::env::var_os("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        tmp.join("rebound-peer-inputs")
    });
    let n: usize = std::env::var("REBOUND_PEER_N").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let path = dir.join("events.jsonl");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let end = text.match_indices('\n').nth(n.saturating_sub(1)).map_or(text.len(), |(i, _)| i + 1);
            Some(text[..end].to_string())
        }
        Err(e) => {
            eprintln!("peer bench: cannot read {} ({e}); run ../shared/bench/kumomta/run.sh first", path.display());
            None
        }
    }
}

fn bench(c: &mut Criterion) {
    let Some(input) = inputs() else { return };
    let events: Vec<Event> = input.lines().filter_map(|l| Event::parse(l).ok()).collect();
    let shipped = rebound::load::compile_shipped().policy.expect("the shipped policy compiles");
    let mut g = c.benchmark_group("peer");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events.len() as u64));
    // The library on one core: an event in, a verdict out (KumoMTA's
    // figure is the same: a line in, a classification out).
    g.bench_function("library/one-core", |b| {
        b.iter(|| events.iter().map(|e| shipped.classify(e).class as usize).sum::<usize>())
    });
    // `rebound classify`: JSON lines in, JSON verdicts out.
    for threads in [1, 2] {
        g.bench_function(format!("cli/{threads}-core"), |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(input.len());
                rebound::cli::classify::stream_threads(
                    &shipped,
                    input.as_bytes(),
                    &mut out,
                    &mut std::io::sink(),
                    rebound::cli::Format::Json,
                    threads,
                )
                .unwrap();
                out.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
