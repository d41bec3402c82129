//! What scripts cost: the shipped policy as it is (no script: no engine is
//! built), the shipped policy with one script condition tried first on every
//! event, and one rule written three ways — natively, as a script, as a host
//! predicate — so the per-event cost of a script condition stands alone.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rebound::Engine;
use rebound::event::Event;

#[path = "classify.rs"]
#[allow(dead_code)]
mod classify;

fn with_shipped(engine: &Engine, extra: &str) -> rebound::Policy {
    let mut sources = rebound::load::shipped();
    // `00-` sorts first: the rule is the first global rule.
    sources.add("00-local.rebound", "00-local.rebound", extra.to_string());
    rebound::compile_with(sources, Vec::new(), engine.host()).policy.expect("compiles")
}

fn bench(c: &mut Criterion) {
    let input = classify::mix(10_000);
    let events: Vec<Event> = input.lines().map(|l| Event::parse(l).unwrap()).collect();
    let mut engine = Engine::new();
    engine.register_predicate("is_vip", |ctx| ctx.domain.ends_with("vip.example"));

    let shipped = rebound::load::compile_shipped().policy.unwrap();
    assert!(shipped.runtime().is_none());
    // A script that runs to the end and never matches, so every event whose
    // receiver rules did not decide pays for it and then goes on.
    let scripted = with_shipped(
        &engine,
        "rule never { when script \"ctx.code == 599 && ctx.text.contains(\\\"zz\\\")\" then hard user_unknown }\n",
    );

    let reached =
        events.iter().filter(|e| scripted.classify_traced(e).1.tried.iter().any(|t| t.rule == "never")).count();
    eprintln!("the script rule runs on {reached} of {} events", events.len());

    let mut g = c.benchmark_group("scripts");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("shipped/no-scripts", |b| {
        b.iter(|| events.iter().map(|e| shipped.classify(e).class as usize).sum::<usize>())
    });
    g.bench_function("shipped/plus-one-script-rule", |b| {
        b.iter(|| events.iter().map(|e| scripted.classify(e).class as usize).sum::<usize>())
    });

    // One rule, alone, tried on every event: native, script, host predicate.
    let native =
        engine.load_str("n.rebound", "rule r { when code 554 and status 5.3.9 then hard user_unknown }").unwrap();
    let script = engine
        .load_str(
            "s.rebound",
            "rule r { when script \"ctx.code == 554 && ctx.status == \\\"5.3.9\\\"\" then hard user_unknown }",
        )
        .unwrap();
    let host = engine.load_str("h.rebound", "rule r { when call is_vip then hard user_unknown }").unwrap();
    for (name, p) in [("one-rule/native", &native), ("one-rule/script", &script), ("one-rule/host-predicate", &host)] {
        g.bench_function(name, |b| b.iter(|| events.iter().map(|e| p.classify(e).class as usize).sum::<usize>()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
