//! The evaluator's index: built once when a policy is compiled, so that the
//! cost of classifying an answer grows with the length of its text, not with
//! the number of rules.
//!
//! - One Aho-Corasick automaton holds every `contains` literal of the whole
//!   policy (and the literals that every match of a regex or template must
//!   hold). One pass over the folded text finds them all.
//! - Each rule gets a *requirement*, a necessary condition derived from its
//!   condition: a set of literals one of which must be found, else a set of
//!   reply codes, else a set of status subjects. Rules are listed under
//!   their requirement; a rule with none is always a candidate.
//! - Per event, the candidates of a level are the union of the lists its
//!   found literals, its code and its status select; they are tried in
//!   policy order, so the first match is exactly the one a loop over every
//!   rule would find (`classify_traced` does that loop, and the tests check
//!   that both agree).
//! - The code tables become lookup arrays: first match precomputed for every
//!   reply code and every status.

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use crate::compile::patterns::{CodeSet, HostPat, Status, StatusPat};
use crate::policy::{AtomTest, CompiledRule, Cond, Phrase, PhraseMatch, Receiver, TableEntry};

/// A rule's necessary condition.
#[derive(Debug, Clone)]
enum Req {
    Lits(Vec<u32>),
    Codes(Box<CodeSet>),
    Subjects(Vec<Option<u16>>),
    None,
}

/// The candidate lists of one level (a receiver's rules, or the global ones).
#[derive(Debug, Default)]
pub struct Level {
    by_code: FxHashMap<u16, Vec<u32>>,
    by_subject: FxHashMap<u16, Vec<u32>>,
    any_subject: Vec<u32>,
    always: Vec<u32>,
}

/// The literal automaton (see [`Index`]'s `ac`).
struct Literals(daachorse::DoubleArrayAhoCorasick<u32>);

impl std::fmt::Debug for Literals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Literals({} bytes)", self.0.heap_bytes())
    }
}

/// The evaluator's index of a policy.
#[derive(Debug, Default)]
pub struct Index {
    /// The literal automaton: a double-array Aho-Corasick automaton
    /// (daachorse). Its transitions are one array lookup each in a compact
    /// table, and it reports overlapping matches. Measured on the corpus
    /// answers, one scan took ~340 ns per answer with aho-corasick's
    /// contiguous NFA and ~220 ns with this; aho-corasick's DFA was slower
    /// still (its full table does not stay in cache with the phrase tables'
    /// thousands of literals). Its q-gram prefilter is off: the policy has
    /// two-byte literals, so it skips nothing and costs instructions
    /// (callgrind: 3,396 → 3,180 per answer without it). Each automaton value is a group of literal
    /// ids: literals longer than [`INDEXED_LITERAL_BYTES`] may share their
    /// indexed prefix.
    ac: Option<Literals>,
    /// The literal ids of each automaton value.
    groups: Vec<Vec<u32>>,
    /// Each literal by id, for the tests' naive search.
    #[cfg(test)]
    literal_texts: Vec<String>,
    /// The literals longer than [`INDEXED_LITERAL_BYTES`], by id: the
    /// automaton finds their prefix, this finds them whole.
    long: FxHashMap<u32, memchr::memmem::Finder<'static>>,
    /// For each literal id, the (level, rule) pairs it selects.
    lit_rules: Vec<Vec<(u32, u32)>>,
    /// For each literal id, the phrases it selects (a literal phrase, or
    /// the first piece of a `words` phrase).
    lit_phrases: Vec<Vec<u32>>,
    levels: Vec<Level>,
    domain_exact: FxHashMap<String, u32>,
    domain_suffix: FxHashMap<String, u32>,
    mx_exact: FxHashMap<String, u32>,
    mx_suffix: FxHashMap<String, u32>,
    status_lut: Vec<u16>,
    reply_lut: Vec<u16>,
}

/// How many bytes of a literal go into the automaton. A longer literal is
/// looked for by this prefix, then searched for whole in the texts that hold
/// the prefix.
///
/// Why a bound: `aho-corasick`'s builders fill missing transitions
/// by following failure links, up to the depth of the state, so building the
/// automaton for a self-overlapping literal of n bytes (`aaaa…`, `abab…`)
/// costs n² steps per byte class: one 4,095-byte literal took tens of seconds
/// to compile, on every reload, and made the automaton 20 times larger. With
/// the bound, the build is linear in the policy's literals. The few longer
/// phrases of the shipped policy pay a second search only in the texts that
/// hold their first 64 bytes.
pub const INDEXED_LITERAL_BYTES: usize = 64;

