//! `rebound measure [--answers FILE] [--dsn DIR]`: how well the policy
//! agrees with labelled corpora, visible and cross-validated by source
//! (`crate::measure`, docs/knowledge.md).

use std::io::Write;
use std::path::PathBuf;

use super::{Exit, Format, load_policy};
use crate::load::Layer;
use crate::measure::{Case, DeciderHits, FoldBy, Report, answers, dsn, measure};

/// Arguments of `measure`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A corpus of SMTP answers with labels (JSONL: `receiver`, the answer, `expect {class, reason}`).
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// A corpus of bounce emails with Sisimai's labels (`emails/` and `expected.jsonl`).
    #[arg(long, value_name = "DIR")]
    pub dsn: Option<PathBuf>,
    /// How answers are split for cross-validation: by the document they come from, or by receiver.
    #[arg(long, value_enum, default_value_t = FoldBy::Source)]
    pub by: FoldBy,
    /// `text` for people, `json` for tools.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// List every miss and the knowledge only one source backs.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Runs `measure`.
pub fn run(policy: Vec<Layer>, args: Args) -> std::io::Result<Exit> {
    if args.answers.is_none() && args.dsn.is_none() {
        eprintln!("error: give a corpus: --answers FILE and/or --dsn DIR");
        return Ok(Exit::Usage);
    }
    let Some(policy) = load_policy(policy)? else { return Ok(Exit::Invalid) };
    let mut cases: Vec<Case> = Vec::new();
    if let Some(path) = &args.answers {
        match std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|t| answers(&t, args.by)) {
            Ok(c) => cases.extend(c),
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return Ok(Exit::Invalid);
            }
        }
    }
    if let Some(dir) = &args.dsn {
        match dsn(dir) {
            Ok(c) => cases.extend(c),
            Err(e) => {
                eprintln!("error: {}: {e}", dir.display());
                return Ok(Exit::Invalid);
            }
        }
    }
    let report = measure(&policy, &cases);
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string(&report).unwrap_or_default())?,
        Format::Text => write!(out, "{}", text(&report, args.verbose))?,
    }
    Ok(Exit::Ok)
}

/// The report for people.
pub fn text(r: &Report, verbose: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for c in &r.corpora {
        let (v, x) = (&c.visible, &c.cross_validated);
        let _ = writeln!(s, "{:?} corpus: {} cases", c.corpus, v.cases);
        let _ = writeln!(s, "  {:<18} {:>8} {:>16}", "", "visible", "cross-validated");
        let mut row = |name: &str, a: f64, b: f64| {
            let _ = writeln!(s, "  {name:<18} {a:>7.1}% {b:>15.1}%");
        };
        match c.corpus {
            crate::measure::Corpus::Answers => row("class", v.class, x.class),
            crate::measure::Corpus::Dsn => {
                row("recipient found", v.found, x.found);
                row("hard/not hard", v.hard, x.hard);
            }
        }
        row("reason", v.reason, x.reason);
        if c.corpus == crate::measure::Corpus::Dsn {
            row("  with conventions", v.reason_conventions, x.reason_conventions);
            row("hard, conventions", v.hard_conventions, x.hard_conventions);
        }
        row("decided by a table", v.fallback, x.fallback);
        let _ = writeln!(s, "  by source (cases, reason visible → cross-validated):");
        for (fold, (n, a, b)) in &c.folds {
            let mark = if a - b > 0.05 { "  ← knowledge only this source backs" } else { "" };
            let _ = writeln!(s, "    {fold:<28} {n:>4}  {a:>5.1}% → {b:>5.1}%{mark}");
        }
        if verbose {
            let seen: std::collections::BTreeSet<&str> = c.misses.iter().map(|m| m.id.as_str()).collect();
            let left_out = c.cross_validated_misses.iter().filter(|m| !seen.contains(m.id.as_str()));
            for m in c.misses.iter().map(|m| ("miss", m)).chain(left_out.map(|m| ("left-out miss", m))) {
                let (what, m) = m;
                let _ = writeln!(
                    s,
                    "  {what} {}: want {} {}, got {} {} by {}{}",
                    m.id,
                    m.want_class.as_deref().unwrap_or(""),
                    m.want_reason,
                    m.class.as_deref().unwrap_or("-"),
                    m.reason.as_deref().unwrap_or("(no event)"),
                    m.decider.as_deref().unwrap_or("the default"),
                    m.convention.map(|c| format!(" (convention: {c})")).unwrap_or_default(),
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "rules and phrases that decided cases: {} of several sources, {} of one source only",
        r.shared.len(),
        r.single_source.len()
    );
    if verbose {
        for h in &r.single_source {
            let (fold, n) = h.by_fold.iter().next().map(|(f, n)| (f.as_str(), *n)).unwrap_or(("", 0));
            let _ = writeln!(s, "  only {fold} ({n}): {}", h.decider);
        }
        // Per rule or phrase: the cases it decided with every source read,
        // and those it still decided with their own source left out.
        let _ = writeln!(s, "per rule or phrase (cases decided: training → its source left out, sources):");
        let mut all: Vec<&DeciderHits> = r.shared.iter().chain(&r.single_source).collect();
        all.sort_by_key(|h| std::cmp::Reverse(h.by_fold.values().sum::<usize>()));
        for h in all {
            let train: usize = h.by_fold.values().sum();
            let held: usize = h.left_out_by_fold.values().sum();
            let _ = writeln!(s, "  {:>4} → {:>4}  {:>3}  {}", train, held, h.by_fold.len(), h.decider);
        }
    }
    s
}
