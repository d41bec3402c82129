//! Untrusted policy text: any bytes end in a policy or located diagnostics,
//! never a panic, a stack overflow or a hang.

use proptest::prelude::*;
use rebound::load::compile_bytes;

/// Pieces of the language, so that random files get past the first token.
const TOKENS: &[&str] = &[
    "rule",
    "receiver",
    "reason",
    "statuses",
    "replies",
    "when",
    "then",
    "and",
    "or",
    "not",
    "inner",
    "code",
    "status",
    "text",
    "contains",
    "matches",
    "like",
    "phase",
    "mx",
    "domain",
    "flag",
    "source",
    "observed",
    "note",
    "domains",
    "title",
    "class",
    "scope",
    "on",
    "description",
    "hard",
    "soft",
    "block",
    "defer",
    "ignore",
    "user_unknown",
    "blocked",
    "{",
    "}",
    "(",
    ")",
    ",",
    "->",
    "550",
    "5xx",
    "550..554",
    "650",
    "5.1.1",
    "x.7.*",
    "5.x.1",
    "5.7.606..649",
    "\"user unknown\"",
    "\"{ip} deferred\"",
    "\"{bad}\"",
    "/a(b/",
    "/ok+/",
    "*.google.com",
    "gmail.com",
    "2026-11-01",
    "2026-02-30",
    "# comment\n",
    "\n",
    "\"unterminated",
    "é",
    "\u{0}",
    "rcpt",
    "class_mismatch",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..120).prop_map(|v| v.join(" "))
}

fn check_one(bytes: &[u8]) {
    let compiled = compile_bytes("fuzz.rebound", bytes);
    for d in &compiled.diagnostics {
        // Rendering must not panic either, whatever the span.
        let _ = compiled.sources.render(d);
        let _ = compiled.sources.to_json(d);
    }
    assert_eq!(compiled.policy.is_some(), !compiled.has_errors());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_one(&bytes);
    }

    #[test]
    fn token_soup(text in soup()) {
        check_one(text.as_bytes());
        if let Ok(out) = rebound::fmt::format(&text) {
            prop_assert_eq!(rebound::fmt::format(&out).ok(), Some(out.clone()), "fmt is not idempotent");
        }
    }
}

#[test]
fn deep_nesting_is_a_diagnostic() {
    for depth in [65, 1_000, 100_000] {
        let text =
            format!("rule a {{ when {}code 550{} then hard user_unknown }}", "(".repeat(depth), ")".repeat(depth));
        let compiled = compile_bytes("deep.rebound", text.as_bytes());
        assert!(compiled.diagnostics.iter().any(|d| d.code == "rebound::syntax::nesting_too_deep"));
    }
}

#[test]
fn long_chains_and_many_nots_do_not_overflow() {
    let chain = vec!["code 550"; 20_000].join(" or ");
    let text = format!(
        "rule a {{ when {chain} then hard user_unknown }}\nrule b {{ when {}code 550 then hard user_unknown }}",
        "not ".repeat(20_000)
    );
    check_one(text.as_bytes());
}

#[test]
fn huge_file_is_refused() {
    let text = "# padding\n".repeat(rebound::syntax::MAX_FILE_BYTES / 10 + 1);
    let compiled = compile_bytes("huge.rebound", text.as_bytes());
    assert!(compiled.diagnostics.iter().any(|d| d.code == "rebound::load::file_too_large"));
}

#[test]
fn big_valid_file_compiles() {
    let text: String = (0..5_000)
        .map(|i| format!("rule r{i} {{ when code 550 and text contains \"w{i}x\" then hard user_unknown }}\n"))
        .collect();
    let compiled = compile_bytes("big.rebound", text.as_bytes());
    assert!(!compiled.has_errors());
}
