//! `rebound test [PATH…]`: the policy's examples and scenarios, corpus cases,
//! rule coverage; text, JSON or JUnit.

use crate::load::Layer;
use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;

use super::{Exit, compile_policy};
use crate::testing::{Report, read_cases, run};

/// How `test` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// For people.
    Text,
    /// One JSON object.
    Json,
    /// JUnit XML, for CI systems.
    Junit,
}

/// Arguments of `test`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories that together make the policy (default: `--policy`, else the shipped policy).
    pub paths: Vec<PathBuf>,
    /// Corpus files to check too (JSONL: recipient, mx, code, status, text, expect {class, reason, scope});
    /// several may follow one `--cases`, and a glob (`'corpus/*.jsonl'`) is expanded here when the shell did not.
    #[arg(long = "cases", value_name = "FILE.jsonl", num_args = 1..)]
    pub cases: Vec<PathBuf>,
    /// `text`, `json` or `junit`.
    #[arg(long, value_enum, default_value_t = TestFormat::Text)]
    pub format: TestFormat,
    /// Report which rules were hit by at least one example or case, and list the others.
    #[arg(long)]
    pub coverage: bool,
    /// Fail when fewer than this percentage of rules are hit.
    #[arg(long, value_name = "PCT")]
    pub min_coverage: Option<f64>,
}

/// Runs `test`.
pub fn run_cmd(policy: Vec<Layer>, args: Args) -> std::io::Result<Exit> {
    let compiled = compile_policy(&args.paths, policy);
    let mut err = std::io::stderr().lock();
    let Some(policy) = compiled.policy else {
        for d in &compiled.diagnostics {
            write!(err, "{}", compiled.sources.render(d))?;
        }
        writeln!(err, "error: the policy has errors; no test was run")?;
        return Ok(Exit::Invalid);
    };
    let case_files = match expand(&args.cases) {
        Ok(files) => files,
        Err(why) => {
            writeln!(err, "error: {why}")?;
            return Ok(Exit::Invalid);
        }
    };
    let mut cases = Vec::new();
    let mut bad_cases = 0;
    for path in &case_files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                writeln!(err, "error: cannot read {}: {e}", path.display())?;
                return Ok(Exit::Invalid);
            }
        };
        let (c, errors) = read_cases(&path.display().to_string(), &text);
        for e in &errors {
            writeln!(err, "{e}")?;
        }
        bad_cases += errors.len();
        cases.extend(c);
    }
    let report = run(&policy, &cases);
    let mut out = std::io::stdout().lock();
    match args.format {
        TestFormat::Text => write!(out, "{}", text(&report, args.coverage || args.min_coverage.is_some()))?,
        TestFormat::Json => writeln!(out, "{}", serde_json::to_string(&report).unwrap_or_default())?,
        TestFormat::Junit => write!(out, "{}", junit(&report))?,
    }
    let below = args.min_coverage.is_some_and(|min| report.coverage.percent + 1e-9 < min);
    if below {
        writeln!(
            err,
            "coverage {:.1}% is below the minimum {:.1}%",
            report.coverage.percent,
            args.min_coverage.unwrap_or(0.0)
        )?;
    }
    Ok(if report.failed > 0 || below || bad_cases > 0 { Exit::Invalid } else { Exit::Ok })
}

/// The case files named by `--cases`: each path as given, or, when no such
/// file exists and it holds a glob character, the files it matches (in order;
/// shells leave a glob as it is when it is quoted or matches nothing, and
/// some never expand one). A directory is refused with a hint, because after
/// `--cases` it is most likely a policy path in the wrong place.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        let text = path.to_string_lossy();
        if path.is_dir() {
            return Err(format!(
                "`{text}` is a directory, and `--cases` takes case files: name them (`{}`), and put policy paths before `--cases`",
                path.join("*.jsonl").display()
            ));
        }
        if path.exists() || !text.contains(['*', '?', '[']) {
            files.push(path.clone());
            continue;
        }
        let matches = glob::glob(&text).map_err(|e| format!("`{text}` is not a valid glob: {e}"))?;
        let mut found: Vec<PathBuf> = matches.filter_map(Result::ok).filter(|p| p.is_file()).collect();
        if found.is_empty() {
            return Err(format!("no case file matches `{text}`"));
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// The report for people: failures with expected, actual and the trace, then the totals.
pub fn text(r: &Report, coverage: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for o in r.outcomes.iter().filter(|o| !o.passed) {
        if o.changed {
            let _ = writeln!(s, "CHANGED {} {} ({}): a later layer changed it", o.kind, o.name, o.source);
        } else {
            let _ = writeln!(s, "FAIL {} {} ({})", o.kind, o.name, o.source);
        }
        let _ = writeln!(s, "  expected: {}", o.expected);
        let _ = writeln!(s, "  actual:   {}", o.actual);
        if let Some(t) = &o.trace {
            let _ = writeln!(s, "  trace:");
            for line in t.lines() {
                let _ = writeln!(s, "    {line}");
            }
        }
        let _ = writeln!(s);
    }
    let count = |k: &str| r.outcomes.iter().filter(|o| o.kind == k).count();
    let changed = if r.changed > 0 { format!("; {} changed by a later layer", r.changed) } else { String::new() };
    let _ = writeln!(
        s,
        "test result: {}. {} passed; {} failed{changed} ({} examples, {} scenarios, {} cases)",
        if r.failed == 0 { "ok" } else { "FAILED" },
        r.passed,
        r.failed,
        count("example"),
        count("scenario"),
        count("case")
    );
    if coverage {
        let c = &r.coverage;
        let _ = writeln!(s, "coverage: {} of {} rules hit by an example or case ({:.1}%)", c.hit, c.rules, c.percent);
        if !c.never_hit.is_empty() {
            let _ = writeln!(s, "never hit:");
            for (id, at) in &c.never_hit {
                let _ = writeln!(s, "  {id} ({at})");
            }
        }
    }
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The report as JUnit XML.
pub fn junit(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(s, "<testsuites name=\"rebound\" tests=\"{}\" failures=\"{}\">", r.outcomes.len(), r.failed);
    let _ =
        writeln!(s, "  <testsuite name=\"rebound policy\" tests=\"{}\" failures=\"{}\">", r.outcomes.len(), r.failed);
    for o in &r.outcomes {
        let _ =
            write!(s, "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\"", o.kind, xml(&o.name), xml(&o.source));
        if o.passed {
            let _ = writeln!(s, "/>");
        } else if o.changed {
            let _ = writeln!(s, ">");
            let msg = format!("changed by a later layer: expected {}; got {}", o.expected, o.actual);
            let _ = writeln!(s, "      <skipped message=\"{}\"/>", xml(&msg));
            let _ = writeln!(s, "    </testcase>");
        } else {
            let _ = writeln!(s, ">");
            let msg = format!("expected {}; got {}", o.expected, o.actual);
            let _ = writeln!(
                s,
                "      <failure message=\"{}\">{}</failure>",
                xml(&msg),
                xml(o.trace.as_deref().unwrap_or(""))
            );
            let _ = writeln!(s, "    </testcase>");
        }
    }
    let _ = writeln!(s, "  </testsuite>\n</testsuites>");
    s
}
