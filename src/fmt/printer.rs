//! Lines out, comments kept: the part of the formatter that knows nothing
//! of the language.
//!
//! What is printed is a sequence of *units* (a clause, a field, a table
//! entry), each a list of [`Piece`]s that know the source they came from.
//! A unit goes on one line unless a comment was written between two of its
//! pieces: then the line ends after the piece the comment followed, the
//! comment stays there, and the next piece goes on a continuation line. So
//! a comment is never moved away from the code it was written after, and
//! the same input always breaks at the same places (the output is a fixed
//! point). Comments are printed in source order, each once; a comment is
//! only ever put at the end of a line or on a line of its own, so it can
//! never swallow code.

use super::INDENT;
use crate::diag::Span;
use crate::syntax::ast::Comment;

/// A piece of a unit: its text and the source range it was printed from.
/// A keyword that has no span of its own takes an empty range where it
/// stands, so a comment after it still ends the line after it.
pub(super) struct Piece {
    text: String,
    start: usize,
    end: usize,
}

impl Piece {
    /// A piece printed from `span`.
    pub(super) fn new(text: impl Into<String>, span: Span) -> Piece {
        Piece { text: text.into(), start: span.start, end: span.end }
    }

    /// A piece printed from the source between `start` and `end`.
    pub(super) fn between(text: impl Into<String>, start: usize, end: usize) -> Piece {
        Piece { text: text.into(), start, end: end.max(start) }
    }

    /// What is printed.
    pub(super) fn text(&self) -> &str {
        &self.text
    }

    /// A keyword (or keywords) written at `at`.
    pub(super) fn at(text: impl Into<String>, at: usize) -> Piece {
        Piece { text: text.into(), start: at, end: at }
    }
}

/// One printed line of a unit (without the unit's indentation) and the
/// source range of the pieces on it.
pub(super) struct Line {
    pub(super) text: String,
    pub(super) start: usize,
    pub(super) end: usize,
}

pub(super) struct Printer<'a> {
    text: &'a str,
    comments: &'a [Comment],
    /// The first comment not yet printed.
    next: usize,
    out: Vec<String>,
    /// Where in the source the last thing printed ends.
    last_end: usize,
    /// Whether the last line ends in a comment or is one: nothing can
    /// follow on it.
    commented: bool,
}

