//! Runs a stream of JSONL events through a policy's lifecycle into a
//! [`Store`], in batches.
//!
//! Per batch: parse the lines, give each event an id (its own, or one
//! derived from the line), drop events already processed earlier in the
//! batch (and, as a hint, in the store), classify the bounces (on every
//! core, outside any lock); then, inside one write transaction, drop the
//! events the store has processed, read the contacts, order each contact's
//! events by `at` (events without `at` keep their place), apply them, hand
//! the outcomes out, and commit.
//!
//! So the store is exactly-once per event id, even with other writers on the
//! same database (they wait for the transaction; none reads a state another
//! is replacing), and the outcomes are at-least-once: a batch is committed
//! only after its outcomes were handed out (a failure to hand them out rolls
//! it back), so a crash between the two makes a re-run process the batch and
//! hand the same outcomes out again — never lose them.
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

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::engine::{Contact, Input, Record, apply, parse_at};
use super::model::Lifecycle;
use crate::eval::{Verdict, VerdictJson};
use crate::event::{Event, Line, Lines};
use crate::policy::Policy;
use crate::store::{Commit, LogEntry, Store, StoreError};

/// The most events committed together.
pub const BATCH_EVENTS: usize = 50_000;

/// The most bytes of event lines held in one batch (a batch ends at
/// whichever of this and [`BATCH_EVENTS`] comes first), so that memory stays
/// flat however long the lines are.
pub const BATCH_BYTES: usize = 32 << 20;

/// What one event did, ready to print.
#[derive(Debug, Clone)]
pub struct Outcome<'p> {
    /// The input line number.
    pub line: usize,
    /// Its place in the order the runner applied the events, counted over
    /// the whole run: outcomes are handed out in input order, but each
    /// contact's events are applied in `at` order.
    pub seq: usize,
    /// The event's id.
    pub id: String,
    /// The event's `at`, as given.
    pub at: Option<String>,
    /// The contact.
    pub address: String,
    /// The verdict, for bounces.
    pub verdict: Option<Verdict<'p>>,
    /// What happened to the contact.
    pub record: Record,
}

impl Outcome<'_> {
    /// The transition as JSON, for the policy of `version`.
    pub fn json<'a>(&'a self, version: &'a str) -> TransitionJson<'a> {
        let r = &self.record;
        TransitionJson {
            schema: crate::model::SCHEMA,
            id: &self.id,
            recipient: &self.address,
            at: self.at.as_deref(),
            verdict: self.verdict.as_ref().map(|v| VerdictJson::of(Some(&self.id), &self.address, v)),
            from: StateJson { delivery: &r.from.0, consent: &r.from.1 },
            to: StateJson { delivery: &r.to.0, consent: &r.to.1 },
            strikes: r.strikes,
            rule: r.fired.first().map(String::as_str),
            version,
            transitions: (r.fired.len() > 1).then_some(r.fired.as_slice()),
            strike_rule: r.strike_rule.as_deref(),
            reactivation: r
                .reactivation
                .as_ref()
                .map(|(allowed, rule)| ReactivationJson { allowed: *allowed, rule: rule.as_deref() }),
        }
    }
}

/// A transition as JSON (SPEC §7): the one shape of what an event did to a
/// contact wherever one is handed out — `run`, `/v1/events`, `diff`'s paths.
#[derive(Debug, Clone, Serialize)]
pub struct TransitionJson<'a> {
    schema: u32,
    id: &'a str,
    recipient: &'a str,
    at: Option<&'a str>,
    verdict: Option<VerdictJson<'a>>,
    from: StateJson<'a>,
    to: StateJson<'a>,
    strikes: u32,
    rule: Option<&'a str>,
    version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    transitions: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strike_rule: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reactivation: Option<ReactivationJson<'a>>,
}

/// A contact's two states, in a transition.
#[derive(Debug, Clone, Serialize)]
struct StateJson<'a> {
    delivery: &'a str,
    consent: &'a str,
}

/// The answer to a reactivation request, in a transition.
#[derive(Debug, Clone, Serialize)]
struct ReactivationJson<'a> {
    allowed: bool,
    rule: Option<&'a str>,
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
    batch_events: usize,
    applied: usize,
}

