//! Layers: the shipped policy with a team's own layer on top. Every
//! fixture in `tests/fixtures/layers/` is one layer over the shipped policy;
//! its diagnostics and what it changes are an insta snapshot. The tests
//! below check precedence and the commands, run as a person types them.

use std::path::Path;

use assert_cmd::Command;
use rebound::Layer;
use rebound::event::Event;

fn rebound() -> Command {
    Command::cargo_bin("rebound").unwrap()
}

fn over_shipped(path: &Path) -> rebound::Compiled {
    rebound::load::compile_layers(&[Layer::Shipped, Layer::Path(path.to_path_buf())])
}

#[test]
fn fixtures() {
    insta::glob!("fixtures/layers/*.rebound", |path| {
        let compiled = over_shipped(path);
        let rendered: String = compiled.diagnostics.iter().map(|d| compiled.sources.render(d)).collect();
        let rendered = rendered.replace(&path.display().to_string(), "LAYER");
        let codes: Vec<&str> = compiled.diagnostics.iter().map(|d| d.code).collect();
        let layers: Vec<String> =
            compiled.layers.iter().map(|l| l.describe().replace(&path.display().to_string(), "LAYER")).collect();
        insta::assert_snapshot!(format!("codes: {codes:?}\nlayers:\n  {}\n\n{rendered}", layers.join("\n  ")));
    });
}

fn layered() -> rebound::Policy {
    over_shipped(&crate::root().join("tests/fixtures/layers/ok_replace_disable_extend.rebound")).policy.unwrap()
}

fn rule_for<'p>(
    p: &'p rebound::Policy,
    recipient: &str,
    code: u16,
    status: Option<&str>,
    text: &str,
) -> (String, Option<&'p str>) {
    let v = p.classify(&Event::bounce(recipient, Some(code), status, text));
    (v.class.to_string(), v.rule)
}

#[test]
fn a_later_layer_comes_first_and_replace_keeps_the_place() {
    let shipped = rebound::load::compile_shipped().policy.unwrap();
    let p = layered();
    let inactive = "The email account that you tried to reach is inactive.";
    let disabled = "The email account that you tried to reach is disabled.";
    // Replaced: the same id, the new content.
    assert_eq!(
        rule_for(&shipped, "a@gmail.com", 550, Some("5.2.1"), inactive),
        ("hard".into(), Some("gmail.disabled"))
    );
    assert_eq!(rule_for(&p, "a@gmail.com", 550, Some("5.2.1"), disabled), ("hard".into(), Some("gmail.disabled")));
    let (class, rule) = rule_for(&p, "a@gmail.com", 550, Some("5.2.1"), inactive);
    assert_eq!(class, "soft", "the replaced rule no longer decides inactive accounts");
    assert_ne!(rule, Some("gmail.disabled"));
    // Extended: the new domain selects the receiver, and its rule is tried first.
    assert_eq!(rule_for(&p, "a@googlemail.example", 550, None, "our very own words").1, Some("gmail.our_words"));
    // A global rule of the later layer decides before the shipped global rules.
    assert_eq!(rule_for(&p, "a@example.org", 550, None, "blorf user unknown").1, Some("blorf_first"));
    // Disabled: the rule no longer decides.
    let tss = "[TSS04] Messages from 192.0.2.25 temporarily deferred due to user complaints";
    assert_eq!(rule_for(&shipped, "b@yahoo.com", 421, Some("4.7.0"), tss).1, Some("yahoo.tss_deferred"));
    assert_ne!(rule_for(&p, "b@yahoo.com", 421, Some("4.7.0"), tss).1, Some("yahoo.tss_deferred"));
    // The source points at the layer that wrote the rule.
    let v = p.classify(&Event::bounce("a@gmail.com", Some(550), Some("5.2.1"), disabled));
    assert!(v.source.unwrap().contains("ok_replace_disable_extend.rebound:4"), "{:?}", v.source);
}

#[test]
fn extends_shipped_needs_the_shipped_layer_below() {
    let alone = rebound::compile_str("solo.rebound", "extends shipped\n");
    assert!(alone.diagnostics.iter().any(|d| d.code == "rebound::layer::unknown_target"), "{:?}", alone.diagnostics);
    // Loaded as a path, the layer brings the shipped policy with it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("solo.rebound");
    std::fs::write(&file, "extends shipped\n").unwrap();
    let engine = rebound::Engine::new();
    let p = engine.load_path(&file).unwrap();
    let both = engine.load_layers(&[Layer::Shipped, Layer::Path(file.clone())]).unwrap();
    assert_eq!(p.version(), both.version(), "`extends shipped` and `--policy shipped --policy X` are the same policy");
    assert!(p.receivers().len() > 20);
}

