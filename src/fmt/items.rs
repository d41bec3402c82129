//! What each construct of the language prints as: one method per kind of
//! item, each saying which blocks, units and pieces it is made of. Placing
//! lines and comments is the printer's job, so a new kind of item is one
//! arm in [`Printer::item`] and, when it has a body of its own, one method.

use super::INDENT;
use super::cond::{host, list, name, quote, script_text, words};
use super::printer::{Piece, Printer};
use crate::diag::Span;
use crate::syntax::ast::*;

impl Printer<'_> {
    /// Prints a top-level item.
    pub(super) fn item(&mut self, item: &Item) {
        match item {
            Item::Reason(r) => self.reason(r),
            Item::Statuses(t) => self.table("statuses", t),
            Item::Replies(t) => self.table("replies", t),
            Item::Rule(r) => self.rule(r, 0),
            Item::Lifecycle(l) => self.block(l.span, 0, "lifecycle".into(), |p| p.lifecycle_body(l)),
            Item::Example(e) => self.example(e, 0),
            Item::Scenario(sc) => self.scenario(sc),
            Item::Receiver(r) => self.block(r.span, 0, format!("receiver {}", r.name.node), |p| p.receiver_body(r, 1)),
            Item::Extends(w, span) => self.simple(*span, 0, format!("extends {}", w.node)),
            Item::ReplaceRule(r) => {
                self.block(r.span, 0, format!("replace rule {}{}", r.id.node, fallback(r)), |p| p.rule_body(r, 1));
            }
            Item::DisableRule { id, note, span } => {
                let note = note.as_ref().map(|n| format!(" note {}", quote(&n.node))).unwrap_or_default();
                self.simple(*span, 0, format!("disable rule {}{note}", id.node));
            }
            Item::ExtendReceiver(r) => {
                self.block(r.span, 0, format!("extend receiver {}", r.name.node), |p| p.receiver_body(r, 1));
            }
            Item::ReplaceLifecycle(l) => self.block(l.span, 0, "replace lifecycle".into(), |p| p.lifecycle_body(l)),
            Item::Phrases(t) => self.phrases(t),
            Item::Stoplist(l) => self.stoplist(l),
        }
    }

    /// `phrases NAME { … }`: each entry's patterns on a line (broken at 100
    /// columns), its `source` and `note` on the lines below, indented.
    fn phrases(&mut self, t: &PhrasesDecl) {
        let weak = if t.weak { " weak" } else { "" };
        self.block(t.span, 0, format!("phrases {}{weak}", t.name.node), |p| {
            for e in &t.entries {
                let n = e.patterns.len();
                let mut pieces: Vec<Piece> = e
                    .patterns
                    .iter()
                    .enumerate()
                    .map(|(i, pat)| {
                        Piece::new(format!("{}{}", pattern(pat), if i + 1 < n { "," } else { "" }), pat.span())
                    })
                    .collect();
                if e.except
                    && let (Some(first), Some(pat)) = (pieces.first_mut(), e.patterns.first())
                {
                    let span = Span::new(e.span.file, e.span.start..pat.span().end);
                    *first = Piece::new(format!("except {}", first.text()), span);
                }
                let (Some(first), Some(last)) = (e.patterns.first(), e.patterns.last()) else { continue };
                p.unit_width(first.span().to(last.span()), 1, pieces);
                p.provenance(&e.provenance, 2);
            }
        });
    }

    fn stoplist(&mut self, l: &StoplistDecl) {
        self.block(l.span, 0, "stoplist".into(), |p| {
            for (words, provenance, _) in &l.entries {
                let (Some(first), Some(last)) = (words.first(), words.last()) else { continue };
                p.unit_width(first.span.to(last.span), 1, list(words, |w| quote(&w.node)));
                p.provenance(provenance, 2);
            }
        });
    }

    /// `source`, `observed` and `note` clauses, one per line.
    fn provenance(&mut self, items: &[Provenance], depth: usize) {
        for pv in items {
            let s = match pv {
                Provenance::Source(w) => format!("source {}", quote(&w.node)),
                Provenance::Observed(w) => format!("observed {}", w.node),
                Provenance::Note(w) => format!("note {}", quote(&w.node)),
            };
            self.simple(pv.span(), depth, s);
        }
    }

    fn reason(&mut self, r: &ReasonDecl) {
        self.block(r.span, 0, format!("reason {}", r.name.node), |p| {
            for f in &r.fields {
                let s = match f {
                    ReasonField::Class(w) => format!("class {}", w.node),
                    ReasonField::Scope(w) => format!("scope {}", w.node),
                    ReasonField::On { code, class, .. } => format!("on {} {}", code.node, class.node),
                    ReasonField::Description(w) => format!("description {}", quote(&w.node)),
                    ReasonField::Subjects(ws, _) => format!("subjects {}", words(ws)),
                };
                p.simple(f.span(), 1, s);
            }
        });
    }

    /// The fields, rules and examples of a receiver, at `depth`.
    fn receiver_body(&mut self, r: &ReceiverDecl, depth: usize) {
        let mut prev_rule = false;
        for (i, f) in r.fields.iter().enumerate() {
            let is_rule = matches!(f, ReceiverField::Rule(_) | ReceiverField::Example(_));
            if i > 0 && (is_rule || prev_rule) {
                self.blank();
            }
            prev_rule = is_rule;
            match f {
                ReceiverField::Title(w) => self.simple(w.span, depth, format!("title {}", quote(&w.node))),
                ReceiverField::Domains(ws, s) => self.unit(*s, depth, headed("domains", *s, list(ws, host))),
                ReceiverField::Mx(ws, s) => self.unit(*s, depth, headed("mx", *s, list(ws, host))),
                ReceiverField::Rule(rd) => self.rule(rd, depth),
                ReceiverField::Example(e) => self.example(e, depth),
            }
        }
    }

    fn table(&mut self, kw: &str, t: &Table) {
        // Arrows align across the entries whose keys fit on one line.
        let one_line = |e: &TableEntry| !self.has_comment(e.span.start, e.outcome.span.start);
        let width = |e: &TableEntry| words(&e.keys).chars().count();
        let widest = t.entries.iter().filter(|e| one_line(e)).map(width).filter(|&w| w <= 24).max().unwrap_or(0);
        let pads: Vec<usize> =
            t.entries.iter().map(|e| if one_line(e) { widest.saturating_sub(width(e)) } else { 0 }).collect();
        self.block(t.span, 0, kw.to_string(), |p| {
            for (e, pad) in t.entries.iter().zip(pads) {
                let mut pieces = list(&e.keys, name);
                if let Some(last) = pieces.pop() {
                    let (start, end) = e.keys.last().map_or((0, 0), |k| (k.span.start, k.span.end));
                    pieces.push(Piece::between(format!("{}{}", last.text(), " ".repeat(pad)), start, end));
                }
                pieces.push(Piece::new(format!("-> {}", outcome(&e.outcome)), e.outcome.span));
                p.unit(e.span, 1, pieces);
            }
        });
    }

    /// The parts of the `lifecycle` block.
    fn lifecycle_body(&mut self, l: &LifecycleDecl) {
        let mut prev_block = false;
        for (i, item) in l.items.iter().enumerate() {
            let is_block = matches!(
                item,
                LifecycleItem::Transition(_) | LifecycleItem::Strikes(_) | LifecycleItem::Reactivation(..)
            );
            if i > 0 && (is_block || prev_block) {
                self.blank();
            }
            prev_block = is_block;
            match item {
                LifecycleItem::States { dimension, states, span } => {
                    let head = Piece::between(format!("states {}:", dimension.node), span.start, dimension.span.end);
                    let mut pieces = vec![head];
                    pieces.extend(list(states, name));
                    self.unit(*span, 1, pieces);
                }
                LifecycleItem::Eligible { kind, tests, span } => {
                    let mut pieces = vec![Piece::between(format!("eligible {}", kind.node), span.start, kind.span.end)];
                    for (j, t) in tests.iter().enumerate() {
                        let kw = if j == 0 { "when" } else { "and" };
                        pieces.push(Piece::new(format!("{kw} {}", t.dimension.node), t.dimension.span));
                        pieces.extend(states(&t.states, t.span.end.saturating_sub(1)));
                    }
                    self.unit(*span, 1, pieces);
                }
                LifecycleItem::Transition(t) => self.transition(t),
                LifecycleItem::Strikes(s) => self.strikes(s),
                LifecycleItem::Reactivation(rules, span) => self.reactivation(rules, *span),
            }
        }
    }

    fn transition(&mut self, t: &TransitionDecl) {
        self.block(t.span, 1, format!("transition {}", t.name.node), |p| {
            let mut pieces = vec![Piece::new(format!("on {}", t.trigger.node), t.trigger.span)];
            for (i, g) in t.guards.iter().enumerate() {
                let kw = if i == 0 { "if" } else { "and" };
                match &g.script {
                    Some(src) => pieces.push(Piece::new(format!("{kw} script {}", script_text(src)), g.span)),
                    None => {
                        pieces.push(Piece::new(format!("{kw} {}", g.key.node), g.key.span));
                        pieces.extend(list(&g.values, name));
                    }
                }
            }
            let end = t.guards.last().map_or(t.trigger.span.end, |g| g.span.end);
            p.unit(Span::new(t.trigger.span.file, t.trigger.span.start..end), 2, pieces);
            for c in &t.changes {
                let mut pieces = vec![Piece::new(c.dimension.node.clone(), c.dimension.span)];
                pieces.extend(states(&c.from, c.dimension.span.end));
                pieces.push(Piece::new(format!("-> {}", c.to.node), c.to.span));
                p.unit(c.span, 2, pieces);
            }
            if t.reset_strikes {
                p.line(2, "reset strikes");
            }
        });
    }

    fn strikes(&mut self, s: &StrikesDecl) {
        self.block(s.span, 1, format!("strikes {}", s.name.node), |p| {
            for f in &s.fields {
                let span = f.span();
                let pieces = match f {
                    StrikesField::Count(c, _) => headed("count", span, list(c, name)),
                    StrikesField::Campaigns(n, _) => {
                        vec![Piece::new(format!("consecutive {} campaigns", n.node), span)]
                    }
                    StrikesField::Over(n, d, _) => {
                        vec![Piece::new(format!("{} consecutive over {}", n.node, d.node), span)]
                    }
                    StrikesField::Within(n, d, _) => vec![Piece::new(format!("{} within {}", n.node, d.node), span)],
                    StrikesField::Weight(pairs, _) => {
                        let n = pairs.len();
                        let items = pairs.iter().enumerate().map(|(i, (r, w))| {
                            let comma = if i + 1 < n { "," } else { "" };
                            Piece::between(format!("{} {}{comma}", r.node, w.node), r.span.start, w.span.end)
                        });
                        headed("weight", span, items.collect())
                    }
                    StrikesField::Receiver(r, _) => vec![Piece::new(format!("receiver {}", r.node), span)],
                    StrikesField::Reset(e, _) => headed("reset on", span, list(e, name)),
                };
                p.unit(span, 2, pieces);
            }
        });
    }

    fn reactivation(&mut self, rules: &[ReactivationRule], span: Span) {
        self.block(span, 1, "reactivation".into(), |p| {
            for r in rules {
                let verb = if r.allow { "allow" } else { "refuse" };
                let mut pieces = vec![Piece::between(format!("{verb} {}", r.name.node), r.span.start, r.name.span.end)];
                for (i, t) in r.tests.iter().enumerate() {
                    let kw = if i == 0 { "when" } else { "and" };
                    match t {
                        ReactTest::Reason(w, s) => {
                            pieces.push(Piece::at(format!("{kw} reason"), s.start));
                            pieces.extend(list(w, name));
                        }
                        ReactTest::Via(w, s) => {
                            pieces.push(Piece::at(format!("{kw} via"), s.start));
                            pieces.extend(list(w, name));
                        }
                        ReactTest::After(d, s) => pieces.push(Piece::new(format!("{kw} after {}", d.node), *s)),
                    }
                }
                p.unit(r.span, 2, pieces);
            }
        });
    }

    fn example(&mut self, e: &ExampleDecl, depth: usize) {
        self.block(e.span, depth, format!("example {}", e.name.node), |p| {
            for f in &e.fields {
                let text = match f {
                    ExampleField::Answer(w) => format!("answer {}", quote(&w.node)),
                    ExampleField::Recipient(w) => format!("recipient {}", quote(&w.node)),
                    ExampleField::Mx(w) => format!("mx {}", host(w)),
                    ExampleField::Phase(w) => format!("phase {}", w.node),
                    ExampleField::Action(w) => format!("action {}", w.node),
                    ExampleField::Code(w) => format!("code {}", w.node),
                    ExampleField::Status(w) => format!("status {}", w.node),
                    ExampleField::Expect(x) => {
                        let mut s = format!("expect {} {}", x.class.node, x.reason.node);
                        for (kw, v) in [("scope", &x.scope), ("receiver", &x.receiver), ("rule", &x.rule)] {
                            if let Some(v) = v {
                                s.push_str(&format!(" {kw} {}", v.node));
                            }
                        }
                        s
                    }
                };
                p.simple(f.span(), depth + 1, text);
            }
        });
    }

    fn scenario(&mut self, sc: &ScenarioDecl) {
        self.block(sc.span, 0, format!("scenario {}", sc.name.node), |p| {
            if let Some(r) = &sc.recipient {
                p.simple(r.span, 1, format!("recipient {}", quote(&r.node)));
            }
            for e in &sc.events {
                let mut pieces = vec![Piece::between(format!("event {}", e.kind.node), e.span.start, e.kind.span.end)];
                for (k, v) in &e.options {
                    let value = match k.as_str() {
                        "optin" | "feedback" => v.node.clone(),
                        "mx" => host(v),
                        _ => quote(&v.node),
                    };
                    pieces.push(Piece::new(format!("{k} {value}"), v.span));
                }
                p.unit(e.span, 1, pieces);
            }
            if let (Some((first, _)), Some((_, last))) = (sc.expect.first(), sc.expect.last()) {
                let span = first.span.to(last.span);
                let mut pieces = vec![Piece::at("expect", span.start)];
                pieces.extend(
                    sc.expect.iter().map(|(k, v)| Piece::new(format!("{} {}", k.node, v.node), k.span.to(v.span))),
                );
                p.unit(span, 1, pieces);
            }
        });
    }

    fn rule(&mut self, r: &RuleDecl, depth: usize) {
        self.block(r.span, depth, format!("rule {}{}", r.id.node, fallback(r)), |p| p.rule_body(r, depth + 1));
    }

    /// The clauses of a rule, at `depth`.
    fn rule_body(&mut self, r: &RuleDecl, depth: usize) {
        self.open(r.when_span, depth, false);
        let lines = self.condition(&r.when, INDENT.len() * depth);
        self.emit(depth, lines, r.when_span);
        self.close(r.when_span);
        match &r.then {
            Then::Fixed(o) => self.simple(r.then_span, depth, format!("then {}", outcome(o))),
            Then::Script(src) => self.simple(r.then_span, depth, format!("then script {}", script_text(src))),
        }
        self.provenance(&r.provenance, depth);
        for ex in &r.examples {
            self.simple(ex.span, depth, format!("example {}", quote(&ex.node)));
        }
    }
}

