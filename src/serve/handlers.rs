//! The service's handlers. Each reads and checks its input first (a bad line
//! is a 400 naming it, before any work), then does the work on the blocking
//! pool: classification, the lifecycle and every database access.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use super::{Shared, error, ndjson};
use crate::eval::VerdictJson;
use crate::eval::explain::ExplanationJson;
use crate::event::{Event, MAX_EVENT_LINE_BYTES};
use crate::lifecycle::engine::{Contact, eligible, eligible_kind};
use crate::lifecycle::runner::Runner;
use crate::store::{Store, StoreError};

/// An error answer, before it becomes the documented JSON.
pub(super) struct Refusal {
    status: StatusCode,
    message: String,
    line: Option<usize>,
    retry_after: bool,
}

fn refuse(status: StatusCode, message: impl Into<String>, line: Option<usize>) -> Refusal {
    Refusal { status, message: message.into(), line, retry_after: false }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut r = error(self.status, self.message, self.line);
        if self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

/// Verdict counts for the metrics: (class, reason, receiver) → how many.
type Counts = BTreeMap<(String, String, String), u64>;

/// The size of the pieces a streamed answer is sent in.
const CHUNK_BYTES: usize = 64 * 1024;

/// Waits (up to `busy_wait`) for a place among the requests doing work.
async fn busy_slot(state: &Shared) -> Result<OwnedSemaphorePermit, Refusal> {
    match tokio::time::timeout(state.limits.busy_wait, state.busy.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(Refusal {
            retry_after: true,
            ..refuse(StatusCode::SERVICE_UNAVAILABLE, "the service is busy; try again in a moment", None)
        }),
    }
}

/// A place among the requests at work, then the body.
async fn busy_body(state: &Shared, body: Body) -> Result<(OwnedSemaphorePermit, String), Refusal> {
    let permit = busy_slot(state).await?;
    Ok((permit, read_body(state, body).await?))
}

/// Reads a body within the size limit and the body deadline; it must be UTF-8.
async fn read_body(state: &Shared, body: Body) -> Result<String, Refusal> {
    let max = state.limits.max_body;
    let bytes = match tokio::time::timeout(state.limits.body_timeout, axum::body::to_bytes(body, max)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {max} bytes"), None));
        }
        Err(_) => {
            let secs = state.limits.body_timeout.as_secs();
            return Err(refuse(StatusCode::REQUEST_TIMEOUT, format!("the body did not arrive within {secs} s"), None));
        }
    };
    String::from_utf8(Vec::from(bytes)).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let before = e.as_bytes().get(..valid).unwrap_or_default();
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        refuse(
            StatusCode::BAD_REQUEST,
            format!("line {line}: the line is not UTF-8 (byte {})", valid - start + 1),
            Some(line),
        )
    })
}

/// The non-blank lines of a body, numbered from 1.
fn lines(body: &str) -> impl Iterator<Item = (usize, &str)> {
    body.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.trim().is_empty())
}

/// How a body gives its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// JSON Lines: one event per line (one line is one JSON object).
    Lines,
    /// One JSON object written over several lines.
    Object,
    /// A JSON array of events.
    Array,
}

impl Shape {
    /// What an error calls one event's place.
    fn unit(self) -> &'static str {
        if self == Shape::Array { "item" } else { "line" }
    }
}

/// A body as JSON Lines: the items of a JSON array, or a pretty-printed
/// object, become one line each (so line numbers in errors are item numbers).
fn as_lines(text: &str) -> Result<(std::borrow::Cow<'_, str>, Shape), Refusal> {
    let start = text.trim_start();
    if start.starts_with('[') {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(text).map_err(|e| {
            refuse(StatusCode::BAD_REQUEST, format!("the body starts like a JSON array but is not one: {e}"), None)
        })?;
        let mut lines = String::with_capacity(text.len());
        for item in items {
            // A pretty-printed item becomes one line; its text is JSON already.
            let compact = serde_json::from_str::<serde_json::Value>(item.get()).map(|v| v.to_string());
            lines.push_str(&compact.unwrap_or_else(|_| item.get().replace('\n', " ")));
            lines.push('\n');
        }
        return Ok((lines.into(), Shape::Array));
    }
    if start.starts_with('{')
        && text.trim().contains('\n')
        && let Ok(value) = serde_json::from_str::<serde_json::Value>(text)
    {
        return Ok((value.to_string().into(), Shape::Object));
    }
    Ok((text.into(), Shape::Lines))
}

