//! `rebound classify [FILE]`: events in (JSONL), verdicts out, in input order.

use crate::load::Layer;
use std::io::Write;
use std::path::PathBuf;

use super::input::open;
use super::{Exit, Format, load_policy};
use crate::eval::{Verdict, VerdictJson};
use crate::event::Event;

/// Arguments of `classify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSONL events (default or `-`: stdin).
    pub file: Option<PathBuf>,
    /// `json` (one verdict per line, the default, on a terminal or not) or `text` for people.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Worker threads (default: the machine's cores, at most 8). Verdicts
    /// keep the input order whatever the number.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
}

/// The default number of classify workers: the machine's cores, at most 8.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

/// A verdict as one line for people.
pub fn text_line(e: &Event, v: &Verdict) -> String {
    format!(
        "{} {}: {} {} (scope {}) by {} [{}]",
        e.id.as_deref().unwrap_or("-"),
        e.recipient,
        v.class,
        v.reason,
        v.scope,
        v.rule.unwrap_or(if v.source.is_some() { "table" } else { "default" }),
        v.source.unwrap_or("-"),
    )
}

/// Runs `classify`.
pub fn run(policy: Vec<Layer>, args: Args) -> std::io::Result<Exit> {
    let Some(policy) = load_policy(policy)? else { return Ok(Exit::Invalid) };
    let stdout = std::io::stdout();
    let format = args.format;
    let input = match open(args.file.as_deref()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.file.unwrap_or_default().display());
            return Ok(Exit::Invalid);
        }
    };
    let out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let threads = args.threads.map_or_else(default_threads, usize::from);
    let report = stream_threads(&policy, input, out, &mut std::io::stderr().lock(), format, threads)?;
    Ok(if report.bad > 0 { Exit::Invalid } else { Exit::Ok })
}

/// The most lines read before they are classified in parallel.
pub const BATCH_LINES: usize = 8192;

/// The most bytes of lines read before they are classified (a batch ends at
/// whichever of this and [`BATCH_LINES`] comes first).
pub const BATCH_BYTES: usize = 16 << 20;

/// Classifies a stream of JSONL events into `out`, in input order; bad
/// lines go to `err` with their numbers. Lines are read in batches of at
/// most [`BATCH_LINES`] and [`BATCH_BYTES`]; each batch is split over the
/// machine's cores and the results written in order, so memory stays flat
/// and output order is the input's. A worker that panics (a host function)
/// ends the stream with an error: no verdict is ever written in another
/// event's place.
pub fn stream(
    policy: &crate::Policy,
    input: impl std::io::BufRead,
    out: impl Write,
    err: &mut impl Write,
    format: Format,
) -> std::io::Result<super::input::Report> {
    stream_threads(policy, input, out, err, format, default_threads())
}

/// [`stream`] with `threads` workers (1: all on the calling thread).
pub fn stream_threads(
    policy: &crate::Policy,
    input: impl std::io::BufRead,
    mut out: impl Write,
    err: &mut impl Write,
    format: Format,
    threads: usize,
) -> std::io::Result<super::input::Report> {
    let workers = threads.max(1);
    let mut lines = crate::event::Lines::new(input);
    let mut buf = Vec::new();
    let mut report = super::input::Report::default();
    loop {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while batch.len() < BATCH_LINES && bytes < BATCH_BYTES {
            match lines.next_line(&mut buf)? {
                Some(line) => {
                    if let crate::event::Line::Text(_, t) = &line {
                        bytes += t.len();
                    }
                    batch.push(line);
                }
                None => break,
            }
        }
        if batch.is_empty() {
            break;
        }
        let size = batch.len().div_ceil(workers).max(1);
        let results: Vec<Chunk> = if workers == 1 || batch.len() < 256 {
            let one = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| classify_chunk(policy, &batch, format)));
            vec![one.map_err(|_| panicked())?]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> =
                    batch.chunks(size).map(|c| s.spawn(move || classify_chunk(policy, c, format))).collect();
                handles.into_iter().map(|h| h.join().map_err(|_| panicked())).collect::<Result<_, _>>()
            })?
        };
        for r in results {
            out.write_all(&r.out)?;
            for e in &r.errors {
                writeln!(err, "{e}")?;
            }
            report.events += r.events;
            report.bad += r.errors.len();
        }
    }
    out.flush()?;
    Ok(report)
}

fn panicked() -> std::io::Error {
    std::io::Error::other(
        "classification panicked (a host function?); stopped before writing any verdict of this batch",
    )
}

/// What one worker produced for its share of a batch.
#[derive(Default)]
struct Chunk {
    out: Vec<u8>,
    errors: Vec<String>,
    events: usize,
}

fn classify_chunk(policy: &crate::Policy, lines: &[crate::event::Line], format: Format) -> Chunk {
    use crate::event::Line;
    let mut c = Chunk { out: Vec::with_capacity(lines.len() * 256), ..Chunk::default() };
    for line in lines {
        match line {
            Line::Text(_, text) if text.trim().is_empty() => {}
            Line::Text(n, text) => {
                c.events += 1;
                match Event::parse(text) {
                    Ok(event) => {
                        let v = policy.classify(&event);
                        let written = match format {
                            Format::Json => {
                                VerdictJson::new(&event, &v).write_json(&mut c.out);
                                c.out.write_all(b"\n")
                            }
                            Format::Text => writeln!(c.out, "{}", text_line(&event, &v)),
                        };
                        if let Err(e) = written {
                            c.errors.push(format!("line {n}: {e}"));
                        }
                    }
                    Err(e) => c.errors.push(format!("line {n}: {e}")),
                }
            }
            Line::Bad(n, why) => {
                c.events += 1;
                c.errors.push(format!("line {n}: {why}"));
            }
        }
    }
    c
}
