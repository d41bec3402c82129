//! The shipped policy compiles without a single diagnostic.

#[test]
fn shipped_policy_is_clean() {
    let compiled = rebound::load::compile_shipped();
    let rendered: String = compiled.diagnostics.iter().map(|d| compiled.sources.render(d)).collect();
    assert!(compiled.diagnostics.is_empty(), "{rendered}");
    let policy = compiled.policy.unwrap();
    for name in ["gmail", "yahoo", "microsoft"] {
        assert!(policy.receivers().iter().any(|r| r.name == name), "no receiver {name}");
    }
    assert!(!policy.status_table().is_empty() && !policy.reply_table().is_empty());
    assert_eq!(policy.version().len(), 16);
}

#[test]
fn version_is_a_content_hash() {
    let a = rebound::compile_str("a.rebound", "rule a { when code 550 then hard user_unknown }");
    let b = rebound::compile_str("a.rebound", "rule a { when code 551 then hard has_moved }");
    let a2 = rebound::compile_str("a.rebound", "rule a { when code 550 then hard user_unknown }");
    let (a, b, a2) = (a.policy.unwrap(), b.policy.unwrap(), a2.policy.unwrap());
    assert_ne!(a.version(), b.version());
    assert_eq!(a.version(), a2.version());
}

#[test]
fn directory_loads_in_path_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("receivers")).unwrap();
    std::fs::write(dir.path().join("b.rebound"), "rule second { when code 551 then hard has_moved }").unwrap();
    std::fs::write(dir.path().join("a.rebound"), "rule first { when code 550 then hard user_unknown }").unwrap();
    std::fs::write(dir.path().join("receivers/x.rebound"), "receiver x { domains x.example }").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
    let compiled = rebound::load::compile_paths(&[dir.path().to_path_buf()]);
    let policy = compiled.policy.unwrap();
    let ids: Vec<&str> = policy.global_rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["first", "second"]);
    assert_eq!(policy.sources().files().len(), 3);
    // The version does not depend on where the directory is.
    let other = tempfile::tempdir().unwrap();
    for rel in ["a.rebound", "b.rebound"] {
        std::fs::copy(dir.path().join(rel), other.path().join(rel)).unwrap();
    }
    std::fs::create_dir(other.path().join("receivers")).unwrap();
    std::fs::copy(dir.path().join("receivers/x.rebound"), other.path().join("receivers/x.rebound")).unwrap();
    let again = rebound::load::compile_paths(&[other.path().to_path_buf()]).policy.unwrap();
    assert_eq!(policy.version(), again.version());
}