/// Checks every line (length, JSON, required fields) and counts the events.
fn check_lines(body: &str, shape: Shape) -> Result<usize, Refusal> {
    let mut count = 0;
    let unit = shape.unit();
    for (n, line) in lines(body) {
        if line.len() > MAX_EVENT_LINE_BYTES {
            let why = format!("{unit} {n}: the event is longer than {MAX_EVENT_LINE_BYTES} bytes");
            return Err(refuse(StatusCode::BAD_REQUEST, why, Some(n)));
        }
        if let Err(e) = Event::parse(line) {
            return Err(refuse(StatusCode::BAD_REQUEST, format!("{unit} {n}: {e}"), Some(n)));
        }
        count += 1;
    }
    if count == 0 {
        return Err(refuse(StatusCode::BAD_REQUEST, "the body holds no event", None));
    }
    Ok(count)
}

fn count(counts: &mut Counts, class: &str, reason: &str, receiver: Option<&str>) {
    *counts.entry((class.to_string(), reason.to_string(), receiver.unwrap_or("").to_string())).or_default() += 1;
}

pub(super) async fn metrics_text(State(state): State<Shared>) -> Response {
    let version = state.live.current().policy.version().to_string();
    let body = state.metrics.render(&version, state.live.counts(), state.live.script_errors());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

#[derive(Deserialize)]
pub(super) struct ClassifyQuery {
    #[serde(default)]
    explain: bool,
}

/// How a classify answer starts: one JSON object, a stream (NDJSON, or a
/// JSON array for an array), or an error.
enum Head {
    One(serde_json::Value),
    Stream(Shape),
    Refused(Refusal),
}

/// The response for a streamed answer of this shape.
fn streamed(shape: Shape, body: Body) -> Response {
    if shape == Shape::Array {
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    } else {
        ndjson(body)
    }
}

/// Bodies up to this size (by `Content-Length`) are classified on the async
/// worker that read them: a few dozen events take microseconds, less than
/// handing them to the blocking pool.
const INLINE_BYTES: u64 = 16 * 1024;

pub(super) async fn classify(
    State(state): State<Shared>,
    headers: HeaderMap,
    query: Result<Query<ClassifyQuery>, QueryRejection>,
    body: Body,
) -> Response {
    let explain = match query {
        Ok(Query(q)) => q.explain,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text(), None),
    };
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if length.is_some_and(|n| n <= INLINE_BYTES) {
        let text = match read_body(&state, body).await {
            Ok(t) => t,
            Err(r) => return r.into_response(),
        };
        let mut head = None;
        let mut out = Vec::new();
        classify_body(
            &state,
            explain,
            &text,
            |h| head = Some(h),
            |chunk| {
                out.extend_from_slice(&chunk);
                true
            },
        );
        return match head {
            Some(Head::One(value)) => axum::Json(value).into_response(),
            Some(Head::Stream(shape)) => streamed(shape, Body::from(out)),
            Some(Head::Refused(r)) => r.into_response(),
            None => error(StatusCode::INTERNAL_SERVER_ERROR, "classification failed", None),
        };
    }
    // A larger body waits for a place among the requests at work before it is read.
    let (permit, text) = match busy_body(&state, body).await {
        Ok(got) => got,
        Err(r) => return r.into_response(),
    };
    let (head_tx, head_rx) = oneshot::channel();
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let finished = classify_body(
            &state,
            explain,
            &text,
            |h| {
                let _ = head_tx.send(h);
            },
            |chunk| tx.blocking_send(Ok(Bytes::from(chunk))).is_ok(),
        );
        if !finished {
            // The answer is cut short: make the connection fail rather than end cleanly.
            let _ = tx.blocking_send(Err(std::io::Error::other("classification failed")));
        }
    });
    match head_rx.await {
        Ok(Head::One(value)) => axum::Json(value).into_response(),
        Ok(Head::Stream(shape)) => streamed(shape, Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))),
        Ok(Head::Refused(r)) => r.into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "classification failed", None),
    }
}

