//! Events from a delivery status notification (RFC 3464): one per
//! recipient group, its status, code, text, MX and phase read from the
//! DSN's fields and filled in from the notification's prose where the
//! fields say too little; also a DSN printed into a message's body.

use std::cell::OnceCell;
use std::collections::HashSet;
use std::sync::LazyLock;

use super::{Context, Parts};
use crate::event::EventType;
use crate::ingest::dsn::{self, DeliveryStatus, RecipientFields};
use crate::ingest::needles::Needles;
use crate::ingest::postfix_log;
use crate::ingest::prose::{self, Failure};
use crate::ingest::{IngestEvent, Parsed, rfc3339_of_mail_date};

/// The fields that tell a DSN printed in a body, in the order
/// [`inline_dsn`] takes them apart.
static INLINE_DSN_FIELDS: LazyLock<Needles> = LazyLock::new(|| {
    Needles::new(&["final-recipient:", "original-recipient:", "action:", "status:", "reporting-mta:"])
});

/// A DSN written into the text of a message that is not `multipart/report`
/// (some MTAs print the fields in the body), and the prose before it.
pub(super) fn inline_dsn(notification: &str) -> (DeliveryStatus, &str) {
    let [final_recipient, original_recipient, action, status, reporting_mta] =
        INLINE_DSN_FIELDS.first_of_each(notification)[..]
    else {
        unreachable!("one entry per field")
    };
    if final_recipient.is_none() && original_recipient.is_none() || action.is_none() && status.is_none() {
        return (DeliveryStatus::default(), notification);
    }
    // From the first field line on.
    let start = [reporting_mta, final_recipient, original_recipient].into_iter().flatten().min().unwrap_or(0);
    (dsn::parse(&notification[start..]), &notification[..start])
}

pub(super) fn from_dsn(parts: &Parts<'_>, ctx: &Context<'_>) -> Parsed {
    let mut all = DeliveryStatus::default();
    for body in &parts.delivery_status {
        let ds = dsn::parse(body);
        if all.message.reporting_mta.is_none() {
            all.message = ds.message;
        }
        all.recipients.extend(ds.recipients);
    }
    events_of_dsn(&all, &parts.notification, ctx)
}

/// The events of a DSN; `notification` is the prose that goes with it
/// (read only to fill in what the fields leave out).
pub(super) fn events_of_dsn(ds: &DeliveryStatus, notification: &str, ctx: &Context<'_>) -> Parsed {
    // What the prose says about each recipient, to fill in a thin DSN: read
    // only when a recipient needs it (most DSNs say all there is to say).
    let known: HashSet<String> =
        ds.recipients.iter().filter_map(|r| r.recipient()).map(|a| a.to_ascii_lowercase()).collect();
    let read: OnceCell<Vec<Failure>> = OnceCell::new();
    let prose_failures =
        || read.get_or_init(|| prose::failures_among(notification, &prose::Excluded::default(), &known));
    let bounces = ds.recipients.iter().filter(|r| !is_delivery(r.action.as_deref())).count();
    let mut events = Vec::new();
    let mut seen = HashSet::new();
    for r in &ds.recipients {
        let Some(recipient) = r.recipient() else { continue };
        let action = r.action.clone().unwrap_or_else(|| "failed".to_string());
        if !seen.insert((recipient.to_ascii_lowercase(), action.clone())) {
            continue;
        }
        let kind = if is_delivery(Some(&action)) { EventType::Delivered } else { EventType::Bounce };
        let mut e = ctx.event(kind, recipient, events.len(), "dsn");
        e.action = Some(action);
        e.at = r.last_attempt.as_deref().and_then(rfc3339_of_mail_date).or_else(|| ctx.date.clone());
        if kind == EventType::Bounce {
            let said = || {
                prose_failures().iter().find(|f| {
                    f.recipient.eq_ignore_ascii_case(recipient)
                        || r.original_recipient.as_deref().is_some_and(|o| f.recipient.eq_ignore_ascii_case(o))
                })
            };
            // A DSN about one recipient: what its notification says about a
            // failure (a transcript, a local mailer's output) is about it.
            let whole = || (bounces == 1).then(|| prose::whole_failure(notification)).flatten();
            answer(&mut e, r, &said, &whole);
        }
        events.push(e);
    }
    Parsed { events, notes: Vec::new() }
}

/// Whether a DSN action reports a delivery, never a failure (`deliverable`:
/// Postfix's answer to an address verification that would succeed).
fn is_delivery(action: Option<&str>) -> bool {
    matches!(action, Some("delivered" | "relayed" | "expanded" | "deliverable"))
}

