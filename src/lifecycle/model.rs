//! The compiled lifecycle: states, transitions, strike rules, reactivation
//! and eligibility, as the engine runs them. Built by the compiler's
//! `lifecycle` stage from the policy's `lifecycle` block.

use crate::event::EventType;
use crate::model::Class;
use crate::policy::Location;

/// A dimension of a contact's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dim {
    /// `delivery`: can mail reach the address?
    Delivery,
    /// `consent`: may we mail it?
    Consent,
}

impl Dim {
    /// Reads a dimension's name.
    pub fn parse(s: &str) -> Option<Dim> {
        match s {
            "delivery" => Some(Dim::Delivery),
            "consent" => Some(Dim::Consent),
            _ => None,
        }
    }

    /// The dimension's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dim::Delivery => "delivery",
            Dim::Consent => "consent",
        }
    }

    /// Its index (0 delivery, 1 consent).
    pub fn index(self) -> usize {
        match self {
            Dim::Delivery => 0,
            Dim::Consent => 1,
        }
    }
}

/// A set of states of one dimension, as a bit set (`*` is all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateSet(pub u64);

impl StateSet {
    /// Whether state `i` is in the set.
    pub fn has(self, i: usize) -> bool {
        i < 64 && self.0 & (1 << i) != 0
    }
}

/// The compiled lifecycle of a policy.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    /// The states of `delivery` and `consent`; the first of each is where a new contact starts.
    pub states: [Vec<String>; 2],
    /// Transitions in policy order.
    pub transitions: Vec<Transition>,
    /// Strike rules in policy order.
    pub strikes: Vec<StrikeRule>,
    /// Reactivation rules in policy order.
    pub reactivation: Vec<ReactivationRule>,
    /// Eligibility rules in policy order.
    pub eligible: Vec<EligibleRule>,
    /// Where the block is.
    pub location: Location,
    /// The script engine, when a guard is a script.
    pub runtime: Option<std::sync::Arc<crate::script::Runtime>>,
}

/// What triggers a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A bounce whose verdict has this class.
    Class(Class),
    /// An event of this type.
    Event(EventType),
    /// A strike rule tripped.
    Strikes,
}

impl Trigger {
    /// The trigger's name in policies and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Class(c) => c.as_str(),
            Trigger::Event(e) => e.as_str(),
            Trigger::Strikes => "strikes",
        }
    }
}

/// A guard of a transition.
#[derive(Debug, Clone)]
pub enum Guard {
    /// The verdict's reason is one of these.
    Reason(Vec<String>),
    /// The verdict's class is one of these.
    Class(Vec<Class>),
    /// The subscribe event's opt-in is one of these (`single`, `double`).
    Optin(Vec<String>),
    /// The verdict's receiver is one of these.
    Receiver(Vec<String>),
    /// The complaint's feedback type is one of these.
    Feedback(Vec<String>),
    /// The current state was entered by one of these triggers.
    Via(Vec<String>),
    /// The reactivation rules allow the request.
    Allowed,
    /// A script over the event, its verdict and the contact returns true.
    Script(std::sync::Arc<crate::script::Script>),
}

/// A change of one dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The dimension.
    pub dim: Dim,
    /// The states it applies from.
    pub from: StateSet,
    /// The state it goes to.
    pub to: usize,
}

/// A declared transition.
#[derive(Debug, Clone)]
pub struct Transition {
    /// Its name (`lifecycle.hard_bounce` in records is `hard_bounce`).
    pub name: String,
    /// What triggers it.
    pub trigger: Trigger,
    /// Guards, all of which must hold.
    pub guards: Vec<Guard>,
    /// Changes of state.
    pub changes: Vec<Change>,
    /// Whether it clears the strike history.
    pub reset_strikes: bool,
    /// Where it is.
    pub location: Location,
}

/// How a strike rule's threshold is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// Weighted distinct campaigns in a row since the last reset.
    Campaigns(f64),
    /// Weighted strikes within a time window (seconds) ending at the latest.
    Within(f64, i64),
    /// Weighted strikes in a row since the last reset, spanning more than a duration (seconds).
    Over(f64, i64),
}

/// A strike rule.
#[derive(Debug, Clone)]
pub struct StrikeRule {
    /// Its name.
    pub name: String,
    /// The verdict classes that count.
    pub count: Vec<Class>,
    /// The threshold.
    pub threshold: Threshold,
    /// Weights by reason name (default 1).
    pub weights: Vec<(String, f64)>,
    /// Only verdicts of this receiver count, when set.
    pub receiver: Option<String>,
    /// Events that start a new run.
    pub reset_on: Vec<EventType>,
    /// Where it is.
    pub location: Location,
}

impl StrikeRule {
    /// The weight of a reason.
    pub fn weight(&self, reason: &str) -> f64 {
        self.weights.iter().find(|(r, _)| r == reason).map_or(1.0, |(_, w)| *w)
    }
}

/// A test of a reactivation rule.
#[derive(Debug, Clone, PartialEq)]
pub enum ReactTest {
    /// The reason the contact went to error.
    Reason(Vec<String>),
    /// The trigger that put it in error.
    Via(Vec<String>),
    /// At least this many seconds since.
    After(i64),
}

/// A reactivation rule.
#[derive(Debug, Clone)]
pub struct ReactivationRule {
    /// Allow or refuse.
    pub allow: bool,
    /// Its name.
    pub name: String,
    /// Its tests.
    pub tests: Vec<ReactTest>,
    /// Where it is.
    pub location: Location,
}

/// An eligibility rule.
#[derive(Debug, Clone)]
pub struct EligibleRule {
    /// The kind of message (`marketing`, `confirmation`, `transactional`).
    pub kind: String,
    /// The states required, per dimension.
    pub tests: Vec<(Dim, StateSet)>,
    /// Where it is.
    pub location: Location,
}
