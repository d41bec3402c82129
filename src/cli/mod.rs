//! The command line: one file per command. Each command is a function that
//! returns an [`Exit`] code; `main` only wires them up. This is the only
//! module that prints.

mod check;
pub mod classify;
mod contacts;
mod diff;
mod explain;
mod fmt;
mod ingest;
mod init;
pub mod input;
mod measure;
mod policy;
mod receivers;
pub mod run;
mod serve;
mod test;

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::compile::Compiled;
use crate::load;

/// The exit codes of SPEC §8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// The input or policy is invalid, or a test failed.
    Invalid = 1,
    /// The command line is wrong.
    Usage = 2,
    /// Rebound itself failed.
    Internal = 3,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For tools: JSON (one object, or one per line for streams).
    Json,
}

/// Rebound: interpret email bounces by rules you write.
#[derive(Debug, Parser)]
#[command(name = "rebound", version, about, long_about = None)]
pub struct Cli {
    /// A layer of the policy: `shipped` (the policy in the binary), a `.rebound` file or a
    /// directory of them. Repeat for layers; later ones take precedence. A layer that says
    /// `extends shipped` sits on the shipped policy. Default: the shipped policy.
    #[arg(long, global = true, value_name = "PATH|shipped")]
    pub policy: Vec<load::Layer>,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse, compile and lint a policy; print diagnostics with file:line:col.
    Check(check::Args),
    /// Rewrite policy files in canonical layout.
    Fmt(fmt::Args),
    /// Classify JSONL events: one verdict per line, in input order.
    Classify(classify::Args),
    /// Classify with the trace: the response, the receiver, every rule tried and why.
    Explain(explain::Args),
    /// Run the lifecycle over events; state in an embedded database.
    Run(run::Args),
    /// Read bounce emails (DSN, mbox, Maildir), complaints, auto-replies, Postfix logs and ESP webhooks as events.
    Ingest(ingest::Args),
    /// Read the lifecycle state: get, list, history, eligible.
    Contacts(contacts::Args),
    /// Run the policy's examples and scenarios, and corpus cases; report coverage.
    Test(test::Args),
    /// What a policy change would change, on real events.
    Diff(diff::Args),
    /// The policy's receivers and their rules (markdown or JSON).
    Receivers(receivers::Args),
    /// The HTTP service: classify, events, contacts, policy, metrics; live reload.
    Serve(serve::Args),
    /// Create a policy repository that extends the shipped policy (a rule, a scenario, cases, CI).
    Init(init::Args),
    /// How well the policy agrees with labelled corpora, visible and cross-validated by source.
    Measure(measure::Args),
    /// The shipped policy: `policy export [DIR]` writes its files out.
    Policy(policy::Args),
}

/// Parses the command line; `--version` names the shipped policy's version too.
pub fn parse() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let version =
        format!("{} (shipped policy {})", env!("CARGO_PKG_VERSION"), crate::compile::version_of(&load::shipped()));
    // Parsed once per process: leaking the string is how clap takes a runtime version.
    let command = Cli::command().version(&*Box::leak(version.into_boxed_str()));
    Cli::from_arg_matches(&command.try_get_matches()?)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> std::io::Result<Exit> {
    match cli.command {
        Command::Check(args) => check::run(cli.policy, args),
        Command::Fmt(args) => fmt::run(args),
        Command::Classify(args) => classify::run(cli.policy, args),
        Command::Explain(args) => explain::run(cli.policy, args),
        Command::Run(args) => run::run(cli.policy, args),
        Command::Ingest(args) => ingest::run(args),
        Command::Contacts(args) => contacts::run(cli.policy, args),
        Command::Test(args) => test::run_cmd(cli.policy, args),
        Command::Diff(args) => diff::run(args),
        Command::Receivers(args) => receivers::run(cli.policy, args),
        Command::Serve(args) => serve::run(cli.policy, args),
        Command::Init(args) => init::run(args),
        Command::Measure(args) => measure::run(cli.policy, args),
        Command::Policy(args) => policy::run(args),
    }
}

/// Compiles the policy for a command that uses one; on errors prints the
/// diagnostics and returns `None`.
pub(crate) fn load_policy(policy: Vec<load::Layer>) -> std::io::Result<Option<crate::Policy>> {
    let compiled = compile_policy(&[], policy);
    if compiled.policy.is_none() {
        let mut err = std::io::stderr().lock();
        for d in &compiled.diagnostics {
            write!(err, "{}", compiled.sources.render(d))?;
        }
        writeln!(err, "error: the policy has errors; nothing was classified")?;
    }
    Ok(compiled.policy)
}

/// Compiles the policy whose layers are `paths` (a command's own
/// arguments), else the `--policy` layers, else the shipped policy.
pub(crate) fn compile_policy(paths: &[PathBuf], policy: Vec<load::Layer>) -> Compiled {
    if !paths.is_empty() {
        let layers: Vec<load::Layer> = paths.iter().map(|p| load::Layer::parse(&p.to_string_lossy())).collect();
        return load::compile_layers(&layers);
    }
    load::compile_layers(&policy)
}
