//! ESP webhooks: Amazon SES (SNS), SendGrid, Postmark and Mailgun JSON in,
//! one [`IngestEvent`] per recipient out.
//!
//! A body is one JSON object, an array of them, or JSON Lines; each object
//! is a *record* (`origin#N` when a body holds more than one). What each
//! provider calls a bounce, a complaint or a delivery becomes a `bounce`,
//! `complaint` or `delivered` event; the provider's own label (SES
//! `Permanent/General`, SendGrid `blocked`, Postmark `HardBounce`, Mailgun
//! `permanent`) is kept in `action` for people and scripts, never used to
//! decide: the event carries the receiver's reply (code, status, text) and
//! the policy classifies it. Where a provider's label and the reply
//! disagree (SES `Transient` with `550 5.4.4`), the reply is kept as given.
//!
//! The reply is read from the provider's diagnostic (`smtp; 550 5.1.1 …`):
//! the reply code and enhanced status that lead it, the whole of it
//! (without the `smtp;` type, whitespace collapsed) as `text`. A status
//! given in the reply wins over the provider's own status field, which
//! fills in when the reply has none.
//!
//! Nothing here panics on bad input: invalid JSON is one error note (with
//! line and column), a record without a recipient is an error note naming
//! it while the other records still give events, and records of other
//! kinds (opens, clicks, sends) are skipped with a note. The caller bounds
//! the size of a body ([`super::MAX_INPUT_BYTES`]).

use serde_json::{Map, Value};

use super::{Format, IngestEvent, Note, NoteKind, Options, Parsed, clean_address, postfix_log, stable_id};
use crate::event::EventType;

/// The longest `text` kept, in characters; a longer diagnostic is cut.
const MAX_TEXT_CHARS: usize = 2000;

/// Parses one webhook body (a JSON object, an array of them, or JSON Lines)
/// of the given provider into events.
///
/// Any other `format` (such as [`Format::Auto`]) reads the provider from
/// the body, as [`sniff`] does.
///
/// ```
/// use rebound::ingest::{Format, Options, webhook};
/// let body = br#"{"RecordType":"Bounce","ID":42,"Type":"HardBounce","Email":"pat@example.org",
///   "Details":"smtp;550 5.1.1 User unknown","BouncedAt":"2026-11-28T05:13:59Z"}"#;
/// let parsed = webhook::parse(Format::Postmark, body, "hook.json", &Options::default());
/// assert_eq!(parsed.events[0].recipient, "pat@example.org");
/// assert_eq!(parsed.events[0].code, Some(550));
/// assert_eq!(parsed.events[0].status.as_deref(), Some("5.1.1"));
/// ```
pub fn parse(format: Format, body: &[u8], origin: &str, opts: &Options) -> Parsed {
    let format = match format {
        Format::Ses | Format::Sendgrid | Format::Postmark | Format::Mailgun => format,
        _ => match sniff(body) {
            Some(f) => f,
            None => {
                return Parsed::note(
                    origin,
                    NoteKind::Error,
                    "not a webhook body of SES, SendGrid, Postmark or Mailgun",
                );
            }
        },
    };
    let records = match read_records(body) {
        Ok(r) => r,
        Err(message) => return Parsed::note(origin, NoteKind::Error, message),
    };
    let mut out = Parsed::default();
    if records.is_empty() {
        out.notes.push(note(origin, NoteKind::Skipped, "an empty JSON array: no records"));
    }
    let many = records.len() > 1;
    for (i, record) in records.into_iter().enumerate() {
        let origin = if many { format!("{origin}#{}", i + 1) } else { origin.to_string() };
        match record {
            Record::Bad(message) => out.notes.push(note(&origin, NoteKind::Error, message)),
            Record::Value(Value::Object(obj)) => {
                let cx = Cx { origin, opts, out: &mut out };
                match format {
                    Format::Sendgrid => sendgrid(&obj, cx),
                    Format::Postmark => postmark(&obj, cx),
                    Format::Mailgun => mailgun(&obj, cx),
                    _ => ses(&obj, cx),
                }
            }
            Record::Value(v) => out.notes.push(note(
                &origin,
                NoteKind::Error,
                format!("a record that is not a JSON object ({})", kind_of(&v)),
            )),
        }
    }
    out
}

/// Which provider a JSON body comes from, if it is one.
///
/// Reads the first record that tells; a body that is cut short (the head of
/// a file) is told by the field names it holds.
pub fn sniff(body: &[u8]) -> Option<Format> {
    match read_records(body) {
        Ok(records) => records.iter().find_map(|r| match r {
            Record::Value(v) => provider_of(v),
            Record::Bad(_) => None,
        }),
        Err(_) => sniff_text(body),
    }
}

