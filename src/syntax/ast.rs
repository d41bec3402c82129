//! The spanned abstract syntax tree of one `.rebound` file.
//!
//! Built by [`super::parse`] from pest's pairs; nothing outside `syntax/`
//! sees pest. Tokens whose shape the compiler validates (reply codes, status
//! codes, dates, hosts) are kept as their source text with a span, so the
//! compiler can point at exactly what is wrong.
//!
//! AST equality ignores spans (see [`Span`]), which is what `fmt` needs to
//! prove that its output means the same as its input.

use crate::diag::Span;

/// A value and the source range it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub node: T,
    /// Where it is in the file.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Wraps a value with its span.
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

/// A name or token as written: rule ids, reasons, codes, hosts.
pub type Word = Spanned<String>;

/// One parsed file.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// The top-level items in source order.
    pub items: Vec<Item>,
    /// Every comment of the file with its span, in source order.
    pub comments: Vec<Comment>,
}

/// A `# …` comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// The text after the first `#`, without trailing whitespace or the line break.
    pub text: String,
    /// Where the comment is, `#` included.
    pub span: Span,
}

/// A top-level item.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `reason NAME { … }`
    Reason(ReasonDecl),
    /// `statuses { … }`
    Statuses(Table),
    /// `replies { … }`
    Replies(Table),
    /// `rule ID { … }`
    Rule(RuleDecl),
    /// `receiver NAME { … }`
    Receiver(ReceiverDecl),
    /// `lifecycle { … }`
    Lifecycle(LifecycleDecl),
    /// `example NAME { … }`
    Example(ExampleDecl),
    /// `scenario NAME { … }`
    Scenario(ScenarioDecl),
    /// `extends NAME`: this layer sits on another (`shipped`).
    Extends(Word, Span),
    /// `replace rule ID { … }`: new content for a rule of an earlier layer
    /// (the id may be qualified: `gmail.user_unknown`).
    ReplaceRule(RuleDecl),
    /// `disable rule ID [note "…"]`: a rule of an earlier layer no longer decides.
    DisableRule {
        /// The rule's id, qualified for a receiver's rule.
        id: Word,
        /// Why, when given.
        note: Option<Word>,
        /// The whole item.
        span: Span,
    },
    /// `extend receiver NAME { … }`: more domains, MX, rules and examples for
    /// a receiver of an earlier layer; its rules are tried first.
    ExtendReceiver(ReceiverDecl),
    /// `replace lifecycle { … }`: the lifecycle of an earlier layer, replaced whole.
    ReplaceLifecycle(LifecycleDecl),
    /// `phrases REASON { … }`: wording that names a reason (or `permanent`,
    /// `temporary`: wording that says how lasting a refusal is).
    Phrases(PhrasesDecl),
    /// `stoplist { … }`: words that may never decide a reason alone.
    Stoplist(StoplistDecl),
}

/// `phrases NAME { … }`
#[derive(Debug, Clone, PartialEq)]
pub struct PhrasesDecl {
    /// The reason (or `permanent` / `temporary`).
    pub name: Word,
    /// `weak`: its phrases decide only when no other table's phrase is found.
    pub weak: bool,
    /// The entries in order.
    pub entries: Vec<PhraseEntry>,
    /// The whole table.
    pub span: Span,
}

/// One entry of a phrase table: patterns sharing their provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct PhraseEntry {
    /// `except …`: the patterns veto the table instead of naming it.
    pub except: bool,
    /// The patterns.
    pub patterns: Vec<PhrasePattern>,
    /// `source` and `note` clauses.
    pub provenance: Vec<Provenance>,
    /// The whole entry.
    pub span: Span,
}

/// A phrase: literal words, or words in order a few words apart.
#[derive(Debug, Clone, PartialEq)]
pub enum PhrasePattern {
    /// `"user unknown"`
    Literal(Word),
    /// `words "user" "does not exist" [within N]`
    Words {
        /// The pieces, in order.
        pieces: Vec<Word>,
        /// The most words between two pieces, when given.
        within: Option<Word>,
        /// The whole pattern.
        span: Span,
    },
}

