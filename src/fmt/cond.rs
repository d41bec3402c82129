//! Conditions and literals: how a test, a string, a host and a script are
//! written back, and how a condition is laid out over lines.
//!
//! Every literal is written back in a form that parses to the same value
//! *and* the same tree: a script keeps the quotes it was written with (a
//! `"…"` script is re-escaped, a `"""…"""` one is copied as it is), since
//! the two forms read escapes differently.

use super::WIDTH;
use super::printer::{Line, Piece, Printer};
use crate::diag::Span;
use crate::syntax::ast::{Expr, ScriptSrc, Spanned, Test, Word};

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

/// A script as it was written: between `"""` as it is (a triple-quoted
/// script has no escapes), or quoted with its escapes written back.
///
/// Moving a script from one form to the other is not safe: a quoted script
/// may end in `"` or hold `"""`, which a triple-quoted one cannot, and the
/// tree records the form.
pub(super) fn script_text(src: &ScriptSrc) -> String {
    if src.triple { format!("\"\"\"{}\"\"\"", src.code) } else { quote(&src.code) }
}

/// Names, comma-separated.
pub(super) fn words(ws: &[Word]) -> String {
    ws.iter().map(|w| w.node.as_str()).collect::<Vec<_>>().join(", ")
}

/// A host pattern: bare when it is one, else quoted as written.
pub(super) fn host(w: &Word) -> String {
    let bare = w.node.strip_prefix("*.").unwrap_or(&w.node);
    let plain = !bare.is_empty()
        && bare
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    if plain { w.node.clone() } else { format!("\"{}\"", w.node) }
}

/// `ws` as pieces of a comma-separated list, each written by `show`.
pub(super) fn list(ws: &[Word], show: impl Fn(&Word) -> String) -> Vec<Piece> {
    let n = ws.len();
    ws.iter()
        .enumerate()
        .map(|(i, w)| Piece::new(format!("{}{}", show(w), if i + 1 < n { "," } else { "" }), w.span))
        .collect()
}

/// A name as written.
pub(super) fn name(w: &Word) -> String {
    w.node.clone()
}

/// The keyword(s) of a test and its values as pieces.
fn test_parts(t: &Spanned<Test>) -> (&'static str, Vec<Piece>) {
    let one = |s: String, span: Span| vec![Piece::new(s, span)];
    match &t.node {
        Test::Code { inner, patterns } => (if *inner { "inner code" } else { "code" }, list(patterns, name)),
        Test::Status { inner, patterns } => (if *inner { "inner status" } else { "status" }, list(patterns, name)),
        Test::Contains(v) => ("text contains", list(v, |w| quote(&w.node))),
        Test::Like(v) => ("text like", list(v, |w| quote(&w.node))),
        Test::Matches(r) => ("text matches", one(format!("/{}/", r.node), r.span)),
        Test::Phase(v) => ("phase", list(v, name)),
        Test::Mx(v) => ("mx", list(v, host)),
        Test::Domain(v) => ("domain", list(v, host)),
        Test::Flag(w) => ("flag", one(w.node.clone(), w.span)),
        Test::Script(src) => ("script", one(script_text(src), src.span)),
        Test::Call(w) => ("call", one(w.node.clone(), w.span)),
        Test::Phrase(w) => ("phrase", one(w.node.clone(), w.span)),
    }
}

