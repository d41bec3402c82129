//! The `lifecycle` stage: lowers the policy's `lifecycle` block and checks
//! it statically: both dimensions declared, every state named exists and is
//! reachable from the initial one, triggers and guards name known events,
//! classes, reasons and receivers, thresholds and weights are positive.

use super::{Unit, unknown};
use crate::diag::{Diagnostic, Span, codes};
use crate::event::EventType;
use crate::lifecycle::model::*;
use crate::model::Class;
use crate::syntax::ast::{self, Item, LifecycleItem, StrikesField, Word};

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

pub(super) fn lifecycle(unit: &mut Unit) {
    let files = std::mem::take(&mut unit.files);
    let mut first: Option<Span> = None;
    for (_, file) in &files {
        for item in &file.items {
            let Item::Lifecycle(decl) = item else { continue };
            if let Some(f) = first {
                unit.diags.push(
                    Diagnostic::error(codes::LC_DUPLICATE, decl.span, "the policy has a second `lifecycle` block")
                        .with_note(f, "the first is here")
                        .with_help("a policy has one lifecycle; merge the blocks"),
                );
                continue;
            }
            first = Some(decl.span);
            unit.lifecycle = lower(unit, decl);
        }
    }
    unit.files = files;
}

fn lower(unit: &mut Unit, decl: &ast::LifecycleDecl) -> Option<Lifecycle> {
    let errors_before = unit.diags.iter().filter(|d| d.is_error()).count();
    let mut states: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    let mut state_spans: [Vec<Span>; 2] = [Vec::new(), Vec::new()];
    for item in &decl.items {
        if let LifecycleItem::States { dimension, states: list, span } = item {
            let Some(dim) = dim_of(unit, dimension) else { continue };
            if !states[dim.index()].is_empty() {
                unit.diags.push(Diagnostic::error(
                    codes::DUPLICATE_FIELD,
                    *span,
                    format!("the states of `{}` are declared twice", dim.as_str()),
                ));
                continue;
            }
            for w in list {
                if states[dim.index()].contains(&w.node) {
                    unit.diags.push(Diagnostic::error(
                        codes::DUPLICATE_FIELD,
                        w.span,
                        format!("the state `{}` is listed twice", w.node),
                    ));
                }
                states[dim.index()].push(w.node.clone());
                state_spans[dim.index()].push(w.span);
            }
        }
    }
    for dim in [Dim::Delivery, Dim::Consent] {
        if states[dim.index()].is_empty() {
            unit.diags.push(
                Diagnostic::error(
                    codes::LC_DIMENSION,
                    decl.span,
                    format!("the lifecycle does not declare the states of `{}`", dim.as_str()),
                )
                .with_help(format!("add `states {}: …`; the first state is where a new contact starts", dim.as_str())),
            );
        }
    }
    let location = super::lower::location(unit, decl.span);
    let mut lc = Lifecycle {
        states,
        transitions: Vec::new(),
        strikes: Vec::new(),
        reactivation: Vec::new(),
        eligible: Vec::new(),
        location,
        runtime: None,
    };
    let mut names: Vec<(String, Span)> = Vec::new();
    for item in &decl.items {
        match item {
            LifecycleItem::States { .. } => {}
            LifecycleItem::Transition(t) => {
                unique(unit, &mut names, &t.name, "transition");
                if let Some(t) = transition(unit, &lc, t) {
                    lc.transitions.push(t);
                }
            }
            LifecycleItem::Strikes(s) => {
                unique(unit, &mut names, &s.name, "strike rule");
                if let Some(s) = strike_rule(unit, s) {
                    lc.strikes.push(s);
                }
            }
            LifecycleItem::Reactivation(rules, span) => {
                if !lc.reactivation.is_empty() {
                    unit.diags.push(Diagnostic::error(codes::LC_DUPLICATE, *span, "a second `reactivation` block"));
                }
                for r in rules {
                    unique(unit, &mut names, &r.name, "reactivation rule");
                    lc.reactivation.push(reactivation_rule(unit, r));
                }
            }
            LifecycleItem::Eligible { kind, tests, span } => {
                if lc.eligible.iter().any(|e| e.kind == kind.node) {
                    unit.diags.push(Diagnostic::error(
                        codes::DUPLICATE_FIELD,
                        kind.span,
                        format!("`eligible {}` is declared twice", kind.node),
                    ));
                }
                let mut lowered = Vec::new();
                for t in tests {
                    let Some(dim) = dim_of(unit, &t.dimension) else { continue };
                    if let Some(set) = set_of(unit, &lc, dim, &t.states) {
                        lowered.push((dim, set));
                    }
                }
                let tests = lowered;
                let location = super::lower::location(unit, *span);
                lc.eligible.push(EligibleRule { kind: kind.node.clone(), tests, location });
            }
        }
    }
    let declared_strikes = decl.items.iter().filter(|i| matches!(i, LifecycleItem::Strikes(_))).count();
    let declared_transitions = decl.items.iter().filter(|i| matches!(i, LifecycleItem::Transition(_))).count();
    let complete = declared_transitions == lc.transitions.len()
        && lc
            .transitions
            .iter()
            .zip(decl.items.iter().filter_map(|i| match i {
                LifecycleItem::Transition(t) => Some(t),
                _ => None,
            }))
            .all(|(t, d)| t.changes.len() == d.changes.len());
    consistency(unit, &lc, decl, &state_spans, declared_strikes, complete);
    let errors_after = unit.diags.iter().filter(|d| d.is_error()).count();
    (errors_after == errors_before).then_some(lc)
}

