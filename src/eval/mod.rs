//! Compiled policy + event → verdict, and the trace that explains it.
//!
//! [`Policy::classify`] is the hot path: normalise the answer
//! ([`normalize`]), choose the receiver, find the policy's literals in the
//! text with one automaton pass, then try only the candidate rules of the
//! receiver and of the global level, in policy order, then the two code
//! tables (lookup arrays), then `soft undefined`. [`Policy::classify_traced`]
//! reaches the same verdict by trying every rule in order and records why
//! each did or did not match. Neither prints nor allocates more than the
//! verdict needs.

pub mod explain;
pub mod index;
pub mod normalize;

use std::cell::RefCell;

use crate::compile::patterns::Status;
use crate::event::{Event, EventType};
use crate::model::{Class, Phase, Scope};
use crate::policy::{Atom, AtomTest, CompiledRule, Cond, Outcome, Policy};
use index::ReceiverMatch;
use normalize::{Raw, Response, normalize};

/// What decided a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    /// A rule: the level (receiver index, or the number of receivers for the
    /// global rules) and the rule's index in it.
    Rule(usize, usize),
    /// An entry of the status table.
    StatusTable(usize),
    /// An entry of the reply table.
    ReplyTable(usize),
    /// A phrase of a phrase table (its index in the policy's phrases).
    Phrase(usize),
    /// Nothing matched: `soft undefined`.
    Default,
    /// The event is not a bounce.
    NotABounce,
}

/// The decision about one event (SPEC §7). Borrows names from the policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict<'p> {
    /// What the bounce means for the contact.
    pub class: Class,
    /// What happened.
    pub reason: &'p str,
    /// Whose fault it is.
    pub scope: Scope,
    /// The receiver chosen, if any.
    pub receiver: Option<&'p str>,
    /// The id of the rule that decided, if a rule did.
    pub rule: Option<&'p str>,
    /// `file:line` of the rule or table entry that decided.
    pub source: Option<&'p str>,
    /// The normalised reply code.
    pub code: Option<u16>,
    /// The normalised enhanced status code.
    pub status: Option<Status>,
    /// The version of the policy that decided.
    pub version: &'p str,
    /// What decided.
    pub decider: Decider,
}

/// A verdict as JSON (SPEC §7): the one shape of a verdict wherever one is
/// handed out — `classify`, `explain`, the `verdict` of a transition,
/// `/v1/classify`, `diff`'s samples.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerdictJson<'a> {
    schema: u32,
    id: Option<&'a str>,
    recipient: &'a str,
    class: &'a str,
    reason: &'a str,
    scope: &'a str,
    receiver: Option<&'a str>,
    rule: Option<&'a str>,
    source: Option<&'a str>,
    code: Option<u16>,
    status: Option<Status>,
    version: &'a str,
}

