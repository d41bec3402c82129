//! Classification throughput: the library on a realistic mix (the corpus
//! answers repeated with varied addresses) with the shipped policy and with
//! a generated 10,000-rule policy, and `rebound classify` end to end (JSONL
//! in, JSONL out) on the same mix.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rebound::event::Event;

/// The corpus answers as JSONL events, `n` of them, addresses varied.
pub fn mix(n: usize) -> String {
    let corpus = include_str!("../tests/data/responses.jsonl");
    let cases: Vec<serde_json::Value> = corpus.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut out = String::new();
    for i in 0..n {
        let c = &cases[i % cases.len()];
        let domain = c["recipient"].as_str().unwrap().rsplit_once('@').unwrap().1;
        let e = serde_json::json!({
            "id": format!("e-{i}"), "recipient": format!("user{}@{domain}", i * 7919 % 100_003),
            "campaign": format!("c-{}", i / 1000), "code": c["code"], "status": c["status"],
            "text": c["text"], "mx": c["mx"],
        });
        out.push_str(&e.to_string());
        out.push('\n');
    }
    out
}

/// A policy of `n` generated rules (distinct phrases, codes and statuses)
/// plus the shipped tables and receivers.
pub fn generated_policy(n: usize) -> rebound::Policy {
    const WORDS: &[&str] = &[
        "mailbox",
        "quota",
        "user",
        "unknown",
        "blocked",
        "spam",
        "rate",
        "limit",
        "policy",
        "relay",
        "denied",
        "account",
        "disabled",
        "reputation",
        "network",
        "address",
        "rejected",
        "temporarily",
        "server",
        "message",
    ];
    let mut text = String::new();
    for i in 0..n {
        let (a, b, c) = (WORDS[i % 20], WORDS[(i / 20) % 20], WORDS[(i / 400) % 20]);
        text.push_str(&format!(
            "rule g{i} {{ when text contains \"{a} {b} {c} {i}\" and code 5{}x or status 5.{}.{} and text contains \"zz{i}\" then hard user_unknown }}\n",
            i % 6,
            i % 8,
            i % 1000
        ));
    }
    let mut sources = rebound::load::shipped();
    sources.add("generated.rebound", "generated.rebound", text);
    let compiled = rebound::compile(sources, Vec::new());
    compiled.policy.expect("the generated policy compiles")
}

fn bench(c: &mut Criterion) {
    let input = mix(10_000);
    let lines: Vec<&str> = input.lines().collect();
    let events: Vec<Event> = lines.iter().map(|l| Event::parse(l).unwrap()).collect();
    let shipped = rebound::load::compile_shipped().policy.unwrap();
    let big = generated_policy(10_000);

    let mut g = c.benchmark_group("classify");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("library/shipped", |b| {
        b.iter(|| events.iter().map(|e| shipped.classify(e).class as usize).sum::<usize>())
    });
    let raws: Vec<_> = events.iter().map(rebound::eval::raw_of).collect();
    g.bench_function("step/normalize", |b| {
        b.iter(|| raws.iter().map(|r| rebound::eval::normalize::normalize(r).folded.len()).sum::<usize>())
    });
    let responses: Vec<_> = raws.iter().map(rebound::eval::normalize::normalize).collect();
    g.bench_function("step/decide", |b| {
        b.iter(|| responses.iter().map(|r| shipped.decide(r).class as usize).sum::<usize>())
    });
    g.bench_function("library/10000-rules", |b| {
        b.iter(|| events.iter().map(|e| big.classify(e).class as usize).sum::<usize>())
    });
    g.bench_function("end-to-end/shipped", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(input.len());
            rebound::cli::classify::stream(
                &shipped,
                input.as_bytes(),
                &mut out,
                &mut std::io::sink(),
                rebound::cli::Format::Json,
            )
            .unwrap();
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
