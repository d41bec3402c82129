//! How well the policy's knowledge holds on answers it was not written
//! from: agreement with two labelled corpora, visible and cross-validated
//! by source (`rebound measure`, docs/knowledge.md).
//!
//! - **Answers** (`tests/data/responses.jsonl`): SMTP answers with the
//!   class and reason Rebound should give; the *fold* of a case is the
//!   document it was published in (its `source`: a receiver's page, an MTA's
//!   file, another tool's table), or, by choice, its receiver.
//! - **DSN** (a directory with `emails/` and `expected.jsonl`): real bounce
//!   emails through `ingest`, against Sisimai's per-recipient labels; the
//!   fold of a row is its MTA family (`lhost-postfix`, `rhost-google`, …).
//!
//! Cross-validation rebuilds nothing but the measurement: for each fold, the
//! knowledge that fold backs is masked and the fold's cases are classified
//! again ([`Policy::classify_masked`]). A rule or phrase is backed by the
//! document its `source` cites; one that cites the left-out document (the
//! Gmail page the Gmail answers come from, the Sisimai module of the MTA
//! family left out), or cites nothing and decides cases of that fold only,
//! is masked. The cross-validated score is what the policy would score on a
//! source it had never read. The code tables are never masked: they are the
//! RFCs'. Nothing here prints.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::eval::{Decider, Verdict};
use crate::event::Event;
use crate::policy::Policy;

/// Which corpus a case comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Corpus {
    /// SMTP answers with Rebound's labels.
    Answers,
    /// Bounce emails with Sisimai's labels.
    Dsn,
}

/// One labelled case.
#[derive(Debug, Clone)]
pub struct Case {
    /// The corpus.
    pub corpus: Corpus,
    /// Its id (`gmail-012`, `lhost-postfix-07.eml#1`).
    pub id: String,
    /// The source it comes from: what cross-validation leaves out.
    pub fold: String,
    /// The event as a JSON line, when there is one (ingest may find none).
    pub event: Option<String>,
    /// The class expected, when the labels give one.
    pub class: Option<String>,
    /// The reason expected.
    pub reason: String,
    /// Whether the labels call it a hard bounce (DSN labels only).
    pub hard: Option<bool>,
}

/// How the answers corpus is split for cross-validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FoldBy {
    /// The document an answer was published in (`source`, up to `;` or ` (`).
    #[default]
    Source,
    /// The receiver.
    Receiver,
}

/// The document of a `source` field: its first reference, without a
/// fragment or a parenthesised detail.
pub fn document(source: &str) -> String {
    let first = source.split(';').next().unwrap_or("").split(" (").next().unwrap_or("");
    first.split('#').next().unwrap_or("").trim().to_string()
}

/// Reads the answers corpus: one JSON object per line with `id`,
/// `receiver`, `source`, the answer and `expect {class, reason}`.
pub fn answers(text: &str, by: FoldBy) -> Result<Vec<Case>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let event = serde_json::json!({"id": s("id"), "recipient": s("recipient"), "code": v.get("code"),
            "status": s("status"), "text": s("text"), "mx": s("mx")});
        out.push(Case {
            corpus: Corpus::Answers,
            id: s("id").unwrap_or_else(|| format!("line {}", n + 1)),
            fold: match by {
                FoldBy::Receiver => s("receiver").unwrap_or_else(|| "generic".into()),
                FoldBy::Source => s("source").map(|x| document(&x)).unwrap_or_else(|| "unknown".into()),
            },
            event: Some(event.to_string()),
            class: v.pointer("/expect/class").and_then(|x| x.as_str()).map(str::to_string),
            reason: v.pointer("/expect/reason").and_then(|x| x.as_str()).unwrap_or("").to_string(),
            hard: None,
        });
    }
    Ok(out)
}