impl<'a> VerdictJson<'a> {
    /// The JSON of an event's verdict.
    pub fn new(e: &'a Event, v: &'a Verdict) -> VerdictJson<'a> {
        VerdictJson::of(e.id.as_deref(), &e.recipient, v)
    }

    /// The JSON of a verdict, given the event's id and recipient.
    pub fn of(id: Option<&'a str>, recipient: &'a str, v: &'a Verdict) -> VerdictJson<'a> {
        VerdictJson {
            schema: crate::model::SCHEMA,
            id,
            recipient,
            class: v.class.as_str(),
            reason: v.reason,
            scope: v.scope.as_str(),
            receiver: v.receiver,
            rule: v.rule,
            source: v.source,
            code: v.code,
            status: v.status,
            version: v.version,
        }
    }

    /// Appends the verdict as one JSON object, byte for byte what
    /// `serde_json::to_writer` writes, without serde's per-field machinery:
    /// the CLI writes one per event.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        fn string(out: &mut Vec<u8>, s: &str) {
            if !needs_escape(s.as_bytes()) {
                out.push(b'"');
                out.extend_from_slice(s.as_bytes());
                out.push(b'"');
            } else {
                // Escapes as serde_json does; writing to a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, s);
            }
        }
        /// Whether a byte is `"`, `\\` or a control character, eight bytes
        /// at a time (the classic has-zero-byte test on each condition).
        fn needs_escape(b: &[u8]) -> bool {
            const LO: u64 = 0x0101_0101_0101_0101;
            const HI: u64 = 0x8080_8080_8080_8080;
            let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
            let mut chunks = b.chunks_exact(8);
            for c in &mut chunks {
                let x = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                // A byte under 0x20: x - 0x20 borrows into a byte whose top bit x lacks.
                let below = x.wrapping_sub(LO * 0x20) & !x & HI;
                if below | zero(x ^ (LO * u64::from(b'"'))) | zero(x ^ (LO * u64::from(b'\\'))) != 0 {
                    return true;
                }
            }
            chunks.remainder().iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\')
        }
        fn opt(out: &mut Vec<u8>, s: Option<&str>) {
            match s {
                Some(s) => string(out, s),
                None => out.extend_from_slice(b"null"),
            }
        }
        fn number(out: &mut Vec<u8>, n: u32) {
            let mut digits = [0u8; 10];
            let mut i = digits.len();
            let mut n = n;
            loop {
                i -= 1;
                digits[i] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            out.extend_from_slice(&digits[i..]);
        }
        out.extend_from_slice(b"{\"schema\":");
        number(out, self.schema);
        out.extend_from_slice(b",\"id\":");
        opt(out, self.id);
        out.extend_from_slice(b",\"recipient\":");
        string(out, self.recipient);
        out.extend_from_slice(b",\"class\":");
        string(out, self.class);
        out.extend_from_slice(b",\"reason\":");
        string(out, self.reason);
        out.extend_from_slice(b",\"scope\":");
        string(out, self.scope);
        out.extend_from_slice(b",\"receiver\":");
        opt(out, self.receiver);
        out.extend_from_slice(b",\"rule\":");
        opt(out, self.rule);
        out.extend_from_slice(b",\"source\":");
        opt(out, self.source);
        out.extend_from_slice(b",\"code\":");
        match self.code {
            Some(c) => number(out, u32::from(c)),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"status\":");
        match self.status {
            Some(st) => {
                out.push(b'"');
                number(out, u32::from(st.class));
                out.push(b'.');
                number(out, u32::from(st.subject));
                out.push(b'.');
                number(out, u32::from(st.detail));
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"version\":");
        string(out, self.version);
        out.push(b'}');
    }
}

/// Per-thread scratch space, so classification does not allocate lists.
#[derive(Default)]
struct Scratch {
    found: Vec<u32>,
    candidates: Vec<u32>,
    phrases: Vec<u32>,
}

/// What the words of permanence say about a response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals {
    /// A phrase of `phrases permanent` is in the text.
    pub permanent: bool,
    /// A phrase of `phrases temporary` is in the text.
    pub temporary: bool,
    /// The report is final but the answer temporary (flag
    /// `final_temporary`): the sending MTA gave up retrying.
    pub gave_up: bool,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The raw answer of an event.
pub fn raw_of<'a>(event: &'a Event<'a>) -> Raw<'a> {
    Raw {
        code: event.code,
        status: event.status.as_deref(),
        text: event.text.as_deref().unwrap_or(""),
        mx: event.mx.as_deref(),
        phase: event.phase(),
        domain: event.domain(),
        action: event.action.as_deref(),
    }
}

