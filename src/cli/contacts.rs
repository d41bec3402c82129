//! `rebound contacts get|list|history|eligible`: read the lifecycle state.

use crate::load::Layer;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::json;

use super::{Exit, Format, load_policy};
use crate::lifecycle::engine::{Contact, eligible};
use crate::store::sqlite::SqliteStore;
use crate::store::{Filter, Store};

/// Arguments of `contacts`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state database.
    #[arg(long, global = true, default_value = "rebound.db", value_name = "PATH")]
    pub db: PathBuf,
    /// `text` for people, `json` for tools.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// What to read.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The `contacts` subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// One contact's state.
    Get {
        /// The address.
        address: String,
    },
    /// Contacts, filtered by state.
    List {
        /// Only this delivery state (`active`, `error`).
        #[arg(long)]
        delivery: Option<String>,
        /// Only this consent state (`single`, `unconfirmed`, `confirmed`, `opted_out`).
        #[arg(long)]
        consent: Option<String>,
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// One contact's transitions with the rules that made them.
    History {
        /// The address.
        address: String,
    },
    /// May this contact receive this kind of message now? Exit 0 if yes, 1 if not, 2 for a kind
    /// the policy does not declare.
    Eligible {
        /// The address.
        address: String,
        /// The kind of message: marketing, confirmation, transactional.
        #[arg(long = "for", value_name = "KIND")]
        kind: String,
    },
}

fn contact_text(c: &Contact) -> String {
    let mut s = format!("{}: delivery {}, consent {}, strikes {}", c.address, c.delivery, c.consent, c.strikes);
    if let Some(r) = &c.last_reason {
        s.push_str(&format!(", last reason {r}"));
    }
    if let (Some(via), Some(reason)) = (&c.via, &c.error_reason) {
        s.push_str(&format!(
            " ({} by {via}: {reason}{})",
            c.delivery,
            c.since.as_deref().map(|t| format!(" at {t}")).unwrap_or_default()
        ));
    }
    if let Some(u) = &c.updated {
        s.push_str(&format!(", updated {u}"));
    }
    s
}

fn open_db(path: &Path) -> Option<SqliteStore> {
    if !path.exists() {
        eprintln!("error: no database at {} (run `rebound run --events FILE` first, or give --db)", path.display());
        return None;
    }
    match SqliteStore::open(path) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("error: cannot open the database {}: {e}", path.display());
            None
        }
    }
}

/// Runs `contacts`.
pub fn run(policy: Vec<Layer>, args: Args) -> std::io::Result<Exit> {
    let Some(mut store) = open_db(&args.db) else { return Ok(Exit::Invalid) };
    let mut out = std::io::stdout().lock();
    let fail = |e: crate::store::StoreError| {
        eprintln!("error: {e}");
        Exit::Internal
    };
    match args.command {
        Cmd::Get { address } => {
            let a = address.trim().to_lowercase();
            match store.contact(&a) {
                Ok(Some(c)) => match args.format {
                    Format::Json => {
                        serde_json::to_writer(&mut out, &c.json())?;
                        writeln!(out)?;
                    }
                    Format::Text => writeln!(out, "{}", contact_text(&c))?,
                },
                Ok(None) => {
                    eprintln!("no contact {a}");
                    return Ok(Exit::Invalid);
                }
                Err(e) => return Ok(fail(e)),
            }
        }
        Cmd::List { delivery, consent, limit } => {
            let contacts = match store.list(&Filter { delivery, consent, limit }) {
                Ok(c) => c,
                Err(e) => return Ok(fail(e)),
            };
            for c in &contacts {
                match args.format {
                    Format::Json => {
                        serde_json::to_writer(&mut out, &c.json())?;
                        writeln!(out)?;
                    }
                    Format::Text => writeln!(out, "{}", contact_text(c))?,
                }
            }
        }
        Cmd::History { address } => {
            let a = address.trim().to_lowercase();
            let log = match store.history(&a) {
                Ok(l) => l,
                Err(e) => return Ok(fail(e)),
            };
            if log.is_empty() {
                eprintln!("no history for {a}");
                return Ok(Exit::Invalid);
            }
            for e in &log {
                match args.format {
                    Format::Json => writeln!(out, "{}", serde_json::to_string(e).unwrap_or_default())?,
                    Format::Text => {
                        let verdict = e.verdict.as_ref().map(|(c, r)| format!(" {c} {r}")).unwrap_or_default();
                        let by = e.verdict_rule.as_deref().map(|r| format!(" (rule {r})")).unwrap_or_default();
                        let change = if e.from == e.to {
                            format!("stays {}/{}", e.to.0, e.to.1)
                        } else {
                            format!("{}/{} -> {}/{}", e.from.0, e.from.1, e.to.0, e.to.1)
                        };
                        let rule = e.rule.as_deref().map(|r| format!(" by transition {r}")).unwrap_or_default();
                        let strike =
                            e.strike_rule.as_deref().map(|r| format!(" (strike rule {r})")).unwrap_or_default();
                        let react = e
                            .reactivation
                            .as_ref()
                            .map(|(ok, r)| {
                                format!(
                                    " reactivation {} by {}",
                                    if *ok { "allowed" } else { "refused" },
                                    r.as_deref().unwrap_or("no rule")
                                )
                            })
                            .unwrap_or_default();
                        writeln!(
                            out,
                            "{} {} {}{verdict}{by}: {change}{rule}{strike}{react}, strikes {} [policy {}]",
                            e.at.as_deref().unwrap_or("-"),
                            e.event,
                            e.kind,
                            e.strikes,
                            e.version
                        )?;
                    }
                }
            }
        }
        Cmd::Eligible { address, kind } => {
            let Some(policy) = load_policy(policy)? else { return Ok(Exit::Invalid) };
            let Some(lc) = policy.lifecycle() else {
                eprintln!("error: the policy declares no `lifecycle`");
                return Ok(Exit::Invalid);
            };
            if let Err(why) = crate::lifecycle::engine::eligible_kind(lc, &kind) {
                eprintln!("error: {why}");
                return Ok(Exit::Usage);
            }
            let a = address.trim().to_lowercase();
            let (contact, known) = match store.contact(&a) {
                Ok(Some(c)) => (c, true),
                Ok(None) => (Contact::new(&a, lc), false),
                Err(e) => return Ok(fail(e)),
            };
            let (ok, rule) = eligible(lc, &contact, &kind);
            match args.format {
                Format::Json => writeln!(
                    out,
                    "{}",
                    json!({"address": a, "for": kind, "eligible": ok, "known": known,
                           "rule": rule.map(|r| format!("eligible {}", r.kind)), "source": rule.map(|r| r.location.label.clone()),
                           "delivery": contact.delivery, "consent": contact.consent})
                )?,
                Format::Text => {
                    let why = match rule {
                        Some(r) => format!("by `eligible {}` ({})", r.kind, r.location.label),
                        None => format!("no `eligible {kind}` rule in the policy"),
                    };
                    let seen = if known { "" } else { " (not seen yet: a new contact's state)" };
                    writeln!(
                        out,
                        "{a}: {} for {kind} {why}; delivery {}, consent {}{seen}",
                        if ok { "eligible" } else { "not eligible" },
                        contact.delivery,
                        contact.consent
                    )?;
                }
            }
            // Scriptable: `if rebound contacts eligible a@b.c --for marketing; then …`.
            if !ok {
                return Ok(Exit::Invalid);
            }
        }
    }
    Ok(Exit::Ok)
}
