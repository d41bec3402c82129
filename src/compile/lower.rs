//! The `declare reasons` and `lower` stages: names resolved, outcomes
//! checked, every small pattern validated, regexes compiled. Errors are
//! collected, not returned, so one run reports as much as it can.

use std::collections::HashMap;

use super::patterns::{self, CodeSet, HostPat, StatusPat};
use super::{Unit, unknown};
use crate::diag::{Diagnostic, Span, codes};
use crate::model::{Class, Flag, Phase, ReasonInfo, Scope, standard_reasons};
use crate::policy::{
    Atom, AtomTest, CompiledRule, Cond, Location, Outcome, Provenance, Receiver, RegexTest, TableEntry,
};
use crate::syntax::ast::{self, Expr, Item, ReasonField, ReceiverField, ScriptSrc, Test, Then, Word};

/// The largest compiled regex, in bytes (regex's own size limit).
pub const MAX_REGEX_BYTES: usize = 1 << 20;

/// The longest literal, template or regex in a test, in bytes.
pub const MAX_PATTERN_BYTES: usize = 4096;

pub(super) fn declare_reasons(unit: &mut Unit) {
    for info in standard_reasons() {
        unit.reason_ids.insert(info.name.clone(), unit.reasons.len());
        unit.reasons.push(info);
    }
    let files = std::mem::take(&mut unit.files);
    for (_, file) in &files {
        for item in &file.items {
            if let Item::Reason(decl) = item {
                declare(unit, decl);
            }
        }
    }
    unit.files = files;
}

fn declare(unit: &mut Unit, decl: &ast::ReasonDecl) {
    let name = &decl.name;
    if let Some(&id) = unit.reason_ids.get(&name.node) {
        let d = Diagnostic::error(
            codes::DUPLICATE_REASON,
            name.span,
            format!("the reason `{}` is already defined", name.node),
        );
        let d = match unit.declared.iter().find(|(i, _)| *i == id) {
            Some((_, first)) => d.with_label("declared again").with_note(*first, "first declared here"),
            None => d.with_label("a standard reason").with_help("standard reasons are built in; choose another name"),
        };
        unit.diags.push(d);
        return;
    }
    let mut info = ReasonInfo {
        name: name.node.clone(),
        class: Class::Soft,
        class_on_4xx: None,
        scope: Scope::Unknown,
        description: String::new(),
        standard: false,
        subjects: crate::model::ALL_SUBJECTS,
    };
    let (mut class, mut scope, mut on, mut desc, mut subj) = (None, None, None, None, None);
    for field in &decl.fields {
        let (slot, label): (&mut Option<Span>, &str) = match field {
            ReasonField::Class(w) => {
                info.class = class_of(unit, w).unwrap_or(info.class);
                (&mut class, "class")
            }
            ReasonField::Scope(w) => {
                info.scope = scope_of(unit, w).unwrap_or(info.scope);
                (&mut scope, "scope")
            }
            ReasonField::On { code, class: c, .. } => {
                match patterns::parse_reply_class(&code.node) {
                    Ok(4) => info.class_on_4xx = class_of(unit, c),
                    Ok(_) => unit.diags.push(
                        Diagnostic::error(codes::IMPOSSIBLE_CODE, code.span, "only `on 4xx` is supported")
                            .with_help("the class given by `class` applies to every other reply"),
                    ),
                    Err(m) => unit.diags.push(Diagnostic::error(codes::IMPOSSIBLE_CODE, code.span, m)),
                }
                (&mut on, "on 4xx")
            }
            ReasonField::Description(w) => {
                info.description = w.node.clone();
                (&mut desc, "description")
            }
            ReasonField::Subjects(words, _) => {
                info.subjects = super::phrases::subjects_of(unit, words);
                (&mut subj, "subjects")
            }
        };
        if let Some(first) = *slot {
            unit.diags.push(
                Diagnostic::error(codes::DUPLICATE_FIELD, field.span(), format!("`{label}` is given twice"))
                    .with_note(first, "first given here"),
            );
        }
        *slot = Some(field.span());
    }
    if class.is_none() {
        unit.diags.push(
            Diagnostic::error(codes::MISSING_FIELD, name.span, format!("the reason `{}` has no class", name.node))
                .with_help("add `class hard`, `soft`, `block`, `defer` or `ignore`"),
        );
    }
    for c in [Some(info.class), info.class_on_4xx].into_iter().flatten() {
        if c.strikes() && info.scope.blames_sender() {
            unit.diags.push(blames_sender(name.span, c, info.scope));
            break;
        }
    }
    let id = unit.reasons.len();
    unit.reason_ids.insert(info.name.clone(), id);
    unit.reasons.push(info);
    unit.declared.push((id, name.span));
}

