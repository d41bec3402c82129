//! The receivers page (`docs/receivers.md`), generated from the compiled
//! policy so that it cannot drift: a test regenerates it and compares.

use std::fmt::Write;

use crate::policy::{CompiledRule, Policy};

fn outcome(p: &Policy, r: &CompiledRule) -> String {
    let info = p.reasons().get(r.outcome.reason);
    let class = r.outcome.class.or(info.map(|i| i.class)).map_or("?".to_string(), |c| c.to_string());
    let scope = r.outcome.scope.or(info.map(|i| i.scope)).map_or("?".to_string(), |s| s.to_string());
    format!("{class} {} ({scope})", info.map_or("?", |i| i.name.as_str()))
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The markdown page describing every receiver of a policy and its rules.
pub fn receivers_markdown(p: &Policy) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Receivers: what the shipped policy knows, and why\n");
    let _ = writeln!(
        s,
        "Generated from `policies/` by `rebound receivers` (a test regenerates it and fails if it differs). \
         For each receiver: how it is recognised, and each rule with the verdict it gives, the answer it \
         matches, where the knowledge comes from and why it is classified so. Rules are tried in this \
         order; then the global rules of `policies/default.rebound`, the status table and the reply table.\n"
    );
    let _ = writeln!(s, "| receiver | recognised by recipient domain | recognised by MX | rules |");
    let _ = writeln!(s, "|---|---|---|---|");
    for r in p.receivers() {
        let doms: Vec<String> = r.domains.iter().map(|d| d.to_string()).collect();
        let mx: Vec<String> = r.mx.iter().map(|d| d.to_string()).collect();
        let _ = writeln!(
            s,
            "| [{}](#{}) | {} | {} | {} |",
            cell(&r.title),
            r.name,
            if doms.is_empty() { "—".into() } else { cell(&doms.join(", ")) },
            if mx.is_empty() { "—".into() } else { cell(&mx.join(", ")) },
            r.rules.len()
        );
    }
    for r in p.receivers() {
        let _ = writeln!(s, "\n<a id=\"{}\"></a>\n## {} (`{}`)\n", r.name, r.title, r.name);
        let _ = writeln!(s, "Declared in `{}`.\n", r.location.label);
        let _ = writeln!(s, "| rule | when | verdict | source, observed | why |");
        let _ = writeln!(s, "|---|---|---|---|---|");
        for rule in &r.rules {
            let pv = &rule.provenance;
            let src = match (&pv.source, &pv.observed) {
                (Some(u), Some(d)) => format!("{u} ({d})"),
                (Some(u), None) => u.clone(),
                (None, Some(d)) => format!("observed {d}"),
                (None, None) => "—".into(),
            };
            let _ = writeln!(
                s,
                "| `{}` | `{}` | {} | {} | {} |",
                rule.id,
                cell(&rule.when_text),
                outcome(p, rule),
                cell(&src),
                cell(pv.note.as_deref().unwrap_or("—"))
            );
        }
    }
    s
}
