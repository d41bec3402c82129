//! `fmt` keeps what a policy means: for the shipped policy, every whole
//! ```rebound block of the docs, the fmt fixtures and generated policies,
//! formatting succeeds, formats again to itself, and the formatted policy
//! compiles to the same thing.
//!
//! "The same thing" is [`meaning`]: everything the compiled policy holds
//! except where it was written (rules in order with their receiver,
//! compiled condition, outcome, scripts and provenance; tables; receivers;
//! reasons; the lifecycle; examples and scenarios), and the verdicts of a
//! fixed set of events. `fmt` checks its own output against a re-parse;
//! this checks it from the other end, through the compiler, with nothing
//! of the formatter's.

use proptest::prelude::*;
use rebound::Engine;
use rebound::event::Event;
use rebound::fmt::format;
use rebound::policy::{Cond, Policy};

/// The engine the policies are compiled with: the host predicates the docs call.
fn engine() -> Engine {
    let mut engine = Engine::new();
    for name in crate::docs::PREDICATES {
        engine.register_predicate(name, |_| false);
    }
    engine
}

/// A compiled condition without its source text and spans.
fn cond(c: &Cond) -> String {
    use rebound::policy::AtomTest as A;
    let all = |v: &[Cond]| v.iter().map(cond).collect::<Vec<_>>().join(", ");
    match c {
        Cond::All(v) => format!("all({})", all(v)),
        Cond::Any(v) => format!("any({})", all(v)),
        Cond::Not(x) => format!("not({})", cond(x)),
        Cond::Atom(a) => match &a.test {
            A::Script(s) => format!("script({:?})", s.source),
            A::Regex(r) => format!("regex({:?}, {:?})", r.regex.as_str(), r.required),
            A::Call(name, _) => format!("call({name})"),
            other => format!("{other:?}"),
        },
    }
}

/// What `policy` means, as lines, without any location.
fn meaning(policy: &Policy) -> Vec<String> {
    let mut m: Vec<String> = policy.reasons().iter().map(|r| format!("{r:?}")).collect();
    for r in policy.all_rules() {
        let script = r.then_script.as_ref().map(|s| &s.source);
        m.push(format!(
            "rule {}{} in {:?}: when {} then {:?} / {script:?} {:?}",
            r.id,
            if r.fallback { " fallback" } else { "" },
            r.receiver,
            cond(&r.cond),
            r.outcome,
            r.provenance
        ));
    }
    m.extend(policy.status_table().iter().map(|e| format!("status {:?} -> {:?}", e.key, e.outcome)));
    m.extend(policy.reply_table().iter().map(|e| format!("reply {:?} -> {:?}", e.key, e.outcome)));
    for r in policy.receivers() {
        let hosts = |v: &[_]| v.iter().map(|h: &rebound::compile::patterns::HostPat| h.to_string()).collect::<Vec<_>>();
        m.push(format!("receiver {} {:?} {:?} {:?}", r.name, r.title, hosts(&r.domains), hosts(&r.mx)));
    }
    if let Some(l) = policy.lifecycle() {
        m.push(format!("states {:?}", l.states));
        for t in &l.transitions {
            let guards: Vec<String> = t
                .guards
                .iter()
                .map(|g| match g {
                    rebound::lifecycle::model::Guard::Script(s) => format!("script({:?})", s.source),
                    other => format!("{other:?}"),
                })
                .collect();
            m.push(format!("transition {} {:?} {guards:?} {:?} {}", t.name, t.trigger, t.changes, t.reset_strikes));
        }
        for s in &l.strikes {
            m.push(format!(
                "strikes {} {:?} {:?} {:?} {:?} {:?}",
                s.name, s.count, s.threshold, s.weights, s.receiver, s.reset_on
            ));
        }
        m.extend(l.reactivation.iter().map(|r| format!("reactivation {} {} {:?}", r.allow, r.name, r.tests)));
        m.extend(l.eligible.iter().map(|e| format!("eligible {} {:?}", e.kind, e.tests)));
    }
    for e in policy.examples() {
        m.push(format!(
            "example {} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            e.name, e.answer, e.recipient, e.mx, e.phase, e.code, e.status, e.expect
        ));
    }
    m.extend(
        policy
            .scenarios()
            .iter()
            .map(|s| format!("scenario {} {:?} {:?} {:?}", s.name, s.recipient, s.events, s.expect)),
    );
    m.extend(verdicts(policy));
    m
}