fn unique(unit: &mut Unit, names: &mut Vec<(String, Span)>, name: &Word, what: &str) {
    if let Some((_, first)) = names.iter().find(|(n, _)| *n == name.node) {
        unit.diags.push(
            Diagnostic::error(
                codes::LC_DUPLICATE,
                name.span,
                format!("the {what} name `{}` is used twice in the lifecycle", name.node),
            )
            .with_note(*first, "first used here"),
        );
    } else {
        names.push((name.node.clone(), name.span));
    }
}

fn dim_of(unit: &mut Unit, w: &Word) -> Option<Dim> {
    let d = Dim::parse(&w.node);
    if d.is_none() {
        unit.diags.push(
            unknown(codes::LC_DIMENSION, "dimension", w, ["delivery", "consent"])
                .with_help("the dimensions are `delivery` and `consent`"),
        );
    }
    d
}

fn state_of(unit: &mut Unit, lc: &Lifecycle, dim: Dim, w: &Word) -> Option<usize> {
    let list = &lc.states[dim.index()];
    let i = list.iter().position(|s| *s == w.node);
    if i.is_none() {
        let d =
            unknown(codes::LC_UNKNOWN_STATE, &format!("{} state", dim.as_str()), w, list.iter().map(String::as_str));
        unit.diags.push(d.with_help(format!("the {} states are: {}", dim.as_str(), list.join(", "))));
    }
    i
}

fn set_of(unit: &mut Unit, lc: &Lifecycle, dim: Dim, words: &[Word]) -> Option<StateSet> {
    if words.is_empty() {
        return Some(StateSet(u64::MAX));
    }
    let mut bits = 0u64;
    let mut ok = true;
    for w in words {
        match state_of(unit, lc, dim, w) {
            Some(i) if i < 64 => bits |= 1 << i,
            _ => ok = false,
        }
    }
    ok.then_some(StateSet(bits))
}

fn trigger_of(unit: &mut Unit, w: &Word) -> Option<Trigger> {
    if let Some(c) = Class::parse(&w.node) {
        return Some(Trigger::Class(c));
    }
    if w.node == "strikes" {
        return Some(Trigger::Strikes);
    }
    if let Some(e) = EVENTS.iter().find(|e| e.as_str() == w.node && **e != EventType::Bounce) {
        return Some(Trigger::Event(*e));
    }
    let names: Vec<&str> = Class::ALL
        .iter()
        .map(|c| c.as_str())
        .chain(EVENTS.iter().skip(1).map(|e| e.as_str()))
        .chain(["strikes"])
        .collect();
    unit.diags.push(unknown(codes::LC_UNKNOWN_TRIGGER, "trigger", w, names.iter().copied()).with_help(format!(
        "a transition is triggered by a verdict class, an event or `strikes`: {}",
        names.join(", ")
    )));
    None
}

