//! The `layers` stage: a policy of several layers (the shipped policy, then
//! a team's own files) merged into the one list of items the later stages
//! lower, with what each layer changed.
//!
//! Precedence: a later layer comes first. Its global rules, table entries
//! and receivers are tried before those of the layers below; `extend
//! receiver` puts its rules before the receiver's own. `replace rule` keeps
//! the replaced rule's place (it is the same rule, edited); `disable rule`
//! takes it out; `replace lifecycle` swaps the whole lifecycle. Declaring a
//! rule, receiver or lifecycle that a lower layer already has is an error
//! that names the keyword to use, so nothing is overridden by accident.
//!
//! This stage only rearranges the AST; it must not lower anything.

use serde::Serialize;

use super::{Unit, suggest};
use crate::diag::{Diagnostic, Span, codes};
use crate::syntax::ast::{File, Item, ReceiverDecl, ReceiverField, RuleDecl, Word};

/// The only layer a policy can extend.
pub const SHIPPED: &str = "shipped";

/// What one layer changes in the layers below it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LayerSummary {
    /// The layer's name (`shipped`, `./local`).
    pub name: String,
    /// How many files it has.
    pub files: usize,
    /// Rules it replaces: (id, where the replaced rule was).
    pub replaced: Vec<(String, String)>,
    /// Rules it disables: (id, where the disabled rule was).
    pub disabled: Vec<(String, String)>,
    /// Receivers it extends: (name, domains, mx hosts, rules) it adds.
    pub extended: Vec<(String, usize, usize, usize)>,
    /// Whether it replaces the lifecycle.
    pub lifecycle_replaced: bool,
    /// New global rules.
    pub rules: usize,
    /// Phrases it adds to the phrase tables (a table of the same name in a
    /// lower layer gains them).
    pub phrases: usize,
    /// New receivers.
    pub receivers: Vec<String>,
    /// Whether it is the lowest layer (it changes nothing; it is the base).
    pub base: bool,
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

impl LayerSummary {
    /// One line for people: `./local: replaces gmail.user_unknown, …`.
    pub fn describe(&self) -> String {
        let files = count(self.files, "file");
        if self.base {
            return format!("{} ({files}): the base", self.name);
        }
        let mut parts = Vec::new();
        let ids = |v: &[(String, String)]| v.iter().map(|(id, at)| format!("`{id}` ({at})")).collect::<Vec<_>>();
        if !self.replaced.is_empty() {
            parts.push(format!("replaces {}", ids(&self.replaced).join(", ")));
        }
        if !self.disabled.is_empty() {
            parts.push(format!("disables {}", ids(&self.disabled).join(", ")));
        }
        for (name, d, m, r) in &self.extended {
            let added = [count(*d, "domain"), count(*m, "mx host"), count(*r, "rule")];
            parts.push(format!("extends receiver `{name}` (+{})", added.join(", +")));
        }
        if self.lifecycle_replaced {
            parts.push("replaces the lifecycle".into());
        }
        if self.rules > 0 {
            parts.push(format!("adds {}, tried first", count(self.rules, "global rule")));
        }
        if self.phrases > 0 {
            parts.push(format!("adds {} to the phrase tables", count(self.phrases, "phrase")));
        }
        if !self.receivers.is_empty() {
            let names: Vec<String> = self.receivers.iter().map(|r| format!("`{r}`")).collect();
            parts.push(format!("adds receivers {}", names.join(", ")));
        }
        if parts.is_empty() {
            parts.push("changes nothing below it".into());
        }
        format!("{} ({files}): {}", self.name, parts.join("; "))
    }
}

pub(super) fn layers(unit: &mut Unit) {
    let files = std::mem::take(&mut unit.files);
    let top = files.iter().map(|(fid, _)| layer_of(unit, *fid)).max().unwrap_or(0);
    let mut below: Vec<(usize, File)> = Vec::new();
    for layer in 0..=top {
        let mut summary = LayerSummary {
            name: unit.sources.layer_name(layer).to_string(),
            files: files.iter().filter(|(fid, _)| layer_of(unit, *fid) == layer).count(),
            base: layer == 0,
            ..LayerSummary::default()
        };
        let mut mine: Vec<(usize, File)> =
            files.iter().filter(|(fid, _)| layer_of(unit, *fid) == layer).cloned().collect();
        for (_, file) in &mut mine {
            let items = std::mem::take(&mut file.items);
            for item in items {
                if let Some(kept) = apply(unit, layer, item, &mut below, &mut summary) {
                    file.items.push(kept);
                }
            }
        }
        // A later layer comes first.
        mine.append(&mut below);
        below = mine;
        if unit.sources.layers().len() > 1 {
            unit.layers.push(summary);
        }
    }
    unit.files = below;
}