impl Policy {
    /// Classifies one event.
    ///
    /// ```
    /// use rebound::event::Event;
    /// let policy = rebound::load::compile_shipped().policy.unwrap();
    /// let event = Event::bounce("alice@gmail.com", Some(550), Some("5.1.1"),
    ///     "The email account that you tried to reach does not exist.");
    /// let verdict = policy.classify(&event);
    /// assert_eq!(verdict.class, rebound::Class::Hard);
    /// assert_eq!(verdict.reason, "user_unknown");
    /// assert_eq!(verdict.receiver, Some("gmail"));
    /// ```
    pub fn classify(&self, event: &Event) -> Verdict<'_> {
        if event.kind != EventType::Bounce {
            return self.not_a_bounce(event.kind);
        }
        let response = normalize(&raw_of(event));
        self.decide_event(&response, Some(event))
    }

    /// Classifies an already normalised response.
    pub fn decide(&self, r: &Response) -> Verdict<'_> {
        self.decide_event(r, None)
    }

    fn decide_event(&self, r: &Response, event: Option<&Event>) -> Verdict<'_> {
        let receiver = self.index.receiver(&r.domain, r.mx.as_deref()).map(|i| i as usize);
        SCRATCH.with(|cell| {
            let mut guard = cell.try_borrow_mut();
            let mut fresh = Scratch::default();
            let scratch = match guard.as_deref_mut() {
                Ok(s) => s,
                Err(_) => &mut fresh,
            };
            self.index.find_literals(&r.folded, &mut scratch.found);
            let levels = receiver.into_iter().chain(std::iter::once(self.receivers.len()));
            let Scratch { found, candidates, phrases } = scratch;
            self.index.phrases_in(&self.phrases, &r.folded, found, phrases);
            let cx = EvalCtx::new(self, r, found, phrases, event, receiver);
            for level in levels {
                self.index.candidates(level, r.code, r.status, found, candidates);
                let rules = self.level_rules(level);
                for &i in candidates.iter() {
                    let Some(rule) = rules.get(i as usize) else { continue };
                    if !rule.fallback
                        && eval(&rule.cond, &cx)
                        && let Some(v) = self.rule_verdict(rule, &cx, Decider::Rule(level, i as usize))
                    {
                        return v;
                    }
                }
            }
            if let Some((_, v)) = self.phrase_verdict(&cx) {
                return v;
            }
            if self.has_fallback_rules {
                let levels = receiver.into_iter().chain(std::iter::once(self.receivers.len()));
                for level in levels {
                    self.index.candidates(level, r.code, r.status, found, candidates);
                    let rules = self.level_rules(level);
                    for &i in candidates.iter() {
                        let Some(rule) = rules.get(i as usize) else { continue };
                        if rule.fallback
                            && eval(&rule.cond, &cx)
                            && let Some(v) = self.rule_verdict(rule, &cx, Decider::Rule(level, i as usize))
                        {
                            return v;
                        }
                    }
                }
            }
            self.fallback(r, receiver, cx.signals)
        })
    }

    /// The best phrase of a reason in the text, among those whose reason
    /// the status's subject allows: the most specific (the most characters
    /// to find), then the first in policy order.
    pub(crate) fn best_phrase(&self, r: &Response, phrases: &[u32]) -> Option<usize> {
        use crate::policy::PhraseTarget;
        let found = || phrases.iter().filter_map(|&i| self.phrases.get(i as usize).map(|p| (i as usize, p)));
        // A table whose `except` words are in the text does not count.
        let vetoed: Vec<PhraseTarget> = found().filter(|(_, p)| p.veto).map(|(_, p)| p.target).collect();
        let mut best: Option<(usize, (bool, usize))> = None;
        for (i, p) in found() {
            let PhraseTarget::Reason(reason) = p.target else { continue };
            if p.veto || vetoed.contains(&p.target) || self.crosses_subject(reason, r) {
                continue;
            }
            // Not weak before weak, then the most characters.
            let rank = (!p.weak, p.weight());
            if best.is_none_or(|(_, b)| rank > b) {
                best = Some((i, rank));
            }
        }
        best.map(|(i, _)| i)
    }

    /// The verdict of the most specific phrase in the text that names a
    /// reason, with the phrase's index.
    pub(crate) fn phrase_verdict(&self, cx: &EvalCtx) -> Option<(usize, Verdict<'_>)> {
        let i = self.best_phrase(cx.r, cx.phrases)?;
        let p = self.phrases.get(i)?;
        let crate::policy::PhraseTarget::Reason(reason) = p.target else { return None };
        let o = Outcome { class: None, reason, scope: None };
        Some((
            i,
            self.verdict(o, cx.r, cx.receiver, Some(&p.id), Some(&p.location.label), Decider::Phrase(i), cx.signals),
        ))
    }

    /// Whether a reason chosen by words would cross the subject a specific
    /// status fixes (`5.2.1` is about the mailbox: not `user_unknown`).
    pub(crate) fn crosses_subject(&self, reason: crate::policy::ReasonId, r: &Response) -> bool {
        let Some(subject) = fixed_subject(r) else { return false };
        self.reasons.get(reason).is_some_and(|info| info.subjects & (1 << subject) == 0)
    }

    pub(crate) fn level_rules(&self, level: usize) -> &[CompiledRule] {
        match self.receivers.get(level) {
            Some(rec) => &rec.rules,
            None => &self.global,
        }
    }

    /// The tables, then `soft undefined`.
    pub(crate) fn fallback(&self, r: &Response, receiver: Option<usize>, sig: Signals) -> Verdict<'_> {
        if let Some(s) = r.status
            && let Some(e) =
                self.index.status_entry(s, &self.statuses).and_then(|i| self.statuses.get(i).map(|e| (i, e)))
        {
            let d = Decider::StatusTable(e.0);
            return self.verdict(e.1.outcome, r, receiver, None, Some(&e.1.location.label), d, sig);
        }
        if let Some(c) = r.code
            && let Some(e) = self.index.reply_entry(c).and_then(|i| self.replies.get(i).map(|e| (i, e)))
        {
            let d = Decider::ReplyTable(e.0);
            return self.verdict(e.1.outcome, r, receiver, None, Some(&e.1.location.label), d, sig);
        }
        let reason = self.reason_ids.get("undefined").copied().unwrap_or(0);
        let outcome = Outcome { class: Some(Class::Soft), reason, scope: Some(Scope::Unknown) };
        self.verdict(outcome, r, receiver, None, None, Decider::Default, sig)
    }

    /// The verdict of a rule whose condition holds: its outcome, or what its
    /// outcome script returns (`None` when the script declines or fails).
    pub(crate) fn rule_verdict<'p>(&'p self, rule: &'p CompiledRule, cx: &EvalCtx, d: Decider) -> Option<Verdict<'p>> {
        let Some(script) = &rule.then_script else {
            if gated(rule) && self.crosses_subject(rule.outcome.reason, cx.r) {
                cx.note(self.crossing_note(rule.outcome.reason, cx.r));
                return None;
            }
            return Some(self.verdict_of_rule(rule, cx.r, cx.receiver, d, cx.signals));
        };
        let rt = self.runtime.as_deref()?;
        let text = match rt.eval_outcome(script, &cx.script_context()) {
            Ok(Some(t)) => t,
            Ok(None) => {
                cx.note("the outcome script returned no outcome".into());
                return None;
            }
            Err(e) => {
                cx.note(format!("the outcome script failed: {e}"));
                return None;
            }
        };
        match self.outcome_from_text(&text) {
            Ok(o) if gated(rule) && self.crosses_subject(o.reason, cx.r) => {
                cx.note(self.crossing_note(o.reason, cx.r));
                None
            }
            Ok(o) => {
                Some(self.verdict(o, cx.r, cx.receiver, Some(&rule.id), Some(&rule.location.label), d, cx.signals))
            }
            Err(e) => {
                rt.count_error();
                cx.note(format!("the outcome script returned `{text}`: {e}"));
                None
            }
        }
    }

    /// Why a rule whose condition holds does not decide: its reason
    /// crosses the subject of the status (for explain).
    pub(crate) fn crossing_note(&self, reason: crate::policy::ReasonId, r: &Response) -> String {
        let name = self.reasons.get(reason).map_or("?", |i| i.name.as_str());
        let subject = r.status.map_or(0, |s| s.subject);
        format!(
            "but `{name}` is not a reason of subject x.{subject} ({}), which the status {} fixes, and the rule names no status",
            subject_name(subject),
            r.status.map(|s| s.to_string()).unwrap_or_default()
        )
    }

    fn verdict_of_rule<'p>(
        &'p self,
        rule: &'p CompiledRule,
        r: &Response,
        receiver: Option<usize>,
        d: Decider,
        sig: Signals,
    ) -> Verdict<'p> {
        self.verdict(rule.outcome, r, receiver, Some(&rule.id), Some(&rule.location.label), d, sig)
    }

    #[expect(clippy::too_many_arguments, reason = "one constructor for every kind of decider")]
    fn verdict<'p>(
        &'p self,
        o: Outcome,
        r: &Response,
        receiver: Option<usize>,
        rule: Option<&'p str>,
        source: Option<&'p str>,
        decider: Decider,
        sig: Signals,
    ) -> Verdict<'p> {
        let info = self.reasons.get(o.reason);
        Verdict {
            class: class_of(o.class, info, r.reply_class(), sig),
            reason: info.map_or("undefined", |i| i.name.as_str()),
            scope: o.scope.unwrap_or(info.map_or(Scope::Unknown, |i| i.scope)),
            receiver: receiver.and_then(|i| self.receivers.get(i)).map(|rec| rec.name.as_str()),
            rule,
            source,
            code: r.code,
            status: r.status,
            version: &self.version,
            decider,
        }
    }

    pub(crate) fn not_a_bounce(&self, kind: EventType) -> Verdict<'_> {
        let reason = match kind {
            EventType::Delivered => "delivered",
            EventType::Complaint => "feedback",
            EventType::AutoReply => "vacation",
            _ => "undefined",
        };
        Verdict {
            class: Class::Ignore,
            reason: self.reason(reason).map_or("undefined", |i| i.name.as_str()),
            scope: Scope::Unknown,
            receiver: None,
            rule: None,
            source: None,
            code: None,
            status: None,
            version: &self.version,
            decider: Decider::NotABounce,
        }
    }

    /// The receiver chosen for a response, and how.
    pub fn choose_receiver(&self, r: &Response) -> Option<(usize, ReceiverMatch)> {
        self.index.receiver_why(&r.domain, r.mx.as_deref()).map(|(i, m)| (i as usize, m))
    }

    /// Finds the policy's literals in a folded text (for traces and tests).
    pub(crate) fn literals_in(&self, folded: &str) -> Vec<u32> {
        let mut found = Vec::new();
        self.index.find_literals(folded, &mut found);
        found
    }
}

