//! The `lint` stage: warnings about policies that work but are probably
//! wrong. Shadowed rules and table entries (an earlier one always decides
//! first), receivers whose domains or MX patterns overlap, and declared
//! reasons nothing uses.
//!
//! Shadowing is decided where codes, statuses, phases, hosts and literal
//! text make it decidable: a condition is put in disjunctive normal form and
//! rule B is shadowed by an earlier rule A when every conjunction of B
//! implies some conjunction of A. Regexes and templates only imply
//! themselves. When the normal form would be too large the pair is skipped:
//! the lint never guesses.

use super::Unit;
use super::patterns::{CodeSet, HostPat};
use crate::diag::{Diagnostic, Severity, codes};
use crate::policy::{Atom, AtomTest, CompiledRule, Cond};

/// The largest normal form the shadowing lint builds for one condition.
pub const MAX_DNF_TERMS: usize = 256;

pub(super) fn lint(unit: &mut Unit) {
    let mut out = Vec::new();
    for rec in &unit.receivers {
        shadowed_rules(unit, &rec.rules, &mut out);
    }
    shadowed_rules(unit, &unit.global, &mut out);
    shadowed_entries(unit, &mut out);
    overlapping_receivers(unit, &mut out);
    for (id, span) in &unit.declared {
        if !unit.used.contains(id) {
            let name = unit.reasons.get(*id).map(|r| r.name.as_str()).unwrap_or("?");
            out.push(
                Diagnostic::warning(
                    codes::UNUSED_REASON,
                    *span,
                    format!("the reason `{name}` is declared but no outcome uses it"),
                )
                .with_help("remove it, or use it in a rule or table"),
            );
        }
    }
    unit.diags.extend(out);
}

type Lit<'a> = (bool, &'a Atom);
type Conj<'a> = Vec<Lit<'a>>;

/// The condition in disjunctive normal form: each term a list of
/// (negated, test); `None` when too large.
pub(super) fn dnf_of(c: &Cond) -> Option<Vec<Conj<'_>>> {
    dnf(c, false)
}

/// The condition in disjunctive normal form, or `None` when too large.
fn dnf(c: &Cond, negated: bool) -> Option<Vec<Conj<'_>>> {
    match (c, negated) {
        (Cond::Atom(a), n) => Some(vec![vec![(n, a.as_ref())]]),
        (Cond::Not(x), n) => dnf(x, !n),
        (Cond::Any(v), false) | (Cond::All(v), true) => {
            let mut out = Vec::new();
            for x in v {
                out.extend(dnf(x, negated)?);
                if out.len() > MAX_DNF_TERMS {
                    return None;
                }
            }
            Some(out)
        }
        (Cond::All(v), false) | (Cond::Any(v), true) => {
            let mut acc: Vec<Conj> = vec![Vec::new()];
            for x in v {
                let part = dnf(x, negated)?;
                if acc.len().saturating_mul(part.len()) > MAX_DNF_TERMS {
                    return None;
                }
                let mut next = Vec::with_capacity(acc.len() * part.len());
                for a in &acc {
                    for p in &part {
                        let mut c = a.clone();
                        c.extend(p.iter().copied());
                        next.push(c);
                    }
                }
                acc = next;
            }
            Some(acc)
        }
    }
}

/// Whether every response that satisfies `b` satisfies `a`.
fn implies(b: &[Conj], a: &[Conj]) -> bool {
    b.iter().all(|cb| a.iter().any(|ca| ca.iter().all(|la| cb.iter().any(|lb| lit_implies(*lb, *la)))))
}

fn lit_implies(b: Lit, a: Lit) -> bool {
    match (b.0, a.0) {
        (false, false) => atom_implies(b.1, a.1),
        (true, true) => atom_implies(a.1, b.1),
        _ => false,
    }
}

fn atom_implies(b: &Atom, a: &Atom) -> bool {
    use AtomTest as T;
    match (&b.test, &a.test) {
        (T::Code { inner: ib, set: sb }, T::Code { inner: ia, set: sa }) => ib == ia && sb.is_subset(sa),
        (T::Status { inner: ib, pats: pb }, T::Status { inner: ia, pats: pa }) => {
            ib == ia && pb.iter().all(|p| pa.iter().any(|q| q.covers(p)))
        }
        (T::Contains(lb, _), T::Contains(la, _)) => lb.iter().all(|l| la.iter().any(|m| l.contains(m.as_str()))),
        (T::Regex(rb), T::Regex(ra)) => rb.regex.as_str() == ra.regex.as_str(),
        (T::Phase(pb), T::Phase(pa)) => pb.iter().all(|p| pa.contains(p)),
        (T::Mx(hb), T::Mx(ha)) | (T::Domain(hb), T::Domain(ha)) => hosts_covered(hb, ha),
        (T::Flag(fb), T::Flag(fa)) => fb == fa,
        _ => false,
    }
}