fn layer_of(unit: &Unit, file: usize) -> usize {
    unit.sources.file(file).map_or(0, |f| f.layer)
}

/// Applies one item of `layer` to the layers `below`; returns the item when
/// it stays in its own layer.
fn apply(
    unit: &mut Unit,
    layer: usize,
    item: Item,
    below: &mut [(usize, File)],
    summary: &mut LayerSummary,
) -> Option<Item> {
    match item {
        Item::Extends(name, span) => {
            extends(unit, layer, &name, span, below);
            None
        }
        Item::ReplaceRule(r) => {
            replace_rule(unit, r, below, summary);
            None
        }
        Item::DisableRule { id, span, .. } => {
            disable_rule(unit, &id, span, below, summary);
            None
        }
        Item::ExtendReceiver(ext) => {
            extend_receiver(unit, ext, below, summary);
            None
        }
        Item::ReplaceLifecycle(l) => {
            let removed = remove_items(below, |i| matches!(i, Item::Lifecycle(_)));
            if removed == 0 {
                unit.diags.push(
                    Diagnostic::error(
                        codes::LAYER_TARGET,
                        head(l.span, "replace lifecycle"),
                        "no earlier layer has a lifecycle to replace",
                    )
                    .with_help("declare it with `lifecycle { … }`"),
                );
            }
            summary.lifecycle_replaced = true;
            Some(Item::Lifecycle(l))
        }
        Item::Rule(r) => {
            if let Some((at, _)) = find_rule(below, &r.id.node) {
                unit.diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE_RULE,
                        r.id.span,
                        format!("an earlier layer already has the rule `{}`", r.id.node),
                    )
                    .with_note(at, "declared here")
                    .with_help(format!(
                        "write `replace rule {} {{ … }}` to change it, `disable rule {}` to drop it, or choose another id",
                        r.id.node, r.id.node
                    )),
                );
                return None;
            }
            summary.rules += 1;
            Some(Item::Rule(r))
        }
        Item::Phrases(p) => {
            if layer > 0 {
                summary.phrases += p.entries.iter().filter(|e| !e.except).map(|e| e.patterns.len()).sum::<usize>();
            }
            Some(Item::Phrases(p))
        }
        Item::Receiver(r) => {
            if let Some(base) = find_receiver(below, &r.name.node) {
                unit.diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE_RECEIVER,
                        r.name.span,
                        format!("an earlier layer already has the receiver `{}`", r.name.node),
                    )
                    .with_note(base.name.span, "declared here")
                    .with_help(format!(
                        "write `extend receiver {} {{ … }}` to add domains, MX hosts and rules to it",
                        r.name.node
                    )),
                );
                return None;
            }
            if layer > 0 {
                summary.receivers.push(r.name.node.clone());
            }
            Some(Item::Receiver(r))
        }
        Item::Lifecycle(l) => {
            if let Some(at) = find_lifecycle(below) {
                unit.diags.push(
                    Diagnostic::error(
                        codes::LC_DUPLICATE,
                        head(l.span, "lifecycle"),
                        "an earlier layer already has the lifecycle",
                    )
                    .with_note(at, "declared here")
                    .with_help("write `replace lifecycle { … }` to replace it whole"),
                );
                return None;
            }
            Some(Item::Lifecycle(l))
        }
        other => Some(other),
    }
}