/// Sisimai's reason names, mapped to Rebound's standard reasons.
pub fn map_sisimai_reason(sisimai: &str) -> &str {
    match sisimai {
        "userunknown" => "user_unknown",
        "hostunknown" => "host_unknown",
        "hasmoved" => "has_moved",
        "notaccept" => "not_accept",
        "mailboxfull" => "mailbox_full",
        "mesgtoobig" | "exceedlimit" => "message_too_big",
        "speeding" | "toomanyconn" => "rate_limited",
        "badreputation" => "bad_reputation",
        "requireptr" => "require_ptr",
        "authfailure" => "auth_failure",
        "spamdetected" => "spam_detected",
        "virusdetected" => "virus_detected",
        "policyviolation" => "policy_violation",
        "securityerror" => "security_error",
        "notcompliantrfc" => "not_compliant_rfc",
        "systemerror" => "system_error",
        "systemfull" => "system_full",
        "networkerror" => "network_error",
        "contenterror" => "content_error",
        "mailererror" => "mailer_error",
        "syntaxerror" => "syntax_error",
        "norelaying" => "no_relaying",
        "failedstarttls" => "failed_starttls",
        "onhold" => "on_hold",
        other => other,
    }
}

/// The MTA family of a corpus file: its name without the number
/// (`lhost-postfix-07.eml` → `lhost-postfix`).
pub fn family(file: &str) -> String {
    let stem = file.strip_suffix(".eml").unwrap_or(file);
    match stem.rsplit_once('-') {
        Some((head, tail)) if tail.chars().all(|c| c.is_ascii_digit()) => head.to_string(),
        _ => stem.to_string(),
    }
}

/// Reads a DSN corpus directory: each labelled row of `expected.jsonl`,
/// with the event `ingest` makes of its email.
pub fn dsn(dir: &Path) -> Result<Vec<Case>, String> {
    let expected =
        std::fs::read_to_string(dir.join("expected.jsonl")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut by_file: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        by_file.entry(v["file"].as_str().unwrap_or("").to_string()).or_default().push(v);
    }
    let mut out = Vec::new();
    for (file, labels) in by_file {
        let raw = std::fs::read(dir.join("emails").join(&file)).map_err(|e| format!("{file}: {e}"))?;
        let parsed = crate::ingest::mail::parse(&raw, &file, &crate::ingest::Options::default());
        for label in labels {
            let index = label["index"].as_u64().unwrap_or(1) as usize;
            out.push(Case {
                corpus: Corpus::Dsn,
                id: format!("{file}#{index}"),
                fold: family(&file),
                event: index.checked_sub(1).and_then(|i| parsed.events.get(i)).map(|e| e.to_json_line()),
                class: None,
                reason: map_sisimai_reason(label["reason"].as_str().unwrap_or("")).to_string(),
                hard: label["hardbounce"].as_bool(),
            });
        }
    }
    Ok(out)
}

/// What the policy made of a case.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The case's id.
    pub id: String,
    /// Its fold.
    pub fold: String,
    /// Whether there was an event to classify.
    pub found: bool,
    /// The class given.
    pub class: Option<String>,
    /// The reason given.
    pub reason: Option<String>,
    /// What decided (`file:line`), if a rule, phrase or table entry did.
    pub decider: Option<String>,
    /// Whether a code table or the default decided.
    pub fallback: bool,
    /// The class agrees (answers).
    pub class_ok: bool,
    /// The reason agrees.
    pub reason_ok: bool,
    /// Hard or not agrees (DSN).
    pub hard_ok: bool,
    /// The class expected, when the labels give one.
    pub want_class: Option<String>,
    /// The reason expected.
    pub want_reason: String,
    /// The convention (SPEC §5, the corpus README) that explains why the
    /// verdict differs from the label on purpose, if one does.
    pub convention: Option<&'static str>,
    /// The reason agrees, or differs by a convention.
    pub reason_conv_ok: bool,
    /// Hard or not agrees, or differs by a convention.
    pub hard_conv_ok: bool,
}