const CLASSES: [u8; 3] = [2, 4, 5];
const SUBJECTS: u16 = 8;
const DETAILS: u16 = 1000;

fn status_slot(s: Status) -> Option<usize> {
    let c = CLASSES.iter().position(|&c| c == s.class)?;
    (s.subject < SUBJECTS && s.detail < DETAILS)
        .then(|| (c * usize::from(SUBJECTS) + usize::from(s.subject)) * usize::from(DETAILS) + usize::from(s.detail))
}

impl Index {
    /// Builds the index, numbering the literals of every text test.
    pub fn build(
        receivers: &mut [Receiver],
        global: &mut [CompiledRule],
        phrases: &mut [Phrase],
        statuses: &[TableEntry<Vec<StatusPat>>],
        replies: &[TableEntry<CodeSet>],
    ) -> Index {
        let mut lits: HashMap<String, u32> = HashMap::new();
        let mut idx = Index::default();
        for (i, p) in phrases.iter_mut().enumerate() {
            let first = match &mut p.pattern {
                PhraseMatch::Literal { text, id } => {
                    *id = literal_id(text, &mut lits);
                    *id
                }
                PhraseMatch::Words { pieces, ids, .. } => {
                    *ids = pieces.iter().map(|s| literal_id(s, &mut lits)).collect();
                    ids.first().copied().unwrap_or(0)
                }
            };
            let slot = first as usize;
            if idx.lit_phrases.len() <= slot {
                idx.lit_phrases.resize(slot + 1, Vec::new());
            }
            if let Some(v) = idx.lit_phrases.get_mut(slot) {
                v.push(i as u32);
            }
        }
        let n = receivers.len();
        for (level, rules) in receivers.iter_mut().map(|r| &mut r.rules[..]).chain(std::iter::once(global)).enumerate()
        {
            let mut lv = Level::default();
            for (i, rule) in rules.iter_mut().enumerate() {
                number(&mut rule.cond, &mut lits);
                let i = i as u32;
                match requirement(&rule.cond) {
                    Req::Lits(ids) => {
                        for id in ids {
                            let slot = id as usize;
                            if idx.lit_rules.len() <= slot {
                                idx.lit_rules.resize(slot + 1, Vec::new());
                            }
                            if let Some(v) = idx.lit_rules.get_mut(slot) {
                                v.push((level as u32, i));
                            }
                        }
                    }
                    Req::Codes(set) => {
                        for c in (200..600).filter(|c| set.contains(*c)) {
                            lv.by_code.entry(c).or_default().push(i);
                        }
                    }
                    Req::Subjects(subjects) => {
                        for s in subjects {
                            match s {
                                Some(s) => lv.by_subject.entry(s).or_default().push(i),
                                None => lv.any_subject.push(i),
                            }
                        }
                    }
                    Req::None => lv.always.push(i),
                }
            }
            idx.levels.push(lv);
        }
        let mut patterns: Vec<(u32, String)> = lits.into_iter().map(|(s, id)| (id, s)).collect();
        patterns.sort();
        idx.lit_rules.resize(patterns.len(), Vec::new());
        // Pattern i of the automaton is literal id i (the ids are 0..n).
        idx.long = patterns
            .iter()
            .filter(|(_, s)| s.len() > INDEXED_LITERAL_BYTES)
            .map(|(id, s)| (*id, memchr::memmem::Finder::new(s.as_bytes()).into_owned()))
            .collect();
        #[cfg(test)]
        {
            idx.literal_texts = patterns.iter().map(|(_, s)| s.clone()).collect();
        }
        let mut group_of: HashMap<&[u8], u32> = HashMap::new();
        for (id, lit) in &patterns {
            let key = lit.as_bytes().get(..INDEXED_LITERAL_BYTES).unwrap_or(lit.as_bytes());
            let next = idx.groups.len() as u32;
            let g = *group_of.entry(key).or_insert(next);
            if g == next {
                idx.groups.push(Vec::new());
            }
            idx.groups[g as usize].push(*id);
        }
        idx.ac = daachorse::DoubleArrayAhoCorasickBuilder::new()
            .match_kind(daachorse::MatchKind::Standard)
            .use_prefilter(false)
            .build_with_values(group_of)
            .ok()
            .map(Literals);
        for (r, rec) in receivers.iter().enumerate().take(n) {
            let r = r as u32;
            for d in &rec.domains {
                let map = match d {
                    HostPat::Exact(_) => &mut idx.domain_exact,
                    HostPat::Suffix(_) => &mut idx.domain_suffix,
                };
                map.entry(host_key(d)).or_insert(r);
            }
            for m in &rec.mx {
                let map = match m {
                    HostPat::Exact(_) => &mut idx.mx_exact,
                    HostPat::Suffix(_) => &mut idx.mx_suffix,
                };
                map.entry(host_key(m)).or_insert(r);
            }
        }
        idx.status_lut = vec![0; CLASSES.len() * usize::from(SUBJECTS) * usize::from(DETAILS)];
        // Filled from the last entry to the first, so the first match stays.
        for (i, e) in statuses.iter().enumerate().rev() {
            for p in &e.key {
                fill_status(&mut idx.status_lut, p, i as u16 + 1);
            }
        }
        idx.reply_lut =
            (0..600u16).map(|c| replies.iter().position(|e| e.key.contains(c)).map_or(0, |i| i as u16 + 1)).collect();
        idx
    }