impl PhrasePattern {
    /// The span of the pattern.
    pub fn span(&self) -> Span {
        match self {
            PhrasePattern::Literal(w) => w.span,
            PhrasePattern::Words { span, .. } => *span,
        }
    }
}

/// `stoplist { … }`
#[derive(Debug, Clone, PartialEq)]
pub struct StoplistDecl {
    /// The entries: words sharing their provenance.
    pub entries: Vec<(Vec<Word>, Vec<Provenance>, Span)>,
    /// The whole list.
    pub span: Span,
}

impl Item {
    /// The span of the whole item.
    pub fn span(&self) -> Span {
        match self {
            Item::Reason(r) => r.span,
            Item::Statuses(t) | Item::Replies(t) => t.span,
            Item::Rule(r) => r.span,
            Item::Receiver(r) => r.span,
            Item::Lifecycle(l) => l.span,
            Item::Example(e) => e.span,
            Item::Scenario(s) => s.span,
            Item::Extends(_, span) | Item::DisableRule { span, .. } => *span,
            Item::ReplaceRule(r) => r.span,
            Item::ExtendReceiver(r) => r.span,
            Item::ReplaceLifecycle(l) => l.span,
            Item::Phrases(p) => p.span,
            Item::Stoplist(s) => s.span,
        }
    }
}

/// A reason declared by the policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ReasonDecl {
    /// The reason's name.
    pub name: Word,
    /// Its fields in source order.
    pub fields: Vec<ReasonField>,
    /// The whole declaration.
    pub span: Span,
}

/// One field of a reason declaration.
#[derive(Debug, Clone, PartialEq)]
pub enum ReasonField {
    /// `class hard`
    Class(Word),
    /// `scope recipient`
    Scope(Word),
    /// `on 4xx soft`
    On {
        /// The reply class the override applies to.
        code: Word,
        /// The class used then.
        class: Word,
        /// The whole field.
        span: Span,
    },
    /// `description "…"`
    Description(Word),
    /// `subjects 1, 2`
    Subjects(Vec<Word>, Span),
}

impl ReasonField {
    /// The span of the field.
    pub fn span(&self) -> Span {
        match self {
            ReasonField::Class(w) | ReasonField::Scope(w) | ReasonField::Description(w) => w.span,
            ReasonField::On { span, .. } | ReasonField::Subjects(_, span) => *span,
        }
    }
}

/// A code table: `statuses { … }` or `replies { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Entries in source order.
    pub entries: Vec<TableEntry>,
    /// The whole table.
    pub span: Span,
}

/// `5.1.1, 5.1.10 -> hard user_unknown`
#[derive(Debug, Clone, PartialEq)]
pub struct TableEntry {
    /// The codes or statuses on the left.
    pub keys: Vec<Word>,
    /// What they mean.
    pub outcome: Outcome,
    /// The whole entry.
    pub span: Span,
}

/// A rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDecl {
    /// The rule's id as written (unqualified).
    pub id: Word,
    /// `fallback`: tried after the phrase tables, not with the rules.
    pub fallback: bool,
    /// The condition after `when`.
    pub when: Expr,
    /// The outcome after `then`: fixed, or a script.
    pub then: Then,
    /// `source`, `observed` and `note` clauses in source order.
    pub provenance: Vec<Provenance>,
    /// `example "…"` answers this rule must decide.
    pub examples: Vec<Word>,
    /// The whole rule.
    pub span: Span,
    /// The span of the `when` clause (keyword included).
    pub when_span: Span,
    /// The span of the `then` clause (keyword included).
    pub then_span: Span,
}

