//! `rebound init [DIR]`: a policy repository that extends the shipped
//! policy — one commented rule with its examples, a scenario, a case file
//! and the CI workflow of docs/ci.md — ready for `rebound check policies/`.
//! Nothing that exists is overwritten.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Exit;

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to create the repository (default: the current directory).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// The local layer: it sits on the shipped policy and shows each way of changing it.
const LOCAL: &str = r#"# Our bounce policy: the shipped policy, plus what we know about our own traffic.
#
# `extends shipped` puts this layer on top of the policy built into Rebound:
# our rules are tried first, and `rebound check policies/` shows what this
# layer changes. Upgrading Rebound brings the shipped policy's fixes without
# a merge. The language: Rebound's docs/language.md (see "Layers").
extends shipped

# A rule of our own. Global rules of this layer are tried before the
# shipped ones; `example` lines are answers the rule must decide
# (`rebound test policies/` runs them).
rule our_gateway_quarantine {
  when code 550 and text contains "quarantined by the corporate gateway"
  then soft filtered scope recipient
  note "our B2B customers' gateways hold mail they do not trust; the mailbox exists"
  example "550 5.7.1 Message quarantined by the corporate gateway"
}

# To change a shipped rule, replace it by its id (`rebound receivers` lists
# them); to drop one, disable it; to teach a shipped receiver more domains
# or rules, extend it. For example:
#
#   replace rule gmail.user_unknown { when … then … }
#   disable rule yahoo.tss_deferred note "why"
#   extend receiver gmail { domains googlemail.example }

# A scenario replays events for one contact through the lifecycle.
scenario quarantine_does_not_kill_the_address {
  recipient "buyer@customer.example"
  event bounce campaign "c1" answer "550 5.7.1 Message quarantined by the corporate gateway"
  expect delivery active strikes 1
}
"#;

/// Cases in the corpus format (docs/ci.md): real answers we saw, with the verdict we want.
const CASES: &str = r#"{"recipient":"pat@gmail.com","code":550,"status":"5.1.1","text":"The email account that you tried to reach does not exist.","mx":"gmail-smtp-in.l.google.com","expect":{"class":"hard","reason":"user_unknown"}}
"#;

/// The GitHub Actions workflow of docs/ci.md.
const WORKFLOW: &str = r#"# The three gates of a bounce policy (docs/ci.md): it compiles, it still
# decides every known case right, and you see what it does to real traffic.
name: bounce policy
on:
  pull_request:
    paths: ["policies/**", "cases/**"]
  push:
    branches: [main]

jobs:
  policy:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0            # `rebound diff` reads the base branch from git
      - uses: dtolnay/rust-toolchain@stable
      - name: Install Rebound
        run: cargo install --locked --path rebound   # or wherever your build of Rebound comes from
      - name: Check
        run: rebound check --deny-warnings policies/
      - name: Test
        run: rebound test policies/ --cases cases/*.jsonl --coverage --format junit > rebound-junit.xml
      - name: What this change does to real traffic
        if: github.event_name == 'pull_request' && hashFiles('samples/last-week.jsonl') != ''
        run: |
          rebound diff --old "git:origin/${{ github.base_ref }}:policies" --new policies \
            --events samples/last-week.jsonl
"#;

const README: &str = r#"# Our bounce policy

`policies/` is a layer on top of the policy shipped with Rebound (`extends shipped`).

```sh
rebound check policies/                            # compile and lint; shows what our layer changes
rebound test policies/ --cases cases/*.jsonl       # examples, scenarios and our cases
rebound classify --policy policies/ events.jsonl   # classify with our policy
rebound policy export shipped-policy/              # read the shipped policy
```
"#;

/// Runs `init`.
pub fn run(args: Args) -> std::io::Result<Exit> {
    let files: [(&str, &str); 4] = [
        ("policies/local.rebound", LOCAL),
        ("cases/examples.jsonl", CASES),
        (".github/workflows/rebound.yml", WORKFLOW),
        ("README.md", README),
    ];
    let mut err = std::io::stderr().lock();
    let existing: Vec<PathBuf> = files.iter().map(|(rel, _)| args.dir.join(rel)).filter(|p| p.exists()).collect();
    if !existing.is_empty() {
        for p in &existing {
            writeln!(err, "error: `{}` exists; `rebound init` overwrites nothing", p.display())?;
        }
        return Ok(Exit::Invalid);
    }
    for (rel, text) in files {
        write_new(&args.dir.join(rel), text)?;
    }
    let dir = args.dir.display();
    let mut out = std::io::stdout().lock();
    writeln!(out, "created a policy repository in {dir}:")?;
    for (rel, _) in files {
        writeln!(out, "  {rel}")?;
    }
    writeln!(out, "next: cd {dir} && rebound check policies/ && rebound test policies/ --cases cases/*.jsonl")?;
    Ok(Exit::Ok)
}

fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)?.write_all(text.as_bytes())
}