/// The provider a record's fields name.
fn provider_of(v: &Value) -> Option<Format> {
    let o = v.as_object()?;
    let has = |k: &str| o.contains_key(k);
    if has("event-data") {
        Some(Format::Mailgun)
    } else if has("notificationType")
        || has("eventType") && has("mail")
        || o.get("Type").is_some_and(Value::is_string) && (has("TopicArn") || has("Message"))
    {
        Some(Format::Ses)
    } else if has("RecordType") || has("BouncedAt") && has("Email") {
        Some(Format::Postmark)
    } else if has("sg_event_id") || has("sg_message_id") || has("smtp-id") || has("event") && has("email") {
        Some(Format::Sendgrid)
    } else if has("event") && has("recipient") {
        Some(Format::Mailgun)
    } else {
        None
    }
}

/// The provider of a body that is not (yet) valid JSON, by its field names.
fn sniff_text(body: &[u8]) -> Option<Format> {
    let first = body.iter().position(|b| !b.is_ascii_whitespace())?;
    if !matches!(body.get(first), Some(b'{' | b'[')) {
        return None;
    }
    // Names with their opening quote only: they may be escaped, inside an
    // SNS `Message` string.
    let has = |needle: &str| memchr::memmem::find(body, needle.as_bytes()).is_some();
    if has("\"event-data") || has("\"log-level") {
        Some(Format::Mailgun)
    } else if has("\"notificationType")
        || has("\"TopicArn")
        || has("\"eventType")
        || has("\"SubscriptionConfirmation")
        || has("\"Type\"") && has("\"Notification\"")
    {
        Some(Format::Ses)
    } else if has("\"RecordType") || has("\"BouncedAt") {
        Some(Format::Postmark)
    } else if has("\"sg_event_id") || has("\"sg_message_id") || has("\"smtp-id") || has("\"event\"") && has("\"email\"")
    {
        Some(Format::Sendgrid)
    } else if has("\"event\"") && has("\"recipient\"") {
        Some(Format::Mailgun)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Records

/// One top-level value of a body, or why it could not be read.
enum Record {
    Value(Value),
    Bad(String),
}

/// The records of a body: one value, an array of values, concatenated
/// values or JSON Lines (a bad line is a bad record, the others are kept).
/// `Err` when the body is not JSON at all.
fn read_records(body: &[u8]) -> Result<Vec<Record>, String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("an empty body: no JSON".to_string());
    }
    let whole_error = match serde_json::from_slice::<Value>(body) {
        Ok(v) => return Ok(flatten(vec![Record::Value(v)])),
        Err(e) => e,
    };
    // Several values one after another (JSON Lines, or concatenated).
    let mut values = Vec::new();
    for v in serde_json::Deserializer::from_slice(body).into_iter::<Value>() {
        match v {
            Ok(v) => values.push(Record::Value(v)),
            Err(e) if values.is_empty() => return Err(invalid(&e, None)),
            Err(e) => {
                if first_line_is_json(body) {
                    return Ok(flatten(json_lines(body)));
                }
                values.push(Record::Bad(invalid(&e, None)));
                return Ok(flatten(values));
            }
        }
    }
    if values.is_empty() {
        return Err(invalid(&whole_error, None));
    }
    Ok(flatten(values))
}

/// Whether the first non-empty line is a JSON value on its own.
fn first_line_is_json(body: &[u8]) -> bool {
    body.split(|&b| b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .is_some_and(|l| serde_json::from_slice::<Value>(l).is_ok())
}

/// JSON Lines: one record per non-empty line.
fn json_lines(body: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.push(match serde_json::from_slice::<Value>(line) {
            Ok(v) => Record::Value(v),
            Err(e) => Record::Bad(invalid(&e, Some(i + 1))),
        });
    }
    out
}

/// `invalid JSON at line L, column C: what`, with `line` for a line of
/// JSON Lines (where serde's own line is always 1).
fn invalid(e: &serde_json::Error, line: Option<usize>) -> String {
    let full = e.to_string();
    let what = full.rfind(" at line ").map_or(full.as_str(), |i| &full[..i]);
    format!("invalid JSON at line {}, column {}: {what}", line.unwrap_or(e.line()), e.column())
}

/// Arrays at the top level (or on a line) hold records.
fn flatten(values: Vec<Record>) -> Vec<Record> {
    let mut out = Vec::with_capacity(values.len());
    for r in values {
        match r {
            Record::Value(Value::Array(items)) => out.extend(items.into_iter().map(Record::Value)),
            other => out.push(other),
        }
    }
    out
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn note(origin: &str, kind: NoteKind, message: impl Into<String>) -> Note {
    Note { origin: origin.to_string(), kind, message: message.into() }
}

// ---------------------------------------------------------------------------
// What every provider needs

/// Where one record's events and notes go.
struct Cx<'a> {
    origin: String,
    opts: &'a Options,
    out: &'a mut Parsed,
}

impl Cx<'_> {
    fn skip(&mut self, message: impl Into<String>) {
        self.out.notes.push(note(&self.origin, NoteKind::Skipped, message));
    }

    fn error(&mut self, message: impl Into<String>) {
        self.out.notes.push(note(&self.origin, NoteKind::Error, message));
    }

    /// The names a campaign goes by in custom arguments, tags and metadata.
    fn campaign_keys(&self) -> [&str; 4] {
        [self.opts.campaign_header.as_str(), "campaign", "campaign_id", "campaign-id"]
    }

    /// The campaign in a map of custom fields, by the first key that has one.
    fn campaign_in(&self, map: Option<&Map<String, Value>>) -> Option<String> {
        let map = map?;
        self.campaign_keys()
            .iter()
            .find_map(|key| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).and_then(|(_, v)| scalar(v)))
    }
}

