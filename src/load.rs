//! Reading a policy's files: from a directory, a file, or the shipped
//! policy embedded in the binary.
//!
//! A directory loads every `.rebound` file below it (hidden entries
//! skipped), sorted by path relative to the directory, so the order of
//! rules across files is defined and the version hash does not depend on
//! where the directory is. Unreadable files and files that are not UTF-8 are
//! diagnostics, never panics.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::compile::{Compiled, compile, compile_with};
use crate::diag::{Diagnostic, Sources, Span, codes};
use crate::script::Host;
use crate::syntax::MAX_FILE_BYTES;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_policy.rs"));
}

/// The shipped policy's files, as `(path relative to policies/, text)`.
pub fn shipped_files() -> &'static [(&'static str, &'static str)] {
    embedded::FILES
}

/// The shipped policy's sources, shown as `policies/…`.
pub fn shipped() -> Sources {
    let mut s = Sources::new();
    for (rel, text) in embedded::FILES {
        s.add(format!("policies/{rel}"), *rel, (*text).to_string());
    }
    s
}

/// Compiles the shipped policy.
pub fn compile_shipped() -> Compiled {
    compile(shipped(), Vec::new())
}

/// Compiles the policy made of all the files at `paths` (files or directories).
pub fn compile_paths(paths: &[PathBuf]) -> Compiled {
    let (sources, diags) = read_paths(paths);
    compile(sources, diags)
}

/// Like [`compile_paths`], with an embedding program's predicates and script
/// limits: what [`crate::Engine::check_path`] and a live policy's rebuild call.
pub fn compile_paths_with(paths: &[PathBuf], host: &Host) -> Compiled {
    let (sources, diags) = read_paths(paths);
    compile_with(sources, diags, host)
}

/// Reads the files at `paths`; problems come back as diagnostics.
pub fn read_paths(paths: &[PathBuf]) -> (Sources, Vec<Diagnostic>) {
    let mut sources = Sources::new();
    let mut diags = Vec::new();
    for p in paths {
        let files = match policy_files(p) {
            Ok(f) => f,
            Err(e) => {
                diags.push(Diagnostic::global(codes::IO, format!("cannot read `{}`: {e}", p.display())));
                continue;
            }
        };
        if files.is_empty() {
            diags.push(Diagnostic::global(codes::NO_FILES, format!("`{}` holds no `.rebound` file", p.display())));
        }
        for (path, rel) in files {
            read_one(&mut sources, &mut diags, &path, rel);
        }
    }
    (sources, diags)
}

fn read_one(sources: &mut Sources, diags: &mut Vec<Diagnostic>, path: &Path, rel: String) {
    let name = path.display().to_string();
    match read_file(path) {
        Ok(bytes) => add_bytes(sources, diags, name, rel, bytes),
        Err(e) => diags.push(Diagnostic::global(codes::IO, format!("cannot read `{name}`: {e}"))),
    }
}

/// Adds a file given as bytes: text that is too large or not UTF-8 becomes
/// a located diagnostic.
pub fn add_bytes(sources: &mut Sources, diags: &mut Vec<Diagnostic>, name: String, rel: String, bytes: Vec<u8>) {
    if bytes.len() > MAX_FILE_BYTES {
        let id = sources.add(name, rel, String::new());
        diags.push(Diagnostic::error(
            codes::FILE_TOO_LARGE,
            Span::new(id, 0..0),
            format!("the file is larger than the limit of {MAX_FILE_BYTES} bytes"),
        ));
        return;
    }
    match String::from_utf8(bytes) {
        Ok(text) => {
            sources.add(name, rel, text);
        }
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let id = sources.add(name, rel, text);
            diags.push(
                Diagnostic::error(
                    codes::INVALID_UTF8,
                    Span::new(id, at..at + char::REPLACEMENT_CHARACTER.len_utf8()),
                    "the file is not valid UTF-8",
                )
                .with_label("invalid byte here")
                .with_help("save the file as UTF-8"),
            );
        }
    }
}

/// A policy file refused before parsing, with its sources for rendering.
#[derive(Debug)]
pub struct Refused {
    /// The file, its invalid bytes replaced, for locating the diagnostics.
    pub sources: Sources,
    /// Why: too large, or not UTF-8 (with the place of the first invalid byte).
    pub diagnostics: Vec<Diagnostic>,
}

/// The text of one policy file given as bytes, or why it is not one: the
/// same checks as [`add_bytes`], for a command that wants the text itself
/// (`fmt`).
pub fn decode(name: &str, bytes: Vec<u8>) -> Result<String, Refused> {
    let bytes = if bytes.len() <= MAX_FILE_BYTES {
        match String::from_utf8(bytes) {
            Ok(text) => return Ok(text),
            Err(e) => e.into_bytes(),
        }
    } else {
        bytes
    };
    let mut sources = Sources::new();
    let mut diagnostics = Vec::new();
    add_bytes(&mut sources, &mut diagnostics, name.to_string(), name.to_string(), bytes);
    Err(Refused { sources, diagnostics })
}

/// Compiles one file given as bytes (any bytes: the answer is a policy or
/// diagnostics, never a panic).
pub fn compile_bytes(name: &str, bytes: &[u8]) -> Compiled {
    let mut sources = Sources::new();
    let mut diags = Vec::new();
    add_bytes(&mut sources, &mut diags, name.to_string(), name.to_string(), bytes.to_vec());
    compile(sources, diags)
}

/// Reads a policy file from `path` with [`read_bounded`].
pub fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    read_bounded(std::fs::File::open(path)?)
}

/// Reads a policy file's bytes: at most one byte more than
/// [`MAX_FILE_BYTES`], so that a huge or endless input (`/dev/zero`, a pipe)
/// is refused by [`add_bytes`] or [`decode`] without being read whole.
/// Every policy file goes through here (`check`, `fmt`, loading, reloading,
/// `diff`).
pub fn read_bounded(input: impl Read) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    input.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The `.rebound` files at `p` with their paths relative to `p`, sorted.
pub fn policy_files(p: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let meta = std::fs::metadata(p)?;
    if !meta.is_dir() {
        let rel = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        return Ok(vec![(p.to_path_buf(), rel)]);
    }
    let mut out = Vec::new();
    walk(p, p, &mut out)?;
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, root, out)?;
        } else if name.ends_with(".rebound") {
            let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            out.push((path, rel));
        }
    }
    Ok(())
}