/// ` fallback` for a fallback rule.
fn fallback(r: &RuleDecl) -> &'static str {
    if r.fallback { " fallback" } else { "" }
}

/// `kw` (written where `span` starts) followed by `items`.
fn headed(kw: &str, span: Span, items: Vec<Piece>) -> Vec<Piece> {
    let mut pieces = vec![Piece::at(kw, span.start)];
    pieces.extend(items);
    pieces
}

/// A set of states as pieces: `*` (written at `star`) for none.
fn states(ws: &[Word], star: usize) -> Vec<Piece> {
    if ws.is_empty() { vec![Piece::at("*", star)] } else { list(ws, name) }
}

fn outcome(o: &Outcome) -> String {
    let mut s = String::new();
    if let Some(c) = &o.class {
        s.push_str(&c.node);
        s.push(' ');
    }
    s.push_str(&o.reason.node);
    if let Some(sc) = &o.scope {
        s.push_str(" scope ");
        s.push_str(&sc.node);
    }
    s
}

/// A phrase pattern as written canonically.
fn pattern(p: &PhrasePattern) -> String {
    match p {
        PhrasePattern::Literal(w) => quote(&w.node),
        PhrasePattern::Words { pieces, within, .. } => {
            let pieces: Vec<String> = pieces.iter().map(|w| quote(&w.node)).collect();
            let within = within.as_ref().map(|w| format!(" within {}", w.node)).unwrap_or_default();
            format!("words {}{within}", pieces.join(" "))
        }
    }
}
