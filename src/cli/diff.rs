//! `rebound diff --old PATH --new PATH --events FILE`: what a policy change
//! would change, on real events. Either side may be `git:REV:PATH`.

use std::io::Write;
use std::path::PathBuf;

use super::{Exit, Format};
use crate::compile::{Compiled, compile};
use crate::diag::{Diagnostic, Sources, codes};
use crate::diff::{DiffReport, diff};

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy before the change: a path, or `git:REV:PATH` (e.g. `git:HEAD~1:policies`).
    #[arg(long)]
    pub old: String,
    /// The policy after the change: a path, or `git:REV:PATH`.
    #[arg(long)]
    pub new: String,
    /// JSONL events to classify with both.
    #[arg(long, value_name = "FILE")]
    pub events: PathBuf,
    /// `text` for people, `json` for one summary object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit 1 when any verdict or contact state changes.
    #[arg(long)]
    pub fail_on_change: bool,
}

/// Compiles a policy from a path or `git:REV:PATH`.
pub fn load(spec: &str) -> Compiled {
    let Some(rest) = spec.strip_prefix("git:") else {
        return crate::load::compile_paths(&[PathBuf::from(spec)]);
    };
    let (rev, path) = rest.split_once(':').unwrap_or((rest, "policies"));
    let mut sources = Sources::new();
    let mut diags = Vec::new();
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
                diags
                    .push(Diagnostic::global(codes::NO_FILES, format!("`{path}` holds no `.rebound` file at `{rev}`")));
            }
            for f in files {
                match git_show(rev, &f) {
                    Ok(bytes) => {
                        let rel = f.strip_prefix(path).unwrap_or(&f).trim_start_matches('/').to_string();
                        let rel = if rel.is_empty() { f.clone() } else { rel };
                        crate::load::add_bytes(&mut sources, &mut diags, format!("{rev}:{f}"), rel, bytes);
                    }
                    Err(_) => diags.push(Diagnostic::global(codes::IO, format!("cannot read `{f}` at `{rev}`"))),
                }
            }
        }
        Ok(o) => diags.push(Diagnostic::global(
            codes::IO,
            format!("git cannot list `{path}` at `{rev}`: {}", String::from_utf8_lossy(&o.stderr).trim()),
        )),
        Err(e) => diags.push(Diagnostic::global(codes::IO, format!("cannot run git: {e}"))),
    }
    compile(sources, diags)
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
        Some(out) => crate::load::read_bounded(out),
        None => Err(std::io::Error::other("no output")),
    };
    let status = child.wait()?;
    match read {
        Ok(bytes) if status.success() || bytes.len() > crate::syntax::MAX_FILE_BYTES => Ok(bytes),
        Ok(_) => Err(std::io::Error::other(format!("git show exited with {status}"))),
        Err(e) => Err(e),
    }
}

/// Runs `diff`.
pub fn run(args: Args) -> std::io::Result<Exit> {
    let mut err = std::io::stderr().lock();
    let mut policies = Vec::new();
    for (label, spec) in [("old", &args.old), ("new", &args.new)] {
        let compiled = load(spec);
        match compiled.policy {
            Some(p) => policies.push(p),
            None => {
                for d in &compiled.diagnostics {
                    write!(err, "{}", compiled.sources.render(d))?;
                }
                writeln!(err, "error: the {label} policy (`{spec}`) has errors")?;
                return Ok(Exit::Invalid);
            }
        }
    }
    let events = match std::fs::read_to_string(&args.events) {
        Ok(t) => t,
        Err(e) => {
            writeln!(err, "error: cannot read {}: {e}", args.events.display())?;
            return Ok(Exit::Invalid);
        }
    };
    let (Some(old), Some(new)) = (policies.first(), policies.get(1)) else { return Ok(Exit::Internal) };
    let report = diff(old, new, &events);
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string(&report).unwrap_or_default())?,
        Format::Text => write!(out, "{}", text(&report))?,
    }
    if report.bad_lines > 0 {
        writeln!(err, "{} event lines could not be read and were skipped", report.bad_lines)?;
    }
    let changed = report.changed > 0 || report.contacts_changed > 0;
    Ok(if args.fail_on_change && changed { Exit::Invalid } else { Exit::Ok })
}

/// The report for people.
pub fn text(r: &DiffReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "events: {}; verdicts changed: {}; contacts whose final state changes: {}",
        r.events, r.changed, r.contacts_changed
    );
    let list = |m: &std::collections::BTreeMap<String, usize>| {
        m.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
    };
    if r.changed > 0 {
        let _ = writeln!(s, "by receiver: {}", list(&r.by_receiver));
        let _ = writeln!(s, "by class: {}", list(&r.by_class));
        let _ = writeln!(s, "by reason: {}", list(&r.by_reason));
        let _ = writeln!(s, "samples:");
        for x in &r.samples {
            let _ = writeln!(
                s,
                "  {} {} ({}): {} {} by {} → {} {} by {}",
                x.id,
                x.recipient,
                x.receiver.as_deref().unwrap_or("no receiver"),
                x.old.class,
                x.old.reason,
                x.old.rule,
                x.new.class,
                x.new.reason,
                x.new.rule
            );
            let _ = writeln!(s, "      {}", x.text.chars().take(140).collect::<String>());
        }
    }
    if !r.contacts.is_empty() {
        let _ = writeln!(s, "contacts:");
        for c in &r.contacts {
            let _ = writeln!(s, "  {}: {}/{} → {}/{}", c.address, c.old.0, c.old.1, c.new.0, c.new.1);
        }
    }
    s
}
