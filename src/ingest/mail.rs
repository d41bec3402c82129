//! One email in, its events out.
//!
//! The message is parsed with `mail-parser` (MIME structure, transfer
//! encodings, charsets such as ISO-2022-JP, LF, CRLF and bare-CR line ends).
//! Then, in this order, it is:
//!
//! 1. an **ARF report** (RFC 5965: `multipart/report; report-type=feedback-report`,
//!    or a provider's complaint that attaches the message, like Hotmail's) →
//!    one `complaint` event per complained-about recipient, with `feedback_type`;
//! 2. a **DSN** (RFC 3464: a `message/delivery-status` part) → one event per
//!    recipient group: `Action: failed` and `delayed` are bounces (the
//!    status tells a deferral), `delivered`, `relayed` and `expanded` are
//!    `delivered` events, never failures;
//! 3. an **auto-reply** (RFC 3834 `Auto-Submitted: auto-replied`, and the
//!    headers vacation responders use) → one `auto_reply` event for the
//!    person who answered;
//! 4. a **bounce in prose** (from a mailer daemon or postmaster, or with a
//!    bounce's subject or wording) → [`super::prose`];
//! 5. otherwise not a bounce: no event, a note that says why.
//!
//! The returned message (a `message/rfc822` or `text/rfc822-headers` part,
//! or the headers after a `--- Below this line is a copy of the message`
//! line) gives the campaign (the configured header), the original
//! `Message-ID`, and the recipients' `To` when a report names nobody else.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashSet;
use std::sync::LazyLock;

use mail_parser::{HeaderName, Message, MessageParser, MimeHeaders, PartType};

use super::dsn::{self, DeliveryStatus};
use super::needles::Needles;
use super::prose::{self, Failure};
use super::{IngestEvent, MAX_INPUT_BYTES, NoteKind, Options, Parsed, clean_address, rfc3339_of_mail_date, stable_id};
use crate::event::EventType;

/// What a message was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An RFC 5965 report or a provider's complaint.
    Complaint,
    /// An RFC 3464 delivery status notification.
    Dsn,
    /// An RFC 3834 automatic reply.
    AutoReply,
    /// A non-standard bounce.
    Prose,
}

/// The parts of a report that matter, found once.
#[derive(Default)]
struct Parts<'m> {
    /// The notification for people: text/plain parts (html when there is none).
    notification: String,
    /// `message/delivery-status` bodies.
    delivery_status: Vec<String>,
    /// `message/feedback-report` bodies.
    feedback: Vec<String>,
    /// The returned message, when attached as a message.
    original: Option<&'m Message<'m>>,
    /// The returned headers, when attached as text (`text/rfc822-headers`).
    original_headers: Option<String>,
    /// Whether the top-level type is `multipart/report`, and its report-type.
    report_type: Option<String>,
}

/// The MIME parser, set up once. It parses only what is read parsed: the
/// Subject (decoded words), the Message-ID, and the headers MIME itself
/// needs (Content-Type, -Disposition, -Transfer-Encoding). Every other
/// header (From, To, Date, Received, …) is kept raw — the code reads them
/// with `header_raw` — so no time goes to tokenizing address lists, dates
/// and trace fields nobody looks at.
static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    use HeaderName::*;
    let p = MessageParser::new().default_header_raw();
    let p = p.header_text(Subject).header_text(ContentTransferEncoding).header_id(MessageId);
    p.header_content_type(ContentType).header_content_type(ContentDisposition)
});

/// Reads one email. `origin` names it in events and notes.
pub fn parse(raw: &[u8], origin: &str, opts: &Options) -> Parsed {
    parse_at(raw, origin, opts, 0)
}

/// How deep a bounce may sit inside forwarded bounces before it is not
/// looked for: a gateway forwards one, nobody nests ten.
const MAX_NESTING: usize = 2;

