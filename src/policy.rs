//! The compiled policy: what the evaluator runs and `explain` shows.
//!
//! Built only by [`crate::compile`]; immutable afterwards, `Send + Sync`, and
//! cheap to share behind an `Arc`. It keeps each rule's id, location and
//! provenance so that every verdict can say which rule decided and why.

use std::collections::HashMap;
use std::sync::Arc;

use crate::compile::patterns::{CodeSet, HostPat, StatusPat};
use crate::diag::{Sources, Span};
use crate::model::{Class, Flag, ReasonInfo, Scope};

/// The index of a reason in [`Policy::reasons`].
pub type ReasonId = usize;

/// A compiled policy.
#[derive(Debug)]
pub struct Policy {
    pub(crate) version: String,
    pub(crate) sources: std::sync::Arc<Sources>,
    pub(crate) reasons: Vec<ReasonInfo>,
    pub(crate) reason_ids: HashMap<String, ReasonId>,
    pub(crate) receivers: Vec<Receiver>,
    pub(crate) global: Vec<CompiledRule>,
    pub(crate) statuses: Vec<TableEntry<Vec<StatusPat>>>,
    pub(crate) replies: Vec<TableEntry<CodeSet>>,
    pub(crate) index: crate::eval::index::Index,
    pub(crate) lifecycle: Option<crate::lifecycle::model::Lifecycle>,
    pub(crate) examples: Vec<crate::testing::Example>,
    pub(crate) scenarios: Vec<crate::testing::Scenario>,
    pub(crate) runtime: Option<Arc<crate::script::Runtime>>,
    pub(crate) phrases: Vec<Phrase>,
    pub(crate) stoplist: Vec<String>,
    /// Whether any rule is a `fallback` rule (tried after the phrases).
    pub(crate) has_fallback_rules: bool,
}

impl Policy {
    /// The phrase tables' entries, in policy order.
    pub fn phrases(&self) -> &[Phrase] {
        &self.phrases
    }

    /// The words that may never decide a reason alone (folded).
    pub fn stoplist(&self) -> &[String] {
        &self.stoplist
    }

    /// The policy's version: a hash of its files' paths and contents.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The files the policy was built from.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// The reasons the policy knows: the standard ones, then its own.
    pub fn reasons(&self) -> &[ReasonInfo] {
        &self.reasons
    }

    /// A reason by name.
    pub fn reason(&self, name: &str) -> Option<&ReasonInfo> {
        self.reason_ids.get(name).and_then(|&id| self.reasons.get(id))
    }

    /// The receivers in load order.
    pub fn receivers(&self) -> &[Receiver] {
        &self.receivers
    }

    /// The global rules in policy order.
    pub fn global_rules(&self) -> &[CompiledRule] {
        &self.global
    }

    /// Every rule: each receiver's, then the global ones.
    pub fn all_rules(&self) -> impl Iterator<Item = &CompiledRule> {
        self.receivers.iter().flat_map(|r| r.rules.iter()).chain(self.global.iter())
    }

    /// The status table in policy order.
    pub fn status_table(&self) -> &[TableEntry<Vec<StatusPat>>] {
        &self.statuses
    }

    /// The script engine, when the policy has scripts or host calls.
    pub fn runtime(&self) -> Option<&crate::script::Runtime> {
        self.runtime.as_deref()
    }

    /// Scripts that failed or exceeded a limit so far.
    pub fn script_errors(&self) -> u64 {
        self.runtime.as_ref().map_or(0, |r| r.errors())
    }

    /// Reads an outcome written as text (`soft mailbox_full scope recipient`).
    pub fn outcome_from_text(&self, text: &str) -> Result<Outcome, String> {
        parse_outcome_text(text, &self.reason_ids, &self.reasons)
    }

    /// The policy's lifecycle, when it declares one.
    pub fn lifecycle(&self) -> Option<&crate::lifecycle::model::Lifecycle> {
        self.lifecycle.as_ref()
    }

    /// The policy's examples (from rules and `example` blocks).
    pub fn examples(&self) -> &[crate::testing::Example] {
        &self.examples
    }

    /// The policy's lifecycle examples.
    pub fn scenarios(&self) -> &[crate::testing::Scenario] {
        &self.scenarios
    }