    /// The receiver for a recipient domain, else an MX host: exact names
    /// first, then the longest matching suffix.
    pub fn receiver(&self, domain: &str, mx: Option<&str>) -> Option<u32> {
        lookup(&self.domain_exact, &self.domain_suffix, domain)
            .or_else(|| mx.and_then(|m| lookup(&self.mx_exact, &self.mx_suffix, m)))
            .map(|(r, _)| r)
    }

    /// The receiver and how it was chosen (for traces).
    pub fn receiver_why(&self, domain: &str, mx: Option<&str>) -> Option<(u32, ReceiverMatch)> {
        let show = |host: &str, exact: bool| if exact { host.to_string() } else { format!("*.{host}") };
        if let Some((r, (host, exact))) = lookup(&self.domain_exact, &self.domain_suffix, domain) {
            return Some((r, ReceiverMatch::Domain(show(host, exact))));
        }
        let (r, (host, exact)) = lookup(&self.mx_exact, &self.mx_suffix, mx?)?;
        Some((r, ReceiverMatch::Mx(show(host, exact))))
    }

    /// Finds the literals of the policy in a folded text; `out` is sorted
    /// and deduplicated. One pass of the automaton over the text, every
    /// pattern that ends at each position collected; then a literal longer
    /// than [`INDEXED_LITERAL_BYTES`] whose prefix was found is searched for
    /// whole.
    pub fn find_literals(&self, folded: &str, out: &mut Vec<u32>) {
        out.clear();
        let Some(Literals(ac)) = &self.ac else { return };
        for m in ac.find_overlapping_iter(folded) {
            if let Some(ids) = self.groups.get(m.value() as usize) {
                out.extend_from_slice(ids);
            }
        }
        out.sort_unstable();
        out.dedup();
        if !self.long.is_empty() {
            out.retain(|id| self.long.get(id).is_none_or(|whole| whole.find(folded.as_bytes()).is_some()));
        }
    }

