//! `rebound policy export [DIR]`: the shipped policy written out as files,
//! for people who want to read it or fork it. Nothing that exists is
//! overwritten.

use std::io::Write;
use std::path::PathBuf;

use super::Exit;

/// Arguments of `policy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do with the shipped policy.
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// `policy` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Write the shipped policy's files into DIR (default `shipped-policy`).
    Export {
        /// Where to write them.
        #[arg(default_value = "shipped-policy")]
        dir: PathBuf,
    },
}

/// Runs `policy`.
pub fn run(args: Args) -> std::io::Result<Exit> {
    let PolicyCommand::Export { dir } = args.command;
    let files = crate::load::shipped_files();
    let mut err = std::io::stderr().lock();
    let existing: Vec<PathBuf> = files.iter().map(|(rel, _)| dir.join(rel)).filter(|p| p.exists()).collect();
    if !existing.is_empty() {
        for p in existing.iter().take(5) {
            writeln!(err, "error: `{}` exists; `rebound policy export` overwrites nothing", p.display())?;
        }
        return Ok(Exit::Invalid);
    }
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
    }
    let version = crate::compile::version_of(&crate::load::shipped());
    writeln!(
        std::io::stdout().lock(),
        "wrote the shipped policy (version {version}, {} files) to {}",
        files.len(),
        dir.display()
    )?;
    Ok(Exit::Ok)
}
