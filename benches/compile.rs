//! Parsing and compiling policies: the shipped one, and generated ones of
//! growing size (to show how compile time grows with the rule count), and
//! one literal of growing length.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn generated(rules: usize) -> String {
    (0..rules)
        .map(|i| {
            format!(
                "rule r{i} {{\n  when code 5{}x and text contains \"phrase {i} here\" or status 5.{}.{}\n  then hard user_unknown\n}}\n",
                i % 6,
                i % 8,
                i % 1000
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let shipped = rebound::load::shipped();
    c.bench_function("compile/shipped", |b| {
        b.iter(|| {
            let compiled = rebound::compile(shipped.clone(), Vec::new());
            assert!(compiled.policy.is_some());
        })
    });
    let text: String = rebound::load::shipped_files().iter().map(|(_, t)| *t).collect::<Vec<_>>().join("\n");
    c.bench_function("parse/shipped", |b| b.iter(|| rebound::syntax::parse(0, &text).map(|f| f.items.len())));
    let mut group = c.benchmark_group("compile/generated");
    group.sample_size(10);
    for n in [100, 1_000, 10_000] {
        let text = generated(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| rebound::compile_str("generated.rebound", text).policy.is_some())
        });
    }
    group.finish();
    // One self-overlapping literal (`abab…`), the worst case for building the
    // literal automaton: compile time should grow linearly with its length.
    let mut group = c.benchmark_group("compile/long_literal");
    group.sample_size(10);
    for n in [256, 1_024, rebound::compile::MAX_PATTERN_BYTES] {
        let text = format!("rule a {{ when text contains \"{}\" then hard user_unknown }}", "ab".repeat(n / 2));
        group.throughput(Throughput::Bytes(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| rebound::compile_str("long.rebound", text).policy.is_some())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
