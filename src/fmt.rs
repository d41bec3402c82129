//! `rebound fmt`: one canonical layout for policy files.
//!
//! The formatter prints the AST back with fixed indentation (two spaces),
//! one clause per line, code tables with aligned arrows, long conditions
//! broken before `or`/`and`, and one blank line between top-level items.
//! Every comment is kept: a comment stays on its line after the code it
//! follows, or on its own line before the code it precedes; a comment
//! inside a multi-line condition moves below the `when` clause.
//!
//! [`format`] re-parses its own output and refuses (returns
//! [`FmtError::Unstable`]) when the tree or the comments differ, so a
//! formatter bug can never change what a policy means.

use crate::diag::{Diagnostic, Span};
use crate::syntax::{self, ast::*};

/// The line width the formatter aims for.
pub const WIDTH: usize = 100;

const INDENT: &str = "  ";

/// Why a file was not formatted.
#[derive(Debug)]
pub enum FmtError {
    /// The file does not parse.
    Parse(Vec<Diagnostic>),
    /// The formatted text would not mean the same (a formatter bug).
    Unstable,
}

/// Formats the text of one file.
pub fn format(text: &str) -> Result<String, FmtError> {
    let ast = syntax::parse(0, text).map_err(FmtError::Parse)?;
    let out = print(&ast, text);
    match syntax::parse(0, &out) {
        Ok(again) if again == ast => Ok(out),
        _ => Err(FmtError::Unstable),
    }
}

/// Prints a parsed file in canonical form; `text` is the source it came
/// from (for comments and blank lines).
pub fn print(file: &File, text: &str) -> String {
    let mut p = Printer { text, comments: &file.comments, next: 0, out: Vec::new(), last_end: 0 };
    for (i, item) in file.items.iter().enumerate() {
        if i > 0 {
            p.blank();
        }
        p.item(item);
    }
    p.flush_before(usize::MAX, 0);
    let mut s = p.out.join("\n");
    while s.ends_with('\n') {
        s.pop();
    }
    s.push('\n');
    s
}

struct Printer<'a> {
    text: &'a str,
    comments: &'a [Comment],
    next: usize,
    out: Vec<String>,
    last_end: usize,
}