fn blames_sender(span: Span, class: Class, scope: Scope) -> Diagnostic {
    Diagnostic::error(
        codes::STRIKE_BLAMES_SENDER,
        span,
        format!("a `{class}` verdict cannot blame the sender (scope `{scope}`)"),
    )
    .with_label(format!("`{class}` with scope `{scope}`"))
    .with_help(
        "a hard or soft verdict strikes the contact; a problem of the sender's IP, domain or message \
         is `block` or `defer`, or give a recipient-side scope",
    )
}

fn class_of(unit: &mut Unit, w: &Word) -> Option<Class> {
    let c = Class::parse(&w.node);
    if c.is_none() {
        let names = Class::ALL.iter().map(|c| c.as_str());
        unit.diags.push(unknown(codes::UNKNOWN_REASON, "class", w, names));
    }
    c
}

fn scope_of(unit: &mut Unit, w: &Word) -> Option<Scope> {
    let s = Scope::parse(&w.node);
    if s.is_none() {
        let names = Scope::ALL.iter().map(|c| c.as_str());
        unit.diags.push(unknown(codes::UNKNOWN_SCOPE, "scope", w, names));
    }
    s
}

pub(super) fn lower(unit: &mut Unit) {
    let files = std::mem::take(&mut unit.files);
    let mut ids: HashMap<String, Span> = HashMap::new();
    let mut receiver_names: HashMap<String, Span> = HashMap::new();
    for (_, file) in &files {
        for item in &file.items {
            match item {
                // Layer items are merged away by the `layers` stage.
                Item::Reason(_)
                | Item::Lifecycle(_)
                | Item::Example(_)
                | Item::Scenario(_)
                | Item::Extends(..)
                | Item::ReplaceRule(_)
                | Item::DisableRule { .. }
                | Item::ExtendReceiver(_)
                | Item::ReplaceLifecycle(_)
                | Item::Phrases(_)
                | Item::Stoplist(_) => {}
                Item::Statuses(t) => {
                    for e in &t.entries {
                        if let Some(entry) = status_entry(unit, e) {
                            unit.statuses.push(entry);
                        }
                    }
                }
                Item::Replies(t) => {
                    for e in &t.entries {
                        if let Some(entry) = reply_entry(unit, e) {
                            unit.replies.push(entry);
                        }
                    }
                }
                Item::Rule(r) => {
                    if let Some(rule) = rule(unit, r, None, &mut ids) {
                        unit.global.push(rule);
                    }
                }
                Item::Receiver(r) => {
                    if let Some(first) = receiver_names.get(&r.name.node) {
                        unit.diags.push(
                            Diagnostic::error(
                                codes::DUPLICATE_RECEIVER,
                                r.name.span,
                                format!("the receiver `{}` is declared twice", r.name.node),
                            )
                            .with_note(*first, "first declared here")
                            .with_help("keep one section per receiver; it may live in its own file"),
                        );
                        continue;
                    }
                    receiver_names.insert(r.name.node.clone(), r.name.span);
                    unit.receiver_names.insert(r.name.node.clone());
                    if let Some(rec) = receiver(unit, r, &mut ids) {
                        unit.receivers.push(rec);
                    }
                }
            }
        }
    }
    unit.files = files;
}

pub(super) fn location(unit: &Unit, span: Span) -> Location {
    let (line, _) = unit.sources.line_col(span.file, span.start);
    let file = unit.sources.file(span.file).map(|f| f.name.clone()).unwrap_or_default();
    let label = format!("{file}:{line}");
    Location { file, line, span, label }
}

