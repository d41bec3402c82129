//! The dry-run evaluator: the policy's own examples and scenarios, and
//! corpus cases, run against the compiled policy, with rule coverage.
//!
//! Nothing here prints; `rebound test` renders a [`Report`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::eval::explain::{Trace, render_text};
use crate::event::{Event, EventType};
use crate::lifecycle::engine::{Contact, Input, apply, parse_at};
use crate::model::{Class, Scope};
use crate::policy::{Location, Policy};

/// An example of the policy: an answer and the verdict it must get.
#[derive(Debug, Clone)]
pub struct Example {
    /// Its name (`rule gmail.user_unknown #1` for examples inside rules).
    pub name: String,
    /// Where it is.
    pub location: Location,
    /// The answer, as a receiver sends it.
    pub answer: String,
    /// The recipient.
    pub recipient: String,
    /// The MX host, when given.
    pub mx: Option<String>,
    /// The phase, when given.
    pub phase: Option<String>,
    /// What the report said happened (`failed`, `delayed`), when given.
    pub action: Option<String>,
    /// The code, when given apart from the answer.
    pub code: Option<u16>,
    /// The status, when given apart from the answer.
    pub status: Option<String>,
    /// What it must get.
    pub expect: Expect,
}

/// What an example or case must get; `None` parts are not checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Expect {
    /// The class.
    pub class: Option<Class>,
    /// The reason.
    pub reason: Option<String>,
    /// The scope.
    pub scope: Option<Scope>,
    /// The receiver (`Some(None)`: no receiver).
    pub receiver: Option<Option<String>>,
    /// The id of the rule that must decide.
    pub rule: Option<String>,
}

/// A lifecycle example: events for one contact and its expected final state.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name.
    pub name: String,
    /// Where it is.
    pub location: Location,
    /// The contact.
    pub recipient: String,
    /// The events, in order.
    pub events: Vec<ScenarioEvent>,
    /// Expected `delivery`, `consent` and `strikes` (those given).
    pub expect: Vec<(String, String)>,
}

/// One event of a scenario.
#[derive(Debug, Clone, Default)]
pub struct ScenarioEvent {
    /// Its type.
    pub kind: EventType,
    /// Its campaign.
    pub campaign: Option<String>,
    /// Its time.
    pub at: Option<String>,
    /// For a bounce, the answer.
    pub answer: Option<String>,
    /// For a subscribe, the opt-in.
    pub optin: Option<String>,
    /// For a complaint, the feedback type.
    pub feedback: Option<String>,
    /// The MX host.
    pub mx: Option<String>,
}

/// A case from a corpus file (the format of `responses.jsonl`).
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    /// Its id.
    #[serde(default)]
    pub id: Option<String>,
    /// The recipient.
    pub recipient: String,
    /// The MX host.
    #[serde(default)]
    pub mx: Option<String>,
    /// The code.
    #[serde(default)]
    pub code: Option<u16>,
    /// The status.
    #[serde(default)]
    pub status: Option<String>,
    /// The text.
    #[serde(default)]
    pub text: String,
    /// What it must get.
    pub expect: Expect,
}

/// The result of one example, scenario or case.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// `example`, `scenario` or `case`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// Where it is (`file:line`, or `FILE.jsonl:line` for cases).
    pub source: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was expected, in words.
    pub expected: String,
    /// What happened, in words.
    pub actual: String,
    /// The explain trace, for failed examples and cases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// It did not pass, but it belongs to a layer below the top one: a later
    /// layer changed what it decides (reported, not a failure).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub changed: bool,
}

/// Rules hit by at least one example or case.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// Rules in the policy.
    pub rules: usize,
    /// Rules that decided at least one example or case.
    pub hit: usize,
    /// The percentage hit.
    pub percent: f64,
    /// The rules never hit, with their location.
    pub never_hit: Vec<(String, String)>,
}

