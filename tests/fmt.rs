//! `fmt` golden files: `tests/fixtures/fmt/NAME.in.rebound` formats to
//! `NAME.out.rebound`, the output is a fixed point, and comments survive.

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
