//! The lifecycle half of `diff`: replay the events through each policy's
//! lifecycle in memory and compare, per contact, the *paths* — which
//! transitions fire, on which events — and not only the final states. A
//! threshold lowered from 4 campaigns to 3 leaves a struck-out contact in
//! `error` at the end either way, but puts it there a campaign earlier: the
//! final states agree, the paths do not.
//!
//! Transitions are matched by name and occurrence: the first `struck_out`
//! of the old path with the first of the new, the second with the second,
//! and so on. A pair on different events, or a firing on one side only, is
//! a [`Moved`].

use std::collections::{BTreeMap, HashMap};

use serde::{Serialize, Serializer};

use crate::lifecycle::engine::{Contact, parse_at};
use crate::lifecycle::runner::{Outcome, Runner};
use crate::policy::Policy;
use crate::store::{Filter, MemoryStore, Store};

/// The delivery state a contact is mailed no more in (SPEC §6).
pub const ERROR: &str = "error";

/// The same thing with the old and the new policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sides<T> {
    /// With the old policy.
    pub old: T,
    /// With the new policy.
    pub new: T,
}

/// The event a transition fired on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRef {
    /// The event's id (its own, or derived from its line).
    pub id: String,
    /// The event's `at`, when it had one.
    pub at: Option<String>,
}

impl EventRef {
    fn of(o: &Outcome) -> EventRef {
        EventRef { id: o.id.clone(), at: o.at.clone() }
    }
}

/// A transition that fires on a different event, or on one side only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moved {
    /// The transition's name.
    pub transition: String,
    /// Where it fires with the old policy (`None`: it does not).
    pub old: Option<EventRef>,
    /// Where it fires with the new policy.
    pub new: Option<EventRef>,
}

/// One side's path for a contact: the events that changed its state, in
/// the order they were applied.
#[derive(Debug, Clone)]
pub struct Path<'p> {
    /// The version of the policy that ran it.
    pub version: &'p str,
    /// The outcomes that fired a transition.
    pub transitions: Vec<Outcome<'p>>,
}

/// A path as JSON: a list of transitions in their one shape
/// ([`crate::lifecycle::runner::TransitionJson`]).
impl Serialize for Path<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.transitions.iter().map(|o| o.json(self.version)))
    }
}

/// A contact whose path or final state changes.
#[derive(Debug, Clone, Serialize)]
pub struct ContactChange<'p> {
    /// The address.
    pub address: String,
    /// The final state with the old policy.
    #[serde(serialize_with = "contact_json")]
    pub old: Contact,
    /// The final state with the new policy.
    #[serde(serialize_with = "contact_json")]
    pub new: Contact,
    /// Whether the final delivery or consent differs.
    pub final_changed: bool,
    /// The transitions that fire on different events, or on one side only.
    pub transitions_changed: Vec<Moved>,
    /// The event that first put the contact in `error` (`None`: never).
    pub first_error: Sides<Option<EventRef>>,
    /// Seconds spent in `error`, up to the latest `at` of the input for a
    /// contact still there (`None` when an event on the way has no `at`).
    pub seconds_in_error: Sides<Option<i64>>,
    /// Every transition on each side.
    pub path: Sides<Path<'p>>,
}

fn contact_json<S: Serializer>(c: &Contact, s: S) -> Result<S::Ok, S::Error> {
    c.json().serialize(s)
}

/// A replay of the events through one policy's lifecycle.
#[derive(Debug)]
pub struct Replay<'p> {
    version: &'p str,
    finals: BTreeMap<String, Contact>,
    paths: HashMap<String, Vec<Outcome<'p>>>,
    end: Option<i64>,
}

