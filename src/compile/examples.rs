//! The `examples` stage: examples next to rules, `example` blocks and
//! lifecycle `scenario`s, checked (known classes, reasons, scopes,
//! receivers, rule ids, event types, states) and lowered for `rebound test`.

use super::{Unit, unknown};
use crate::compile::patterns::{HostPat, parse_code, parse_status};
use crate::diag::{Diagnostic, codes};
use crate::event::EventType;
use crate::model::{Class, Scope};
use crate::syntax::ast::{self, ExampleField, Item, ReceiverField};
use crate::testing::{Example, Expect, Scenario, ScenarioEvent};

const EVENTS: &[EventType] = &[
    EventType::Bounce,
    EventType::Delivered,
    EventType::Complaint,
    EventType::Unsubscribe,
    EventType::Subscribe,
    EventType::Confirm,
    EventType::Reactivate,
    EventType::AutoReply,
];

pub(super) fn examples(unit: &mut Unit) {
    let files = std::mem::take(&mut unit.files);
    for (_, file) in &files {
        for item in &file.items {
            match item {
                Item::Rule(r) => rule_examples(unit, r, None),
                Item::Receiver(rec) => {
                    for f in &rec.fields {
                        match f {
                            ReceiverField::Rule(r) => rule_examples(unit, r, Some(&rec.name.node)),
                            ReceiverField::Example(e) => example_block(unit, e, Some(&rec.name.node)),
                            _ => {}
                        }
                    }
                }
                Item::Example(e) => example_block(unit, e, None),
                Item::Scenario(s) => scenario(unit, s),
                _ => {}
            }
        }
    }
    unit.files = files;
}

/// A recipient (and MX) that selects a receiver.
fn address_for(unit: &Unit, receiver: Option<&str>) -> (String, Option<String>) {
    let Some(rec) = receiver.and_then(|n| unit.receivers.iter().find(|r| r.name == n)) else {
        return ("example@example.org".into(), None);
    };
    if let Some(d) = rec.domains.first() {
        return match d {
            HostPat::Exact(d) => (format!("example@{d}"), None),
            HostPat::Suffix(s) => (format!("example@mail.{s}"), None),
        };
    }
    let mx = rec.mx.first().map(|m| match m {
        HostPat::Exact(h) => h.clone(),
        HostPat::Suffix(s) => format!("mx.{s}"),
    });
    ("example@example.org".into(), mx)
}

fn rule_examples(unit: &mut Unit, r: &ast::RuleDecl, receiver: Option<&str>) {
    let id = match receiver {
        Some(rec) => format!("{rec}.{}", r.id.node),
        None => r.id.node.clone(),
    };
    for (i, answer) in r.examples.iter().enumerate() {
        let (recipient, mx) = address_for(unit, receiver);
        let expect =
            Expect { rule: Some(id.clone()), receiver: Some(receiver.map(str::to_string)), ..Expect::default() };
        let location = super::lower::location(unit, answer.span);
        let name = format!("{id} #{}", i + 1);
        unit.examples.push(Example {
            name,
            location,
            answer: answer.node.clone(),
            recipient,
            mx,
            phase: None,
            action: None,
            code: None,
            status: None,
            expect,
        });
    }
}

fn example_block(unit: &mut Unit, e: &ast::ExampleDecl, receiver: Option<&str>) {
    let (recipient, mx) = address_for(unit, receiver);
    let name = match receiver {
        Some(r) => format!("{r}.{}", e.name.node),
        None => e.name.node.clone(),
    };
    let mut ex = Example {
        name,
        location: super::lower::location(unit, e.span),
        answer: String::new(),
        recipient,
        mx,
        phase: None,
        action: None,
        code: None,
        status: None,
        expect: Expect::default(),
    };
    let mut has_expect = false;
    for f in &e.fields {
        match f {
            ExampleField::Answer(w) => ex.answer = w.node.clone(),
            ExampleField::Recipient(w) => ex.recipient = w.node.clone(),
            ExampleField::Mx(w) => ex.mx = Some(w.node.clone()),
            ExampleField::Phase(w) => ex.phase = Some(w.node.clone()),
            ExampleField::Action(w) => ex.action = Some(w.node.clone()),
            ExampleField::Code(w) => match parse_code(&w.node) {
                Ok(_) if w.node.len() == 3 && w.node.bytes().all(|b| b.is_ascii_digit()) => {
                    ex.code = w.node.parse().ok()
                }
                Ok(_) => unit.diags.push(Diagnostic::error(
                    codes::IMPOSSIBLE_CODE,
                    w.span,
                    "an example's code is one code, like `550`",
                )),
                Err(m) => unit.diags.push(Diagnostic::error(codes::IMPOSSIBLE_CODE, w.span, m)),
            },
            ExampleField::Status(w) => match parse_status(&w.node) {
                Ok(p) if p.class.is_some() && p.subject.is_some() && p.detail.is_some_and(|(a, b)| a == b) => {
                    ex.status = Some(w.node.clone())
                }
                Ok(_) => unit.diags.push(Diagnostic::error(
                    codes::IMPOSSIBLE_STATUS,
                    w.span,
                    "an example's status is one code, like `5.1.1`",
                )),
                Err(m) => unit.diags.push(Diagnostic::error(codes::IMPOSSIBLE_STATUS, w.span, m)),
            },
            ExampleField::Expect(x) => {
                has_expect = true;
                ex.expect = expectation(unit, x);
            }
        }
    }
    if !has_expect {
        unit.diags.push(
            Diagnostic::error(
                codes::MISSING_FIELD,
                e.name.span,
                format!("the example `{}` has no `expect`", e.name.node),
            )
            .with_help("add `expect CLASS REASON [scope S] [receiver R] [rule ID]`"),
        );
        return;
    }
    unit.examples.push(ex);
}

