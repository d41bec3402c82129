//! Ingest: real bounces in, events (SPEC §7) out.
//!
//! Bounces rarely arrive as SMTP answers. They come as emails in a bounce
//! mailbox (RFC 3464 delivery status notifications, or the prose of an MTA
//! that does not follow it), complaints as ARF reports (RFC 5965),
//! auto-replies (RFC 3834), lines of a Postfix log, and the JSON webhooks of
//! ESPs. Each reader here turns one of those into [`IngestEvent`]s — one per
//! recipient, `type` set from what the message is — and [`Note`]s for what
//! it could not use (a message that is not a bounce, an unreadable file).
//! Nothing is decided here: the policy classifies the events.
//!
//! - [`mail`]: one email (MIME via `mail-parser`): DSN, ARF, auto-reply, or
//!   a non-standard bounce read by [`prose`].
//! - [`dsn`]: the `message/delivery-status` fields.
//! - [`prose`]: the facts of non-standard bounces (Postfix, Sendmail, Exim,
//!   qmail, Exchange, Gmail, Yahoo, …).
//! - [`transcript`]: the SMTP transcripts quoted in them (`>>> RCPT To:…`,
//!   `<<< 550 …`): the receiver's replies and the commands they answered.
//! - [`postfix_log`]: `status=bounced`/`deferred` lines of a Postfix log.
//! - [`webhook`]: Amazon SES (SNS), SendGrid, Postmark and Mailgun JSON.
//! - `needles`: phrase lists searched in one pass, ignoring ASCII case.
//! - [`source`]: files, directories, mbox and Maildir, and which reader a
//!   path needs (`--from auto`).

pub mod dsn;
pub mod mail;
mod needles;
pub mod postfix_log;
pub mod prose;
pub mod source;
pub mod transcript;
pub mod webhook;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::event::EventType;

/// The largest single input (an email, a webhook body) read, in bytes.
/// Larger ones are skipped with a note, never truncated silently.
pub const MAX_INPUT_BYTES: usize = 32 << 20;

/// Where the input comes from and how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Decide from the content of each file (and the shape of directories).
    Auto,
    /// One email per file (`.eml`, or any RFC 5322 message).
    Eml,
    /// A Unix mbox: emails separated by `From ` lines.
    Mbox,
    /// A Maildir (`cur/`, `new/`), or Maildir++ folders.
    Maildir,
    /// A Postfix log (`status=bounced` and `status=deferred` lines).
    PostfixLog,
    /// Amazon SES notifications (SNS messages, or their `Message` objects).
    Ses,
    /// SendGrid Event Webhook posts.
    Sendgrid,
    /// Postmark bounce, spam complaint and delivery webhooks.
    Postmark,
    /// Mailgun webhooks (`event-data`).
    Mailgun,
}

impl Format {
    /// The name used on the command line and in `format` of events.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Eml => "eml",
            Format::Mbox => "mbox",
            Format::Maildir => "maildir",
            Format::PostfixLog => "postfix-log",
            Format::Ses => "ses",
            Format::Sendgrid => "sendgrid",
            Format::Postmark => "postmark",
            Format::Mailgun => "mailgun",
        }
    }
}

/// How ingest reads what it is given.
#[derive(Debug, Clone)]
pub struct Options {
    /// The header of the original message that names its campaign
    /// (`X-Campaign-Id` by default; compared case-insensitively). ESP
    /// webhooks read the same name from their custom arguments or tags.
    pub campaign_header: String,
}

impl Default for Options {
    fn default() -> Options {
        Options { campaign_header: "X-Campaign-Id".to_string() }
    }
}

/// One event, as `rebound ingest` writes it: the fields of SPEC §7, and
/// where it came from. `None` fields are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestEvent {
    /// A stable id: the same input gives the same id, so re-ingesting a
    /// mailbox and running it again changes nothing.
    pub id: String,
    /// What the message is: `bounce`, `delivered`, `complaint`, `auto_reply`.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The recipient the report is about.
    pub recipient: String,
    /// The campaign of the original message (from `Options::campaign_header`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// When it happened (RFC 3339): the last attempt, the report's or the
    /// provider's time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The basic reply code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// The enhanced status code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The receiver's words (the diagnostic), as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The MX host that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mx: Option<String>,
    /// The SMTP phase the answer came in (`rcpt`, `data`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// For complaints: the ARF feedback type (`abuse`, `fraud`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback_type: Option<String>,
    /// What the report said happened (DSN `Action`, or the provider's own
    /// label such as SES `Permanent`): kept for people and scripts; the
    /// policy decides from the code, status and text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The original message's `Message-ID`, when the report carries it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Which reader produced it: `dsn`, `arf`, `auto-reply`, `postfix`,
    /// `exim`, `ses`, … (for people and scripts).
    pub format: String,
    /// Where it was read: a path, with `#N` for the N-th message of an mbox
    /// or the N-th record of a webhook body.
    pub origin: String,
}

impl IngestEvent {
    /// The event as the evaluator reads it, borrowing from this one (no
    /// JSON in between). Scripts see no extra fields through it; write the
    /// JSON line when they need `action` or `format`.
    pub fn as_event(&self) -> crate::event::Event<'_> {
        use std::borrow::Cow::Borrowed;
        crate::event::Event {
            id: Some(Borrowed(self.id.as_str())),
            kind: self.kind,
            recipient: Borrowed(self.recipient.as_str()),
            campaign: self.campaign.as_deref().map(Borrowed),
            at: self.at.as_deref().map(Borrowed),
            code: self.code,
            status: self.status.as_deref().map(Borrowed),
            text: self.text.as_deref().map(Borrowed),
            mx: self.mx.as_deref().map(Borrowed),
            phase: self.phase.as_deref().map(Borrowed),
            optin: None,
            feedback_type: self.feedback_type.as_deref().map(Borrowed),
            action: self.action.as_deref().map(Borrowed),
            raw: None,
        }
    }

    /// The event as one JSON line (no newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// Something ingest could not turn into events, or chose not to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    /// Where (the same form as [`IngestEvent::origin`]).
    pub origin: String,
    /// Whether the input was bad (an error) or only not a bounce.
    pub kind: NoteKind,
    /// What happened, in words.
    pub message: String,
}