    /// The reply-code table in policy order.
    pub fn reply_table(&self) -> &[TableEntry<CodeSet>] {
        &self.replies
    }
}

/// A receiver section.
#[derive(Debug)]
pub struct Receiver {
    /// Its name (`gmail`).
    pub name: String,
    /// Its display title, or the name.
    pub title: String,
    /// The recipient domains that select it.
    pub domains: Vec<HostPat>,
    /// The MX hosts that select it.
    pub mx: Vec<HostPat>,
    /// Where each of `domains` is written, in the same order.
    pub domain_spans: Vec<crate::diag::Span>,
    /// Where each of `mx` is written, in the same order.
    pub mx_spans: Vec<crate::diag::Span>,
    /// Its rules in policy order.
    pub rules: Vec<CompiledRule>,
    /// Where it is declared.
    pub location: Location,
}

/// A file and line, as shown in verdicts (`policies/receivers/gmail.rebound:14`).
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    /// The file as shown to people.
    pub file: String,
    /// The 1-based line.
    pub line: usize,
    /// The span, for diagnostics.
    pub span: Span,
    /// `file:line`, ready for output.
    pub label: String,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

/// Where a rule's knowledge comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// A URL or a description of where the answer was seen.
    pub source: Option<String>,
    /// When it was observed (`YYYY-MM-DD`).
    pub observed: Option<String>,
    /// Why it is classified so.
    pub note: Option<String>,
}

/// An outcome as written: the class and scope may be left to the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The class, when written.
    pub class: Option<Class>,
    /// The reason.
    pub reason: ReasonId,
    /// The scope, when written.
    pub scope: Option<Scope>,
}

/// What a phrase table names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhraseTarget {
    /// A reason: the phrase says it.
    Reason(ReasonId),
    /// The refusal is permanent ("permanently", "will not succeed").
    Permanent,
    /// The refusal is temporary ("temporarily", "try again later").
    Temporary,
}

/// How a phrase matches the folded text.
#[derive(Debug, Clone, PartialEq)]
pub enum PhraseMatch {
    /// These words, as written (folded).
    Literal {
        /// The folded words.
        text: String,
        /// Their number in the policy's automaton.
        id: u32,
    },
    /// These pieces in this order, at most `within` words between two.
    Words {
        /// The folded pieces.
        pieces: Vec<String>,
        /// Their numbers in the policy's automaton.
        ids: Vec<u32>,
        /// The most words between two pieces.
        within: usize,
    },
}

/// One phrase of a phrase table.
#[derive(Debug, Clone)]
pub struct Phrase {
    /// What it says.
    pub target: PhraseTarget,
    /// How it matches.
    pub pattern: PhraseMatch,
    /// The pattern as written, for explain (`"user unknown"`, `words "user" "does not exist"`).
    pub text: String,
    /// Where it is.
    pub location: Location,
    /// Where its wording comes from.
    pub provenance: Provenance,
    /// `phrases.REASON`, the id verdicts name.
    pub id: String,
    /// From a `weak` table: decides only when no other table's phrase is found.
    pub weak: bool,
    /// An `except` entry: when found, the table's phrases do not count.
    pub veto: bool,
}

impl Phrase {
    /// How specific the phrase is: the characters it must find.
    pub fn weight(&self) -> usize {
        match &self.pattern {
            PhraseMatch::Literal { text, .. } => text.chars().count(),
            PhraseMatch::Words { pieces, .. } => pieces.iter().map(|p| p.chars().count()).sum(),
        }
    }
}

/// A compiled rule.
#[derive(Debug)]
pub struct CompiledRule {
    /// The qualified id (`gmail.user_unknown`).
    pub id: String,
    /// The receiver it belongs to, if any.
    pub receiver: Option<String>,
    /// The condition.
    pub cond: Cond,
    /// The outcome script, when the outcome is `then script …` (then
    /// `outcome` is not used).
    pub then_script: Option<Arc<crate::script::Script>>,
    /// The condition as written (whitespace collapsed), for people.
    pub when_text: String,
    /// The outcome.
    pub outcome: Outcome,
    /// Where it is.
    pub location: Location,
    /// Where its knowledge comes from.
    pub provenance: Provenance,
    /// Whether the condition tests the (outer) status: then the rule may
    /// give a reason of another subject than the status's (a receiver's
    /// own re-use of a code); otherwise text cannot cross the subject.
    pub names_status: bool,
    /// `fallback`: tried after the phrase tables, before the code tables.
    pub fallback: bool,
}

