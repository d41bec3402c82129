//! The explanation of a verdict: the normalised response, the receiver and
//! why, every rule tried in order with why it did or did not match, the
//! table entry or default that decided, and the decision's provenance.
//!
//! [`Policy::classify_traced`] tries *every* rule of each level in order (no
//! index), so it is also the reference the fast path is tested against.

use serde::Serialize;

use super::index::ReceiverMatch;
use super::normalize::{Response, normalize};
use super::{Decider, Verdict, VerdictJson, eval, raw_of};
use crate::event::{Event, EventType};
use crate::policy::{Atom, AtomTest, Cond, Policy, Provenance};

/// An explanation as JSON: the verdict in its one shape ([`VerdictJson`])
/// and its trace — `explain --format json` and `/v1/classify?explain=true`.
#[derive(Debug, Clone, Serialize)]
pub struct ExplanationJson<'a> {
    /// The verdict.
    pub verdict: VerdictJson<'a>,
    /// How it was reached.
    pub trace: &'a Trace,
}

impl<'a> ExplanationJson<'a> {
    /// The explanation of an event's verdict.
    pub fn new(e: &'a Event, v: &'a Verdict, trace: &'a Trace) -> ExplanationJson<'a> {
        ExplanationJson { verdict: VerdictJson::new(e, v), trace }
    }
}

/// Why each rule did or did not match.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    /// The response the rules saw.
    pub response: ResponseView,
    /// The receiver chosen, and why (or why none).
    pub receiver: ReceiverView,
    /// Each rule tried, in order, until one matched.
    pub tried: Vec<Tried>,
    /// The table entry or default that decided, when no rule did.
    pub fallback: Option<String>,
    /// Where the deciding rule's knowledge comes from.
    pub provenance: Option<ProvenanceView>,
}

/// The normalised response, for people and tools.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseView {
    /// Reply code.
    pub code: Option<u16>,
    /// Enhanced status.
    pub status: Option<String>,
    /// Nested reply code.
    pub inner_code: Option<u16>,
    /// Nested status.
    pub inner_status: Option<String>,
    /// SMTP phase.
    pub phase: Option<String>,
    /// MX host.
    pub mx: Option<String>,
    /// Recipient domain.
    pub domain: String,
    /// Normalisation flags.
    pub flags: Vec<String>,
    /// The receiver's words.
    pub text: String,
}

/// The receiver chosen.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiverView {
    /// Its name, if any.
    pub name: Option<String>,
    /// Why.
    pub why: String,
}

/// One rule tried.
#[derive(Debug, Clone, Serialize)]
pub struct Tried {
    /// The rule's id.
    pub rule: String,
    /// `file:line`.
    pub source: String,
    /// Whether it matched.
    pub matched: bool,
    /// Which condition failed, or that all held.
    pub why: String,
}

/// A rule's provenance.
#[derive(Debug, Clone, Serialize)]
pub struct ProvenanceView {
    /// Source URL or observation.
    pub source: Option<String>,
    /// Date observed.
    pub observed: Option<String>,
    /// Why it is classified so.
    pub note: Option<String>,
}

impl From<&Provenance> for ProvenanceView {
    fn from(p: &Provenance) -> Self {
        ProvenanceView { source: p.source.clone(), observed: p.observed.clone(), note: p.note.clone() }
    }
}

impl ResponseView {
    fn of(r: &Response) -> ResponseView {
        ResponseView {
            code: r.code,
            status: r.status.map(|s| s.to_string()),
            inner_code: r.inner_code,
            inner_status: r.inner_status.map(|s| s.to_string()),
            phase: r.phase.map(|p| p.to_string()),
            mx: r.mx.clone(),
            domain: r.domain.clone(),
            flags: r.flags.list().iter().map(|f| f.to_string()).collect(),
            text: r.text.clone(),
        }
    }
}