/// Classifies a body: `head` learns how the answer starts (one event
/// answers with one JSON object, more stream as NDJSON, or a refusal), and
/// `chunk` receives the NDJSON in pieces of about [`CHUNK_BYTES`] as they
/// are classified, until it returns `false` (the client went away). Returns
/// `false` when classification panicked (a host function): the answer is
/// cut short.
fn classify_body(
    state: &Shared,
    explain: bool,
    text: &str,
    head: impl FnOnce(Head),
    mut chunk: impl FnMut(Vec<u8>) -> bool,
) -> bool {
    let (text, shape) = match as_lines(text) {
        Ok(t) => t,
        Err(r) => {
            head(Head::Refused(r));
            return true;
        }
    };
    let text: &str = &text;
    let events = match check_lines(text, shape) {
        Ok(n) => n,
        Err(r) => {
            head(Head::Refused(r));
            return true;
        }
    };
    let max = state.limits.max_explain_events;
    if explain && events > max {
        let why = format!(
            "explain takes at most {max} events per request, and this body holds {events}: send them in smaller requests, or classify without `explain`"
        );
        head(Head::Refused(refuse(StatusCode::PAYLOAD_TOO_LARGE, why, None)));
        return true;
    }
    let loaded = state.live.current();
    let policy = &loaded.policy;
    let mut counts = Counts::new();
    let mut one = |e: &Event| {
        if explain {
            let (v, trace) = policy.classify_traced(e);
            count(&mut counts, &v.class.to_string(), v.reason, v.receiver);
            serde_json::to_value(ExplanationJson::new(e, &v, &trace)).unwrap_or_default()
        } else {
            let v = policy.classify(e);
            count(&mut counts, &v.class.to_string(), v.reason, v.receiver);
            serde_json::to_value(VerdictJson::new(e, &v)).unwrap_or_default()
        }
    };
    let parsed = lines(text).filter_map(|(_, l)| Event::parse(l).ok());
    let work = std::panic::AssertUnwindSafe(|| {
        if events == 1 && shape != Shape::Array {
            head(Head::One(parsed.map(|e| one(&e)).next().unwrap_or_default()));
            return;
        }
        head(Head::Stream(shape));
        let array = shape == Shape::Array;
        let mut buf = Vec::with_capacity(CHUNK_BYTES.min(text.len() * 4) + 4096);
        if array {
            buf.push(b'[');
        }
        for (i, e) in parsed.enumerate() {
            if array && i > 0 {
                buf.push(b',');
            }
            if serde_json::to_writer(&mut buf, &one(&e)).is_err() {
                continue;
            }
            if !array {
                buf.push(b'\n');
            }
            if buf.len() >= CHUNK_BYTES && !chunk(std::mem::take(&mut buf)) {
                return;
            }
        }
        if array {
            buf.push(b']');
        }
        if !buf.is_empty() {
            chunk(buf);
        }
    });
    let finished = std::panic::catch_unwind(work).is_ok();
    state.metrics.verdicts(counts);
    finished
}

pub(super) async fn events(State(state): State<Shared>, body: Body) -> Response {
    let (permit, text) = match busy_body(&state, body).await {
        Ok(got) => got,
        Err(r) => return r.into_response(),
    };
    let worker = state.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        events_job(&worker, &text)
    })
    .await;
    match result {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, "application/x-ndjson")], text).into_response(),
        Ok(Err(r)) => r.into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the lifecycle failed; nothing was committed", None),
    }
}

