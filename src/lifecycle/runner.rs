//! Runs a stream of JSONL events through a policy's lifecycle into a
//! [`Store`], in batches.
//!
//! Per batch: parse the lines, give each event an id (its own, or one
//! derived from the line), drop events already processed (in the store or
//! earlier in the batch), classify the bounces, order each contact's events
//! by `at` (events without `at` keep their place), apply them, commit the
//! batch in one transaction — and only then hand the records out. So an
//! event reported as processed is durable, and re-running the same input
//! after a crash reaches the same final state.
//!
//! ```
//! use rebound::lifecycle::runner::Runner;
//! use rebound::store::{Filter, MemoryStore, Store};
//!
//! let policy = rebound::load::compile_shipped().policy.expect("the shipped policy compiles");
//! let events = r#"{"id":"e1","recipient":"pat@gmail.com","code":550,"status":"5.1.1","text":"The email account that you tried to reach does not exist.","mx":"gmail-smtp-in.l.google.com"}
//! not json
//! "#;
//! let mut store = MemoryStore::new();
//! let mut runner = Runner::new(&policy, &mut store).expect("the shipped policy has a lifecycle");
//! let mut moved = Vec::new();
//! let mut bad = Vec::new();
//! let summary = runner.run(
//!     events.as_bytes(),
//!     |outcomes| {
//!         moved.extend(outcomes.iter().map(|o| (o.address.clone(), o.record.to.0.clone())));
//!         Ok(())
//!     },
//!     |line, why| {
//!         bad.push((line, why.to_string()));
//!         Ok(())
//!     },
//! )?;
//! assert_eq!(moved, [("pat@gmail.com".to_string(), "error".to_string())]);
//! assert_eq!((summary.events, summary.bad, bad[0].0), (2, 1, 2));
//! let in_error = store.list(&Filter { delivery: Some("error".into()), ..Filter::default() })?;
//! assert_eq!(in_error[0].address, "pat@gmail.com");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::io::BufRead;

use sha2::{Digest, Sha256};

use super::engine::{Contact, Input, Record, apply, parse_at};
use super::model::Lifecycle;
use crate::eval::Verdict;
use crate::event::{Event, Line, Lines};
use crate::policy::Policy;
use crate::store::{Commit, LogEntry, Store, StoreError};

/// How many events are committed together.
pub const BATCH_EVENTS: usize = 50_000;

/// What one event did, ready to print.
#[derive(Debug)]
pub struct Outcome<'p> {
    /// The input line number.
    pub line: usize,
    /// The event's id.
    pub id: String,
    /// The contact.
    pub address: String,
    /// The verdict, for bounces.
    pub verdict: Option<Verdict<'p>>,
    /// What happened to the contact.
    pub record: Record,
}

impl Outcome<'_> {
    /// The transition as a JSON line (SPEC §7).
    pub fn to_json(&self, version: &str) -> serde_json::Value {
        let r = &self.record;
        let mut v = serde_json::json!({
            "id": self.id,
            "recipient": self.address,
            "verdict": self.verdict.as_ref().map(|v| crate::eval::VerdictLine::of(Some(&self.id), &self.address, v)),
            "from": {"delivery": r.from.0, "consent": r.from.1},
            "to": {"delivery": r.to.0, "consent": r.to.1},
            "strikes": r.strikes,
            "rule": r.fired.first(),
            "version": version,
        });
        if let Some(obj) = v.as_object_mut() {
            if r.fired.len() > 1 {
                obj.insert("transitions".into(), serde_json::json!(r.fired));
            }
            if let Some(s) = &r.strike_rule {
                obj.insert("strike_rule".into(), serde_json::json!(s));
            }
            if let Some((allowed, rule)) = &r.reactivation {
                obj.insert("reactivation".into(), serde_json::json!({"allowed": allowed, "rule": rule}));
            }
        }
        v
    }
}

