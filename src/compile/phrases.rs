//! The `phrases` stage: phrase tables and the stop-list lowered, and the
//! checks that keep the knowledge general — a phrase made only of
//! stop-list words never decides (an error, in tables and in rules alike),
//! every phrase names where its wording comes from (a warning), the same
//! words under two reasons are a warning, and a global rule that names a
//! status of one subject but gives a reason of another is a warning (that
//! crossing is a receiver's own re-use of a code, so it belongs in a
//! receiver section).

use std::collections::HashMap;

use super::{Unit, lower::location, patterns, unknown};
use crate::diag::{Diagnostic, Span, codes};
use crate::model::{ALL_SUBJECTS, subjects_text};
use crate::policy::{Atom, AtomTest, Cond, Phrase, PhraseMatch, PhraseTarget, Provenance};
use crate::syntax::ast::{self, Item, PhrasePattern, Word};

/// The most words a `words` pattern allows between two of its pieces.
pub const MAX_WITHIN: usize = 20;

/// The words between two pieces of a `words` pattern when `within` is not given.
pub const DEFAULT_WITHIN: usize = 8;

/// The names a phrase table may have besides reasons.
const SIGNALS: [(&str, PhraseTarget); 2] =
    [("permanent", PhraseTarget::Permanent), ("temporary", PhraseTarget::Temporary)];

/// What a phrase table or a `phrase` test names: a reason, or a signal.
pub(super) fn target(unit: &mut Unit, w: &Word) -> Option<PhraseTarget> {
    if let Some((_, t)) = SIGNALS.iter().find(|(n, _)| *n == w.node) {
        return Some(*t);
    }
    if let Some(&id) = unit.reason_ids.get(&w.node) {
        return Some(PhraseTarget::Reason(id));
    }
    let mut names: Vec<String> = unit.reasons.iter().map(|r| r.name.clone()).collect();
    names.extend(SIGNALS.iter().map(|(n, _)| n.to_string()));
    unit.diags.push(unknown(codes::UNKNOWN_REASON, "reason or signal", w, names.iter().map(String::as_str)));
    None
}

/// `subjects 1, 2` as a mask.
pub(super) fn subjects_of(unit: &mut Unit, words: &[Word]) -> u8 {
    let mut mask = 0u8;
    for w in words {
        match w.node.parse::<u8>() {
            Ok(n @ 1..=7) => mask |= 1 << n,
            _ => unit.diags.push(
                Diagnostic::error(codes::IMPOSSIBLE_STATUS, w.span, format!("`{}` is not a status subject", w.node))
                    .with_help("subjects are 1 (addressing) to 7 (security or policy), as in x.1.* … x.7.*"),
            ),
        }
    }
    if mask == 0 { ALL_SUBJECTS } else { mask }
}

pub(super) fn phrases(unit: &mut Unit) {
    let files = std::mem::take(&mut unit.files);
    // The stop-list first: phrases are checked against all of it.
    for (_, file) in &files {
        for item in &file.items {
            if let Item::Stoplist(list) = item {
                for (words, _, _) in &list.entries {
                    unit.stoplist.extend(words.iter().map(|w| patterns::fold_text(&w.node)).filter(|w| !w.is_empty()));
                }
            }
        }
    }
    unit.stoplist.sort_by(|a, b| core(a).cmp(core(b)));
    unit.stoplist.dedup();
    let mut seen: HashMap<String, (String, Span)> = HashMap::new();
    for (_, file) in &files {
        for item in &file.items {
            if let Item::Phrases(table) = item {
                lower_table(unit, table, &mut seen);
            }
        }
    }
    unit.files = files;
    stop_words_in_rules(unit);
    crossing_rules(unit);
}