/// Answers that reach many kinds of rule, for [`verdicts`].
const ANSWERS: &[(&str, Option<u16>, Option<&str>, &str)] = &[
    ("a@gmail.com", Some(550), Some("5.1.1"), "The email account that you tried to reach does not exist"),
    ("b@example.org", Some(550), None, "user unknown"),
    ("c@yahoo.com", Some(421), Some("4.7.0"), "[TSS04] Messages from 192.0.2.25 temporarily deferred"),
    ("d@example.com", Some(552), Some("5.2.2"), "Mailbox full: quota exceeded"),
    ("e@googlemail.com", Some(451), Some("4.2.0"), "greylisted, say \"hi\" later"),
    ("f@outlook.com", Some(550), Some("5.7.1"), "Service unavailable; Client host blocked using Spamhaus"),
    ("g@example.net", None, None, "no such user here"),
];

/// The verdict of each of [`ANSWERS`] and of the events of `tests/data/explain.jsonl`.
fn verdicts(policy: &Policy) -> Vec<String> {
    let events = std::fs::read_to_string(crate::root().join("tests/data/explain.jsonl")).unwrap();
    let mut out = Vec::new();
    let mut push = |e: &Event| {
        let v = policy.classify(e);
        out.push(format!("verdict {:?} {} {:?} {:?} {:?}", v.class, v.reason, v.scope, v.receiver, v.rule));
    };
    for (rcpt, code, status, text) in ANSWERS {
        push(&Event::bounce(rcpt, *code, *status, text));
    }
    for line in events.lines() {
        push(&Event::parse(line).unwrap());
    }
    out
}

/// The meaning of `files` (name, text) compiled together, or the errors.
fn compile(engine: &Engine, files: &[(String, String)]) -> Result<Vec<String>, String> {
    let mut sources = rebound::Sources::new();
    for (name, text) in files {
        sources.add(name.clone(), name.clone(), text.clone());
    }
    let c = rebound::compile_with(sources, Vec::new(), engine.host());
    match &c.policy {
        Some(p) => Ok(meaning(p)),
        None => Err(c.diagnostics.iter().filter(|d| d.is_error()).map(|d| c.sources.render(d)).collect()),
    }
}

/// The meaning of a snippet compiled as a layer on the shipped policy (a
/// whole lifecycle then replaces the shipped one); `None` when it does not compile.
fn over_shipped(engine: &Engine, body: &str) -> Option<Vec<String>> {
    let mut sources = rebound::Sources::new();
    sources.begin_layer("shipped");
    for (rel, text) in rebound::load::shipped_files() {
        sources.add(format!("policies/{rel}"), *rel, text.to_string());
    }
    sources.begin_layer("snippet");
    let first = body.split_whitespace().next().unwrap_or("");
    let layer = if first == "lifecycle" { format!("replace {body}") } else { body.to_string() };
    sources.add("snippet.rebound", "snippet.rebound", layer);
    rebound::compile_with(sources, Vec::new(), engine.host()).policy.as_ref().map(meaning)
}

/// The meaning of `files` compiled together; `None` when they do not compile.
fn compiled(engine: &Engine, files: &[(String, String)]) -> Option<Vec<String>> {
    compile(engine, files).ok()
}

/// `text` formats, formats again to itself, and the result is what is returned.
fn formats(name: &str, text: &str) -> Result<String, String> {
    let out = format(text).map_err(|e| format!("{name}: {e:?}"))?;
    match format(&out) {
        Ok(again) if again == out => Ok(out),
        Ok(again) => {
            let diff = similar::TextDiff::from_lines(&out, &again).unified_diff().header("once", "twice").to_string();
            Err(format!("{name}: not idempotent:\n{diff}\ninput:\n{text}"))
        }
        Err(e) => Err(format!("{name}: the output does not format: {e:?}\n{out}")),
    }
}