/// Whether a rule may not cross a status's subject: a global rule that
/// names no status. A receiver's rules speak for that receiver's own use of
/// codes, and a rule that names a status says what it means under it.
fn gated(rule: &CompiledRule) -> bool {
    rule.receiver.is_none() && !rule.names_status
}

/// The class of a verdict, computed (docs/knowledge.md): the outcome's
/// class when the rule states one, else the reason's (its `on 4xx` class on
/// a 4xx); then the reply class has the last word — a 4xx is never `hard`
/// (the receiver will try again: a strike, not an error), and a `block` the
/// reason implies is `defer` on a 4xx unless the receiver says the refusal
/// is permanent. On a 5xx, words that say the condition is temporary (and
/// none that say it is permanent) turn an implied `block` into `defer` and
/// an implied `hard` into `soft`. When the sending MTA gave up retrying a
/// temporary failure (a final report of a 4xx), a `defer` of a reason on
/// the recipient's side (not the sender's, nor the message's) is `soft`:
/// the message will not arrive, and the recipient's side kept it out.
pub fn class_of(
    stated: Option<Class>,
    info: Option<&crate::model::ReasonInfo>,
    reply: Option<u8>,
    sig: Signals,
) -> Class {
    let temporary = reply == Some(4);
    let implied = info.map_or(Class::Soft, |i| match (temporary, i.class_on_4xx) {
        (true, Some(c)) => c,
        _ => i.class,
    });
    let class = stated.unwrap_or(implied);
    let says_temporary = sig.temporary && !sig.permanent;
    let recipient_side = info
        .is_none_or(|i| matches!(i.scope, Scope::Recipient | Scope::RecipientDomain | Scope::Network | Scope::Unknown));
    let class = match (temporary, class) {
        (true, Class::Hard) => Class::Soft,
        (true, Class::Block) if stated.is_none() && !sig.permanent => Class::Defer,
        // A 5xx whose words say the condition may pass.
        (false, Class::Block) if stated.is_none() && says_temporary => Class::Defer,
        (false, Class::Hard) if stated.is_none() && says_temporary => Class::Soft,
        _ => class,
    };
    if sig.gave_up && class == Class::Defer && recipient_side { Class::Soft } else { class }
}