/// The two kinds of [`Note`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// The input is readable but is not a bounce, complaint or auto-reply
    /// (shown with `--verbose`).
    Skipped,
    /// The input could not be read or parsed (always shown; exit 1).
    Error,
}

/// What one input (an email, a log, a webhook body) gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// The events, in input order.
    pub events: Vec<IngestEvent>,
    /// What was skipped or bad.
    pub notes: Vec<Note>,
}

impl Parsed {
    /// Nothing but a note.
    pub fn note(origin: &str, kind: NoteKind, message: impl Into<String>) -> Parsed {
        Parsed { events: Vec::new(), notes: vec![Note { origin: origin.to_string(), kind, message: message.into() }] }
    }
}

/// A stable event id: `PREFIX:` and 20 hex digits of a SHA-256 over the
/// parts (an input's identity, the recipient, the position).
pub fn stable_id(prefix: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    // Written digit by digit: a `format!` per byte was a visible part of ingest.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(prefix.len() + 21);
    id.push_str(prefix);
    id.push(':');
    for b in digest.iter().take(10) {
        id.push(HEX[usize::from(b >> 4)] as char);
        id.push(HEX[usize::from(b & 0xf)] as char);
    }
    id
}

/// Cleans an address as reports write it: `<a@b>`, `rfc822; a@b`,
/// `"a@b"`, trailing dots; lowercases the domain. `None` when what is left
/// is not an address.
pub fn clean_address(raw: &str) -> Option<String> {
    let mut s = raw.trim();
    if let Some((kind, rest)) = s.split_once(';')
        && !kind.contains('@')
    {
        s = rest.trim();
    }
    if let (Some(a), Some(b)) = (s.find('<'), s.rfind('>'))
        && a < b
    {
        s = &s[a + 1..b];
    }
    let s = s.trim_matches(|c: char| {
        c == '"'
            || c == '\''
            || c == '<'
            || c == '>'
            || c == '('
            || c == ')'
            || c == '.'
            || c == ','
            || c == ':'
            || c == ';'
            || c.is_whitespace()
    });
    let s = s.strip_prefix("mailto:").unwrap_or(s);
    let (local, domain) = s.rsplit_once('@')?;
    let local = local.trim_matches('"');
    if local.is_empty()
        || domain.is_empty()
        || !domain.contains('.') && !domain.starts_with('[')
        || s.chars().any(|c| c.is_whitespace() || c.is_control())
        || domain.contains('@')
        || local.len() > 256
        || domain.len() > 255
    {
        return None;
    }
    Some(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// An RFC 2822/5322 date (`Tue, 3 Nov 2026 10:00:00 +0100`) as RFC 3339
/// UTC, or `None` when it cannot be read.
pub fn rfc3339_of_mail_date(s: &str) -> Option<String> {
    let s = s.trim();
    // Drop a trailing comment: `(PST)`, `(UTC)`.
    let s = match s.find('(') {
        Some(i) => s[..i].trim(),
        None => s,
    };
    let s = s.trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    if let Ok(z) = jiff::fmt::rfc2822::parse(s) {
        return Some(z.timestamp().to_string());
    }
    // Obsolete zone names and missing zones: try a few spellings.
    let fixed = s.replace(" UT", " +0000").replace(" GMT", " +0000").replace(" UTC", " +0000");
    if let Ok(z) = jiff::fmt::rfc2822::parse(&fixed) {
        return Some(z.timestamp().to_string());
    }
    if let Ok(z) = jiff::fmt::rfc2822::parse(&format!("{fixed} +0000")) {
        return Some(z.timestamp().to_string());
    }
    s.parse::<jiff::Timestamp>().ok().map(|t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_cleaned() {
        assert_eq!(clean_address("rfc822; <Pat@Example.ORG>").as_deref(), Some("Pat@example.org"));
        assert_eq!(clean_address("  \"kijitora@example.jp\".").as_deref(), Some("kijitora@example.jp"));
        assert_eq!(clean_address("RFC822;kijitora@example.jp").as_deref(), Some("kijitora@example.jp"));
        assert_eq!(clean_address("no address here"), None);
        assert_eq!(clean_address("@example.org"), None);
        assert_eq!(clean_address("a@localhost"), None);
    }

    #[test]
    fn mail_dates_become_rfc3339() {
        assert_eq!(rfc3339_of_mail_date("Tue, 3 Nov 2026 10:00:00 +0100").as_deref(), Some("2026-11-03T09:00:00Z"));
        assert_eq!(
            rfc3339_of_mail_date("Thu, 29 Apr 2010 23:34:45 +0900 (JST)").as_deref(),
            Some("2010-04-29T14:34:45Z")
        );
        assert_eq!(rfc3339_of_mail_date("not a date"), None);
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(stable_id("eml", &["a", "b"]), stable_id("eml", &["a", "b"]));
        assert_ne!(stable_id("eml", &["a", "b"]), stable_id("eml", &["ab", ""]));
    }
}