impl<'a> Printer<'a> {
    pub(super) fn new(text: &'a str, comments: &'a [Comment]) -> Printer<'a> {
        Printer { text, comments, next: 0, out: Vec::new(), last_end: 0, commented: false }
    }

    /// The remaining comments, then the text with one final line break.
    pub(super) fn finish(mut self) -> String {
        self.flush_before(usize::MAX, 0);
        let mut s = self.out.join("\n");
        while s.ends_with('\n') {
            s.pop();
        }
        s.push('\n');
        s
    }

    fn push(&mut self, line: String) {
        self.out.push(line);
        self.commented = false;
    }

    fn push_comment(&mut self, line: String) {
        self.out.push(line);
        self.commented = true;
    }

    /// A blank line, unless the last line is blank or opens a block.
    pub(super) fn blank(&mut self) {
        if self.out.last().is_some_and(|l| !l.is_empty() && !l.ends_with('{')) {
            self.push(String::new());
        }
    }

    /// Whether the source has a blank line between the last thing printed and `start`.
    fn had_blank(&self, start: usize) -> bool {
        let gap = self.text.get(self.last_end.min(start)..start).unwrap_or("");
        let lines: Vec<&str> = gap.split('\n').collect();
        lines.len() >= 3 && lines.iter().skip(1).take(lines.len() - 2).any(|l| l.trim().is_empty())
    }

    /// Whether a comment not yet printed starts in `from..to`.
    pub(super) fn has_comment(&self, from: usize, to: usize) -> bool {
        self.comments
            .get(self.next..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| c.span.start < to)
            .any(|c| c.span.start >= from)
    }

    /// Prints the comment `c`: at the end of the last line when nothing
    /// but code stands between them in the source, else on its own line
    /// after `indent`.
    fn comment(&mut self, c: &Comment, indent: &str) {
        let same_line = self.text.get(self.last_end..c.span.start).is_some_and(|t| !t.contains('\n'));
        match self.out.last_mut() {
            Some(last) if same_line && !self.commented && !last.trim().is_empty() => {
                last.push_str(&format!("  #{}", c.text));
                self.commented = true;
            }
            _ => self.push_comment(format!("{indent}#{}", c.text)),
        }
        self.last_end = c.span.end;
        self.next += 1;
    }

    /// Prints the comments that start before `pos` on their own lines.
    pub(super) fn flush_before(&mut self, pos: usize, depth: usize) {
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start >= pos {
                break;
            }
            if !self.out.is_empty() && self.had_blank(c.span.start) {
                self.blank();
            }
            self.push_comment(format!("{}#{}", INDENT.repeat(depth), c.text));
            self.last_end = c.span.end;
            self.next += 1;
        }
    }

    /// Prints the comments that start before `pos` after the last line:
    /// the first at its end when it was written there, the others on lines
    /// of their own after `indent`.
    fn trail(&mut self, pos: usize, indent: &str) {
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start >= pos {
                break;
            }
            self.comment(c, indent);
        }
    }

    /// Starts a unit at `span`: comments before it, and a kept blank line.
    pub(super) fn open(&mut self, span: Span, depth: usize, keep_blank: bool) {
        self.flush_before(span.start, depth);
        if keep_blank && self.had_blank(span.start) {
            self.blank();
        }
    }

    /// Ends a unit at `span`: a comment on the same line goes after it.
    pub(super) fn close(&mut self, span: Span) {
        self.last_end = span.end;
        if let Some(c) = self.comments.get(self.next) {
            let between = self.text.get(span.end..c.span.start).unwrap_or("\n");
            if !self.commented && !between.contains('\n') && between.trim().is_empty() {
                self.comment(c, "");
            }
        }
    }

    /// A line with no source of its own (`reset strikes`).
    pub(super) fn line(&mut self, depth: usize, s: &str) {
        self.push(format!("{}{s}", INDENT.repeat(depth)));
    }

    /// `pieces` as lines: joined by spaces, the first line starting with
    /// `first`; a comment between two pieces starts a new line, after
    /// `cont`, with the second.
    pub(super) fn fill(&self, first: &str, pieces: Vec<Piece>, cont: &str) -> Vec<Line> {
        self.fill_within(first, pieces, cont, None)
    }

    /// Like [`Printer::fill`], and also breaks a line before a piece that
    /// would take it past [`super::WIDTH`] columns (at `depth`).
    pub(super) fn fill_width(&self, pieces: Vec<Piece>, cont: &str, depth: usize) -> Vec<Line> {
        self.fill_within("", pieces, cont, Some(super::WIDTH.saturating_sub(INDENT.len() * depth)))
    }

    /// [`Printer::fill`], breaking also before a piece that would make a
    /// line longer than `width` characters, when one is given.
    fn fill_within(&self, first: &str, pieces: Vec<Piece>, cont: &str, width: Option<usize>) -> Vec<Line> {
        let mut lines = Vec::new();
        let mut it = pieces.into_iter();
        let Some(p) = it.next() else { return lines };
        let mut cur = Line { text: format!("{first}{}", p.text), start: p.start, end: p.end };
        for p in it {
            let long = width.is_some_and(|w| cur.text.chars().count() + 1 + p.text.chars().count() > w);
            if self.has_comment(cur.end, p.start) || long {
                lines.push(std::mem::replace(
                    &mut cur,
                    Line { text: format!("{cont}{}", p.text), start: p.start, end: p.end },
                ));
            } else {
                cur.text.push(' ');
                cur.text.push_str(&p.text);
                cur.end = cur.end.max(p.end);
            }
        }
        lines.push(cur);
        lines
    }

    /// Prints a unit whose pieces fill lines of at most [`super::WIDTH`] columns.
    pub(super) fn unit_width(&mut self, span: Span, depth: usize, pieces: Vec<Piece>) {
        self.open(span, depth, true);
        let lines = self.fill_width(pieces, "", depth);
        self.emit(depth, lines, span);
        self.close(span);
    }

    /// Prints the lines of a unit spanning `span` at `depth`, each followed
    /// by the comments written between it and the next, and preceded by
    /// those written inside it.
    pub(super) fn emit(&mut self, depth: usize, lines: Vec<Line>, span: Span) {
        let base = INDENT.repeat(depth);
        if let Some(first) = lines.first() {
            self.flush_before(first.start, depth);
        }
        for (i, l) in lines.iter().enumerate() {
            // A comment written inside a piece (`then # …` before the
            // outcome) cannot follow that piece on its line: it goes before.
            let indent = format!("{base}{}", leading_spaces(&l.text));
            while let Some(c) = self.comments.get(self.next).filter(|c| c.span.start < l.end) {
                self.push_comment(format!("{indent}#{}", c.text));
                self.last_end = c.span.end;
                self.next += 1;
            }
            self.push(format!("{base}{}", l.text));
            self.last_end = self.last_end.max(l.end);
            let (until, indent) = match lines.get(i + 1) {
                Some(n) => (n.start, format!("{base}{}", leading_spaces(&n.text))),
                None => (span.end, base.clone()),
            };
            self.trail(until, &indent);
        }
    }

    /// Prints a unit of `pieces` spanning `span` at `depth`; continuation
    /// lines are indented one level more.
    pub(super) fn unit(&mut self, span: Span, depth: usize, pieces: Vec<Piece>) {
        self.open(span, depth, true);
        let lines = self.fill("", pieces, INDENT);
        self.emit(depth, lines, span);
        self.close(span);
    }

    /// Prints a unit that is one piece: `s`, printed from `span`.
    pub(super) fn simple(&mut self, span: Span, depth: usize, s: String) {
        self.unit(span, depth, vec![Piece::new(s, span)]);
    }

    /// Prints `head {`, the body, then `}` with the comments before it.
    pub(super) fn block(&mut self, span: Span, depth: usize, head: String, body: impl FnOnce(&mut Self)) {
        self.open(span, depth, true);
        self.line(depth, &format!("{head} {{"));
        let text = self.text.get(span.range()).unwrap_or("");
        self.last_end = span.start + text.find('{').map_or(0, |i| i + 1);
        body(self);
        self.flush_before(span.end.saturating_sub(1), depth + 1);
        self.line(depth, "}");
        self.close(span);
    }
}

fn leading_spaces(s: &str) -> &str {
    s.get(..s.len() - s.trim_start_matches(' ').len()).unwrap_or("")
}
