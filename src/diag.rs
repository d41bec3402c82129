//! Diagnostics: what the compiler says about a policy, and where.
//!
//! Every diagnostic has a stable code (`rebound::check::unknown_reason`), a
//! severity, a one-line message, a span into one of the policy's files, and
//! optionally a `help:` line. Spans are byte ranges; line and column are
//! computed only when a diagnostic is rendered, as text (with the source line
//! and a caret, by codespan-reporting) or as JSON for tools.
//!
//! This module does not print: rendering returns strings.

use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::{self, Files};
use codespan_reporting::term;
use serde::Serialize;

/// The index of a file in a [`Sources`].
pub type FileId = usize;

/// A byte range in one file.
///
/// Spans never take part in equality: two spans always compare equal, so
/// that two syntax trees compare equal when they mean the same, wherever
/// their parts are (the formatter relies on this). Use [`Span::key`] to
/// order spans.
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    /// The file.
    pub file: FileId,
    /// The first byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl PartialEq for Span {
    fn eq(&self, _other: &Span) -> bool {
        true
    }
}

impl Span {
    /// A span in `file` covering `range`.
    pub fn new(file: FileId, range: Range<usize>) -> Span {
        Span { file, start: range.start, end: range.end }
    }

    /// The key spans sort by: file, then position.
    pub fn key(&self) -> (FileId, usize, usize) {
        (self.file, self.start, self.end)
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    /// The byte range.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The policy cannot be used.
    Error,
    /// The policy works but something is likely wrong (a lint).
    Warning,
}

/// One finding about a policy.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The stable code, e.g. `rebound::check::unknown_reason`.
    pub code: &'static str,
    /// One line, lowercase, no final period.
    pub message: String,
    /// Where, when it is about a place in a file.
    pub span: Option<Span>,
    /// The text under the caret (may be empty).
    pub label: String,
    /// Other places that explain this one.
    pub notes: Vec<(Span, String)>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: Some(span),
            label: String::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, span, message) }
    }

    /// An error about no place in particular (a file that cannot be read).
    pub fn global(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: None,
            label: String::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    /// Sets the text under the caret.
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    /// Adds a `help:` line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Points at another place that explains this one.
    pub fn with_note(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.notes.push((span, text.into()));
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The key diagnostics sort by: location, then severity, then code.
    pub fn sort_key(&self) -> (usize, usize, usize, Severity, &'static str) {
        let (f, s, e) = self.span.map(|s| s.key()).unwrap_or((usize::MAX, 0, 0));
        (f, s, e, self.severity, self.code)
    }
}

/// Sorts diagnostics by location and keeps at most `limit` errors; when
/// errors were dropped, a last diagnostic says how many.
pub fn sort_and_bound(diags: &mut Vec<Diagnostic>, limit: usize) {
    diags.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let errors = diags.iter().filter(|d| d.is_error()).count();
    if errors > limit {
        let mut kept = 0;
        diags.retain(|d| {
            if !d.is_error() {
                return true;
            }
            kept += 1;
            kept <= limit
        });
        diags.push(Diagnostic::global(
            codes::TOO_MANY_ERRORS,
            format!("stopped after {limit} errors; {} more not shown", errors - limit),
        ));
    }
}

/// The stable diagnostic codes.
pub mod codes {
    /// A file could not be read.
    pub const IO: &str = "rebound::load::io";
    /// A file is not UTF-8.
    pub const INVALID_UTF8: &str = "rebound::load::invalid_utf8";
    /// A file is larger than the limit.
    pub const FILE_TOO_LARGE: &str = "rebound::load::file_too_large";
    /// A directory holds no `.rebound` file.
    pub const NO_FILES: &str = "rebound::load::no_files";
    /// The text does not follow the grammar.
    pub const SYNTAX: &str = "rebound::syntax::unexpected";
    /// A string or regex is not closed.
    pub const UNTERMINATED: &str = "rebound::syntax::unterminated";
    /// Parentheses nest deeper than the limit.
    pub const TOO_DEEP: &str = "rebound::syntax::nesting_too_deep";
    /// Too many errors to show.
    pub const TOO_MANY_ERRORS: &str = "rebound::check::too_many_errors";
    /// A reason that is neither standard nor declared.
    pub const UNKNOWN_REASON: &str = "rebound::check::unknown_reason";
    /// A scope outside the vocabulary.
    pub const UNKNOWN_SCOPE: &str = "rebound::check::unknown_scope";
    /// A phase outside the vocabulary.
    pub const UNKNOWN_PHASE: &str = "rebound::check::unknown_phase";
    /// A flag outside the vocabulary.
    pub const UNKNOWN_FLAG: &str = "rebound::check::unknown_flag";
    /// Two rules with the same id.
    pub const DUPLICATE_RULE: &str = "rebound::check::duplicate_rule";
    /// Two receivers with the same name.
    pub const DUPLICATE_RECEIVER: &str = "rebound::check::duplicate_receiver";
    /// A reason declared twice, or a standard reason redeclared.
    pub const DUPLICATE_REASON: &str = "rebound::check::duplicate_reason";
    /// A field given twice where once is allowed.
    pub const DUPLICATE_FIELD: &str = "rebound::check::duplicate_field";
    /// A reason declaration without a class.
    pub const MISSING_FIELD: &str = "rebound::check::missing_field";
    /// A regular expression that does not compile.
    pub const INVALID_REGEX: &str = "rebound::check::invalid_regex";
    /// A pattern template that does not parse.
    pub const INVALID_TEMPLATE: &str = "rebound::check::invalid_template";
    /// A literal or template that can never match (empty).
    pub const EMPTY_TEXT: &str = "rebound::check::empty_text";
    /// A reply code that cannot exist.
    pub const IMPOSSIBLE_CODE: &str = "rebound::check::impossible_code";
    /// An enhanced status code that cannot exist.
    pub const IMPOSSIBLE_STATUS: &str = "rebound::check::impossible_status";
    /// A script that does not parse.
    pub const SCRIPT_SYNTAX: &str = "rebound::check::script_syntax";
    /// A call to a function nothing defines (host predicate or script function).
    pub const UNKNOWN_FUNCTION: &str = "rebound::check::unknown_function";
    /// A script assigns through an index (`m[k] = v`), which escapes the map size limit.
    pub const SCRIPT_INDEX_ASSIGNMENT: &str = "rebound::check::script_index_assignment";
    /// An example names a rule that does not exist.
    pub const UNKNOWN_RULE: &str = "rebound::check::unknown_rule";
    /// An example names a receiver that does not exist.
    pub const UNKNOWN_RECEIVER: &str = "rebound::check::unknown_receiver";
    /// A host or domain pattern that is malformed.
    pub const INVALID_HOST: &str = "rebound::check::invalid_host";
    /// A date that does not exist.
    pub const INVALID_DATE: &str = "rebound::check::invalid_date";
    /// A hard or soft outcome that blames the sender.
    pub const STRIKE_BLAMES_SENDER: &str = "rebound::check::strike_blames_sender";
    /// Two receivers claim the same domain.
    pub const DUPLICATE_DOMAIN: &str = "rebound::check::duplicate_domain";
    /// A receiver with nothing to match it.
    pub const RECEIVER_UNMATCHABLE: &str = "rebound::check::receiver_unmatchable";
    /// Lint: two receivers' domains or MX patterns overlap.
    pub const OVERLAPPING_RECEIVERS: &str = "rebound::lint::overlapping_receivers";
    /// Lint: a rule can never decide because an earlier one always wins.
    pub const SHADOWED_RULE: &str = "rebound::lint::shadowed_rule";
    /// Lint: a table entry can never decide because an earlier one wins.
    pub const SHADOWED_ENTRY: &str = "rebound::lint::shadowed_entry";
    /// Lint: a declared reason no outcome uses.
    pub const UNUSED_REASON: &str = "rebound::lint::unused_reason";
    /// A second lifecycle block, or a name used twice in it.
    pub const LC_DUPLICATE: &str = "rebound::lifecycle::duplicate";
    /// A dimension that is not `delivery` or `consent`, or one not declared.
    pub const LC_DIMENSION: &str = "rebound::lifecycle::dimension";
    /// A state the dimension does not declare.
    pub const LC_UNKNOWN_STATE: &str = "rebound::lifecycle::unknown_state";
    /// A declared state no transition leads to.
    pub const LC_UNREACHABLE: &str = "rebound::lifecycle::unreachable_state";
    /// A trigger that is not a class, an event or `strikes`.
    pub const LC_UNKNOWN_TRIGGER: &str = "rebound::lifecycle::unknown_trigger";
    /// A guard value that is not known.
    pub const LC_UNKNOWN_GUARD: &str = "rebound::lifecycle::unknown_guard";
    /// A threshold, weight or duration that is not positive.
    pub const LC_THRESHOLD: &str = "rebound::lifecycle::invalid_threshold";
    /// Strike rules and `on strikes` transitions that do not go together.
    pub const LC_STRIKES: &str = "rebound::lifecycle::strikes";
    /// `if allowed` without a reactivation block.
    pub const LC_REACTIVATION: &str = "rebound::lifecycle::reactivation";
    /// `extends`, `replace`, `disable` or `extend` aimed at something no earlier layer has.
    pub const LAYER_TARGET: &str = "rebound::layer::unknown_target";
    /// A phrase, or a global rule's words, made only of stop-list words.
    pub const STOP_WORD_ALONE: &str = "rebound::check::stop_word_alone";
    /// Lint: a phrase that starts with a reply code, which the answer's text never does.
    pub const PHRASE_STARTS_WITH_CODE: &str = "rebound::lint::phrase_starts_with_code";
    /// Lint: a phrase without `source`.
    pub const PHRASE_WITHOUT_SOURCE: &str = "rebound::lint::phrase_without_source";
    /// Lint: the same phrase under two reasons.
    pub const PHRASE_TWO_REASONS: &str = "rebound::lint::phrase_in_two_reasons";
    /// Lint: a global rule whose status test's subjects its reason does not belong to.
    pub const CROSSES_SUBJECT: &str = "rebound::lint::crosses_subject";
    /// Lint: a condition that can never hold.
    pub const NEVER_MATCHES: &str = "rebound::lint::never_matches";
}

/// The text of a policy's files, for spans and rendering.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
    /// The names of the layers, lowest first (`shipped`, `./local`); empty
    /// for a policy of one layer.
    layers: Vec<String>,
}