impl Policy {
    /// Classifies one event and records why: the same verdict as
    /// [`Policy::classify`], reached by trying every rule in order.
    pub fn classify_traced(&self, event: &Event) -> (Verdict<'_>, Trace) {
        let response = normalize(&raw_of(event));
        let mut trace = Trace {
            response: ResponseView::of(&response),
            receiver: ReceiverView { name: None, why: String::new() },
            tried: Vec::new(),
            fallback: None,
            provenance: None,
        };
        if event.kind != EventType::Bounce {
            trace.receiver.why = format!("a `{}` event is not a bounce: no rule applies", event.kind.as_str());
            return (self.not_a_bounce(event.kind), trace);
        }
        let chosen = self.choose_receiver(&response);
        trace.receiver = match &chosen {
            Some((i, m)) => {
                let name = self.receivers.get(*i).map(|r| r.name.clone());
                let why = match m {
                    ReceiverMatch::Domain(p) => format!("the recipient domain `{}` matches `{p}`", response.domain),
                    ReceiverMatch::Mx(p) => format!(
                        "the MX host `{}` matches `{p}` (no receiver claims the domain `{}`)",
                        response.mx.as_deref().unwrap_or(""),
                        response.domain
                    ),
                };
                ReceiverView { name, why }
            }
            None => ReceiverView {
                name: None,
                why: format!(
                    "no receiver claims the domain `{}`{}",
                    response.domain,
                    response.mx.as_deref().map(|m| format!(" or the MX host `{m}`")).unwrap_or_default()
                ),
            },
        };
        let receiver = chosen.map(|(i, _)| i);
        let found = self.literals_in(&response.folded);
        let mut phrases = Vec::new();
        self.index.phrases_in(&self.phrases, &response.folded, &found, &mut phrases);
        let cx = super::EvalCtx::new(self, &response, &found, &phrases, Some(event), receiver);
        // The rules, then (after the phrases) the `fallback` rules.
        let try_rules = |fallback: bool, trace: &mut Trace| {
            for level in receiver.into_iter().chain(std::iter::once(self.receivers.len())) {
                for (i, rule) in self.level_rules(level).iter().enumerate() {
                    if rule.fallback != fallback {
                        continue;
                    }
                    let (ok, mut why) = explain(&rule.cond, &cx);
                    let verdict = if ok { self.rule_verdict(rule, &cx, Decider::Rule(level, i)) } else { None };
                    let notes = cx.take_notes();
                    if !notes.is_empty() {
                        why = format!("{why} ({})", notes.join("; "));
                    }
                    if fallback {
                        why = format!("{why} (a fallback rule: tried after the phrases)");
                    }
                    trace.tried.push(Tried {
                        rule: rule.id.clone(),
                        source: rule.location.label.clone(),
                        matched: verdict.is_some(),
                        why,
                    });
                    if let Some(v) = verdict {
                        trace.provenance = Some((&rule.provenance).into());
                        return Some(v);
                    }
                }
            }
            None
        };
        if let Some(v) = try_rules(false, &mut trace) {
            return (v, trace);
        }
        if let Some((i, v)) = self.phrase_verdict(&cx)
            && let Some(p) = self.phrases.get(i)
        {
            trace.fallback = Some(format!(
                "no rule matched; the phrase {} of `phrases {}` ({}) is in the text{}",
                p.text,
                v.reason,
                p.location.label,
                self.other_phrases(&response, &phrases, i)
            ));
            trace.provenance = Some((&p.provenance).into());
            return (v, trace);
        }
        if let Some(v) = try_rules(true, &mut trace) {
            return (v, trace);
        }
        let v = self.fallback(&response, receiver, cx.signals);
        trace.fallback = Some(match v.decider {
            Decider::StatusTable(i) => {
                let e = self.statuses.get(i);
                format!(
                    "no rule matched; the status table entry `{}` ({}) matches status {}",
                    e.map_or("", |e| e.text.as_str()),
                    v.source.unwrap_or(""),
                    response.status.map(|s| s.to_string()).unwrap_or_default()
                )
            }
            Decider::ReplyTable(i) => {
                let e = self.replies.get(i);
                let why_not_status = match response.status {
                    Some(s) => format!("no status table entry matches {s}; "),
                    None => "there is no status; ".to_string(),
                };
                format!(
                    "no rule matched; {why_not_status}the reply table entry `{}` ({}) matches code {}",
                    e.map_or("", |e| e.text.as_str()),
                    v.source.unwrap_or(""),
                    response.code.map(|c| c.to_string()).unwrap_or_default()
                )
            }
            _ => "no rule, status entry or reply entry matched: soft undefined".to_string(),
        });
        (v, trace)
    }
}