fn judge(policy: &Policy, case: &Case, event: Option<&Event>, v: Option<&Verdict>) -> Outcome {
    let reason = v.map(|v| v.reason.to_string());
    let class = v.map(|v| v.class.to_string());
    let hard = v.is_some_and(|v| v.class == crate::model::Class::Hard);
    let reason_ok = reason.as_deref() == Some(case.reason.as_str());
    let hard_ok = v.is_some() && case.hard.is_none_or(|h| h == hard);
    let convention = match (event, v) {
        // The answers' labels are Rebound's own: conventions are in them.
        (Some(e), Some(v)) if case.corpus == Corpus::Dsn && !(reason_ok && hard_ok) => convention(policy, case, e, v),
        _ => None,
    };
    let (conv_reason, conv_hard) = convention.map_or((false, false), covers);
    Outcome {
        convention,
        reason_conv_ok: reason_ok || conv_reason,
        hard_conv_ok: hard_ok || conv_hard,
        id: case.id.clone(),
        fold: case.fold.clone(),
        found: v.is_some(),
        decider: v.and_then(|v| policy.decider_key(v.decider)),
        fallback: v
            .is_some_and(|v| matches!(v.decider, Decider::StatusTable(_) | Decider::ReplyTable(_) | Decider::Default)),
        class_ok: case.class.is_none() || case.class == class,
        reason_ok,
        hard_ok,
        class,
        reason,
        want_class: case.class.clone(),
        want_reason: case.reason.clone(),
    }
}

/// The documented conventions by which Rebound's verdict differs from a
/// label on purpose. Each is a general statement of docs/knowledge.md
/// (from SPEC §5 and the corpus README), tested on the event and the
/// verdict — never a list of cases.
pub const CONVENTIONS: &[(&str, &str)] = &[
    ("four_never_hard", "a 4xx or 4.x.x answer is never hard: the receiver may accept it later"),
    (
        "inactive_is_hard",
        "an account the receiver calls disabled or inactive for good is hard (Gmail's disabled and inactive accounts)",
    ),
    (
        "unknown_user_words",
        "unknown-user words on a 5xx are a dead address unless the refusal is known to come after DATA or the status says the message was filtered",
    ),
    ("status_first", "a specific status fixes the subject: words do not choose a reason of another subject"),
    ("unsubscribe", "a one-click unsubscribe request is an unsubscribe event (consent), not a complaint"),
];

/// Which parts of a verdict a convention speaks for: (reason, hard).
fn covers(convention: &str) -> (bool, bool) {
    match convention {
        "four_never_hard" | "inactive_is_hard" => (false, true),
        _ => (true, true),
    }
}

/// The convention that explains a disagreement between a verdict and a
/// label, if one does.
fn convention(policy: &Policy, case: &Case, event: &Event, v: &Verdict) -> Option<&'static str> {
    use crate::model::Class;
    let reason_ok = v.reason == case.reason;
    let hard = v.class == Class::Hard;
    let reply_class = v.status.map(|s| s.class).or(v.code.map(|c| (c / 100) as u8));
    if case.reason == "feedback" && event.kind == crate::event::EventType::Unsubscribe {
        return Some("unsubscribe");
    }
    if reason_ok {
        if case.hard == Some(true) && !hard && reply_class == Some(4) {
            return Some("four_never_hard");
        }
        if case.hard == Some(false) && hard && matches!(v.reason, "suspend" | "mailbox_full") {
            return Some("inactive_is_hard");
        }
        return None;
    }
    let after_data = event.phase.as_deref().is_some_and(|p| p == "data");
    if case.reason == "filtered" && v.reason == "user_unknown" && reply_class != Some(4) && !after_data {
        return Some("unknown_user_words");
    }
    // The other side of the same statement: known to come after DATA.
    if case.reason == "user_unknown" && v.reason == "filtered" && after_data {
        return Some("unknown_user_words");
    }
    // The label's reason is outside the subject the status fixes, the verdict's inside.
    let response = crate::eval::normalize::normalize(&crate::eval::raw_of(event));
    if let Some(subject) = crate::eval::fixed_subject(&response) {
        let allows = |name: &str| policy.reason(name).is_some_and(|i| i.subjects & (1 << subject) != 0);
        if !allows(&case.reason) && allows(v.reason) {
            return Some("status_first");
        }
    }
    None
}

