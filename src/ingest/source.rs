//! Where ingest reads from: files, directories, mbox, Maildir and standard
//! input, and which reader each needs.
//!
//! With `--from auto`, a directory with `cur/` or `new/` is a Maildir (its
//! Maildir++ folders too); any other directory is walked, every file read
//! on its own. A file that starts with an mbox `From ` line is an mbox; one
//! that starts with `{` or `[` is a webhook body (the provider told by its
//! fields); one whose first lines are Postfix log lines is a log; anything
//! else is one email. Files are taken in name order, so the output is the
//! same on every run.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::{Format, MAX_INPUT_BYTES, NoteKind, Options, Parsed, mail, postfix_log, webhook};

/// How many bytes are looked at to tell a file's format.
const SNIFF_BYTES: usize = 8192;

/// Reads `path` (a file, a directory, or `-` for standard input) as
/// `from`, and hands each input's events and notes to `out`, in order.
/// Unreadable inputs become error notes; the rest go on.
pub fn ingest(
    path: &Path,
    from: Format,
    opts: &Options,
    out: &mut dyn FnMut(Parsed) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if path.as_os_str() == "-" {
        let stdin = std::io::stdin();
        let mut reader = BufReader::with_capacity(1 << 16, stdin.lock());
        return reader_input(&mut reader, "-", from, opts, out);
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return out(Parsed::note(&path.display().to_string(), NoteKind::Error, format!("cannot read: {e}"))),
    };
    if meta.is_dir() {
        if from == Format::Maildir || from == Format::Auto && is_maildir(path) {
            return maildir(path, opts, out);
        }
        for file in walk(path) {
            file_input(&file, from, opts, out)?;
        }
        return Ok(());
    }
    file_input(path, from, opts, out)
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() || dir.join("new").is_dir()
}

/// Every file under `dir`, hidden ones skipped, in path order.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let p = entry.path();
            if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
                continue;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// A Maildir: `cur/` and `new/` of the folder and of its Maildir++
/// sub-folders (`.Name/`), in name order.
fn maildir(dir: &Path, opts: &Options, out: &mut dyn FnMut(Parsed) -> std::io::Result<()>) -> std::io::Result<()> {
    let mut folders = vec![dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut subs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.') && n.len() > 1)
                    && is_maildir(p)
            })
            .collect();
        subs.sort();
        folders.extend(subs);
    }
    for folder in folders {
        for sub in ["cur", "new"] {
            let Ok(entries) = std::fs::read_dir(folder.join(sub)) else { continue };
            let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
            files.sort();
            for f in files {
                file_input(&f, Format::Eml, opts, out)?;
            }
        }
    }
    Ok(())
}

fn file_input(
    path: &Path,
    from: Format,
    opts: &Options,
    out: &mut dyn FnMut(Parsed) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let origin = path.display().to_string();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return out(Parsed::note(&origin, NoteKind::Error, format!("cannot read: {e}"))),
    };
    let mut reader = BufReader::with_capacity(1 << 16, file);
    reader_input(&mut reader, &origin, from, opts, out)
}

/// What a file's first bytes say it is.
pub fn sniff(head: &[u8]) -> Format {
    let trimmed = head.iter().position(|b| !b.is_ascii_whitespace()).map_or(&head[..0], |i| &head[i..]);
    if head.starts_with(b"From ") {
        return Format::Mbox;
    }
    if trimmed.starts_with(b"{") || trimmed.starts_with(b"[") {
        return webhook::sniff(head).unwrap_or(Format::Ses);
    }
    if postfix_log::sniff(head) {
        return Format::PostfixLog;
    }
    Format::Eml
}

fn reader_input(
    reader: &mut dyn BufRead,
    origin: &str,
    from: Format,
    opts: &Options,
    out: &mut dyn FnMut(Parsed) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut format = from;
    if from == Format::Auto {
        // Look at the start without consuming it.
        let head = fill(reader, SNIFF_BYTES)?;
        format = sniff(&head);
        if matches!(format, Format::Ses | Format::Sendgrid | Format::Postmark | Format::Mailgun) {
            // JSON: the provider is told from the whole body.
            let body = match read_all(reader, origin)? {
                Ok(b) => b,
                Err(p) => return out(p),
            };
            return match webhook::sniff(&body) {
                Some(f) => out(webhook::parse(f, &body, origin, opts)),
                None => out(Parsed::note(
                    origin,
                    NoteKind::Error,
                    "JSON that is not a webhook of SES, SendGrid, Postmark or Mailgun (use --from to say which)",
                )),
            };
        }
    }
    match format {
        Format::Mbox => {
            for (i, m) in mail_parser::mailbox::mbox::MessageIterator::new(reader).enumerate() {
                let o = format!("{origin}#{}", i + 1);
                match m {
                    Ok(m) => out(mail::parse(m.contents(), &o, opts))?,
                    Err(e) => {
                        out(Parsed::note(&o, NoteKind::Error, format!("cannot read: {e}")))?;
                        break;
                    }
                }
            }
            Ok(())
        }
        Format::PostfixLog => postfix_log::parse(reader, origin, opts, out),
        Format::Maildir => out(Parsed::note(origin, NoteKind::Error, "--from maildir needs a directory")),
        Format::Ses | Format::Sendgrid | Format::Postmark | Format::Mailgun => match read_all(reader, origin)? {
            Ok(body) => out(webhook::parse(format, &body, origin, opts)),
            Err(p) => out(p),
        },
        Format::Eml | Format::Auto => match read_all(reader, origin)? {
            Ok(body) => out(mail::parse(&body, origin, opts)),
            Err(p) => out(p),
        },
    }
}

/// Fills the reader's buffer with up to `n` bytes and returns a copy,
/// consuming nothing.
fn fill(reader: &mut dyn BufRead, n: usize) -> std::io::Result<Vec<u8>> {
    let buf = reader.fill_buf()?;
    Ok(buf[..buf.len().min(n)].to_vec())
}

/// The whole input, or a note when it is larger than [`MAX_INPUT_BYTES`].
fn read_all(reader: &mut dyn BufRead, origin: &str) -> std::io::Result<Result<Vec<u8>, Parsed>> {
    let mut body = Vec::new();
    let n = reader.take(MAX_INPUT_BYTES as u64 + 1).read_to_end(&mut body)?;
    if n > MAX_INPUT_BYTES {
        return Ok(Err(Parsed::note(
            origin,
            NoteKind::Error,
            format!("larger than {} MiB: not read", MAX_INPUT_BYTES >> 20),
        )));
    }
    Ok(Ok(body))
}
