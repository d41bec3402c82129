//! The pure core of the lifecycle: `(contact, event, verdict, lifecycle) →
//! (contact, record)`. Deterministic, no clock and no I/O: time comes from
//! the events' `at`, so replaying the same events gives the same states.

use serde::{Deserialize, Serialize};

use super::model::*;
use crate::eval::Verdict;
use crate::event::{Event, EventType};
use crate::model::Class;

/// The most strike-history marks kept per contact; older ones are dropped.
pub const MAX_HISTORY: usize = 200;

/// A contact's lifecycle state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The address, lowercase.
    pub address: String,
    /// The `delivery` state.
    pub delivery: String,
    /// The `consent` state.
    pub consent: String,
    /// Strikes in the current run: distinct campaigns with a counted verdict since the last reset.
    pub strikes: u32,
    /// The reason of the last bounce.
    pub last_reason: Option<String>,
    /// The `at` of the last event.
    pub updated: Option<String>,
    /// When `delivery` entered its current state.
    pub since: Option<String>,
    /// What put `delivery` in its current state (`hard`, `strikes`, `reactivate`, …).
    pub via: Option<String>,
    /// The reason it went there (a verdict reason or an event type).
    pub error_reason: Option<String>,
    /// The strike history, oldest first.
    pub history: Vec<Mark>,
}

/// A contact as JSON (SPEC §7, with where its delivery state came from): the
/// one shape of a contact wherever one is handed out — `contacts get`,
/// `contacts list`, `GET /v1/contacts/…`, `diff`. The strike history stays
/// inside.
#[derive(Debug, Clone, Serialize)]
pub struct ContactJson<'a> {
    schema: u32,
    address: &'a str,
    delivery: &'a str,
    consent: &'a str,
    strikes: u32,
    last_reason: Option<&'a str>,
    updated: Option<&'a str>,
    since: Option<&'a str>,
    via: Option<&'a str>,
    error_reason: Option<&'a str>,
}

/// One entry of the strike history: a counted verdict, or a reset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// The campaign (or `event:ID` for events without one).
    pub campaign: String,
    /// Unix seconds, when the event had `at`.
    pub at: Option<i64>,
    /// The verdict class, for a strike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<Class>,
    /// The verdict reason, for a strike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The receiver, for a strike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    /// The event that reset the run, for a reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<EventType>,
}

impl Contact {
    /// A contact first seen now: the first state of each dimension.
    pub fn new(address: &str, lc: &Lifecycle) -> Contact {
        Contact {
            address: address.to_string(),
            delivery: lc.states[0].first().cloned().unwrap_or_default(),
            consent: lc.states[1].first().cloned().unwrap_or_default(),
            strikes: 0,
            last_reason: None,
            updated: None,
            since: None,
            via: None,
            error_reason: None,
            history: Vec::new(),
        }
    }

    /// The contact as JSON.
    pub fn json(&self) -> ContactJson<'_> {
        ContactJson {
            schema: crate::model::SCHEMA,
            address: &self.address,
            delivery: &self.delivery,
            consent: &self.consent,
            strikes: self.strikes,
            last_reason: self.last_reason.as_deref(),
            updated: self.updated.as_deref(),
            since: self.since.as_deref(),
            via: self.via.as_deref(),
            error_reason: self.error_reason.as_deref(),
        }
    }

    fn state(&self, dim: Dim) -> &str {
        match dim {
            Dim::Delivery => &self.delivery,
            Dim::Consent => &self.consent,
        }
    }

    fn set_state(&mut self, dim: Dim, s: String) {
        match dim {
            Dim::Delivery => self.delivery = s,
            Dim::Consent => self.consent = s,
        }
    }
}

/// One event as the engine sees it.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The event.
    pub event: &'a Event<'a>,
    /// Its id (given, or derived from the line).
    pub id: &'a str,
    /// Its verdict, for a bounce.
    pub verdict: Option<&'a Verdict<'a>>,
    /// Its `at` in Unix seconds, when valid.
    pub at: Option<i64>,
}

/// What an event did to a contact.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// The state before: delivery, consent.
    pub from: (String, String),
    /// The state after.
    pub to: (String, String),
    /// The transitions that fired, in order.
    pub fired: Vec<String>,
    /// The strike rule that tripped, if one did.
    pub strike_rule: Option<String>,
    /// For a reactivation request: allowed or not, and the rule that decided.
    pub reactivation: Option<(bool, Option<String>)>,
    /// Strikes after the event.
    pub strikes: u32,
}

