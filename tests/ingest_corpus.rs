//! Real bounce emails (sisimai/set-of-emails, read from `../shared/corpus/dsn`,
//! never copied here) through `ingest` and the shipped policy, against
//! Sisimai's labels, measured as `rebound measure --dsn` measures them:
//! visible and cross-validated by MTA family, raw and counting the
//! documented conventions (docs/knowledge.md). The rows where Rebound and
//! Sisimai still differ after the conventions are listed, each with a word
//! on why, in `tests/data/dsn_disagreements.tsv`; the test fails when the
//! list and the run part ways, so the file stays true.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rebound::measure::{self, Corpus, CorpusReport, Outcome};

/// Where the shared corpus is: `$REBOUND_SHARED/corpus/dsn` (CI sets it),
/// else `../shared/corpus/dsn` beside the repository.
fn corpus_dir() -> Option<PathBuf> {
    match std::env::var_os("REBOUND_SHARED") {
        Some(s) => {
            let dir = PathBuf::from(s).join("corpus/dsn");
            assert!(dir.is_dir(), "REBOUND_SHARED is set but {} does not exist", dir.display());
            Some(dir)
        }
        None => {
            let dir = crate::root().join("../shared/corpus/dsn");
            if dir.is_dir() {
                Some(dir)
            } else {
                eprintln!("NOTE: ../shared/corpus/dsn is not beside the repository; the DSN corpus test did not run");
                None
            }
        }
    }
}

/// A listed disagreement: its kind and the word on it.
struct Listed {
    kind: String,
    word: String,
}

/// The listed disagreements: `file#index` → kind and word.
fn listed() -> BTreeMap<String, Listed> {
    let text = std::fs::read_to_string(crate::root().join("tests/data/dsn_disagreements.tsv")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let listed = Listed { kind: cols.get(4)?.to_string(), word: cols.get(5)?.to_string() };
            Some((format!("{}#{}", cols.first()?, cols.get(1)?), listed))
        })
        .collect()
}

fn report(dir: &std::path::Path) -> CorpusReport {
    let policy = rebound::load::compile_shipped().policy.expect("the shipped policy compiles");
    let cases = measure::dsn(dir).expect("the DSN corpus reads");
    let report = measure::measure(&policy, &cases);
    report.corpora.into_iter().find(|c| c.corpus == Corpus::Dsn).expect("a DSN report")
}

#[test]
fn the_dsn_corpus_agrees_with_sisimai() {
    let Some(dir) = corpus_dir() else { return };
    let c = report(&dir);
    let (v, x) = (&c.visible, &c.cross_validated);
    println!(
        "DSN corpus: {} rows; recipient {:.1}%; reason {:.1}% ({:.1}% with conventions; cross-validated {:.1}%); \
         hard/not-hard {:.1}% ({:.1}% with conventions); a table decided {:.1}%",
        v.cases, v.found, v.reason, v.reason_conventions, x.reason_conventions, v.hard, v.hard_conventions, v.fallback
    );
    // The floors sit just under today's figures (docs/knowledge.md): a
    // change that loses knowledge fails here.
    assert!(v.found >= 99.0, "recipient found for {:.1}% of rows (< 99%)", v.found);
    assert!(v.reason_conventions >= 91.0, "reason agrees on {:.1}% with conventions (< 91%)", v.reason_conventions);
    assert!(v.hard_conventions >= 97.0, "hard/not-hard agrees on {:.1}% with conventions (< 97%)", v.hard_conventions);
    assert!(v.hard >= 88.0, "hard/not-hard agrees on {:.1}% raw (< 88%)", v.hard);
    assert!(
        v.reason_conventions - x.reason_conventions <= 5.0,
        "cross-validated reason {:.1}% is more than 5 points under the visible {:.1}%",
        x.reason_conventions,
        v.reason_conventions
    );

    // The data file lists exactly the rows that still disagree once the
    // conventions are counted, each with a kind and a word.
    let listed = listed();
    for (key, l) in &listed {
        assert!(
            ["sisimai", "ingest", "policy"].contains(&l.kind.as_str()) && l.word.len() > 10,
            "{key}: a listed disagreement needs a kind (sisimai, ingest, policy) and a word on it"
        );
    }
    let misses: BTreeMap<&str, &Outcome> =
        c.misses.iter().filter(|o| !(o.reason_conv_ok && o.hard_conv_ok)).map(|o| (o.id.as_str(), o)).collect();
    let new: Vec<String> = misses
        .iter()
        .filter(|(k, _)| !listed.contains_key(**k))
        .map(|(k, o)| {
            let (file, index) = k.split_once('#').unwrap_or((k, "1"));
            format!(
                "{file}\t{index}\t{}\t{} {}\t<kind>\t<why> (decided by {})",
                o.want_reason,
                o.class.as_deref().unwrap_or("-"),
                o.reason.as_deref().unwrap_or("-"),
                o.decider.as_deref().unwrap_or("the default")
            )
        })
        .collect();
    let gone: Vec<&String> = listed.keys().filter(|k| !misses.contains_key(k.as_str())).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "tests/data/dsn_disagreements.tsv is out of date.\nadd (with a word on each):\n{}\nremove (they agree now):\n{:?}",
        new.join("\n"),
        gone
    );
}

#[test]
fn every_convention_is_documented() {
    let knowledge = std::fs::read_to_string(crate::root().join("docs/knowledge.md")).unwrap();
    for (name, _) in measure::CONVENTIONS {
        assert!(knowledge.contains(&format!("`{name}`")), "docs/knowledge.md does not explain the convention `{name}`");
    }
}

#[test]
fn the_answers_corpus_generalises() {
    let text = std::fs::read_to_string(crate::root().join("tests/data/responses.jsonl")).unwrap();
    let policy = rebound::load::compile_shipped().policy.expect("the shipped policy compiles");
    let cases = measure::answers(&text, measure::FoldBy::Source).unwrap();
    let report = measure::measure(&policy, &cases);
    let c = report.corpora.iter().find(|c| c.corpus == Corpus::Answers).unwrap();
    let (v, x) = (&c.visible, &c.cross_validated);
    println!(
        "answers: class {:.1}% → {:.1}%, reason {:.1}% → {:.1}% (visible → cross-validated by source); \
         a table decided {:.1}%",
        v.class, x.class, v.reason, x.reason, v.fallback
    );
    assert!(v.class >= 98.0, "class {:.1}% (< 98%)", v.class);
    assert!(v.reason >= 95.0, "reason {:.1}% (< 95%)", v.reason);
    assert!(v.fallback < 5.0, "a code table decided {:.1}% of the answers", v.fallback);
    // Knowledge fitted to one source shows as a gap between the two.
    assert!(
        v.class - x.class <= 5.0,
        "cross-validated class {:.1}% is more than 5 points under {:.1}%",
        x.class,
        v.class
    );
    assert!(
        v.reason - x.reason <= 5.0,
        "cross-validated reason {:.1}% is more than 5 points under {:.1}%",
        x.reason,
        v.reason
    );
}