fn parse_at(raw: &[u8], origin: &str, opts: &Options, depth: usize) -> Parsed {
    if raw.len() > MAX_INPUT_BYTES {
        return Parsed::note(origin, NoteKind::Error, format!("larger than {} MiB: not read", MAX_INPUT_BYTES >> 20));
    }
    let bytes = normalize_line_ends(strip_mbox_from_line(raw));
    let Some(message) = PARSER.parse(bytes.as_ref()) else {
        return Parsed::note(origin, NoteKind::Error, "not an email: no header could be read");
    };
    const KNOWN: &[&str] = &["from", "to", "subject", "date", "message-id", "received", "return-path", "content-type"];
    if !message.headers_raw().any(|(n, _)| KNOWN.iter().any(|k| n.eq_ignore_ascii_case(k))) {
        return Parsed::note(origin, NoteKind::Error, "not an email: no header could be read");
    }
    let parts = collect(&message);
    let headers = original_headers(&parts);
    let ctx = Context::new(&message, &headers, origin, opts);
    let p = read_message(&message, &parts, &headers, &ctx, opts);
    // A gateway (InterScan, a relay) that forwards the bounce it got, with
    // only its own words outside: the attached bounce says what happened.
    if depth < MAX_NESTING
        && let Some(inner) = parts.original
        && p.events.iter().all(|e| e.code.is_none() && e.status.is_none())
    {
        let nested = parse_at(inner.raw_message(), origin, opts, depth + 1);
        if nested.events.iter().any(|e| e.code.is_some() || e.status.is_some()) {
            return nested;
        }
    }
    p
}

/// What one parsed email is and the events it gives. `headers` are the
/// returned message's ([`original_headers`]).
fn read_message(
    message: &Message<'_>,
    parts: &Parts<'_>,
    headers: &[(String, String)],
    ctx: &Context<'_>,
    opts: &Options,
) -> Parsed {
    let origin = ctx.origin;
    if let Some(p) = complaint(message, parts, headers, ctx) {
        return p;
    }
    if !parts.delivery_status.is_empty() {
        let p = from_dsn(parts, ctx);
        if !p.events.is_empty() {
            return p;
        }
    }
    if let Some(p) = unsubscribe_request(message, ctx) {
        return p;
    }
    if is_auto_reply(message) {
        return auto_reply(message, ctx);
    }
    // An ESP's notification mailed as JSON (SES to an email subscription).
    let body = parts.notification.trim_start();
    if (body.starts_with('{') || body.starts_with('['))
        && let Some(format) = super::webhook::sniff(body.as_bytes())
    {
        return super::webhook::parse(format, body.as_bytes(), origin, opts);
    }
    let inline = inline_dsn(&parts.notification);
    if !inline.recipients.is_empty() {
        let p = events_of_dsn(&inline, parts, ctx);
        if !p.events.is_empty() {
            return p;
        }
    }
    if let Some(f) = list_refusal(message, &parts.notification) {
        return Parsed { events: vec![ctx.prose_event(&f, 0)], notes: Vec::new() };
    }
    if looks_like_bounce(message, parts) {
        let failures = prose::failures(&parts.notification, &ctx.exclude);
        if !failures.is_empty() {
            return Parsed {
                events: failures.iter().enumerate().map(|(i, f)| ctx.prose_event(f, i)).collect(),
                notes: Vec::new(),
            };
        }
        // A bounce whose text names nobody: Exim's `X-Failed-Recipients`, else
        // the returned message's recipients.
        let failed: Vec<String> = message
            .header_raw("X-Failed-Recipients")
            .map(|v| prose::addresses(v).into_iter().map(|(_, a)| a).collect())
            .unwrap_or_default();
        if !failed.is_empty() {
            let text = summary_after_recipients(&parts.notification);
            let (code, status) = prose::reply_in(&text).unwrap_or((None, None));
            let events = failed
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let f = Failure {
                        recipient: r.clone(),
                        text: text.clone(),
                        code,
                        status: status.clone(),
                        ..Failure::default()
                    };
                    ctx.prose_event(&f, i)
                })
                .collect();
            return Parsed { events, notes: Vec::new() };
        }
        if let Some(to) = ctx.original_to.first() {
            let f = Failure { recipient: to.clone(), text: summary(&parts.notification), ..Failure::default() };
            let (code, status) = prose::reply_in(&f.text).unwrap_or((None, None));
            let f = Failure { code, status, ..f };
            return Parsed { events: vec![ctx.prose_event(&f, 0)], notes: Vec::new() };
        }
        return Parsed::note(origin, NoteKind::Error, "a bounce, but no recipient could be found in it");
    }
    let subject = message.subject().unwrap_or("").chars().take(80).collect::<String>();
    Parsed::note(origin, NoteKind::Skipped, format!("not a bounce, complaint or auto-reply (subject: {subject:?})"))
}

