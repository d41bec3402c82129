//! The policy snippets in the docs are real: every ```rebound block that is
//! a whole item (a rule, receiver, reason, table, lifecycle…) compiles, with
//! the host predicates the docs use registered.

use rebound::Engine;

const ITEMS: &[&str] = &["rule", "receiver", "reason", "statuses", "replies", "lifecycle", "scenario", "#"];

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
    let mut failures = Vec::new();
    for (path, line, body) in whole_items() {
        checked += 1;
        let errors = |compiled: rebound::Compiled| -> Vec<String> {
            compiled.diagnostics.iter().filter(|d| d.is_error()).map(|d| compiled.sources.render(d)).collect()
        };
        let alone = errors(engine.check_str("snippet.rebound", &body));
        // A snippet may name the shipped receivers and rules: it also
        // counts when it compiles as a local file beside the shipped policy.
        let mut sources = rebound::load::shipped();
        sources.add("00-snippet.rebound", "00-snippet.rebound", body.clone());
        let beside = errors(rebound::compile_with(sources, Vec::new(), engine.host()));
        if !alone.is_empty() && !beside.is_empty() {
            let errors = alone;
            failures.push(format!("{}:{line}:\n{}", path.display(), errors.join("")));
        }
    }
    assert!(checked >= 8, "only {checked} snippets found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