#[test]
fn the_shipped_policy_keeps_its_meaning() {
    let files = rebound::load::policy_files(&crate::root().join("policies")).unwrap();
    assert!(files.len() > 3, "{files:?}");
    let read: Vec<(String, String)> =
        files.iter().map(|(path, rel)| (rel.clone(), std::fs::read_to_string(path).unwrap())).collect();
    let formatted: Vec<(String, String)> =
        read.iter().map(|(rel, text)| (rel.clone(), formats(rel, text).unwrap())).collect();
    let engine = engine();
    let before = compiled(&engine, &read).expect("the shipped policy compiles");
    assert_eq!(compiled(&engine, &formatted), Some(before));
}

/// The docs' blocks, each compiled alone or, when it names shipped rules or
/// receivers, beside the shipped policy (as tests/docs.rs does).
#[test]
fn every_docs_block_keeps_its_meaning() {
    let engine = engine();
    let mut checked = 0;
    for (path, line, body) in crate::docs::whole_items() {
        let at = format!("{}:{line}", path.display());
        let out = formats(&at, &body).unwrap();
        let alone = |t: &str| compiled(&engine, &[("snippet.rebound".into(), t.to_string())]);
        let (before, after) = match alone(&body) {
            Some(m) => (m, alone(&out)),
            None => (
                over_shipped(&engine, &body).unwrap_or_else(|| panic!("{at}: does not compile on the shipped policy")),
                over_shipped(&engine, &out),
            ),
        };
        assert_eq!(after.as_ref(), Some(&before), "{at}: formatting changed the meaning:\n{out}");
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} blocks");
}

#[test]
fn the_fmt_fixtures_keep_their_meaning() {
    let engine = engine();
    let dir = crate::root().join("tests/fixtures/fmt");
    let mut compiling = 0;
    for (path, rel) in rebound::load::policy_files(&dir).unwrap() {
        if !rel.ends_with(".in.rebound") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let out = formats(&rel, &text).unwrap();
        if let Some(before) = compiled(&engine, &[(rel.clone(), text)]) {
            assert_eq!(compiled(&engine, &[(rel.clone(), out)]), Some(before), "{rel}");
            compiling += 1;
        }
    }
    assert!(compiling >= 2, "the fixtures with scripts and list comments compile");
}

// ---------------------------------------------------------------------------
// Generated policies: tokens of a valid policy, with random whitespace and
// comments in every gap between two tokens.

/// A comma-separated list of 1 to `max` of `items`, as tokens.
fn list(items: &'static [&'static str], max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::sample::subsequence(items, 1..=max.min(items.len())).prop_map(|v| {
        let mut out = Vec::new();
        for (i, x) in v.into_iter().enumerate() {
            if i > 0 {
                out.push(",".to_string());
            }
            out.push(x.to_string());
        }
        out
    })
}

/// The tokens of `s`, split at spaces (so no string in it may hold one).
fn words(s: &str) -> Vec<String> {
    s.split(' ').map(str::to_string).collect()
}

/// `head` then `rest`.
fn with(head: &str, rest: Vec<String>) -> Vec<String> {
    let mut v = words(head);
    v.extend(rest);
    v
}

/// Scripts as a person writes them: with `\"` inside a quoted script, and
/// `"` inside a triple-quoted one.
const SCRIPTS: &[&str] = &[
    r#""ctx.code == 550""#,
    r#""ctx.extra.plan == \"enterprise\"""#,
    r#""ctx.text.contains(\"a\\\\b\") || ctx.extra.tag == \"\"""#,
    r#""""ctx.text != "x" """"#,
    "\"\"\"\n  let n = ctx.code;\n  n >= 500\n\"\"\"",
];