/// A mailing list's refusal of a post from a non-member (FML, Mailman,
/// Google Groups' older notices): the list is the recipient that refused.
fn list_refusal(message: &Message<'_>, notification: &str) -> Option<Failure> {
    // Only a list's robot says so: a person's mail quoting the words is not a refusal.
    let from = message.header_raw("From").unwrap_or("").to_ascii_lowercase();
    let robot = [
        "-admin@",
        "-owner@",
        "-request@",
        "-bounces@",
        "owner-",
        "mailman",
        "majordomo",
        "listserv",
        "fml",
        "mailer-daemon",
    ]
    .iter()
    .any(|w| from.contains(w));
    if !robot {
        return None;
    }
    const PHRASES: &[&str] = &[
        "not a member of this mailing list",
        "not a member of the mailing list",
        "only members can post",
        "only members may post",
        "non-member submission",
    ];
    let lower = notification.to_ascii_lowercase();
    let at = PHRASES.iter().filter_map(|p| lower.find(p)).min()?;
    // The sentence that says it, and the list it names.
    let start = lower[..at].rfind(['\n', '.']).map_or(0, |i| i + 1);
    let end = lower[at..].find("\n\n").map_or(lower.len(), |i| at + i);
    let sentence = notification.get(start..end)?;
    let (_, list) = prose::addresses(sentence).into_iter().next()?;
    let text: String = sentence.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(Failure { recipient: list, text, ..Failure::default() })
}

/// The first lines of a notification that say something, for a bounce that
/// names no recipient.
fn summary(notification: &str) -> String {
    let text: String = prose::cut_original(notification).split_whitespace().collect::<Vec<_>>().join(" ");
    text.chars().take(prose::MAX_TEXT).collect()
}

/// The words of a notification after its list-of-failures heading (Exim's
/// `The following address(es) failed:`), when no address leads a line.
fn summary_after_recipients(notification: &str) -> String {
    let n = prose::cut_original(notification);
    let lower = n.to_ascii_lowercase();
    let start = ["failed:", "recipients:", "recipient:"]
        .iter()
        .filter_map(|m| lower.find(m).map(|i| i + m.len()))
        .min()
        .unwrap_or(0);
    let text: String = n[start..].split_whitespace().collect::<Vec<_>>().join(" ");
    text.chars().take(prose::MAX_TEXT).collect()
}

/// A file saved from an mbox may keep its `From ` separator line.
fn strip_mbox_from_line(raw: &[u8]) -> &[u8] {
    if raw.starts_with(b"From ") {
        match raw.iter().position(|b| *b == b'\n') {
            Some(i) => &raw[i + 1..],
            None => raw,
        }
    } else {
        raw
    }
}

/// Bare CR line ends (old Mac mail) become LF; CRLF and LF are kept.
fn normalize_line_ends(raw: &[u8]) -> Cow<'_, [u8]> {
    // memchr finds the CRs (most mail has none, or only CRLF) without a
    // byte-by-byte walk.
    let bare_cr = memchr::memchr_iter(b'\r', raw).any(|i| raw.get(i + 1) != Some(&b'\n'));
    if !bare_cr {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, b) in raw.iter().enumerate() {
        if *b == b'\r' && raw.get(i + 1) != Some(&b'\n') {
            out.push(b'\n');
        } else {
            out.push(*b);
        }
    }
    Cow::Owned(out)
}

fn content_type_of(part: &mail_parser::MessagePart<'_>) -> (String, String) {
    match part.content_type() {
        Some(ct) => (ct.ctype().to_ascii_lowercase(), ct.subtype().unwrap_or("").to_ascii_lowercase()),
        None => (String::new(), String::new()),
    }
}