/// Applies one event to a contact.
pub fn apply(lc: &Lifecycle, c: &mut Contact, input: &Input) -> Record {
    let from = (c.delivery.clone(), c.consent.clone());
    let e = input.event;
    let campaign = e.campaign.as_deref().map_or_else(|| format!("event:{}", input.id), str::to_string);
    let mut tripped = None;
    if let Some(v) = input.verdict {
        c.last_reason = Some(v.reason.to_string());
        if lc.strikes.iter().any(|r| r.count.contains(&v.class)) {
            c.history.push(Mark {
                campaign: campaign.clone(),
                at: input.at,
                class: Some(v.class),
                reason: Some(v.reason.to_string()),
                receiver: v.receiver.map(str::to_string),
                reset: None,
            });
            tripped = lc.strikes.iter().find(|r| trips(lc, r, &c.history)).map(|r| r.name.clone());
        }
    }
    if lc.strikes.iter().any(|r| r.reset_on.contains(&e.kind)) && e.kind != EventType::Bounce {
        c.history.push(Mark { campaign, at: input.at, class: None, reason: None, receiver: None, reset: Some(e.kind) });
    }
    let reactivation = (e.kind == EventType::Reactivate).then(|| reactivate(lc, c, input.at));
    let allowed = reactivation.as_ref().is_some_and(|(ok, _)| *ok);
    let mut fired = Vec::new();
    let mut changed = [false; 2];
    for t in &lc.transitions {
        let triggered = match t.trigger {
            Trigger::Class(k) => e.kind == EventType::Bounce && input.verdict.is_some_and(|v| v.class == k),
            Trigger::Event(k) => e.kind == k,
            Trigger::Strikes => tripped.is_some(),
        };
        if !triggered || !t.guards.iter().all(|g| guard(lc, g, c, input, allowed)) {
            continue;
        }
        let mut any = false;
        for ch in &t.changes {
            let d = ch.dim.index();
            let states = &lc.states[d];
            let cur = states.iter().position(|s| s == c.state(ch.dim));
            if changed[d] || !cur.is_some_and(|i| ch.from.has(i)) {
                continue;
            }
            let Some(to) = states.get(ch.to) else { continue };
            if ch.dim == Dim::Delivery && c.delivery != *to {
                c.since = e.at.as_deref().map(str::to_string);
                c.via = Some(t.trigger.as_str().to_string());
                c.error_reason = Some(input.verdict.map_or(e.kind.as_str(), |v| v.reason).to_string());
            }
            c.set_state(ch.dim, to.clone());
            changed[d] = true;
            any = true;
        }
        if any {
            fired.push(t.name.clone());
            if t.reset_strikes {
                c.history.clear();
            }
        }
    }
    if c.history.len() > MAX_HISTORY {
        let drop = c.history.len() - MAX_HISTORY;
        c.history.drain(..drop);
    }
    c.strikes = run_length(lc, &c.history);
    if let Some(at) = e.at.as_deref() {
        c.updated = Some(at.to_string());
    }
    Record {
        from,
        to: (c.delivery.clone(), c.consent.clone()),
        fired,
        strike_rule: tripped,
        reactivation,
        strikes: c.strikes,
    }
}

fn guard(lc: &Lifecycle, g: &Guard, c: &Contact, input: &Input, allowed: bool) -> bool {
    let e = input.event;
    let v = input.verdict;
    match g {
        Guard::Reason(names) => v.is_some_and(|v| names.iter().any(|n| n == v.reason)),
        Guard::Class(classes) => v.is_some_and(|v| classes.contains(&v.class)),
        Guard::Optin(kinds) => kinds.iter().any(|k| k == e.optin.as_deref().unwrap_or("single")),
        Guard::Receiver(names) => v.and_then(|v| v.receiver).is_some_and(|r| names.iter().any(|n| n == r)),
        Guard::Feedback(kinds) => e.feedback_type.as_deref().is_some_and(|f| kinds.iter().any(|k| k == f)),
        Guard::Via(triggers) => c.via.as_deref().is_some_and(|x| triggers.iter().any(|t| t == x)),
        Guard::Allowed => allowed,
        Guard::Script(script) => {
            let Some(rt) = lc.runtime.as_deref() else { return false };
            rt.eval_bool(script, &std::sync::Arc::new(script_context(c, input))).unwrap_or(false)
        }
    }
}

/// What a lifecycle script sees: the event, its verdict and the contact.
pub fn script_context(c: &Contact, input: &Input) -> crate::script::ScriptContext {
    let e = input.event;
    let v = input.verdict;
    crate::script::ScriptContext {
        code: v.and_then(|v| v.code).or(e.code),
        status: v.and_then(|v| v.status).map(|s| s.to_string()),
        text: e.text.as_deref().unwrap_or("").to_string(),
        folded: crate::compile::patterns::fold_text(e.text.as_deref().unwrap_or("")),
        receiver: v.and_then(|v| v.receiver).map(str::to_string),
        mx: e.mx.as_deref().map(str::to_string),
        phase: e.phase().map(|p| p.to_string()),
        recipient: e.recipient.to_string(),
        domain: e.domain().to_lowercase(),
        event_json: e.raw.map(std::sync::Arc::from),
        contact: Some(crate::script::ContactView {
            delivery: c.delivery.clone(),
            consent: c.consent.clone(),
            strikes: c.strikes,
            history: serde_json::to_value(&c.history).unwrap_or_default(),
        }),
        ..crate::script::ScriptContext::default()
    }
}