fn outcome(unit: &mut Unit, o: &ast::Outcome) -> Option<Outcome> {
    let class = match &o.class {
        Some(w) => Some(class_of(unit, w)?),
        None => None,
    };
    let scope = match &o.scope {
        Some(w) => Some(scope_of(unit, w)?),
        None => None,
    };
    let Some(&reason) = unit.reason_ids.get(&o.reason.node) else {
        let names: Vec<String> = unit.reasons.iter().map(|r| r.name.clone()).collect();
        let d = unknown(codes::UNKNOWN_REASON, "reason", &o.reason, names.iter().map(String::as_str)).with_help(
            match super::suggest(&o.reason.node, names.iter().map(String::as_str)) {
                Some(s) => {
                    format!("did you mean `{s}`? or declare it: `reason {} {{ class … scope … }}`", o.reason.node)
                }
                None => format!("declare it: `reason {} {{ class … scope … }}`", o.reason.node),
            },
        );
        unit.diags.push(d);
        return None;
    };
    unit.used.insert(reason);
    let info = unit.reasons.get(reason)?;
    let eff_scope = scope.unwrap_or(info.scope);
    let classes = match class {
        Some(c) => vec![c],
        None => [Some(info.class), info.class_on_4xx].into_iter().flatten().collect(),
    };
    if let Some(c) = classes.into_iter().find(|c| c.strikes() && eff_scope.blames_sender()) {
        unit.diags.push(blames_sender(o.span, c, eff_scope));
    }
    Some(Outcome { class, reason, scope })
}

fn codes_of(unit: &mut Unit, words: &[Word]) -> Option<CodeSet> {
    let mut set = CodeSet::new();
    let mut ok = true;
    for w in words {
        match patterns::parse_code(&w.node) {
            Ok(s) => set.union_with(&s),
            Err(m) => {
                unit.diags
                    .push(Diagnostic::error(codes::IMPOSSIBLE_CODE, w.span, m).with_label("impossible reply code"));
                ok = false;
            }
        }
    }
    ok.then_some(set)
}

fn statuses_of(unit: &mut Unit, words: &[Word]) -> Option<Vec<StatusPat>> {
    let mut pats = Vec::new();
    let mut ok = true;
    for w in words {
        match patterns::parse_status(&w.node) {
            Ok(p) => pats.push(p),
            Err(m) => {
                unit.diags
                    .push(Diagnostic::error(codes::IMPOSSIBLE_STATUS, w.span, m).with_label("impossible status code"));
                ok = false;
            }
        }
    }
    ok.then_some(pats)
}