    /// The candidate rules of a level, in policy order.
    pub fn candidates(
        &self,
        level: usize,
        code: Option<u16>,
        status: Option<Status>,
        found: &[u32],
        out: &mut Vec<u32>,
    ) {
        out.clear();
        let Some(lv) = self.levels.get(level) else { return };
        out.extend_from_slice(&lv.always);
        if let Some(v) = code.and_then(|c| lv.by_code.get(&c)) {
            out.extend_from_slice(v);
        }
        if let Some(s) = status {
            out.extend_from_slice(&lv.any_subject);
            if let Some(v) = lv.by_subject.get(&s.subject) {
                out.extend_from_slice(v);
            }
        }
        for id in found {
            if let Some(v) = self.lit_rules.get(*id as usize) {
                out.extend(v.iter().filter(|(l, _)| *l as usize == level).map(|(_, r)| *r));
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// The phrases found in a folded text, in policy order: a literal
    /// phrase when its literal was found; a `words` phrase when its pieces
    /// are there in order, at most `within` words apart.
    pub fn phrases_in(&self, phrases: &[Phrase], folded: &str, found: &[u32], out: &mut Vec<u32>) {
        out.clear();
        for id in found {
            let Some(candidates) = self.lit_phrases.get(*id as usize) else { continue };
            for &i in candidates {
                let Some(p) = phrases.get(i as usize) else { continue };
                let ok = match &p.pattern {
                    PhraseMatch::Literal { .. } => true,
                    PhraseMatch::Words { pieces, ids, within } => {
                        ids.iter().all(|x| found.binary_search(x).is_ok()) && in_order(folded, pieces, *within)
                    }
                };
                if ok {
                    out.push(i);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// The first status-table entry matching `s`.
    pub fn status_entry(&self, s: Status, table: &[TableEntry<Vec<StatusPat>>]) -> Option<usize> {
        match status_slot(s) {
            Some(slot) => self.status_lut.get(slot).copied().filter(|v| *v > 0).map(|v| usize::from(v) - 1),
            None => table.iter().position(|e| e.key.iter().any(|p| p.matches(s))),
        }
    }

    /// The first reply-table entry matching `code`.
    pub fn reply_entry(&self, code: u16) -> Option<usize> {
        self.reply_lut.get(usize::from(code)).copied().filter(|v| *v > 0).map(|v| usize::from(v) - 1)
    }
}

fn fill_status(lut: &mut [u16], p: &StatusPat, value: u16) {
    let classes: Vec<u8> = p.class.map_or(CLASSES.to_vec(), |c| vec![c]);
    let subjects: Vec<u16> = p.subject.map_or((0..SUBJECTS).collect(), |s| vec![s]);
    let (lo, hi) = p.detail.unwrap_or((0, DETAILS - 1));
    for &class in &classes {
        for &subject in &subjects {
            for detail in lo..=hi.min(DETAILS - 1) {
                if let Some(slot) = status_slot(Status { class, subject, detail })
                    && let Some(v) = lut.get_mut(slot)
                {
                    *v = value;
                }
            }
        }
    }
}

/// How a receiver was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverMatch {
    /// By the recipient's domain, with the pattern that matched.
    Domain(String),
    /// By the MX host, with the pattern that matched.
    Mx(String),
}

fn host_key(h: &HostPat) -> String {
    match h {
        HostPat::Exact(s) | HostPat::Suffix(s) => s.clone(),
    }
}

/// The receiver for `host`, with the key that matched and whether exactly.
fn lookup<'h>(
    exact: &FxHashMap<String, u32>,
    suffix: &FxHashMap<String, u32>,
    host: &'h str,
) -> Option<(u32, (&'h str, bool))> {
    if let Some(r) = exact.get(host) {
        return Some((*r, (host, true)));
    }
    let mut rest = host;
    while let Some((_, parent)) = rest.split_once('.') {
        if let Some(r) = suffix.get(parent) {
            return Some((*r, (parent, false)));
        }
        rest = parent;
    }
    None
}

fn literal_id(s: &str, lits: &mut HashMap<String, u32>) -> u32 {
    let next = lits.len() as u32;
    *lits.entry(s.to_string()).or_insert(next)
}

/// Whether `pieces` occur in `text` in order, none overlapping the one
/// before, with at most `within` words between two.
pub fn in_order(text: &str, pieces: &[String], within: usize) -> bool {
    let Some((first, rest)) = pieces.split_first() else { return false };
    memchr::memmem::find_iter(text.as_bytes(), first.as_bytes())
        .any(|start| follows(text, start + first.len(), rest, within))
}

fn follows(text: &str, from: usize, rest: &[String], within: usize) -> bool {
    let Some((next, more)) = rest.split_first() else { return true };
    let Some(tail) = text.get(from..) else { return false };
    // The earliest occurrence leaves the fewest words between: if it is too
    // far, every later one is too.
    let Some(at) = memchr::memmem::find(tail.as_bytes(), next.as_bytes()) else { return false };
    let between = tail.get(..at).unwrap_or("");
    between.split_whitespace().count() <= within && follows(text, from + at + next.len(), more, within)
}

/// Gives every literal of every text test its id in the automaton.
fn number(c: &mut Cond, lits: &mut HashMap<String, u32>) {
    let id_of = |s: &String, lits: &mut HashMap<String, u32>| {
        let next = lits.len() as u32;
        *lits.entry(s.clone()).or_insert(next)
    };
    match c {
        Cond::All(v) | Cond::Any(v) => v.iter_mut().for_each(|x| number(x, lits)),
        Cond::Not(x) => number(x, lits),
        Cond::Atom(a) => match &mut a.test {
            AtomTest::Contains(strings, ids) => *ids = strings.iter().map(|s| id_of(s, lits)).collect(),
            AtomTest::Regex(r) => r.required_ids = r.required.iter().map(|s| id_of(s, lits)).collect(),
            _ => {}
        },
    }
}

/// A necessary condition for `c`: literals first, then codes, then status subjects.
fn requirement(c: &Cond) -> Req {
    if let Some(l) = lits_req(c) {
        return Req::Lits(l);
    }
    if let Some(s) = codes_req(c) {
        return Req::Codes(Box::new(s));
    }
    if let Some(s) = subjects_req(c) {
        return Req::Subjects(s);
    }
    Req::None
}

fn lits_req(c: &Cond) -> Option<Vec<u32>> {
    match c {
        Cond::Atom(a) => match &a.test {
            AtomTest::Contains(_, ids) => Some(ids.clone()),
            AtomTest::Regex(r) if !r.required_ids.is_empty() => Some(r.required_ids.clone()),
            _ => None,
        },
        Cond::All(v) => v.iter().filter_map(lits_req).min_by_key(Vec::len),
        Cond::Any(v) => v.iter().map(lits_req).collect::<Option<Vec<_>>>().map(|vs| vs.concat()),
        Cond::Not(_) => None,
    }
}

fn codes_req(c: &Cond) -> Option<CodeSet> {
    match c {
        Cond::Atom(a) => match &a.test {
            AtomTest::Code { inner: false, set } => Some(set.clone()),
            _ => None,
        },
        Cond::All(v) => v.iter().filter_map(codes_req).min_by_key(|s| (200..600).filter(|c| s.contains(*c)).count()),
        Cond::Any(v) => v.iter().map(codes_req).collect::<Option<Vec<_>>>().map(|sets| {
            let mut all = CodeSet::new();
            sets.iter().for_each(|s| all.union_with(s));
            all
        }),
        Cond::Not(_) => None,
    }
}

fn subjects_req(c: &Cond) -> Option<Vec<Option<u16>>> {
    match c {
        Cond::Atom(a) => match &a.test {
            AtomTest::Status { inner: false, pats } => Some(pats.iter().map(|p| p.subject).collect()),
            _ => None,
        },
        Cond::All(v) => v.iter().filter_map(subjects_req).min_by_key(Vec::len),
        Cond::Any(v) => v.iter().map(subjects_req).collect::<Option<Vec<_>>>().map(|vs| vs.concat()),
        Cond::Not(_) => None,
    }
}

#[cfg(test)]
mod tests {
    /// The automaton finds exactly the literals a naive search finds: on
    /// every corpus answer, and on texts made of pieces of them cut and
    /// joined anywhere (overlapping literals, literals sharing a prefix).
    #[test]
    fn the_automaton_finds_what_a_naive_search_finds() {
        use crate::compile::patterns::fold_text;
        let policy = crate::load::compile_shipped().policy.expect("the shipped policy compiles");
        let ix = &policy.index;
        let naive = |t: &str| -> Vec<u32> {
            let mut v: Vec<u32> = (0..ix.literal_texts.len() as u32)
                .filter(|&id| t.contains(ix.literal_texts[id as usize].as_str()))
                .collect();
            v.sort_unstable();
            v
        };
        let corpus = include_str!("../../tests/data/responses.jsonl");
        let mut texts: Vec<String> = corpus
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["text"].as_str().map(fold_text))
            .collect();
        texts.extend(["", "a", "to", "no such user", "  "].map(String::from));
        let mut found = Vec::new();
        for t in &texts {
            ix.find_literals(t, &mut found);
            assert_eq!(found, naive(t), "{t:?}");
        }
        let pieces: Vec<String> = texts.iter().flat_map(|t| t.split(' ').map(String::from)).collect();
        proptest::proptest!(proptest::test_runner::Config::with_cases(64), |(picks in proptest::collection::vec((0usize..10_000, 0usize..12, 0usize..12), 0..12))| {
            let mut t = String::new();
            for (k, from, len) in picks {
                let p = &pieces[k % pieces.len()];
                let from = from.min(p.len());
                t.push_str(p.get(from..(from + len).min(p.len())).unwrap_or(p));
                if k % 3 == 0 {
                    t.push(' ');
                }
            }
            let mut found = Vec::new();
            ix.find_literals(&t, &mut found);
            proptest::prop_assert_eq!(found, naive(&t), "{:?}", t);
        });
    }

    use crate::compile::MAX_PATTERN_BYTES;

    /// The size of the literal automaton of a policy: the automaton's build
    /// time grows with it, times the length of its longest literal.
    fn automaton_bytes(text: &str) -> usize {
        let compiled = crate::compile_str("t.rebound", text);
        assert!(!compiled.has_errors(), "{:?}", compiled.diagnostics);
        compiled.policy.as_ref().and_then(|p| p.index.ac.as_ref()).map_or(0, |ac| ac.0.heap_bytes())
    }

    /// A long literal (self-overlapping, the worst case for building the
    /// automaton) costs no more than a short one: past a bounded prefix it is
    /// checked without the automaton.
    #[test]
    fn a_long_literal_does_not_grow_the_automaton() {
        for test in ["contains", "like"] {
            let rule = |n: usize| format!("rule a {{ when text {test} \"{}\" then hard user_unknown }}", "a".repeat(n));
            assert_eq!(automaton_bytes(&rule(200)), automaton_bytes(&rule(MAX_PATTERN_BYTES)), "text {test}");
        }
    }
}
