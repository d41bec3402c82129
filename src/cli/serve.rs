//! `rebound serve [--policy DIR] [--db PATH] [--listen ADDR]`: the HTTP
//! service, reloading the policy when its files change or on SIGHUP, and
//! shutting down gracefully on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::Exit;
use crate::reload::LivePolicy;
use crate::serve::metrics::Metrics;
use crate::serve::{AppState, MAX_BODY_BYTES, is_loopback, serve};
use crate::store::sqlite::SqliteStore;

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state database (created if missing).
    #[arg(long, default_value = "rebound.db", value_name = "PATH")]
    pub db: PathBuf,
    /// Where to listen. Anything but loopback needs `--token-file`.
    #[arg(long, default_value = "127.0.0.1:8025", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// A file holding the bearer token every `/v1` request must carry.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The largest request body, in bytes.
    #[arg(long, default_value_t = MAX_BODY_BYTES)]
    pub max_body: usize,
}

/// Runs `serve`.
pub fn run(policy: Option<PathBuf>, args: Args) -> std::io::Result<Exit> {
    let token = match &args.token_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            Ok(_) => {
                eprintln!("error: the token file {} is empty", path.display());
                return Ok(Exit::Usage);
            }
            Err(e) => {
                eprintln!("error: cannot read the token file {}: {e}", path.display());
                return Ok(Exit::Usage);
            }
        },
        None => None,
    };
    if !is_loopback(&args.listen) && token.is_none() {
        eprintln!("error: listening on {} (not loopback) needs --token-file", args.listen);
        return Ok(Exit::Usage);
    }
    let live = match policy.as_deref().map_or_else(LivePolicy::shipped, LivePolicy::open) {
        Ok(l) => l,
        Err(compiled) => {
            for d in &compiled.diagnostics {
                eprint!("{}", compiled.sources.render(d));
            }
            eprintln!("error: the policy has errors; not serving");
            return Ok(Exit::Invalid);
        }
    };
    let store = match SqliteStore::open(&args.db) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot open the database {}: {e}", args.db.display());
            return Ok(Exit::Invalid);
        }
    };
    // Log every reload attempt; keep the watcher and the SIGHUP handler alive while serving.
    let events = live.subscribe();
    std::thread::spawn(move || {
        for e in events {
            if e.ok {
                eprintln!(
                    "reload ({}): serving version {} ({} files, {:.1} ms)",
                    e.trigger,
                    e.version,
                    e.files.len(),
                    e.took_ms
                );
            } else {
                eprintln!("reload ({}) refused: the new policy has errors; still serving {}", e.trigger, e.version);
                for d in e.diagnostics.iter().filter(|d| d.rendered.starts_with("error")) {
                    eprint!("{}", d.rendered);
                }
            }
        }
    });
    let _watch = live.path().is_some().then(|| live.watch()).transpose().map_err(std::io::Error::other)?;
    let _sighup = live.reload_on_sighup()?;
    let state = Arc::new(AppState { live, store: Mutex::new(store), metrics: Metrics::default(), token });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        eprintln!(
            "rebound serving on http://{} (policy {})",
            listener.local_addr()?,
            state.live.current().policy.version()
        );
        serve(listener, state, args.max_body, shutdown()).await
    })?;
    eprintln!("rebound: shut down");
    Ok(Exit::Ok)
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
