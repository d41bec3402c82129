//! `rebound serve`: the HTTP service (axum on hyper + tokio) for pipelines
//! that are not written in Rust — an MTA's delivery hook, a log shipper, a
//! webhook.
//!
//! Routes: `POST /v1/classify` (one event as JSON, or many as JSONL,
//! streamed back as they are classified; `?explain=true` adds traces, for at
//! most [`Limits::max_explain_events`] events), `POST /v1/events` (JSONL
//! through the lifecycle, state in the SQLite store),
//! `GET /v1/contacts/{address}`, `GET /v1/contacts/{address}/eligible?for=KIND`,
//! `GET /v1/policy`, `POST /v1/policy/reload`, `GET /metrics`, `GET /healthz`.
//!
//! What keeps it up (docs/reliability.md): every error is the JSON
//! `{"error", "line"}`; bodies, lines, explain and events per request are
//! bounded ([`Limits`]); the work of a request runs on the blocking pool,
//! never on the async workers, and at most [`Limits::max_busy`] such
//! requests run at once; reads use their own connections and never wait
//! behind a write (WAL); sockets have deadlines ([`conn`]). With a token
//! every `/v1` request needs `Authorization: Bearer TOKEN`. Nothing here
//! prints: the binary subscribes to reload events to log them.

pub mod conn;
mod handlers;
pub mod metrics;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::reload::LivePolicy;
use crate::store::StoreError;
use crate::store::sqlite::SqliteStore;
use metrics::Metrics;

/// The largest request body accepted by default, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The most events one `?explain=true` request may carry: a trace is a few
/// kilobytes, so explain is for looking at answers, not for bulk.
pub const MAX_EXPLAIN_EVENTS: usize = 100;

/// The most events one `POST /v1/events` request may carry; its
/// transitions are answered once they are committed, so they are held.
pub const MAX_REQUEST_EVENTS: usize = 10_000;

/// The shortest bearer token accepted, in bytes.
pub const MIN_TOKEN_BYTES: usize = 32;

/// The largest token file read, in bytes.
pub const MAX_TOKEN_FILE_BYTES: u64 = 4096;

/// The service's limits; [`Limits::default`] is what `rebound serve` uses.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest request body, in bytes.
    pub max_body: usize,
    /// The most events of an explain request.
    pub max_explain_events: usize,
    /// The most events of a `/v1/events` request.
    pub max_request_events: usize,
    /// The most connections open at once.
    pub max_connections: usize,
    /// The most requests doing work (classify, events, reload) at once.
    pub max_busy: usize,
    /// How long a request waits for one of those places before a 503.
    pub busy_wait: Duration,
    /// The time a client has to send a request head, and the longest a
    /// kept-alive connection may stay idle.
    pub header_timeout: Duration,
    /// The time a client has to send a request body.
    pub body_timeout: Duration,
    /// How long a write may wait on a client that does not read.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Limits {
            max_body: MAX_BODY_BYTES,
            max_explain_events: MAX_EXPLAIN_EVENTS,
            max_request_events: MAX_REQUEST_EVENTS,
            max_connections: 512,
            max_busy: 2 * cores,
            busy_wait: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// The database of the service: one writer, and readers of their own so
/// that a read never waits behind a long write.
pub struct Db {
    path: PathBuf,
    writer: Mutex<SqliteStore>,
    readers: Mutex<Vec<SqliteStore>>,
}

/// The most idle reader connections kept open.
const IDLE_READERS: usize = 8;

impl Db {
    /// Opens (and creates if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let writer = SqliteStore::open(path)?;
        Ok(Db { path: path.to_path_buf(), writer: Mutex::new(writer), readers: Mutex::new(Vec::new()) })
    }

    /// Runs `f` with the writer (blocking: call it off the async workers).
    pub fn write<T>(&self, f: impl FnOnce(&mut SqliteStore) -> T) -> Result<T, StoreError> {
        let mut writer = self.writer.lock().map_err(|_| StoreError::Corrupt("a writer panicked".into()))?;
        Ok(f(&mut writer))
    }

    /// Runs `f` with a reader (blocking: call it off the async workers).
    pub fn read<T>(&self, f: impl FnOnce(&mut SqliteStore) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let idle = self.readers.lock().ok().and_then(|mut r| r.pop());
        let mut reader = match idle {
            Some(r) => r,
            None => SqliteStore::open_reader(&self.path)?,
        };
        let result = f(&mut reader);
        if let Ok(mut readers) = self.readers.lock()
            && readers.len() < IDLE_READERS
        {
            readers.push(reader);
        }
        result
    }
}