fn collect<'m>(message: &'m Message<'m>) -> Parts<'m> {
    let mut parts = Parts::default();
    if let Some(ct) = message.content_type()
        && ct.ctype().eq_ignore_ascii_case("multipart")
        && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
    {
        parts.report_type = Some(ct.attribute("report-type").unwrap_or("").to_ascii_lowercase());
    }
    let mut html = String::new();
    let mut after_original = false;
    for part in &message.parts {
        let (ctype, sub) = content_type_of(part);
        match &part.body {
            PartType::Message(m) => {
                if parts.original.is_none() {
                    parts.original = Some(m);
                }
                after_original = true;
            }
            PartType::Multipart(_) => {}
            // The returned message's own attachments (images, documents) are
            // never read: their bytes are not turned into text.
            PartType::Binary(_) | PartType::InlineBinary(_) if after_original && ctype != "message" => {}
            body => {
                let text = match body {
                    PartType::Text(t) | PartType::Html(t) => Cow::Borrowed(t.as_ref()),
                    PartType::Binary(b) | PartType::InlineBinary(b) => String::from_utf8_lossy(b),
                    _ => Cow::Borrowed(""),
                };
                match (ctype.as_str(), sub.as_str()) {
                    ("message", "delivery-status" | "global-delivery-status") => {
                        parts.delivery_status.push(text.into_owned())
                    }
                    ("message", "feedback-report") => parts.feedback.push(text.into_owned()),
                    ("text", "rfc822-headers") | ("message", "rfc822-headers") => {
                        parts.original_headers.get_or_insert_with(|| text.into_owned());
                    }
                    ("text", "html") if !after_original => {
                        html.push_str(&strip_html(&text));
                        html.push('\n');
                    }
                    // `multipart/*` that arrives as a body: its boundary was lost (a
                    // broken header); its text is still the notification.
                    ("text", _) | ("", _) | ("multipart", _) if !after_original => {
                        parts.notification.push_str(&text);
                        parts.notification.push('\n');
                    }
                    // A returned message some MTAs attach as plain text.
                    ("message", "rfc822") => {
                        parts.original_headers.get_or_insert_with(|| text.into_owned());
                    }
                    _ => {}
                }
            }
        }
    }
    if parts.notification.trim().is_empty() {
        parts.notification = html;
    }
    // A multipart message whose boundaries never appear: its body as text.
    if parts.notification.trim().is_empty()
        && parts.delivery_status.is_empty()
        && parts.feedback.is_empty()
        && let Some(root) = message.parts.first()
    {
        let raw = message.raw_message();
        let body = raw.get(root.offset_body as usize..).unwrap_or(&[]);
        parts.notification = String::from_utf8_lossy(body).into_owned();
    }
    parts
}

/// Text of an HTML part: tags dropped, entities for the common characters
/// decoded, block elements as line breaks.
fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    let mut tag = String::new();
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                tag.clear();
            }
            (true, '>') => {
                in_tag = false;
                let t = tag.trim_start_matches('/').to_ascii_lowercase();
                if ["br", "p", "div", "tr", "li", "h1", "h2", "h3", "table"].iter().any(|b| t.starts_with(b)) {
                    out.push('\n');
                }
            }
            (true, c) => tag.push(c),
            (false, c) => out.push(c),
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The fields that tell a DSN printed in a body, in the order
/// [`inline_dsn`] takes them apart.
static INLINE_DSN_FIELDS: LazyLock<Needles> = LazyLock::new(|| {
    Needles::new(&["final-recipient:", "original-recipient:", "action:", "status:", "reporting-mta:"])
});

/// A DSN written into the text of a message that is not `multipart/report`
/// (some MTAs print the fields in the body).
fn inline_dsn(notification: &str) -> DeliveryStatus {
    let [final_recipient, original_recipient, action, status, reporting_mta] =
        INLINE_DSN_FIELDS.first_of_each(notification)[..]
    else {
        unreachable!("one entry per field")
    };
    if final_recipient.is_none() && original_recipient.is_none() || action.is_none() && status.is_none() {
        return DeliveryStatus::default();
    }
    // From the first field line on.
    let start = [reporting_mta, final_recipient, original_recipient].into_iter().flatten().min().unwrap_or(0);
    dsn::parse(&notification[start..])
}

/// What every event of one message shares.
struct Context<'a> {
    origin: &'a str,
    /// The message's identity for ids: its Message-ID, else a hash of it.
    identity: String,
    /// The returned message's campaign, Message-ID, date and recipients.
    campaign: Option<String>,
    original_message_id: Option<String>,
    original_to: Vec<String>,
    /// The report's own date.
    date: Option<String>,
    /// Addresses that are never the failed recipient.
    exclude: HashSet<String>,
}