/// What follows `then`.
#[derive(Debug, Clone, PartialEq)]
pub enum Then {
    /// `then hard user_unknown`
    Fixed(Outcome),
    /// `then script """ … """`
    Script(ScriptSrc),
}

/// A script as written: its code and where the code starts in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptSrc {
    /// The code (triple-quoted: as written; quoted: escapes resolved).
    pub code: String,
    /// Whether it was written between `"""`.
    pub triple: bool,
    /// The whole literal.
    pub span: crate::diag::Span,
    /// The byte offset of the code's first character in the file.
    pub body_start: Skip<usize>,
}

/// A value that takes no part in equality (like spans).
#[derive(Debug, Clone, Copy, Default)]
pub struct Skip<T>(pub T);

impl<T> PartialEq for Skip<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Where a rule's knowledge comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Provenance {
    /// `source "https://…"`
    Source(Word),
    /// `observed 2026-11-01`
    Observed(Word),
    /// `note "…"`
    Note(Word),
}

impl Provenance {
    /// The span of the clause's value.
    pub fn span(&self) -> Span {
        match self {
            Provenance::Source(w) | Provenance::Observed(w) | Provenance::Note(w) => w.span,
        }
    }
}

/// `[class] reason [scope S]`
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The class, when written.
    pub class: Option<Word>,
    /// The reason.
    pub reason: Word,
    /// The scope, when written.
    pub scope: Option<Word>,
    /// The whole outcome.
    pub span: Span,
}

/// A receiver section.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverDecl {
    /// The receiver's name (`gmail`).
    pub name: Word,
    /// Fields and rules in source order.
    pub fields: Vec<ReceiverField>,
    /// The whole section.
    pub span: Span,
}

/// One entry of a receiver section.
#[derive(Debug, Clone, PartialEq)]
#[expect(clippy::large_enum_variant, reason = "a few fields per receiver; boxing would only add noise")]
pub enum ReceiverField {
    /// `title "…"`
    Title(Word),
    /// `domains a.com, *.b.com`
    Domains(Vec<Word>, Span),
    /// `mx *.google.com`
    Mx(Vec<Word>, Span),
    /// A rule of this receiver.
    Rule(RuleDecl),
    /// An example for this receiver.
    Example(ExampleDecl),
}

impl ReceiverField {
    /// The span of the field.
    pub fn span(&self) -> Span {
        match self {
            ReceiverField::Title(w) => w.span,
            ReceiverField::Domains(_, s) | ReceiverField::Mx(_, s) => *s,
            ReceiverField::Rule(r) => r.span,
            ReceiverField::Example(e) => e.span,
        }
    }
}

/// A condition. `and`/`or` chains are flat: `(a and b) and c` is one `And`
/// of three, so regrouping by the formatter does not change the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All must hold.
    And(Vec<Expr>),
    /// Any must hold.
    Or(Vec<Expr>),
    /// The negation.
    Not(Box<Expr>),
    /// A single test.
    Test(Spanned<Test>),
}

/// A single test on the response.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `[inner] code 550, 45x, 550..554`
    Code {
        /// Test the nested reply instead of the outer one.
        inner: bool,
        /// The patterns as written.
        patterns: Vec<Word>,
    },
    /// `[inner] status 5.1.1, x.7.*`
    Status {
        /// Test the nested reply instead of the outer one.
        inner: bool,
        /// The patterns as written.
        patterns: Vec<Word>,
    },
    /// `text contains "a", "b"` (values unescaped)
    Contains(Vec<Word>),
    /// `text matches /re/` (the source between the slashes, unchanged)
    Matches(Word),
    /// `text like "Messages from {ip}"` (values unescaped)
    Like(Vec<Word>),
    /// `phase rcpt, data`
    Phase(Vec<Word>),
    /// `mx *.google.com`
    Mx(Vec<Word>),
    /// `domain gmail.com`
    Domain(Vec<Word>),
    /// `flag class_mismatch`
    Flag(Word),
    /// `script """ … """`
    Script(ScriptSrc),
    /// `call is_vip`
    Call(Word),
    /// `phrase user_unknown`
    Phrase(Word),
}