/// A bounce's code, status, words, MX and phase: from the recipient's
/// `Diagnostic-Code`, filled in from the prose (`said`: what it says about
/// the recipient; `whole`: its failure, for a DSN about one recipient) when
/// the diagnostic has no words.
///
/// Only an SMTP diagnostic gives a reply code: `X-Unix; 75` is a local
/// program's exit status, kept in the text with its type and never read
/// as a code. A code is a refusal's (4xx, 5xx). The status is the DSN's,
/// unless it is the generic `X.0.0` and the receiver's own reply names a
/// specific one of the same class.
fn answer<'f>(
    e: &mut IngestEvent,
    r: &RecipientFields,
    said: &dyn Fn() -> Option<&'f Failure>,
    whole: &dyn Fn() -> Option<Failure>,
) {
    let exit_status = r.diagnostic_type.as_deref().is_some_and(dsn::is_exit_status_type);
    let diagnostic = r.diagnostic.as_deref().map(str::trim).filter(|d| !d.is_empty());
    // A relay's wrapper around the receiver's quoted answer (Amazon SES:
    // `5.1.0 - Unknown address error 550-'5.2.2 <a@b>... Mailbox Full'`):
    // the quoted answer is the receiver's.
    let diagnostic = diagnostic.map(|d| quoted_reply(d).unwrap_or(d));
    let (mut code, mut said_status) = match diagnostic {
        Some(d) if !exit_status => prose::refusal_in(d),
        _ => (None, None),
    };
    let mut text = diagnostic.map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "));
    if exit_status && let (Some(t), Some(kind)) = (&text, &r.diagnostic_type) {
        text = Some(format!("{kind}; {t}"));
    }
    // A diagnostic without words (`smtp; 550`, `X-Unix; 255`, or none): the prose's.
    let thin = text.as_deref().is_none_or(|t| !prose::has_words(t));
    // What the prose says about the recipient when it carries a reply; else
    // the notification's failure; else the prose's words about it.
    let filled = match thin {
        true => said()
            .filter(|f| f.code.is_some() || f.status.is_some())
            .cloned()
            .or_else(whole)
            .or_else(|| said().cloned()),
        false => None,
    };
    if let Some(f) = &filled {
        text = Some(f.text.clone()).filter(|t| !t.is_empty()).or(text);
        if !exit_status {
            code = code.or(f.code);
        }
        said_status = said_status.or_else(|| f.status.clone());
    }
    // No diagnostic and no prose about it: the words the MTA put beside the
    // status (`Status: 4.0.0 (example.org: host name lookup failure)`).
    if text.is_none() {
        text = r.status_comment.clone();
    }
    e.code = code.filter(|c| *c >= 400);
    e.status = specific_status(r.status.as_deref(), said_status);
    e.text = text;
    e.mx = r
        .remote_mta
        .as_deref()
        .map(host_of)
        .filter(|h| !h.is_empty())
        .or_else(|| said().and_then(|f| f.mx.clone()))
        .or_else(|| filled.as_ref().and_then(|f| f.mx.clone()));
    e.phase = e
        .text
        .as_deref()
        .and_then(postfix_log::phase_of)
        .map(str::to_string)
        .or_else(|| said().and_then(|f| f.phase.clone()))
        .or_else(|| filled.as_ref().and_then(|f| f.phase.clone()));
}

/// The receiver's answer quoted inside a relay's diagnostic: `NNN-'…'` or
/// `NNN '…'`, returned as `NNN …`.
fn quoted_reply(d: &str) -> Option<&str> {
    let bytes = d.as_bytes();
    for i in 0..bytes.len().saturating_sub(5) {
        let code = &bytes[i..i + 3];
        if code.iter().all(u8::is_ascii_digit)
            && matches!(code[0], b'4' | b'5')
            && matches!(bytes[i + 3], b'-' | b' ')
            && bytes[i + 4] == b'\''
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
        {
            let inner = &d[i + 5..];
            let end = inner.find('\'').unwrap_or(inner.len());
            // The quoted answer starts with its own status or code
            // (`550 'a@b' is not…` quotes an address, not an answer).
            let quoted = inner[..end].trim();
            if quoted.starts_with(|c: char| c.is_ascii_digit()) {
                return Some(quoted);
            }
        }
    }
    None
}

/// The status to report: the DSN's `Status`, unless it is the generic
/// `X.0.0` and the receiver's own answer names a specific one of the same
/// class (`Status: 5.0.0` with `550 #5.1.0 Address rejected`).
fn specific_status(field: Option<&str>, said: Option<String>) -> Option<String> {
    match (field, said) {
        (Some(f), Some(s)) if f.ends_with(".0.0") && !s.ends_with(".0.0") && s.as_bytes()[0] == f.as_bytes()[0] => {
            Some(s)
        }
        (Some(f), _) => Some(f.to_string()),
        (None, s) => s,
    }
}

fn host_of(mta: &str) -> String {
    let h = mta.trim().trim_start_matches('[');
    let h = h.split([' ', '[', ']', '(']).next().unwrap_or("");
    let h = h.trim_end_matches('.');
    // An IP literal is kept; a host name is lowercased.
    h.to_ascii_lowercase()
}
