//! Reading a policy's files: from a directory, a file, or the shipped
//! policy embedded in the binary.
//!
//! A directory loads every `.rebound` file below it that git would track
//! (hidden entries and what `.gitignore` excludes are skipped, by the
//! `ignore` crate: [`policy_files`]), sorted by path relative to the
//! directory, so the order of rules across files is defined and the version
//! hash does not depend on where the directory is. Unreadable files and files that are not UTF-8 are
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

/// One layer of a policy, as given to `--policy`: the shipped policy, or a
/// `.rebound` file or a directory of them. Later layers take precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// The policy shipped in the binary (`--policy shipped`).
    Shipped,
    /// A file or a directory.
    Path(PathBuf),
    /// A file or a directory as it is at a git revision (`git:REV:PATH`),
    /// read with the `git` command in the current directory.
    Git {
        /// The revision (`HEAD~1`, `origin/main`).
        rev: String,
        /// The path in the repository.
        path: String,
    },
}

impl Layer {
    /// `shipped` is the shipped policy; anything else is a path (write
    /// `./shipped` for a directory of that name).
    pub fn parse(arg: &str) -> Layer {
        if arg == crate::compile::layers::SHIPPED {
            return Layer::Shipped;
        }
        match arg.strip_prefix("git:") {
            Some(rest) => {
                let (rev, path) = rest.split_once(':').unwrap_or((rest, "policies"));
                Layer::Git { rev: rev.to_string(), path: path.to_string() }
            }
            None => Layer::Path(PathBuf::from(arg)),
        }
    }

    /// The name shown in messages and summaries.
    pub fn name(&self) -> String {
        match self {
            Layer::Shipped => crate::compile::layers::SHIPPED.to_string(),
            Layer::Path(p) => p.display().to_string(),
            Layer::Git { rev, path } => format!("git:{rev}:{path}"),
        }
    }
}

impl std::str::FromStr for Layer {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Layer, Self::Err> {
        Ok(Layer::parse(s))
    }
}

/// A layer's files as read, before they join the sources.
struct ReadLayer {
    name: String,
    files: Vec<(String, String, Result<Vec<u8>, String>)>,
    errors: Vec<Diagnostic>,
    shipped: bool,
}

/// Reads the layers of a policy, lowest first. A layer whose files declare
/// `extends shipped` gets the shipped layer below it, unless a layer below
/// already is the shipped one. No layer at all is the shipped policy.
pub fn read_layers(layers: &[Layer]) -> (Sources, Vec<Diagnostic>) {
    let mut plan: Vec<ReadLayer> = Vec::new();
    let shipped_layer = || ReadLayer {
        name: crate::compile::layers::SHIPPED.into(),
        files: embedded::FILES
            .iter()
            .map(|(rel, text)| (format!("policies/{rel}"), (*rel).to_string(), Ok(text.as_bytes().to_vec())))
            .collect(),
        errors: Vec::new(),
        shipped: true,
    };
    if layers.is_empty() {
        plan.push(shipped_layer());
    }
    for layer in layers {
        match layer {
            Layer::Shipped if plan.iter().any(|l| l.shipped) => {}
            Layer::Shipped => plan.push(shipped_layer()),
            Layer::Path(_) | Layer::Git { .. } => {
                let read = match layer {
                    Layer::Git { rev, path } => read_git_layer(rev, path),
                    Layer::Path(p) => read_layer(p),
                    Layer::Shipped => continue,
                };
                if extends_shipped(&read) && !plan.iter().any(|l| l.shipped) {
                    plan.push(shipped_layer());
                }
                plan.push(read);
            }
        }
    }
    let mut sources = Sources::new();
    let mut diags = Vec::new();
    let layered = plan.len() > 1;
    for layer in plan {
        if layered {
            sources.begin_layer(layer.name);
        }
        diags.extend(layer.errors);
        for (name, rel, bytes) in layer.files {
            match bytes {
                Ok(b) => add_bytes(&mut sources, &mut diags, name, rel, b),
                Err(e) => diags.push(Diagnostic::global(codes::IO, format!("cannot read `{name}`: {e}"))),
            }
        }
    }
    (sources, diags)
}

fn read_layer(p: &Path) -> ReadLayer {
    let mut read = ReadLayer { name: p.display().to_string(), files: Vec::new(), errors: Vec::new(), shipped: false };
    match policy_files(p) {
        Ok(files) => {
            if files.is_empty() {
                read.errors
                    .push(Diagnostic::global(codes::NO_FILES, format!("`{}` holds no `.rebound` file", p.display())));
            }
            for (path, rel) in files {
                let bytes = read_file(&path).map_err(|e| e.to_string());
                read.files.push((path.display().to_string(), rel, bytes));
            }
        }
        Err(e) => read.errors.push(Diagnostic::global(codes::IO, format!("cannot read `{}`: {e}", p.display()))),
    }
    read
}

