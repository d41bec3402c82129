//! `rebound fmt [--check] PATH…`: rewrite policy files in canonical layout.
//!
//! The paths are required: a formatter that rewrites every `.rebound` file
//! below the working directory when it is given none rewrites other
//! projects' files too. A directory holds the files that loading it would
//! load ([`load::policy_files`]: `.gitignore` and hidden files honoured).
//! `--check` changes nothing and prints, like `rustfmt --check`, a unified
//! diff of what formatting would change.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Exit;
use crate::diag::Sources;
use crate::fmt::{FmtError, format};
use crate::load::{self, policy_files};

/// The name standard input goes by.
const STDIN: &str = "<stdin>";

/// Lines of context around each change in `--check`'s diff (as `diff -u`).
const DIFF_CONTEXT: usize = 3;

/// What to say when no path is given.
const NO_PATHS: &str =
    "error: name the policy files or directories to format, e.g. `rebound fmt policies/`; `-` reads stdin";

/// Arguments of `fmt`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to format (a directory: its `.rebound` files, `.gitignore` and hidden
    /// files honoured); `-` formats stdin to stdout.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Change nothing; print the diff formatting would make and exit 1 if there is one.
    #[arg(long)]
    pub check: bool,
}

/// Runs `fmt`.
pub fn run(args: Args) -> std::io::Result<Exit> {
    let mut err = std::io::stderr().lock();
    let dash = Path::new("-");
    if args.paths.is_empty() {
        writeln!(err, "{NO_PATHS}")?;
        return Ok(Exit::Usage);
    }
    if args.paths.iter().any(|p| p == dash) {
        if args.paths.len() > 1 {
            writeln!(err, "error: `-` (stdin) is formatted alone; give it without other paths")?;
            return Ok(Exit::Usage);
        }
        return stdin(args.check, &mut err);
    }
    let mut exit = Exit::Ok;
    let mut out = std::io::stdout().lock();
    for root in args.paths {
        let files = match policy_files(&root) {
            Ok(f) => f,
            Err(e) => {
                writeln!(err, "error: cannot read `{}`: {e}", root.display())?;
                exit = worst(exit, Exit::Invalid);
                continue;
            }
        };
        if files.is_empty() {
            writeln!(err, "warning: `{}` holds no `.rebound` file", root.display())?;
        }
        for (path, _) in files {
            exit = worst(exit, one(&path, args.check, &mut out, &mut err)?);
        }
    }
    Ok(exit)
}

fn worst(a: Exit, b: Exit) -> Exit {
    if (b as u8) > (a as u8) { b } else { a }
}

fn one(path: &Path, check: bool, out: &mut impl Write, err: &mut impl Write) -> std::io::Result<Exit> {
    let name = path.display().to_string();
    let text = match read_text(&name, load::read_file(path), err)? {
        Ok(t) => t,
        Err(exit) => return Ok(exit),
    };
    match format(&text) {
        Ok(formatted) if formatted == text => Ok(Exit::Ok),
        Ok(formatted) if check => {
            write!(out, "{}", diff(&name, &text, &formatted))?;
            Ok(Exit::Invalid)
        }
        Ok(formatted) => {
            std::fs::write(path, formatted)?;
            writeln!(err, "formatted: {name}")?;
            Ok(Exit::Ok)
        }
        Err(e) => report(&name, &text, e, err),
    }
}

/// The unified diff from `old` to `new` of the file `name`, as
/// `rustfmt --check` shows it: the file's name, then hunks with line numbers.
fn diff(name: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(DIFF_CONTEXT)
        .header(name, &format!("{name} (formatted)"))
        .to_string()
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

/// Formats standard input to standard output; with `check`, prints the diff
/// instead and exits 1 when there is one.
fn stdin(check: bool, err: &mut impl Write) -> std::io::Result<Exit> {
    let text = match read_text(STDIN, load::read_bounded(std::io::stdin().lock()), err)? {
        Ok(t) => t,
        Err(exit) => return Ok(exit),
    };
    let mut out = std::io::stdout().lock();
    match format(&text) {
        Ok(formatted) if check && formatted != text => {
            write!(out, "{}", diff(STDIN, &text, &formatted))?;
            Ok(Exit::Invalid)
        }
        Ok(_) if check => Ok(Exit::Ok),
        Ok(formatted) => {
            out.write_all(formatted.as_bytes())?;
            Ok(Exit::Ok)
        }
        Err(e) => report(STDIN, &text, e, err),
    }
}
