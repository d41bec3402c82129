//! Normalisation, table-driven: `tests/data/normalize.jsonl` holds real
//! answers (from the corpus) with what each step must find; and a snapshot
//! of the normalised form of every answer in the corpus.

use rebound::eval::normalize::{Raw, normalize};
use rebound::model::Phase;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    code: Option<u16>,
    status: Option<String>,
    text: String,
    /// The event's `action` (a DSN's `failed`, `delayed`, …).
    #[serde(default)]
    action: Option<String>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    code: Option<u16>,
    status: Option<String>,
    #[serde(default)]
    inner_code: Option<u16>,
    #[serde(default)]
    inner_status: Option<String>,
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    flags: Vec<String>,
    text: String,
}

#[test]
fn normalisation_table() {
    let data = std::fs::read_to_string(crate::root().join("tests/data/normalize.jsonl")).unwrap();
    let mut n = 0;
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let case: Case = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let raw = Raw {
            code: case.code,
            status: case.status.as_deref(),
            text: &case.text,
            mx: None,
            phase: None,
            domain: "example.com",
            action: case.action.as_deref(),
        };
        let r = normalize(&raw);
        let e = &case.expect;
        let name = &case.name;
        assert_eq!(r.code, e.code, "{name}: code");
        assert_eq!(r.status.map(|s| s.to_string()), e.status, "{name}: status");
        assert_eq!(r.inner_code, e.inner_code, "{name}: inner code");
        assert_eq!(r.inner_status.map(|s| s.to_string()), e.inner_status, "{name}: inner status");
        assert_eq!(r.phase.map(|p: Phase| p.to_string()), e.phase, "{name}: phase");
        let flags: Vec<String> = r.flags.list().iter().map(|f| f.to_string()).collect();
        assert_eq!(flags, e.flags, "{name}: flags");
        assert_eq!(r.text, e.text, "{name}: text");
        n += 1;
    }
    assert!(n >= 20, "the table is too small");
}

#[test]
fn every_corpus_answer_snapshot() {
    let data = std::fs::read_to_string(crate::root().join("tests/data/responses.jsonl")).unwrap();
    let mut out = String::new();
    for line in data.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let status = v["status"].as_str();
        let raw = Raw {
            code: v["code"].as_u64().map(|c| c as u16),
            status,
            text: v["text"].as_str().unwrap_or(""),
            mx: v["mx"].as_str(),
            phase: None,
            domain: v["recipient"].as_str().and_then(|r| r.rsplit_once('@')).map_or("", |x| x.1),
            action: None,
        };
        let r = normalize(&raw);
        out.push_str(&format!(
            "{}: code={:?} status={} inner={:?}/{} phase={} flags={:?}\n    {}\n",
            v["id"].as_str().unwrap_or("?"),
            r.code,
            r.status.map_or("-".into(), |s| s.to_string()),
            r.inner_code,
            r.inner_status.map_or("-".into(), |s| s.to_string()),
            r.phase.map_or("-".into(), |p| p.to_string()),
            r.flags.list().iter().map(|f| f.as_str()).collect::<Vec<_>>(),
            r.text
        ));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn status_search_skips_addresses_versions_and_dates() {
    use rebound::eval::normalize::find_status;
    assert_eq!(find_status("client [192.0.2.1] blocked"), None);
    assert_eq!(find_status("Postfix v5.3.1 here"), None);
    assert_eq!(find_status("on 5.11.2023 it failed"), None);
    assert_eq!(find_status("sorry (#5.1.1 - chkusr)").map(|s| s.to_string()), Some("5.1.1".into()));
    assert_eq!(find_status("status 4.7.26.").map(|s| s.to_string()), Some("4.7.26".into()));
}

mod paths_agree {
    use proptest::prelude::*;
    use rebound::eval::normalize::{Raw, normalize, normalize_full};

    const PIECES: &[&str] = &[
        "550",
        "550-",
        "5.1.1",
        "4.2.0",
        "user unknown",
        " ",
        "  ",
        "\n",
        "host mx.example.org[192.0.2.1] said:",
        "(in reply to RCPT TO command)",
        "->",
        "451 4.2.0",
        "(554.30)",
        "30 ",
        "#",
        "##",
        "smtp;",
        "Diagnostic-Code:",
        "v5.3.1",
        "192.0.2.1",
        "https://x.example/a?b=1",
        "Remote host said:",
        "É",
        "ü",
        "[TSS04]",
        "said",
        ":",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        /// The short path of normalisation gives what the full path gives.
        #[test]
        fn short_and_full_paths_agree(parts in prop::collection::vec(prop::sample::select(PIECES), 0..12),
                                      code in prop::option::of(prop::sample::select(&[421u16, 450, 550, 554][..])),
                                      status in prop::option::of(prop::sample::select(&["5.1.1", "4.7.0", "30"][..]))) {
            let text = parts.concat();
            let action = Some("failed");
            let raw = Raw { code, status, text: &text, mx: Some("MX.Example.org."), phase: None, domain: "Example.ORG", action };
            prop_assert_eq!(normalize(&raw), normalize_full(&raw));
        }
    }

    #[test]
    fn corpus_paths_agree() {
        let data = std::fs::read_to_string(crate::root().join("tests/data/responses.jsonl")).unwrap();
        for line in data.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let raw = Raw {
                code: v["code"].as_u64().map(|c| c as u16),
                status: v["status"].as_str(),
                text: v["text"].as_str().unwrap_or(""),
                mx: v["mx"].as_str(),
                phase: None,
                domain: "example.com",
                action: None,
            };
            assert_eq!(normalize(&raw), normalize_full(&raw), "{}", v["id"]);
        }
    }
}

/// `\b` in a policy's regex is an ASCII word boundary: it finds ASCII words
/// in texts with non-ASCII letters around them, does not find them inside a
/// longer word, and an escaped backslash before `b` stays a literal.
#[test]
fn regex_word_boundaries_are_ascii() {
    let src = "rule spf { when text matches /\\bspf\\b/ then block auth_failure }\n\
               rule slash_b { when text matches /x\\\\by/ then block syntax_error }\n";
    let policy = rebound::load::compile_bytes("b.rebound", src.as_bytes()).policy.expect("compiles");
    let reason = |text: &str| {
        let line = serde_json::json!({"recipient": "a@example.org", "code": 550, "text": text}).to_string();
        policy.classify(&rebound::event::Event::parse(&line).expect("event")).reason.to_string()
    };
    assert_eq!(reason("550 SPF check failed"), "auth_failure");
    assert_eq!(reason("送信元の spf 認証に失敗しました"), "auth_failure");
    assert_eq!(reason("Prüfung:spf/fehlgeschlagen"), "auth_failure");
    assert_ne!(reason("550 xspfx"), "auth_failure");
    assert_eq!(reason("550 x\\by"), "syntax_error");
}
