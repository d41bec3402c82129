//! `rebound explain [FILE]`: like classify, with the trace of every rule tried.

use crate::load::Layer;
use std::io::Write;
use std::path::PathBuf;

use super::input::{each_event, open};
use super::{Exit, Format, load_policy};
use crate::eval::explain::{ExplanationJson, render_text};

/// Arguments of `explain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSONL events (default or `-`: stdin).
    pub file: Option<PathBuf>,
    /// `text` for people (the default, on a terminal or not) or `json` (one object per event).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Runs `explain`.
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
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr().lock();
    let mut first = true;
    let report = each_event(input, &mut err, |_, event| {
        let (v, trace) = policy.classify_traced(event);
        match format {
            Format::Json => {
                let obj = ExplanationJson::new(event, &v, &trace);
                serde_json::to_writer(&mut out, &obj)?;
                out.write_all(b"\n")
            }
            Format::Text => {
                if !first {
                    writeln!(out)?;
                }
                first = false;
                write!(out, "{}", render_text(&v, &trace, event.id.as_deref(), &event.recipient))
            }
        }
    })?;
    out.flush()?;
    Ok(if report.bad > 0 { Exit::Invalid } else { Exit::Ok })
}