fn lower_table(unit: &mut Unit, table: &ast::PhrasesDecl, seen: &mut HashMap<String, (String, Span)>) {
    let Some(target) = target(unit, &table.name) else { return };
    let id = format!("phrases.{}", table.name.node);
    for entry in &table.entries {
        let provenance = entry_provenance(&entry.provenance);
        if provenance.source.is_none() && !entry.except {
            unit.diags.push(
                Diagnostic::warning(codes::PHRASE_WITHOUT_SOURCE, entry.span, "this phrase does not say where its wording comes from")
                    .with_help("add `source \"…\"`: an MTA's source or documentation, a receiver's page, an RFC, or another tool's rule table"),
            );
        }
        for pat in &entry.patterns {
            let Some(pattern) = pattern_of(unit, pat) else { continue };
            let key = match &pattern {
                PhraseMatch::Literal { text, .. } => text.clone(),
                PhraseMatch::Words { pieces, .. } => pieces.join(" … "),
            };
            let first = match &pattern {
                PhraseMatch::Literal { text, .. } => text.as_str(),
                PhraseMatch::Words { pieces, .. } => pieces.first().map_or("", String::as_str),
            };
            if starts_with_code(first) {
                unit.diags.push(
                    Diagnostic::warning(
                        codes::PHRASE_STARTS_WITH_CODE,
                        pat.span(),
                        format!("`{key}` starts with a reply code, which is not part of the answer's text"),
                    )
                    .with_help("the code and status are taken out of the text before phrases are looked for: write the words after them, and test the code with a rule"),
                );
            }
            // Signals are made of such words on purpose: they never decide a reason.
            let stop = match &pattern {
                PhraseMatch::Literal { text, .. } => stop_words_only(&unit.stoplist, text),
                PhraseMatch::Words { pieces, .. } => {
                    pieces.iter().all(|p| stop_words_only(&unit.stoplist, p) || core(p).is_empty())
                }
            };
            if stop && !entry.except && matches!(target, PhraseTarget::Reason(_)) {
                unit.diags.push(stop_word_error(pat.span(), &key));
                continue;
            }
            if let (PhraseTarget::Reason(_), false) = (target, entry.except) {
                match seen.get(&key) {
                    Some((other, at)) if *other != table.name.node => unit.diags.push(
                        Diagnostic::warning(
                            codes::PHRASE_TWO_REASONS,
                            pat.span(),
                            format!("`{key}` is a phrase of `{other}` too"),
                        )
                        .with_note(*at, format!("under `{other}` here"))
                        .with_help("the same words cannot name two reasons; keep the one its sources support"),
                    ),
                    Some(_) => {}
                    None => {
                        seen.insert(key.clone(), (table.name.node.clone(), pat.span()));
                    }
                }
            }
            unit.phrases.push(Phrase {
                target,
                pattern,
                text: shown(pat),
                location: location(unit, pat.span()),
                provenance: provenance.clone(),
                id: id.clone(),
                weak: table.weak,
                veto: entry.except,
            });
        }
    }
}

fn entry_provenance(items: &[ast::Provenance]) -> Provenance {
    let mut p = Provenance::default();
    for item in items {
        match item {
            ast::Provenance::Source(w) => p.source = Some(w.node.clone()),
            ast::Provenance::Note(w) => p.note = Some(w.node.clone()),
            ast::Provenance::Observed(w) => p.observed = Some(w.node.clone()),
        }
    }
    p
}

fn shown(pat: &PhrasePattern) -> String {
    match pat {
        PhrasePattern::Literal(w) => format!("{:?}", w.node),
        PhrasePattern::Words { pieces, within, .. } => {
            let pieces: Vec<String> = pieces.iter().map(|p| format!("{:?}", p.node)).collect();
            let within = within.as_ref().map(|w| format!(" within {}", w.node)).unwrap_or_default();
            format!("words {}{within}", pieces.join(" "))
        }
    }
}

fn pattern_of(unit: &mut Unit, pat: &PhrasePattern) -> Option<PhraseMatch> {
    let folded = |unit: &mut Unit, w: &Word| -> Option<String> {
        if super::lower::too_long(unit, w) {
            return None;
        }
        let f = patterns::fold_text(&w.node);
        if f.is_empty() {
            unit.diags.push(
                Diagnostic::error(codes::EMPTY_TEXT, w.span, "an empty phrase matches everything")
                    .with_help("write the words the answer contains"),
            );
            return None;
        }
        Some(f)
    };
    match pat {
        PhrasePattern::Literal(w) => Some(PhraseMatch::Literal { text: folded(unit, w)?, id: 0 }),
        PhrasePattern::Words { pieces, within, .. } => {
            let mut out = Vec::new();
            for p in pieces {
                out.push(folded(unit, p)?);
            }
            let within = match within {
                None => DEFAULT_WITHIN,
                Some(w) => match w.node.parse::<usize>() {
                    Ok(n) if n <= MAX_WITHIN => n,
                    _ => {
                        unit.diags.push(
                            Diagnostic::error(
                                codes::LC_THRESHOLD,
                                w.span,
                                format!("`within {}` is not 0 to {MAX_WITHIN} words", w.node),
                            )
                            .with_help("the number of words allowed between two pieces"),
                        );
                        return None;
                    }
                },
            };
            Some(PhraseMatch::Words { ids: Vec::new(), pieces: out, within })
        }
    }
}

/// Whether a (folded) phrase starts with a reply code (`550 `, `550-`,
/// `550 5.1.1`): normalisation takes it out of the answer's text.
fn starts_with_code(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 4
        && matches!(b[0], b'2' | b'4' | b'5')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && matches!(b[3], b' ' | b'-')
}

/// Whether `text` is a stop-list entry: the same words, whatever the
/// punctuation around them (`spam`, `"spam."`, `try again later!`). Longer
/// phrases that contain such words are fine — "user unknown" is not "unknown".
pub(crate) fn stop_words_only(stoplist: &[String], text: &str) -> bool {
    let core = text.trim_matches(|c: char| !c.is_alphanumeric());
    stoplist.binary_search_by(|s| s.trim_matches(|c: char| !c.is_alphanumeric()).cmp(core)).is_ok()
}