/// What the service shares between requests.
pub struct AppState {
    /// The policy, reloadable.
    pub live: LivePolicy,
    /// The contact store.
    pub db: Db,
    /// Counters.
    pub metrics: Metrics,
    /// The bearer token `/v1` requests must carry, if any.
    pub token: Option<String>,
    /// Sizes, counts and deadlines.
    pub limits: Limits,
    busy: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// The state of a service over `live` and `db`.
    pub fn new(live: LivePolicy, db: Db, token: Option<String>, limits: Limits) -> AppState {
        let busy = Arc::new(tokio::sync::Semaphore::new(limits.max_busy.max(1)));
        AppState { live, db, metrics: Metrics::default(), token, limits, busy }
    }
}

type Shared = Arc<AppState>;

/// The service's routes, with the auth, error and metrics layer.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(handlers::metrics_text))
        .route("/v1/classify", post(handlers::classify))
        .route("/v1/events", post(handlers::events))
        .route("/v1/contacts/{address}", get(handlers::contact))
        .route("/v1/contacts/{address}/eligible", get(handlers::contact_eligible))
        .route("/v1/policy", get(handlers::policy_info))
        .route("/v1/policy/reload", post(handlers::reload))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits.clone();
    conn::accept_loop(listener, router(state), limits, shutdown).await
}

/// Whether an address is loopback (the default, safe without a token).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Reads a bearer token from a file that only its owner may change, and
/// refuses a token shorter than [`MIN_TOKEN_BYTES`].
pub fn read_token(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the token file `{shown}`: {e}"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(format!(
                "the token file `{shown}` is writable by its group or by others (mode {mode:03o}): anyone who can change it can let themselves in; run `chmod 600 {shown}`"
            ));
        }
    }
    // Read at most one byte past the limit, whatever the file is (a FIFO, a device).
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_TOKEN_FILE_BYTES + 1), &mut bytes))
        .map_err(|e| format!("cannot read the token file `{shown}`: {e}"))?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(format!(
            "the token file `{shown}` is larger than {MAX_TOKEN_FILE_BYTES} bytes; it should hold one token"
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("the token file `{shown}` is not UTF-8"))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("the token file `{shown}` is empty"));
    }
    if token.len() < MIN_TOKEN_BYTES {
        return Err(format!(
            "the token in `{shown}` is {} bytes; use at least {MIN_TOKEN_BYTES} (e.g. `openssl rand -hex 32 > {shown}`)",
            token.len()
        ));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("the token in `{shown}` holds a space or a control character"));
    }
    Ok(token.to_string())
}

/// An error response: `{"error": message, "line": line}`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>, line: Option<usize>) -> Response {
    (status, axum::Json(json!({"error": message.into(), "line": line}))).into_response()
}

/// Checks the token on `/v1`, turns every error into the documented JSON,
/// and records the request's route, status and latency.
async fn guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let response = match &state.token {
        Some(token) if request.uri().path().starts_with("/v1") && !authorized(request.headers(), token) => {
            let mut r =
                error(StatusCode::UNAUTHORIZED, "a bearer token is required: `Authorization: Bearer TOKEN`", None);
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
        _ => as_json_error(next.run(request).await).await,
    };
    state.metrics.request(&route, response.status().as_u16(), start.elapsed().as_secs_f64());
    response
}

/// The most bytes of a plain-text error (axum's own rejections) rewrapped.
const REWRAP_BYTES: usize = 4096;

/// A 4xx or 5xx that is not JSON yet (axum's rejections: a bad query
/// string, a body that is not UTF-8, an unknown route) becomes
/// `{"error": its text, "line": null}`.
async fn as_json_error(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, REWRAP_BYTES).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_lowercase() } else { text };
    let mut rewrapped = error(status, message, None);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewrapped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewrapped
}

/// Whether the request carries the token, with the scheme in any case
/// (RFC 7235: `bearer`, `Bearer`, `BEARER`).
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    // Compare in constant time over the token's length.
    given.is_some_and(|g| {
        g.len() == token.len() && g.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    })
}

/// A streamed NDJSON body.
pub(crate) fn ndjson(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}
