//! `rebound check [PATH…]`: parse, compile and lint; print diagnostics.

use crate::load::Layer;
use std::io::Write;
use std::path::PathBuf;

use super::{Exit, Format, compile_policy};

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories that together make the policy (default: `--policy`, else the shipped policy).
    pub paths: Vec<PathBuf>,
    /// Print diagnostics as text (stderr) or JSON (stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

/// Runs `check`.
pub fn run(policy: Vec<Layer>, args: Args) -> std::io::Result<Exit> {
    let compiled = compile_policy(&args.paths, policy);
    let errors = compiled.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = compiled.warnings();
    let failed = errors > 0 || (args.deny_warnings && warnings > 0);
    match args.format {
        Format::Json => {
            let diags: Vec<_> = compiled.diagnostics.iter().map(|d| compiled.sources.to_json(d)).collect();
            let out = serde_json::json!({
                "ok": !failed,
                "errors": errors,
                "warnings": warnings,
                "version": compiled.policy.as_ref().map(|p| p.version()),
                "files": compiled.sources.files().iter().map(|f| &f.name).collect::<Vec<_>>(),
                "layers": compiled.layers,
                "diagnostics": diags,
            });
            writeln!(std::io::stdout().lock(), "{out}")?;
        }
        Format::Text => {
            let mut err = std::io::stderr().lock();
            for d in &compiled.diagnostics {
                write!(err, "{}", compiled.sources.render(d))?;
            }
            let files = compiled.sources.files().len();
            match &compiled.policy {
                Some(p) if !failed => {
                    let rules = p.all_rules().count();
                    let mut out = std::io::stdout().lock();
                    writeln!(
                        out,
                        "ok: {files} files, {} receivers, {rules} rules, {warnings} warnings (version {})",
                        p.receivers().len(),
                        p.version()
                    )?;
                    for (i, layer) in compiled.layers.iter().enumerate() {
                        writeln!(out, "  layer {}: {}", i + 1, layer.describe())?;
                    }
                }
                _ => writeln!(err, "failed: {errors} errors, {warnings} warnings in {files} files")?,
            }
        }
    }
    Ok(if failed { Exit::Invalid } else { Exit::Ok })
}