/// A test of a condition.
fn test() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        list(&["550", "551", "5xx", "421", "550..554"], 3).prop_map(|l| with("code", l)),
        list(&["5.1.1", "5.1.10", "4.2.2", "x.7.*", "5.7.606..649"], 3).prop_map(|l| with("status", l)),
        Just(words("inner code 451")),
        list(&[r#""user unknown""#, r#""no such user""#, r#""say \"hi\"""#, r#""tab\there""#], 3)
            .prop_map(|l| with("text contains", l)),
        Just(with("text like", vec![r#""Messages from {ip} temporarily deferred""#.into()])),
        Just(vec!["text".into(), "matches".into(), "/quota (exceeded|full)/".into()]),
        list(&["rcpt", "data", "mail"], 2).prop_map(|l| with("phase", l)),
        list(&["*.google.com", "mx.example.org", "\"mx.example.net\""], 2).prop_map(|l| with("mx", l)),
        list(&["gmail.com", "example.org", "\"example.net\""], 2).prop_map(|l| with("domain", l)),
        Just(words("flag class_mismatch")),
        prop::sample::select(SCRIPTS).prop_map(|s| vec!["script".to_string(), s.to_string()]),
        Just(words("call is_vip")),
    ]
}

/// A condition: tests under `and`, `or`, `not` and parentheses.
fn condition() -> impl Strategy<Value = Vec<String>> {
    test().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| join(v, "or")),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| join(v, "and")),
            inner.clone().prop_map(|t| with("not", t)),
            inner.prop_map(|t| {
                let mut v = vec!["(".to_string()];
                v.extend(t);
                v.push(")".into());
                v
            }),
        ]
    })
}

fn join(parts: Vec<Vec<String>>, op: &str) -> Vec<String> {
    let mut v = vec!["(".to_string()];
    for (i, p) in parts.into_iter().enumerate() {
        if i > 0 {
            v.push(op.to_string());
        }
        v.extend(p);
    }
    v.push(")".into());
    v
}