/// A layer as it is at a git revision: `git ls-tree` lists its `.rebound`
/// files, `git show` reads each (bounded like every policy file).
fn read_git_layer(rev: &str, path: &str) -> ReadLayer {
    let mut read =
        ReadLayer { name: format!("git:{rev}:{path}"), files: Vec::new(), errors: Vec::new(), shipped: false };
    let listed = std::process::Command::new("git").args(["ls-tree", "-r", "--name-only", rev, "--", path]).output();
    match listed {
        Ok(o) if o.status.success() => {
            let mut files: Vec<String> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.ends_with(".rebound"))
                .map(str::to_string)
                .collect();
            files.sort();
            if files.is_empty() {
                read.errors
                    .push(Diagnostic::global(codes::NO_FILES, format!("`{path}` holds no `.rebound` file at `{rev}`")));
            }
            for f in files {
                let rel = f.strip_prefix(path).unwrap_or(&f).trim_start_matches('/').to_string();
                let rel = if rel.is_empty() { f.clone() } else { rel };
                let bytes = git_show(rev, &f).map_err(|e| e.to_string());
                read.files.push((format!("{rev}:{f}"), rel, bytes));
            }
        }
        Ok(o) => read.errors.push(Diagnostic::global(
            codes::IO,
            format!("git cannot list `{path}` at `{rev}`: {}", String::from_utf8_lossy(&o.stderr).trim()),
        )),
        Err(e) => read.errors.push(Diagnostic::global(codes::IO, format!("cannot run git: {e}"))),
    }
    read
}

/// The bytes of `file` at `rev`, read like every policy file: no more than
/// one byte past the size limit (what is left unread ends `git show` with a
/// broken pipe).
fn git_show(rev: &str, file: &str) -> std::io::Result<Vec<u8>> {
    let mut child = std::process::Command::new("git")
        .args(["show", &format!("{rev}:{file}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let read = match child.stdout.take() {
        Some(out) => read_bounded(out),
        None => Err(std::io::Error::other("no output")),
    };
    let status = child.wait()?;
    match read {
        Ok(bytes) if status.success() || bytes.len() > MAX_FILE_BYTES => Ok(bytes),
        Ok(_) => Err(std::io::Error::other(format!("git show exited with {status}"))),
        Err(e) => Err(e),
    }
}

/// Whether a layer's files declare `extends shipped` (a file that does not
/// parse is read line by line; the compiler reports its errors).
fn extends_shipped(layer: &ReadLayer) -> bool {
    use crate::syntax::ast::Item;
    layer.files.iter().any(|(_, _, bytes)| {
        let Ok(text) = bytes.as_ref().map(|b| String::from_utf8_lossy(b)) else { return false };
        match crate::syntax::parse(0, &text) {
            Ok(file) => {
                file.items.iter().any(|i| matches!(i, Item::Extends(w, _) if w.node == crate::compile::layers::SHIPPED))
            }
            Err(_) => text.lines().any(|l| {
                let mut words = l.split_whitespace();
                words.next() == Some("extends") && words.next() == Some(crate::compile::layers::SHIPPED)
            }),
        }
    })
}

/// Compiles a policy of layers (see [`read_layers`]).
pub fn compile_layers(layers: &[Layer]) -> Compiled {
    compile_layers_with(layers, &crate::script::Host::default())
}

/// Compiles a policy of layers with an embedding program's host functions.
pub fn compile_layers_with(layers: &[Layer], host: &crate::script::Host) -> Compiled {
    let (sources, diags) = read_layers(layers);
    crate::compile::compile_with(sources, diags, host)
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
///
/// A file is taken as it is, whatever its name. A directory holds the
/// `.rebound` files below it that git would track: hidden files and
/// directories and what a `.gitignore` (or `.ignore`, or git's exclude
/// files) excludes are skipped, inside a git repository or not. Loading,
/// reloading and `rebound fmt` all ask this function, so they agree on which
/// files a directory holds. The order is by relative path, so the order of
/// rules across files, and the policy's version, do not depend on the walk
/// or on where the directory is.
pub fn policy_files(p: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let meta = std::fs::metadata(p)?;
    if !meta.is_dir() {
        let rel = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        return Ok(vec![(p.to_path_buf(), rel)]);
    }
    let mut out = Vec::new();
    for entry in ignore::WalkBuilder::new(p).require_git(false).build() {
        let entry = match entry {
            Ok(e) => e,
            // A line of an ignore file that is not a valid glob: git skips it, and so do we.
            Err(e) if e.io_error().is_none() => continue,
            // Said with the path of what could not be read.
            Err(e) => {
                let kind = e.io_error().map_or(std::io::ErrorKind::Other, std::io::Error::kind);
                return Err(std::io::Error::new(kind, e.to_string()));
            }
        };
        let path = entry.path();
        let is_dir = entry.file_type().is_none_or(|t| t.is_dir());
        if is_dir || !entry.file_name().to_string_lossy().ends_with(".rebound") {
            continue;
        }
        let rel = path.strip_prefix(p).unwrap_or(path).to_string_lossy().replace('\\', "/");
        out.push((path.to_path_buf(), rel));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}