/// Whether a mark counts for a rule: its class, its receiver, and no
/// receiver-specific rule taking it over from a generic one.
fn counts(lc: &Lifecycle, rule: &StrikeRule, m: &Mark) -> bool {
    let Some(class) = m.class else { return false };
    if !rule.count.contains(&class) {
        return false;
    }
    match &rule.receiver {
        Some(r) => m.receiver.as_deref() == Some(r.as_str()),
        None => !lc.strikes.iter().any(|o| {
            o.receiver.is_some() && o.receiver.as_deref() == m.receiver.as_deref() && o.count.contains(&class)
        }),
    }
}

/// The marks of the current run for a rule: after its last reset.
fn current_run<'h>(rule: &StrikeRule, history: &'h [Mark]) -> &'h [Mark] {
    let start = history.iter().rposition(|m| m.reset.is_some_and(|e| rule.reset_on.contains(&e))).map_or(0, |i| i + 1);
    history.get(start..).unwrap_or(&[])
}

/// Whether a strike rule's threshold is reached.
pub fn trips(lc: &Lifecycle, rule: &StrikeRule, history: &[Mark]) -> bool {
    let marks: Vec<&Mark> = current_run(rule, history).iter().filter(|m| counts(lc, rule, m)).collect();
    let weight = |m: &Mark| rule.weight(m.reason.as_deref().unwrap_or(""));
    match rule.threshold {
        Threshold::Campaigns(n) => {
            let mut campaigns: Vec<(&str, f64)> = Vec::new();
            for m in &marks {
                match campaigns.iter_mut().find(|(c, _)| *c == m.campaign) {
                    Some((_, w)) => *w = w.max(weight(m)),
                    None => campaigns.push((&m.campaign, weight(m))),
                }
            }
            campaigns.iter().map(|(_, w)| w).sum::<f64>() >= n
        }
        Threshold::Within(n, window) => {
            let Some(latest) = marks.iter().filter_map(|m| m.at).max() else { return false };
            marks.iter().filter(|m| m.at.is_some_and(|t| t >= latest - window)).map(|m| weight(m)).sum::<f64>() >= n
        }
        Threshold::Over(n, span) => {
            let times: Vec<i64> = marks.iter().filter_map(|m| m.at).collect();
            let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) else { return false };
            marks.iter().map(|m| weight(m)).sum::<f64>() >= n && last - first > span
        }
    }
}

/// Distinct campaigns with a strike since the last reset of any kind.
fn run_length(lc: &Lifecycle, history: &[Mark]) -> u32 {
    let start = history.iter().rposition(|m| m.reset.is_some()).map_or(0, |i| i + 1);
    let mut campaigns: Vec<&str> = Vec::new();
    for m in history.get(start..).unwrap_or(&[]) {
        let counted = m.class.is_some_and(|c| lc.strikes.iter().any(|r| r.count.contains(&c)));
        if counted && !campaigns.contains(&m.campaign.as_str()) {
            campaigns.push(&m.campaign);
        }
    }
    campaigns.len() as u32
}

/// Whether a reactivation request is allowed, and by which rule.
pub fn reactivate(lc: &Lifecycle, c: &Contact, now: Option<i64>) -> (bool, Option<String>) {
    let since = c.since.as_deref().and_then(parse_at);
    for r in &lc.reactivation {
        let holds = r.tests.iter().all(|t| match t {
            ReactTest::Reason(names) => c.error_reason.as_deref().is_some_and(|x| names.iter().any(|n| n == x)),
            ReactTest::Via(vias) => c.via.as_deref().is_some_and(|x| vias.iter().any(|n| n == x)),
            ReactTest::After(secs) => matches!((now, since), (Some(n), Some(s)) if n - s >= *secs),
        });
        if holds {
            return (r.allow, Some(r.name.clone()));
        }
    }
    (false, None)
}

/// The `eligible` rule for a kind of message, or an error that names the
/// kinds the policy declares (with a "did you mean" when one is close).
pub fn eligible_kind<'l>(lc: &'l Lifecycle, kind: &str) -> Result<&'l EligibleRule, String> {
    if let Some(rule) = lc.eligible.iter().find(|r| r.kind == kind) {
        return Ok(rule);
    }
    let kinds = || lc.eligible.iter().map(|r| r.kind.as_str());
    let declared = kinds().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    let hint = match crate::compile::suggest(kind, kinds()) {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    };
    Err(format!("the policy declares no `eligible {kind}` rule{hint} (declared: {declared})"))
}

/// May this contact receive this kind of message now, and which rule says so.
pub fn eligible<'l>(lc: &'l Lifecycle, c: &Contact, kind: &str) -> (bool, Option<&'l EligibleRule>) {
    let Some(rule) = lc.eligible.iter().find(|r| r.kind == kind) else { return (false, None) };
    let ok = rule
        .tests
        .iter()
        .all(|(dim, set)| lc.states[dim.index()].iter().position(|s| s == c.state(*dim)).is_some_and(|i| set.has(i)));
    (ok, Some(rule))
}

/// Parses an RFC 3339 time to Unix seconds.
pub fn parse_at(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}
