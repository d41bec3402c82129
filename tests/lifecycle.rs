//! The lifecycle: transition sequences of the shipped policy (snapshots of
//! `tests/data/lifecycle/*.jsonl`), strike rules of every kind on small
//! policies, eligibility, and the commands over the embedded database.

use rebound::lifecycle::engine::eligible;
use rebound::lifecycle::runner::Runner;
use rebound::store::{MemoryStore, Store};

/// Runs events through a policy's lifecycle in memory; one line per event.
fn run(policy: &rebound::Policy, input: &str) -> (String, MemoryStore) {
    let mut runner = Runner::new(policy, MemoryStore::new()).expect("the policy has a lifecycle");
    let lines = std::cell::RefCell::new(Vec::new());
    let summary = runner
        .run(
            input.as_bytes(),
            |outcomes| {
                for o in outcomes {
                    let r = &o.record;
                    let verdict = o
                        .verdict
                        .as_ref()
                        .map(|v| format!(" [{} {} by {}]", v.class, v.reason, v.rule.unwrap_or("table")))
                        .unwrap_or_default();
                    let change = if r.from == r.to {
                        format!("{}/{}", r.to.0, r.to.1)
                    } else {
                        format!("{}/{} -> {}/{}", r.from.0, r.from.1, r.to.0, r.to.1)
                    };
                    let mut extra = String::new();
                    if !r.fired.is_empty() {
                        extra.push_str(&format!(" transition {}", r.fired.join(",")));
                    }
                    if let Some(s) = &r.strike_rule {
                        extra.push_str(&format!(" strike_rule {s}"));
                    }
                    if let Some((ok, rule)) = &r.reactivation {
                        extra.push_str(&format!(
                            " reactivation {} by {}",
                            if *ok { "allowed" } else { "refused" },
                            rule.as_deref().unwrap_or("-")
                        ));
                    }
                    lines.borrow_mut().push(format!(
                        "line {} {} {}{verdict}: {change} strikes {}{extra}",
                        o.line, o.id, o.address, r.strikes
                    ));
                }
                Ok(())
            },
            |n, why| {
                lines.borrow_mut().push(format!("line {n}: bad: {why}"));
                Ok(())
            },
        )
        .unwrap();
    let mut lines = lines.into_inner();
    lines.push(format!(
        "summary: {} events, {} processed, {} duplicates",
        summary.events, summary.processed, summary.duplicates
    ));
    (lines.join("\n"), runner.into_store())
}

fn shipped() -> rebound::Policy {
    rebound::load::compile_shipped().policy.unwrap()
}

#[test]
fn transition_sequences() {
    let policy = shipped();
    insta::glob!("data/lifecycle/*.jsonl", |path| {
        let input = std::fs::read_to_string(path).unwrap();
        let (out, _) = run(&policy, &input);
        insta::assert_snapshot!(out);
    });
}

#[test]
fn replaying_a_run_changes_nothing() {
    let policy = shipped();
    let input = std::fs::read_to_string(crate::root().join("examples/events.jsonl")).unwrap();
    let mut runner = Runner::new(&policy, MemoryStore::new()).unwrap();
    runner.run(input.as_bytes(), |_| Ok(()), |_, _| Ok(())).unwrap();
    let mut store = runner.into_store();
    let before = store.list(&Default::default()).unwrap();
    let mut again = Runner::new(&policy, store).unwrap();
    let summary = again.run(input.as_bytes(), |_| Ok(()), |_, _| Ok(())).unwrap();
    assert_eq!(summary.processed, 0);
    let mut store = again.into_store();
    assert_eq!(store.list(&Default::default()).unwrap(), before);
}

fn policy_with(lifecycle: &str) -> rebound::Policy {
    let mut sources = rebound::load::shipped();
    let files: Vec<_> = sources
        .files()
        .iter()
        .filter(|f| f.rel != "lifecycle.rebound")
        .map(|f| (f.name.clone(), f.rel.clone(), f.text.clone()))
        .collect();
    sources = rebound::Sources::new();
    for (n, r, t) in files {
        sources.add(n, r, t);
    }
    sources.add("test-lifecycle.rebound", "test-lifecycle.rebound", lifecycle.to_string());
    let compiled = rebound::compile(sources, Vec::new());
    let rendered: String = compiled.diagnostics.iter().map(|d| compiled.sources.render(d)).collect();
    compiled.policy.unwrap_or_else(|| panic!("{rendered}"))
}

const BASE: &str = "
  states delivery: active, error
  states consent: single, opted_out
  transition struck_out { on strikes  delivery active -> error }
  transition unsubscribe { on unsubscribe  consent * -> opted_out }
";

fn bounce(id: &str, campaign: &str, at: &str, code: u16, status: &str, text: &str, mx: &str) -> String {
    serde_json::json!({"id": id, "recipient": "pat@example.org", "campaign": campaign, "at": at, "code": code,
        "status": status, "text": text, "mx": mx})
    .to_string()
}