/// The `lifecycle` block.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleDecl {
    /// Its parts in source order.
    pub items: Vec<LifecycleItem>,
    /// The whole block.
    pub span: Span,
}

/// One part of the lifecycle.
#[derive(Debug, Clone, PartialEq)]
pub enum LifecycleItem {
    /// `states delivery: active, error`
    States {
        /// The dimension.
        dimension: Word,
        /// Its states; the first is the initial one.
        states: Vec<Word>,
        /// The whole declaration.
        span: Span,
    },
    /// `transition NAME { … }`
    Transition(TransitionDecl),
    /// `strikes NAME { … }`
    Strikes(StrikesDecl),
    /// `reactivation { … }`
    Reactivation(Vec<ReactivationRule>, Span),
    /// `eligible KIND when …`
    Eligible {
        /// The kind of message.
        kind: Word,
        /// The conditions on the state.
        tests: Vec<StateTest>,
        /// The whole declaration.
        span: Span,
    },
}

impl LifecycleItem {
    /// The span of the item.
    pub fn span(&self) -> Span {
        match self {
            LifecycleItem::States { span, .. }
            | LifecycleItem::Reactivation(_, span)
            | LifecycleItem::Eligible { span, .. } => *span,
            LifecycleItem::Transition(t) => t.span,
            LifecycleItem::Strikes(s) => s.span,
        }
    }
}

/// `transition NAME { on TRIGGER [if GUARD and …] DIMENSION FROM -> TO … [reset strikes] }`
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionDecl {
    /// Its name.
    pub name: Word,
    /// What triggers it: a verdict class, an event type, or `strikes`.
    pub trigger: Word,
    /// Guards, all of which must hold.
    pub guards: Vec<GuardTest>,
    /// The changes of state.
    pub changes: Vec<Change>,
    /// Whether it resets the strike history.
    pub reset_strikes: bool,
    /// The whole declaration.
    pub span: Span,
}

/// `reason user_unknown, host_unknown` in a guard (or `script …`, or `allowed`).
#[derive(Debug, Clone, PartialEq)]
pub struct GuardTest {
    /// The script of `if script …`.
    pub script: Option<ScriptSrc>,
    /// What is tested.
    pub key: Word,
    /// The values accepted.
    pub values: Vec<Word>,
    /// The whole test.
    pub span: Span,
}

/// `delivery active -> error`
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The dimension.
    pub dimension: Word,
    /// The states it applies from; empty for `*`.
    pub from: Vec<Word>,
    /// The state it goes to.
    pub to: Word,
    /// The whole change.
    pub span: Span,
}

/// `consent confirmed, single` in an eligibility rule; empty states for `*`.
#[derive(Debug, Clone, PartialEq)]
pub struct StateTest {
    /// The dimension.
    pub dimension: Word,
    /// The states accepted; empty for `*`.
    pub states: Vec<Word>,
    /// The whole test.
    pub span: Span,
}

/// `strikes NAME { … }`
#[derive(Debug, Clone, PartialEq)]
pub struct StrikesDecl {
    /// Its name.
    pub name: Word,
    /// Its fields in source order.
    pub fields: Vec<StrikesField>,
    /// The whole declaration.
    pub span: Span,
}

/// One field of a strike rule.
#[derive(Debug, Clone, PartialEq)]
pub enum StrikesField {
    /// `count soft, hard`
    Count(Vec<Word>, Span),
    /// `consecutive 4 campaigns`
    Campaigns(Word, Span),
    /// `3 consecutive over 14d`
    Over(Word, Word, Span),
    /// `2 within 24h`
    Within(Word, Word, Span),
    /// `weight mailbox_full 0.5, suspend 2`
    Weight(Vec<(Word, Word)>, Span),
    /// `receiver gmail`
    Receiver(Word, Span),
    /// `reset on delivered`
    Reset(Vec<Word>, Span),
}

