//! `fmt` golden files: `tests/fixtures/fmt/NAME.in.rebound` formats to
//! `NAME.out.rebound`, the output is a fixed point, and comments survive;
//! and properties of `fmt` over generated policies.

use proptest::prelude::*;
use rebound::fmt::format;

#[test]
fn golden_files() {
    let dir = crate::root().join("tests/fixtures/fmt");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".in.rebound") else {
            continue;
        };
        seen += 1;
        let input = std::fs::read_to_string(&path).unwrap();
        let expected = std::fs::read_to_string(dir.join(format!("{stem}.out.rebound"))).unwrap();
        let out = format(&input).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(out, expected, "{name}: formatted output differs from the golden file");
        assert_eq!(format(&out).unwrap(), out, "{name}: formatting is not idempotent");
        let comments = |t: &str| {
            rebound::syntax::parse(0, t)
                .unwrap()
                .comments
                .into_iter()
                .map(|c| c.text.trim_end().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(comments(&input), comments(&out), "{name}: comments lost or reordered");
    }
    assert!(seen >= 3, "golden files are missing");
}

#[test]
fn shipped_policy_is_formatted() {
    for (rel, text) in rebound::load::shipped_files() {
        assert_eq!(format(text).unwrap(), *text, "policies/{rel} is not in canonical form; run `rebound fmt policies`");
    }
}

#[test]
fn refuses_to_format_what_does_not_parse() {
    assert!(matches!(format("rule a { when }"), Err(rebound::fmt::FmtError::Parse(_))));
}

/// Lines of a valid policy, each of which may take a comment after it.
const LINES: &[&str] = &[
    "receiver gmail {",
    "  title \"Gmail\"",
    "  domains gmail.com,",
    "    googlemail.com",
    "  rule user_unknown {",
    "    when status 5.1.1",
    "      or text contains \"no such user\"",
    "    then hard user_unknown",
    "  }",
    "}",
    "rule grey { when text contains \"greylist\" then defer rate_limited }",
    "statuses {",
    "  5.1.1 -> hard user_unknown",
    "}",
];

/// Whitespace a comment may end with.
fn trailing() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&[" ", "\t", "  ", "\t "][..]), 0..3).prop_map(|v| v.concat())
}

/// A comment as it may be written, `#` and maybe words, then trailing whitespace.
fn comment() -> impl Strategy<Value = (String, String)> {
    (prop::sample::select(&["", " ", " a note", "x", " two  words"][..]), trailing())
        .prop_map(|(body, ws)| (format!("#{body}"), ws))
}

/// [`LINES`] with comments before lines, after lines, and at the end: the
/// text with the comments' trailing whitespace, and without it.
fn commented() -> impl Strategy<Value = (String, String)> {
    let n = LINES.len() + 1;
    (prop::collection::vec(prop::option::of(comment()), n), prop::collection::vec(prop::option::of(comment()), n))
        .prop_map(|(before, after)| {
            let (mut with, mut without) = (String::new(), String::new());
            for (i, line) in LINES.iter().chain(std::iter::once(&"")).enumerate() {
                if let Some(Some((c, ws))) = before.get(i) {
                    with.push_str(&format!("{c}{ws}\n"));
                    without.push_str(&format!("{c}\n"));
                }
                with.push_str(line);
                without.push_str(line);
                if let Some(Some((c, ws))) = after.get(i) {
                    with.push_str(&format!(" {c}{ws}"));
                    without.push_str(&format!(" {c}"));
                }
                with.push('\n');
                without.push('\n');
            }
            (with, without)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A valid policy always formats (never "internal error", exit 3), the
    /// result is a fixed point, and trailing whitespace in comments is
    /// simply dropped: the result is the same as without it.
    #[test]
    fn comments_with_trailing_whitespace((text, plain) in commented()) {
        prop_assert!(rebound::syntax::parse(0, &text).is_ok(), "the generator made an invalid policy:\n{}", text);
        let out = format(&text);
        prop_assert!(out.is_ok(), "{:?} for:\n{}", out, text);
        let out = out.unwrap_or_default();
        prop_assert_eq!(format(&out).ok(), Some(out.clone()), "fmt is not idempotent");
        prop_assert_eq!(format(&plain).ok(), Some(out.clone()), "trailing whitespace changed the layout");
        prop_assert!(out.lines().all(|l| l == l.trim_end()), "trailing whitespace left in:\n{}", out);
    }
}

#[test]
fn trailing_whitespace_in_comments_is_removed() {
    for (input, expected) in [
        ("# \n", "#\n"),
        ("#\t\n", "#\n"),
        ("# note \t \n", "# note\n"),
        ("## heading \n", "## heading\n"),
        (
            "rule a { when code 550 then hard user_unknown } # x \n",
            "rule a {\n  when code 550\n  then hard user_unknown\n}  # x\n",
        ),
    ] {
        assert_eq!(format(input).ok().as_deref(), Some(expected), "{input:?}");
    }
}