fn hosts_of(unit: &mut Unit, words: &[Word]) -> Option<Vec<HostPat>> {
    let mut out = Vec::new();
    let mut ok = true;
    for w in words {
        match patterns::parse_host(&w.node) {
            Ok(h) => out.push(h),
            Err(m) => {
                unit.diags.push(Diagnostic::error(codes::INVALID_HOST, w.span, m));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn keys_text(keys: &[Word]) -> String {
    keys.iter().map(|k| k.node.as_str()).collect::<Vec<_>>().join(", ")
}

fn status_entry(unit: &mut Unit, e: &ast::TableEntry) -> Option<TableEntry<Vec<StatusPat>>> {
    let key = statuses_of(unit, &e.keys);
    let outcome = outcome(unit, &e.outcome);
    Some(TableEntry { key: key?, outcome: outcome?, location: location(unit, e.span), text: keys_text(&e.keys) })
}

fn reply_entry(unit: &mut Unit, e: &ast::TableEntry) -> Option<TableEntry<CodeSet>> {
    let key = codes_of(unit, &e.keys);
    let outcome = outcome(unit, &e.outcome);
    Some(TableEntry { key: key?, outcome: outcome?, location: location(unit, e.span), text: keys_text(&e.keys) })
}

fn receiver(unit: &mut Unit, r: &ast::ReceiverDecl, ids: &mut HashMap<String, Span>) -> Option<Receiver> {
    let mut rec = Receiver {
        name: r.name.node.clone(),
        title: r.name.node.clone(),
        domains: Vec::new(),
        mx: Vec::new(),
        domain_spans: Vec::new(),
        mx_spans: Vec::new(),
        rules: Vec::new(),
        location: location(unit, r.name.span),
    };
    let mut ok = true;
    let mut title: Option<Span> = None;
    for f in &r.fields {
        match f {
            ReceiverField::Title(w) => {
                if let Some(first) = title {
                    unit.diags.push(
                        Diagnostic::error(codes::DUPLICATE_FIELD, w.span, "`title` is given twice")
                            .with_note(first, "first given here"),
                    );
                }
                title = Some(w.span);
                rec.title = w.node.clone();
            }
            ReceiverField::Domains(ws, _) => match hosts_of(unit, ws) {
                Some(h) => {
                    rec.domains.extend(h);
                    rec.domain_spans.extend(ws.iter().map(|w| w.span));
                }
                None => ok = false,
            },
            ReceiverField::Mx(ws, _) => match hosts_of(unit, ws) {
                Some(h) => {
                    rec.mx.extend(h);
                    rec.mx_spans.extend(ws.iter().map(|w| w.span));
                }
                None => ok = false,
            },
            ReceiverField::Rule(rd) => match rule(unit, rd, Some(&r.name.node), ids) {
                Some(rule) => rec.rules.push(rule),
                None => ok = false,
            },
            ReceiverField::Example(_) => {}
        }
    }
    if ok && rec.domains.is_empty() && rec.mx.is_empty() {
        unit.diags.push(
            Diagnostic::error(
                codes::RECEIVER_UNMATCHABLE,
                r.name.span,
                format!("the receiver `{}` has no `domains` and no `mx`, so nothing selects it", r.name.node),
            )
            .with_help("add `domains example.com` or `mx *.example.com`"),
        );
    }
    ok.then_some(rec)
}

fn rule(
    unit: &mut Unit,
    r: &ast::RuleDecl,
    receiver: Option<&str>,
    ids: &mut HashMap<String, Span>,
) -> Option<CompiledRule> {
    let id = match receiver {
        Some(rec) => format!("{rec}.{}", r.id.node),
        None => r.id.node.clone(),
    };
    if let Some(first) = ids.get(&id) {
        unit.diags.push(
            Diagnostic::error(codes::DUPLICATE_RULE, r.id.span, format!("the rule id `{id}` is used twice"))
                .with_label("used again")
                .with_note(*first, "first used here")
                .with_help("rule ids name rules in verdicts and tests; each must be unique"),
        );
    } else {
        ids.insert(id.clone(), r.id.span);
    }
    let cond = expr(unit, &r.when);
    let (outcome, then_script) = match &r.then {
        Then::Fixed(o) => (outcome(unit, o), None),
        Then::Script(src) => match outcome_script(unit, src) {
            Some(s) => (
                Some(Outcome {
                    class: None,
                    reason: unit.reason_ids.get("undefined").copied().unwrap_or(0),
                    scope: None,
                }),
                Some(s),
            ),
            None => (None, None),
        },
    };
    let provenance = provenance(unit, &r.provenance);
    unit.rule_spans.insert(id.clone(), r.when_span);
    let when_text = unit
        .sources
        .file(r.when_span.file)
        .and_then(|f| f.text.get(r.when_span.range()))
        .map(|t| t.trim_start_matches("when").split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    Some(CompiledRule {
        id,
        receiver: receiver.map(str::to_string),
        cond: cond?,
        then_script,
        when_text,
        outcome: outcome?,
        location: location(unit, r.span),
        provenance,
        names_status: names_status(&r.when),
        fallback: r.fallback,
    })
}

/// Whether a condition tests the outer status anywhere.
fn names_status(e: &Expr) -> bool {
    match e {
        Expr::Test(t) => matches!(t.node, Test::Status { inner: false, .. }),
        Expr::And(v) | Expr::Or(v) => v.iter().any(names_status),
        Expr::Not(x) => names_status(x),
    }
}

fn provenance(unit: &mut Unit, items: &[ast::Provenance]) -> Provenance {
    let mut p = Provenance::default();
    let mut seen: [Option<Span>; 3] = [None; 3];
    for item in items {
        let (slot, name, value) = match item {
            ast::Provenance::Source(_) => (0, "source", &mut p.source),
            ast::Provenance::Observed(w) => {
                if let Err(m) = patterns::check_date(&w.node) {
                    unit.diags.push(Diagnostic::error(codes::INVALID_DATE, w.span, m));
                }
                (1, "observed", &mut p.observed)
            }
            ast::Provenance::Note(_) => (2, "note", &mut p.note),
        };
        let w = match item {
            ast::Provenance::Source(w) | ast::Provenance::Observed(w) | ast::Provenance::Note(w) => w,
        };
        if let Some(Some(first)) = seen.get(slot) {
            unit.diags.push(
                Diagnostic::error(codes::DUPLICATE_FIELD, w.span, format!("`{name}` is given twice"))
                    .with_note(*first, "first given here"),
            );
        }
        if let Some(s) = seen.get_mut(slot) {
            *s = Some(w.span);
        }
        *value = Some(w.node.clone());
    }
    p
}

/// Lowers a condition; `None` when any part of it is invalid (each
/// problem reported).
fn expr(unit: &mut Unit, e: &Expr) -> Option<Cond> {
    match e {
        Expr::And(v) | Expr::Or(v) => {
            let parts: Vec<Option<Cond>> = v.iter().map(|x| expr(unit, x)).collect();
            let parts: Option<Vec<Cond>> = parts.into_iter().collect();
            let parts = parts?;
            Some(if matches!(e, Expr::And(_)) { Cond::All(parts) } else { Cond::Any(parts) })
        }
        Expr::Not(x) => Some(Cond::Not(Box::new(expr(unit, x)?))),
        Expr::Test(t) => {
            let test = atom(unit, &t.node)?;
            let text = unit
                .sources
                .file(t.span.file)
                .and_then(|f| f.text.get(t.span.range()))
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            Some(Cond::Atom(Box::new(Atom { test, text, span: t.span })))
        }
    }
}

fn atom(unit: &mut Unit, t: &Test) -> Option<AtomTest> {
    Some(match t {
        Test::Code { inner, patterns } => AtomTest::Code { inner: *inner, set: codes_of(unit, patterns)? },
        Test::Status { inner, patterns } => AtomTest::Status { inner: *inner, pats: statuses_of(unit, patterns)? },
        Test::Contains(lits) => {
            let mut out = Vec::new();
            for l in lits {
                if too_long(unit, l) {
                    return None;
                }
                let folded = patterns::fold_text(&l.node);
                if folded.is_empty() {
                    unit.diags.push(
                        Diagnostic::error(codes::EMPTY_TEXT, l.span, "an empty text matches everything")
                            .with_help("write the words the answer contains"),
                    );
                    return None;
                }
                out.push(folded);
            }
            AtomTest::Contains(out, Vec::new())
        }
        Test::Matches(re) => {
            if too_long(unit, re) {
                return None;
            }
            let regex = regex(unit, &re.node, re.span)?;
            let required = required_literals(&re.node);
            AtomTest::Regex(Box::new(RegexTest { regex, required, required_ids: Vec::new() }))
        }
        Test::Like(templates) => {
            let mut parts = Vec::new();
            for t in templates {
                if too_long(unit, t) {
                    return None;
                }
                match patterns::template_to_regex(&t.node) {
                    Ok(r) if !t.node.trim().is_empty() => parts.push(r),
                    Ok(_) => {
                        unit.diags.push(Diagnostic::error(
                            codes::EMPTY_TEXT,
                            t.span,
                            "an empty template matches everything",
                        ));
                        return None;
                    }
                    Err((m, range)) => {
                        // +1 for the opening quote; exact when the template has no escapes.
                        let start = t.span.start + 1 + range.start;
                        let end = (t.span.start + 1 + range.end).min(t.span.end);
                        let span = Span::new(t.span.file, start.min(end)..end);
                        unit.diags.push(Diagnostic::error(codes::INVALID_TEMPLATE, span, m).with_help(
                            "placeholders are {ip}, {email}, {domain}, {num}, {word}, {any}; other text is literal",
                        ));
                        return None;
                    }
                }
            }
            let joined = parts.iter().map(|p| format!("(?:{p})")).collect::<Vec<_>>().join("|");
            let regex = regex(unit, &joined, templates.first().map(|t| t.span).unwrap_or_default())?;
            // Every match of a template holds its longest literal word; with
            // several templates, one of theirs.
            let required: Option<Vec<String>> = templates.iter().map(|t| patterns::template_key(&t.node)).collect();
            AtomTest::Regex(Box::new(RegexTest {
                regex,
                required: required.unwrap_or_default(),
                required_ids: Vec::new(),
            }))
        }
        Test::Phase(words) => {
            let mut phases = Vec::new();
            for w in words {
                match Phase::parse(&w.node) {
                    Some(p) => phases.push(p),
                    None => {
                        let names = Phase::ALL.iter().map(|p| p.as_str());
                        unit.diags.push(unknown(codes::UNKNOWN_PHASE, "phase", w, names));
                        return None;
                    }
                }
            }
            AtomTest::Phase(phases)
        }
        Test::Mx(words) => AtomTest::Mx(hosts_of(unit, words)?),
        Test::Domain(words) => AtomTest::Domain(hosts_of(unit, words)?),
        Test::Script(src) => AtomTest::Script(script(unit, src)?),
        Test::Call(w) => match unit.host.predicate(&w.node) {
            Some(p) => {
                runtime(unit);
                AtomTest::Call(w.node.clone(), crate::policy::HostPredicate(p))
            }
            None => {
                let names: Vec<String> = unit.host.predicate_names().map(str::to_string).collect();
                let d = unknown(codes::UNKNOWN_FUNCTION, "function", w, names.iter().map(String::as_str)).with_help(
                    "the program that runs this policy must register it: `engine.register_predicate(\"NAME\", |ctx| …)`",
                );
                unit.diags.push(d);
                return None;
            }
        },
        Test::Phrase(w) => AtomTest::Phrase(super::phrases::target(unit, w)?),
        Test::Flag(w) => match Flag::parse(&w.node) {
            Some(f) => AtomTest::Flag(f),
            None => {
                let names = Flag::ALL.iter().map(|f| f.as_str());
                unit.diags.push(unknown(codes::UNKNOWN_FLAG, "flag", w, names));
                return None;
            }
        },
    })
}

pub(super) fn too_long(unit: &mut Unit, w: &Word) -> bool {
    let long = w.node.len() > MAX_PATTERN_BYTES;
    if long {
        unit.diags.push(Diagnostic::error(
            codes::INVALID_REGEX,
            w.span,
            format!("this pattern is {} bytes; the limit is {MAX_PATTERN_BYTES}", w.node.len()),
        ));
    }
    long
}

/// Compiles a case-insensitive regex; `span` covers the source between the
/// slashes, so a syntax error points inside the regex.
fn regex(unit: &mut Unit, source: &str, span: Span) -> Option<regex::Regex> {
    if let Err(e) = regex_syntax::ast::parse::Parser::new().parse(source) {
        let at = e.span();
        let start = (span.start + at.start.offset).min(span.end);
        let end = (span.start + at.end.offset).clamp(start, span.end);
        unit.diags.push(
            Diagnostic::error(
                codes::INVALID_REGEX,
                Span::new(span.file, start..end),
                format!("invalid regular expression: {}", e.kind()),
            )
            .with_label(e.kind().to_string())
            .with_help("to match text literally, use `text contains \"…\"` or a template with `text like \"…\"`"),
        );
        return None;
    }
    match regex::RegexBuilder::new(&ascii_word_boundaries(source))
        .case_insensitive(true)
        .size_limit(MAX_REGEX_BYTES)
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            let msg = match e {
                regex::Error::CompiledTooBig(n) => {
                    format!("this regular expression is too large (limit {n} bytes compiled)")
                }
                other => format!("invalid regular expression: {}", other.to_string().lines().last().unwrap_or("")),
            };
            unit.diags.push(Diagnostic::error(codes::INVALID_REGEX, span, msg));
            None
        }
    }
}

/// `source` with `\b` and `\B` as ASCII word boundaries (`(?-u:\b)`): a
/// Unicode boundary makes the regex engine give up its fast automaton on
/// any text with a non-ASCII byte (the Japanese, German and Russian
/// answers bounces carry), and the policy's boundaries are about ASCII
/// words (`\bspf\b`, `\brbl\b`). Escaped backslashes stay as they are.
fn ascii_word_boundaries(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + 16);
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(b @ ('b' | 'B')) => {
                out.push_str("(?-u:\\");
                out.push(b);
                out.push(')');
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Folded literals one of which every match of `source` contains, from the
/// regex's prefixes; empty when they cannot be known (the regex then always
/// runs).
fn required_literals(source: &str) -> Vec<String> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let Ok(hir) = regex_syntax::ParserBuilder::new().build().parse(source) else { return Vec::new() };
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let Some(lits) = seq.literals() else { return Vec::new() };
    let mut out: Vec<String> = Vec::new();
    for l in lits {
        let folded = patterns::fold_text(&String::from_utf8_lossy(l.as_bytes()));
        // A literal with whitespace in it may match differently once the
        // text is folded; so may an empty one: then nothing is required.
        if folded.is_empty()
            || folded.contains(' ')
            || String::from_utf8_lossy(l.as_bytes()).chars().any(char::is_whitespace)
        {
            return Vec::new();
        }
        out.push(folded);
    }
    out.sort();
    out.dedup();
    out
}

/// The policy's script engine, created on first use with the host's
/// predicates and limits.
pub(super) fn runtime(unit: &mut Unit) -> std::sync::Arc<crate::script::Runtime> {
    let host = unit.host.clone();
    unit.runtime.get_or_insert_with(|| std::sync::Arc::new(crate::script::Runtime::new(&host))).clone()
}

/// The file span of a line and column inside a script.
fn script_span(src: &ScriptSrc, line: usize, column: usize) -> Span {
    let at = src.body_start.0 + crate::script::offset_of(&src.code, line, column);
    Span::new(src.span.file, at..at + 1)
}

/// Compiles a script; syntax errors and calls to unknown functions are
/// diagnostics at their place in the `.rebound` file.
pub(super) fn script(unit: &mut Unit, src: &ScriptSrc) -> Option<std::sync::Arc<crate::script::Script>> {
    let rt = runtime(unit);
    match rt.compile(&src.code) {
        Ok(s) => {
            let unknown_fns = rt.unknown_functions(&s);
            for (name, line, col) in &unknown_fns {
                unit.diags.push(
                    Diagnostic::error(codes::UNKNOWN_FUNCTION, script_span(src, *line, *col), format!("the script calls `{name}`, which nothing defines"))
                        .with_label("unknown function")
                        .with_help("scripts can call the standard functions, functions they define, and predicates the host registers"),
                );
            }
            let indexed = crate::script::Runtime::index_assignments(&s);
            for (_, line, col) in &indexed {
                unit.diags.push(
                    Diagnostic::error(
                        codes::SCRIPT_INDEX_ASSIGNMENT,
                        script_span(src, *line, *col),
                        "the script assigns through an index, which escapes the script size limits",
                    )
                    .with_label("index assignment")
                    .with_help("write `m.set(key, value)` (or `a.set(i, value)`): it is checked against max_map_size"),
                );
            }
            (unknown_fns.is_empty() && indexed.is_empty()).then(|| std::sync::Arc::new(s))
        }
        Err((message, line, col)) => {
            unit.diags.push(
                Diagnostic::error(
                    codes::SCRIPT_SYNTAX,
                    script_span(src, line, col),
                    format!("the script does not parse: {message}"),
                )
                .with_label(message),
            );
            None
        }
    }
}

/// Compiles an outcome script and checks the outcomes it can return: every
/// string literal that starts with a class and names a reason is read as an
/// outcome (a bare class like `"hard "` is a piece being built, checked when
/// the script returns it).
fn outcome_script(unit: &mut Unit, src: &ScriptSrc) -> Option<std::sync::Arc<crate::script::Script>> {
    let s = script(unit, src)?;
    let mut ok = true;
    for (text, line, col) in crate::script::Runtime::string_literals(&s) {
        let first = text.split_whitespace().next().unwrap_or("");
        if Class::parse(first).is_none() || text.split_whitespace().nth(1).is_none() {
            continue;
        }
        if let Err(m) = crate::policy::parse_outcome_text(&text, &unit.reason_ids, &unit.reasons) {
            let code = if m.contains("cannot blame") { codes::STRIKE_BLAMES_SENDER } else { codes::UNKNOWN_REASON };
            unit.diags.push(
                Diagnostic::error(code, script_span(src, line, col), format!("the outcome `{text}` is invalid: {m}"))
                    .with_label("not a valid outcome"),
            );
            ok = false;
        }
    }
    ok.then_some(s)
}
