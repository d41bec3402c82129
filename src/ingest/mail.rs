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
//! 3. an **unsubscribe request** sent by mail (Apple Mail's
//!    `X-Apple-Unsubscribe`, `Subject: unsubscribe` to an opt-out address)
//!    → one `unsubscribe` event;
//! 4. an **auto-reply** (RFC 3834 `Auto-Submitted: auto-replied`, and the
//!    headers vacation responders use) → one `auto_reply` event for the
//!    person who answered;
//! 5. a mailing list's **refusal of a non-member** → a bounce for the list;
//! 6. a **bounce in prose** (from a mailer daemon or postmaster, or with a
//!    bounce's subject or wording) → [`super::prose`];
//! 7. otherwise not a bounce: no event, a note that says why.
//!
//! A gateway's notice that gives nothing but attaches the bounce it got is
//! read through that attached bounce. Complaints, auto-replies, unsubscribe
//! requests and list refusals are in `mail/answers.rs`; DSNs in
//! `mail/dsn_events.rs`; bounces in prose in `mail/prose_events.rs`.
//!
//! The returned message (a `message/rfc822` or `text/rfc822-headers` part,
//! or the headers after a `--- Below this line is a copy of the message`
//! line) gives the campaign (the configured header) and the original
//! `Message-ID`. It never gives a bounce's recipient by itself: that comes
//! from the report's per-recipient fields or its failure text. Only when a
//! report names no recipient but names the destination that failed (or the
//! receiving domain's own system sent it) is the one returned recipient at
//! that domain taken; a complaint (ARF) names the returned message's
//! recipient as the complainant, as RFC 5965 means it.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::LazyLock;

use mail_parser::{HeaderName, Message, MessageParser, MimeHeaders, PartType};

mod answers;
mod dsn_events;
mod prose_events;

use answers::{auto_reply, complaint, is_auto_reply, list_refusal, unsubscribe_request};
use dsn_events::{events_of_dsn, from_dsn, inline_dsn};
use prose_events::{is_delay_notice, prose_bounce};

use super::needles::Needles;
use super::prose::{self, Excluded, Failure};
use super::{IngestEvent, MAX_INPUT_BYTES, NoteKind, Options, Parsed, rfc3339_of_mail_date, stable_id};
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
    parse_at(raw, origin, opts, 0, None)
}

/// How deep a bounce may sit inside forwarded bounces before it is not
/// looked for: a gateway forwards one, nobody nests ten.
const MAX_NESTING: usize = 2;

/// `outer` is, for a bounce read inside another message, the addresses the
/// enclosing message excludes (its own `To` is our sender; the inner one's
/// `To` may well be the failed recipient).
fn parse_at(raw: &[u8], origin: &str, opts: &Options, depth: usize, outer: Option<&Excluded>) -> Parsed {
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
    let mut ctx = Context::new(&message, &headers, origin, opts);
    ctx.delay_notice = is_delay_notice(&message, &parts.notification);
    if let Some(outer) = outer {
        ctx.exclude = inner_exclude(&message, ctx.exclude, outer);
    }
    let p = read_message(&message, &parts, &headers, &ctx, opts);
    // A gateway (InterScan, a relay) that forwards the bounce it got, with
    // only its own words outside: the attached bounce says what happened.
    if depth < MAX_NESTING
        && let Some(inner) = parts.original
        && p.events.iter().all(|e| e.code.is_none() && e.status.is_none())
    {
        let nested = parse_at(inner.raw_message(), origin, opts, depth + 1, Some(&ctx.exclude));
        if nested.events.iter().any(|e| e.code.is_some() || e.status.is_some()) {
            return nested;
        }
    }
    p
}

/// The addresses a message read inside another never takes as the failed
/// recipient: the enclosing message's, and its own senders — not its own
/// recipients (a gateway attaches the returned message, whose `To` is the
/// address that failed).
fn inner_exclude(message: &Message<'_>, own: Excluded, outer: &Excluded) -> Excluded {
    let recipients: HashSet<String> = REPORT_RECIPIENT_HEADERS
        .iter()
        .filter_map(|h| message.header_raw(*h))
        .flat_map(prose::addresses)
        .map(|(_, a)| a.to_ascii_lowercase())
        .collect();
    let never = own.never.into_iter().filter(|a| !recipients.contains(a));
    let outer_all = outer.never.iter().chain(&outer.unless_named).cloned();
    Excluded { never: never.chain(outer_all).collect(), unless_named: HashSet::new() }
}

/// The headers of a report that name whom it was delivered to: normally
/// the sender of the returned message.
const REPORT_RECIPIENT_HEADERS: &[&str] = &["To", "Delivered-To", "X-Original-To", "Envelope-To"];

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
    if is_auto_reply(message, &parts.notification) {
        return auto_reply(message, ctx);
    }
    // An ESP's notification mailed as JSON (SES to an email subscription),
    // its long lines perhaps broken by a mail system.
    let body = parts.notification.trim_start();
    if (body.starts_with('{') || body.starts_with('['))
        && let Some(format) = super::webhook::sniff(body.as_bytes())
    {
        let body = super::webhook::mailed_body(body);
        return super::webhook::parse(format, body.as_bytes(), origin, opts);
    }
    let (inline, prose_before) = inline_dsn(&parts.notification);
    if !inline.recipients.is_empty() {
        let p = events_of_dsn(&inline, prose_before, ctx);
        if !p.events.is_empty() {
            return p;
        }
    }
    if let Some(f) = list_refusal(message, &parts.notification) {
        return Parsed { events: vec![ctx.prose_event(&f, 0)], notes: Vec::new() };
    }
    if looks_like_bounce(message, parts) {
        return prose_bounce(message, parts, ctx);
    }
    let subject = message.subject().unwrap_or("").chars().take(80).collect::<String>();
    Parsed::note(origin, NoteKind::Skipped, format!("not a bounce, complaint or auto-reply (subject: {subject:?})"))
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