/// Runs the events of `input` through a policy's lifecycle in memory;
/// `None` when the policy has no lifecycle or the run fails.
pub fn replay<'p>(policy: &'p Policy, input: &str) -> Option<Replay<'p>> {
    let mut runner = Runner::new(policy, MemoryStore::new())?;
    let mut paths: HashMap<String, Vec<Outcome<'p>>> = HashMap::new();
    let mut end = None;
    let ran = runner.run(
        input.as_bytes(),
        |outcomes| {
            for o in outcomes {
                end = end.max(o.at.as_deref().and_then(parse_at));
                if !o.record.fired.is_empty() {
                    paths.entry(o.address.clone()).or_default().push(o.clone());
                }
            }
            Ok(())
        },
        |_, _| Ok(()),
    );
    ran.ok()?;
    for path in paths.values_mut() {
        path.sort_by_key(|o| o.seq);
    }
    let contacts = runner.into_store().list(&Filter::default()).ok()?;
    let finals = contacts.into_iter().map(|c| (c.address.clone(), c)).collect();
    Some(Replay { version: policy.version(), finals, paths, end })
}

/// The contacts whose path or final state differs, by address.
pub fn compare<'p>(mut old: Replay<'p>, mut new: Replay<'p>) -> Vec<ContactChange<'p>> {
    let mut changes = Vec::new();
    for (address, a) in old.finals {
        let Some(b) = new.finals.remove(&address) else { continue };
        let pa = old.paths.remove(&address).unwrap_or_default();
        let pb = new.paths.remove(&address).unwrap_or_default();
        let final_changed = a.delivery != b.delivery || a.consent != b.consent;
        let transitions_changed = moved(&pa, &pb);
        if !final_changed && transitions_changed.is_empty() {
            continue;
        }
        changes.push(ContactChange {
            address,
            old: a,
            new: b,
            final_changed,
            transitions_changed,
            first_error: Sides { old: first_error(&pa), new: first_error(&pb) },
            seconds_in_error: Sides { old: seconds_in_error(&pa, old.end), new: seconds_in_error(&pb, new.end) },
            path: Sides {
                old: Path { version: old.version, transitions: pa },
                new: Path { version: new.version, transitions: pb },
            },
        });
    }
    changes
}

/// Each transition firing of a path: its name and event, in order.
fn firings<'a>(path: &'a [Outcome]) -> Vec<(&'a str, EventRef)> {
    path.iter().flat_map(|o| o.record.fired.iter().map(move |t| (t.as_str(), EventRef::of(o)))).collect()
}

/// The transitions that fire on different events, or on one side only,
/// matched by name and occurrence; names in order of first firing.
pub fn moved(old: &[Outcome], new: &[Outcome]) -> Vec<Moved> {
    let (a, b) = (firings(old), firings(new));
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in a.iter().chain(&b) {
        if !names.contains(name) {
            names.push(name);
        }
    }
    let mut out = Vec::new();
    for name in names {
        let on = |f: &[(&str, EventRef)]| -> Vec<EventRef> {
            f.iter().filter(|(n, _)| *n == name).map(|(_, e)| e.clone()).collect()
        };
        let (xa, xb) = (on(&a), on(&b));
        for k in 0..xa.len().max(xb.len()) {
            let (x, y) = (xa.get(k), xb.get(k));
            if x != y {
                out.push(Moved { transition: name.to_string(), old: x.cloned(), new: y.cloned() });
            }
        }
    }
    out
}

/// The event that first put the contact in `error`.
pub fn first_error(path: &[Outcome]) -> Option<EventRef> {
    path.iter().find(|o| o.record.from.0 != ERROR && o.record.to.0 == ERROR).map(EventRef::of)
}

/// Seconds in `error` along a path; a stay that has not ended ends at `end`
/// (the latest `at` of the input). `None` when a time it needs is unknown.
pub fn seconds_in_error(path: &[Outcome], end: Option<i64>) -> Option<i64> {
    let mut total = 0;
    let mut entered: Option<Option<i64>> = None;
    for o in path {
        let at = o.at.as_deref().and_then(parse_at);
        let (was, is) = (o.record.from.0 == ERROR, o.record.to.0 == ERROR);
        if !was && is {
            entered = Some(at);
        } else if was && !is {
            total += (at? - entered.take()??).max(0);
        }
    }
    if let Some(start) = entered {
        total += (end? - start?).max(0);
    }
    Some(total)
}
