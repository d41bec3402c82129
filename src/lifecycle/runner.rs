//! Runs a stream of JSONL events through a policy's lifecycle into a
//! [`Store`], in batches.
//!
//! Per batch: parse the lines, give each event an id (its own, or one
//! derived from the line), drop events already processed earlier in the
//! batch (and, as a hint, in the store), classify the bounces (on every
//! core, outside any lock); then, inside one write transaction, drop the
//! events the store has processed (claiming the others), read the contacts
//! (or take those this runner committed, while no other writer has
//! committed since), order each contact's events by `at` (events without
//! `at` keep their place), apply them, hand the outcomes out, and commit.
//! While one batch is in its transaction, the next is read and prepared on
//! other threads (when the store has a [`Store::processed_reader`]).
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

use std::io::BufRead;
use std::ops::Range;

use rustc_hash::{FxHashMap, FxHashSet};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::engine::{Contact, Input, Record, apply, parse_at};
use super::model::Lifecycle;
use crate::eval::{Verdict, VerdictJson};
use crate::event::{Event, Line, Lines};
use crate::policy::Policy;
use crate::store::{Commit, LogEntry, ProcessedReader, Store, StoreError};

/// The most events committed together.
pub const BATCH_EVENTS: usize = 20_000;

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

/// About how much memory a runner gives to the contacts it keeps from one
/// transaction to the next (see [`crate::store::Tx::generation`]), so that
/// the next batches need not read them again: the contacts of a large list's
/// recent campaigns, with their strike history.
pub const CACHE_BYTES: usize = 32 << 20;

/// Runs events through the lifecycle into a store.
pub struct Runner<'p, S> {
    policy: &'p Policy,
    lifecycle: &'p Lifecycle,
    store: S,
    batch_events: usize,
    applied: usize,
    cache: Cache,
}

/// The contacts this runner committed, as they are in the store while no
/// other writer commits (the store's generation is unchanged); each with
/// the number of the batch that last committed it. `bytes`: their
/// estimated size.
#[derive(Default)]
struct Cache {
    contacts: FxHashMap<String, (Box<Contact>, u64)>,
    generation: Option<u64>,
    batch: u64,
    bytes: usize,
}

/// About how many bytes a contact takes in memory.
fn weight(c: &Contact) -> usize {
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let marks: usize = c.history.iter().map(|m| 96 + m.campaign.len() + text(&m.reason) + text(&m.receiver)).sum();
    320 + 2 * c.address.len() + c.delivery.len() + c.consent.len() + text(&c.last_reason) + marks
}

impl Cache {
    /// Forgets every contact.
    fn clear(&mut self) {
        self.contacts.clear();
        self.bytes = 0;
    }

    /// Takes a contact out (it goes back when its batch is committed).
    fn take(&mut self, address: &str) -> Option<Contact> {
        let (c, _) = self.contacts.remove(address)?;
        self.bytes = self.bytes.saturating_sub(weight(&c));
        Some(*c)
    }

    /// Keeps the contacts of a committed batch, dropping older ones past
    /// [`CACHE_BYTES`].
    fn keep(&mut self, contacts: Vec<Contact>) {
        self.batch += 1;
        let batch = self.batch;
        for c in contacts {
            self.bytes += weight(&c);
            if let Some((old, _)) = self.contacts.insert(c.address.clone(), (Box::new(c), batch)) {
                self.bytes = self.bytes.saturating_sub(weight(&old));
            }
        }
        // Past the bound, down to three quarters of it (so that the scan is
        // not every batch's): older batches' contacts first, then any.
        if self.bytes <= CACHE_BYTES {
            return;
        }
        let goal = CACHE_BYTES / 4 * 3;
        for older_only in [true, false] {
            if self.bytes <= goal {
                break;
            }
            let mut bytes = self.bytes;
            self.contacts.retain(|_, (c, b)| {
                let drop = bytes > goal && (!older_only || *b != batch);
                if drop {
                    bytes = bytes.saturating_sub(weight(c));
                }
                !drop
            });
            self.bytes = bytes;
        }
    }
}

/// The lines of one batch, read but not parsed: one buffer, the ranges of
/// its lines with their numbers, and the lines that could not be read.
#[derive(Default)]
struct Batch {
    text: Vec<u8>,
    lines: Vec<(usize, Range<usize>)>,
    unreadable: Vec<(usize, String)>,
}