impl Policy {
    /// Classifies as [`Policy::classify`] would if the rules, phrases and
    /// table entries whose `file:line` `masked` says were not there — how
    /// cross-validation asks what the policy would decide without the
    /// knowledge one source gave it (`crate::measure`). Tries every rule in
    /// order, like [`Policy::classify_traced`].
    pub fn classify_masked(&self, event: &Event, masked: &dyn Fn(&str) -> bool) -> Verdict<'_> {
        if event.kind != EventType::Bounce {
            return self.not_a_bounce(event.kind);
        }
        let response = normalize(&raw_of(event));
        let receiver = self.choose_receiver(&response).map(|(i, _)| i);
        let found = self.literals_in(&response.folded);
        let mut phrases = Vec::new();
        self.index.phrases_in(&self.phrases, &response.folded, &found, &mut phrases);
        phrases.retain(|&i| !masked(&self.decider_key(Decider::Phrase(i as usize)).unwrap_or_default()));
        let cx = super::EvalCtx::new(self, &response, &found, &phrases, Some(event), receiver);
        let try_rules = |fallback: bool| {
            for level in receiver.into_iter().chain(std::iter::once(self.receivers.len())) {
                for (i, rule) in self.level_rules(level).iter().enumerate() {
                    if rule.fallback != fallback || masked(&rule.id) || !eval(&rule.cond, &cx) {
                        continue;
                    }
                    if let Some(v) = self.rule_verdict(rule, &cx, Decider::Rule(level, i)) {
                        return Some(v);
                    }
                }
            }
            None
        };
        if let Some(v) = try_rules(false) {
            return v;
        }
        if let Some((_, v)) = self.phrase_verdict(&cx) {
            return v;
        }
        if let Some(v) = try_rules(true) {
            return v;
        }
        if let Some(s) = response.status
            && let Some((i, e)) = self
                .statuses
                .iter()
                .enumerate()
                .find(|(_, e)| !masked(&e.location.label) && e.key.iter().any(|p| p.matches(s)))
        {
            let d = Decider::StatusTable(i);
            return self.verdict(e.outcome, &response, receiver, None, Some(&e.location.label), d, cx.signals);
        }
        if let Some(c) = response.code
            && let Some((i, e)) =
                self.replies.iter().enumerate().find(|(_, e)| !masked(&e.location.label) && e.key.contains(c))
        {
            let d = Decider::ReplyTable(i);
            return self.verdict(e.outcome, &response, receiver, None, Some(&e.location.label), d, cx.signals);
        }
        self.fallback(&Response { status: None, code: None, ..response.clone() }, receiver, cx.signals)
    }

    /// What names a decider for measurement: a rule's id, a phrase's place
    /// and words (`policies/phrases/user_unknown.rebound:14 "no such user"`),
    /// a table entry's place.
    pub fn decider_key(&self, d: Decider) -> Option<String> {
        match d {
            Decider::Rule(level, i) => self.level_rules(level).get(i).map(|r| r.id.clone()),
            Decider::Phrase(i) => self.phrases.get(i).map(|p| format!("{} {}", p.location.label, p.text)),
            Decider::StatusTable(i) => self.statuses.get(i).map(|e| e.location.label.clone()),
            Decider::ReplyTable(i) => self.replies.get(i).map(|e| e.location.label.clone()),
            Decider::Default | Decider::NotABounce => None,
        }
    }

    /// The other phrases found, and why the chosen one won (for explain).
    fn other_phrases(&self, r: &Response, found: &[u32], chosen: usize) -> String {
        let mut others = Vec::new();
        for &i in found {
            let Some(p) = self.phrases.get(i as usize) else { continue };
            if i as usize == chosen {
                continue;
            }
            let why = match p.target {
                crate::policy::PhraseTarget::Reason(reason) if self.crosses_subject(reason, r) => {
                    "crosses the status's subject".to_string()
                }
                crate::policy::PhraseTarget::Reason(_) => "less specific".to_string(),
                crate::policy::PhraseTarget::Permanent => "says the refusal is permanent".to_string(),
                crate::policy::PhraseTarget::Temporary => "says the refusal is temporary".to_string(),
            };
            others.push(format!("{} of `{}` ({why})", p.text, p.id));
        }
        if others.is_empty() { String::new() } else { format!("; also found: {}", others.join(", ")) }
    }
}