fn transition(unit: &mut Unit, lc: &Lifecycle, t: &ast::TransitionDecl) -> Option<Transition> {
    let trigger = trigger_of(unit, &t.trigger);
    let mut guards = Vec::new();
    for g in &t.guards {
        if let Some(guard) = guard(unit, lc, g) {
            guards.push(guard);
        }
    }
    let mut changes = Vec::new();
    let mut seen: Vec<Dim> = Vec::new();
    for c in &t.changes {
        let Some(dim) = dim_of(unit, &c.dimension) else { continue };
        if seen.contains(&dim) {
            unit.diags.push(Diagnostic::error(
                codes::DUPLICATE_FIELD,
                c.span,
                format!("`{}` changes twice in one transition", dim.as_str()),
            ));
        }
        seen.push(dim);
        let from = set_of(unit, lc, dim, &c.from);
        let to = state_of(unit, lc, dim, &c.to);
        if let (Some(from), Some(to)) = (from, to) {
            changes.push(Change { dim, from, to });
        }
    }
    let location = super::lower::location(unit, t.span);
    Some(Transition {
        name: t.name.node.clone(),
        trigger: trigger?,
        guards,
        changes,
        reset_strikes: t.reset_strikes,
        location,
    })
}

fn guard(unit: &mut Unit, lc: &Lifecycle, g: &ast::GuardTest) -> Option<Guard> {
    if let Some(src) = &g.script {
        return super::lower::script(unit, src).map(Guard::Script);
    }
    let values: Vec<String> = g.values.iter().map(|v| v.node.clone()).collect();
    let need_values = |unit: &mut Unit| {
        if g.values.is_empty() {
            unit.diags.push(Diagnostic::error(
                codes::LC_UNKNOWN_GUARD,
                g.span,
                format!("`if {}` needs values", g.key.node),
            ));
        }
    };
    match g.key.node.as_str() {
        "reason" => {
            need_values(unit);
            for v in &g.values {
                if !unit.reason_ids.contains_key(&v.node) {
                    let names: Vec<String> = unit.reasons.iter().map(|r| r.name.clone()).collect();
                    unit.diags.push(unknown(codes::UNKNOWN_REASON, "reason", v, names.iter().map(String::as_str)));
                }
            }
            Some(Guard::Reason(values))
        }
        "class" => {
            need_values(unit);
            let mut classes = Vec::new();
            for v in &g.values {
                match Class::parse(&v.node) {
                    Some(c) => classes.push(c),
                    None => unit.diags.push(unknown(
                        codes::LC_UNKNOWN_GUARD,
                        "class",
                        v,
                        Class::ALL.iter().map(|c| c.as_str()),
                    )),
                }
            }
            Some(Guard::Class(classes))
        }
        "optin" => {
            need_values(unit);
            for v in &g.values {
                if !matches!(v.node.as_str(), "single" | "double") {
                    unit.diags.push(unknown(codes::LC_UNKNOWN_GUARD, "opt-in", v, ["single", "double"]));
                }
            }
            Some(Guard::Optin(values))
        }
        "receiver" => {
            need_values(unit);
            let known: Vec<String> = unit.receivers.iter().map(|r| r.name.clone()).collect();
            for v in &g.values {
                if !known.contains(&v.node) {
                    unit.diags.push(unknown(codes::LC_UNKNOWN_GUARD, "receiver", v, known.iter().map(String::as_str)));
                }
            }
            Some(Guard::Receiver(values))
        }
        "feedback" => {
            need_values(unit);
            Some(Guard::Feedback(values))
        }
        "via" => {
            need_values(unit);
            for v in &g.values {
                let ok = Class::parse(&v.node).is_some()
                    || v.node == "strikes"
                    || EVENTS.iter().any(|e| e.as_str() == v.node);
                if !ok {
                    unit.diags.push(unknown(
                        codes::LC_UNKNOWN_GUARD,
                        "trigger",
                        v,
                        ["hard", "soft", "strikes", "complaint", "unsubscribe"],
                    ));
                }
            }
            Some(Guard::Via(values))
        }
        _ => {
            if !g.values.is_empty() {
                unit.diags.push(Diagnostic::error(codes::LC_UNKNOWN_GUARD, g.span, "`if allowed` takes no values"));
            }
            if lc.reactivation.is_empty() && unit.lifecycle.is_none() {
                // Checked again once the whole block is read (see `consistency`).
            }
            Some(Guard::Allowed)
        }
    }
}

