//! The policy snippets in the docs are real: every ```rebound block that is
//! a whole item (a rule, receiver, reason, table, lifecycle…) compiles as a
//! layer on the shipped policy — the way a reader would add it — with the
//! host predicates the docs use registered.

use rebound::{Engine, Layer};

const ITEMS: &[&str] = &[
    "rule",
    "receiver",
    "reason",
    "statuses",
    "replies",
    "lifecycle",
    "scenario",
    "#",
    "extends",
    "replace",
    "disable",
    "extend",
];

/// The host predicates the docs' snippets call.
pub const PREDICATES: &[&str] = &["is_corporate_gateway", "is_vip", "is_enterprise"];

/// The ```rebound blocks of a markdown text, with the line each body starts on.
pub fn blocks(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match &mut current {
            None if line.trim() == "```rebound" => current = Some((i + 2, String::new())),
            Some(_) if line.trim() == "```" => out.extend(current.take()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    out
}

/// Every block of `docs/*.md` and `README.md` that is a whole item (not an
/// elided sketch): (file, line, body).
pub fn whole_items() -> Vec<(std::path::PathBuf, usize, String)> {
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(crate::root().join("docs")).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths.push(crate::root().join("README.md"));
    for path in paths {
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (line, body) in blocks(&text) {
            let first = body.split_whitespace().next().unwrap_or("");
            // `…` marks an elided sketch, not a whole item.
            if ITEMS.iter().any(|k| first.starts_with(k)) && !body.contains('…') {
                out.push((path.clone(), line, body));
            }
        }
    }
    out
}

#[test]
fn every_whole_snippet_in_the_docs_compiles() {
    let mut engine = Engine::new();
    for name in PREDICATES {
        engine.register_predicate(name, |_| false);
    }
    let mut checked = 0;
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (path, line, body) in whole_items() {
        checked += 1;
        let errors = |compiled: rebound::Compiled| -> Vec<String> {
            compiled.diagnostics.iter().filter(|d| d.is_error()).map(|d| compiled.sources.render(d)).collect()
        };
        // Every snippet must work as a layer on the shipped policy, as a
        // reader would use it (a whole lifecycle then replaces the shipped one).
        let first = body.split_whitespace().next().unwrap_or("");
        let layer = if first == "lifecycle" { format!("replace {body}") } else { body.clone() };
        let file = dir.path().join(format!("snippet-{checked}.rebound"));
        std::fs::write(&file, &layer).unwrap();
        let beside = errors(engine.check_layers(&[Layer::Shipped, Layer::Path(file)]));
        if !beside.is_empty() {
            failures.push(format!("{}:{line}:\n{}", path.display(), beside.join("")));
        }
    }
    assert!(checked >= 8, "only {checked} snippets found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every `policies/…rebound:N` the docs show points at a line where a rule,
/// receiver or lifecycle item starts in the shipped policy: figures copied
/// from an older policy go stale silently otherwise.
#[test]
fn line_references_to_the_shipped_policy_are_current() {
    let re = regex::Regex::new(r"policies/([a-z0-9_/.-]+\.rebound):(\d+)").unwrap();
    let files: std::collections::HashMap<&str, &str> = rebound::load::shipped_files().iter().copied().collect();
    let mut stale = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(crate::root().join("docs")).unwrap().map(|e| e.unwrap().path()).collect();
    paths.push(crate::root().join("README.md"));
    for path in paths {
        // The receivers page is generated from the policy and checked by its own test.
        if path.extension().is_none_or(|e| e != "md") || path.ends_with("receivers.md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for c in re.captures_iter(&text) {
            let (file, line) = (&c[1], c[2].parse::<usize>().unwrap());
            let at = files.get(file).and_then(|t| t.lines().nth(line.saturating_sub(1))).unwrap_or("");
            let starts =
                ["rule ", "receiver ", "eligible ", "lifecycle", "transition ", "strikes ", "refuse ", "allow "];
            if !starts.iter().any(|s| at.trim_start().starts_with(s)) {
                stale.push(format!("{}: policies/{file}:{line} is `{}`", path.display(), at.trim()));
            }
        }
    }
    assert!(stale.is_empty(), "stale references:\n{}", stale.join("\n"));
}