fn extends(unit: &mut Unit, layer: usize, name: &Word, span: Span, below: &[(usize, File)]) {
    if name.node != SHIPPED {
        unit.diags.push(
            Diagnostic::error(codes::LAYER_TARGET, name.span, format!("unknown layer `{}`", name.node))
                .with_label("not a layer Rebound knows")
                .with_help("only `extends shipped` is supported; give other layers with more `--policy` options"),
        );
        return;
    }
    let shipped_below = (0..layer).any(|l| unit.sources.layer_name(l) == SHIPPED);
    if !shipped_below || below.is_empty() {
        unit.diags.push(
            Diagnostic::error(
                codes::LAYER_TARGET,
                span,
                "`extends shipped` but the shipped policy is not below this layer",
            )
            .with_help(
                "load the files with `--policy` (which adds the shipped layer), or give `--policy shipped` first",
            ),
        );
    }
}

/// The rule `id` (`x` or `receiver.x`) among the items below: its span and
/// a description of where it is.
fn find_rule(below: &[(usize, File)], id: &str) -> Option<(Span, String)> {
    for (_, file) in below {
        for item in &file.items {
            match item {
                Item::Rule(r) if r.id.node == id => return Some((r.id.span, String::new())),
                Item::Receiver(rec) => {
                    for f in &rec.fields {
                        if let ReceiverField::Rule(r) = f
                            && qualified(&rec.name.node, &r.id.node) == id
                        {
                            return Some((r.id.span, rec.name.node.clone()));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    None
}

fn qualified(receiver: &str, id: &str) -> String {
    format!("{receiver}.{id}")
}

fn all_rule_ids(below: &[(usize, File)]) -> Vec<String> {
    let mut ids = Vec::new();
    for (_, file) in below {
        for item in &file.items {
            match item {
                Item::Rule(r) => ids.push(r.id.node.clone()),
                Item::Receiver(rec) => ids.extend(rec.fields.iter().filter_map(|f| match f {
                    ReceiverField::Rule(r) => Some(qualified(&rec.name.node, &r.id.node)),
                    _ => None,
                })),
                _ => {}
            }
        }
    }
    ids
}

fn unknown_target(unit: &mut Unit, id: &Word, verb: &str, below: &[(usize, File)]) {
    let ids = all_rule_ids(below);
    let d = Diagnostic::error(
        codes::LAYER_TARGET,
        id.span,
        format!("no earlier layer has the rule `{}` to {verb}", id.node),
    );
    let d = match suggest(&id.node, ids.iter().map(String::as_str)) {
        Some(s) => d.with_label(format!("did you mean `{s}`?")).with_help(format!("did you mean `{s}`?")),
        None => d.with_label("unknown rule").with_help(
            "a receiver's rule is named with its receiver: `gmail.user_unknown`; `rebound receivers` lists them",
        ),
    };
    unit.diags.push(d);
}

fn location(unit: &Unit, span: Span) -> String {
    super::lower::location(unit, span).label
}

fn replace_rule(unit: &mut Unit, mut new: RuleDecl, below: &mut [(usize, File)], summary: &mut LayerSummary) {
    let id = new.id.clone();
    let Some((at, receiver)) = find_rule(below, &id.node) else {
        unknown_target(unit, &id, "replace", below);
        return;
    };
    summary.replaced.push((id.node.clone(), location(unit, at)));
    // Inside its receiver the rule keeps its short id.
    if !receiver.is_empty() {
        new.id.node = id.node.strip_prefix(&format!("{receiver}.")).unwrap_or(&id.node).to_string();
    }
    for (_, file) in below.iter_mut() {
        for item in &mut file.items {
            match item {
                Item::Rule(r) if receiver.is_empty() && r.id.node == id.node => {
                    *r = new;
                    return;
                }
                Item::Receiver(rec) if rec.name.node == receiver => {
                    for f in &mut rec.fields {
                        if let ReceiverField::Rule(r) = f
                            && r.id.node == new.id.node
                        {
                            *r = new;
                            return;
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn disable_rule(unit: &mut Unit, id: &Word, span: Span, below: &mut [(usize, File)], summary: &mut LayerSummary) {
    let Some((at, receiver)) = find_rule(below, &id.node) else {
        unknown_target(unit, id, "disable", below);
        return;
    };
    let _ = span;
    summary.disabled.push((id.node.clone(), location(unit, at)));
    let short = id.node.strip_prefix(&format!("{receiver}.")).unwrap_or(&id.node).to_string();
    for (_, file) in below.iter_mut() {
        if receiver.is_empty() {
            file.items.retain(|i| !matches!(i, Item::Rule(r) if r.id.node == short));
        } else {
            for item in &mut file.items {
                if let Item::Receiver(rec) = item
                    && rec.name.node == receiver
                {
                    rec.fields.retain(|f| !matches!(f, ReceiverField::Rule(r) if r.id.node == short));
                }
            }
        }
    }
}

fn find_receiver<'a>(below: &'a [(usize, File)], name: &str) -> Option<&'a ReceiverDecl> {
    below.iter().flat_map(|(_, f)| &f.items).find_map(|i| match i {
        Item::Receiver(r) if r.name.node == name => Some(r),
        _ => None,
    })
}

fn find_lifecycle(below: &[(usize, File)]) -> Option<Span> {
    below.iter().flat_map(|(_, f)| &f.items).find_map(|i| match i {
        Item::Lifecycle(l) => Some(head(l.span, "lifecycle")),
        _ => None,
    })
}

/// The first word of a block (`lifecycle`), to point at rather than the whole block.
fn head(span: Span, word: &str) -> Span {
    Span::new(span.file, span.start..(span.start + word.len()).min(span.end))
}

fn remove_items(below: &mut [(usize, File)], drop: impl Fn(&Item) -> bool) -> usize {
    let mut removed = 0;
    for (_, file) in below.iter_mut() {
        let before = file.items.len();
        file.items.retain(|i| !drop(i));
        removed += before - file.items.len();
    }
    removed
}

fn extend_receiver(unit: &mut Unit, ext: ReceiverDecl, below: &mut [(usize, File)], summary: &mut LayerSummary) {
    let Some(base) = find_receiver(below, &ext.name.node) else {
        let names: Vec<String> = below
            .iter()
            .flat_map(|(_, f)| &f.items)
            .filter_map(|i| match i {
                Item::Receiver(r) => Some(r.name.node.clone()),
                _ => None,
            })
            .collect();
        let d = Diagnostic::error(
            codes::LAYER_TARGET,
            ext.name.span,
            format!("no earlier layer has the receiver `{}` to extend", ext.name.node),
        );
        let d = match suggest(&ext.name.node, names.iter().map(String::as_str)) {
            Some(s) => d.with_label(format!("did you mean `{s}`?")).with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!("declare a new one with `receiver {} {{ … }}`", ext.name.node)),
        };
        unit.diags.push(d);
        return;
    };
    let existing: Vec<(String, Span)> = base
        .fields
        .iter()
        .filter_map(|f| match f {
            ReceiverField::Rule(r) => Some((r.id.node.clone(), r.id.span)),
            _ => None,
        })
        .collect();
    let (mut domains, mut mx, mut rules) = (0, 0, 0);
    let mut added = Vec::new();
    for f in ext.fields {
        match &f {
            ReceiverField::Title(w) => {
                unit.diags.push(
                    Diagnostic::error(codes::LAYER_TARGET, w.span, "an extension cannot change a receiver's title")
                        .with_help("remove the `title`; the earlier layer's stays"),
                );
                continue;
            }
            ReceiverField::Domains(ws, _) => domains += ws.len(),
            ReceiverField::Mx(ws, _) => mx += ws.len(),
            ReceiverField::Rule(r) => {
                if let Some((_, at)) = existing.iter().find(|(id, _)| *id == r.id.node) {
                    let full = qualified(&ext.name.node, &r.id.node);
                    unit.diags.push(
                        Diagnostic::error(
                            codes::DUPLICATE_RULE,
                            r.id.span,
                            format!("the receiver `{}` already has the rule `{}`", ext.name.node, r.id.node),
                        )
                        .with_note(*at, "declared here")
                        .with_help(format!("write `replace rule {full} {{ … }}` at the top level to change it")),
                    );
                    continue;
                }
                rules += 1;
            }
            ReceiverField::Example(_) => {}
        }
        added.push(f);
    }
    summary.extended.push((ext.name.node.clone(), domains, mx, rules));
    for (_, file) in below.iter_mut() {
        for item in &mut file.items {
            if let Item::Receiver(rec) = item
                && rec.name.node == ext.name.node
            {
                let mut fields = std::mem::take(&mut added);
                fields.append(&mut rec.fields);
                rec.fields = fields;
                return;
            }
        }
    }
}