/// What all events of one record share.
struct Common {
    format: Format,
    origin: String,
    provider_id: Option<String>,
    record_json: String,
    campaign: Option<String>,
    message_id: Option<String>,
    at: Option<String>,
}

impl Common {
    fn new(format: Format, cx: &Cx<'_>, record: &Map<String, Value>, provider_id: Option<String>) -> Common {
        let record_json =
            if provider_id.is_some() { String::new() } else { serde_json::to_string(record).unwrap_or_default() };
        Common {
            format,
            origin: cx.origin.clone(),
            provider_id,
            record_json,
            campaign: None,
            message_id: None,
            at: None,
        }
    }

    /// An event for the `index`-th recipient of the record.
    fn event(&self, kind: EventType, recipient: String, index: usize) -> IngestEvent {
        let prefix = self.format.as_str();
        let index = index.to_string();
        let identity = self.provider_id.as_deref().unwrap_or(&self.record_json);
        IngestEvent {
            id: stable_id(prefix, &[identity, &recipient, &index]),
            kind,
            recipient,
            campaign: self.campaign.clone(),
            at: self.at.clone(),
            message_id: self.message_id.clone(),
            format: prefix.to_string(),
            origin: self.origin.clone(),
            ..IngestEvent::default()
        }
    }

    /// How a note names the record.
    fn name(&self, what: &str, id_field: &str) -> String {
        match &self.provider_id {
            Some(id) => format!("{what} ({id_field} `{id}`)"),
            None => what.to_string(),
        }
    }
}

/// The recipient in the `field` of a record (`raw`), or why there is none.
fn recipient(raw: Option<&Value>, record: &str, field: &str) -> Result<String, String> {
    match raw.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()) {
        None => Err(format!("{record}: no recipient (no `{field}`)")),
        Some(s) => clean_address(s).ok_or_else(|| format!("{record}: `{field}` is not an address: `{}`", cut(s, 200))),
    }
}

/// A string field, trimmed, `None` when absent or empty.
fn str_of<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// A string, a number or the first of an array of them, as text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => items.iter().find_map(scalar),
        _ => None,
    }
}

/// A `Message-ID` without its angle brackets.
fn message_id(v: Option<&Value>) -> Option<String> {
    let s = v.and_then(scalar)?;
    let s = s.trim().trim_start_matches('<').trim_end_matches('>').trim();
    (!s.is_empty()).then(|| cut(s, 998).to_string())
}

/// A provider's time: RFC 3339 (`2026-11-28T05:13:59.123Z`), an RFC 5322
/// date, or Unix seconds (a number or a numeric string, maybe fractional),
/// as RFC 3339 UTC.
fn timestamp(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => unix(n.as_f64()?),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = s.parse::<jiff::Timestamp>() {
                return Some(t.to_string());
            }
            if let Ok(f) = s.parse::<f64>() {
                return unix(f);
            }
            super::rfc3339_of_mail_date(s)
        }
        _ => None,
    }
}

fn unix(seconds: f64) -> Option<String> {
    if !seconds.is_finite() || seconds.abs() > 1e11 {
        return None;
    }
    let micros = (seconds * 1e6).round() as i64;
    jiff::Timestamp::from_microsecond(micros).ok().map(|t| t.to_string())
}

/// `s` cut to at most `max` characters.
fn cut(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

// ---------------------------------------------------------------------------
// Replies

/// A receiver's reply as a provider gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Reply {
    /// The reply code that leads it (`550`).
    pub code: Option<u16>,
    /// The enhanced status that leads it or follows the code (`5.1.1`).
    pub status: Option<String>,
    /// The whole reply, without a diagnostic type, whitespace collapsed.
    pub text: Option<String>,
}

/// Splits `smtp; 550 5.1.1 <pat@example.org>: User unknown`, `550-5.1.1 …`,
/// `5.1.1 …` or plain words into code, status and text.
pub(super) fn split_reply(raw: &str) -> Reply {
    let s = strip_diagnostic_type(raw.trim());
    let collapsed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = cut(&collapsed, MAX_TEXT_CHARS).to_string();
    let (code, rest) = match leading_code(&text) {
        Some(c) => (Some(c), text.get(3..).unwrap_or("")),
        None => (None, text.as_str()),
    };
    let rest = if code.is_some() { rest.trim_start_matches([' ', '-']) } else { rest };
    // Else a status qmail-style, in the words: `(#5.7.1)`.
    let status =
        leading_status(rest).or_else(|| text.match_indices("(#").find_map(|(i, _)| leading_status(&text[i + 2..])));
    Reply { code, status, text: (!text.is_empty()).then_some(text) }
}