/// Bare CR line ends (old Mac mail) become LF; CRLF and LF are kept; a
/// doubled CR before LF (`\r\r\n`, from a CRLF text stored through a
/// CRLF-converting system) is one line end, not a blank line.
fn normalize_line_ends(raw: &[u8]) -> Cow<'_, [u8]> {
    // memchr finds the CRs (most mail has none, or only CRLF) without a
    // byte-by-byte walk.
    let bare_cr = memchr::memchr_iter(b'\r', raw).any(|i| raw.get(i + 1) != Some(&b'\n'));
    if !bare_cr {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, b) in raw.iter().enumerate() {
        if *b != b'\r' {
            out.push(*b);
            continue;
        }
        let run = raw.get(i..).map_or(0, |r| r.iter().take_while(|c| **c == b'\r').count());
        match raw.get(i + run) {
            // The last CR of a run before LF stays (CRLF); the others go.
            Some(b'\n') if run > 1 => {}
            Some(b'\n') => out.push(b'\r'),
            _ => out.push(b'\n'),
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

/// What every event of one message shares.
struct Context<'a> {
    origin: &'a str,
    /// The message's identity for ids: its Message-ID, else a hash of it.
    identity: String,
    /// The returned message's campaign, Message-ID, date and recipients.
    campaign: Option<String>,
    original_message_id: Option<String>,
    original_to: Vec<String>,
    /// The returned message's `To` and `Cc`.
    original_recipients: Vec<String>,
    /// The report's own date.
    date: Option<String>,
    /// Addresses that are not the failed recipient.
    exclude: Excluded,
    /// Whether the report says it is a warning about a delay, the MTA
    /// still trying ([`is_delay_notice`]): its prose failures are `delayed`,
    /// the others `failed`.
    delay_notice: bool,
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
        let original_recipients: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("To") || n.eq_ignore_ascii_case("Cc"))
            .flat_map(|(_, v)| prose::addresses(v).into_iter().map(|(_, a)| a))
            .collect();
        let addresses_of = |v: &str| prose::addresses(v).into_iter().map(|(_, a)| a.to_ascii_lowercase());
        let mut exclude = Excluded::default();
        // A list's addresses; where replies go.
        for (n, v) in headers {
            if n.eq_ignore_ascii_case("reply-to") || is_list_header(n) {
                exclude.never.extend(addresses_of(v));
            }
        }
        // The report's own From is the mailer daemon.
        for (n, v) in message.headers_raw() {
            if ["from", "return-path"].iter().any(|h| n.eq_ignore_ascii_case(h)) || is_list_header(n) {
                exclude.never.extend(addresses_of(v));
            }
        }
        // Whom the report was delivered to, and the returned message's
        // sender: our sender, as a rule — unless a line of the failure text
        // leads with the address and no other (a message to oneself).
        for name in REPORT_RECIPIENT_HEADERS {
            if let Some(v) = message.header_raw(*name) {
                exclude.unless_named.extend(addresses_of(v).filter(|a| !exclude.never.contains(a)));
            }
        }
        for (n, v) in headers {
            if ["from", "sender", "return-path"].iter().any(|h| n.eq_ignore_ascii_case(h)) {
                exclude.unless_named.extend(addresses_of(v).filter(|a| !exclude.never.contains(a)));
            }
        }
        let date = message.header_raw("Date").and_then(rfc3339_of_mail_date);
        Context {
            origin,
            identity,
            campaign,
            original_message_id,
            original_to,
            original_recipients,
            date,
            exclude,
            delay_notice: false,
        }
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
        // What the report says happened: a delay warning (the MTA still
        // trying), or else a failure — returned mail, final even with a 4xx
        // answer (the MTA gave up retrying).
        e.action = Some(if self.delay_notice { "delayed" } else { "failed" }.to_string());
        e
    }
}

/// Whether a header is a mailing list's (`List-Id`, `List-Post`,
/// `List-Unsubscribe`, …, RFC 2369 and 2919): its addresses are the list's.
fn is_list_header(name: &str) -> bool {
    name.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("list-"))
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

/// Whether a `From` (lowercased) is a mail system's: a mailer daemon, a
/// postmaster, a mail delivery system, a bounce address.
fn is_system_sender(from: &str) -> bool {
    [
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
    .any(|w| from.contains(w))
}

fn looks_like_bounce(message: &Message<'_>, parts: &Parts<'_>) -> bool {
    let from = message.header_raw("From").unwrap_or("").to_ascii_lowercase();
    let subject = message.subject().unwrap_or("").to_ascii_lowercase();
    let bounce_words = BOUNCE_WORDING.any_in(&parts.notification);
    is_system_sender(&from)
        || bounce_words
        || bounce_subject(&subject)
        || parts.report_type.as_deref() == Some("delivery-status")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_doubled_cr_before_lf_is_one_line_end() {
        assert_eq!(normalize_line_ends(b"a\r\r\nb\rc\r\nd").as_ref(), b"a\r\nb\nc\r\nd");
        assert!(matches!(normalize_line_ends(b"a\r\nb"), Cow::Borrowed(_)));
    }
}
