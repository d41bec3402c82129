//! What a policy change would do to real traffic: classify the same events
//! with two policies, count and sample the verdicts that change, and replay
//! the events through each policy's lifecycle to find the contacts whose
//! final state would differ.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::event::{Event, EventType};
use crate::lifecycle::runner::Runner;
use crate::policy::Policy;
use crate::store::{Filter, MemoryStore, Store};

/// How many samples are kept for each kind of change.
pub const SAMPLES_PER_CHANGE: usize = 3;

/// One side of a changed verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// Class.
    pub class: String,
    /// Reason.
    pub reason: String,
    /// The rule that decided, or the table entry.
    pub rule: String,
}

/// An event whose verdict changes.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// The event's id or line.
    pub id: String,
    /// The recipient.
    pub recipient: String,
    /// The receiver (new policy).
    pub receiver: Option<String>,
    /// The verdict of the old policy.
    pub old: Side,
    /// The verdict of the new policy.
    pub new: Side,
    /// The answer's text.
    pub text: String,
}

/// A contact whose final state changes.
#[derive(Debug, Clone, Serialize)]
pub struct ContactChange {
    /// The address.
    pub address: String,
    /// Delivery and consent with the old policy.
    pub old: (String, String),
    /// With the new policy.
    pub new: (String, String),
}

/// What a change does.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// Events read.
    pub events: usize,
    /// Events whose verdict changed (class, reason, scope or rule).
    pub changed: usize,
    /// Contacts whose final state differs.
    pub contacts_changed: usize,
    /// Changed verdicts by receiver.
    pub by_receiver: BTreeMap<String, usize>,
    /// Changed verdicts by `old class → new class`.
    pub by_class: BTreeMap<String, usize>,
    /// Changed verdicts by `old reason → new reason`.
    pub by_reason: BTreeMap<String, usize>,
    /// Examples of each change.
    pub samples: Vec<Sample>,
    /// The contacts whose final state differs.
    pub contacts: Vec<ContactChange>,
    /// Lines that could not be read.
    pub bad_lines: usize,
}

fn side(v: &crate::eval::Verdict) -> Side {
    Side {
        class: v.class.to_string(),
        reason: v.reason.to_string(),
        rule: v
            .rule
            .map(str::to_string)
            .or(v.source.map(|s| format!("table at {s}")))
            .unwrap_or_else(|| "default".into()),
    }
}

/// Compares two policies on the events of `input` (JSONL).
pub fn diff(old: &Policy, new: &Policy, input: &str) -> DiffReport {
    let mut r = DiffReport {
        events: 0,
        changed: 0,
        contacts_changed: 0,
        by_receiver: BTreeMap::new(),
        by_class: BTreeMap::new(),
        by_reason: BTreeMap::new(),
        samples: Vec::new(),
        contacts: Vec::new(),
        bad_lines: 0,
    };
    let mut samples_of: BTreeMap<String, usize> = BTreeMap::new();
    for (n, line) in input.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        r.events += 1;
        let Ok(e) = Event::parse(line) else {
            r.bad_lines += 1;
            continue;
        };
        if e.kind != EventType::Bounce {
            continue;
        }
        let (a, b) = (old.classify(&e), new.classify(&e));
        if a.class == b.class && a.reason == b.reason && a.scope == b.scope && a.rule == b.rule {
            continue;
        }
        r.changed += 1;
        let receiver = b.receiver.or(a.receiver).unwrap_or("(none)").to_string();
        *r.by_receiver.entry(receiver).or_default() += 1;
        let class_key = format!("{} → {}", a.class, b.class);
        *r.by_class.entry(class_key.clone()).or_default() += 1;
        let reason_key = format!("{} → {}", a.reason, b.reason);
        *r.by_reason.entry(reason_key.clone()).or_default() += 1;
        let kind = format!("{class_key} / {reason_key} / {:?} → {:?}", a.rule, b.rule);
        let seen = samples_of.entry(kind).or_default();
        if *seen < SAMPLES_PER_CHANGE {
            *seen += 1;
            r.samples.push(Sample {
                id: e.id.as_deref().map_or_else(|| format!("line {}", n + 1), str::to_string),
                recipient: e.recipient.to_string(),
                receiver: b.receiver.map(str::to_string),
                old: side(&a),
                new: side(&b),
                text: e.text.as_deref().unwrap_or("").to_string(),
            });
        }
    }
    if let (Some(a), Some(b)) = (final_states(old, input), final_states(new, input)) {
        for (address, sa) in &a {
            let sb = b.get(address).cloned().unwrap_or_default();
            if *sa != sb {
                r.contacts.push(ContactChange { address: address.clone(), old: sa.clone(), new: sb });
            }
        }
        r.contacts_changed = r.contacts.len();
    }
    r
}

/// The final delivery and consent of every contact, replaying the events
/// through a policy's lifecycle in memory.
fn final_states(policy: &Policy, input: &str) -> Option<BTreeMap<String, (String, String)>> {
    let mut runner = Runner::new(policy, MemoryStore::new())?;
    runner.run(input.as_bytes(), |_| Ok(()), |_, _| Ok(())).ok()?;
    let mut store = runner.into_store();
    let contacts = store.list(&Filter::default()).ok()?;
    Some(contacts.into_iter().map(|c| (c.address, (c.delivery, c.consent))).collect())
}