/// `smtp; …`, `X-Postfix; …`: the text after a diagnostic type.
fn strip_diagnostic_type(s: &str) -> &str {
    match s.split_once(';') {
        Some((kind, rest)) => {
            let kind = kind.trim();
            if kind.eq_ignore_ascii_case("smtp")
                || kind.len() > 2 && kind[..2].eq_ignore_ascii_case("x-") && !kind.contains(' ')
            {
                rest.trim_start()
            } else {
                s
            }
        }
        None => s,
    }
}

/// A reply code that starts `s` (`550 …`, `550-…`, `550`).
fn leading_code(s: &str) -> Option<u16> {
    let b = s.as_bytes();
    let ok = b.len() >= 3
        && matches!(b[0], b'2' | b'4' | b'5')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && b.get(3).is_none_or(|c| matches!(c, b' ' | b'-'));
    if !ok {
        return None;
    }
    s.get(..3).and_then(|c| c.parse().ok())
}

/// An enhanced status that starts `s` (`5.1.1`, `#5.1.1`, `(5.1.1)`).
pub(super) fn leading_status(s: &str) -> Option<String> {
    let s = s.trim_start_matches(['#', '(', '[']);
    let token: &str = &s[..s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len())];
    let token = token.trim_end_matches('.');
    let next = s[token.len()..].chars().next();
    (is_status(token) && next.is_none_or(|c| !c.is_ascii_alphanumeric())).then(|| token.to_string())
}