/// The subject a response's status fixes, if it fixes one: a status whose
/// subject is 1 to 7 and whose detail is not 0 (`x.y.0` is "other or
/// undefined" status of that subject: it names none), unless the reply code
/// says otherwise — RFC 5321 gives 551 and 553 to the address and 552 to
/// storage, so a `552 5.1.1 … over quota` is not about the address.
pub fn fixed_subject(r: &Response) -> Option<u16> {
    let s = r.status?;
    if !(1..8).contains(&s.subject) || s.detail == 0 {
        return None;
    }
    let agrees = match r.code {
        Some(551 | 553) => s.subject == 1,
        Some(552) => matches!(s.subject, 2 | 3),
        _ => true,
    };
    agrees.then_some(s.subject)
}

/// The RFC 3463 name of a status subject.
pub fn subject_name(subject: u16) -> &'static str {
    match subject {
        1 => "addressing",
        2 => "mailbox",
        3 => "mail system",
        4 => "network and routing",
        5 => "mail delivery protocol",
        6 => "message content",
        7 => "security or policy",
        _ => "other",
    }
}

/// What conditions are evaluated against: the response, the literals found
/// in it, and — built only when a script or a host predicate asks — the
/// script context.
pub(crate) struct EvalCtx<'a> {
    pub(crate) r: &'a Response,
    pub(crate) found: &'a [u32],
    /// The phrases found in the text (indices into the policy's phrases).
    pub(crate) phrases: &'a [u32],
    /// What the words of permanence say.
    pub(crate) signals: Signals,
    pub(crate) receiver: Option<usize>,
    policy: &'a Policy,
    event: Option<&'a Event<'a>>,
    script: std::cell::OnceCell<std::sync::Arc<crate::script::ScriptContext>>,
    notes: RefCell<Vec<String>>,
}

