//! `rebound run --events FILE [--db PATH]`: the lifecycle over a stream of
//! events; transitions as JSONL on stdout, a summary on stderr.

use crate::load::Layer;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use super::input::open;
use super::{Exit, load_policy};
use crate::lifecycle::runner::{Outcome, Runner, Summary};
use crate::store::sqlite::SqliteStore;
use crate::store::{Filter, Store};

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSONL events (`-`: stdin).
    #[arg(long, value_name = "FILE")]
    pub events: PathBuf,
    /// The state database (created if missing).
    #[arg(long, default_value = "rebound.db", value_name = "PATH")]
    pub db: PathBuf,
    /// Print no transitions, only the summary.
    #[arg(long)]
    pub quiet: bool,
    /// The most events committed in one transaction.
    #[arg(long, value_name = "N", default_value_t = crate::lifecycle::runner::BATCH_EVENTS)]
    pub batch: usize,
}

/// Runs `run`.
pub fn run(policy: Vec<Layer>, args: Args) -> std::io::Result<Exit> {
    let Some(policy) = load_policy(policy)? else { return Ok(Exit::Invalid) };
    let input = match open(Some(&args.events)) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.events.display());
            return Ok(Exit::Invalid);
        }
    };
    let store = match SqliteStore::open(&args.db).and_then(|mut s| s.checkpoint_in_background().map(|()| s)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot open the database {}: {e}", args.db.display());
            return Ok(Exit::Invalid);
        }
    };
    let Some(runner) = Runner::new(&policy, store) else {
        eprintln!("error: the policy declares no `lifecycle`; `run` needs one (see docs/lifecycle.md)");
        return Ok(Exit::Invalid);
    };
    let mut runner = runner.batch_events(args.batch);
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} events ({per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let version = policy.version().to_string();
    let quiet = args.quiet;
    let result = runner.run(
        input,
        |outcomes| {
            if let Some(bar) = &progress {
                bar.inc(outcomes.len() as u64);
            }
            if !quiet {
                write_transitions(&mut out, outcomes, &version)?;
            }
            out.flush()
        },
        |line, why| {
            if let Some(bar) = &progress {
                bar.suspend(|| eprintln!("line {line}: {why}"));
            } else {
                eprintln!("line {line}: {why}");
            }
            Ok(())
        },
    );
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Exit::Internal);
        }
    };
    let mut store = runner.into_store();
    let in_error =
        store.list(&Filter { delivery: Some("error".into()), ..Filter::default() }).map(|v| v.len()).unwrap_or(0);
    print_summary(&summary, in_error)?;
    Ok(if summary.bad > 0 { Exit::Invalid } else { Exit::Ok })
}

/// Writes the transitions as JSON Lines, in order; a large batch's are
/// serialised on every core (the commit waits for them).
fn write_transitions(out: &mut impl Write, outcomes: &[Outcome], version: &str) -> std::io::Result<()> {
    let one = |outcomes: &[Outcome]| -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(outcomes.len() * 512);
        for o in outcomes {
            serde_json::to_writer(&mut buf, &o.json(version))?;
            buf.push(b'\n');
        }
        Ok(buf)
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if workers == 1 || outcomes.len() < 4096 {
        return out.write_all(&one(outcomes)?);
    }
    let size = outcomes.len().div_ceil(workers);
    let (mine, theirs) = outcomes.split_at(size.min(outcomes.len()));
    let (first, rest): (std::io::Result<Vec<u8>>, Vec<std::io::Result<Vec<u8>>>) = std::thread::scope(|s| {
        let handles: Vec<_> = theirs.chunks(size).map(|c| s.spawn(move || one(c))).collect();
        let first = one(mine);
        let rest = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(std::io::Error::other("a writer panicked"))))
            .collect();
        (first, rest)
    });
    out.write_all(&first?)?;
    for part in rest {
        out.write_all(&part?)?;
    }
    Ok(())
}

fn print_summary(s: &Summary, in_error: usize) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    let list = |m: &std::collections::BTreeMap<String, usize>| {
        if m.is_empty() {
            "none".to_string()
        } else {
            m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
        }
    };
    writeln!(
        err,
        "events: {} read, {} processed, {} already processed, {} bad lines",
        s.events, s.processed, s.duplicates, s.bad
    )?;
    writeln!(err, "verdicts: {}", list(&s.verdicts))?;
    writeln!(err, "transitions: {}", list(&s.transitions))?;
    writeln!(err, "contacts in error: {in_error}")
}