impl StrikesField {
    /// The span of the field.
    pub fn span(&self) -> Span {
        match self {
            StrikesField::Count(_, s)
            | StrikesField::Campaigns(_, s)
            | StrikesField::Over(_, _, s)
            | StrikesField::Within(_, _, s)
            | StrikesField::Weight(_, s)
            | StrikesField::Receiver(_, s)
            | StrikesField::Reset(_, s) => *s,
        }
    }
}

/// `allow NAME when …` or `refuse NAME when …`
#[derive(Debug, Clone, PartialEq)]
pub struct ReactivationRule {
    /// Allow (true) or refuse.
    pub allow: bool,
    /// Its name.
    pub name: Word,
    /// Its tests, all of which must hold; none: always.
    pub tests: Vec<ReactTest>,
    /// The whole rule.
    pub span: Span,
}

/// A test of a reactivation rule.
#[derive(Debug, Clone, PartialEq)]
pub enum ReactTest {
    /// `reason user_unknown, …`: the reason the contact went to error for.
    Reason(Vec<Word>, Span),
    /// `via strikes`: the trigger that put it in error.
    Via(Vec<Word>, Span),
    /// `after 30d`: time since it went to error.
    After(Word, Span),
}

/// `example NAME { answer "…" recipient "…" expect … }`
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleDecl {
    /// Its name.
    pub name: Word,
    /// Its fields in source order.
    pub fields: Vec<ExampleField>,
    /// The whole example.
    pub span: Span,
}

/// One field of an example.
#[derive(Debug, Clone, PartialEq)]
#[expect(clippy::large_enum_variant, reason = "a few fields per example; boxing would only add noise")]
pub enum ExampleField {
    /// `answer "550 5.1.1 …"`
    Answer(Word),
    /// `recipient "a@b.c"`
    Recipient(Word),
    /// `mx host`
    Mx(Word),
    /// `phase rcpt`
    Phase(Word),
    /// `action failed`
    Action(Word),
    /// `code 550`
    Code(Word),
    /// `status 5.1.1`
    Status(Word),
    /// `expect CLASS REASON [scope S] [receiver R|none] [rule ID]`
    Expect(Expectation),
}

impl ExampleField {
    /// The span of the field's value.
    pub fn span(&self) -> Span {
        match self {
            ExampleField::Answer(w)
            | ExampleField::Recipient(w)
            | ExampleField::Mx(w)
            | ExampleField::Phase(w)
            | ExampleField::Action(w)
            | ExampleField::Code(w)
            | ExampleField::Status(w) => w.span,
            ExampleField::Expect(e) => e.span,
        }
    }
}

/// The verdict an example expects.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    /// The class.
    pub class: Word,
    /// The reason.
    pub reason: Word,
    /// The scope, when given.
    pub scope: Option<Word>,
    /// The receiver (`none` for no receiver), when given.
    pub receiver: Option<Word>,
    /// The rule id, when given.
    pub rule: Option<Word>,
    /// The whole expectation.
    pub span: Span,
}

/// `scenario NAME { recipient "…" event … expect … }`
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioDecl {
    /// Its name.
    pub name: Word,
    /// The recipient, when given.
    pub recipient: Option<Word>,
    /// The events in order.
    pub events: Vec<ScenarioEvent>,
    /// The expected final state: (dimension or `strikes`, value).
    pub expect: Vec<(Word, Word)>,
    /// The whole scenario.
    pub span: Span,
}

/// `event TYPE [campaign "…"] [at "…"] [answer "…"] [optin …] [feedback …] [mx …]`
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioEvent {
    /// The event type.
    pub kind: Word,
    /// Its options: (keyword, value).
    pub options: Vec<(String, Word)>,
    /// The whole event.
    pub span: Span,
}