impl<'a> EvalCtx<'a> {
    pub(crate) fn new(
        policy: &'a Policy,
        r: &'a Response,
        found: &'a [u32],
        phrases: &'a [u32],
        event: Option<&'a Event<'a>>,
        receiver: Option<usize>,
    ) -> EvalCtx<'a> {
        let mut signals = Signals { gave_up: r.flags.has(crate::model::Flag::FinalTemporary), ..Signals::default() };
        for &i in phrases {
            match policy.phrases.get(i as usize).map(|p| p.target) {
                Some(crate::policy::PhraseTarget::Permanent) => signals.permanent = true,
                Some(crate::policy::PhraseTarget::Temporary) => signals.temporary = true,
                _ => {}
            }
        }
        EvalCtx {
            r,
            found,
            phrases,
            signals,
            receiver,
            policy,
            event,
            script: std::cell::OnceCell::new(),
            notes: RefCell::new(Vec::new()),
        }
    }

    /// The script context, built once per event.
    pub(crate) fn script_context(&self) -> std::sync::Arc<crate::script::ScriptContext> {
        self.script
            .get_or_init(|| {
                let receiver = self.receiver.and_then(|i| self.policy.receivers.get(i)).map(|r| r.name.clone());
                std::sync::Arc::new(script_context(self.r, self.event, receiver))
            })
            .clone()
    }

    /// Records what a script said (for explain).
    pub(crate) fn note(&self, s: String) {
        if let Ok(mut n) = self.notes.try_borrow_mut() {
            n.push(s);
        }
    }

    /// The notes so far, emptied.
    pub(crate) fn take_notes(&self) -> Vec<String> {
        self.notes.try_borrow_mut().map(|mut n| std::mem::take(&mut *n)).unwrap_or_default()
    }
}

/// The context a script or a host predicate sees for a response.
pub fn script_context(r: &Response, event: Option<&Event>, receiver: Option<String>) -> crate::script::ScriptContext {
    crate::script::ScriptContext {
        code: r.code,
        status: r.status.map(|s| s.to_string()),
        inner_code: r.inner_code,
        inner_status: r.inner_status.map(|s| s.to_string()),
        text: r.text.clone(),
        folded: r.folded.clone(),
        receiver,
        mx: r.mx.clone(),
        phase: r.phase.map(|p| p.to_string()),
        recipient: event.map(|e| e.recipient.to_string()).unwrap_or_default(),
        domain: r.domain.clone(),
        flags: r.flags.list().iter().map(|f| f.to_string()).collect(),
        event_json: event.and_then(|e| e.raw).map(std::sync::Arc::from),
        contact: None,
    }
}