/// A row of a code table.
#[derive(Debug)]
pub struct TableEntry<K> {
    /// The codes or statuses.
    pub key: K,
    /// What they mean.
    pub outcome: Outcome,
    /// Where it is.
    pub location: Location,
    /// The keys as written, for explain.
    pub text: String,
}

/// A regex test and what its matches must contain.
#[derive(Debug)]
pub struct RegexTest {
    /// The compiled, case-insensitive regex.
    pub regex: regex::Regex,
    /// Folded literals one of which every match contains (none known: empty).
    pub required: Vec<String>,
    /// Their ids in the policy's automaton.
    pub required_ids: Vec<u32>,
}

/// A compiled condition.
#[derive(Debug)]
pub enum Cond {
    /// All must hold.
    All(Vec<Cond>),
    /// Any must hold.
    Any(Vec<Cond>),
    /// The negation.
    Not(Box<Cond>),
    /// A single test.
    Atom(Box<Atom>),
}

/// A single test with its source text (for explain) and span.
#[derive(Debug)]
pub struct Atom {
    /// What it tests.
    pub test: AtomTest,
    /// The test as written.
    pub text: String,
    /// Where it is.
    pub span: Span,
}

/// What a single test checks.
#[derive(Debug)]
pub enum AtomTest {
    /// The reply code (outer, or the nested one when `inner`).
    Code {
        /// Test the nested reply.
        inner: bool,
        /// The codes.
        set: CodeSet,
    },
    /// The enhanced status code.
    Status {
        /// Test the nested reply.
        inner: bool,
        /// The patterns, any of which.
        pats: Vec<StatusPat>,
    },
    /// Any of these folded literals is a substring of the folded text. The
    /// ids are the literals' numbers in the policy's automaton.
    Contains(Vec<String>, Vec<u32>),
    /// The regex (from `matches` or a `like` template) finds a match in the
    /// folded text.
    Regex(Box<RegexTest>),
    /// The phase is one of these.
    Phase(Vec<crate::model::Phase>),
    /// The MX host matches one of these.
    Mx(Vec<HostPat>),
    /// The recipient's domain matches one of these.
    Domain(Vec<HostPat>),
    /// Normalisation raised this flag.
    Flag(Flag),
    /// A script returned true.
    Script(Arc<crate::script::Script>),
    /// A host predicate returned true.
    Call(String, HostPredicate),
    /// A phrase of this table is in the text (`phrase user_unknown`).
    Phrase(PhraseTarget),
}

/// A host predicate held by a compiled condition.
#[derive(Clone)]
pub struct HostPredicate(pub crate::script::Predicate);

impl std::fmt::Debug for HostPredicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostPredicate")
    }
}

/// Reads `CLASS REASON [scope SCOPE]` against a policy's reasons, with the
/// checks of a written outcome (a striking class never blames the sender).
pub fn parse_outcome_text(
    text: &str,
    ids: &HashMap<String, ReasonId>,
    reasons: &[ReasonInfo],
) -> Result<Outcome, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let (class, rest) = match words.split_first() {
        Some((c, rest)) => {
            (Class::parse(c).ok_or_else(|| format!("`{c}` is not a class (hard, soft, block, defer, ignore)"))?, rest)
        }
        None => return Err("an empty outcome".into()),
    };
    let (reason, rest) = rest.split_first().ok_or("an outcome needs a reason after its class")?;
    let id = *ids.get(*reason).ok_or_else(|| format!("unknown reason `{reason}`"))?;
    let scope = match rest {
        [] => None,
        ["scope", s] => Some(Scope::parse(s).ok_or_else(|| format!("unknown scope `{s}`"))?),
        _ => return Err(format!("cannot read `{text}` as CLASS REASON [scope SCOPE]")),
    };
    let eff = scope.or(reasons.get(id).map(|r| r.scope)).unwrap_or(Scope::Unknown);
    if class.strikes() && eff.blames_sender() {
        return Err(format!("a `{class}` verdict cannot blame the sender (scope `{eff}`)"));
    }
    Ok(Outcome { class: Some(class), reason: id, scope })
}