fn expectation(unit: &mut Unit, x: &ast::Expectation) -> Expect {
    let class = Class::parse(&x.class.node);
    if !unit.reason_ids.contains_key(&x.reason.node) {
        let names: Vec<String> = unit.reasons.iter().map(|r| r.name.clone()).collect();
        unit.diags.push(unknown(codes::UNKNOWN_REASON, "reason", &x.reason, names.iter().map(String::as_str)));
    }
    let scope = x.scope.as_ref().and_then(|s| {
        let v = Scope::parse(&s.node);
        if v.is_none() {
            unit.diags.push(unknown(codes::UNKNOWN_SCOPE, "scope", s, Scope::ALL.iter().map(|c| c.as_str())));
        }
        v
    });
    let receiver = x.receiver.as_ref().map(|r| {
        if r.node == "none" {
            return None;
        }
        // A receiver that failed to lower has its own error already.
        if !unit.receiver_names.contains(&r.node) {
            let known: Vec<String> = unit.receivers.iter().map(|x| x.name.clone()).collect();
            unit.diags.push(unknown(codes::UNKNOWN_RECEIVER, "receiver", r, known.iter().map(String::as_str)));
        }
        Some(r.node.clone())
    });
    let rule = x.rule.as_ref().map(|r| {
        if !unit.rule_spans.contains_key(&r.node) {
            let ids: Vec<String> = unit.rule_spans.keys().cloned().collect();
            unit.diags.push(unknown(codes::UNKNOWN_RULE, "rule", r, ids.iter().map(String::as_str)));
        }
        r.node.clone()
    });
    Expect { class, reason: Some(x.reason.node.clone()), scope, receiver, rule }
}

fn scenario(unit: &mut Unit, s: &ast::ScenarioDecl) {
    let mut events = Vec::new();
    for e in &s.events {
        let Some(kind) = EVENTS.iter().find(|k| k.as_str() == e.kind.node).copied() else {
            unit.diags.push(unknown(
                codes::LC_UNKNOWN_TRIGGER,
                "event type",
                &e.kind,
                EVENTS.iter().map(|k| k.as_str()),
            ));
            continue;
        };
        let mut ev = ScenarioEvent { kind, ..ScenarioEvent::default() };
        for (key, value) in &e.options {
            let v = Some(value.node.clone());
            match key.as_str() {
                "campaign" => ev.campaign = v,
                "at" => {
                    if crate::lifecycle::engine::parse_at(&value.node).is_none() {
                        unit.diags.push(
                            Diagnostic::error(
                                codes::INVALID_DATE,
                                value.span,
                                format!("`{}` is not an RFC 3339 time", value.node),
                            )
                            .with_help("write it like `2026-11-20T10:00:00Z`"),
                        );
                    }
                    ev.at = v;
                }
                "answer" => ev.answer = v,
                "optin" => ev.optin = v,
                "feedback" => ev.feedback = v,
                _ => ev.mx = v,
            }
        }
        events.push(ev);
    }
    let mut expect = Vec::new();
    for (k, v) in &s.expect {
        let ok = match k.node.as_str() {
            "strikes" => v.node.parse::<u32>().is_ok(),
            dim @ ("delivery" | "consent") => {
                let i = usize::from(dim == "consent");
                let states = unit.lifecycle.as_ref().map(|lc| lc.states[i].clone()).unwrap_or_default();
                if !states.is_empty() && !states.contains(&v.node) {
                    unit.diags.push(unknown(
                        codes::LC_UNKNOWN_STATE,
                        &format!("{dim} state"),
                        v,
                        states.iter().map(String::as_str),
                    ));
                }
                true
            }
            _ => {
                unit.diags.push(unknown(codes::LC_DIMENSION, "expectation", k, ["delivery", "consent", "strikes"]));
                continue;
            }
        };
        if ok {
            expect.push((k.node.clone(), v.node.clone()));
        }
    }
    let recipient = s.recipient.as_ref().map_or_else(|| "scenario@example.org".to_string(), |r| r.node.clone());
    let location = super::lower::location(unit, s.span);
    unit.scenarios.push(Scenario { name: s.name.node.clone(), location, recipient, events, expect });
}