fn hosts_covered(b: &[HostPat], a: &[HostPat]) -> bool {
    b.iter().all(|h| a.iter().any(|g| g.covers(h)))
}

/// The most implication checks the shadowing lint makes for one level of
/// rules; past it the lint stops rather than slow the compiler down.
pub const MAX_SHADOW_CHECKS: usize = 2_000_000;

/// A conjunction's key strings: those of its first positive `contains`
/// test. A conjunction B can only imply one with keys when one of B's
/// `contains` strings holds one of the keys, which an automaton over all
/// keys finds without comparing every pair of rules.
fn keys<'a>(conj: &[Lit<'a>]) -> Option<&'a [String]> {
    conj.iter().find_map(|(neg, a)| match (&a.test, neg) {
        (AtomTest::Contains(v, _), false) => Some(v.as_slice()),
        _ => None,
    })
}

/// The kinds of test in a conjunction, by polarity, as a bit set: a
/// conjunction can only imply one whose kinds are a subset of its own.
fn kinds(conj: &[Lit]) -> u32 {
    conj.iter().fold(0, |m, (neg, a)| {
        let k = match a.test {
            AtomTest::Code { .. } => 0,
            AtomTest::Status { .. } => 1,
            AtomTest::Contains(..) => 2,
            AtomTest::Regex(_) => 3,
            AtomTest::Phase(_) => 4,
            AtomTest::Mx(_) => 5,
            AtomTest::Domain(_) => 6,
            AtomTest::Flag(_) => 7,
            AtomTest::Script(_) => 8,
            AtomTest::Call(..) => 9,
            AtomTest::Phrase(_) => 10,
        };
        m | 1 << (k + if *neg { 16 } else { 0 })
    })
}