impl Batch {
    /// Reads the next batch: up to `events` events or [`BATCH_BYTES`] of
    /// lines, blank lines skipped.
    fn fill<R: BufRead>(&mut self, input: &mut Lines<R>, events: usize) -> std::io::Result<()> {
        self.text.clear();
        self.lines.clear();
        self.unreadable.clear();
        while self.lines.len() < events && self.text.len() < BATCH_BYTES {
            let start = self.text.len();
            match input.append_line(&mut self.text)? {
                Some(Line::Text(n, _)) => {
                    // Blank as `str::trim` sees it (Unicode spaces too), as before.
                    let line = self.text.get(start..).unwrap_or(&[]);
                    if line.first() != Some(&b'{') && std::str::from_utf8(line).is_ok_and(|l| l.trim().is_empty()) {
                        self.text.truncate(start);
                    } else {
                        self.lines.push((n, start..self.text.len()));
                    }
                }
                Some(Line::Bad(n, why)) => self.unreadable.push((n, why)),
                None => break,
            }
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.unreadable.is_empty()
    }
}

/// One event of a batch: parsed, with its id and contact, and its verdict
/// once classified.
struct Item<'b, 'p> {
    line: usize,
    id: String,
    event: Event<'b>,
    at: Option<i64>,
    address: String,
    verdict: Option<Verdict<'p>>,
}

/// A batch ready for its transaction: parsed, repeats and (as far as the
/// hint knows) processed events left out, bounces classified.
struct Prepared<'b, 'p> {
    items: Vec<Item<'b, 'p>>,
    /// Lines that could not be read, then lines that could not be parsed.
    bad: Vec<(usize, String)>,
    /// Events read, bad ones included.
    read: usize,
    /// Repeats within the batch and events the hint knew.
    duplicates: usize,
}

impl<'p, S: Store> Runner<'p, S> {
    /// A runner for a policy that declares a lifecycle.
    pub fn new(policy: &'p Policy, store: S) -> Option<Runner<'p, S>> {
        Some(Runner {
            lifecycle: policy.lifecycle()?,
            policy,
            store,
            batch_events: BATCH_EVENTS,
            applied: 0,
            cache: Cache::default(),
        })
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
    /// `(line, why)`, each batch's before its outcomes.
    ///
    /// While one batch is in its transaction, the next is read, parsed and
    /// classified on other threads when the store offers a
    /// [`Store::processed_reader`] (SQLite on a file); otherwise batches are
    /// prepared one after the other.
    pub fn run(
        &mut self,
        input: impl BufRead,
        mut done: impl FnMut(&[Outcome<'p>]) -> std::io::Result<()>,
        mut bad: impl FnMut(usize, &str) -> std::io::Result<()>,
    ) -> Result<Summary, RunError> {
        let mut lines = Lines::new(input);
        let mut summary = Summary::default();
        let (mut one, mut two) = (Batch::default(), Batch::default());
        one.fill(&mut lines, self.batch_events)?;
        if one.is_empty() {
            return Ok(summary);
        }
        let store = &mut self.store;
        let mut ready = prepare(self.policy, &one, &mut |ids| store.processed(ids))?;
        let mut reader = None;
        let mut asked = false;
        // Two buffers in turn: one batch in its transaction, the next being prepared.
        loop {
            two.fill(&mut lines, self.batch_events)?;
            if two.is_empty() {
                self.apply_batch(ready, &mut summary, &mut bad, &mut done)?;
                break;
            }
            if !asked {
                reader = self.store.processed_reader();
                asked = true;
            }
            let next = self.step(ready, &two, reader.as_deref_mut(), &mut summary, &mut bad, &mut done)?;
            one.fill(&mut lines, self.batch_events)?;
            if one.is_empty() {
                self.apply_batch(next, &mut summary, &mut bad, &mut done)?;
                break;
            }
            ready = self.step(next, &one, reader.as_deref_mut(), &mut summary, &mut bad, &mut done)?;
        }
        Ok(summary)
    }

    /// Applies `ready` and prepares `next`: at once when there is a reader
    /// for the hint, else one after the other. An error in applying comes
    /// first; `ready` is committed whatever happens to `next`.
    fn step<'b>(
        &mut self,
        ready: Prepared<'_, 'p>,
        next: &'b Batch,
        reader: Option<&mut (dyn ProcessedReader + 'static)>,
        summary: &mut Summary,
        bad: &mut impl FnMut(usize, &str) -> std::io::Result<()>,
        done: &mut impl FnMut(&[Outcome<'p>]) -> std::io::Result<()>,
    ) -> Result<Prepared<'b, 'p>, RunError> {
        let policy = self.policy;
        let Some(reader) = reader else {
            self.apply_batch(ready, summary, bad, done)?;
            let store = &mut self.store;
            return prepare(policy, next, &mut |ids| store.processed(ids));
        };
        let (applied, prepared) = std::thread::scope(|s| {
            let worker = s.spawn(move || prepare(policy, next, &mut |ids| reader.processed(ids)));
            let applied = self.apply_batch(ready, summary, bad, done);
            (applied, worker.join())
        });
        applied?;
        prepared.map_err(|p| RunError::Panic(panic_message(p.as_ref())))?
    }

    /// One batch's transaction: drop the events the store has processed,
    /// read the contacts (or take them from the cache), apply each contact's
    /// events in `at` order, hand the outcomes out, commit.
    fn apply_batch(
        &mut self,
        prepared: Prepared<'_, 'p>,
        summary: &mut Summary,
        bad: &mut impl FnMut(usize, &str) -> std::io::Result<()>,
        done: &mut impl FnMut(&[Outcome<'p>]) -> std::io::Result<()>,
    ) -> Result<(), RunError> {
        let Prepared { items, bad: bad_lines, read, duplicates } = prepared;
        summary.events += read;
        summary.duplicates += duplicates;
        for (n, why) in &bad_lines {
            summary.bad += 1;
            bad(*n, why)?;
        }
        if items.is_empty() {
            return Ok(());
        }
        // Everything from here to the commit sees a state no other writer can change.
        let version = self.policy.version();
        let mut tx = self.store.write()?;
        let generation = tx.generation()?;
        if generation.is_none() || generation != self.cache.generation {
            self.cache.clear();
        }
        self.cache.generation = generation;
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        let processed = tx.claim(&ids)?;
        drop(ids);
        // Each contact's events, chained in input order: the contacts in
        // the order they first appear, `next` linking an event to its
        // contact's following one.
        const END: usize = usize::MAX;
        let mut next = vec![END; items.len()];
        let mut groups: Vec<(&str, usize, usize)> = Vec::new();
        let mut group_of: FxHashMap<&str, usize> = FxHashMap::default();
        for (i, (item, done)) in items.iter().zip(&processed).enumerate() {
            if *done {
                summary.duplicates += 1;
                continue;
            }
            match group_of.get(item.address.as_str()).and_then(|&g| groups.get_mut(g)) {
                Some((_, _, last)) => {
                    if let Some(slot) = next.get_mut(*last) {
                        *slot = i;
                    }
                    *last = i;
                }
                None => {
                    group_of.insert(&item.address, groups.len());
                    groups.push((&item.address, i, i));
                }
            }
        }
        drop(group_of);
        let mut contacts: Vec<Option<Contact>> = groups.iter().map(|(a, _, _)| self.cache.take(a)).collect();
        let missing: Vec<&str> =
            groups.iter().zip(&contacts).filter(|(_, c)| c.is_none()).map(|((a, _, _), _)| *a).collect();
        if !missing.is_empty() {
            let mut stored = tx.contacts(&missing)?.into_iter();
            for slot in contacts.iter_mut().filter(|c| c.is_none()) {
                *slot = stored.next().flatten();
            }
        }
        let mut commit = Commit::default();
        let mut results: Vec<Option<Outcome<'p>>> = (0..items.len()).map(|_| None).collect();
        let mut counts = Counts::default();
        let mut idx = Vec::new();
        for ((address, first, _), stored) in groups.iter().zip(contacts) {
            let mut contact = stored.unwrap_or_else(|| Contact::new(address, self.lifecycle));
            idx.clear();
            let mut i = *first;
            while let Some(item) = items.get(i) {
                idx.push((item.at, i));
                i = next.get(i).copied().unwrap_or(END);
            }
            sort_by_at(&mut idx);
            for &(_, i) in &idx {
                let Some(Item { line, id, event, at, verdict, .. }) = items.get(i) else { continue };
                let input = Input { event, id, verdict: verdict.as_ref(), at: *at };
                let record = apply(self.lifecycle, &mut contact, &input);
                let seq = self.applied;
                self.applied += 1;
                counts.add(verdict.as_ref(), &record);
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
                        address: (*address).to_string(),
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
        counts.into(summary);
        if generation.is_some() {
            self.cache.keep(commit.contacts);
        }
        Ok(())
    }
}

/// Verdicts by class and transitions by name, in one batch.
#[derive(Default)]
struct Counts {
    verdicts: FxHashMap<&'static str, usize>,
    transitions: FxHashMap<String, usize>,
}

impl Counts {
    fn add(&mut self, verdict: Option<&Verdict>, record: &Record) {
        if let Some(v) = verdict {
            *self.verdicts.entry(v.class.as_str()).or_default() += 1;
        }
        for t in &record.fired {
            match self.transitions.get_mut(t) {
                Some(n) => *n += 1,
                None => {
                    self.transitions.insert(t.clone(), 1);
                }
            }
        }
    }

    fn into(self, summary: &mut Summary) {
        for (k, v) in self.verdicts {
            *summary.verdicts.entry(k.to_string()).or_default() += v;
        }
        for (k, v) in self.transitions {
            *summary.transitions.entry(k).or_default() += v;
        }
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

/// How many threads parse and classify a batch.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

/// Calls `f` on every element of `items`, split over `workers()` threads when
/// there are enough of them. A worker that panics (a host predicate, say)
/// fails the whole batch: a result is never put in another element's place.
fn each<T: Send>(items: &mut [T], f: impl Fn(&mut T) + Sync) -> Result<(), RunError> {
    let workers = workers();
    if workers == 1 || items.len() < 512 {
        return std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| items.iter_mut().for_each(&f)))
            .map_err(|p| RunError::Panic(panic_message(p.as_ref())));
    }
    let size = items.len().div_ceil(workers);
    let f = &f;
    let (mine, theirs) = items.split_at_mut(size.min(items.len()));
    std::thread::scope(|s| {
        // This thread takes the first share: fewer threads come and go.
        let handles: Vec<_> = theirs.chunks_mut(size).map(|c| s.spawn(move || c.iter_mut().for_each(f))).collect();
        let here = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| mine.iter_mut().for_each(f)));
        let mut failed = here.err().map(|p| RunError::Panic(panic_message(p.as_ref())));
        for h in handles {
            if let Err(p) = h.join() {
                failed.get_or_insert(RunError::Panic(panic_message(p.as_ref())));
            }
        }
        failed.map_or(Ok(()), Err)
    })
}

/// Prepares a batch for its transaction (no lock held): parses every line,
/// gives each event its id, drops repeats within the batch and the events
/// `hint` knows as processed, and classifies the bounces — parsing and
/// classification on every core.
fn prepare<'b, 'p>(policy: &'p Policy, batch: &'b Batch, hint: &mut Hint<'_>) -> Result<Prepared<'b, 'p>, RunError> {
    type Parsed<'b, 'p> = (usize, &'b [u8], Option<Result<Item<'b, 'p>, String>>);
    let mut parsed: Vec<Parsed<'b, '_>> =
        batch.lines.iter().map(|(n, r)| (*n, batch.text.get(r.clone()).unwrap_or(&[]), None)).collect();
    each(&mut parsed, |(n, bytes, out)| *out = Some(parse_line(*n, bytes)))?;
    let mut bad = batch.unreadable.clone();
    let mut items = Vec::with_capacity(parsed.len());
    for (n, _, out) in parsed {
        match out {
            Some(Ok(item)) => items.push(item),
            Some(Err(why)) => bad.push((n, why)),
            None => {}
        }
    }
    let read = batch.unreadable.len() + batch.lines.len();
    // Repeats within the batch: the first one counts.
    let mut seen_now: FxHashSet<&str> = FxHashSet::default();
    let first: Vec<bool> = items.iter().map(|i| seen_now.insert(i.id.as_str())).collect();
    drop(seen_now);
    let mut duplicates = first.iter().filter(|f| !**f).count();
    let mut keep = first.into_iter();
    items.retain(|_| keep.next().unwrap_or(false));
    // A hint: what the store already has needs no verdict (a re-run). A
    // sample first, so that new events cost one lookup in 64.
    let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    let sample: Vec<&str> = ids.iter().step_by(HINT_SAMPLE).copied().collect();
    let known = if hint(&sample)?.contains(&true) { hint(&ids)? } else { Vec::new() };
    drop(ids);
    if !known.is_empty() {
        let mut known = known.into_iter();
        items.retain(|_| !known.next().unwrap_or(false));
        duplicates = read - bad.len() - items.len();
    }
    each(&mut items, |i| {
        i.verdict = (i.event.kind == crate::event::EventType::Bounce).then(|| policy.classify(&i.event));
    })?;
    Ok(Prepared { items, bad, read, duplicates })
}

/// Which of these ids the store has processed (a hint, outside any transaction).
type Hint<'a> = dyn FnMut(&[&str]) -> Result<Vec<bool>, StoreError> + 'a;

/// One in this many of a batch's events is looked up first for the hint;
/// all of them only when one of those was processed.
const HINT_SAMPLE: usize = 64;

/// Parses one line into an event with its id, `at` and contact.
fn parse_line<'b, 'p>(n: usize, bytes: &'b [u8]) -> Result<Item<'b, 'p>, String> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| format!("the line is not UTF-8 (byte {})", e.valid_up_to() + 1))?;
    let event = Event::parse(text)?;
    let id = event_id(&event, text);
    let at = event.at.as_deref().and_then(parse_at);
    let address = event.recipient.trim().to_lowercase();
    Ok(Item { line: n, id, event, at, address, verdict: None })
}

/// The message of a panic's payload, when it has one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string())
}

/// Orders a contact's events, given as `(at, index)` in input order, by
/// `at`; an event without `at` sorts with the one before it, so input order
/// stands where times are missing.
fn sort_by_at(idx: &mut [(Option<i64>, usize)]) {
    let mut key = i64::MIN;
    for (at, _) in idx.iter_mut() {
        if let Some(t) = at {
            key = *t;
        }
        *at = Some(key);
    }
    idx.sort_by_key(|(k, _)| *k);
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
