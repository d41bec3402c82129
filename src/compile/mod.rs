//! AST → compiled [`Policy`], in named stages.
//!
//! The stages run in order over a [`Unit`] that carries the files, what the
//! earlier stages found, and the diagnostics so far:
//!
//! 1. `parse` — each file to its AST ([`crate::syntax`]);
//! 2. `layers` — the layers of a layered policy merged into one list of
//!    items, later layers first, with `replace`, `disable` and `extend`
//!    applied ([`layers`]);
//! 3. `declare reasons` — the standard vocabulary plus the policy's own;
//! 4. `lower` — tables, rules and receivers: names resolved, outcomes
//!    checked (no striking verdict may blame the sender), codes, statuses,
//!    hosts and dates validated, regexes and templates compiled;
//! 5. `phrases` — phrase tables and the stop-list, and the checks that keep
//!    wording general (no stop-list word decides alone, every phrase cites
//!    a source, no global rule crosses a status subject) ([`phrases`]);
//! 6. `lifecycle` — the contact lifecycle lowered and checked (states
//!    reachable, triggers, guards, thresholds);
//! 7. `examples` — examples and scenarios checked and lowered for `rebound test`;
//! 8. `lint` — shadowed rules and table entries, overlapping receivers,
//!    unused reasons (warnings);
//! 9. `assemble` — the policy and its version, only when no stage erred.
//!
//! Compilation stops early once [`MAX_ERRORS`] errors are found, and
//! diagnostics come back sorted by location. Nothing here prints.

mod examples;
pub mod layers;
mod lifecycle;
mod lint;
mod lower;
pub mod patterns;
pub mod phrases;

pub use lint::{MAX_DNF_TERMS, MAX_SHADOW_CHECKS};
pub use lower::{MAX_PATTERN_BYTES, MAX_REGEX_BYTES};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::diag::{Diagnostic, Sources, Span, sort_and_bound};
use crate::model::ReasonInfo;
use crate::policy::{CompiledRule, Policy, ReasonId, Receiver, TableEntry};
use crate::syntax::{self, ast};
use patterns::{CodeSet, StatusPat};

/// How many errors are reported before compilation stops.
pub const MAX_ERRORS: usize = 50;

/// The result of compiling: the diagnostics, and the policy when there was
/// no error.
#[derive(Debug)]
pub struct Compiled {
    /// The files, for rendering the diagnostics.
    pub sources: Arc<Sources>,
    /// Errors and warnings, sorted by location.
    pub diagnostics: Vec<Diagnostic>,
    /// The policy, when no diagnostic is an error.
    pub policy: Option<Policy>,
    /// What each layer changes, for a policy of several layers.
    pub layers: Vec<layers::LayerSummary>,
}

impl Compiled {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// How many diagnostics are warnings.
    pub fn warnings(&self) -> usize {
        self.diagnostics.iter().filter(|d| !d.is_error()).count()
    }
}

/// Everything the stages share.
pub(crate) struct Unit {
    pub sources: Arc<Sources>,
    pub files: Vec<(usize, ast::File)>,
    pub diags: Vec<Diagnostic>,
    pub reasons: Vec<ReasonInfo>,
    pub reason_ids: HashMap<String, ReasonId>,
    /// Declared (not standard) reasons and where.
    pub declared: Vec<(ReasonId, Span)>,
    pub used: HashSet<ReasonId>,
    pub receivers: Vec<Receiver>,
    pub global: Vec<CompiledRule>,
    pub statuses: Vec<TableEntry<Vec<StatusPat>>>,
    pub replies: Vec<TableEntry<CodeSet>>,
    /// Spans of each rule's condition, by qualified id (for lints).
    pub rule_spans: HashMap<String, Span>,
    /// Every receiver declared, lowered or not (a receiver with an error
    /// is still known: its examples must not report it unknown).
    pub receiver_names: HashSet<String>,
    /// The lowered lifecycle, when the policy has a valid one.
    pub lifecycle: Option<crate::lifecycle::model::Lifecycle>,
    /// The examples and scenarios.
    pub examples: Vec<crate::testing::Example>,
    /// The lifecycle examples.
    pub scenarios: Vec<crate::testing::Scenario>,
    /// What the embedding program registers (predicates, script limits).
    pub host: crate::script::Host,
    /// The script engine, created when the first script or call is met.
    pub runtime: Option<Arc<crate::script::Runtime>>,
    /// What each layer changes.
    pub layers: Vec<layers::LayerSummary>,
    /// The phrase tables' entries.
    pub phrases: Vec<crate::policy::Phrase>,
    /// The stop-list, folded and sorted.
    pub stoplist: Vec<String>,
}

impl Unit {
    fn errors(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }
}

type Stage = fn(&mut Unit);