/// Every rule and phrase of a policy with the source it cites.
fn decider_sources(policy: &Policy) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> =
        policy.all_rules().map(|r| (r.id.clone(), r.provenance.source.clone())).collect();
    for (i, p) in policy.phrases().iter().enumerate() {
        if let Some(key) = policy.decider_key(Decider::Phrase(i)) {
            out.push((key, p.provenance.source.clone()));
        }
    }
    out
}

/// Whether a source cites the document (or MTA family) a fold stands for:
/// the family's Sisimai module (`lhost-postfix` → `lhost/postfix`), or the
/// fold's page or file (`support.google.com/a/answer/3726730`,
/// `rhost/for-yahooinc.go`, `learn.microsoft.com …`).
pub fn cites_fold(source: &str, fold: &str) -> bool {
    let source = source.to_lowercase();
    let fold = fold.to_lowercase();
    let family = |kind: &str, name: &str| {
        source.contains(&format!("{kind}/{name}.")) || source.contains(&format!("{kind}/for-{name}"))
    };
    if let Some((kind, name)) = fold.split_once('-')
        && matches!(kind, "lhost" | "rhost")
    {
        return family(kind, name);
    }
    // An answer taken from one of Sisimai's sample emails stands for that
    // module's knowledge (`…/rhost-kddi-01.eml` → `Rhost/KDDI.pm`).
    if let Some(file) = fold.split(['/', ' ']).find(|w| w.ends_with(".eml"))
        && let Some((kind, rest)) = file.split_once('-')
        && matches!(kind, "lhost" | "rhost")
    {
        let name = family_of(rest);
        return family(kind, &name);
    }
    let words: Vec<&str> = fold.split_whitespace().collect();
    // The token that names the document: a URL, a path or a host name.
    let Some(first) = words.iter().take(2).find(|w| w.contains('/') || w.contains('.')) else {
        // A description, not a reference: only a source that repeats it cites it.
        return source.contains(fold.trim());
    };
    let first = first.trim_start_matches("https://").trim_start_matches("http://");
    if first.contains('/') {
        // The last two segments of a path or URL: specific enough to name one document.
        let parts: Vec<&str> = first.trim_end_matches('/').rsplit('/').take(2).collect();
        let key = parts.into_iter().rev().collect::<Vec<_>>().join("/");
        return key.len() > 4 && source.contains(&key);
    }
    // A host: the site, however a source spells it (`smtpfieldmanual.com`
    // and `github.com/ActiveCampaign/smtp-field-manual` are one document).
    let site = first.rsplit_once('.').map_or(first, |(head, _)| head);
    let alnum = |t: &str| t.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>();
    let site = alnum(site);
    site.len() > 4 && alnum(&source).contains(&site)
}

/// The module name of a sample file's tail (`kddi-01.eml` → `kddi`).
fn family_of(rest: &str) -> String {
    let stem = rest.trim_end_matches(".eml");
    match stem.rsplit_once('-') {
        Some((head, tail)) if tail.chars().all(|c| c.is_ascii_digit()) => head.to_string(),
        _ => stem.to_string(),
    }
}

/// Agreement, as percentages of a corpus's cases.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scores {
    /// How many cases.
    pub cases: usize,
    /// An event was found (DSN: ingest found the recipient).
    pub found: f64,
    /// The class agrees (answers).
    pub class: f64,
    /// The reason agrees.
    pub reason: f64,
    /// Hard or not agrees (DSN).
    pub hard: f64,
    /// A code table or the default decided.
    pub fallback: f64,
    /// The reason agrees, or differs by a documented convention.
    pub reason_conventions: f64,
    /// Hard or not agrees, or differs by a documented convention.
    pub hard_conventions: f64,
}

