//! `rebound receivers`: the receivers of the policy and their rules, as
//! markdown (the source of `docs/receivers.md`) or JSON.

use crate::load::Layer;
use std::io::Write;

use super::{Exit, Format, load_policy};

/// Arguments of `receivers`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `text` prints the markdown page; `json` one object per receiver.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Runs `receivers`.
pub fn run(policy: Vec<Layer>, args: Args) -> std::io::Result<Exit> {
    let Some(policy) = load_policy(policy)? else { return Ok(Exit::Invalid) };
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Text => write!(out, "{}", crate::docgen::receivers_markdown(&policy))?,
        Format::Json => {
            for r in policy.receivers() {
                let rules: Vec<_> = r
                    .rules
                    .iter()
                    .map(|x| {
                        serde_json::json!({"id": x.id, "when": x.when_text, "source": x.provenance.source,
                        "observed": x.provenance.observed, "note": x.provenance.note, "at": x.location.label})
                    })
                    .collect();
                let v = serde_json::json!({"name": r.name, "title": r.title,
                    "domains": r.domains.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                    "mx": r.mx.iter().map(|d| d.to_string()).collect::<Vec<_>>(), "rules": rules});
                writeln!(out, "{v}")?;
            }
        }
    }
    Ok(Exit::Ok)
}