/// Everything `rebound test` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Each example, scenario and case.
    pub outcomes: Vec<Outcome>,
    /// How many passed.
    pub passed: usize,
    /// How many failed.
    pub failed: usize,
    /// How many examples and scenarios of lower layers a later layer changed.
    pub changed: usize,
    /// Rule coverage.
    pub coverage: Coverage,
}

fn describe(
    class: impl std::fmt::Display,
    reason: &str,
    scope: impl std::fmt::Display,
    receiver: Option<&str>,
    rule: Option<&str>,
) -> String {
    format!("{class} {reason} scope {scope} receiver {} rule {}", receiver.unwrap_or("none"), rule.unwrap_or("none"))
}

fn expected_words(e: &Expect) -> String {
    let mut parts = Vec::new();
    if let Some(c) = e.class {
        parts.push(c.to_string());
    }
    if let Some(r) = &e.reason {
        parts.push(r.clone());
    }
    if let Some(s) = e.scope {
        parts.push(format!("scope {s}"));
    }
    if let Some(r) = &e.receiver {
        parts.push(format!("receiver {}", r.as_deref().unwrap_or("none")));
    }
    if let Some(r) = &e.rule {
        parts.push(format!("rule {r}"));
    }
    parts.join(" ")
}

/// Classifies one answer and checks it against an expectation: whether it
/// passed, the verdict in words, and the explain trace when it failed.
fn check(
    policy: &Policy,
    event: &Event,
    expect: &Expect,
    hit: &mut BTreeSet<String>,
) -> (bool, String, Option<String>) {
    let (v, trace): (_, Trace) = policy.classify_traced(event);
    if let Some(r) = v.rule {
        hit.insert(r.to_string());
    }
    let ok = expect.class.is_none_or(|c| c == v.class)
        && expect.reason.as_deref().is_none_or(|r| r == v.reason)
        && expect.scope.is_none_or(|s| s == v.scope)
        && expect.receiver.as_ref().is_none_or(|r| r.as_deref() == v.receiver)
        && expect.rule.as_deref().is_none_or(|r| Some(r) == v.rule);
    let actual = describe(v.class, v.reason, v.scope, v.receiver, v.rule);
    let rendered = (!ok).then(|| render_text(&v, &trace, event.id.as_deref(), &event.recipient));
    (ok, actual, rendered)
}

/// Runs the policy's examples and scenarios, then `cases` (name, line, case).
pub fn run(policy: &Policy, cases: &[(String, usize, Case)]) -> Report {
    let mut hit = BTreeSet::new();
    let mut outcomes = Vec::new();
    for ex in &policy.examples {
        let mut event = Event::bounce(&ex.recipient, ex.code, ex.status.as_deref(), &ex.answer);
        event.mx = ex.mx.as_deref().map(Into::into);
        event.phase = ex.phase.as_deref().map(Into::into);
        event.action = ex.action.as_deref().map(Into::into);
        let (passed, actual, trace) = check(policy, &event, &ex.expect, &mut hit);
        let expected = expected_words(&ex.expect);
        outcomes.push(Outcome {
            kind: "example",
            name: ex.name.clone(),
            source: ex.location.label.clone(),
            passed,
            expected,
            actual,
            trace,
            changed: !passed && below_top(policy, ex.location.span.file),
        });
    }
    for sc in &policy.scenarios {
        let mut o = scenario(policy, sc, &mut hit);
        o.changed = !o.passed && below_top(policy, sc.location.span.file);
        outcomes.push(o);
    }
    for (file, line, case) in cases {
        let mut event = Event::bounce(&case.recipient, case.code, case.status.as_deref(), &case.text);
        event.mx = case.mx.as_deref().map(Into::into);
        event.id = case.id.as_deref().map(Into::into);
        let (passed, actual, trace) = check(policy, &event, &case.expect, &mut hit);
        let name = case.id.clone().unwrap_or_else(|| format!("line {line}"));
        let expected = expected_words(&case.expect);
        outcomes.push(Outcome {
            kind: "case",
            name,
            source: format!("{file}:{line}"),
            passed,
            expected,
            actual,
            trace,
            changed: false,
        });
    }
    let rules: Vec<_> = policy.all_rules().collect();
    let never_hit: Vec<(String, String)> =
        rules.iter().filter(|r| !hit.contains(&r.id)).map(|r| (r.id.clone(), r.location.label.clone())).collect();
    let hit_count = rules.len() - never_hit.len();
    let percent = if rules.is_empty() { 100.0 } else { 100.0 * hit_count as f64 / rules.len() as f64 };
    let failed = outcomes.iter().filter(|o| !o.passed && !o.changed).count();
    let changed = outcomes.iter().filter(|o| o.changed).count();
    Report {
        passed: outcomes.len() - failed - changed,
        failed,
        changed,
        outcomes,
        coverage: Coverage { rules: rules.len(), hit: hit_count, percent, never_hit },
    }
}