/// `30m`, `24h`, `14d`, `2w` in seconds.
pub fn duration(tok: &str) -> Option<i64> {
    let (n, unit) = tok.split_at(tok.len().checked_sub(1)?);
    let n: i64 = n.parse().ok()?;
    let mult = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn positive(unit: &mut Unit, w: &Word, what: &str) -> Option<f64> {
    match w.node.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Some(v),
        _ => {
            unit.diags.push(
                Diagnostic::error(
                    codes::LC_THRESHOLD,
                    w.span,
                    format!("the {what} must be positive, not `{}`", w.node),
                )
                .with_label("not positive"),
            );
            None
        }
    }
}

fn positive_duration(unit: &mut Unit, w: &Word) -> Option<i64> {
    match duration(&w.node) {
        Some(d) if d > 0 => Some(d),
        _ => {
            unit.diags.push(
                Diagnostic::error(codes::LC_THRESHOLD, w.span, format!("`{}` is not a positive duration", w.node))
                    .with_help("write `30m`, `24h`, `14d` or `2w`"),
            );
            None
        }
    }
}

fn strike_rule(unit: &mut Unit, s: &ast::StrikesDecl) -> Option<StrikeRule> {
    let mut count = Vec::new();
    let mut threshold: Option<Threshold> = None;
    let mut weights = Vec::new();
    let mut receiver = None;
    let mut reset_on = Vec::new();
    let mut threshold_span: Option<Span> = None;
    let mut threshold_given = false;
    for f in &s.fields {
        threshold_given |= matches!(f, StrikesField::Campaigns(..) | StrikesField::Within(..) | StrikesField::Over(..));
        let new_threshold = match f {
            StrikesField::Count(classes, _) => {
                for c in classes {
                    if let Some(class) = Class::parse(&c.node) {
                        count.push(class);
                    }
                }
                None
            }
            StrikesField::Campaigns(n, _) => positive(unit, n, "number of campaigns").map(Threshold::Campaigns),
            StrikesField::Within(n, d, _) => {
                let (n, d) = (positive(unit, n, "number of strikes"), positive_duration(unit, d));
                Some(Threshold::Within(n?, d?))
            }
            StrikesField::Over(n, d, _) => {
                let (n, d) = (positive(unit, n, "number of strikes"), positive_duration(unit, d));
                Some(Threshold::Over(n?, d?))
            }
            StrikesField::Weight(pairs, _) => {
                for (reason, w) in pairs {
                    if !unit.reason_ids.contains_key(&reason.node) {
                        let names: Vec<String> = unit.reasons.iter().map(|r| r.name.clone()).collect();
                        unit.diags.push(unknown(
                            codes::UNKNOWN_REASON,
                            "reason",
                            reason,
                            names.iter().map(String::as_str),
                        ));
                        continue;
                    }
                    if let Some(w) = positive(unit, w, "weight") {
                        weights.push((reason.node.clone(), w));
                    }
                }
                None
            }
            StrikesField::Receiver(r, _) => {
                if !unit.receivers.iter().any(|x| x.name == r.node) {
                    let known: Vec<String> = unit.receivers.iter().map(|x| x.name.clone()).collect();
                    unit.diags.push(unknown(codes::LC_UNKNOWN_GUARD, "receiver", r, known.iter().map(String::as_str)));
                }
                receiver = Some(r.node.clone());
                None
            }
            StrikesField::Reset(events, _) => {
                for e in events {
                    match EVENTS.iter().find(|x| x.as_str() == e.node) {
                        Some(ev) => reset_on.push(*ev),
                        None => unit.diags.push(unknown(
                            codes::LC_UNKNOWN_TRIGGER,
                            "event",
                            e,
                            EVENTS.iter().map(|e| e.as_str()),
                        )),
                    }
                }
                None
            }
        };
        if let Some(t) = new_threshold {
            if let Some(first) = threshold_span {
                unit.diags.push(
                    Diagnostic::error(codes::DUPLICATE_FIELD, f.span(), "a strike rule has one threshold")
                        .with_note(first, "the first is here"),
                );
            }
            threshold_span = Some(f.span());
            threshold = Some(t);
        }
    }
    if count.is_empty() {
        count.push(Class::Soft);
    }
    let Some(threshold) = threshold else {
        if !threshold_given {
            unit.diags.push(
                Diagnostic::error(
                    codes::MISSING_FIELD,
                    s.name.span,
                    format!("the strike rule `{}` has no threshold", s.name.node),
                )
                .with_help("add `consecutive 4 campaigns`, `2 within 24h` or `3 consecutive over 14d`"),
            );
        }
        return None;
    };
    let location = super::lower::location(unit, s.span);
    Some(StrikeRule { name: s.name.node.clone(), count, threshold, weights, receiver, reset_on, location })
}

