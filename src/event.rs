//! Events: the JSON Lines input of `classify`, `explain` and `run` (SPEC §7).
//!
//! Parsing is lenient where senders' pipelines differ (a code given as a
//! string, a phase in capitals) and strict where a mistake would change a
//! decision (a missing recipient is an error). Unknown fields are kept in
//! `extra` for scripts and ignored otherwise. Reading is streamed with a
//! bounded line length, so a 10-million-line file runs in flat memory and a
//! runaway line cannot exhaust it.

use std::borrow::Cow;
use std::io::BufRead;

use serde::Deserialize;

use crate::model::Phase;

/// The longest event line accepted, in bytes.
pub const MAX_EVENT_LINE_BYTES: usize = 1 << 20;

/// What happened to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// An SMTP answer, synchronous or from a DSN.
    #[default]
    Bounce,
    /// A successful delivery.
    Delivered,
    /// A feedback-loop report.
    Complaint,
    /// The person unsubscribed.
    Unsubscribe,
    /// The person opted in.
    Subscribe,
    /// The confirmation of a double opt-in.
    Confirm,
    /// A request to mail an address in error again.
    Reactivate,
    /// An automatic reply (RFC 3834: out of office, vacation): never a bounce.
    AutoReply,
}

impl EventType {
    /// The name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Bounce => "bounce",
            EventType::Delivered => "delivered",
            EventType::Complaint => "complaint",
            EventType::Unsubscribe => "unsubscribe",
            EventType::Subscribe => "subscribe",
            EventType::Confirm => "confirm",
            EventType::Reactivate => "reactivate",
            EventType::AutoReply => "auto_reply",
        }
    }
}

/// One event. Strings borrow from the input line where they can.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Event<'a> {
    /// The event's id (for idempotence and output). A string: the number
    /// `1` is refused rather than taken for the id `"1"` of another event.
    #[serde(default, borrow, deserialize_with = "opt_id")]
    pub id: Option<Cow<'a, str>>,
    /// The event type; `bounce` when absent.
    #[serde(default, rename = "type")]
    pub kind: EventType,
    /// The recipient's address (required).
    #[serde(borrow)]
    pub recipient: Cow<'a, str>,
    /// The campaign the message belonged to.
    #[serde(default, borrow, deserialize_with = "opt_text")]
    pub campaign: Option<Cow<'a, str>>,
    /// When it happened (RFC 3339).
    #[serde(default, borrow)]
    pub at: Option<Cow<'a, str>>,
    /// The basic reply code.
    #[serde(default, deserialize_with = "opt_code")]
    pub code: Option<u16>,
    /// The enhanced status code, as given.
    #[serde(default, borrow)]
    pub status: Option<Cow<'a, str>>,
    /// The reply text.
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    /// The MX host that answered.
    #[serde(default, borrow)]
    pub mx: Option<Cow<'a, str>>,
    /// The SMTP phase, as given.
    #[serde(default, borrow)]
    pub phase: Option<Cow<'a, str>>,
    /// For `subscribe`: `single` or `double`.
    #[serde(default, borrow)]
    pub optin: Option<Cow<'a, str>>,
    /// For `complaint`: the ARF feedback type.
    #[serde(default, borrow)]
    pub feedback_type: Option<Cow<'a, str>>,
    /// What the report said happened (`rebound ingest` writes the DSN's
    /// `Action`, Postfix's `status=`, or a provider's label). Read only for
    /// the `final_temporary` flag: a `failed` or `expired` report with a
    /// temporary answer.
    #[serde(default, borrow, deserialize_with = "opt_text")]
    pub action: Option<Cow<'a, str>>,
    /// The JSON line the event was read from (scripts read its extra fields).
    #[serde(skip)]
    pub raw: Option<&'a str>,
}