#[test]
fn lower_layer_examples_a_later_layer_changes_are_reported_not_failed() {
    let p = layered();
    let report = rebound::testing::run(&p, &[]);
    assert_eq!(report.failed, 0, "{:?}", report.outcomes.iter().filter(|o| !o.passed).collect::<Vec<_>>());
    // A lower layer's example that a later layer's rule decides otherwise.
    let dir = tempfile::tempdir().unwrap();
    let (base, local) = (dir.path().join("base.rebound"), dir.path().join("local.rebound"));
    std::fs::write(&base, "rule full { when code 552 then soft mailbox_full }\nexample e { answer \"552 mailbox full\" expect soft mailbox_full }\n").unwrap();
    std::fs::write(&local, "rule ours { when text contains \"mailbox full\" then hard user_unknown }\n").unwrap();
    let two = rebound::load::compile_layers(&[Layer::Path(base), Layer::Path(local)]).policy.unwrap();
    let report = rebound::testing::run(&two, &[]);
    assert_eq!((report.failed, report.changed), (0, 1), "the base layer's example changes, it does not fail");
    // In a single-layer policy the same failure is a failure.
    let text = "rule r { when code 550 then hard user_unknown example \"450 4.2.2 mailbox full\" }";
    let single = rebound::compile_str("one.rebound", text).policy.unwrap();
    let report = rebound::testing::run(&single, &[]);
    assert_eq!((report.failed, report.changed), (1, 0));
}

#[test]
fn every_command_takes_the_layers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("local")).unwrap();
    std::fs::copy(
        crate::root().join("tests/fixtures/layers/ok_replace_disable_extend.rebound"),
        dir.path().join("local/ours.rebound"),
    )
    .unwrap();
    let event = r#"{"id":"l-1","recipient":"a@gmail.com","code":550,"status":"5.2.1","text":"The email account that you tried to reach is disabled."}"#;
    std::fs::write(dir.path().join("events.jsonl"), format!("{event}\n")).unwrap();
    let in_dir = |args: &[&str]| rebound().current_dir(dir.path()).args(args).assert();
    // `extends shipped` in the layer, or the shipped layer named: the same verdict.
    for policy in [&["--policy", "local"][..], &["--policy", "shipped", "--policy", "./local"][..]] {
        let out = in_dir(&[&["classify", "events.jsonl", "--format", "json"], policy].concat()).success();
        let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!((v["class"].as_str(), v["rule"].as_str()), (Some("hard"), Some("gmail.disabled")), "{policy:?}");
        assert!(v["source"].as_str().unwrap_or("").contains("ours.rebound"), "{v}");
    }
    let out = in_dir(&["check", "--policy", "local"]).success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.contains("replaces `gmail.disabled`"), "{text}");
    in_dir(&["test", "local"]).success();
    in_dir(&["explain", "events.jsonl", "--policy", "local"]).success();
    in_dir(&["receivers", "--policy", "local", "--format", "json"]).success();
    let out = in_dir(&["run", "--policy", "local", "--events", "events.jsonl", "--db", "state.db"]).success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains(r#""rule":"gmail.disabled""#));
}

#[test]
fn init_makes_a_repository_that_checks_and_tests() {
    let dir = tempfile::tempdir().unwrap();
    rebound().current_dir(dir.path()).args(["init", "repo"]).assert().success();
    let repo = dir.path().join("repo");
    for f in ["policies/local.rebound", "cases/examples.jsonl", ".github/workflows/rebound.yml", "README.md"] {
        assert!(repo.join(f).is_file(), "{f}");
    }
    let out = rebound().current_dir(&repo).args(["check", "--deny-warnings", "policies/"]).assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("layer 2: policies/"));
    let out =
        rebound().current_dir(&repo).args(["test", "policies/", "--cases", "cases/examples.jsonl"]).assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("0 failed"));
    // Nothing is overwritten.
    rebound().current_dir(dir.path()).args(["init", "repo"]).assert().code(1);
}

#[test]
fn the_exported_policy_is_the_shipped_policy() {
    let dir = tempfile::tempdir().unwrap();
    rebound().current_dir(dir.path()).args(["policy", "export", "out"]).assert().success();
    let exported = rebound::load::compile_layers(&[Layer::Path(dir.path().join("out"))]).policy.unwrap();
    let shipped = rebound::load::compile_shipped().policy.unwrap();
    assert_eq!(exported.version(), shipped.version());
    let version = rebound().arg("--version").assert().success();
    assert!(String::from_utf8_lossy(&version.get_output().stdout).contains(shipped.version()));
    rebound().current_dir(dir.path()).args(["policy", "export", "out"]).assert().code(1);
}
