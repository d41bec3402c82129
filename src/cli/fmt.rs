//! `rebound fmt [--check] [PATH…]`: rewrite policy files in canonical layout.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Exit;
use crate::diag::Sources;
use crate::fmt::{FmtError, format};
use crate::load::{self, policy_files};

/// Arguments of `fmt`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to format (default: the current directory); `-` formats stdin to stdout.
    pub paths: Vec<PathBuf>,
    /// Change nothing; exit 1 if a file is not formatted.
    #[arg(long)]
    pub check: bool,
}

/// Runs `fmt`.
pub fn run(args: Args) -> std::io::Result<Exit> {
    if args.paths.len() == 1 && args.paths.first().is_some_and(|p| p == Path::new("-")) {
        return stdin();
    }
    let roots = if args.paths.is_empty() { vec![PathBuf::from(".")] } else { args.paths };
    let mut exit = Exit::Ok;
    let mut err = std::io::stderr().lock();
    for root in roots {
        let files = match policy_files(&root) {
            Ok(f) => f,
            Err(e) => {
                writeln!(err, "error: cannot read `{}`: {e}", root.display())?;
                exit = worst(exit, Exit::Invalid);
                continue;
            }
        };
        for (path, _) in files {
            exit = worst(exit, one(&path, args.check, &mut err)?);
        }
    }
    Ok(exit)
}

fn worst(a: Exit, b: Exit) -> Exit {
    if (b as u8) > (a as u8) { b } else { a }
}

fn one(path: &Path, check: bool, err: &mut impl Write) -> std::io::Result<Exit> {
    let name = path.display().to_string();
    let text = match read_text(&name, load::read_file(path), err)? {
        Ok(t) => t,
        Err(exit) => return Ok(exit),
    };
    match format(&text) {
        Ok(out) if out == text => Ok(Exit::Ok),
        Ok(_) if check => {
            writeln!(err, "not formatted: {name}")?;
            Ok(Exit::Invalid)
        }
        Ok(out) => {
            std::fs::write(path, out)?;
            writeln!(err, "formatted: {name}")?;
            Ok(Exit::Ok)
        }
        Err(e) => report(&name, &text, e, err),
    }
}

fn report(name: &str, text: &str, e: FmtError, err: &mut impl Write) -> std::io::Result<Exit> {
    match e {
        FmtError::Parse(diags) => {
            let mut s = Sources::new();
            s.add(name, name, text.to_string());
            for d in diags {
                write!(err, "{}", s.render(&d))?;
            }
            Ok(Exit::Invalid)
        }
        FmtError::Unstable => {
            writeln!(err, "internal error: formatting `{name}` would change its meaning; the file is left as it is")?;
            Ok(Exit::Internal)
        }
    }
}

/// The text of the input `name` read as `bytes`; when it cannot be read, is
/// too large or is not UTF-8, says so on `err` and gives the exit code.
fn read_text(
    name: &str,
    bytes: std::io::Result<Vec<u8>>,
    err: &mut impl Write,
) -> std::io::Result<Result<String, Exit>> {
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            writeln!(err, "error: cannot read `{name}`: {e}")?;
            return Ok(Err(Exit::Invalid));
        }
    };
    match load::decode(name, bytes) {
        Ok(text) => Ok(Ok(text)),
        Err(refused) => {
            for d in &refused.diagnostics {
                write!(err, "{}", refused.sources.render(d))?;
            }
            Ok(Err(Exit::Invalid))
        }
    }
}

fn stdin() -> std::io::Result<Exit> {
    const NAME: &str = "<stdin>";
    let mut err = std::io::stderr().lock();
    let text = match read_text(NAME, load::read_bounded(std::io::stdin().lock()), &mut err)? {
        Ok(t) => t,
        Err(exit) => return Ok(exit),
    };
    match format(&text) {
        Ok(out) => {
            std::io::stdout().write_all(out.as_bytes())?;
            Ok(Exit::Ok)
        }
        Err(e) => report(NAME, &text, e, &mut err),
    }
}
