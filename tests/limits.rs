//! Each named limit of the compiler, crossed.

use rebound::compile::{MAX_DNF_TERMS, MAX_PATTERN_BYTES, MAX_SHADOW_CHECKS};
use rebound::compile_str;
use rebound::eval::index::INDEXED_LITERAL_BYTES;
use rebound::event::Event;

fn codes(text: &str) -> Vec<&'static str> {
    compile_str("limits.rebound", text).diagnostics.iter().map(|d| d.code).collect()
}

#[test]
fn pattern_length() {
    let ok = "a".repeat(MAX_PATTERN_BYTES);
    let long = "a".repeat(MAX_PATTERN_BYTES + 1);
    assert!(codes(&format!("rule a {{ when text contains \"{ok}\" then hard user_unknown }}")).is_empty());
    assert_eq!(
        codes(&format!("rule a {{ when text contains \"{long}\" then hard user_unknown }}")),
        ["rebound::check::invalid_regex"]
    );
}

#[test]
fn regex_size() {
    // Small to write, far over the compiled size limit.
    let text = r"rule a { when text matches /(\w{100}){100}\w{100}/ then hard user_unknown }";
    let compiled = compile_str("limits.rebound", text);
    let d = &compiled.diagnostics[0];
    assert_eq!(d.code, "rebound::check::invalid_regex");
    assert!(d.message.contains("too large"), "{}", d.message);
}

#[test]
fn dnf_size_skips_the_shadowing_lint() {
    // 2^9 = 512 conjunctions > MAX_DNF_TERMS: the later rule is shadowed, but the lint does not guess.
    const { assert!(512 > MAX_DNF_TERMS) };
    let big = (0..9).map(|i| format!("(code 55{} or status 5.1.{i})", i % 5)).collect::<Vec<_>>().join(" and ");
    let text = format!(
        "rule a {{ when code 5xx or status 5.*.* then hard user_unknown }}\nrule b {{ when {big} then hard user_unknown }}"
    );
    assert!(codes(&text).is_empty());
    let small = (0..3).map(|i| format!("(code 55{i} or status 5.1.{i})")).collect::<Vec<_>>().join(" and ");
    let text = format!(
        "rule a {{ when code 5xx or status 5.*.* then hard user_unknown }}\nrule b {{ when {small} then hard user_unknown }}"
    );
    assert_eq!(codes(&text), ["rebound::lint::shadowed_rule"]);
}

#[test]
fn shadow_check_budget() {
    // Rules without text compare pairwise; past the budget the lint stops for the level.
    let policy = |n: usize| {
        let mut text: String = (0..n)
            .map(|i| {
                // `undefined` belongs to every subject: only the shadowing lint speaks.
                format!("rule r{i} {{ when status 5.{}.{} and phase rcpt then soft undefined }}\n", i % 8, i / 8)
            })
            .collect();
        text.push_str("rule wide { when status 5.*.* then soft undefined }\n");
        text.push_str("rule narrow { when status 5.1.999 and phase data then soft undefined }\n");
        codes(&text)
    };
    assert_eq!(policy(10), ["rebound::lint::shadowed_rule"]);
    let n = (2.0 * MAX_SHADOW_CHECKS as f64).sqrt() as usize + 100;
    assert!(policy(n).is_empty(), "past the budget the lint reports nothing rather than guess");
}

/// Past `INDEXED_LITERAL_BYTES` only a literal's prefix is in the automaton
/// (so that building it stays linear in the literal's length); the literal
/// must still match exactly, folded like the text, up to `MAX_PATTERN_BYTES`.
#[test]
fn long_literals_match_exactly() {
    let k = INDEXED_LITERAL_BYTES;
    // `contains`: the literal is n bytes.
    for n in [k - 1, k, k + 1, MAX_PATTERN_BYTES] {
        let run = "x".repeat(n - 3);
        literal_matches_exactly(&format!("contains \"{run} Yz\""), &run);
    }
    // `like`: its longest word, n bytes, is the literal the automaton looks for.
    for n in [k - 1, k, k + 1, MAX_PATTERN_BYTES - 10] {
        let run = "x".repeat(n);
        literal_matches_exactly(&format!("like \"{run} Yz {{num}}\""), &run);
    }
}

fn literal_matches_exactly(test: &str, run: &str) {
    let text = format!("rule long {{ when text {test} then hard user_unknown }}");
    let compiled = compile_str("long.rebound", &text);
    let Some(policy) = compiled.policy else { panic!("{}: {:?}", run.len(), compiled.diagnostics) };
    let answers = [
        (format!("550 {} \n  YZ 42 done", run.to_uppercase()), Some("long")),
        (format!("550 {run} y 42"), None),
        (format!("550 {} yz 42", run.get(1..).unwrap_or_default()), None),
    ];
    for (answer, want) in answers {
        let event = Event::bounce("pat@example.org", Some(550), None, &answer);
        let (fast, traced) = (policy.classify(&event).rule, policy.classify_traced(&event).0.rule);
        let what = format!("`text {}…` with {} x's", test.get(..12).unwrap_or(test), run.len());
        assert_eq!(fast, traced, "{what}: the index and the plain loop disagree");
        assert_eq!(fast, want, "{what} on {:?}…", answer.get(..12));
    }
}
