//! `rebound fmt` run as a person types it: the documented policies that
//! used to be an internal error, comments on list items, the paths it
//! needs and the files a directory holds, and `--check`'s diff.

use assert_cmd::Command;

fn rebound() -> Command {
    Command::cargo_bin("rebound").unwrap()
}

fn stdout_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stdout).to_string()
}

fn stderr_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).to_string()
}

/// From docs/language.md (a quoted script with `\"`) and docs/lifecycle.md
/// (a transition guarded by `if script "…"`): both were exit 3.
const DOCUMENTED: &str = r#"rule enterprise { when script "ctx.extra.plan == \"enterprise\"" then hard user_unknown }
lifecycle {
  states delivery: active, error
  states consent: single
  transition hard_bounce { on hard if script "ctx.extra.opens_30d == () || ctx.extra.opens_30d == 0" delivery active -> error }
}
"#;

#[test]
fn fmt_formats_documented_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.rebound");
    std::fs::write(&file, DOCUMENTED).unwrap();
    let path = file.display().to_string();
    rebound().args(["fmt", &path]).assert().success();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(r#"  when script "ctx.extra.plan == \"enterprise\"""#), "{text}");
    assert!(
        text.contains(r#"    on hard if script "ctx.extra.opens_30d == () || ctx.extra.opens_30d == 0""#),
        "{text}"
    );
    rebound().args(["fmt", "--check", &path]).assert().success().stdout("");
    rebound().args(["check", &path]).assert().success();
    rebound().args(["fmt", "-"]).write_stdin(DOCUMENTED).assert().success().stdout(text);
}

#[test]
fn fmt_keeps_comments_on_list_items() {
    let input = "receiver gmail {\n  domains gmail.com,  # main\n  googlemail.com  # legacy\n}\n";
    let out = rebound().args(["fmt", "-"]).write_stdin(input).assert().success();
    assert_eq!(stdout_of(&out), "receiver gmail {\n  domains gmail.com,  # main\n    googlemail.com  # legacy\n}\n");
}

/// A directory with a policy to format, one under `.gitignore`, one hidden,
/// and one in a nested directory; every file unformatted.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let messy = "rule a {when code 550 then hard user_unknown}\n";
    for rel in ["a.rebound", "sub/b.rebound", "ignored/c.rebound", "skip.rebound", ".hidden/d.rebound", ".e.rebound"] {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, messy.replace("rule a", &format!("rule r_{}", rel.len()))).unwrap();
    }
    std::fs::write(dir.path().join(".gitignore"), "ignored/\nskip.rebound\n").unwrap();
    dir
}

#[test]
fn fmt_without_paths_is_a_usage_error() {
    let dir = project();
    let before = std::fs::read_to_string(dir.path().join("a.rebound")).unwrap();
    let out = rebound().arg("fmt").current_dir(dir.path()).assert().code(2);
    let stderr = stderr_of(&out);
    assert!(stderr.contains("name the policy files or directories to format"), "{stderr}");
    assert!(stderr.contains("`rebound fmt policies/`") && stderr.contains("`-` reads stdin"), "{stderr}");
    assert_eq!(std::fs::read_to_string(dir.path().join("a.rebound")).unwrap(), before, "a file was changed");
    rebound().args(["fmt", "--check"]).current_dir(dir.path()).assert().code(2);
    rebound().args(["fmt", "-", "a.rebound"]).current_dir(dir.path()).assert().code(2);
}

#[test]
fn fmt_directory_honours_gitignore_and_hidden_files_as_loading_does() {
    let dir = project();
    let out = rebound().args(["fmt", "."]).current_dir(dir.path()).assert().success();
    let stderr = stderr_of(&out);
    let formatted = ["a.rebound", "sub/b.rebound"];
    for rel in ["a.rebound", "sub/b.rebound", "ignored/c.rebound", "skip.rebound", ".hidden/d.rebound", ".e.rebound"] {
        let text = std::fs::read_to_string(dir.path().join(rel)).unwrap();
        let changed = text.contains("\n  when code 550\n");
        assert_eq!(changed, formatted.contains(&rel), "{rel}: {text}\n{stderr}");
    }
    // Loading the directory takes the same files, in order of their relative paths.
    let files = rebound::load::policy_files(dir.path()).unwrap();
    let rels: Vec<&str> = files.iter().map(|(_, rel)| rel.as_str()).collect();
    assert_eq!(rels, formatted);
    let out = rebound().args(["check", &dir.path().display().to_string()]).assert().success();
    assert!(stdout_of(&out).starts_with("ok: 2 files"), "{}", stdout_of(&out));
    // A file named on the command line is formatted even when ignored.
    rebound().args(["fmt", "skip.rebound"]).current_dir(dir.path()).assert().success();
    assert!(std::fs::read_to_string(dir.path().join("skip.rebound")).unwrap().contains("\n  when code 550\n"));
}

#[test]
fn fmt_check_prints_a_unified_diff() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.rebound");
    let messy = "# keep\nrule a {when code 550\n  then hard user_unknown}\n";
    std::fs::write(&file, messy).unwrap();
    let path = file.display().to_string();
    let out = rebound().args(["fmt", "--check", &path]).assert().code(1);
    let expected = format!(
        "--- {path}\n+++ {path} (formatted)\n@@ -1,3 +1,5 @@\n # keep\n-rule a {{when code 550\n-  then hard user_unknown}}\n+rule a {{\n+  when code 550\n+  then hard user_unknown\n+}}\n"
    );
    assert_eq!(stdout_of(&out), expected);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), messy, "--check changed the file");
    let out = rebound().args(["fmt", "--check", "-"]).write_stdin(messy).assert().code(1);
    assert!(
        stdout_of(&out).starts_with("--- <stdin>\n+++ <stdin> (formatted)\n@@ -1,3 +1,5 @@\n"),
        "{}",
        stdout_of(&out)
    );
}