/// One file of a policy.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path shown to people (`policies/receivers/gmail.rebound`).
    pub name: String,
    /// The path relative to the policy root, used in the version hash.
    pub rel: String,
    /// The text (invalid UTF-8 replaced, for display only).
    pub text: String,
    /// The layer the file belongs to (0 is the lowest).
    pub layer: usize,
    line_starts: Vec<usize>,
}

impl Sources {
    /// An empty set of files.
    pub fn new() -> Sources {
        Sources::default()
    }

    /// Adds a file to the current layer and returns its id.
    pub fn add(&mut self, name: impl Into<String>, rel: impl Into<String>, text: String) -> FileId {
        let line_starts = files::line_starts(&text).collect();
        let layer = self.layers.len().saturating_sub(1);
        self.files.push(SourceFile { name: name.into(), rel: rel.into(), text, layer, line_starts });
        self.files.len() - 1
    }

    /// Starts a new layer: the files added next belong to it, and it takes
    /// precedence over the layers before it. Returns its index.
    pub fn begin_layer(&mut self, name: impl Into<String>) -> usize {
        self.layers.push(name.into());
        self.layers.len() - 1
    }

    /// The layers' names, lowest first (empty for a policy of one unnamed layer).
    pub fn layers(&self) -> &[String] {
        &self.layers
    }