/// Runs a checked body through the lifecycle; answers with its transitions
/// once they are committed.
fn events_job(state: &Arc<super::AppState>, text: &str) -> Result<String, Refusal> {
    let (text, shape) = as_lines(text)?;
    let text: &str = &text;
    let events = check_lines(text, shape)?;
    let max = state.limits.max_request_events;
    if events > max {
        let why = format!(
            "a request may carry at most {max} events, and this body holds {events}: send them in smaller requests"
        );
        return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, why, None));
    }
    let loaded = state.live.current();
    let version = loaded.policy.version().to_string();
    let mut out = String::new();
    let mut verdicts = Counts::new();
    let ran = state.db.write(|store| {
        let runner = Runner::new(&loaded.policy, store).map(|r| r.batch_events(events));
        let Some(mut runner) = runner else { return Ok(None) };
        runner
            .run(
                text.as_bytes(),
                |outcomes| {
                    for o in outcomes {
                        out.push_str(&serde_json::to_string(&o.json(&version))?);
                        out.push('\n');
                        if let Some(v) = &o.verdict {
                            count(&mut verdicts, &v.class.to_string(), v.reason, v.receiver);
                        }
                    }
                    Ok(())
                },
                |_, _| Ok(()),
            )
            .map(Some)
    });
    let summary = match ran {
        Ok(Ok(Some(summary))) => summary,
        Ok(Ok(None)) => return Err(refuse(StatusCode::UNPROCESSABLE_ENTITY, "the policy declares no lifecycle", None)),
        Ok(Err(e)) => return Err(refuse(StatusCode::SERVICE_UNAVAILABLE, format!("nothing was committed: {e}"), None)),
        Err(e) => return Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("the store failed: {e}"), None)),
    };
    state.metrics.verdicts(verdicts);
    state.metrics.transitions(summary.transitions.iter().map(|(k, v)| (k.clone(), *v as u64)).collect());
    Ok(out)
}

/// Reads one contact on a reader connection, off the async workers.
async fn read_contact(state: &Shared, address: String) -> Result<Option<Contact>, Refusal> {
    let worker = state.clone();
    match tokio::task::spawn_blocking(move || worker.db.read(|s| s.contact(&address))).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(store_failed(&e)),
        Err(_) => Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, "the store failed", None)),
    }
}

fn store_failed(e: &StoreError) -> Refusal {
    refuse(StatusCode::INTERNAL_SERVER_ERROR, format!("the store failed: {e}"), None)
}

pub(super) async fn contact(State(state): State<Shared>, Path(address): Path<String>) -> Response {
    let a = address.trim().to_lowercase();
    match read_contact(&state, a.clone()).await {
        Ok(Some(c)) => axum::Json(c.json()).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no contact `{a}`"), None),
        Err(r) => r.into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct EligibleQuery {
    #[serde(rename = "for")]
    kind: String,
}

pub(super) async fn contact_eligible(
    State(state): State<Shared>,
    Path(address): Path<String>,
    query: Result<Query<EligibleQuery>, QueryRejection>,
) -> Response {
    let kind = match query {
        Ok(Query(q)) => q.kind,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("{}: `?for=KIND` is required", e.body_text()), None),
    };
    let a = address.trim().to_lowercase();
    let loaded = state.live.current();
    let Some(lc) = loaded.policy.lifecycle() else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "the policy declares no lifecycle", None);
    };
    if let Err(why) = eligible_kind(lc, &kind) {
        return error(StatusCode::BAD_REQUEST, why, None);
    }
    let (contact, known) = match read_contact(&state, a.clone()).await {
        Ok(Some(c)) => (c, true),
        Ok(None) => (Contact::new(&a, lc), false),
        Err(r) => return r.into_response(),
    };
    let (ok, rule) = eligible(lc, &contact, &kind);
    axum::Json(json!({"address": a, "for": kind, "eligible": ok, "known": known,
        "rule": rule.map(|r| format!("eligible {}", r.kind)), "source": rule.map(|r| r.location.label.clone()),
        "delivery": contact.delivery, "consent": contact.consent}))
    .into_response()
}

pub(super) async fn policy_info(State(state): State<Shared>) -> Response {
    let (loaded, last_error) = state.live.status();
    let files: Vec<&str> = loaded.policy.sources().files().iter().map(|f| f.name.as_str()).collect();
    axum::Json(json!({"version": loaded.policy.version(), "loaded_at": loaded.loaded_at, "files": files,
        "last_error": last_error}))
    .into_response()
}

pub(super) async fn reload(State(state): State<Shared>) -> Response {
    let permit = match busy_slot(&state).await {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let live = state.live.clone();
    match tokio::task::spawn_blocking(move || {
        let _permit = permit;
        live.reload()
    })
    .await
    {
        Ok(event) => {
            let status = if event.ok { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
            (status, axum::Json(event)).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None),
    }
}