/// `class.subject.detail` (RFC 3463): `[245].N{1,3}.N{1,3}`.
pub(super) fn is_status(s: &str) -> bool {
    let mut parts = s.split('.');
    let (Some(class), Some(subject), Some(detail), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let digits = |p: &str| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    matches!(class, "2" | "4" | "5") && digits(subject) && digits(detail)
}

/// A provider's status field, when it is an enhanced status.
fn status_field(v: Option<&Value>) -> Option<String> {
    let s = v.and_then(scalar)?;
    is_status(&s).then_some(s)
}

/// Fills code, status, text and phase from a reply; the provider's status
/// field fills in a status the reply does not give.
fn set_reply(e: &mut IngestEvent, raw: Option<&str>, status: Option<String>) {
    if let Some(raw) = raw {
        let r = split_reply(raw);
        e.code = r.code;
        e.status = r.status;
        e.text = r.text;
    }
    if e.status.is_none() {
        e.status = status;
    }
    e.phase = e.text.as_deref().and_then(postfix_log::phase_of).map(str::to_string);
}

/// An SMTP reply code from a provider's code field (not its own codes,
/// such as Mailgun's 605).
fn code_field(v: Option<&Value>) -> Option<u16> {
    let c: u16 = match v? {
        Value::Number(n) => u16::try_from(n.as_u64()?).ok()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    ((200..600).contains(&c)).then_some(c)
}

// ---------------------------------------------------------------------------
// Amazon SES

fn ses(record: &Map<String, Value>, mut cx: Cx<'_>) {
    // The SNS envelope: `Message` is the notification, as a JSON string.
    let mut sns_id = None;
    let parsed;
    let n: &Map<String, Value> = match record.get("Type").and_then(Value::as_str) {
        Some("Notification") => {
            sns_id = str_of(record, "MessageId").map(str::to_string);
            match record.get("Message") {
                Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                    Ok(Value::Object(o)) => {
                        parsed = o;
                        &parsed
                    }
                    Ok(_) => return cx.skip("an SNS notification whose `Message` is not an SES notification"),
                    Err(e) => return cx.error(format!("the SNS `Message` is not JSON: {}", invalid(&e, None))),
                },
                Some(Value::Object(o)) => o,
                _ => return cx.error("an SNS notification without a `Message`"),
            }
        }
        Some(other @ ("SubscriptionConfirmation" | "UnsubscribeConfirmation")) => {
            return cx.skip(format!(
                "an SNS `{other}` message: not a notification (confirm the subscription at its `SubscribeURL`)"
            ));
        }
        Some(other) if record.contains_key("TopicArn") => {
            return cx.skip(format!("an SNS `{}` message: not a notification", cut(other, 100)));
        }
        _ => record,
    };
    let Some(kind) = str_of(n, "notificationType").or_else(|| str_of(n, "eventType")) else {
        return cx.error("not an SES notification: no `notificationType` or `eventType`");
    };
    let (section, list, label) = match kind {
        "Bounce" => ("bounce", "bouncedRecipients", "bounce"),
        "Complaint" => ("complaint", "complainedRecipients", "complaint"),
        "Delivery" => ("delivery", "recipients", "delivery"),
        "DeliveryDelay" => ("deliveryDelay", "delayedRecipients", "delivery delay"),
        other => {
            return cx.skip(format!("an SES `{}` notification: not a bounce, complaint or delivery", cut(other, 100)));
        }
    };
    let Some(body) = n.get(section).and_then(Value::as_object) else {
        return cx.error(format!("an SES {label} notification without its `{section}` object"));
    };
    let mail = n.get("mail").and_then(Value::as_object);
    let provider_id = str_of(body, "feedbackId").map(str::to_string).or(sns_id);
    let mut common = Common::new(Format::Ses, &cx, n, provider_id);
    common.at = timestamp(body.get("timestamp")).or_else(|| mail.and_then(|m| timestamp(m.get("timestamp"))));
    common.campaign = mail.and_then(|m| ses_campaign(m, &cx));
    common.message_id = mail.and_then(ses_message_id);
    let name = common.name(&format!("an SES {label} notification"), "feedbackId");
    let recipients = body.get(list).and_then(Value::as_array).filter(|l| !l.is_empty());
    let Some(recipients) = recipients else {
        return cx.error(format!("{name} has no `{list}`"));
    };
    let mx = str_of(body, "remoteMtaIp").map(str::to_string);
    for (i, r) in recipients.iter().enumerate() {
        let (raw, field) =
            if section == "delivery" { (Some(r), list) } else { (r.get("emailAddress"), "emailAddress") };
        let address = match recipient(raw, &format!("{name}, entry {} of `{list}`", i + 1), field) {
            Ok(a) => a,
            Err(message) => {
                cx.error(message);
                continue;
            }
        };
        let e = match section {
            "bounce" | "deliveryDelay" => {
                let mut e = common.event(EventType::Bounce, address, i);
                set_reply(&mut e, r.get("diagnosticCode").and_then(Value::as_str), status_field(r.get("status")));
                e.mx = mx.clone();
                e.action = if section == "bounce" {
                    label_of(&[str_of(body, "bounceType"), str_of(body, "bounceSubType")])
                } else {
                    label_of(&[Some("Delay"), str_of(body, "delayType")])
                };
                e
            }
            "complaint" => {
                let mut e = common.event(EventType::Complaint, address, i);
                e.feedback_type = str_of(body, "complaintFeedbackType").map(str::to_string);
                e.action = str_of(body, "complaintSubType").map(str::to_string);
                e
            }
            _ => {
                let mut e = common.event(EventType::Delivered, address, i);
                set_reply(&mut e, str_of(body, "smtpResponse"), None);
                e.mx = mx.clone();
                e
            }
        };
        cx.out.events.push(e);
    }
}

/// `Permanent/General`: the present parts, joined.
fn label_of(parts: &[Option<&str>]) -> Option<String> {
    let parts: Vec<&str> = parts.iter().flatten().copied().collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The campaign header among `mail.headers`, else a campaign tag.
fn ses_campaign(mail: &Map<String, Value>, cx: &Cx<'_>) -> Option<String> {
    let header = &cx.opts.campaign_header;
    let from_headers = mail.get("headers").and_then(Value::as_array).and_then(|headers| {
        headers.iter().find_map(|h| {
            let name = h.get("name").and_then(Value::as_str)?;
            if name.trim().eq_ignore_ascii_case(header) { h.get("value").and_then(scalar) } else { None }
        })
    });
    from_headers.or_else(|| cx.campaign_in(mail.get("tags").and_then(Value::as_object)))
}

/// The original `Message-ID`: `commonHeaders.messageId`, the header, else
/// SES's own message id.
fn ses_message_id(mail: &Map<String, Value>) -> Option<String> {
    message_id(mail.get("commonHeaders").and_then(|h| h.get("messageId")))
        .or_else(|| {
            let headers = mail.get("headers")?.as_array()?;
            let h = headers.iter().find(|h| {
                h.get("name").and_then(Value::as_str).is_some_and(|n| n.trim().eq_ignore_ascii_case("message-id"))
            })?;
            message_id(h.get("value"))
        })
        .or_else(|| message_id(mail.get("messageId")))
}

// ---------------------------------------------------------------------------
// SendGrid

fn sendgrid(record: &Map<String, Value>, mut cx: Cx<'_>) {
    let Some(event) = str_of(record, "event") else {
        return cx.error("not a SendGrid event: no `event`");
    };
    let mut common = Common::new(Format::Sendgrid, &cx, record, str_of(record, "sg_event_id").map(str::to_string));
    let name = common.name(&format!("a SendGrid `{}` event", cut(event, 100)), "sg_event_id");
    let reason = str_of(record, "reason");
    let response = str_of(record, "response");
    let kind = match event {
        "bounce" | "blocked" | "deferred" => EventType::Bounce,
        "dropped" => {
            if reason.is_none_or(|r| split_reply(r).code.is_none()) {
                let why = reason.map(|r| format!(": {}", cut(r, 200))).unwrap_or_default();
                return cx.skip(format!("{name}: SendGrid dropped the message without an SMTP answer{why}"));
            }
            EventType::Bounce
        }
        "delivered" => EventType::Delivered,
        "spamreport" => EventType::Complaint,
        // The person unsubscribed (from everything, or from a group): the lifecycle's `unsubscribe`.
        "unsubscribe" | "group_unsubscribe" => EventType::Unsubscribe,
        other => {
            return cx.skip(format!("a SendGrid `{}` event: not a bounce, complaint or delivery", cut(other, 100)));
        }
    };
    let address = match recipient(record.get("email"), &name, "email") {
        Ok(a) => a,
        Err(message) => return cx.error(message),
    };
    common.at = timestamp(record.get("timestamp"));
    common.message_id = message_id(record.get("smtp-id"));
    common.campaign = cx
        .campaign_in(Some(record))
        .or_else(|| record.get("marketing_campaign_id").and_then(scalar))
        .or_else(|| record.get("category").and_then(scalar));
    let mut e = common.event(kind, address, 0);
    match kind {
        EventType::Bounce => {
            let answer = if event == "deferred" { response.or(reason) } else { reason.or(response) };
            set_reply(&mut e, answer, status_field(record.get("status")));
            e.action =
                Some(if event == "bounce" { str_of(record, "type").unwrap_or("bounce") } else { event }.to_string());
        }
        EventType::Delivered => set_reply(&mut e, response, status_field(record.get("status"))),
        _ => {}
    }
    cx.out.events.push(e);
}

// ---------------------------------------------------------------------------
// Postmark

fn postmark(record: &Map<String, Value>, mut cx: Cx<'_>) {
    // Old bounce webhooks have no `RecordType`.
    let record_type = str_of(record, "RecordType")
        .or_else(|| (record.contains_key("BouncedAt") && record.contains_key("Email")).then_some("Bounce"));
    let Some(record_type) = record_type else {
        return cx.error("not a Postmark webhook: no `RecordType`");
    };
    let provider_id = record.get("ID").and_then(scalar).or_else(|| record.get("MessageID").and_then(scalar));
    let mut common = Common::new(Format::Postmark, &cx, record, provider_id);
    let name = common.name(&format!("a Postmark `{}` record", cut(record_type, 100)), "ID");
    let bounce_type = str_of(record, "Type");
    let (kind, address_field, at_field) = match record_type {
        "Bounce" if bounce_type == Some("AutoResponder") => (EventType::AutoReply, "Email", "BouncedAt"),
        "Bounce" => (EventType::Bounce, "Email", "BouncedAt"),
        "SpamComplaint" => (EventType::Complaint, "Email", "BouncedAt"),
        "Delivery" => (EventType::Delivered, "Recipient", "DeliveredAt"),
        // A suppression the person asked for is an unsubscribe; one lifted is not an event here.
        "SubscriptionChange" if record.get("SuppressSending").and_then(Value::as_bool) == Some(true) => {
            match str_of(record, "SuppressionReason") {
                Some("ManualSuppression") | None => (EventType::Unsubscribe, "Recipient", "ChangedAt"),
                Some(other) => {
                    return cx.skip(format!(
                        "a Postmark suppression for `{}`: the bounce or complaint that caused it is its own event",
                        cut(other, 100)
                    ));
                }
            }
        }
        other => {
            return cx.skip(format!("a Postmark `{}` record: not a bounce, complaint or delivery", cut(other, 100)));
        }
    };
    let address = match recipient(record.get(address_field), &name, address_field) {
        Ok(a) => a,
        Err(message) => return cx.error(message),
    };
    common.at = timestamp(record.get(at_field));
    common.message_id = message_id(record.get("MessageID"));
    common.campaign = cx
        .campaign_in(record.get("Metadata").and_then(Value::as_object))
        .or_else(|| record.get("Tag").and_then(scalar));
    let mut e = common.event(kind, address, 0);
    if kind == EventType::Bounce || kind == EventType::Delivered {
        let details = str_of(record, "Details");
        set_reply(&mut e, details.or_else(|| str_of(record, "Description")), None);
    }
    if kind != EventType::Delivered {
        e.action = bounce_type.map(str::to_string);
    }
    cx.out.events.push(e);
}

// ---------------------------------------------------------------------------
// Mailgun

fn mailgun(record: &Map<String, Value>, mut cx: Cx<'_>) {
    let data = match record.get("event-data") {
        Some(Value::Object(d)) => d,
        Some(_) => return cx.error("a Mailgun webhook whose `event-data` is not an object"),
        None => record,
    };
    let Some(event) = str_of(data, "event") else {
        return cx.error("not a Mailgun event: no `event`");
    };
    // The legacy webhooks have no event id, but a token unique to the post.
    let (provider_id, id_field) = match str_of(data, "id") {
        Some(id) => (Some(id), "id"),
        None => (str_of(data, "token"), "token"),
    };
    let mut common = Common::new(Format::Mailgun, &cx, data, provider_id.map(str::to_string));
    let name = common.name(&format!("a Mailgun `{}` event", cut(event, 100)), id_field);
    let status = data.get("delivery-status").and_then(Value::as_object);
    // The legacy webhooks: `bounced` and `dropped`, flat fields.
    let legacy_text =
        str_of(data, "error").or_else(|| str_of(data, "notification")).or_else(|| str_of(data, "description"));
    let kind = match event {
        "failed" | "bounced" => EventType::Bounce,
        "dropped" => {
            let has_answer =
                code_field(data.get("code")).is_some() || legacy_text.is_some_and(|t| split_reply(t).code.is_some());
            if !has_answer {
                let why = str_of(data, "reason").map(|r| format!(" ({})", cut(r, 100))).unwrap_or_default();
                return cx.skip(format!("{name}: Mailgun dropped the message without an SMTP answer{why}"));
            }
            EventType::Bounce
        }
        "delivered" => EventType::Delivered,
        "complained" => EventType::Complaint,
        "unsubscribed" => EventType::Unsubscribe,
        other => return cx.skip(format!("a Mailgun `{}` event: not a bounce, complaint or delivery", cut(other, 100))),
    };
    let address = match recipient(data.get("recipient"), &name, "recipient") {
        Ok(a) => a,
        Err(message) => return cx.error(message),
    };
    common.at = timestamp(data.get("timestamp"));
    let headers = data.get("message").and_then(|m| m.get("headers")).and_then(Value::as_object);
    common.message_id = message_id(headers.and_then(|h| h.get("message-id")))
        .or_else(|| message_id(data.get("Message-Id").or_else(|| data.get("message-id"))));
    common.campaign = cx
        .campaign_in(data.get("user-variables").and_then(Value::as_object))
        .or_else(|| cx.campaign_in(Some(data)))
        .or_else(|| data.get("tags").and_then(scalar))
        .or_else(|| data.get("tag").and_then(scalar));
    let mut e = common.event(kind, address, 0);
    if kind == EventType::Bounce || kind == EventType::Delivered {
        match status {
            Some(s) => {
                let words = str_of(s, "message").or_else(|| str_of(s, "description"));
                set_reply(&mut e, words, status_field(s.get("enhanced-code")));
                e.code = code_field(s.get("code")).or(e.code);
                e.mx = str_of(s, "mx-host").map(|h| h.trim_end_matches('.').to_ascii_lowercase());
            }
            None => {
                set_reply(&mut e, legacy_text, None);
                e.code = code_field(data.get("code")).or(e.code);
            }
        }
    }
    if kind == EventType::Bounce {
        e.action = if event == "failed" {
            label_of(&[str_of(data, "severity"), str_of(data, "reason")])
        } else {
            Some(event.to_string())
        };
    }
    cx.out.events.push(e);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(format: Format, body: &str) -> Parsed {
        parse(format, body.as_bytes(), "t.json", &Options::default())
    }

    #[test]
    fn diagnostic_codes_are_split() {
        let r = split_reply("smtp; 550 5.1.1 <pat@example.org>: Recipient address rejected: User unknown");
        assert_eq!(r.code, Some(550));
        assert_eq!(r.status.as_deref(), Some("5.1.1"));
        assert_eq!(r.text.as_deref(), Some("550 5.1.1 <pat@example.org>: Recipient address rejected: User unknown"));

        let r = split_reply("smtp;550-5.1.1 The email account that you tried to reach does not exist.\n  Please try");
        assert_eq!((r.code, r.status.as_deref()), (Some(550), Some("5.1.1")));
        assert_eq!(
            r.text.as_deref(),
            Some("550-5.1.1 The email account that you tried to reach does not exist. Please try")
        );

        let r = split_reply("5.2.2 The email account that you tried to reach is over quota.");
        assert_eq!((r.code, r.status.as_deref()), (None, Some("5.2.2")));

        let r = split_reply("554 #5.7.1 blocked");
        assert_eq!((r.code, r.status.as_deref()), (Some(554), Some("5.7.1")));

        let r = split_reply("553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)");
        assert_eq!((r.code, r.status.as_deref()), (Some(553), Some("5.7.1")));

        let r = split_reply("X-Postfix; mailbox full");
        assert_eq!((r.code, r.status, r.text.as_deref()), (None, None, Some("mailbox full")));

        // Words with a semicolon are not a diagnostic type.
        assert_eq!(split_reply("Mailbox full; try later").text.as_deref(), Some("Mailbox full; try later"));
        // Not codes: a port, a longer number, a version.
        assert_eq!(split_reply("5501 nope").code, None);
        assert_eq!(split_reply("550 5.1.1.1 four parts").status, None);
        assert_eq!(split_reply("550 6.1.1 odd").status, None);
        assert_eq!(split_reply("").text, None);
    }

    #[test]
    fn statuses() {
        assert!(is_status("5.1.1") && is_status("4.7.650") && is_status("2.0.0"));
        assert!(!is_status("5.1") && !is_status("3.1.1") && !is_status("5.1.1234") && !is_status("5..1"));
        assert_eq!(leading_status("(5.7.1) denied").as_deref(), Some("5.7.1"));
        assert_eq!(leading_status("5.7.1abc"), None);
    }

    #[test]
    fn timestamps() {
        let ts = |v: Value| timestamp(Some(&v));
        assert_eq!(ts(Value::from(1_795_000_000)).as_deref(), Some("2026-11-18T11:06:40Z"));
        assert_eq!(ts(Value::from(1_521_233_195.375_624)).as_deref(), Some("2018-03-16T20:46:35.375624Z"));
        assert_eq!(ts(Value::from("2026-11-28T05:13:59.9070259Z")).as_deref(), Some("2026-11-28T05:13:59.9070259Z"));
        assert_eq!(ts(Value::from("2026-11-28T06:13:59+01:00")).as_deref(), Some("2026-11-28T05:13:59Z"));
        assert_eq!(ts(Value::from("Sat, 28 Nov 2026 05:13:59 +0000")).as_deref(), Some("2026-11-28T05:13:59Z"));
        assert_eq!(ts(Value::from("1795000000")).as_deref(), Some("2026-11-18T11:06:40Z"));
        assert_eq!(ts(Value::from("yesterday")), None);
        assert_eq!(ts(Value::from(1e300)), None);
        assert_eq!(ts(Value::Null), None);
    }

    #[test]
    fn ses_transient_with_a_permanent_reply_keeps_the_reply() {
        let body = r#"{"notificationType":"Bounce","bounce":{"bounceType":"Transient","bounceSubType":"General",
            "feedbackId":"f-1","bouncedRecipients":[{"emailAddress":"pat@example.org","status":"5.4.4",
            "diagnosticCode":"smtp; 550 5.4.4 Unable to route"}]},"mail":{}}"#;
        let p = one(Format::Ses, body);
        let e = &p.events[0];
        assert_eq!(
            (e.code, e.status.as_deref(), e.action.as_deref()),
            (Some(550), Some("5.4.4"), Some("Transient/General"))
        );
    }

    #[test]
    fn invalid_json_is_one_located_error() {
        let p = one(Format::Sendgrid, "[{\"event\": \"bounce\",\n  \"email\": }]");
        assert!(p.events.is_empty());
        assert_eq!(p.notes.len(), 1);
        assert_eq!(p.notes[0].kind, NoteKind::Error);
        assert!(p.notes[0].message.starts_with("invalid JSON at line 2, column 12:"), "{}", p.notes[0].message);
    }

    #[test]
    fn json_lines_with_a_bad_line() {
        let body = "{\"event\":\"delivered\",\"email\":\"a@example.org\"}\n{oops\n{\"event\":\"open\",\"email\":\"b@example.org\"}\n";
        let p = one(Format::Sendgrid, body);
        assert_eq!(p.events.len(), 1);
        assert_eq!(p.events[0].origin, "t.json#1");
        assert_eq!(p.notes[0].origin, "t.json#2");
        assert!(p.notes[0].message.starts_with("invalid JSON at line 2, column 2"), "{}", p.notes[0].message);
        assert_eq!((p.notes[1].origin.as_str(), p.notes[1].kind), ("t.json#3", NoteKind::Skipped));
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(br#"{"Type":"Notification","TopicArn":"arn","Message":"{}"}"#), Some(Format::Ses));
        assert_eq!(sniff(br#"[{"email":"a@example.org","event":"bounce","sg_event_id":"x"}]"#), Some(Format::Sendgrid));
        assert_eq!(sniff(br#"{"RecordType":"Bounce"}"#), Some(Format::Postmark));
        assert_eq!(sniff(br#"{"signature":{},"event-data":{"event":"failed"}}"#), Some(Format::Mailgun));
        // A head cut short is told by its field names.
        assert_eq!(sniff(br#"{"signature":{"token":"t"},"event-data":{"event":"fai"#), Some(Format::Mailgun));
        assert_eq!(sniff(br#"{"hello":"world"}"#), None);
        assert_eq!(sniff(b"not json"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn ids_use_the_provider_id_else_the_record() {
        let a = one(Format::Postmark, r#"{"RecordType":"SpamComplaint","ID":7,"Email":"a@example.org"}"#);
        assert_eq!(a.events[0].id, stable_id("postmark", &["7", "a@example.org", "0"]));
        let b = one(Format::Postmark, r#"{"RecordType":"SpamComplaint","Email":"a@example.org"}"#);
        let c = one(Format::Postmark, r#"{"RecordType":"SpamComplaint","Email":"a@example.org","Tag":"x"}"#);
        assert!(b.events[0].id.starts_with("postmark:"));
        assert_ne!(b.events[0].id, c.events[0].id);
    }

    #[test]
    fn campaign_header_name_is_configurable() {
        let opts = Options { campaign_header: "X-Mailing".to_string() };
        let body = r#"{"event":"bounce","email":"a@example.org","x-mailing":"m-9","campaign":"c-1","category":"k"}"#;
        let p = parse(Format::Sendgrid, body.as_bytes(), "t", &opts);
        assert_eq!(p.events[0].campaign.as_deref(), Some("m-9"));
        let p = one(Format::Sendgrid, body);
        assert_eq!(p.events[0].campaign.as_deref(), Some("c-1"));
    }

    #[test]
    fn non_objects_and_empty_bodies() {
        let p = one(Format::Mailgun, "[1, null]");
        assert_eq!(p.notes.len(), 2);
        assert!(p.notes.iter().all(|n| n.kind == NoteKind::Error));
        assert_eq!(one(Format::Mailgun, "[]").notes[0].kind, NoteKind::Skipped);
        assert_eq!(one(Format::Mailgun, "  ").notes[0].kind, NoteKind::Error);
        assert_eq!(one(Format::Auto, r#"{"a":1}"#).notes[0].kind, NoteKind::Error);
    }
}
