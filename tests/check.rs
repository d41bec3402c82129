//! Every diagnostic has a fixture in `tests/fixtures/check/`; its rendering
//! (the text a person reads) is an insta snapshot.

use rebound::load::compile_bytes;

#[test]
fn diagnostics() {
    insta::glob!("fixtures/check/*.rebound", |path| {
        let bytes = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let compiled = compile_bytes(&name, &bytes);
        let rendered: String = compiled.diagnostics.iter().map(|d| compiled.sources.render(d)).collect();
        let codes: Vec<&str> = compiled.diagnostics.iter().map(|d| d.code).collect();
        insta::assert_snapshot!(format!("codes: {codes:?}\n\n{rendered}"));
    });
}

/// Each stable code that a fixture is meant to show does show.
#[test]
fn every_fixture_shows_its_code() {
    let dir = crate::root().join("tests/fixtures/check");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let compiled = compile_bytes(&name, &std::fs::read(&path).unwrap());
        if name == "valid" {
            assert!(compiled.diagnostics.is_empty(), "{name}: {:?}", compiled.diagnostics);
            assert!(compiled.policy.is_some());
            continue;
        }
        let expected = expected_code(&name);
        assert!(
            compiled.diagnostics.iter().any(|d| d.code.ends_with(expected)),
            "{name}: expected a `{expected}` diagnostic, got {:?}",
            compiled.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>()
        );
    }
}

/// The code a fixture demonstrates, from its file name.
fn expected_code(name: &str) -> &'static str {
    const CODES: &[&str] = &[
        "unexpected",
        "unterminated",
        "nesting_too_deep",
        "unknown_reason",
        "unknown_scope",
        "unknown_phase",
        "unknown_flag",
        "duplicate_rule",
        "duplicate_receiver",
        "duplicate_reason",
        "duplicate_field",
        "missing_field",
        "invalid_regex",
        "invalid_template",
        "empty_text",
        "impossible_code",
        "impossible_status",
        "invalid_host",
        "invalid_date",
        "strike_blames_sender",
        "duplicate_domain",
        "receiver_unmatchable",
        "overlapping_receivers",
        "shadowed_rule",
        "shadowed_entry",
        "unused_reason",
        "too_many_errors",
        "invalid_utf8",
        "script_syntax",
        "script_index_assignment",
        "unknown_function",
        "stop_word_alone",
        "phrase_without_source",
        "phrase_starts_with_code",
        "phrase_in_two_reasons",
        "crosses_subject",
    ];
    if name.starts_with("syntax_") {
        return "unexpected";
    }
    if let Some(rest) = name.strip_prefix("lifecycle_") {
        const LC: &[(&str, &str)] = &[
            ("unreachable_state", "lifecycle::unreachable_state"),
            ("unknown_state", "lifecycle::unknown_state"),
            ("unknown_trigger", "lifecycle::unknown_trigger"),
            ("invalid_threshold", "lifecycle::invalid_threshold"),
            ("dimension", "lifecycle::dimension"),
            ("unknown_guard", "lifecycle::unknown_guard"),
            ("unknown_reason", "check::unknown_reason"),
            ("duplicate", "lifecycle::duplicate"),
            ("strikes", "lifecycle::strikes"),
            ("reactivation", "lifecycle::reactivation"),
            ("missing_field", "check::missing_field"),
        ];
        return LC
            .iter()
            .find(|(p, _)| rest.starts_with(p))
            .map(|(_, c)| *c)
            .unwrap_or_else(|| panic!("no code for {name}"));
    }
    if name == "redeclared_standard_reason" {
        return "duplicate_reason";
    }
    if name == "script_outcome_invalid" {
        return "strike_blames_sender";
    }
    if name == "script_eval_disabled" {
        return "script_syntax";
    }
    CODES
        .iter()
        .copied()
        .filter(|c| name.starts_with(c))
        .max_by_key(|c| c.len())
        .unwrap_or_else(|| panic!("no code for fixture {name}"))
}

#[test]
fn errors_are_sorted_and_bounded() {
    let text =
        (0..80).rev().map(|i| format!("rule r{i} {{ when code 650 then hard user_unknown }}\n")).collect::<String>();
    let compiled = rebound::compile_str("many.rebound", &text);
    let errors: Vec<_> = compiled.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), rebound::compile::MAX_ERRORS + 1, "the limit, then one that says how many more");
    let starts: Vec<usize> = errors.iter().filter_map(|d| d.span).map(|s| s.start).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "sorted by location");
}
