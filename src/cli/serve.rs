//! `rebound serve [--policy DIR] [--db PATH] [--listen ADDR]`: the HTTP
//! service, reloading the policy when its files change or on SIGHUP, and
//! shutting down gracefully on SIGTERM or Ctrl-C.

use crate::load::Layer;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::Exit;
use crate::reload::{LivePolicy, ReloadEvent};
use crate::serve::{AppState, Db, Limits, MAX_BODY_BYTES, is_loopback, read_token, serve};

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The state database (created if missing).
    #[arg(long, default_value = "rebound.db", value_name = "PATH")]
    pub db: PathBuf,
    /// Where to listen. Anything but loopback needs `--token-file`.
    #[arg(long, default_value = "127.0.0.1:8025", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// A file holding the bearer token every `/v1` request must carry: at
    /// least 32 bytes, and writable by its owner only.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The largest request body, in bytes.
    #[arg(long, default_value_t = MAX_BODY_BYTES)]
    pub max_body: usize,
    /// The most connections open at once (more wait to be accepted).
    #[arg(long, default_value_t = 512)]
    pub max_connections: usize,
}

/// Runs `serve`.
pub fn run(policy: Vec<Layer>, args: Args) -> std::io::Result<Exit> {
    let token = match args.token_file.as_deref().map(read_token).transpose() {
        Ok(t) => t,
        Err(why) => {
            eprintln!("error: {why}");
            return Ok(Exit::Usage);
        }
    };
    if !is_loopback(&args.listen) && token.is_none() {
        eprintln!("error: listening on {} (not loopback) needs --token-file", args.listen);
        return Ok(Exit::Usage);
    }
    let live = match LivePolicy::open_layers(&policy, crate::script::Host::default()) {
        Ok(l) => l,
        Err(compiled) => {
            for d in &compiled.diagnostics {
                eprint!("{}", compiled.sources.render(d));
            }
            eprintln!("error: the policy has errors; not serving");
            return Ok(Exit::Invalid);
        }
    };
    let db = match Db::open(&args.db) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot open the database {}: {e}", args.db.display());
            return Ok(Exit::Invalid);
        }
    };
    // Log every reload attempt (there is none without a change, a SIGHUP or
    // an API call); keep the watcher and the SIGHUP handler alive while serving.
    let events = live.subscribe();
    std::thread::spawn(move || {
        for e in events {
            log_reload(&e);
        }
    });
    let _watch = if live.paths().is_empty() {
        None
    } else {
        Some(live.watch().map_err(|e| std::io::Error::other(format!("cannot watch the policy: {e}")))?)
    };
    let _sighup = live.reload_on_sighup()?;
    let limits = Limits { max_body: args.max_body, max_connections: args.max_connections, ..Limits::default() };
    let state = Arc::new(AppState::new(live, db, token, limits));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        eprintln!(
            "rebound serving on http://{} (policy {})",
            listener.local_addr()?,
            state.live.current().policy.version()
        );
        serve(listener, state, shutdown()).await
    })?;
    eprintln!("rebound: shut down");
    Ok(Exit::Ok)
}

/// One reload attempt, for the log: a new version, the same one, or refused.
fn log_reload(e: &ReloadEvent) {
    let (files, ms) = (e.files.len(), e.took_ms);
    if !e.ok {
        eprintln!("reload ({}) refused: the new policy has errors; still serving {}", e.trigger, e.version);
        for d in e.diagnostics.iter().filter(|d| d.rendered.starts_with("error")) {
            eprint!("{}", d.rendered);
        }
    } else if e.version == e.previous {
        eprintln!("reload ({}): unchanged, still serving {} ({files} files, {ms:.1} ms)", e.trigger, e.version);
    } else {
        eprintln!("reload ({}): serving version {} ({files} files, {ms:.1} ms)", e.trigger, e.version);
    }
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
