//! The shipped policy's wording in other languages
//! (`policies/phrases/languages/*.rebound`), case by case:
//! `tests/data/languages.jsonl` holds one hand-written answer per phrase,
//! built from the cited wording, with the verdict the shipped policy must
//! reach and the language file whose phrase must reach it.

use rebound::compile::patterns::fold_text;
use rebound::event::Event;
use rebound::policy::{PhraseMatch, PhraseTarget};
use serde::Deserialize;

/// Where the language files are, as the shipped policy names them.
const DIR: &str = "policies/phrases/languages/";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    lang: String,
    why: String,
    code: Option<u16>,
    status: Option<String>,
    phase: Option<String>,
    action: Option<String>,
    text: String,
    /// `class reason`.
    expect: String,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(crate::root().join("tests/data/languages.jsonl")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Each case's verdict by the shipped policy, with the case.
fn verdicts(policy: &rebound::Policy) -> Vec<(Case, String, Option<String>, Option<String>)> {
    cases()
        .into_iter()
        .map(|c| {
            let mut e = Event::bounce("pat@example.org", c.code, c.status.as_deref(), &c.text);
            e.phase = c.phase.as_deref().map(Into::into);
            e.action = c.action.as_deref().map(Into::into);
            let v = policy.classify(&e);
            // The traced path reaches the same verdict.
            assert_eq!(policy.classify_traced(&e).0, v, "{}", c.why);
            let got = format!("{} {}", v.class, v.reason);
            let (rule, source) = (v.rule.map(str::to_string), v.source.map(str::to_string));
            (c, got, rule, source)
        })
        .collect()
}

#[test]
fn every_case_is_decided_by_a_phrase_of_its_language() {
    let policy = rebound::load::compile_shipped().policy.unwrap();
    let mut failures = Vec::new();
    for (c, got, rule, source) in verdicts(&policy) {
        let reason = c.expect.split_whitespace().nth(1).unwrap_or_default();
        let file = format!("{DIR}{}.rebound:", c.lang);
        let decided_here = rule.as_deref() == Some(format!("phrases.{reason}").as_str())
            && source.as_deref().is_some_and(|s| s.starts_with(&file));
        if got != c.expect || !decided_here {
            failures.push(format!(
                "{} ({}): expected `{}` by a phrase of {file}, got `{got}` by {} at {}",
                c.why,
                c.lang,
                c.expect,
                rule.as_deref().unwrap_or("-"),
                source.as_deref().unwrap_or("-")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_language_phrase_decides_a_case() {
    let policy = rebound::load::compile_shipped().policy.unwrap();
    let decided = verdicts(&policy);
    let mut missing = Vec::new();
    let mut count = 0;
    for p in policy.phrases() {
        if !p.location.file.starts_with(DIR) || p.veto || !matches!(p.target, PhraseTarget::Reason(_)) {
            continue;
        }
        count += 1;
        let pieces: Vec<&str> = match &p.pattern {
            PhraseMatch::Literal { text, .. } => vec![text.as_str()],
            PhraseMatch::Words { pieces, .. } => pieces.iter().map(String::as_str).collect(),
        };
        let found = decided.iter().any(|(c, _, rule, source)| {
            source.as_deref() == Some(p.location.label.as_str())
                && rule.as_deref() == Some(p.id.as_str())
                && pieces.iter().all(|piece| fold_text(&c.text).contains(piece))
        });
        if !found {
            missing.push(format!("{} {} at {}", p.id, p.text, p.location.label));
        }
    }
    assert!(count > 0, "no phrase in {DIR}: the loader no longer reads the language files");
    assert!(missing.is_empty(), "phrases no case exercises:\n{}", missing.join("\n"));
}