fn final_delivery(policy: &rebound::Policy, lines: &[String]) -> String {
    let (_, mut store) = run(policy, &lines.join("\n"));
    store.list(&Default::default()).unwrap()[0].delivery.clone()
}

#[test]
fn n_within_a_window() {
    let p = policy_with(&format!("lifecycle {{ {BASE} strikes two_hard_a_day {{ count hard  2 within 24h }} }}"));
    let hard = |id: &str, at: &str| bounce(id, id, at, 550, "5.1.1", "user unknown", "mx.example.org");
    assert_eq!(final_delivery(&p, &[hard("a", "2026-10-01T00:00:00Z"), hard("b", "2026-10-02T06:00:00Z")]), "active");
    assert_eq!(final_delivery(&p, &[hard("a", "2026-10-01T00:00:00Z"), hard("b", "2026-10-01T20:00:00Z")]), "error");
}

#[test]
fn n_consecutive_spanning_a_duration() {
    let p = policy_with(&format!(
        "lifecycle {{ {BASE} strikes salesforce {{ count soft  3 consecutive over 14d  reset on delivered }} }}"
    ));
    let soft = |id: &str, at: &str| bounce(id, id, at, 552, "5.2.2", "mailbox full", "mx.example.org");
    let quick =
        [soft("a", "2026-10-01T00:00:00Z"), soft("b", "2026-10-05T00:00:00Z"), soft("c", "2026-10-10T00:00:00Z")];
    assert_eq!(final_delivery(&p, &quick), "active", "three within 9 days do not span 14");
    let slow =
        [soft("a", "2026-10-01T00:00:00Z"), soft("b", "2026-10-08T00:00:00Z"), soft("c", "2026-10-16T00:00:00Z")];
    assert_eq!(final_delivery(&p, &slow), "error");
}

#[test]
fn weights_per_reason() {
    let p = policy_with(&format!(
        "lifecycle {{ {BASE} strikes weighted {{ count soft  consecutive 2 campaigns  weight mailbox_full 0.5, filtered 2 }} }}"
    ));
    let full = |id: &str| bounce(id, id, "2026-10-01T00:00:00Z", 552, "5.2.2", "mailbox full", "mx.example.org");
    assert_eq!(final_delivery(&p, &[full("a"), full("b"), full("c")]), "active", "1.5 < 2");
    assert_eq!(final_delivery(&p, &[full("a"), full("b"), full("c"), full("d")]), "error");
    let filtered = bounce(
        "f",
        "f",
        "2026-10-01T00:00:00Z",
        550,
        "5.7.1",
        "Refused due to recipient preferences",
        "mx.example.org",
    );
    assert_eq!(final_delivery(&p, &[filtered]), "error", "a filtered weighs 2");
}

#[test]
fn a_threshold_per_receiver() {
    let p = policy_with(&format!(
        "lifecycle {{ {BASE} strikes gmail_fast {{ count soft  consecutive 2 campaigns  receiver gmail }}
          strikes others {{ count soft  consecutive 4 campaigns }} }}"
    ));
    let full = |id: &str, mx: &str| {
        bounce(id, id, "2026-10-01T00:00:00Z", 452, "4.2.2", "The recipient's inbox is out of storage space.", mx)
    };
    let g = "gmail-smtp-in.l.google.com";
    assert_eq!(final_delivery(&p, &[full("a", g), full("b", g)]), "error");
    let o = "mx.example.org";
    assert_eq!(final_delivery(&p, &[full("a", o), full("b", o), full("c", o)]), "active");
    assert_eq!(final_delivery(&p, &[full("a", o), full("b", o), full("c", o), full("d", o)]), "error");
}

#[test]
fn eligibility_of_the_shipped_policy() {
    let policy = shipped();
    let lc = policy.lifecycle().unwrap();
    let read = |name: &str| std::fs::read_to_string(crate::root().join("tests/data/lifecycle").join(name)).unwrap();
    let input: String = [read("double_optin.jsonl"), read("complaint.jsonl"), read("hard_bounce.jsonl")].concat();
    let (_, mut store) = run(&policy, &input);
    let get = |store: &mut MemoryStore, a: &str| store.contact(a).unwrap().unwrap();
    let table = [
        ("ivy@hotmail.com", [true, false, true]),  // confirmed
        ("gina@icloud.com", [false, false, true]), // opted out: transactional only
        ("dave@gmail.com", [false, false, false]), // error: nothing
    ];
    for (address, expect) in table {
        let c = get(&mut store, address);
        for (kind, want) in ["marketing", "confirmation", "transactional"].iter().zip(expect) {
            assert_eq!(eligible(lc, &c, kind).0, want, "{address} {kind}");
        }
    }
    let fresh = rebound::lifecycle::engine::Contact::new("new@example.org", lc);
    assert!(eligible(lc, &fresh, "marketing").0, "a new contact is active/single");
    let mut pending = fresh.clone();
    pending.consent = "unconfirmed".into();
    assert!(!eligible(lc, &pending, "marketing").0);
    assert!(eligible(lc, &pending, "confirmation").0);
    assert!(!eligible(lc, &fresh, "newsletter").0, "no rule: not eligible");
}