impl<'a> Context<'a> {
    /// `headers` are the returned message's ([`original_headers`]).
    fn new(message: &'a Message<'a>, headers: &[(String, String)], origin: &'a str, opts: &Options) -> Context<'a> {
        let identity = message.message_id().map(str::to_string).unwrap_or_else(|| {
            stable_id(
                "raw",
                &[&String::from_utf8_lossy(&message.raw_message()[..message.raw_message().len().min(1 << 16)])],
            )
        });
        let find =
            |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string());
        let campaign = find(&opts.campaign_header).filter(|c| !c.is_empty());
        let original_message_id = find("Message-ID").map(|m| m.trim_matches(['<', '>']).to_string());
        let original_to: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("To"))
            .flat_map(|(_, v)| prose::addresses(v).into_iter().map(|(_, a)| a))
            .collect();
        let mut exclude = HashSet::new();
        for (n, v) in headers {
            if ["from", "sender", "return-path", "reply-to"].iter().any(|h| n.eq_ignore_ascii_case(h)) {
                for (_, a) in prose::addresses(v) {
                    exclude.insert(a.to_ascii_lowercase());
                }
            }
        }
        for name in ["To", "Return-Path", "From", "Delivered-To", "X-Original-To", "Envelope-To"] {
            if let Some(v) = message.header_raw(name) {
                for (_, a) in prose::addresses(v) {
                    // The report's own From is the mailer daemon; its To is our sender.
                    exclude.insert(a.to_ascii_lowercase());
                }
            }
        }
        // An address that is also the returned message's recipient stays a
        // candidate even when the report was sent to it (a loop).
        for to in &original_to {
            if !message.header_raw("From").is_some_and(|f| f.to_ascii_lowercase().contains(&to.to_ascii_lowercase())) {
                exclude.remove(&to.to_ascii_lowercase());
            }
        }
        let date = message.header_raw("Date").and_then(rfc3339_of_mail_date);
        Context { origin, identity, campaign, original_message_id, original_to, date, exclude }
    }

    fn event(&self, kind: EventType, recipient: &str, index: usize, format: &str) -> IngestEvent {
        IngestEvent {
            id: stable_id("mail", &[&self.identity, recipient, &index.to_string()]),
            kind,
            recipient: recipient.to_string(),
            campaign: self.campaign.clone(),
            at: self.date.clone(),
            message_id: self.original_message_id.clone(),
            format: format.to_string(),
            origin: self.origin.to_string(),
            ..IngestEvent::default()
        }
    }

    fn prose_event(&self, f: &Failure, index: usize) -> IngestEvent {
        let mut e = self.event(EventType::Bounce, &f.recipient, index, "prose");
        e.code = f.code;
        e.status = f.status.clone();
        e.text = Some(f.text.clone()).filter(|t| !t.is_empty());
        e.mx = f.mx.clone();
        e.phase = f.phase.clone();
        e.action =
            Some(if f.code.is_some_and(|c| c < 500) || f.status.as_deref().is_some_and(|s| s.starts_with('4')) {
                "delayed".to_string()
            } else {
                "failed".to_string()
            });
        e
    }
}

/// The returned message's headers as (name, value), unfolded.
fn original_headers(parts: &Parts<'_>) -> Vec<(String, String)> {
    if let Some(m) = parts.original {
        return m.headers_raw().map(|(n, v)| (n.to_string(), unfold(v))).collect();
    }
    let text: Cow<'_, str> = match &parts.original_headers {
        Some(t) => Cow::Borrowed(t.as_str()),
        None => {
            // Inline after a marker line (qmail, Exim, Gmail): the text after the cut.
            let n = &parts.notification;
            let cut = prose::cut_original(n).len();
            if cut >= n.len() {
                return Vec::new();
            }
            let rest = &n[cut..];
            Cow::Borrowed(rest.split_once('\n').map_or("", |(_, r)| r))
        }
    };
    header_lines(&text)
}

