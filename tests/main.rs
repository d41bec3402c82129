//! Rebound's integration tests: one binary, data-driven where it can be.

mod check;
mod cli;
mod corpus;
mod doc_commands;
mod docs;
mod dryrun;
mod explain;
mod fmt;
mod fmt_cli;
mod fmt_meaning;
mod ingest_corpus;
mod ingest_mail;
mod ingest_webhooks;
mod languages;
mod layers;
mod lifecycle;
mod limits;
mod never_panic;
mod normalize;
mod phrases;
mod receivers;
mod reliability;
mod reload;
mod reload_service;
mod run_cli;
mod scripts;
mod serve;
mod serve_reliability;
mod shapes;
mod shipped;

/// The project root.
pub fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