    /// The name of a layer, for messages (`the policy` for an unnamed one).
    pub fn layer_name(&self, layer: usize) -> &str {
        self.layers.get(layer).map_or("the policy", String::as_str)
    }

    /// All files in load order.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// One file.
    pub fn file(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id)
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, file: FileId, offset: usize) -> (usize, usize) {
        let Some(f) = self.files.get(file) else {
            return (0, 0);
        };
        let line = f.line_starts.partition_point(|&s| s <= offset).saturating_sub(1);
        let start = f.line_starts.get(line).copied().unwrap_or(0);
        let col = f.text.get(start..offset.min(f.text.len())).map(|s| s.chars().count()).unwrap_or(0);
        (line + 1, col + 1)
    }

    /// `name:line:col` of a span.
    pub fn location(&self, span: Span) -> String {
        let (l, c) = self.line_col(span.file, span.start);
        let name = self.files.get(span.file).map(|f| f.name.as_str()).unwrap_or("?");
        format!("{name}:{l}:{c}")
    }

    /// The span's range moved out to character boundaries and into the file.
    fn snap(&self, span: Span) -> Range<usize> {
        let Some(f) = self.files.get(span.file) else {
            return 0..0;
        };
        let mut start = span.start.min(f.text.len());
        let mut end = span.end.clamp(start, f.text.len());
        while !f.text.is_char_boundary(start) {
            start -= 1;
        }
        while !f.text.is_char_boundary(end) {
            end += 1;
        }
        start..end
    }

    /// Renders a diagnostic as text: location, source line and caret.
    pub fn render(&self, d: &Diagnostic) -> String {
        let mut cs = match d.severity {
            Severity::Error => CsDiagnostic::error(),
            Severity::Warning => CsDiagnostic::warning(),
        }
        .with_code(d.code)
        .with_message(&d.message);
        let mut labels = Vec::new();
        if let Some(span) = d.span {
            labels.push(Label::primary(span.file, self.snap(span)).with_message(&d.label));
        }
        for (span, text) in &d.notes {
            labels.push(Label::secondary(span.file, self.snap(*span)).with_message(text));
        }
        cs = cs.with_labels(labels);
        if let Some(help) = &d.help {
            cs = cs.with_notes(vec![format!("help: {help}")]);
        }
        let config = term::Config::default();
        match term::emit_into_string(&config, self, &cs) {
            Ok(s) => s,
            Err(_) => format!("{}[{}]: {}\n", severity_word(d.severity), d.code, d.message),
        }
    }

    /// The diagnostic as a JSON object for tools.
    pub fn to_json(&self, d: &Diagnostic) -> serde_json::Value {
        let place = |span: Span| {
            let (line, column) = self.line_col(span.file, span.start);
            let (end_line, end_column) = self.line_col(span.file, span.end);
            let file = self.files.get(span.file).map(|f| f.name.clone());
            serde_json::json!({"file": file, "line": line, "column": column,
                "end_line": end_line, "end_column": end_column})
        };
        let mut v = serde_json::json!({
            "severity": d.severity,
            "code": d.code,
            "message": d.message,
            "help": d.help,
        });
        if let (Some(span), Some(obj)) = (d.span, v.as_object_mut()) {
            if let Some(p) = place(span).as_object() {
                obj.extend(p.clone());
            }
            let notes: Vec<_> = d
                .notes
                .iter()
                .map(|(s, t)| {
                    let mut n = place(*s);
                    if let Some(o) = n.as_object_mut() {
                        o.insert("message".into(), t.clone().into());
                    }
                    n
                })
                .collect();
            obj.insert("notes".into(), notes.into());
        }
        v
    }
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

impl<'a> Files<'a> for Sources {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, files::Error> {
        self.files.get(id).map(|f| f.name.as_str()).ok_or(files::Error::FileMissing)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, files::Error> {
        self.files.get(id).map(|f| f.text.as_str()).ok_or(files::Error::FileMissing)
    }

    fn line_index(&'a self, id: FileId, byte_index: usize) -> Result<usize, files::Error> {
        let f = self.files.get(id).ok_or(files::Error::FileMissing)?;
        Ok(f.line_starts.partition_point(|&s| s <= byte_index).saturating_sub(1))
    }

    fn line_range(&'a self, id: FileId, line_index: usize) -> Result<Range<usize>, files::Error> {
        let f = self.files.get(id).ok_or(files::Error::FileMissing)?;
        let start = *f
            .line_starts
            .get(line_index)
            .ok_or(files::Error::LineTooLarge { given: line_index, max: f.line_starts.len().saturating_sub(1) })?;
        let end = f.line_starts.get(line_index + 1).copied().unwrap_or(f.text.len());
        Ok(start..end)
    }
}