/// A header value on one line: its words joined by single spaces.
fn unfold(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for word in v.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `Name: value` lines of a header block (continuations joined), up to the
/// first blank line after a header was seen.
pub fn header_lines(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines().take(400) {
        if line.trim().is_empty() {
            if out.is_empty() {
                continue;
            }
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((n, v)) = line.split_once(':')
            && !n.is_empty()
            && n.len() < 80
            && n.bytes().all(|b| b.is_ascii_graphic())
        {
            out.push((n.to_string(), v.trim().to_string()));
        }
    }
    out
}

fn from_dsn(parts: &Parts<'_>, ctx: &Context<'_>) -> Parsed {
    let mut all = DeliveryStatus::default();
    for body in &parts.delivery_status {
        let ds = dsn::parse(body);
        if all.message.reporting_mta.is_none() {
            all.message = ds.message;
        }
        all.recipients.extend(ds.recipients);
    }
    events_of_dsn(&all, parts, ctx)
}

fn events_of_dsn(ds: &DeliveryStatus, parts: &Parts<'_>, ctx: &Context<'_>) -> Parsed {
    // What the prose says about each recipient, to fill in a thin DSN: read
    // only when a recipient needs it (most DSNs say all there is to say).
    let known: HashSet<String> =
        ds.recipients.iter().filter_map(|r| r.recipient()).map(|a| a.to_ascii_lowercase()).collect();
    let read: OnceCell<Vec<Failure>> = OnceCell::new();
    let prose_failures = || read.get_or_init(|| prose::failures_among(&parts.notification, &HashSet::new(), &known));
    let mut events = Vec::new();
    let mut seen = HashSet::new();
    for r in &ds.recipients {
        let Some(recipient) = r.recipient() else { continue };
        let action = r.action.clone().unwrap_or_else(|| "failed".to_string());
        if !seen.insert((recipient.to_ascii_lowercase(), action.clone())) {
            continue;
        }
        let kind = match action.as_str() {
            "delivered" | "relayed" | "expanded" => EventType::Delivered,
            _ => EventType::Bounce,
        };
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
            let diagnostic = r.diagnostic.as_deref().map(str::trim).filter(|d| !d.is_empty());
            // A relay's wrapper around the receiver's quoted answer (Amazon SES:
            // `5.1.0 - Unknown address error 550-'5.2.2 <a@b>... Mailbox Full'`):
            // the quoted answer is the receiver's.
            let diagnostic = diagnostic.map(|d| quoted_reply(d).unwrap_or(d));
            let (code, dstatus) = diagnostic.and_then(prose::reply_in).unwrap_or((None, None));
            e.status = specific_status(r.status.as_deref(), dstatus);
            e.code = diagnostic.and_then(leading_code).or(code);
            e.text = diagnostic.map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "));
            // A diagnostic without words (`smtp; 550`, or none): the prose's.
            let thin = e.text.as_deref().is_none_or(|t| {
                t.split_whitespace().filter(|w| w.chars().all(char::is_alphabetic) && w.len() > 2).count() < 2
            });
            if thin && let Some(f) = said() {
                e.text = Some(f.text.clone()).filter(|t| !t.is_empty()).or(e.text);
                e.code = e.code.or(f.code);
                e.status = e.status.or_else(|| f.status.clone());
            }
            e.mx = r
                .remote_mta
                .as_deref()
                .map(host_of)
                .filter(|h| !h.is_empty())
                .or_else(|| said().and_then(|f| f.mx.clone()));
            e.phase = e
                .text
                .as_deref()
                .and_then(|t| phase_of(&t.to_ascii_lowercase()))
                .or_else(|| said().and_then(|f| f.phase.clone()));
        }
        events.push(e);
    }
    Parsed { events, notes: Vec::new() }
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

/// A reply code that starts a diagnostic (`550 5.1.1 …`, `550-…`).
fn leading_code(d: &str) -> Option<u16> {
    let t = d.trim_start();
    let code: String = t.chars().take(3).collect();
    let next = t.chars().nth(3);
    (code.len() == 3 && code.chars().all(|c| c.is_ascii_digit()) && next.is_none_or(|c| c == ' ' || c == '-'))
        .then(|| code.parse::<u16>().ok())
        .flatten()
        .filter(|c| (200..600).contains(c))
}

fn host_of(mta: &str) -> String {
    let h = mta.trim().trim_start_matches('[');
    let h = h.split([' ', '[', ']', '(']).next().unwrap_or("");
    let h = h.trim_end_matches('.');
    // An IP literal is kept; a host name is lowercased.
    h.to_ascii_lowercase()
}

fn phase_of(lower: &str) -> Option<String> {
    for (needle, phase) in [
        ("refused to talk to me", "connect"),
        ("in reply to rcpt to", "rcpt"),
        ("in reply to mail from", "mail"),
        ("in reply to end of data", "data"),
        ("in reply to data", "data"),
        ("in reply to helo", "helo"),
        ("in reply to ehlo", "helo"),
        ("after rcpt to", "rcpt"),
        ("after mail from", "mail"),
        ("after end of data", "data"),
        ("after data", "data"),
    ] {
        if lower.contains(needle) {
            return Some(phase.to_string());
        }
    }
    None
}

fn is_auto_reply(message: &Message<'_>) -> bool {
    let header = |n: &str| message.header_raw(n).map(|v| v.trim().to_ascii_lowercase());
    let from = header("From").unwrap_or_default();
    if from.contains("mailer-daemon") || from.contains("postmaster") {
        return false;
    }
    let subject = message.subject().unwrap_or("").to_ascii_lowercase();
    if bounce_subject(&subject) {
        return false;
    }
    header("Auto-Submitted").is_some_and(|v| v.starts_with("auto-replied"))
        || header("X-Autoreply").is_some()
        || header("X-Autorespond").is_some()
        || header("X-Auto-Response-Suppress").is_some() && subject_is_auto_reply(&subject)
        || header("Precedence").is_some_and(|p| p == "auto_reply")
        || header("X-Apple-Action").is_some_and(|v| v.contains("vacation"))
        || header("X-Vacation").is_some()
        || subject_is_auto_reply(&subject)
}

fn subject_is_auto_reply(subject: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "auto:",
        "auto reply",
        "auto-reply",
        "autoreply",
        "automatic reply",
        "out of office",
        "out of the office",
        "vacation",
        "away from",
        "abwesenheitsnotiz",
        "réponse automatique",
        "respuesta automática",
        "risposta automatica",
        "自動応答",
        "自动回复",
    ];
    PREFIXES.iter().any(|p| subject.starts_with(p))
}

/// A request to unsubscribe sent by mail to a `List-Unsubscribe: <mailto:…>`
/// address: Apple Mail marks its own with `X-Apple-Unsubscribe: true`;
/// others send `Subject: unsubscribe` to an address that says so.
fn unsubscribe_request(message: &Message<'_>, ctx: &Context<'_>) -> Option<Parsed> {
    let apple = message.header_raw("X-Apple-Unsubscribe").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let subject = message.subject().unwrap_or("").trim().to_ascii_lowercase();
    let to = message.header_raw("To").unwrap_or("").to_ascii_lowercase();
    let by_address =
        subject == "unsubscribe" && (to.contains("unsubscribe") || to.contains("opt-out") || to.contains("optout"));
    if !apple && !by_address {
        return None;
    }
    let from = message.header_raw("From").unwrap_or("");
    let who = prose::addresses(from).into_iter().map(|(_, a)| a).next().and_then(|a| clean_address(&a))?;
    let mut e = ctx.event(EventType::Unsubscribe, &who, 0, "unsubscribe");
    e.text = message.subject().map(|s| s.to_string());
    Some(Parsed { events: vec![e], notes: Vec::new() })
}

fn auto_reply(message: &Message<'_>, ctx: &Context<'_>) -> Parsed {
    let from = message.header_raw("Reply-To").or_else(|| message.header_raw("From")).unwrap_or("");
    let Some(who) = prose::addresses(from).into_iter().map(|(_, a)| a).next().and_then(|a| clean_address(&a)) else {
        return Parsed::note(ctx.origin, NoteKind::Error, "an auto-reply without a readable From address");
    };
    let mut e = ctx.event(EventType::AutoReply, &who, 0, "auto-reply");
    e.text = message.subject().map(|s| s.to_string());
    Parsed { events: vec![e], notes: Vec::new() }
}

fn bounce_subject(subject: &str) -> bool {
    const WORDS: &[&str] = &[
        "undeliver",
        "undelivered",
        "delivery status notification",
        "delivery failure",
        "delivery failed",
        "delivery has failed",
        "delivery notification",
        "delivery problem",
        "failure notice",
        "mail delivery failed",
        "returned mail",
        "returned to sender",
        "non remis",
        "nicht zustellbar",
        "unzustellbar",
        "mail system error",
        "could not send",
        "warning: could not",
        "delayed mail",
        "delivery delayed",
        "nondeliverable",
        "non-deliverable",
        "rejected",
        "mail failure",
        "message not delivered",
        "not delivered",
        "error sending",
        "delivery report",
        "failed delivery",
        "bounce",
        "permanent failure",
    ];
    WORDS.iter().any(|w| subject.contains(w))
}

/// What the text of a bounce says (matched ignoring ASCII case).
const BOUNCE_WORDS: &[&str] = &[
    "could not be delivered",
    "couldn't be delivered",
    "was not delivered",
    "undeliverable",
    "delivery has failed",
    "delivery to the following",
    "permanent error",
    "permanent fatal error",
    "failed permanently",
    "unable to deliver",
    "i'm afraid i wasn't able to deliver",
    "the following address(es) failed",
    "delivery failed",
    "message could not be delivered",
    "returned mail",
    "smtp error",
    "user unknown",
    "mailbox unavailable",
    "invalid user",
    "no such user",
    "requested action not taken",
    "delivery failure",
    "mailbox is full",
];

static BOUNCE_WORDING: LazyLock<Needles> = LazyLock::new(|| Needles::new(BOUNCE_WORDS));

fn looks_like_bounce(message: &Message<'_>, parts: &Parts<'_>) -> bool {
    let from = message.header_raw("From").unwrap_or("").to_ascii_lowercase();
    let subject = message.subject().unwrap_or("").to_ascii_lowercase();
    let system_sender = [
        "mailer-daemon",
        "postmaster",
        "post_master",
        "mail delivery",
        "mail-daemon",
        "maildaemon",
        "mailerdaemon",
        "bounce",
    ]
    .iter()
    .any(|w| from.contains(w));
    let empty_return_path = message.header_raw("Return-Path").is_some_and(|r| r.trim() == "<>");
    let bounce_words = BOUNCE_WORDING.any_in(&parts.notification);
    let _ = empty_return_path;
    system_sender || bounce_words || bounce_subject(&subject) || parts.report_type.as_deref() == Some("delivery-status")
}

/// ARF (RFC 5965) and the complaints providers send without it.
/// `headers` are the returned message's ([`original_headers`]).
fn complaint(
    message: &Message<'_>,
    parts: &Parts<'_>,
    headers: &[(String, String)],
    ctx: &Context<'_>,
) -> Option<Parsed> {
    let arf = parts.report_type.as_deref() == Some("feedback-report") || !parts.feedback.is_empty();
    let subject = message.subject().unwrap_or("").to_ascii_lowercase();
    let hotmail = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("X-HmXmrOriginalRecipient"));
    let complaint_subject =
        subject.contains("complaint about message") || subject.contains("abuse report") || subject.starts_with("fbl");
    if !(arf || hotmail || complaint_subject && parts.original.is_some()) {
        return None;
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    for f in &parts.feedback {
        fields.extend(header_lines(f));
    }
    let field =
        |name: &str| fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string());
    let feedback_type = field("Feedback-Type").map(|t| t.to_ascii_lowercase()).unwrap_or_else(|| "abuse".to_string());
    // Who complained about our mail: the report names them, or the returned
    // message was addressed to them.
    let mut recipients: Vec<String> = fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Original-Rcpt-To") || n.eq_ignore_ascii_case("Removal-Recipient"))
        .filter_map(|(_, v)| clean_address(v))
        .collect();
    if recipients.is_empty() {
        recipients = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("X-HmXmrOriginalRecipient"))
            .filter_map(|(_, v)| clean_address(v))
            .collect();
    }
    if recipients.is_empty() {
        recipients = ctx.original_to.clone();
    }
    recipients.dedup();
    if recipients.is_empty() {
        return Some(Parsed::note(ctx.origin, NoteKind::Error, "a complaint report that names no recipient"));
    }
    let at = field("Arrival-Date")
        .or_else(|| field("Received-Date"))
        .and_then(|d| rfc3339_of_mail_date(&d))
        .or_else(|| ctx.date.clone());
    let events = recipients
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut e = ctx.event(EventType::Complaint, r, i, "arf");
            e.feedback_type = Some(feedback_type.clone());
            e.at = at.clone();
            e
        })
        .collect();
    Some(Parsed { events, notes: Vec::new() })
}

/// What kind of message an email is, without building its events (for
/// `--verbose` and tests).
pub fn kind_of(events: &[IngestEvent]) -> Option<Kind> {
    let e = events.first()?;
    Some(match (e.kind, e.format.as_str()) {
        (EventType::Complaint, _) => Kind::Complaint,
        (EventType::AutoReply, _) => Kind::AutoReply,
        (_, "dsn") => Kind::Dsn,
        _ => Kind::Prose,
    })
}