/// Whether a file belongs to a layer below the top one of a layered policy.
fn below_top(policy: &Policy, file: usize) -> bool {
    let layers = policy.sources().layers().len();
    layers > 1 && policy.sources().file(file).is_some_and(|f| f.layer + 1 < layers)
}

fn scenario(policy: &Policy, sc: &Scenario, hit: &mut BTreeSet<String>) -> Outcome {
    let source = sc.location.label.clone();
    let Some(lc) = policy.lifecycle() else {
        return Outcome {
            kind: "scenario",
            name: sc.name.clone(),
            source,
            passed: false,
            expected: "a lifecycle".into(),
            actual: "the policy declares no lifecycle".into(),
            trace: None,
            changed: false,
        };
    };
    let mut contact = Contact::new(&sc.recipient, lc);
    let mut steps = Vec::new();
    for (i, e) in sc.events.iter().enumerate() {
        let id = format!("{}#{}", sc.name, i + 1);
        let mut event = Event::bounce(&sc.recipient, None, None, e.answer.as_deref().unwrap_or(""));
        event.kind = e.kind;
        event.id = Some(id.as_str().into());
        event.campaign = e.campaign.as_deref().map(Into::into);
        event.at = e.at.as_deref().map(Into::into);
        event.optin = e.optin.as_deref().map(Into::into);
        event.feedback_type = e.feedback.as_deref().map(Into::into);
        event.mx = e.mx.as_deref().map(Into::into);
        let verdict = (e.kind == EventType::Bounce).then(|| policy.classify(&event));
        if let Some(r) = verdict.as_ref().and_then(|v| v.rule) {
            hit.insert(r.to_string());
        }
        let at = e.at.as_deref().and_then(parse_at);
        let record = apply(lc, &mut contact, &Input { event: &event, id: &id, verdict: verdict.as_ref(), at });
        let v = verdict.map(|v| format!(" [{} {}]", v.class, v.reason)).unwrap_or_default();
        steps.push(format!(
            "{} {}{v}: {}/{} -> {}/{}",
            i + 1,
            e.kind.as_str(),
            record.from.0,
            record.from.1,
            record.to.0,
            record.to.1
        ));
    }
    let value = |key: &str| match key {
        "delivery" => contact.delivery.clone(),
        "consent" => contact.consent.clone(),
        _ => contact.strikes.to_string(),
    };
    let passed = sc.expect.iter().all(|(k, v)| value(k) == *v);
    let expected = sc.expect.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(" ");
    let actual = sc.expect.iter().map(|(k, _)| format!("{k} {}", value(k))).collect::<Vec<_>>().join(" ");
    Outcome {
        kind: "scenario",
        name: sc.name.clone(),
        source,
        passed,
        expected,
        actual,
        trace: (!passed).then(|| steps.join("\n")),
        changed: false,
    }
}

/// Reads a corpus file: one case per line; bad lines come back as errors.
pub fn read_cases(name: &str, text: &str) -> (Vec<(String, usize, Case)>, Vec<String>) {
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Case>(line) {
            Ok(c) => cases.push((name.to_string(), i + 1, c)),
            Err(e) => errors.push(format!("{name}:{}: {e}", i + 1)),
        }
    }
    (cases, errors)
}
