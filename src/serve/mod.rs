//! `rebound serve`: the HTTP service (axum + tokio) for pipelines that are
//! not written in Rust — an MTA's delivery hook, a log shipper, a webhook.
//!
//! Routes: `POST /v1/classify` (one event as JSON, or many as JSONL;
//! `?explain=true` adds traces), `POST /v1/events` (JSONL through the
//! lifecycle, state in the SQLite store), `GET /v1/contacts/{address}`,
//! `GET /v1/contacts/{address}/eligible?for=KIND`, `GET /v1/policy`,
//! `POST /v1/policy/reload`, `GET /metrics`, `GET /healthz`.
//! Bad input gets a 400 with the line number; bodies are size-limited; with
//! a token every `/v1` request needs `Authorization: Bearer TOKEN`.
//! Nothing here prints: the binary subscribes to reload events to log them.

pub mod metrics;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::eval::VerdictLine;
use crate::event::Event;
use crate::lifecycle::engine::{Contact, eligible};
use crate::lifecycle::runner::Runner;
use crate::reload::LivePolicy;
use crate::store::Store;
use crate::store::sqlite::SqliteStore;
use metrics::Metrics;

/// The largest request body accepted by default, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What the service shares between requests.
pub struct AppState {
    /// The policy, reloadable.
    pub live: LivePolicy,
    /// The contact store.
    pub store: Mutex<SqliteStore>,
    /// Counters.
    pub metrics: Metrics,
    /// The bearer token `/v1` requests must carry, if any.
    pub token: Option<String>,
}

type Shared = Arc<AppState>;

/// The service's routes, with the body limit and the auth and metrics layer.
pub fn router(state: Shared, max_body: usize) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics_text))
        .route("/v1/classify", post(classify))
        .route("/v1/events", post(events))
        .route("/v1/contacts/{address}", get(contact))
        .route("/v1/contacts/{address}/eligible", get(contact_eligible))
        .route("/v1/policy", get(policy_info))
        .route("/v1/policy/reload", post(reload))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Shared,
    max_body: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state, max_body)).with_graceful_shutdown(shutdown).await
}

/// Whether an address is loopback (the default, safe without a token).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

fn error(status: StatusCode, message: impl Into<String>, line: Option<usize>) -> Response {
    (status, axum::Json(json!({"error": message.into(), "line": line}))).into_response()
}

/// Checks the token on `/v1` and records the request's route, status and latency.
async fn guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let response = match &state.token {
        Some(token) if route.starts_with("/v1") && !authorized(request.headers(), token) => {
            error(StatusCode::UNAUTHORIZED, "a bearer token is required: Authorization: Bearer TOKEN", None)
        }
        _ => next.run(request).await,
    };
    state.metrics.request(&route, response.status().as_u16(), start.elapsed().as_secs_f64());
    response
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    // Compare in constant time over the token's length.
    given.is_some_and(|g| {
        g.len() == token.len() && g.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    })
}

async fn metrics_text(State(state): State<Shared>) -> Response {
    let (reloads, failures) = state.live.counts();
    let version = state.live.current().policy.version().to_string();
    let body = state.metrics.render(&version, reloads, failures, state.live.script_errors());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// The non-blank lines of a body, numbered from 1.
fn lines(body: &str) -> Vec<(usize, &str)> {
    body.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.trim().is_empty()).collect()
}

#[derive(Deserialize)]
struct ClassifyQuery {
    #[serde(default)]
    explain: bool,
}

async fn classify(State(state): State<Shared>, Query(q): Query<ClassifyQuery>, body: String) -> Response {
    let lines = lines(&body);
    let mut events = Vec::with_capacity(lines.len());
    for (n, line) in &lines {
        match Event::parse(line) {
            Ok(e) => events.push(e),
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("line {n}: {e}"), Some(*n)),
        }
    }
    if events.is_empty() {
        return error(StatusCode::BAD_REQUEST, "the body holds no event", None);
    }
    let loaded = state.live.current();
    let policy = &loaded.policy;
    let mut counts: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    let mut out = Vec::with_capacity(events.len());
    for e in &events {
        let value = if q.explain {
            let (v, trace) = policy.classify_traced(e);
            *counts
                .entry((v.class.to_string(), v.reason.to_string(), v.receiver.unwrap_or("").to_string()))
                .or_default() += 1;
            json!({"verdict": VerdictLine::new(e, &v), "trace": trace})
        } else {
            let v = policy.classify(e);
            *counts
                .entry((v.class.to_string(), v.reason.to_string(), v.receiver.unwrap_or("").to_string()))
                .or_default() += 1;
            serde_json::to_value(VerdictLine::new(e, &v)).unwrap_or_default()
        };
        out.push(value);
    }
    state.metrics.verdicts(counts);
    if out.len() == 1 && lines.len() == 1 {
        return axum::Json(out.pop().unwrap_or_default()).into_response();
    }
    let mut text = String::new();
    for v in out {
        text.push_str(&v.to_string());
        text.push('\n');
    }
    ([(header::CONTENT_TYPE, "application/x-ndjson")], text).into_response()
}