/// The rules (by index) that could shadow rule `j`, given its first conjunction.
fn candidates(
    j: usize,
    first: &[Lit],
    ac: Option<&aho_corasick::AhoCorasick>,
    owners: &[usize],
    unindexed: &[(u32, Vec<usize>)],
) -> Vec<usize> {
    let mask = kinds(first);
    let mut out: Vec<usize> = unindexed
        .iter()
        .filter(|(m, _)| m & !mask == 0)
        .flat_map(|(_, rules)| rules.iter().copied().take_while(|&i| i < j))
        .collect();
    if let (Some(ac), Some(s)) = (ac, keys(first).and_then(|k| k.first())) {
        let owners_of =
            ac.find_overlapping_iter(s.as_str()).filter_map(|m| owners.get(m.pattern().as_usize()).copied());
        out.extend(owners_of.filter(|&i| i < j));
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn shadowed_rules(unit: &Unit, rules: &[CompiledRule], out: &mut Vec<Diagnostic>) {
    let forms: Vec<Option<Vec<Conj>>> = rules.iter().map(|r| dnf(&r.cond, false)).collect();
    let mut patterns: Vec<&str> = Vec::new();
    let mut owners: Vec<usize> = Vec::new();
    let mut unindexed: Vec<(u32, Vec<usize>)> = Vec::new();
    for (i, f) in forms.iter().enumerate() {
        for conj in f.iter().flatten() {
            match keys(conj) {
                Some(ks) => {
                    for k in ks {
                        patterns.push(k);
                        owners.push(i);
                    }
                }
                None => {
                    let m = kinds(conj);
                    match unindexed.iter_mut().find(|(k, _)| *k == m) {
                        Some((_, v)) if v.last() != Some(&i) => v.push(i),
                        Some(_) => {}
                        None => unindexed.push((m, vec![i])),
                    }
                }
            }
        }
    }
    // An NFA, not the DFA `AhoCorasick::new` picks for a few patterns: the
    // DFA's build is quadratic in the length of a self-overlapping pattern
    // (see `eval::index::INDEXED_LITERAL_BYTES`), and this automaton only
    // searches the policy's own literals, once per rule.
    let ac = aho_corasick::AhoCorasick::builder()
        .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
        .build(&patterns)
        .ok();
    let mut budget = MAX_SHADOW_CHECKS;
    for (j, rj) in rules.iter().enumerate() {
        let Some(Some(fj)) = forms.get(j) else {
            continue;
        };
        let Some(first) = fj.first() else { continue };
        let cands = candidates(j, first, ac.as_ref(), &owners, &unindexed);
        if cands.len() > budget {
            return;
        }
        budget -= cands.len();
        let hit = cands.into_iter().find(|&i| forms.get(i).and_then(|f| f.as_ref()).is_some_and(|fi| implies(fj, fi)));
        let Some(ri) = hit.and_then(|i| rules.get(i)) else {
            continue;
        };
        let span = unit.rule_spans.get(&rj.id).copied().unwrap_or(rj.location.span);
        let first_span = unit.rule_spans.get(&ri.id).copied().unwrap_or(ri.location.span);
        out.push(
            Diagnostic::warning(
                codes::SHADOWED_RULE,
                span,
                format!(
                    "the rule `{}` can never decide: `{}` matches everything it matches and comes first",
                    rj.id, ri.id
                ),
            )
            .with_label("never reached")
            .with_note(first_span, format!("`{}` decides first", ri.id))
            .with_help("move the narrower rule above the wider one, or remove it"),
        );
    }
}

fn shadowed_entries(unit: &Unit, out: &mut Vec<Diagnostic>) {
    let mut seen = CodeSet::new();
    for e in &unit.replies {
        if e.key.is_subset(&seen) {
            out.push(entry_warning(&e.location.span, &e.text));
        }
        seen.union_with(&e.key);
    }
    for (j, e) in unit.statuses.iter().enumerate() {
        let earlier = unit.statuses.iter().take(j);
        let pats: Vec<_> = earlier.flat_map(|x| x.key.iter()).collect();
        if e.key.iter().all(|p| pats.iter().any(|q| q.covers(p))) {
            out.push(entry_warning(&e.location.span, &e.text));
        }
    }
}

fn entry_warning(span: &crate::diag::Span, text: &str) -> Diagnostic {
    Diagnostic::warning(
        codes::SHADOWED_ENTRY,
        *span,
        format!("the entry `{text}` can never decide: earlier entries of the table cover it"),
    )
    .with_label("never reached")
    .with_help("tables decide by the first entry that matches; put specific codes before patterns")
}

fn overlapping_receivers(unit: &Unit, out: &mut Vec<Diagnostic>) {
    let recs = &unit.receivers;
    for (i, a) in recs.iter().enumerate() {
        for b in recs.iter().skip(i + 1) {
            let lists = [
                ("domain", &a.domains, &a.domain_spans, &b.domains, &b.domain_spans),
                ("MX pattern", &a.mx, &a.mx_spans, &b.mx, &b.mx_spans),
            ];
            for (what, pa, sa, pb, sb) in lists {
                let pairs = pa.iter().enumerate().flat_map(|x| pb.iter().enumerate().map(move |y| (x, y)));
                let Some(((ix, x), (iy, y))) = pairs.into_iter().find(|((_, x), (_, y))| x.overlaps(y)) else {
                    continue;
                };
                let same = x == y;
                let (code, severity) = if same && what == "domain" {
                    (codes::DUPLICATE_DOMAIN, Severity::Error)
                } else {
                    (codes::OVERLAPPING_RECEIVERS, Severity::Warning)
                };
                let at_a = sa.get(ix).copied().unwrap_or(a.location.span);
                let at_b = sb.get(iy).copied().unwrap_or(b.location.span);
                let mut d = Diagnostic::warning(
                    code,
                    at_b,
                    format!(
                        "the receivers `{}` and `{}` both claim the {what} `{}`",
                        a.name,
                        b.name,
                        if same { x } else { y }
                    ),
                )
                .with_label(format!("`{y}` of `{}`", b.name))
                .with_note(at_a, format!("`{x}` of `{}`", a.name))
                .with_help(winner(&a.name, x, &b.name, y));
                d.severity = severity;
                out.push(d);
            }
        }
    }
}

/// Which of two receivers whose host patterns overlap an event selects:
/// an exact name beats a suffix, a longer suffix a shorter one, and
/// between equals the one tried first (declared first; a later layer's first).
fn winner(first: &str, x: &HostPat, second: &str, y: &HostPat) -> String {
    let rank = |p: &HostPat| match p {
        HostPat::Exact(h) => (1, h.len()),
        HostPat::Suffix(s) => (0, s.len()),
    };
    if x == y {
        return format!("`{first}` wins: it comes first; keep the pattern in one receiver");
    }
    let (narrow, narrow_owner, wide, wide_owner) =
        if rank(y) > rank(x) { (y, second, x, first) } else { (x, first, y, second) };
    format!(
        "`{narrow_owner}` wins for `{narrow}` (the more specific pattern); `{wide_owner}` keeps the other names of `{wide}`"
    )
}