fn scores(outcomes: &[&Outcome]) -> Scores {
    let n = outcomes.len();
    let pct = |f: &dyn Fn(&Outcome) -> bool| {
        if n == 0 { 100.0 } else { 100.0 * outcomes.iter().filter(|o| f(o)).count() as f64 / n as f64 }
    };
    Scores {
        cases: n,
        found: pct(&|o| o.found),
        class: pct(&|o| o.class_ok && o.found),
        reason: pct(&|o| o.reason_ok),
        hard: pct(&|o| o.hard_ok),
        fallback: pct(&|o| o.fallback),
        reason_conventions: pct(&|o| o.reason_conv_ok),
        hard_conventions: pct(&|o| o.hard_conv_ok),
    }
}

/// A rule or phrase and the folds whose cases it decided.
#[derive(Debug, Clone, Serialize)]
pub struct DeciderHits {
    /// Where it is (`file:line`).
    pub decider: String,
    /// Cases decided, by fold, with the whole policy (training: every fold read).
    pub by_fold: BTreeMap<String, usize>,
    /// Cases it still decided, by fold, when that fold was the one left out
    /// (its own knowledge masked): what it does on a source it never read.
    pub left_out_by_fold: BTreeMap<String, usize>,
}

/// One corpus measured.
#[derive(Debug, Clone, Serialize)]
pub struct CorpusReport {
    /// Which corpus.
    pub corpus: Corpus,
    /// With the whole policy.
    pub visible: Scores,
    /// Each fold with the knowledge only it backs masked.
    pub cross_validated: Scores,
    /// Per fold: (cases, visible reason %, cross-validated reason %).
    pub folds: BTreeMap<String, (usize, f64, f64)>,
    /// The cases the whole policy gets wrong.
    pub misses: Vec<Outcome>,
    /// The cases it gets wrong once each fold's own knowledge is masked.
    pub cross_validated_misses: Vec<Outcome>,
}

/// Both corpora measured, and the knowledge only one source backs.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Per corpus.
    pub corpora: Vec<CorpusReport>,
    /// Rules and phrases that decided cases of one fold only.
    pub single_source: Vec<DeciderHits>,
    /// Rules and phrases that decided cases of several folds.
    pub shared: Vec<DeciderHits>,
}