impl Printer<'_> {
    fn blank(&mut self) {
        if self.out.last().is_some_and(|l| !l.is_empty() && !l.ends_with('{')) {
            self.out.push(String::new());
        }
    }

    /// Whether the source has a blank line between the last thing printed and `start`.
    fn had_blank(&self, start: usize) -> bool {
        let gap = self.text.get(self.last_end.min(start)..start).unwrap_or("");
        let lines: Vec<&str> = gap.split('\n').collect();
        lines.len() >= 3 && lines.iter().skip(1).take(lines.len() - 2).any(|l| l.trim().is_empty())
    }

    /// Prints the comments that start before `pos` on their own lines.
    fn flush_before(&mut self, pos: usize, depth: usize) {
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start >= pos {
                break;
            }
            if !self.out.is_empty() && self.had_blank(c.span.start) {
                self.blank();
            }
            self.out.push(format!("{}#{}", INDENT.repeat(depth), c.text));
            self.last_end = c.span.end;
            self.next += 1;
        }
    }

    /// Starts a unit at `span`: comments before it, and a kept blank line.
    fn open(&mut self, span: Span, depth: usize, keep_blank: bool) {
        self.flush_before(span.start, depth);
        if keep_blank && self.had_blank(span.start) {
            self.blank();
        }
    }

    /// Ends a unit at `span`: a comment on the same line goes after it.
    fn close(&mut self, span: Span) {
        self.last_end = span.end;
        if let Some(c) = self.comments.get(self.next) {
            let between = self.text.get(span.end..c.span.start).unwrap_or("\n");
            if c.span.start >= span.end && !between.contains('\n') && between.trim().is_empty() {
                if let Some(last) = self.out.last_mut() {
                    last.push_str(&format!("  #{}", c.text));
                }
                self.last_end = c.span.end;
                self.next += 1;
            }
        }
    }

    fn line(&mut self, depth: usize, s: String) {
        self.out.push(format!("{}{s}", INDENT.repeat(depth)));
    }

    /// Prints `head {`, the body, then `}` with the comments before it.
    fn block(&mut self, span: Span, depth: usize, head: String, body: impl FnOnce(&mut Self)) {
        self.open(span, depth, true);
        self.line(depth, format!("{head} {{"));
        let text = self.text.get(span.range()).unwrap_or("");
        self.last_end = span.start + text.find('{').map_or(0, |i| i + 1);
        body(self);
        self.flush_before(span.end.saturating_sub(1), depth + 1);
        self.line(depth, "}".into());
        self.close(span);
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Reason(r) => self.block(r.span, 0, format!("reason {}", r.name.node), |p| {
                for f in &r.fields {
                    p.open(f.span(), 1, true);
                    let s = match f {
                        ReasonField::Class(w) => format!("class {}", w.node),
                        ReasonField::Scope(w) => format!("scope {}", w.node),
                        ReasonField::On { code, class, .. } => {
                            format!("on {} {}", code.node, class.node)
                        }
                        ReasonField::Description(w) => format!("description {}", quote(&w.node)),
                    };
                    p.line(1, s);
                    p.close(f.span());
                }
            }),
            Item::Statuses(t) => self.table("statuses", t),
            Item::Replies(t) => self.table("replies", t),
            Item::Rule(r) => self.rule(r, 0),
            Item::Lifecycle(l) => self.lifecycle(l),
            Item::Example(e) => self.example(e, 0),
            Item::Scenario(sc) => self.scenario(sc),
            Item::Receiver(r) => self.receiver("receiver", r),
            Item::Extends(w, span) => self.simple(*span, 0, format!("extends {}", w.node)),
            Item::ReplaceRule(r) => self.rule_as("replace rule", r, 0),
            Item::DisableRule { id, note, span } => {
                let note = note.as_ref().map(|n| format!(" note {}", quote(&n.node))).unwrap_or_default();
                self.simple(*span, 0, format!("disable rule {}{note}", id.node));
            }
            Item::ExtendReceiver(r) => self.receiver("extend receiver", r),
            Item::ReplaceLifecycle(l) => self.lifecycle_as("replace lifecycle", l),
        }
    }

    fn receiver(&mut self, kw: &str, r: &ReceiverDecl) {
        self.block(r.span, 0, format!("{kw} {}", r.name.node), |p| {
            let mut prev_rule = false;
            for (i, f) in r.fields.iter().enumerate() {
                let is_rule = matches!(f, ReceiverField::Rule(_) | ReceiverField::Example(_));
                if i > 0 && (is_rule || prev_rule) {
                    p.blank();
                }
                prev_rule = is_rule;
                match f {
                    ReceiverField::Title(w) => p.simple(w.span, 1, format!("title {}", quote(&w.node))),
                    ReceiverField::Domains(ws, s) => p.simple(*s, 1, format!("domains {}", hosts(ws))),
                    ReceiverField::Mx(ws, s) => p.simple(*s, 1, format!("mx {}", hosts(ws))),
                    ReceiverField::Rule(rd) => p.rule(rd, 1),
                    ReceiverField::Example(e) => p.example(e, 1),
                }
            }
        });
    }

    fn simple(&mut self, span: Span, depth: usize, s: String) {
        self.open(span, depth, true);
        self.line(depth, s);
        self.close(span);
    }

    fn table(&mut self, kw: &str, t: &Table) {
        let keys: Vec<String> = t.entries.iter().map(|e| words(&e.keys)).collect();
        let width = keys.iter().map(|k| k.chars().count()).filter(|&w| w <= 24).max().unwrap_or(0);
        self.block(t.span, 0, kw.to_string(), |p| {
            for (e, k) in t.entries.iter().zip(keys) {
                let pad = width.saturating_sub(k.chars().count());
                p.simple(e.span, 1, format!("{k}{} -> {}", " ".repeat(pad), outcome(&e.outcome)));
            }
        });
    }

    fn lifecycle(&mut self, l: &LifecycleDecl) {
        self.lifecycle_as("lifecycle", l);
    }

    fn lifecycle_as(&mut self, head: &str, l: &LifecycleDecl) {
        self.block(l.span, 0, head.into(), |p| {
            let mut prev_block = false;
            for (i, item) in l.items.iter().enumerate() {
                let is_block = matches!(
                    item,
                    LifecycleItem::Transition(_) | LifecycleItem::Strikes(_) | LifecycleItem::Reactivation(..)
                );
                if i > 0 && (is_block || prev_block) {
                    p.blank();
                }
                prev_block = is_block;
                match item {
                    LifecycleItem::States { dimension, states, span } => {
                        p.simple(*span, 1, format!("states {}: {}", dimension.node, words(states)))
                    }
                    LifecycleItem::Eligible { kind, tests, span } => {
                        let when = if tests.is_empty() {
                            String::new()
                        } else {
                            format!(" when {}", tests.iter().map(state_test).collect::<Vec<_>>().join(" and "))
                        };
                        p.simple(*span, 1, format!("eligible {}{when}", kind.node))
                    }
                    LifecycleItem::Transition(t) => p.block(t.span, 1, format!("transition {}", t.name.node), |p| {
                        let guard = if t.guards.is_empty() {
                            String::new()
                        } else {
                            let tests: Vec<String> = t
                                .guards
                                .iter()
                                .map(|g| {
                                    if g.values.is_empty() {
                                        g.key.node.clone()
                                    } else {
                                        format!("{} {}", g.key.node, words(&g.values))
                                    }
                                })
                                .collect();
                            format!(" if {}", tests.join(" and "))
                        };
                        p.line(2, format!("on {}{guard}", t.trigger.node));
                        for c in &t.changes {
                            p.simple(c.span, 2, format!("{} {} -> {}", c.dimension.node, states(&c.from), c.to.node));
                        }
                        if t.reset_strikes {
                            p.line(2, "reset strikes".into());
                        }
                    }),
                    LifecycleItem::Strikes(s) => p.block(s.span, 1, format!("strikes {}", s.name.node), |p| {
                        for f in &s.fields {
                            let text = match f {
                                StrikesField::Count(c, _) => format!("count {}", words(c)),
                                StrikesField::Campaigns(n, _) => format!("consecutive {} campaigns", n.node),
                                StrikesField::Over(n, d, _) => format!("{} consecutive over {}", n.node, d.node),
                                StrikesField::Within(n, d, _) => format!("{} within {}", n.node, d.node),
                                StrikesField::Weight(pairs, _) => format!(
                                    "weight {}",
                                    pairs
                                        .iter()
                                        .map(|(r, w)| format!("{} {}", r.node, w.node))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                                StrikesField::Receiver(r, _) => format!("receiver {}", r.node),
                                StrikesField::Reset(e, _) => format!("reset on {}", words(e)),
                            };
                            p.simple(f.span(), 2, text);
                        }
                    }),
                    LifecycleItem::Reactivation(rules, span) => p.block(*span, 1, "reactivation".into(), |p| {
                        for r in rules {
                            let verb = if r.allow { "allow" } else { "refuse" };
                            let tests: Vec<String> = r
                                .tests
                                .iter()
                                .map(|t| match t {
                                    ReactTest::Reason(w, _) => format!("reason {}", words(w)),
                                    ReactTest::Via(w, _) => format!("via {}", words(w)),
                                    ReactTest::After(d, _) => format!("after {}", d.node),
                                })
                                .collect();
                            let when =
                                if tests.is_empty() { String::new() } else { format!(" when {}", tests.join(" and ")) };
                            p.simple(r.span, 2, format!("{verb} {}{when}", r.name.node));
                        }
                    }),
                }
            }
        });
    }

    fn example(&mut self, e: &ExampleDecl, depth: usize) {
        self.block(e.span, depth, format!("example {}", e.name.node), |p| {
            for f in &e.fields {
                let text = match f {
                    ExampleField::Answer(w) => format!("answer {}", quote(&w.node)),
                    ExampleField::Recipient(w) => format!("recipient {}", quote(&w.node)),
                    ExampleField::Mx(w) => format!("mx {}", hosts(std::slice::from_ref(w))),
                    ExampleField::Phase(w) => format!("phase {}", w.node),
                    ExampleField::Code(w) => format!("code {}", w.node),
                    ExampleField::Status(w) => format!("status {}", w.node),
                    ExampleField::Expect(x) => {
                        let mut s = format!("expect {} {}", x.class.node, x.reason.node);
                        if let Some(v) = &x.scope {
                            s.push_str(&format!(" scope {}", v.node));
                        }
                        if let Some(v) = &x.receiver {
                            s.push_str(&format!(" receiver {}", v.node));
                        }
                        if let Some(v) = &x.rule {
                            s.push_str(&format!(" rule {}", v.node));
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
                let mut s = format!("event {}", e.kind.node);
                for (k, v) in &e.options {
                    let value = match k.as_str() {
                        "optin" | "feedback" => v.node.clone(),
                        "mx" => hosts(std::slice::from_ref(v)),
                        _ => quote(&v.node),
                    };
                    s.push_str(&format!(" {k} {value}"));
                }
                p.simple(e.span, 1, s);
            }
            if !sc.expect.is_empty() {
                let parts: Vec<String> = sc.expect.iter().map(|(k, v)| format!("{} {}", k.node, v.node)).collect();
                p.line(1, format!("expect {}", parts.join(" ")));
            }
        });
    }

    fn rule(&mut self, r: &RuleDecl, depth: usize) {
        self.rule_as("rule", r, depth);
    }

    fn rule_as(&mut self, head: &str, r: &RuleDecl, depth: usize) {
        self.block(r.span, depth, format!("{head} {}", r.id.node), |p| {
            let d = depth + 1;
            p.open(r.when_span, d, false);
            let indent = INDENT.len() * d;
            for l in layout(&r.when, "when ", indent, "  ") {
                p.out.push(format!("{}{l}", " ".repeat(indent)));
            }
            p.close(r.when_span);
            match &r.then {
                Then::Fixed(o) => p.simple(r.then_span, d, format!("then {}", outcome(o))),
                Then::Script(src) => p.simple(r.then_span, d, format!("then script {}", script_text(src))),
            }
            for pv in &r.provenance {
                let s = match pv {
                    Provenance::Source(w) => format!("source {}", quote(&w.node)),
                    Provenance::Observed(w) => format!("observed {}", w.node),
                    Provenance::Note(w) => format!("note {}", quote(&w.node)),
                };
                p.simple(pv.span(), d, s);
            }
            for ex in &r.examples {
                p.simple(ex.span, d, format!("example {}", quote(&ex.node)));
            }
        });
    }
}

fn states(ws: &[Word]) -> String {
    if ws.is_empty() { "*".into() } else { words(ws) }
}

fn state_test(t: &StateTest) -> String {
    format!("{} {}", t.dimension.node, states(&t.states))
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

fn words(ws: &[Word]) -> String {
    ws.iter().map(|w| w.node.as_str()).collect::<Vec<_>>().join(", ")
}

fn hosts(ws: &[Word]) -> String {
    ws.iter()
        .map(|w| {
            let bare = w.node.strip_prefix("*.").unwrap_or(&w.node);
            let plain = !bare.is_empty()
                && bare
                    .split('.')
                    .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            if plain { w.node.clone() } else { format!("\"{}\"", w.node) }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A string literal for `s`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn test(t: &Test) -> String {
    let strings = |v: &[Word]| v.iter().map(|w| quote(&w.node)).collect::<Vec<_>>().join(", ");
    let inner = |i: &bool| if *i { "inner " } else { "" };
    match t {
        Test::Code { inner: i, patterns } => format!("{}code {}", inner(i), words(patterns)),
        Test::Status { inner: i, patterns } => format!("{}status {}", inner(i), words(patterns)),
        Test::Contains(v) => format!("text contains {}", strings(v)),
        Test::Matches(r) => format!("text matches /{}/", r.node),
        Test::Like(v) => format!("text like {}", strings(v)),
        Test::Phase(v) => format!("phase {}", words(v)),
        Test::Mx(v) => format!("mx {}", hosts(v)),
        Test::Domain(v) => format!("domain {}", hosts(v)),
        Test::Flag(w) => format!("flag {}", w.node),
        Test::Script(src) => format!("script {}", script_text(src)),
        Test::Call(w) => format!("call {}", w.node),
    }
}

/// A script as written: between `"""` when it was (or must be: a line
/// break or a quote inside), else quoted.
fn script_text(src: &ScriptSrc) -> String {
    if src.triple || src.code.contains('\n') || src.code.contains('"') {
        format!("\"\"\"{}\"\"\"", src.code)
    } else {
        quote(&src.code)
    }
}

/// Operator precedence: `or` 1, `and` 2, `not` 3, tests 4.
fn prec(e: &Expr) -> u8 {
    match e {
        Expr::Or(_) => 1,
        Expr::And(_) => 2,
        Expr::Not(_) => 3,
        Expr::Test(_) => 4,
    }
}

/// One line for `e`, parenthesised when it binds looser than `min`.
fn one_line(e: &Expr, min: u8) -> String {
    let s = match e {
        Expr::Or(v) => v.iter().map(|x| one_line(x, 2)).collect::<Vec<_>>().join(" or "),
        Expr::And(v) => v.iter().map(|x| one_line(x, 3)).collect::<Vec<_>>().join(" and "),
        Expr::Not(x) => format!("not {}", one_line(x, 3)),
        Expr::Test(t) => test(&t.node),
    };
    if prec(e) < min { format!("({s})") } else { s }
}

/// Lines for a condition after `head` (`when `), starting at column `col`:
/// one line when it fits, else broken before each `or`, then each `and`
/// (continuation lines start with `cont`, deeper for nested groups), and
/// the strings of a long text test packed into as few lines as fit.
fn layout(e: &Expr, head: &str, col: usize, cont: &str) -> Vec<String> {
    let flat = format!("{head}{}", one_line(e, 0));
    if col + flat.chars().count() <= WIDTH {
        return vec![flat];
    }
    match e {
        Expr::Or(v) | Expr::And(v) => {
            let (op, min) = if matches!(e, Expr::Or(_)) { ("or ", 2) } else { ("and ", 3) };
            let deeper = format!("{cont}  ");
            let mut lines = Vec::new();
            for (i, x) in v.iter().enumerate() {
                let part_head = if i == 0 { head.to_string() } else { format!("{cont}{op}") };
                if prec(x) < min {
                    // A looser group inside: parenthesised, its lines shifted under the paren.
                    let inner = layout(x, "", col + part_head.len() + 1, "");
                    let pad = " ".repeat(part_head.len() + 1);
                    let n = inner.len();
                    for (j, l) in inner.into_iter().enumerate() {
                        let open = if j == 0 { format!("{part_head}(") } else { pad.clone() };
                        let close = if j + 1 == n { ")" } else { "" };
                        lines.push(format!("{open}{l}{close}"));
                    }
                } else {
                    lines.extend(layout(x, &part_head, col, &deeper));
                }
            }
            lines
        }
        Expr::Test(t) => match &t.node {
            Test::Contains(v) | Test::Like(v) if v.len() > 1 => {
                let kw = if matches!(t.node, Test::Contains(_)) { "text contains " } else { "text like " };
                pack(&format!("{head}{kw}"), v, col)
            }
            _ => vec![flat],
        },
        Expr::Not(_) => vec![flat],
    }
}

/// `first` then the quoted strings, comma-separated, as many per line as fit,
/// continuation lines aligned under the first string.
fn pack(first: &str, v: &[Word], col: usize) -> Vec<String> {
    let pad = " ".repeat(first.chars().count());
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut fresh = true;
    let n = v.len();
    for (i, w) in v.iter().enumerate() {
        let item = format!("{}{}", quote(&w.node), if i + 1 < n { "," } else { "" });
        let sep = if fresh { "" } else { " " };
        if !fresh && col + line.chars().count() + sep.len() + item.chars().count() > WIDTH {
            lines.push(std::mem::replace(&mut line, pad.clone()));
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(&item);
        fresh = false;
    }
    lines.push(line);
    lines
}
