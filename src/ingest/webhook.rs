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

mod mailgun;
mod postmark;
mod sendgrid;
mod ses;

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
                    Format::Sendgrid => sendgrid::sendgrid(&obj, cx),
                    Format::Postmark => postmark::postmark(&obj, cx),
                    Format::Mailgun => mailgun::mailgun(&obj, cx),
                    _ => ses::ses(&obj, cx),
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

/// A JSON body that came by mail (an SNS notification sent to an email
/// subscription) as a mail system left it: a long line may have been
/// broken inside a string, which JSON never allows, and the notification
/// may be followed by the service's footer (`--`, `If you wish to stop
/// receiving notifications…`). When the body does not read as JSON, such
/// breaks (and the indentation after them) are taken out of its strings,
/// and text after its first value that is not JSON is left out.
pub fn mailed_body(body: &str) -> std::borrow::Cow<'_, str> {
    if serde_json::from_str::<serde::de::IgnoredAny>(body).is_ok() {
        return std::borrow::Cow::Borrowed(body);
    }
    let joined = join_broken_strings(body);
    let mut values = serde_json::Deserializer::from_str(&joined).into_iter::<serde::de::IgnoredAny>();
    if let Some(Ok(_)) = values.next() {
        let end = values.byte_offset();
        let rest = joined.get(end..).unwrap_or("").trim_start();
        if !rest.starts_with(['{', '[']) {
            return std::borrow::Cow::Owned(joined.get(..end).unwrap_or("").to_string());
        }
    }
    std::borrow::Cow::Owned(joined)
}

/// `body` without the line breaks (and the indentation after them) inside
/// its JSON strings.
fn join_broken_strings(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let (mut in_string, mut escaped, mut after_break) = (false, false, false);
    for c in body.chars() {
        if after_break && (c == ' ' || c == '\t') {
            continue;
        }
        after_break = false;
        if in_string && (c == '\n' || c == '\r') {
            after_break = true;
            continue;
        }
        match c {
            '"' if !escaped => in_string = !in_string,
            _ => {}
        }
        escaped = in_string && c == '\\' && !escaped;
        out.push(c);
    }
    out
}

/// What a damaged JSON text still says (a notification cut by a mail
/// system): its members and elements up to the damage, each container
/// closed there. `None` when not even its first value starts to read.
pub(crate) fn salvage(text: &str) -> Option<Value> {
    let mut p = Partial { text, at: 0, damaged: false };
    p.value(0)
}

/// How deep [`salvage`] follows nested containers.
const MAX_SALVAGE_DEPTH: usize = 64;

/// The state of [`salvage`]: where it reads, and whether it met the damage.
struct Partial<'a> {
    text: &'a str,
    at: usize,
    damaged: bool,
}

impl Partial<'_> {
    fn rest(&self) -> &str {
        self.text.get(self.at..).unwrap_or("")
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    /// Reads one complete value with serde_json, or starts a container.
    fn value(&mut self, depth: usize) -> Option<Value> {
        self.skip_ws();
        match self.rest().as_bytes().first() {
            Some(b'{') if depth < MAX_SALVAGE_DEPTH => self.container(depth, true),
            Some(b'[') if depth < MAX_SALVAGE_DEPTH => self.container(depth, false),
            _ => {
                let mut values = serde_json::Deserializer::from_str(self.rest()).into_iter::<Value>();
                match values.next() {
                    Some(Ok(v)) => {
                        self.at += values.byte_offset();
                        Some(v)
                    }
                    _ => {
                        self.damaged = true;
                        None
                    }
                }
            }
        }
    }

    /// An object (`{`) or an array (`[`), up to its end or the damage.
    fn container(&mut self, depth: usize, object: bool) -> Option<Value> {
        self.at += 1;
        let close = if object { '}' } else { ']' };
        let (mut map, mut list) = (Map::new(), Vec::new());
        loop {
            self.skip_ws();
            if self.rest().starts_with(close) {
                self.at += 1;
                break;
            }
            let key = if object {
                let mut keys = serde_json::Deserializer::from_str(self.rest()).into_iter::<String>();
                let Some(Ok(key)) = keys.next() else {
                    self.damaged = true;
                    break;
                };
                self.at += keys.byte_offset();
                self.skip_ws();
                if !self.rest().starts_with(':') {
                    self.damaged = true;
                    break;
                }
                self.at += 1;
                Some(key)
            } else {
                None
            };
            let Some(v) = self.value(depth + 1) else { break };
            match key {
                Some(k) => {
                    map.insert(k, v);
                }
                None => list.push(v),
            }
            if self.damaged {
                break;
            }
            self.skip_ws();
            if self.rest().starts_with(',') {
                self.at += 1;
            } else if !self.rest().starts_with(close) {
                self.damaged = true;
                break;
            }
        }
        Some(if object { Value::Object(map) } else { Value::Array(list) })
    }
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

/// `Permanent/General`: the present parts, joined.
fn label_of(parts: &[Option<&str>]) -> Option<String> {
    let parts: Vec<&str> = parts.iter().flatten().copied().collect();
    (!parts.is_empty()).then(|| parts.join("/"))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn one(format: Format, body: &str) -> Parsed {
        parse(format, body.as_bytes(), "t.json", &Options::default())
    }

    #[test]
    fn a_damaged_text_says_what_came_before_the_damage() {
        let v = salvage(r#"{"a":1,"b":{"c":[{"d":"x"}],"e tail"},{"f":2}]"#).unwrap_or_default();
        assert_eq!(v, serde_json::json!({"a": 1, "b": {"c": [{"d": "x"}]}}));
        assert_eq!(salvage("nope"), None);
        assert_eq!(salvage(r#"[1, 2, "#), Some(serde_json::json!([1, 2])));
        let deep = "[".repeat(500);
        assert!(salvage(&deep).is_some());
    }

    #[test]
    fn mailed_bodies_lose_the_breaks_inside_their_strings() {
        assert_eq!(mailed_body("{\"a\": \"long\n  line\",\n \"b\": 1}"), "{\"a\": \"longline\",\n \"b\": 1}");
        assert_eq!(mailed_body("{\"a\": \"x\\\"y\"}"), "{\"a\": \"x\\\"y\"}");
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
    fn non_objects_and_empty_bodies() {
        let p = one(Format::Mailgun, "[1, null]");
        assert_eq!(p.notes.len(), 2);
        assert!(p.notes.iter().all(|n| n.kind == NoteKind::Error));
        assert_eq!(one(Format::Mailgun, "[]").notes[0].kind, NoteKind::Skipped);
        assert_eq!(one(Format::Mailgun, "  ").notes[0].kind, NoteKind::Error);
        assert_eq!(one(Format::Auto, r#"{"a":1}"#).notes[0].kind, NoteKind::Error);
    }
}