/// Outcomes, as tokens.
const OUTCOMES: &[&[&str]] = &[
    &["hard", "user_unknown"],
    &["mailbox_full"],
    &["soft", "mailbox_full", "scope", "recipient"],
    &["defer", "rate_limited", "scope", "network"],
    &["block", "blocked"],
    &["script", r#""\"soft mailbox_full\"""#],
    &["script", "\"\"\"if ctx.code == 550 { \"hard user_unknown\" } else { () }\"\"\""],
];

/// A rule with the id `id`.
fn rule(id: String) -> impl Strategy<Value = Vec<String>> {
    (condition(), prop::sample::select(OUTCOMES), any::<bool>(), prop::bool::weighted(0.2)).prop_map(
        move |(c, then, note, fallback)| {
            let mut v = vec!["rule".to_string(), id.clone()];
            if fallback {
                v.push("fallback".into());
            }
            v.extend(["{".to_string(), "when".into()]);
            v.extend(c);
            v.push("then".into());
            v.extend(then.iter().map(|t| t.to_string()));
            if note {
                v.extend(["note".to_string(), r#""a \"quoted\" note""#.into(), "observed".into(), "2026-11-01".into()]);
            }
            v.push("}".into());
            v
        },
    )
}

/// A receiver `r0` with its own rules.
fn receiver() -> impl Strategy<Value = Vec<String>> {
    (
        list(&["gmail.com", "googlemail.com", "*.gmail.example", "\"example-mail.com\""], 4),
        list(&["*.google.com", "aspmx.l.google.com"], 2),
        prop::collection::vec(any::<()>(), 0..3),
    )
        .prop_flat_map(|(domains, mx, n)| {
            let rules: Vec<_> = (0..n.len()).map(|i| rule(format!("r0_{i}"))).collect();
            (Just(domains), Just(mx), rules)
        })
        .prop_map(|(domains, mx, rules)| {
            let mut v = words("receiver r0 { title");
            v.extend([r#""Gmail \"and\" more""#.to_string(), "domains".into()]);
            v.extend(domains);
            v.push("mx".into());
            v.extend(mx);
            v.extend(rules.into_iter().flatten());
            v.push("}".into());
            v
        })
}

/// Guards of a transition triggered by a hard bounce.
fn guard() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        list(&["user_unknown", "host_unknown", "has_moved"], 3).prop_map(|l| with("reason", l)),
        Just(words("receiver r0")),
        prop::sample::select(SCRIPTS).prop_map(|s| vec!["script".to_string(), s.to_string()]),
    ]
}

fn lifecycle() -> impl Strategy<Value = Vec<String>> {
    (prop::collection::vec(guard(), 0..3), list(&["soft", "hard"], 2), list(&["delivered", "subscribe"], 2)).prop_map(
        |(guards, count, reset)| {
            let mut v = words("lifecycle { states delivery : active , error states consent : single , opted_out");
            v.extend(words("transition hard_bounce { on hard"));
            for (i, g) in guards.into_iter().enumerate() {
                v.push(if i == 0 { "if" } else { "and" }.into());
                v.extend(g);
            }
            v.extend(words("delivery active -> error }"));
            v.extend(words("transition unsubscribe { on unsubscribe consent * -> opted_out }"));
            v.extend(with("strikes s { count", count));
            v.extend(words("consecutive 4 campaigns weight mailbox_full 0.5 , suspend 2 reset on"));
            v.extend(reset);
            v.push("}".into());
            v.extend(words("transition struck { on strikes delivery active -> error reset strikes }"));
            v.extend(words("reactivation { refuse dead when reason user_unknown , host_unknown allow cool when via strikes and after 30d }"));
            v.extend(words("eligible marketing when delivery active and consent single , opted_out"));
            v.extend(words("eligible transactional when consent *"));
            v.push("}".into());
            v
        },
    )
}

/// The tokens of a whole policy.
fn policy() -> impl Strategy<Value = Vec<String>> {
    (
        prop::collection::vec(any::<()>(), 1..4),
        receiver(),
        prop::option::of(lifecycle()),
        list(&["5.1.1", "5.1.10", "x.7.*"], 3),
    )
        .prop_flat_map(|(n, receiver, lifecycle, statuses)| {
            let rules: Vec<_> = (0..n.len()).map(|i| rule(format!("g{i}"))).collect();
            (rules, Just(receiver), Just(lifecycle), Just(statuses))
        })
        .prop_map(|(rules, receiver, lifecycle, statuses)| {
            let mut v: Vec<String> = rules.into_iter().flatten().collect();
            v.extend(receiver);
            v.extend(with("statuses {", statuses));
            v.extend(words("-> hard user_unknown 4.2.2 -> defer rate_limited }"));
            v.extend(words("replies { 421 , 450 -> defer rate_limited }"));
            v.extend(lifecycle.unwrap_or_default());
            v
        })
}

/// What may stand between two tokens: mostly a space, sometimes line
/// breaks, a comment after the token, or a comment on a line of its own.
fn gap() -> impl Strategy<Value = &'static str> {
    prop::sample::select(
        &[" ", " ", " ", " ", " ", " ", "\n  ", "\n\n", "  # after\n", " #\n", "\n# own line\n", "\n  ## two\n  "][..],
    )
}

/// A generated policy's text, with a comment maybe before and after it.
fn generated() -> impl Strategy<Value = String> {
    policy()
        .prop_flat_map(|tokens| {
            let n = tokens.len();
            (Just(tokens), prop::collection::vec(gap(), n + 1))
        })
        .prop_map(|(tokens, gaps)| {
            let mut text = String::new();
            for (t, g) in tokens.iter().zip(&gaps) {
                text.push_str(t);
                text.push_str(g);
            }
            if gaps.last().is_some_and(|g| g.contains('#')) {
                text.push_str("# the end\n");
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// A generated policy formats, formats again to itself, and compiles to
    /// the same policy as before; every comment is kept.
    #[test]
    fn generated_policies_keep_their_meaning(text in generated()) {
        let engine = engine();
        let before = compile(&engine, &[("g.rebound".into(), text.clone())]);
        prop_assert!(before.is_ok(), "the generator made a policy that does not compile:\n{}", before.err().unwrap_or_default());
        let before = before.ok();
        let out = formats("g.rebound", &text);
        prop_assert!(out.is_ok(), "{}\nfor:\n{}", out.clone().err().unwrap_or_default(), text);
        let out = out.unwrap_or_default();
        prop_assert_eq!(compiled(&engine, &[("g.rebound".into(), out.clone())]), before, "meaning changed:\n{}", out);
        let comments = |t: &str| rebound::syntax::parse(0, t).map(|f| f.comments.len()).unwrap_or(0);
        prop_assert_eq!(comments(&out), comments(&text));
    }
}