/// Whether `c` holds, and why (the first failing test, or that all held).
fn explain(c: &Cond, cx: &super::EvalCtx) -> (bool, String) {
    let r = cx.r;
    match c {
        Cond::Atom(a) => {
            let ok = super::atom(a, cx);
            (ok, if ok { format!("`{}` holds", a.text) } else { why_not(a, r) })
        }
        Cond::All(v) => {
            for x in v {
                let (ok, why) = explain(x, cx);
                if !ok {
                    return (false, why);
                }
            }
            (true, "every condition holds".into())
        }
        Cond::Any(v) => {
            let mut reasons = Vec::new();
            for x in v {
                let (ok, why) = explain(x, cx);
                if ok {
                    return (true, why);
                }
                reasons.push(why);
            }
            (false, format!("none holds: {}", reasons.join("; ")))
        }
        Cond::Not(x) => {
            let ok = !eval(x, cx);
            (
                ok,
                if ok {
                    "the negated condition does not hold".into()
                } else {
                    format!("negated, but {}", explain(x, cx).1)
                },
            )
        }
    }
}

fn why_not(a: &Atom, r: &Response) -> String {
    let shown = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    let detail = match &a.test {
        AtomTest::Code { inner: false, .. } => format!("the code is {}", shown(r.code.map(|c| c.to_string()))),
        AtomTest::Code { inner: true, .. } => {
            format!("the nested code is {}", shown(r.inner_code.map(|c| c.to_string())))
        }
        AtomTest::Status { inner: false, .. } => format!("the status is {}", shown(r.status.map(|s| s.to_string()))),
        AtomTest::Status { inner: true, .. } => {
            format!("the nested status is {}", shown(r.inner_status.map(|s| s.to_string())))
        }
        AtomTest::Contains(..) => "the text holds none of these words".into(),
        AtomTest::Regex(_) => "the text does not match".into(),
        AtomTest::Phase(_) => format!("the phase is {}", shown(r.phase.map(|p| p.to_string()))),
        AtomTest::Mx(_) => format!("the MX host is {}", shown(r.mx.clone())),
        AtomTest::Domain(_) => format!("the domain is {}", r.domain),
        AtomTest::Script(_) => "the script did not return true".into(),
        AtomTest::Call(name, _) => format!("the host predicate `{name}` returned false"),
        AtomTest::Phrase(_) => "the text holds no phrase of that table".into(),
        AtomTest::Flag(_) => {
            let flags: Vec<String> = r.flags.list().iter().map(|f| f.to_string()).collect();
            format!("the flags are {}", if flags.is_empty() { "none".into() } else { flags.join(", ") })
        }
    };
    format!("`{}` fails: {detail}", a.text)
}

/// Renders a verdict and its trace for people.
pub fn render_text(v: &Verdict, t: &Trace, id: Option<&str>, recipient: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let r = &t.response;
    let _ = writeln!(s, "event {} → {recipient}", id.unwrap_or("(no id)"));
    let _ = writeln!(
        s,
        "  response: code {} status {} phase {} mx {}",
        r.code.map_or("-".into(), |c| c.to_string()),
        r.status.as_deref().unwrap_or("-"),
        r.phase.as_deref().unwrap_or("-"),
        r.mx.as_deref().unwrap_or("-")
    );
    if r.inner_code.is_some() || r.inner_status.is_some() {
        let _ = writeln!(
            s,
            "  nested:   code {} status {}",
            r.inner_code.map_or("-".into(), |c| c.to_string()),
            r.inner_status.as_deref().unwrap_or("-")
        );
    }
    if !r.flags.is_empty() {
        let _ = writeln!(s, "  flags:    {}", r.flags.join(", "));
    }
    let _ = writeln!(s, "  text:     {}", r.text);
    let _ = writeln!(s, "  receiver: {} ({})", t.receiver.name.as_deref().unwrap_or("none"), t.receiver.why);
    for tr in &t.tried {
        let mark = if tr.matched { "✔" } else { "✘" };
        let _ = writeln!(s, "  {mark} {} ({}): {}", tr.rule, tr.source, tr.why);
    }
    if let Some(f) = &t.fallback {
        let _ = writeln!(s, "  → {f}");
    }
    let _ = writeln!(
        s,
        "  verdict:  {} {} (scope {}) by {}",
        v.class,
        v.reason,
        v.scope,
        v.rule
            .map(|r| format!("rule `{r}`"))
            .or(v.source.map(|x| format!("table entry at {x}")))
            .unwrap_or("default".into())
    );
    if let Some(p) = &t.provenance {
        if let Some(x) = &p.source {
            let _ = writeln!(s, "  source:   {x}");
        }
        if let Some(x) = &p.observed {
            let _ = writeln!(s, "  observed: {x}");
        }
        if let Some(x) = &p.note {
            let _ = writeln!(s, "  note:     {x}");
        }
    }
    s
}