async fn events(State(state): State<Shared>, body: String) -> Response {
    for (n, line) in lines(&body) {
        if let Err(e) = Event::parse(line) {
            return error(StatusCode::BAD_REQUEST, format!("line {n}: {e}"), Some(n));
        }
    }
    let worker = state.clone();
    let result = tokio::task::spawn_blocking(move || {
        let loaded = worker.live.current();
        let mut store = worker.store.lock().map_err(|_| "the store is unavailable".to_string())?;
        let mut runner = Runner::new(&loaded.policy, &mut *store).ok_or("the policy declares no lifecycle")?;
        let version = loaded.policy.version().to_string();
        let mut text = String::new();
        let mut verdicts: BTreeMap<(String, String, String), u64> = BTreeMap::new();
        let summary = runner
            .run(
                body.as_bytes(),
                |outcomes| {
                    for o in outcomes {
                        text.push_str(&o.to_json(&version).to_string());
                        if let Some(v) = &o.verdict {
                            *verdicts
                                .entry((
                                    v.class.to_string(),
                                    v.reason.to_string(),
                                    v.receiver.unwrap_or("").to_string(),
                                ))
                                .or_default() += 1;
                        }
                        text.push('\n');
                    }
                    Ok(())
                },
                |_, _| Ok(()),
            )
            .map_err(|e| e.to_string())?;
        worker.metrics.verdicts(verdicts);
        worker.metrics.transitions(summary.transitions.iter().map(|(k, v)| (k.clone(), *v as u64)).collect());
        Ok::<String, String>(text)
    })
    .await;
    match result {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, "application/x-ndjson")], text).into_response(),
        Ok(Err(e)) => error(StatusCode::UNPROCESSABLE_ENTITY, e, None),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None),
    }
}

async fn contact(State(state): State<Shared>, Path(address): Path<String>) -> Response {
    let a = address.trim().to_lowercase();
    let found = state.store.lock().map_err(|_| ()).and_then(|mut s| s.contact(&a).map_err(|_| ()));
    match found {
        Ok(Some(c)) => axum::Json(c.to_json()).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no contact {a}"), None),
        Err(()) => error(StatusCode::INTERNAL_SERVER_ERROR, "the store failed", None),
    }
}

#[derive(Deserialize)]
struct EligibleQuery {
    #[serde(rename = "for")]
    kind: String,
}

async fn contact_eligible(
    State(state): State<Shared>,
    Path(address): Path<String>,
    Query(q): Query<EligibleQuery>,
) -> Response {
    let a = address.trim().to_lowercase();
    let loaded = state.live.current();
    let Some(lc) = loaded.policy.lifecycle() else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "the policy declares no lifecycle", None);
    };
    let found = state.store.lock().map_err(|_| ()).and_then(|mut s| s.contact(&a).map_err(|_| ()));
    let (contact, known) = match found {
        Ok(Some(c)) => (c, true),
        Ok(None) => (Contact::new(&a, lc), false),
        Err(()) => return error(StatusCode::INTERNAL_SERVER_ERROR, "the store failed", None),
    };
    let (ok, rule) = eligible(lc, &contact, &q.kind);
    axum::Json(json!({"address": a, "for": q.kind, "eligible": ok, "known": known,
        "rule": rule.map(|r| format!("eligible {}", r.kind)), "source": rule.map(|r| r.location.label.clone()),
        "delivery": contact.delivery, "consent": contact.consent}))
    .into_response()
}

async fn policy_info(State(state): State<Shared>) -> Response {
    let (loaded, last_error) = state.live.status();
    let files: Vec<&str> = loaded.policy.sources().files().iter().map(|f| f.name.as_str()).collect();
    axum::Json(json!({"version": loaded.policy.version(), "loaded_at": loaded.loaded_at, "files": files,
        "last_error": last_error}))
    .into_response()
}

async fn reload(State(state): State<Shared>) -> Response {
    let live = state.live.clone();
    match tokio::task::spawn_blocking(move || live.reload()).await {
        Ok(event) => {
            let status = if event.ok { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
            (status, axum::Json(event)).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None),
    }
}