/// The stages in order.
const STAGES: &[(&str, Stage)] = &[
    ("parse", parse),
    ("layers", layers::layers),
    ("declare reasons", lower::declare_reasons),
    ("lower", lower::lower),
    ("phrases", phrases::phrases),
    ("lifecycle", lifecycle::lifecycle),
    ("examples", examples::examples),
    ("lint", lint::lint),
];

/// Compiles the files of one policy. `load` carries diagnostics from
/// reading the files (unreadable, not UTF-8), which count as errors.
pub fn compile(sources: Sources, load: Vec<Diagnostic>) -> Compiled {
    compile_with(sources, load, &crate::script::Host::default())
}

/// Compiles with the predicates and script limits of an embedding program:
/// a policy that calls a function the host does not register fails.
pub fn compile_with(sources: Sources, load: Vec<Diagnostic>, host: &crate::script::Host) -> Compiled {
    let sources = Arc::new(sources);
    let mut unit = Unit {
        sources: sources.clone(),
        files: Vec::new(),
        diags: load,
        reasons: Vec::new(),
        reason_ids: HashMap::new(),
        declared: Vec::new(),
        used: HashSet::new(),
        receivers: Vec::new(),
        global: Vec::new(),
        statuses: Vec::new(),
        replies: Vec::new(),
        rule_spans: HashMap::new(),
        receiver_names: HashSet::new(),
        lifecycle: None,
        examples: Vec::new(),
        scenarios: Vec::new(),
        host: host.clone(),
        runtime: None,
        layers: Vec::new(),
        phrases: Vec::new(),
        stoplist: Vec::new(),
    };
    for (_name, stage) in STAGES {
        stage(&mut unit);
        if unit.errors() >= MAX_ERRORS {
            break;
        }
    }
    let mut diagnostics = std::mem::take(&mut unit.diags);
    sort_and_bound(&mut diagnostics, MAX_ERRORS);
    let layers = std::mem::take(&mut unit.layers);
    let policy = if diagnostics.iter().any(Diagnostic::is_error) { None } else { Some(assemble(unit)) };
    Compiled { sources, diagnostics, policy, layers }
}

/// Compiles one policy given as a string (for tests and embedders).
pub fn compile_str(name: &str, text: &str) -> Compiled {
    let mut sources = Sources::new();
    sources.add(name, name, text.to_string());
    compile(sources, Vec::new())
}

fn parse(unit: &mut Unit) {
    let sources = unit.sources.clone();
    for (id, f) in sources.files().iter().enumerate() {
        // Files that failed to load carry a load diagnostic already.
        if unit.diags.iter().any(|d| d.span.is_some_and(|s| s.file == id)) {
            continue;
        }
        match syntax::parse(id, &f.text) {
            Ok(ast) => unit.files.push((id, ast)),
            Err(ds) => unit.diags.extend(ds),
        }
    }
}

/// The `assemble` stage: builds the matchers (the evaluator's index) and
/// freezes the policy.
fn assemble(mut unit: Unit) -> Policy {
    if let Some(lc) = unit.lifecycle.as_mut() {
        lc.runtime = unit.runtime.clone();
    }
    let index = crate::eval::index::Index::build(
        &mut unit.receivers,
        &mut unit.global,
        &mut unit.phrases,
        &unit.statuses,
        &unit.replies,
    );
    let has_fallback_rules = unit.global.iter().chain(unit.receivers.iter().flat_map(|r| &r.rules)).any(|r| r.fallback);
    Policy {
        has_fallback_rules,
        version: version_of(&unit.sources),
        sources: unit.sources,
        reasons: unit.reasons,
        reason_ids: unit.reason_ids,
        receivers: unit.receivers,
        global: unit.global,
        statuses: unit.statuses,
        replies: unit.replies,
        index,
        lifecycle: unit.lifecycle,
        examples: unit.examples,
        scenarios: unit.scenarios,
        runtime: unit.runtime,
        phrases: unit.phrases,
        stoplist: unit.stoplist,
    }
}

/// The content hash of a policy: its files' relative paths and texts, in
/// load order, as 16 hex digits of SHA-256. With several layers, each
/// file's layer counts too (a policy of one layer hashes as it always has).
pub fn version_of(sources: &Sources) -> String {
    let mut h = Sha256::new();
    let layered = sources.layers().len() > 1;
    for f in sources.files() {
        if layered {
            h.update(f.layer.to_le_bytes());
        }
        h.update(f.rel.as_bytes());
        h.update([0]);
        h.update(f.text.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The best "did you mean" for `word` among `candidates`.
pub(crate) fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// An "unknown X" error with a suggestion when one is close.
pub(crate) fn unknown<'a>(
    code: &'static str,
    what: &str,
    word: &ast::Word,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Diagnostic {
    let d = Diagnostic::error(code, word.span, format!("unknown {what} `{}`", word.node));
    match suggest(&word.node, candidates) {
        Some(s) => d.with_label(format!("did you mean `{s}`?")).with_help(format!("did you mean `{s}`?")),
        None => d.with_label(format!("not a known {what}")),
    }
}
