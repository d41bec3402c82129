//! What a policy change would do to real traffic: classify the same events
//! with two policies, count and sample the verdicts that change, and replay
//! the events through each policy's lifecycle to find the contacts whose
//! path — which transitions fire, on which events — or final state would
//! differ ([`paths`]). Builds a report; prints nothing.
//!
//! ```
//! let policy = rebound::load::compile_shipped().policy.expect("the shipped policy compiles");
//! let events = r#"{"id":"e1","recipient":"pat@gmail.com","code":550,"status":"5.1.1"}"#;
//! let report = rebound::diff::diff(&policy, &policy, events);
//! assert_eq!((report.events, report.changed, report.contacts_changed), (1, 0, 0));
//! ```

pub mod paths;

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::eval::{Verdict, VerdictJson};
use crate::event::{Event, EventType};
use crate::policy::Policy;
pub use paths::{ContactChange, EventRef, Moved, Path, Sides};

/// How many samples are kept for each kind of change.
pub const SAMPLES_PER_CHANGE: usize = 3;

/// An event whose verdict changes.
#[derive(Debug, Clone)]
pub struct Sample<'p> {
    /// The input line.
    pub line: usize,
    /// The event's id, if it has one.
    pub id: Option<String>,
    /// The recipient.
    pub recipient: String,
    /// The answer's text.
    pub text: String,
    /// The verdict of the old policy.
    pub old: Verdict<'p>,
    /// The verdict of the new policy.
    pub new: Verdict<'p>,
}

/// A sample as JSON: `line`, the two verdicts in their one shape
/// ([`VerdictJson`]), and the text.
impl Serialize for Sample<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            line: usize,
            old: VerdictJson<'a>,
            new: VerdictJson<'a>,
            text: &'a str,
        }
        let (id, recipient) = (self.id.as_deref(), self.recipient.as_str());
        Out {
            line: self.line,
            old: VerdictJson::of(id, recipient, &self.old),
            new: VerdictJson::of(id, recipient, &self.new),
            text: &self.text,
        }
        .serialize(s)
    }
}

/// How many changed verdicts go from one value to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    /// The value with the old policy.
    pub old: String,
    /// The value with the new policy.
    pub new: String,
    /// How many verdicts.
    pub count: usize,
}

/// What a change does.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport<'p> {
    /// The version of this report's shape and of the objects in it
    /// ([`crate::model::SCHEMA`]).
    pub schema: u32,
    /// Events read.
    pub events: usize,
    /// Events whose verdict changed (class, reason, scope or rule).
    pub changed: usize,
    /// Contacts whose path (which transitions fire, on which events) or
    /// final state differs.
    pub contacts_changed: usize,
    /// Of those, the contacts whose final state differs.
    pub final_states_changed: usize,
    /// Changed verdicts by receiver (`(none)` when neither side chose one).
    pub by_receiver: BTreeMap<String, usize>,
    /// Changed verdicts by old and new class.
    pub by_class: Vec<Count>,
    /// Changed verdicts by old and new reason.
    pub by_reason: Vec<Count>,
    /// Examples of each change, at most [`SAMPLES_PER_CHANGE`] of a kind.
    pub samples: Vec<Sample<'p>>,
    /// The contacts whose path or final state differs, by address.
    pub contacts: Vec<ContactChange<'p>>,
    /// Lines that could not be read.
    pub bad_lines: usize,
}

/// Compares two policies on the events of `input` (JSONL).
pub fn diff<'p>(old: &'p Policy, new: &'p Policy, input: &str) -> DiffReport<'p> {
    let mut r = DiffReport {
        schema: crate::model::SCHEMA,
        events: 0,
        changed: 0,
        contacts_changed: 0,
        final_states_changed: 0,
        by_receiver: BTreeMap::new(),
        by_class: Vec::new(),
        by_reason: Vec::new(),
        samples: Vec::new(),
        contacts: Vec::new(),
        bad_lines: 0,
    };
    let mut by_class: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut by_reason: BTreeMap<(String, String), usize> = BTreeMap::new();
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
        *by_class.entry((a.class.to_string(), b.class.to_string())).or_default() += 1;
        *by_reason.entry((a.reason.to_string(), b.reason.to_string())).or_default() += 1;
        let kind = format!(
            "{} {} {} {:?} / {} {} {} {:?}",
            a.class, a.reason, a.scope, a.rule, b.class, b.reason, b.scope, b.rule
        );
        let seen = samples_of.entry(kind).or_default();
        if *seen < SAMPLES_PER_CHANGE {
            *seen += 1;
            r.samples.push(Sample {
                line: n + 1,
                id: e.id.as_deref().map(str::to_string),
                recipient: e.recipient.to_string(),
                text: e.text.as_deref().unwrap_or("").to_string(),
                old: a,
                new: b,
            });
        }
    }
    let counts = |m: BTreeMap<(String, String), usize>| {
        m.into_iter().map(|((old, new), count)| Count { old, new, count }).collect::<Vec<_>>()
    };
    r.by_class = counts(by_class);
    r.by_reason = counts(by_reason);
    if let (Some(a), Some(b)) = (paths::replay(old, input), paths::replay(new, input)) {
        r.contacts = paths::compare(a, b);
        r.contacts_changed = r.contacts.len();
        r.final_states_changed = r.contacts.iter().filter(|c| c.final_changed).count();
    }
    r
}
