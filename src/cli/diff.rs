//! `rebound diff --old PATH --new PATH --events FILE`: what a policy change
//! would change, on real events — verdicts, and each contact's path through
//! the lifecycle. Either side may be `git:REV:PATH`; `--events -` is stdin.

use std::io::{Read, Write};
use std::path::PathBuf;

use super::{Exit, Format};
use crate::diff::{ContactChange, Count, DiffReport, EventRef, diff};
use crate::eval::Verdict;
use crate::load::Layer;

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy before the change: a path, `git:REV:PATH` (e.g. `git:HEAD~1:policies`) or
    /// `shipped`; repeat for layers, as `--policy`.
    #[arg(long, required = true, value_name = "PATH|git:REV:PATH|shipped")]
    pub old: Vec<Layer>,
    /// The policy after the change, the same way.
    #[arg(long, required = true, value_name = "PATH|git:REV:PATH|shipped")]
    pub new: Vec<Layer>,
    /// JSONL events to classify with both (`-`: stdin).
    #[arg(long, value_name = "FILE")]
    pub events: PathBuf,
    /// `text` for people, `json` for one summary object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit 1 when any verdict or contact state changes.
    #[arg(long)]
    pub fail_on_change: bool,
}

/// The whole of the events: both policies classify them and both
/// lifecycles replay them.
fn read_events(path: &std::path::Path) -> std::io::Result<String> {
    let mut text = String::new();
    super::input::open(Some(path))?.read_to_string(&mut text)?;
    Ok(text)
}

/// Runs `diff`.
pub fn run(args: Args) -> std::io::Result<Exit> {
    let mut err = std::io::stderr().lock();
    let mut policies = Vec::new();
    for (label, layers) in [("old", &args.old), ("new", &args.new)] {
        let compiled = crate::load::compile_layers(layers);
        let spec = layers.iter().map(Layer::name).collect::<Vec<_>>().join(" + ");
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
    let events = match read_events(&args.events) {
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
        Format::Json => {
            serde_json::to_writer(&mut out, &report)?;
            writeln!(out)?;
        }
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
        "events: {}; verdicts changed: {}; contacts whose path changes: {} (final state changes: {})",
        r.events, r.changed, r.contacts_changed, r.final_states_changed
    );
    let counts = |m: &[Count]| m.iter().map(|c| format!("{} → {}: {}", c.old, c.new, c.count)).collect::<Vec<_>>();
    if r.changed > 0 {
        let receivers: Vec<String> = r.by_receiver.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(s, "by receiver: {}", receivers.join(", "));
        let _ = writeln!(s, "by class: {}", counts(&r.by_class).join(", "));
        let _ = writeln!(s, "by reason: {}", counts(&r.by_reason).join(", "));
        let _ = writeln!(s, "samples:");
        for x in &r.samples {
            let by = |v: &Verdict| match (v.rule, v.source) {
                (Some(rule), _) => rule.to_string(),
                (None, Some(at)) => format!("table at {at}"),
                (None, None) => "default".to_string(),
            };
            let _ = writeln!(
                s,
                "  {} {} ({}): {} {} by {} → {} {} by {}",
                x.id.clone().unwrap_or_else(|| format!("line {}", x.line)),
                x.recipient,
                x.new.receiver.or(x.old.receiver).unwrap_or("no receiver"),
                x.old.class,
                x.old.reason,
                by(&x.old),
                x.new.class,
                x.new.reason,
                by(&x.new)
            );
            let _ = writeln!(s, "      {}", x.text.chars().take(140).collect::<String>());
        }
    }
    if !r.contacts.is_empty() {
        let _ = writeln!(s, "contacts:");
        for c in &r.contacts {
            contact_text(&mut s, c);
        }
    }
    s
}

/// One contact: the final states, each transition that fires elsewhere, and
/// when it went to `error` and for how long, where those differ.
fn contact_text(s: &mut String, c: &ContactChange) {
    use std::fmt::Write as _;
    let same = if c.final_changed { "" } else { " (same final state)" };
    let _ = writeln!(
        s,
        "  {}: {}/{} → {}/{}{same}",
        c.address, c.old.delivery, c.old.consent, c.new.delivery, c.new.consent
    );
    let on = |e: &Option<EventRef>, none: &str| match e {
        Some(EventRef { id, at: Some(at) }) => format!("{id} at {at}"),
        Some(EventRef { id, at: None }) => id.clone(),
        None => none.to_string(),
    };
    let (first, time) = (&c.first_error, &c.seconds_in_error);
    let mut first_shown = first.old == first.new;
    for m in &c.transitions_changed {
        let is_first = !first_shown && m.old == first.old && m.new == first.new;
        first_shown |= is_first;
        let _ = writeln!(
            s,
            "    {}: {} → {}{}",
            m.transition,
            on(&m.old, "does not fire"),
            on(&m.new, "does not fire"),
            if is_first { " (first error)" } else { "" }
        );
    }
    if !first_shown {
        let _ = writeln!(s, "    first error: {} → {}", on(&first.old, "never"), on(&first.new, "never"));
    }
    if time.old != time.new {
        let secs = |t: Option<i64>| t.map_or_else(|| "unknown".to_string(), duration);
        let _ = writeln!(s, "    time in error: {} → {}", secs(time.old), secs(time.new));
    }
}

/// A duration for people: `42d 1h`, `3h 5m`, `12m`, `30s`.
pub fn duration(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}