fn reactivation_rule(unit: &mut Unit, r: &ast::ReactivationRule) -> ReactivationRule {
    let mut tests = Vec::new();
    for t in &r.tests {
        match t {
            ast::ReactTest::Reason(words, _) => {
                for w in words {
                    if !unit.reason_ids.contains_key(&w.node) {
                        let names: Vec<String> = unit.reasons.iter().map(|r| r.name.clone()).collect();
                        unit.diags.push(unknown(codes::UNKNOWN_REASON, "reason", w, names.iter().map(String::as_str)));
                    }
                }
                tests.push(ReactTest::Reason(words.iter().map(|w| w.node.clone()).collect()));
            }
            ast::ReactTest::Via(words, _) => tests.push(ReactTest::Via(words.iter().map(|w| w.node.clone()).collect())),
            ast::ReactTest::After(d, _) => {
                if let Some(secs) = positive_duration(unit, d) {
                    tests.push(ReactTest::After(secs));
                }
            }
        }
    }
    let location = super::lower::location(unit, r.span);
    ReactivationRule { allow: r.allow, name: r.name.node.clone(), tests, location }
}

/// Whole-block checks: reachability, strikes used, reactivation present when asked for.
fn consistency(
    unit: &mut Unit,
    lc: &Lifecycle,
    decl: &ast::LifecycleDecl,
    spans: &[Vec<Span>; 2],
    declared_strikes: usize,
    complete: bool,
) {
    // Reachability is only judged on a complete set of transitions: an
    // invalid one already has its own error.
    for dim in [Dim::Delivery, Dim::Consent].into_iter().filter(|_| complete) {
        let n = lc.states[dim.index()].len();
        if n == 0 {
            continue;
        }
        let mut reached = vec![false; n];
        if let Some(r) = reached.first_mut() {
            *r = true;
        }
        let mut changed = true;
        while changed {
            changed = false;
            for c in lc.transitions.iter().flat_map(|t| t.changes.iter()).filter(|c| c.dim == dim) {
                let from_reached = (0..n).any(|i| reached.get(i).copied().unwrap_or(false) && c.from.has(i));
                if from_reached && !reached.get(c.to).copied().unwrap_or(true) {
                    if let Some(r) = reached.get_mut(c.to) {
                        *r = true;
                    }
                    changed = true;
                }
            }
        }
        for (i, ok) in reached.iter().enumerate() {
            if !ok {
                let span = spans[dim.index()].get(i).copied().unwrap_or(decl.span);
                let name = lc.states[dim.index()].get(i).cloned().unwrap_or_default();
                unit.diags.push(
                    Diagnostic::error(
                        codes::LC_UNREACHABLE,
                        span,
                        format!("no transition leads to the {} state `{name}`", dim.as_str()),
                    )
                    .with_label("unreachable")
                    .with_help(format!(
                        "add a transition to `{name}`, or remove the state; a new contact starts in `{}`",
                        lc.states[dim.index()].first().cloned().unwrap_or_default()
                    )),
                );
            }
        }
    }
    let uses_strikes = lc.transitions.iter().any(|t| t.trigger == Trigger::Strikes);
    if uses_strikes && declared_strikes == 0 {
        unit.diags.push(
            Diagnostic::error(
                codes::LC_STRIKES,
                decl.span,
                "a transition is triggered by `strikes`, but no strike rule is declared",
            )
            .with_help("add `strikes NAME { count soft  consecutive 4 campaigns }`"),
        );
    }
    let transitions_ok = complete;
    if transitions_ok && !uses_strikes && !lc.strikes.is_empty() {
        unit.diags.push(
            Diagnostic::warning(
                codes::LC_STRIKES,
                decl.span,
                "strike rules are declared, but no transition is triggered by `strikes`",
            )
            .with_help("add `transition NAME { on strikes  delivery active -> error }`"),
        );
    }
    let uses_allowed = lc.transitions.iter().any(|t| t.guards.iter().any(|g| matches!(g, Guard::Allowed)));
    if uses_allowed && lc.reactivation.is_empty() {
        unit.diags.push(Diagnostic::error(
            codes::LC_REACTIVATION,
            decl.span,
            "a transition asks `if allowed`, but there is no `reactivation` block",
        ));
    }
}