/// Counts for the summary.
#[derive(Debug, Default)]
pub struct Summary {
    /// Events read (not counting blank lines).
    pub events: usize,
    /// Events processed.
    pub processed: usize,
    /// Events skipped as already processed.
    pub duplicates: usize,
    /// Lines reported and skipped.
    pub bad: usize,
    /// Verdicts by class.
    pub verdicts: std::collections::BTreeMap<String, usize>,
    /// Transitions fired, by name.
    pub transitions: std::collections::BTreeMap<String, usize>,
}

/// The id of an event: its own, or `line:` + a hash of its text.
pub fn event_id(event: &Event, line: &str) -> String {
    match &event.id {
        Some(id) => id.to_string(),
        None => {
            let digest = Sha256::digest(line.as_bytes());
            let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
            format!("line:{hex}")
        }
    }
}

/// Runs events through the lifecycle into a store.
pub struct Runner<'p, S> {
    policy: &'p Policy,
    lifecycle: &'p Lifecycle,
    store: S,
}

impl<'p, S: Store> Runner<'p, S> {
    /// A runner for a policy that declares a lifecycle.
    pub fn new(policy: &'p Policy, store: S) -> Option<Runner<'p, S>> {
        Some(Runner { lifecycle: policy.lifecycle()?, policy, store })
    }

    /// The store, back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Runs every event of `input`. For each committed batch, `done`
    /// receives the outcomes in input order; bad lines go to `bad` as
    /// `(line, why)`.
    pub fn run(
        &mut self,
        input: impl BufRead,
        mut done: impl FnMut(&[Outcome<'p>]) -> std::io::Result<()>,
        mut bad: impl FnMut(usize, &str) -> std::io::Result<()>,
    ) -> Result<Summary, RunError> {
        let mut lines = Lines::new(input);
        let mut buf = Vec::new();
        let mut summary = Summary::default();
        loop {
            let mut batch: Vec<(usize, String)> = Vec::with_capacity(BATCH_EVENTS);
            while batch.len() < BATCH_EVENTS {
                match lines.next_line(&mut buf)? {
                    Some(Line::Text(_, t)) if t.trim().is_empty() => {}
                    Some(Line::Text(n, t)) => batch.push((n, t)),
                    Some(Line::Bad(n, why)) => {
                        summary.events += 1;
                        summary.bad += 1;
                        bad(n, &why)?;
                    }
                    None => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            let outcomes = self.batch(&batch, &mut summary, &mut bad)?;
            done(&outcomes)?;
        }
        Ok(summary)
    }

    fn batch(
        &mut self,
        batch: &[(usize, String)],
        summary: &mut Summary,
        bad: &mut impl FnMut(usize, &str) -> std::io::Result<()>,
    ) -> Result<Vec<Outcome<'p>>, RunError> {
        // Parse and give ids.
        let mut events: Vec<(usize, String, Event)> = Vec::with_capacity(batch.len());
        for (n, text) in batch {
            summary.events += 1;
            match Event::parse(text) {
                Ok(e) => events.push((*n, event_id(&e, text), e)),
                Err(why) => {
                    summary.bad += 1;
                    bad(*n, &why)?;
                }
            }
        }
        // Drop events already processed, in the store or earlier in the batch.
        let ids: Vec<&str> = events.iter().map(|(_, id, _)| id.as_str()).collect();
        let seen_before = self.store.processed(&ids)?;
        let mut seen_now = std::collections::HashSet::new();
        let mut keep = Vec::with_capacity(events.len());
        for ((n, id, e), before) in events.into_iter().zip(seen_before) {
            if before || !seen_now.insert(id.clone()) {
                summary.duplicates += 1;
            } else {
                keep.push((n, id, e));
            }
        }
        // Verdicts.
        let verdicts = classify_all(self.policy, &keep);
        // Each contact's events in `at` order; events without `at` keep their place.
        let mut by_contact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for (i, (_, _, e)) in keep.iter().enumerate() {
            let a = e.recipient.trim().to_lowercase();
            match by_contact.get_mut(&a) {
                Some(v) => v.push(i),
                None => {
                    order.push(a.clone());
                    by_contact.insert(a, vec![i]);
                }
            }
        }
        let ats: Vec<Option<i64>> = keep.iter().map(|(_, _, e)| e.at.as_deref().and_then(parse_at)).collect();
        let addresses: Vec<&str> = order.iter().map(String::as_str).collect();
        let stored = self.store.contacts(&addresses)?;
        let mut commit = Commit::default();
        let mut results: Vec<Option<Outcome<'p>>> = (0..keep.len()).map(|_| None).collect();
        for (address, stored) in order.iter().zip(stored) {
            let mut contact = stored.unwrap_or_else(|| Contact::new(address, self.lifecycle));
            let mut idx = by_contact.remove(address).unwrap_or_default();
            sort_by_at(&mut idx, &ats);
            for i in idx {
                let (Some((line, id, event)), Some(verdict)) = (keep.get(i), verdicts.get(i)) else { continue };
                let at = ats.get(i).copied().flatten();
                let input = Input { event, id, verdict: verdict.as_ref(), at };
                let record = apply(self.lifecycle, &mut contact, &input);
                if let Some(v) = verdict {
                    *summary.verdicts.entry(v.class.to_string()).or_default() += 1;
                }
                for t in &record.fired {
                    *summary.transitions.entry(t.clone()).or_default() += 1;
                }
                commit.events.push(id.clone());
                let notable = record.from != record.to
                    || record.strike_rule.is_some()
                    || record.reactivation.is_some()
                    || verdict.as_ref().is_some_and(|v| v.class.strikes());
                if notable {
                    commit.log.push(LogEntry {
                        event: id.clone(),
                        address: address.clone(),
                        kind: event.kind.as_str().to_string(),
                        at: event.at.as_deref().map(str::to_string),
                        from: record.from.clone(),
                        to: record.to.clone(),
                        rule: (!record.fired.is_empty()).then(|| record.fired.join(",")),
                        strike_rule: record.strike_rule.clone(),
                        verdict: verdict.as_ref().map(|v| (v.class.to_string(), v.reason.to_string())),
                        verdict_rule: verdict.as_ref().and_then(|v| v.rule.map(str::to_string)),
                        reactivation: record.reactivation.clone(),
                        strikes: record.strikes,
                        version: self.policy.version().to_string(),
                    });
                }
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(Outcome {
                        line: *line,
                        id: id.clone(),
                        address: address.clone(),
                        verdict: verdict.clone(),
                        record,
                    });
                }
            }
            commit.contacts.push(contact);
        }
        self.store.commit(&commit)?;
        summary.processed += commit.events.len();
        Ok(results.into_iter().flatten().collect())
    }
}

/// Classifies the bounces of a batch, split over the machine's cores.
fn classify_all<'p>(policy: &'p Policy, events: &[(usize, String, Event)]) -> Vec<Option<Verdict<'p>>> {
    let one = |e: &Event| (e.kind == crate::event::EventType::Bounce).then(|| policy.classify(e));
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if workers == 1 || events.len() < 512 {
        return events.iter().map(|(_, _, e)| one(e)).collect();
    }
    let size = events.len().div_ceil(workers);
    std::thread::scope(|s| {
        let handles: Vec<_> = events
            .chunks(size)
            .map(|c| s.spawn(move || c.iter().map(|(_, _, e)| one(e)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// Orders a contact's events by `at`; an event without `at` sorts with the
/// one before it, so input order stands where times are missing.
fn sort_by_at(idx: &mut [usize], ats: &[Option<i64>]) {
    let mut key = i64::MIN;
    let mut keyed: Vec<(i64, usize)> = idx
        .iter()
        .map(|&i| {
            if let Some(Some(t)) = ats.get(i) {
                key = *t;
            }
            (key, i)
        })
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    for (slot, (_, i)) in idx.iter_mut().zip(keyed) {
        *slot = i;
    }
}

/// A run failed: reading input, writing output, or the store.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Input or output failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}
