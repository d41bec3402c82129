//! A sender's bounce pipeline that embeds Rebound.
//!
//! It registers two host functions, loads the shipped policy plus a local
//! file that calls them (one from a condition, one from a script), watches
//! the directory, runs batches of events through the lifecycle into the
//! embedder's own store, and picks up an edit to the local file while it
//! runs — a broken edit is refused and the old policy keeps serving.
//!
//! ```sh
//! cargo run --example embed
//! ```

use std::collections::HashSet;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use rebound::Engine;
use rebound::lifecycle::runner::Runner;
use rebound::reload::{LivePolicy, ReloadEvent};
use rebound::store::{Filter, MemoryStore, Store};

/// The sender's own rules. `00-` sorts before the shipped `default.rebound`,
/// so these global rules are tried before the shipped ones.
const LOCAL: &str = r#"
# Our corporate gateway answers 5.7.1 for mail its content scanner holds for
# review. That is not a block of our IP: treat it as the recipient's filter.
rule corporate_gateway_hold {
  when call is_corporate_gateway and status 5.7.1
  then soft filtered
}

# An enterprise customer's mailboxes: a full mailbox is deferred, not a strike,
# while the customer's contract is active (the host knows which ones are).
rule enterprise_mailbox_full {
  when status 5.2.2 and script """
    is_enterprise(ctx) && ctx.extra.plan == "enterprise"
  """
  then defer mailbox_full scope recipient
}
"#;

const BATCH_ONE: &str = r#"{"id":"e1","type":"bounce","recipient":"ann@corp.example","campaign":"c1","code":550,"status":"5.7.1","text":"550 5.7.1 Message held for content review","mx":"gw1.mail.corp.example"}
{"id":"e2","type":"bounce","recipient":"bob@bigco.example","campaign":"c1","code":552,"status":"5.2.2","text":"552 5.2.2 Mailbox full","plan":"enterprise"}
{"id":"e3","type":"bounce","recipient":"cat@gmail.com","campaign":"c1","code":550,"status":"5.1.1","text":"550-5.1.1 The email account that you tried to reach does not exist.","mx":"gmail-smtp-in.l.google.com"}
{"id":"e4","type":"bounce","recipient":"broken line"
"#;

const BATCH_TWO: &str = r#"{"id":"e5","type":"bounce","recipient":"dan@corp.example","campaign":"c2","code":550,"status":"5.7.1","text":"550 5.7.1 Message held for content review","mx":"gw2.mail.corp.example"}
"#;

fn main() -> Result<()> {
    // 1. The host's functions. Policies call them by name; a policy that
    //    calls a name that is not registered here does not load.
    let enterprise: HashSet<&'static str> = ["bigco.example"].into_iter().collect();
    let mut engine = Engine::new();
    engine
        .register_predicate("is_corporate_gateway", |ctx| {
            ctx.mx.as_deref().is_some_and(|mx| mx.ends_with(".mail.corp.example"))
        })
        .register_predicate("is_enterprise", move |ctx| enterprise.contains(ctx.domain.as_str()));

    // 2. The policy directory: the shipped policy and the local file.
    let dir = tempfile::tempdir()?;
    for (rel, text) in rebound::load::shipped_files() {
        let target = dir.path().join(rel);
        std::fs::create_dir_all(target.parent().context("a file has a parent")?)?;
        std::fs::write(target, text)?;
    }
    let local = dir.path().join("00-local.rebound");
    std::fs::write(&local, LOCAL)?;

    // 3. Load it live, watch it, and listen to reloads.
    let live = engine.live(dir.path()).map_err(|c| report(&c))?;
    let _watch = live.watch()?;
    let reloads = live.subscribe();
    println!("serving policy {}", live.current().policy.version());

    // 4. The lifecycle runs into a store of the embedder's choice.
    let mut store = MemoryStore::new();
    let first = run_batch(&live, &mut store, BATCH_ONE)?;
    ensure!(first.iter().any(|l| l.contains("ann@corp.example") && l.contains("soft filtered")), "{first:?}");
    ensure!(first.iter().any(|l| l.contains("bob@bigco.example") && l.contains("defer mailbox_full")), "{first:?}");
    ensure!(first.iter().any(|l| l.contains("cat@gmail.com") && l.contains("-> error")), "{first:?}");
    ensure!(first.iter().any(|l| l.starts_with("line 4: skipped")), "{first:?}");

    // 5. A broken edit: refused, with its location; the old policy serves.
    let before = live.current().policy.version().to_string();
    std::fs::write(&local, LOCAL.replace("then soft filtered", "then soft filterd"))?;
    let refused = wait_for(&reloads, |e| !e.ok)?;
    let first_diag = refused.diagnostics.first().context("a refused reload says why")?;
    println!("refused: {} at {}", first_diag.message, first_diag.location.as_deref().unwrap_or("?"));
    ensure!(live.current().policy.version() == before, "the old policy keeps serving");

    // 6. The fix, with a change of mind: the gateway's holds are deferred.
    std::fs::write(&local, LOCAL.replace("then soft filtered", "then defer filtered scope recipient"))?;
    let swapped = wait_for(&reloads, |e| e.ok && e.version != before)?;
    println!("reloaded: {} -> {} in {:.1} ms", swapped.previous, swapped.version, swapped.took_ms);
    let second = run_batch(&live, &mut store, BATCH_TWO)?;
    ensure!(second.iter().any(|l| l.contains("dan@corp.example") && l.contains("defer filtered")), "{second:?}");

    println!("script errors so far: {}", live.script_errors());
    // 7. The store answers the sender's own questions.
    let in_error = store.list(&Filter { delivery: Some("error".into()), ..Filter::default() })?;
    println!("contacts in error: {:?}", in_error.iter().map(|c| c.address.as_str()).collect::<Vec<_>>());
    ensure!(in_error.iter().any(|c| c.address == "cat@gmail.com"), "the unknown Gmail user is in error");
    Ok(())
}

/// Runs one batch against the policy serving now and prints what happened.
fn run_batch(live: &LivePolicy, store: &mut MemoryStore, lines: &str) -> Result<Vec<String>> {
    let loaded = live.current();
    let Some(mut runner) = Runner::new(&loaded.policy, &mut *store) else {
        bail!("the policy declares no lifecycle");
    };
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let summary = runner.run(
        lines.as_bytes(),
        |outcomes| {
            for o in outcomes {
                let verdict = o
                    .verdict
                    .as_ref()
                    .map(|v| format!("{} {} ({})", v.class.as_str(), v.reason, v.rule.unwrap_or("-")));
                let r = &o.record;
                out.push(format!("{}: {} {} -> {}", o.address, verdict.unwrap_or_default(), r.from.0, r.to.0));
            }
            Ok(())
        },
        |line, why| {
            skipped.push(format!("line {line}: skipped: {why}"));
            Ok(())
        },
    )?;
    out.extend(skipped);
    for l in &out {
        println!("  {l}");
    }
    println!("  {} events, {} bad", summary.events, summary.bad);
    Ok(out)
}

/// Waits for a reload event that satisfies `want` (the watcher settles a
/// save before it rebuilds; ten seconds is far more than it needs).
fn wait_for(events: &Receiver<ReloadEvent>, want: impl Fn(&ReloadEvent) -> bool) -> Result<ReloadEvent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(e) if want(&e) => return Ok(e),
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    bail!("no such reload within ten seconds")
}

fn report(c: &rebound::Compiled) -> anyhow::Error {
    let text: String = c.diagnostics.iter().map(|d| c.sources.render(d)).collect();
    anyhow::anyhow!("the policy does not load:\n{text}")
}