impl<'p, S: Store> Runner<'p, S> {
    /// A runner for a policy that declares a lifecycle.
    pub fn new(policy: &'p Policy, store: S) -> Option<Runner<'p, S>> {
        Some(Runner { lifecycle: policy.lifecycle()?, policy, store, batch_events: BATCH_EVENTS, applied: 0 })
    }

    /// Commits at most `events` events per transaction (default
    /// [`BATCH_EVENTS`]; at least 1). Smaller batches hold the write lock for
    /// less time and hand outcomes out sooner; larger ones run faster.
    pub fn batch_events(mut self, events: usize) -> Self {
        self.batch_events = events.max(1);
        self
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
            let mut batch: Vec<(usize, String)> = Vec::new();
            let mut bytes = 0;
            while batch.len() < self.batch_events && bytes < BATCH_BYTES {
                match lines.next_line(&mut buf)? {
                    Some(Line::Text(_, t)) if t.trim().is_empty() => {}
                    Some(Line::Text(n, t)) => {
                        bytes += t.len();
                        batch.push((n, t));
                    }
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
            self.batch(&batch, &mut summary, &mut bad, &mut done)?;
        }
        Ok(summary)
    }

    fn batch(
        &mut self,
        batch: &[(usize, String)],
        summary: &mut Summary,
        bad: &mut impl FnMut(usize, &str) -> std::io::Result<()>,
        done: &mut impl FnMut(&[Outcome<'p>]) -> std::io::Result<()>,
    ) -> Result<(), RunError> {
        // Parse and give ids; drop repeats within the batch.
        let mut events: Vec<(usize, String, Event)> = Vec::with_capacity(batch.len());
        let mut seen_now = std::collections::HashSet::new();
        for (n, text) in batch {
            summary.events += 1;
            match Event::parse(text) {
                Ok(e) => {
                    let id = event_id(&e, text);
                    if seen_now.insert(id.clone()) {
                        events.push((*n, id, e));
                    } else {
                        summary.duplicates += 1;
                    }
                }
                Err(why) => {
                    summary.bad += 1;
                    bad(*n, &why)?;
                }
            }
        }
        // A hint: what the store already has needs no verdict (a re-run).
        let ids: Vec<&str> = events.iter().map(|(_, id, _)| id.as_str()).collect();
        let hint = self.store.processed(&ids)?;
        let mut keep = Vec::with_capacity(events.len());
        for (event, before) in events.into_iter().zip(hint) {
            if before {
                summary.duplicates += 1;
            } else {
                keep.push(event);
            }
        }
        let verdicts = classify_all(self.policy, &keep)?;
        let ats: Vec<Option<i64>> = keep.iter().map(|(_, _, e)| e.at.as_deref().and_then(parse_at)).collect();
        // Everything from here to the commit sees a state no other writer can change.
        let version = self.policy.version();
        let mut tx = self.store.write()?;
        let ids: Vec<&str> = keep.iter().map(|(_, id, _)| id.as_str()).collect();
        let processed = tx.processed(&ids)?;
        // Each contact's events in `at` order; events without `at` keep their place.
        let mut by_contact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for (i, ((_, _, e), done)) in keep.iter().zip(&processed).enumerate() {
            if *done {
                summary.duplicates += 1;
                continue;
            }
            let a = e.recipient.trim().to_lowercase();
            match by_contact.get_mut(&a) {
                Some(v) => v.push(i),
                None => {
                    order.push(a.clone());
                    by_contact.insert(a, vec![i]);
                }
            }
        }
        let addresses: Vec<&str> = order.iter().map(String::as_str).collect();
        let stored = tx.contacts(&addresses)?;
        let mut commit = Commit::default();
        let mut results: Vec<Option<Outcome<'p>>> = (0..keep.len()).map(|_| None).collect();
        let mut counts = Summary::default();
        for (address, stored) in order.iter().zip(stored) {
            let mut contact = stored.unwrap_or_else(|| Contact::new(address, self.lifecycle));
            let mut idx = by_contact.remove(address).unwrap_or_default();
            sort_by_at(&mut idx, &ats);
            for i in idx {
                let (Some((line, id, event)), Some(verdict)) = (keep.get(i), verdicts.get(i)) else { continue };
                let at = ats.get(i).copied().flatten();
                let input = Input { event, id, verdict: verdict.as_ref(), at };
                let record = apply(self.lifecycle, &mut contact, &input);
                let seq = self.applied;
                self.applied += 1;
                if let Some(v) = verdict {
                    *counts.verdicts.entry(v.class.to_string()).or_default() += 1;
                }
                for t in &record.fired {
                    *counts.transitions.entry(t.clone()).or_default() += 1;
                }
                commit.events.push(id.clone());
                if notable(&record, verdict.as_ref()) {
                    commit.log.push(log_entry(version, id, address, event, verdict.as_ref(), &record));
                }
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(Outcome {
                        line: *line,
                        seq,
                        id: id.clone(),
                        at: event.at.as_deref().map(str::to_string),
                        address: address.clone(),
                        verdict: verdict.clone(),
                        record,
                    });
                }
            }
            commit.contacts.push(contact);
        }
        // Hand the outcomes out, then commit: a failure to hand them out
        // (a closed stdout) rolls the batch back, so nothing is durable that
        // was not reported.
        let outcomes: Vec<Outcome<'p>> = results.into_iter().flatten().collect();
        done(&outcomes)?;
        tx.commit(&commit)?;
        summary.processed += commit.events.len();
        for (k, v) in counts.verdicts {
            *summary.verdicts.entry(k).or_default() += v;
        }
        for (k, v) in counts.transitions {
            *summary.transitions.entry(k).or_default() += v;
        }
        Ok(())
    }
}

/// The transition-log line of one event.
fn log_entry(
    version: &str,
    id: &str,
    address: &str,
    event: &Event,
    verdict: Option<&Verdict>,
    record: &Record,
) -> LogEntry {
    LogEntry {
        event: id.to_string(),
        address: address.to_string(),
        kind: event.kind.as_str().to_string(),
        at: event.at.as_deref().map(str::to_string),
        from: record.from.clone(),
        to: record.to.clone(),
        rule: (!record.fired.is_empty()).then(|| record.fired.join(",")),
        strike_rule: record.strike_rule.clone(),
        verdict: verdict.map(|v| (v.class.to_string(), v.reason.to_string())),
        verdict_rule: verdict.and_then(|v| v.rule.map(str::to_string)),
        reactivation: record.reactivation.clone(),
        strikes: record.strikes,
        version: version.to_string(),
    }
}

/// Whether an event goes into the transition log: it changed a state,
/// tripped a strike rule, answered a reactivation, or was a counted bounce.
fn notable(record: &Record, verdict: Option<&Verdict>) -> bool {
    record.from != record.to
        || record.strike_rule.is_some()
        || record.reactivation.is_some()
        || verdict.is_some_and(|v| v.class.strikes())
}

/// Classifies the bounces of a batch, split over the machine's cores. A
/// worker that panics (a host predicate, say) fails the whole batch: a
/// verdict is never attached to another event's place.
fn classify_all<'p>(
    policy: &'p Policy,
    events: &[(usize, String, Event)],
) -> Result<Vec<Option<Verdict<'p>>>, RunError> {
    let one = |e: &Event| (e.kind == crate::event::EventType::Bounce).then(|| policy.classify(e));
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if workers == 1 || events.len() < 512 {
        return std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            events.iter().map(|(_, _, e)| one(e)).collect()
        }))
        .map_err(|p| RunError::Panic(panic_message(p.as_ref())));
    }
    let size = events.len().div_ceil(workers);
    std::thread::scope(|s| {
        let handles: Vec<_> = events
            .chunks(size)
            .map(|c| s.spawn(move || c.iter().map(|(_, _, e)| one(e)).collect::<Vec<_>>()))
            .collect();
        let mut all = Vec::with_capacity(events.len());
        for h in handles {
            all.extend(h.join().map_err(|p| RunError::Panic(panic_message(p.as_ref())))?);
        }
        Ok(all)
    })
}

/// The message of a panic's payload, when it has one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string())
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
    /// Classification panicked (a host function, say); the batch was not applied.
    #[error("classification panicked, the batch was not applied: {0}")]
    Panic(String),
}