/// Measures a policy on labelled cases: visible and cross-validated by fold.
pub fn measure(policy: &Policy, cases: &[Case]) -> Report {
    let parsed: Vec<Option<String>> = cases.iter().map(|c| c.event.clone()).collect();
    let verdict_of = |i: usize, masked: &dyn Fn(&str) -> bool| {
        let line = parsed.get(i).and_then(|l| l.as_deref())?;
        let event = Event::parse(line).ok()?;
        Some(judge(policy, &cases[i], Some(&event), Some(&policy.classify_masked(&event, masked))))
    };
    let visible: Vec<Outcome> = (0..cases.len())
        .map(|i| verdict_of(i, &|_| false).unwrap_or_else(|| judge(policy, &cases[i], None, None)))
        .collect();
    // Which folds each rule or phrase decided (the code tables are the RFCs': never masked).
    let mut hits: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for o in visible.iter().filter(|o| !o.fallback) {
        if let Some(d) = &o.decider {
            *hits.entry(d.clone()).or_default().entry(o.fold.clone()).or_default() += 1;
        }
    }
    let sources = decider_sources(policy);
    let folds: BTreeSet<&str> = cases.iter().map(|c| c.fold.as_str()).collect();
    let mut backed: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for fold in folds {
        let set = backed.entry(fold).or_default();
        for (key, source) in &sources {
            let only_here = hits.get(key).is_some_and(|by| by.len() == 1 && by.contains_key(fold));
            // A source may name several references (`A; B`): the knowledge
            // is lost only when every one of them is the left-out source.
            let cites = source.as_deref().is_some_and(|s| s.split("; ").all(|part| cites_fold(part, fold)));
            if cites || (source.is_none() && only_here) {
                set.insert(key.clone());
            }
        }
    }
    let empty = BTreeSet::new();
    let cross: Vec<Outcome> = (0..cases.len())
        .map(|i| {
            let masked = backed.get(cases[i].fold.as_str()).unwrap_or(&empty);
            verdict_of(i, &|key| masked.contains(key)).unwrap_or_else(|| judge(policy, &cases[i], None, None))
        })
        .collect();
    let mut corpora = Vec::new();
    for corpus in [Corpus::Answers, Corpus::Dsn] {
        let pick = |all: &[Outcome]| -> Vec<usize> {
            (0..all.len()).filter(|&i| cases.get(i).is_some_and(|c| c.corpus == corpus)).collect()
        };
        let idx = pick(&visible);
        if idx.is_empty() {
            continue;
        }
        let vis: Vec<&Outcome> = idx.iter().filter_map(|&i| visible.get(i)).collect();
        let cv: Vec<&Outcome> = idx.iter().filter_map(|&i| cross.get(i)).collect();
        let mut folds: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
        let fold_names: BTreeSet<&str> = vis.iter().map(|o| o.fold.as_str()).collect();
        for f in fold_names {
            let a: Vec<&Outcome> = vis.iter().copied().filter(|o| o.fold == f).collect();
            let b: Vec<&Outcome> = cv.iter().copied().filter(|o| o.fold == f).collect();
            folds.insert(f.to_string(), (a.len(), scores(&a).reason, scores(&b).reason));
        }
        corpora.push(CorpusReport {
            corpus,
            visible: scores(&vis),
            cross_validated: scores(&cv),
            folds,
            misses: vis.iter().filter(|o| !(o.reason_ok && o.class_ok && o.hard_ok)).map(|o| (*o).clone()).collect(),
            cross_validated_misses: cv
                .iter()
                .filter(|o| !(o.reason_ok && o.class_ok && o.hard_ok))
                .map(|o| (*o).clone())
                .collect(),
        });
    }
    let mut left_out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for o in cross.iter().filter(|o| !o.fallback) {
        if let Some(d) = &o.decider {
            *left_out.entry(d.clone()).or_default().entry(o.fold.clone()).or_default() += 1;
        }
    }
    let (single_source, shared): (Vec<DeciderHits>, Vec<DeciderHits>) = hits
        .into_iter()
        .map(|(decider, by_fold)| {
            let left_out_by_fold = left_out.remove(&decider).unwrap_or_default();
            DeciderHits { decider, by_fold, left_out_by_fold }
        })
        .partition(|h| h.by_fold.len() == 1);
    Report { corpora, single_source, shared }
}

#[cfg(test)]
mod tests {
    use super::cites_fold;

    #[test]
    fn a_fold_is_cited_by_its_document_however_the_source_spells_it() {
        let p5 = "https://github.com/sisimai/p5-sisimai/blob/21cf/lib/Sisimai/Rhost/KDDI.pm";
        assert!(cites_fold(p5, "rhost-kddi"));
        assert!(cites_fold(p5, "sisimai/set-of-emails maildir/bsd/rhost-kddi-01.eml (Diagnostic-Code)"));
        assert!(!cites_fold(p5, "rhost-kddidocomo"));
        let manual = "https://github.com/ActiveCampaign/smtp-field-manual/blob/main/data/codes/550.json";
        assert!(cites_fold(manual, "smtpfieldmanual.com (ActiveCampaign/smtp-field-manual data/codes/550.json)"));
        let google = "https://support.google.com/a/answer/3726730";
        assert!(cites_fold(google, "support.google.com/a/answer/3726730"));
        assert!(!cites_fold(google, "support.google.com/a/answer/81126"));
        assert!(cites_fold(
            "https://github.com/KumoCorp/kumomta/blob/x/assets/community/shaping.toml",
            "KumoMTA assets/community/shaping.toml"
        ));
        assert!(cites_fold(
            "https://github.com/sisimai/go-sisimai/blob/x/rhost/for-apple.go",
            "go-sisimai rhost/for-apple.go"
        ));
        // A description names no document: it does not take every GitHub reference with it.
        assert!(!cites_fold(p5, "GitHub code search: an NDR quoted in a README"));
        assert!(cites_fold(
            "https://learn.microsoft.com/en-us/exchange/troubleshoot/email-delivery/ndr/x",
            "learn.microsoft.com Exchange Online NDR table"
        ));
    }
}