impl<'a> Event<'a> {
    /// A bounce for `recipient` with the given answer (for tests and embedders).
    pub fn bounce(recipient: &'a str, code: Option<u16>, status: Option<&'a str>, text: &'a str) -> Event<'a> {
        Event {
            recipient: Cow::Borrowed(recipient),
            code,
            status: status.map(Cow::Borrowed),
            text: Some(Cow::Borrowed(text)),
            ..Event::default()
        }
    }

    /// Parses one JSON line. A recipient that is empty (or only blanks) is
    /// refused: it names no contact; so is an `at` that is not an RFC 3339
    /// time with an offset (`yesterday`, `2026-11-20 10:00`): it would
    /// silently lose its place in the contact's history.
    pub fn parse(line: &'a str) -> Result<Event<'a>, String> {
        let mut e: Event<'a> = serde_json::from_str(line).map_err(|e| e.to_string())?;
        if e.recipient.trim().is_empty() {
            return Err("`recipient` is empty".to_string());
        }
        if let Some(at) = e.at.as_deref()
            && crate::lifecycle::engine::parse_at(at).is_none()
        {
            return Err(format!(
                "`at` is not an RFC 3339 time with an offset: `{}` (write e.g. `2026-11-20T10:00:00Z`)",
                at.chars().take(64).collect::<String>()
            ));
        }
        e.raw = Some(line);
        Ok(e)
    }

    /// The recipient's domain, as written.
    pub fn domain(&self) -> &str {
        memchr::memrchr(b'@', self.recipient.as_bytes()).map_or("", |at| &self.recipient[at + 1..])
    }

    /// The phase, leniently: `RCPT`, `rcpt to` and `RCPT TO` are `rcpt`.
    pub fn phase(&self) -> Option<Phase> {
        let p = self.phase.as_deref()?.trim();
        let word = p.split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
        let mut lower = [0u8; 16];
        let buf = lower.get_mut(..word.len())?;
        buf.copy_from_slice(word.as_bytes());
        buf.make_ascii_lowercase();
        let word = std::str::from_utf8(buf).unwrap_or("");
        match word {
            "ehlo" => Some(Phase::Helo),
            "greeting" | "banner" | "conn" => Some(Phase::Connect),
            w => Phase::parse(w),
        }
    }
}

fn opt_text<'de: 'a, 'a, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum T<'a> {
        S(#[serde(borrow)] Cow<'a, str>),
        N(i64),
    }
    Ok(match Option::<T>::deserialize(d)? {
        Some(T::S(s)) => Some(s),
        Some(T::N(n)) => Some(Cow::Owned(n.to_string())),
        None => None,
    })
}

fn opt_id<'de: 'a, 'a, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum T<'a> {
        S(#[serde(borrow)] Cow<'a, str>),
        N(serde_json::Number),
        Other(serde::de::IgnoredAny),
    }
    match Option::<T>::deserialize(d)? {
        Some(T::S(s)) => Ok(Some(s)),
        Some(T::N(n)) => {
            Err(serde::de::Error::custom(format!("`id` must be a string, not the number {n}: write \"{n}\"")))
        }
        Some(T::Other(_)) => Err(serde::de::Error::custom("`id` must be a string")),
        None => Ok(None),
    }
}

fn opt_code<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum C<'a> {
        N(u64),
        S(&'a str),
        F(serde::de::IgnoredAny),
    }
    Ok(match Option::<C>::deserialize(d)? {
        Some(C::N(n)) => u16::try_from(n).ok().filter(|c| (100..1000).contains(c)),
        Some(C::S(s)) => s.trim().parse::<u16>().ok().filter(|c| (100..1000).contains(c)),
        Some(C::F(_)) | None => None,
    })
}

/// Reads lines of at most [`MAX_EVENT_LINE_BYTES`]; a longer line is
/// skipped to its end and reported as `Err(line_number)`.
pub struct Lines<R> {
    reader: R,
    number: usize,
}

/// One line read by [`Lines`].
pub enum Line {
    /// A line's text (without the line break) and its 1-based number.
    Text(usize, String),
    /// A line that was too long or not UTF-8, and why.
    Bad(usize, String),
}

impl<R: BufRead> Lines<R> {
    /// Wraps a reader.
    pub fn new(reader: R) -> Lines<R> {
        Lines { reader, number: 0 }
    }

    /// The next line, reusing `buf`; `None` at the end of input.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) -> std::io::Result<Option<Line>> {
        buf.clear();
        Ok(match self.append_line(buf)? {
            // `append_line` checked the bytes are UTF-8.
            Some(Line::Text(n, _)) => Some(Line::Text(n, String::from_utf8(std::mem::take(buf)).unwrap_or_default())),
            other => other,
        })
    }

    /// The next line appended to `bytes` (without its line break), for a
    /// reader that keeps many lines in one buffer: `Line::Text` carries its
    /// number and no text — the line is `bytes[len_before..]`, checked to be
    /// UTF-8; a bad line leaves `bytes` as it was. `None` at the end of input.
    pub fn append_line(&mut self, bytes: &mut Vec<u8>) -> std::io::Result<Option<Line>> {
        let start = bytes.len();
        let mut too_long = false;
        let mut any = false;
        loop {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            any = true;
            let (take, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                let room = MAX_EVENT_LINE_BYTES.saturating_sub(bytes.len() - start);
                bytes.extend_from_slice(chunk.get(..take.min(room)).unwrap_or(&[]));
                too_long = take > room;
            }
            self.reader.consume(take);
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.number += 1;
        while bytes.len() > start && bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            bytes.pop();
        }
        let line = if too_long {
            Line::Bad(self.number, format!("the line is longer than {MAX_EVENT_LINE_BYTES} bytes"))
        } else {
            match std::str::from_utf8(bytes.get(start..).unwrap_or(&[])) {
                Ok(_) => Line::Text(self.number, String::new()),
                Err(e) => Line::Bad(self.number, format!("the line is not UTF-8 (byte {})", e.valid_up_to() + 1)),
            }
        };
        if matches!(line, Line::Bad(..)) {
            bytes.truncate(start);
        }
        Ok(Some(line))
    }
}