fn core(s: &str) -> &str {
    s.trim_matches(|c: char| !c.is_alphanumeric())
}

fn stop_word_error(span: Span, text: &str) -> Diagnostic {
    Diagnostic::error(codes::STOP_WORD_ALONE, span, format!("`{text}` never decides a reason alone"))
        .with_label("only stop-list words")
        .with_help(
            "these words appear in answers of many reasons (the stop-list says which); add the words \
             that make the meaning, or a status",
        )
}

/// A global rule decides by stop-list words alone when one of its
/// alternatives holds nothing but such literals (and tests of the reply
/// code or a whole status class): an error. Receivers' rules are exempt —
/// a receiver's own wording may be short.
fn stop_words_in_rules(unit: &mut Unit) {
    if unit.stoplist.is_empty() {
        return;
    }
    let mut errors = Vec::new();
    for rule in &unit.global {
        for term in super::lint::dnf_of(&rule.cond).unwrap_or_default() {
            let texts: Vec<&Atom> = term.iter().filter(|(_, a)| is_text(a)).map(|(_, a)| *a).collect();
            let anchored = term.iter().any(|(neg, a)| !neg && anchors(a));
            if texts.is_empty() || anchored {
                continue;
            }
            for a in texts {
                if let AtomTest::Contains(lits, _) = &a.test
                    && let Some(l) = lits.iter().find(|l| stop_words_only(&unit.stoplist, l))
                {
                    errors.push(stop_word_error(a.span, l));
                }
            }
        }
    }
    errors.dedup_by(|a, b| a.span == b.span);
    unit.diags.extend(errors);
}

fn is_text(a: &Atom) -> bool {
    matches!(a.test, AtomTest::Contains(..))
}

/// A test that makes the words' meaning specific: a status with a subject,
/// a phase, a host, a flag, a phrase, a script or a host function.
fn anchors(a: &Atom) -> bool {
    match &a.test {
        AtomTest::Status { pats, .. } => pats.iter().any(|p| p.subject.is_some_and(|s| s > 0)),
        AtomTest::Code { .. } | AtomTest::Contains(..) => false,
        _ => true,
    }
}

/// Warns about a global rule whose status test confines it to subjects its
/// reason does not belong to.
fn crossing_rules(unit: &mut Unit) {
    let mut warnings = Vec::new();
    for rule in &unit.global {
        if !rule.names_status || rule.then_script.is_some() {
            continue;
        }
        let Some(info) = unit.reasons.get(rule.outcome.reason) else { continue };
        if info.subjects == ALL_SUBJECTS {
            continue;
        }
        let Some(subjects) = status_subjects(&rule.cond) else { continue };
        if subjects != 0 && subjects & info.subjects == 0 {
            let span = unit.rule_spans.get(&rule.id).copied().unwrap_or(rule.location.span);
            warnings.push(
                Diagnostic::warning(
                    codes::CROSSES_SUBJECT,
                    span,
                    format!(
                        "the rule `{}` gives `{}` (subjects {}) under statuses of subjects {}",
                        rule.id,
                        info.name,
                        subjects_text(info.subjects),
                        subjects_text(subjects)
                    ),
                )
                .with_help(
                    "a status fixes the subject of an answer; a code re-used against its meaning is one \
                     receiver's habit: move the rule into that receiver's section",
                ),
            );
        }
    }
    unit.diags.extend(warnings);
}

/// The subjects a condition's status tests allow, when every way it can
/// hold tests a status with a subject (`None` otherwise).
fn status_subjects(c: &Cond) -> Option<u8> {
    let terms = super::lint::dnf_of(c)?;
    let mut mask = 0u8;
    for term in terms {
        let mut term_mask: Option<u8> = None;
        for (neg, a) in term {
            if let (AtomTest::Status { inner: false, pats }, false) = (&a.test, neg) {
                let m = pats.iter().fold(0u8, |acc, p| match p.subject {
                    Some(s) if (1..8).contains(&s) => acc | (1 << s),
                    _ => ALL_SUBJECTS,
                });
                term_mask = Some(term_mask.map_or(m, |t| t & m));
            }
        }
        mask |= term_mask?;
    }
    Some(mask)
}

/// The phrases of a rule's condition (for lints and docs): the phrase
/// tests it names.
pub fn phrase_tests(c: &Cond) -> Vec<PhraseTarget> {
    match c {
        Cond::All(v) | Cond::Any(v) => v.iter().flat_map(phrase_tests).collect(),
        Cond::Not(x) => phrase_tests(x),
        Cond::Atom(a) => match a.test {
            AtomTest::Phrase(t) => vec![t],
            _ => Vec::new(),
        },
    }
}