/// Evaluates a condition.
pub(crate) fn eval(c: &Cond, cx: &EvalCtx) -> bool {
    match c {
        Cond::All(v) => v.iter().all(|x| eval(x, cx)),
        Cond::Any(v) => v.iter().any(|x| eval(x, cx)),
        Cond::Not(x) => !eval(x, cx),
        Cond::Atom(a) => atom(a, cx),
    }
}

/// Evaluates one test.
pub(crate) fn atom(a: &Atom, cx: &EvalCtx) -> bool {
    let (r, found) = (cx.r, cx.found);
    match &a.test {
        AtomTest::Code { inner, set } => (if *inner { r.inner_code } else { r.code }).is_some_and(|c| set.contains(c)),
        AtomTest::Status { inner, pats } => {
            (if *inner { r.inner_status } else { r.status }).is_some_and(|s| pats.iter().any(|p| p.matches(s)))
        }
        AtomTest::Contains(_, ids) => ids.iter().any(|id| found.binary_search(id).is_ok()),
        AtomTest::Regex(re) => {
            (re.required_ids.is_empty() || re.required_ids.iter().any(|id| found.binary_search(id).is_ok()))
                && re.regex.is_match(&r.folded)
        }
        AtomTest::Phase(ps) => r.phase.is_some_and(|p: Phase| ps.contains(&p)),
        AtomTest::Mx(hosts) => r.mx.as_deref().is_some_and(|m| hosts.iter().any(|h| h.matches(m))),
        AtomTest::Domain(hosts) => hosts.iter().any(|h| h.matches(&r.domain)),
        AtomTest::Flag(f) => r.flags.has(*f),
        AtomTest::Script(script) => {
            let Some(rt) = cx.policy.runtime.as_deref() else { return false };
            match rt.eval_bool(script, &cx.script_context()) {
                Ok(b) => b,
                Err(e) => {
                    cx.note(format!("the script failed: {e}"));
                    false
                }
            }
        }
        AtomTest::Call(_, p) => (p.0)(&cx.script_context()),
        AtomTest::Phrase(t) => {
            let found = |veto: bool| {
                cx.phrases
                    .iter()
                    .any(|&i| cx.policy.phrases.get(i as usize).is_some_and(|p| p.target == *t && p.veto == veto))
            };
            found(false) && !found(true)
        }
    }
}

#[cfg(test)]
mod json_tests {
    use super::VerdictJson;
    use crate::event::Event;

    /// The hand-written writer gives serde_json's bytes: for every corpus
    /// answer, and for ids and recipients that need escaping.
    #[test]
    fn write_json_is_serde_json() {
        let policy = crate::load::compile_shipped().policy.expect("the shipped policy compiles");
        let corpus = include_str!("../../tests/data/responses.jsonl");
        let mut lines: Vec<String> = corpus.lines().map(String::from).collect();
        lines.push(
            r#"{"id":"q\"uo\\te\u0001 é","recipient":"a\"b@example.org","code":550,"text":"user unknown"}"#.into(),
        );
        lines.push(r#"{"recipient":"tab\t@example.org","status":"4.2.2","text":"mailbox full"}"#.into());
        for l in &lines {
            let e = Event::parse(l).expect("a valid event");
            let v = policy.classify(&e);
            let j = VerdictJson::new(&e, &v);
            let mut mine = Vec::new();
            j.write_json(&mut mine);
            assert_eq!(String::from_utf8(mine).unwrap(), serde_json::to_string(&j).unwrap(), "{l}");
        }
        let e = Event::parse(&lines[0]).expect("a valid event");
        let v = policy.classify(&e);
        proptest::proptest!(|(id in "\\PC{0,40}|[\\x00-\\x7f]{0,40}", rcpt in "[ -~\\t\\n\"\\\\é]{0,30}")| {
            let j = VerdictJson::of(Some(&id), &rcpt, &v);
            let mut mine = Vec::new();
            j.write_json(&mut mine);
            proptest::prop_assert_eq!(String::from_utf8(mine).unwrap(), serde_json::to_string(&j).unwrap());
        });
    }
}
