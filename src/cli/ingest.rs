//! `rebound ingest [--from FORMAT] PATH…`: bounce emails, complaints,
//! auto-replies, Postfix logs and ESP webhooks in; events (SPEC §7) out, as
//! JSON Lines, ready for `classify`, `run` and `diff`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use super::Exit;
use crate::ingest::{Format, NoteKind, Options, source};

/// Arguments of `ingest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files, directories (walked; a Maildir is read as one) or `-` (stdin).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// What the input is; `auto` decides per file from its content.
    #[arg(long, value_enum, default_value = "auto")]
    pub from: Format,
    /// The header of the returned message that names its campaign.
    #[arg(long, value_name = "NAME", default_value = "X-Campaign-Id")]
    pub campaign_header: String,
    /// Also say which inputs gave no event and why (not a bounce, …).
    #[arg(long, short)]
    pub verbose: bool,
}

/// Runs `ingest`.
pub fn run(args: Args) -> std::io::Result<Exit> {
    let opts = Options { campaign_header: args.campaign_header.clone() };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let mut by_type: BTreeMap<&'static str, usize> = BTreeMap::new();
    let (mut inputs, mut skipped, mut errors) = (0usize, 0usize, 0usize);
    for path in &args.paths {
        source::ingest(path, args.from, &opts, &mut |parsed| {
            inputs += 1;
            for e in &parsed.events {
                *by_type.entry(e.kind.as_str()).or_default() += 1;
                writeln!(out, "{}", e.to_json_line())?;
            }
            for n in &parsed.notes {
                match n.kind {
                    NoteKind::Error => {
                        errors += 1;
                        writeln!(err, "error: {}: {}", n.origin, n.message)?;
                    }
                    NoteKind::Skipped => {
                        skipped += 1;
                        if args.verbose {
                            writeln!(err, "skipped: {}: {}", n.origin, n.message)?;
                        }
                    }
                }
            }
            Ok(())
        })?;
    }
    out.flush()?;
    let events: usize = by_type.values().sum();
    let types: Vec<String> = by_type.iter().map(|(k, v)| format!("{k} {v}")).collect();
    writeln!(
        err,
        "ingest: {inputs} inputs, {events} events ({}), {skipped} not bounces{}, {errors} errors",
        if types.is_empty() { "none".to_string() } else { types.join(", ") },
        if skipped > 0 && !args.verbose { " (--verbose says which)" } else { "" },
    )?;
    Ok(if errors > 0 { Exit::Invalid } else { Exit::Ok })
}
