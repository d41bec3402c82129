//! Every shell command the docs show is run, as a reader would type it, so
//! none can go stale: each ```sh block of README.md and docs/*.md runs with
//! `bash -e` in a fresh workspace that holds what the docs refer to (the
//! example events, a copy of the shipped policy as `policies/`, a layer in
//! `local/`, a git history with `origin/main`, bounce emails in `Maildir/`
//! and `bounces.mbox`, SES posts in `sns-posts/`, last week's events in
//! `samples/`), with the built `rebound` first on the PATH.
//!
//! Conventions the docs follow: usage synopses are ```text blocks (not run);
//! `cargo run [--release] --` runs the built binary (the test is what
//! `cargo test` runs); a block that starts `rebound serve` keeps serving in
//! the background for the blocks after it in the same document (their
//! `curl` talks to it) until the document ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The ```sh blocks of a markdown file: (first line number, body).
fn sh_blocks(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        match &mut current {
            None if trimmed == "```sh" => current = Some((i + 2, String::new())),
            Some(_) if trimmed == "```" => out.extend(current.take()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=docs", "-c", "user.email=docs@example.org", "-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A workspace with everything the docs' commands name.
fn workspace() -> (tempfile::TempDir, PathBuf) {
    let root = crate::root();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().to_path_buf();
    copy_dir(&root.join("examples"), &ws.join("examples"));
    copy_dir(&root.join("policies"), &ws.join("policies"));
    std::fs::create_dir_all(ws.join("local")).unwrap();
    std::fs::write(
        ws.join("local/ours.rebound"),
        "extends shipped\n\nrule our_gateway {\n  when text contains \"quarantined by our gateway\"\n  then soft filtered\n}\n",
    )
    .unwrap();
    // A team's labelled cases pass (ours, less the listed disagreements); the
    // repository's own corpus is where the docs measure the shipped policy.
    std::fs::create_dir_all(ws.join("corpus")).unwrap();
    let corpus = std::fs::read_to_string(root.join("tests/data/responses.jsonl")).unwrap();
    let listed = std::fs::read_to_string(root.join("tests/data/corpus-disagreements.jsonl")).unwrap();
    let ids: Vec<String> = listed
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["id"].as_str().map(|id| format!("\"id\": \"{id}\"")))
        .collect();
    let agreed: Vec<&str> = corpus.lines().filter(|l| !ids.iter().any(|id| l.contains(id.as_str()))).collect();
    std::fs::write(ws.join("corpus/responses.jsonl"), agreed.join("\n") + "\n").unwrap();
    std::fs::create_dir_all(ws.join("tests/data")).unwrap();
    std::fs::copy(root.join("tests/data/responses.jsonl"), ws.join("tests/data/responses.jsonl")).unwrap();
    std::fs::create_dir_all(ws.join("samples")).unwrap();
    std::fs::copy(root.join("examples/events.jsonl"), ws.join("samples/last-week.jsonl")).unwrap();
    std::fs::copy(root.join("examples/events.jsonl"), ws.join("events.jsonl")).unwrap();
    copy_dir(&root.join("tests/fixtures/ingest/maildir"), &ws.join("Maildir"));
    std::fs::create_dir_all(ws.join("sns-posts")).unwrap();
    // The SES posts a real endpoint keeps (the fixtures also hold broken ones, on purpose).
    for f in ["bounce-transient-mailbox-full.json", "delivery.json", "sns-bounce-permanent.json", "sns-complaint.json"]
    {
        std::fs::copy(root.join("tests/fixtures/ingest/ses").join(f), ws.join("sns-posts").join(f)).unwrap();
    }
    let mbox = std::fs::read_dir(root.join("tests/fixtures/ingest/mbox")).unwrap().next().unwrap().unwrap().path();
    std::fs::copy(mbox, ws.join("bounces.mbox")).unwrap();
    git(&ws, &["init", "-q"]);
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-qm", "the docs' workspace"]);
    git(&ws, &["update-ref", "refs/remotes/origin/main", "HEAD"]);
    (dir, ws)
}

/// A directory whose `rebound` is the binary under test.
fn bin_dir(ws: &Path) -> PathBuf {
    let bin = ws.join(".bin");
    std::fs::create_dir_all(&bin).unwrap();
    let target = assert_cmd::cargo::cargo_bin("rebound");
    std::os::unix::fs::symlink(target, bin.join("rebound")).unwrap();
    bin
}

fn serve_address(block: &str) -> String {
    let mut words = block.split_whitespace();
    while let Some(w) = words.next() {
        if w == "--listen" {
            return words.next().unwrap_or("127.0.0.1:8025").to_string();
        }
    }
    "127.0.0.1:8025".into()
}

fn wait_for(address: &str, server: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(address).is_ok() {
            return;
        }
        if let Ok(Some(status)) = server.try_wait() {
            panic!("`rebound serve` exited: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("`rebound serve` did not listen on {address}");
}

#[test]
fn every_shell_command_in_the_docs_runs() {
    let root = crate::root();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root.join("README.md"));
    let mut ran = 0;
    let mut failures = Vec::new();
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        let blocks = sh_blocks(&text);
        if blocks.is_empty() {
            continue;
        }
        let (_keep, ws) = workspace();
        let path = format!("{}:{}", bin_dir(&ws).display(), std::env::var("PATH").unwrap_or_default());
        let mut server: Option<Child> = None;
        for (line, block) in blocks {
            let script = block.replace("cargo run --release --", "rebound").replace("cargo run --", "rebound");
            let script: String = script
                .lines()
                .filter(|l| !l.trim_start().starts_with("cargo test"))
                .map(|l| format!("{l}\n"))
                .collect();
            if script.trim().is_empty() {
                continue;
            }
            ran += 1;
            if script.trim_start().starts_with("rebound serve") {
                let mut child = Command::new("bash")
                    .current_dir(&ws)
                    .env("PATH", &path)
                    .args(["-c", &format!("exec {}", script.trim())])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                wait_for(&serve_address(&script), &mut child);
                server = Some(child);
                continue;
            }
            let out = Command::new("bash")
                .current_dir(&ws)
                .env("PATH", &path)
                .args(["-e", "-o", "pipefail", "-c", &script])
                .output()
                .unwrap();
            if !out.status.success() {
                failures.push(format!(
                    "{}:{line}: {}\n{script}stdout: {}\nstderr: {}",
                    doc.strip_prefix(&root).unwrap_or(&doc).display(),
                    out.status,
                    String::from_utf8_lossy(&out.stdout).chars().take(2000).collect::<String>(),
                    String::from_utf8_lossy(&out.stderr).chars().take(2000).collect::<String>()
                ));
            }
        }
        if let Some(mut s) = server {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
    assert!(ran >= 8, "only {ran} blocks found");
    assert!(failures.is_empty(), "{} of {ran} blocks failed:\n\n{}", failures.len(), failures.join("\n\n"));
}