/// A test on one line.
fn test(t: &Spanned<Test>) -> String {
    let (kw, parts) = test_parts(t);
    let mut s = kw.to_string();
    for p in parts {
        s.push(' ');
        s.push_str(p.text());
    }
    s
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

/// Where the first test of `e` starts.
fn first_start(e: &Expr) -> usize {
    match e {
        Expr::Or(v) | Expr::And(v) => v.first().map_or(0, first_start),
        Expr::Not(x) => first_start(x),
        Expr::Test(t) => t.span.start,
    }
}

/// Where the last test of `e` ends.
fn last_end(e: &Expr) -> usize {
    match e {
        Expr::Or(v) | Expr::And(v) => v.last().map_or(0, last_end),
        Expr::Not(x) => last_end(x),
        Expr::Test(t) => t.span.end,
    }
}

/// One line for `e`, parenthesised when it binds looser than `min`.
fn one_line(e: &Expr, min: u8) -> String {
    let s = match e {
        Expr::Or(v) => v.iter().map(|x| one_line(x, 2)).collect::<Vec<_>>().join(" or "),
        Expr::And(v) => v.iter().map(|x| one_line(x, 3)).collect::<Vec<_>>().join(" and "),
        Expr::Not(x) => format!("not {}", one_line(x, 3)),
        Expr::Test(t) => test(t),
    };
    if prec(e) < min { format!("({s})") } else { s }
}

/// The operator keyword and the loosest operand it takes unparenthesised.
fn op(e: &Expr) -> (&'static str, u8) {
    if matches!(e, Expr::Or(_)) { ("or ", 2) } else { ("and ", 3) }
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
            let (op, min) = op(e);
            let deeper = format!("{cont}  ");
            let mut lines = Vec::new();
            for (i, x) in v.iter().enumerate() {
                let part_head = if i == 0 { head.to_string() } else { format!("{cont}{op}") };
                if prec(x) < min {
                    // A looser group inside: parenthesised, its lines shifted under the paren.
                    let inner = layout(x, "", col + part_head.len() + 1, "");
                    lines.extend(parenthesise(&part_head, inner));
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

/// `inner` inside parentheses after `head`, later lines shifted under the paren.
fn parenthesise(head: &str, inner: Vec<String>) -> Vec<String> {
    let pad = " ".repeat(head.chars().count() + 1);
    let n = inner.len();
    inner
        .into_iter()
        .enumerate()
        .map(|(j, l)| {
            let open = if j == 0 { format!("{head}(") } else { pad.clone() };
            let close = if j + 1 == n { ")" } else { "" };
            format!("{open}{l}{close}")
        })
        .collect()
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

impl Printer<'_> {
    /// The lines of the condition `e` of a `when` clause, printed at
    /// column `col`.
    ///
    /// A condition with a comment among its tests is written one test per
    /// line (and a list with a comment among its values is broken there),
    /// so that each comment stays after the test or value it followed.
    /// Comments before the first test or after the last one do not count:
    /// they go before the clause or after it either way.
    pub(super) fn condition(&self, e: &Expr, col: usize) -> Vec<Line> {
        let (start, end) = (first_start(e), last_end(e));
        if self.has_comment(start, end) {
            return self.broken(e, "when ", "  ");
        }
        layout(e, "when ", col, "  ").into_iter().map(|text| Line { text, start, end }).collect()
    }

    /// `e` with every `or` and `and` broken, as [`layout`] breaks a long one.
    fn broken(&self, e: &Expr, head: &str, cont: &str) -> Vec<Line> {
        match e {
            Expr::Or(v) | Expr::And(v) => {
                let (op, min) = op(e);
                let deeper = format!("{cont}  ");
                let mut lines = Vec::new();
                for (i, x) in v.iter().enumerate() {
                    let part_head = if i == 0 { head.to_string() } else { format!("{cont}{op}") };
                    if prec(x) < min {
                        lines.extend(self.group(x, &part_head));
                    } else {
                        lines.extend(self.broken(x, &part_head, &deeper));
                    }
                }
                lines
            }
            Expr::Not(x) => {
                let head = format!("{head}not ");
                if prec(x) < 3 { self.group(x, &head) } else { self.broken(x, &head, cont) }
            }
            Expr::Test(t) => {
                let (kw, parts) = test_parts(t);
                let pad = " ".repeat(head.chars().count() + kw.chars().count() + 1);
                let mut pieces = vec![Piece::at(kw, t.span.start)];
                pieces.extend(parts);
                self.fill(head, pieces, &pad)
            }
        }
    }

    /// `e` broken inside parentheses after `head`.
    fn group(&self, e: &Expr, head: &str) -> Vec<Line> {
        let inner = self.broken(e, "", "");
        let spans: Vec<(usize, usize)> = inner.iter().map(|l| (l.start, l.end)).collect();
        let texts = parenthesise(head, inner.into_iter().map(|l| l.text).collect());
        texts.into_iter().zip(spans).map(|(text, (start, end))| Line { text, start, end }).collect()
    }
}
