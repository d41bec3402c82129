//! The facts of a bounce written as prose.
//!
//! Many MTAs and providers do not send a `message/delivery-status` part, or
//! send one with less in it than their text: qmail (`<a@b>:` then `remote
//! host said: …`), Exim (`  a@b` then `SMTP error from remote mail server
//! after RCPT TO:… host mx [ip]: 550 …`), Sendmail (`----- The following
//! addresses had permanent fatal errors -----` and a transcript of `<<<`
//! lines), Postfix (`<a@b>: host mx[ip] said: …`), Exchange and Office 365
//! (`Remote Server returned '550 5.1.10 …'`), Gmail (`The error that the
//! other server returned was:`), Yahoo, Domino, Courier, OpenSMTPD, Mail.ru,
//! GMX and others. They all say the same three things — who, what the
//! receiver answered, and where — in a few dozen shapes. This reader finds
//! them with a handful of general rules rather than one parser per MTA:
//!
//! 1. The notification is cut where the returned message begins.
//! 2. Recipients are the addresses that lead a line (`<a@b>:`, `  a@b`,
//!    `a@b [User unknown]`, `a@b<mailto:a@b>`), or — when no line is led by
//!    one — the addresses after a phrase that names a recipient (`could not
//!    be delivered to a@b`, `RCPT TO:<a@b>`). Never a mailer daemon, a
//!    list's address or an address in a header line; the sender's own (the
//!    report's `To`, the returned `From`) only when nothing else leads a
//!    line or a phrase says it failed ([`Excluded`]).
//! 3. Each recipient's failure is, in order: the receiver's reply in an SMTP
//!    transcript ([`super::transcript`]: the reply to the command that
//!    named it, or the one the MTA's line about it follows); the MTA's own
//!    line about it (`554 <a@b>... 550 Host unknown`); the reply after
//!    `said:`, `returned was:`, `Remote Server returned`, `(reason: …)` or
//!    `host … [ip]:`, with the lines that continue it and nothing after; a
//!    line that starts with a refusal code; else the block's words.
//! 4. A code is a refusal's (4xx, 5xx) at the start of those words — never a
//!    number among the message's details or a `221 Bye` after the failure.
//!    The phase comes only from the MTA's words for the command it sent
//!    (`after RCPT TO:<…>`, `in reply to end of DATA command`, qmail's
//!    `does not like recipient`), never from words like `connection
//!    refused` that a receiver may use about anything.

use std::collections::HashSet;
use std::sync::LazyLock;

use super::needles::Needles;
use super::transcript;

mod words;

use words::{clean_text, describe, failure_reply_in, mx_in, own_line, phase_in, reply_code, with_mailer_output};
pub(crate) use words::{has_words, postfix_connect};
pub use words::{refusal_in, reply_in};

/// One failed recipient found in prose.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Failure {
    /// The recipient.
    pub recipient: String,
    /// The receiver's words, or the MTA's sentence about the recipient.
    pub text: String,
    /// The reply code, when the words carry one.
    pub code: Option<u16>,
    /// The enhanced status code, when the words carry one.
    pub status: Option<String>,
    /// The MX host that answered, when the prose names it.
    pub mx: Option<String>,
    /// The SMTP phase, when the prose says it.
    pub phase: Option<String>,
}

/// The longest text kept for one recipient, in bytes.
pub const MAX_TEXT: usize = 2000;

/// Lines that begin the returned message (or its headers): the
/// notification ends there.
const ORIGINAL_MARKERS: &[&str] = &[
    "below this line is a copy of the message",
    "this is a copy of the message",
    "original message follows",
    "----- original message -----",
    "original message headers",
    "the original message was received",
    "------ this is a copy of",
    "----- transcript of session follows -----",
    "content-type: message/rfc822",
    "content-type: text/rfc822-headers",
    "------- returned message",
    "header of the original message is following",
    "--- original message ---",
    "----- message header follows -----",
    "----- unsent message follows -----",
    "----- returned message -----",
    "-- the header and top",
    "headers of the original message",
    "your message reads (in part)",
    "the text you sent follows:",
    "original-envelope-id:",
    "included is a copy of the message",
    "------=_",
    "------ original message ------",
    "-----original message-----",
    "a copy of the original message below this line:",
    "following is a copy of the message",
    "the original message headers are included as attachment",
    "message headers follow",
    "original message:",
    "below is a copy of the original message",
];

/// Markers that are transcript sections rather than the returned message:
/// kept in the notification (their `<<<` lines are the receiver's words).
const KEEP_MARKERS: &[&str] =
    &["----- transcript of session follows -----", "the original message was received", "original-envelope-id:"];

/// [`ORIGINAL_MARKERS`] as one automaton, and which of them are [`KEEP_MARKERS`].
static MARKERS: LazyLock<(Needles, Vec<bool>)> = LazyLock::new(|| {
    let keep = ORIGINAL_MARKERS.iter().map(|m| KEEP_MARKERS.contains(m)).collect();
    (Needles::new(ORIGINAL_MARKERS), keep)
});

/// The notification part of a bounce's text: up to the returned message,
/// that is up to the first line (not the first) that holds a marker and no
/// transcript marker. The automaton finds the next line with any marker;
/// only such lines are looked at closely; no line is lowercased.
pub fn cut_original(text: &str) -> &str {
    let (markers, _) = &*MARKERS;
    let mut from = 0;
    while let Some(found) = markers.first_in(&text[from..]) {
        let at = from + found;
        let bytes = text.as_bytes();
        let line_start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |n| n + 1);
        let line_end = memchr::memchr(b'\n', &bytes[at..]).map_or(text.len(), |n| at + n + 1);
        if line_start > 0 && is_cut_line(&text[line_start..line_end]) {
            return &text[..line_start];
        }
        from = line_end;
    }
    text
}

/// Whether a line that holds a marker begins the returned message: it
/// holds no transcript marker ([`KEEP_MARKERS`] are markers too).
fn is_cut_line(line: &str) -> bool {
    let (markers, keep) = &*MARKERS;
    !markers.all_in(line).any(|(i, _, _)| keep[i])
}

/// The largest char boundary of `s` at or below `i`.
fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '!' | '#'
                | '$'
                | '%'
                | '&'
                | '\''
                | '*'
                | '+'
                | '/'
                | '='
                | '?'
                | '^'
                | '_'
                | '`'
                | '{'
                | '|'
                | '}'
                | '~'
                | '-'
                | '.'
        )
        || !c.is_ascii() && c.is_alphanumeric()
}

fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '.' || !c.is_ascii() && c.is_alphanumeric()
}

/// Every address in `s`, with its byte offset, in order.
pub fn addresses(s: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(rel) = s[from..].find('@') {
        let at = from + rel;
        from = at + 1;
        let start = s[..at].char_indices().rev().take_while(|(_, c)| is_local_char(*c)).last().map_or(at, |(i, _)| i);
        let end = s[at + 1..]
            .char_indices()
            .take_while(|(_, c)| is_domain_char(*c))
            .last()
            .map_or(at + 1, |(i, c)| at + 1 + i + c.len_utf8());
        if start == at || end <= at + 1 {
            continue;
        }
        let local = s[start..at].trim_start_matches('.');
        let domain = s[at + 1..end].trim_end_matches(['.', '-']);
        if local.is_empty() || !domain.contains('.') || domain.starts_with('.') || domain.contains("..") {
            continue;
        }
        // `mailto:` and `=` (quoted-printable leftovers) are not part of an address.
        let local = local.strip_prefix("mailto:").unwrap_or(local);
        let _ = bytes;
        let tld = domain.rsplit('.').next().unwrap_or("");
        if tld.len() < 2 || tld.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        out.push((start, format!("{local}@{}", domain.to_ascii_lowercase())));
    }
    out
}

/// Whether an address is a mailer daemon's: never a failed recipient.
fn is_daemon_address(a: &str) -> bool {
    let local = a.split('@').next().unwrap_or("").to_ascii_lowercase();
    matches!(local.as_str(), "mailer-daemon" | "mail-daemon" | "maildaemon" | "mailerdaemon")
        || local.starts_with("mailer-daemon")
}

/// Whether an address belongs to mail software rather than a person.
pub fn is_system_address(a: &str) -> bool {
    let local = a.split('@').next().unwrap_or("").to_ascii_lowercase();
    matches!(
        local.as_str(),
        "mailer-daemon"
            | "postmaster"
            | "mail-daemon"
            | "maildaemon"
            | "mailerdaemon"
            | "noreply"
            | "no-reply"
            | "root"
    ) || local.starts_with("bounce")
        || local.starts_with("mailer-daemon")
}

/// The address that leads a line, if the line is about that address:
/// `<a@b>:`, `  a@b`, `a@b [User unknown]`, `a@b<mailto:a@b>`, `<a@b>...
/// User unknown`, `<a@b> (expanded from <c@d>): …`.
fn leading_address(line: &str) -> Option<String> {
    // Most lines hold no address at all: done before any work.
    memchr::memchr(b'@', line.as_bytes())?;
    let t = strip_line_prefixes(line);
    let t = t.strip_prefix('"').unwrap_or(t);
    let t = t.strip_prefix('<').unwrap_or(t);
    let (start, addr) = addresses(t).into_iter().next()?;
    if start != 0 {
        return None;
    }
    let end = t.find(&addr[..addr.find('@').unwrap_or(0)]).map_or(0, |i| i) + addr.len();
    let rest = t.get(end..).unwrap_or("").trim_start_matches(['>', '"']);
    let rest_t = rest.trim();
    let ok = rest_t.is_empty()
        || rest_t.starts_with(':')
        || rest_t.starts_with("...")
        || rest_t.starts_with('[')
        || rest_t.starts_with("<mailto:")
        || rest_t.starts_with('(')
        || rest_t.starts_with(',')
        || rest_t.starts_with(';')
        || rest_t.starts_with('-')
        || rest_t.to_ascii_lowercase().starts_with("on behalf of")
        || rest.starts_with(' ') && rest_t.len() < 80 && !rest_t.contains('@') && !rest_t.ends_with(':');
    ok.then_some(addr)
}

/// Words of a `Label:` that introduces the failed recipient on its line
/// (`Recipient address: a@b`, `Delivery failed: a@b`, `Empfänger: a@b`).
const LABEL_WORDS: &[&str] = &[
    "recipient",
    "address",
    "failed",
    "delivery",
    "undeliverable",
    "user",
    "mailbox",
    "rcpt",
    "destinat",
    "empf",
    "addressee",
    "adresse",
    "dirección",
    "indirizzo",
];

/// What may stand before the address on a recipient's line: bullets, a
/// sendmail reply code (`554 <a@b>... Host unknown`), transcript arrows
/// (`>>> RCPT To:<a@b>`), or a recipient label.
fn strip_line_prefixes(line: &str) -> &str {
    let mut t = line.trim_start();
    loop {
        let before = t;
        t = t.trim_start_matches(['*', '-', '•', ' ', '\t']);
        if let Some(rest) = t.strip_prefix(">>>").or_else(|| t.strip_prefix("<<<")) {
            t = rest.trim_start();
        }
        if reply_code(t).is_some() && t.len() > 4 {
            t = t[4..].trim_start();
            // Sendmail's status line, `550 5.1.1 <a@b>... User unknown`.
            if let Some(st) = super::dsn::status_at_start(t)
                && t.starts_with(st.as_str())
            {
                t = t[st.len()..].trim_start();
            }
        }
        let lower: String = t.chars().take(12).collect::<String>().to_ascii_lowercase();
        if lower.starts_with("rcpt to:") {
            t = t[8..].trim_start();
        } else if lower.starts_with("rcpt to") {
            t = t[7..].trim_start();
        }
        if let Some((label, rest)) = t.split_once(':')
            && label.len() <= 40
            && !label.contains('@')
            && !label.contains('<')
            && rest.contains('@')
        {
            let l = label.to_lowercase();
            if LABEL_WORDS.iter().any(|w| l.contains(w)) {
                t = rest.trim_start();
            }
        }
        if t == before {
            return t;
        }
    }
}

/// Phrases after which an address is the failed recipient.
const RECIPIENT_PHRASES: &[&str] = &[
    "delivery failed",
    "did not reach the following recipient",
    "wasn't delivered to",
    "could not be delivered to",
    "couldn't be delivered to",
    "was not delivered to",
    "wasn't delivered to",
    "delivery to the following recipient",
    "delivery to the following recipients",
    "delivery to",
    "following address",
    "following recipient",
    "following destination",
    "undeliverable to",
    "failed to deliver to",
    "failed recipient",
    "failed recipients",
    "unable to deliver",
    "rcpt to:",
    "rcpt to",
    "original-recipient:",
    "final-recipient:",
    "your message to",
    "your mail to",
    "delivering your mail to",
    "message to",
    "rejected recipient",
    "recipient:",
    "recipients:",
    "to:",
    "user",
    "address",
];

/// The addresses a report names that are not the failed recipient,
/// lowercased.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Excluded {
    /// Never the recipient: the report's own `From` and `Return-Path` (the
    /// mailer daemon), the returned message's `Reply-To`, and every address
    /// of a `List-*` header (a list's post or unsubscribe address is not a
    /// person who failed).
    pub never: HashSet<String>,
    /// The sender: the report's own recipients (`To`, `Delivered-To`,
    /// `X-Original-To`, `Envelope-To`) and the returned message's `From`,
    /// `Sender`, `Return-Path`. The failed recipient only when a line of the
    /// failure text leads with it and with no one else (a message to
    /// oneself; an MTA that writes the failed address into the report's
    /// header); never from a phrase.
    pub unless_named: HashSet<String>,
}

impl Excluded {
    /// Only addresses that are never the recipient.
    pub fn never(addresses: impl IntoIterator<Item = String>) -> Excluded {
        Excluded { never: addresses.into_iter().map(|a| a.to_ascii_lowercase()).collect(), ..Excluded::default() }
    }

    /// Whether `addr` (lowercased) is excluded at all.
    pub fn contains(&self, addr: &str) -> bool {
        self.never.contains(addr) || self.unless_named.contains(addr)
    }
}

fn phrase_led_addresses(notification: &str, exclude: &Excluded) -> Vec<(usize, String)> {
    let lower = notification.to_ascii_lowercase();
    let mut found: Vec<(usize, String)> = Vec::new();
    for (offset, addr) in addresses(notification) {
        if exclude.contains(&addr.to_ascii_lowercase()) || is_system_address(&addr) {
            continue;
        }
        // An address in a header line (`Reply-To: <a@b>`, `To: …`) is the
        // message's, not one the failure text names.
        let line_start = lower[..offset].rfind('\n').map_or(0, |i| i + 1);
        if looks_like_header(notification.get(line_start..offset).unwrap_or("")) {
            continue;
        }
        let before = &lower[floor_boundary(&lower, offset.saturating_sub(120))..offset];
        let before = before.rsplit('\n').take(3).collect::<Vec<_>>().join(" ");
        if RECIPIENT_PHRASES.iter().any(|p| before.contains(p))
            && !found.iter().any(|(_, a)| a.eq_ignore_ascii_case(&addr))
        {
            found.push((offset, addr));
        }
    }
    found
}

/// Phrases that say the address right after them is the one that failed,
/// on the same line (`There was an error delivering your mail to <a@b>.`).
const FAILED_PHRASES: &[&str] = &[
    "delivering your mail to",
    "delivering your message to",
    "could not be delivered to",
    "couldn't be delivered to",
    "was not delivered to",
    "wasn't delivered to",
    "failed to deliver to",
    "undeliverable to",
    "rejected recipient",
    "your message to",
    "your mail to",
];

/// Among `only`, the addresses a [`FAILED_PHRASES`] phrase names just
/// before them on their line.
fn named_as_failed(notification: &str, only: &HashSet<String>) -> Vec<(usize, String)> {
    let mut found: Vec<(usize, String)> = Vec::new();
    for (offset, addr) in addresses(notification) {
        if !only.contains(&addr.to_ascii_lowercase()) || found.iter().any(|(_, a)| a.eq_ignore_ascii_case(&addr)) {
            continue;
        }
        let line_start = notification[..offset].rfind('\n').map_or(0, |i| i + 1);
        let before = notification.get(line_start..offset).unwrap_or("").to_ascii_lowercase();
        let before = before.trim_end().trim_end_matches(['<', '"', '\'']).trim_end();
        if FAILED_PHRASES.iter().any(|p| before.ends_with(p)) {
            found.push((offset, addr));
        }
    }
    found
}

/// The failed recipients of a notification and what the receiver said to
/// each. `exclude` holds the addresses that are not the recipient (the
/// sender, the reporting system).
pub fn failures(text: &str, exclude: &Excluded) -> Vec<Failure> {
    failures_among(text, exclude, &HashSet::new())
}

/// As [`failures`], where `known` (lowercased) are the recipients a DSN
/// already named: they are taken even when they look like a system address
/// (`postmaster@…` is a recipient like any other when it was the one mailed).
pub fn failures_among(text: &str, exclude: &Excluded, known: &HashSet<String>) -> Vec<Failure> {
    let notification = cut_original(text);
    let lines: Vec<&str> = notification.lines().collect();
    // Recipients that lead a line; the report's own recipients only when
    // no one else does.
    let mut led: Vec<(usize, String)> = Vec::new();
    let mut led_unless_named: Vec<(usize, String)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(a) = leading_address(line) {
            let key = a.to_ascii_lowercase();
            if known.contains(&key) {
                led.push((i, a));
            } else if exclude.never.contains(&key) || is_daemon_address(&a) || looks_like_header(line) {
                continue;
            } else if exclude.unless_named.contains(&key) || is_system_address(&a) {
                led_unless_named.push((i, a));
            } else {
                led.push((i, a));
            }
        }
    }
    if led.is_empty() {
        led = led_unless_named;
    }
    // The same address leading several lines (Office 365 names it twice):
    // the first starts its block, the later ones stay inside it.
    let mut seen = HashSet::new();
    let mut starts: Vec<(usize, String)> = Vec::new();
    for (i, a) in &led {
        if seen.insert(a.to_ascii_lowercase()) {
            starts.push((*i, a.clone()));
        }
    }
    if starts.is_empty() {
        // No line is led by an address: take the addresses a phrase names;
        // the sender's only right after a phrase that says it failed.
        let mut by_phrase = phrase_led_addresses(notification, exclude);
        if by_phrase.is_empty() {
            by_phrase = named_as_failed(notification, &exclude.unless_named);
        }
        for (offset, a) in by_phrase {
            let line = notification[..offset].matches('\n').count();
            starts.push((line, a));
        }
    }
    if starts.is_empty() {
        return Vec::new();
    }
    let exchanges = transcript::exchanges(&lines);
    let mut out = Vec::new();
    for (k, (line, addr)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(lines.len(), |(l, _)| *l).max(line + 1);
        let block: Vec<&str> = lines.get(*line..end.min(lines.len())).unwrap_or(&[]).to_vec();
        // The receiver's own answer in a transcript comes first: the reply to
        // the command that named the recipient, or the one the MTA's line
        // about the recipient follows.
        // Else, in a block with no line of the MTA's own about the
        // recipient, the refusal in the block's own transcript. (Most
        // notifications have no transcript: nothing to look for.)
        let answer = (!exchanges.is_empty()).then(|| transcript_answer(&exchanges, &led, &block, (*line, end), addr));
        let answer = answer.flatten();
        let mut f = match answer {
            Some(e) => from_exchange(e, &block, addr),
            None => describe(&block, addr),
        };
        // A block with no reply in it (Sendmail's list of addresses, then a
        // transcript for all): the transcript's refusal of the message as a
        // whole, else the notification's own reply lines.
        if f.code.is_none() && f.status.is_none() {
            let whole = exchanges.iter().find(|e| e.failed() && !names_another_recipient(e, addr));
            let all = match whole {
                Some(e) => from_exchange(e, &lines, addr),
                None => describe(&lines, addr),
            };
            if all.code.is_some() || all.status.is_some() {
                f.code = all.code;
                f.status = all.status;
                f.text = all.text;
                f.mx = f.mx.or(all.mx);
                f.phase = all.phase;
            }
        }
        // Nothing said after the address: the words just before it (Lotus
        // Notes puts its reason above the list of recipients).
        if k == 0 && f.code.is_none() && f.status.is_none() && !f.text.chars().any(char::is_alphabetic) {
            // Not a `------- Failure Reasons --------` heading.
            let said = |l: &&&str| !l.trim().is_empty() && !l.trim_start().starts_with(['-', '*', '=']);
            let before: Vec<&str> =
                lines.get(..*line).unwrap_or(&[]).iter().rev().filter(said).take(3).copied().collect();
            let before: Vec<&str> = before.into_iter().rev().collect();
            let p = describe(&before, addr);
            if has_words(&p.text) {
                f.text = p.text;
            }
        }
        f.recipient = addr.clone();
        out.push(f);
    }
    out
}

/// The failure a notification states without naming a recipient: the
/// first refusal of its transcript, else its first line that starts with a
/// refusal code (Sendmail's `554 5.3.0 unknown mailer error 255` after a
/// local mailer's output). `None` when it states none. For a report about
/// one recipient, whose name the text leaves out.
pub fn whole_failure(text: &str) -> Option<Failure> {
    let notification = cut_original(text);
    let lines: Vec<&str> = notification.lines().collect();
    let exchanges = transcript::exchanges(&lines);
    if let Some(e) = exchanges.iter().find(|e| e.failed()) {
        return Some(from_exchange(e, &lines, ""));
    }
    let i = lines.iter().position(|l| reply_code(l.trim_start()).is_some_and(|c| c >= 400))?;
    let words = with_mailer_output(&lines, i);
    let (code, status) = failure_reply_in(lines.get(i).copied().unwrap_or(""));
    let text = clean_text(&words);
    Some(Failure { text, code, status, phase: phase_in(lines.get(i).copied().unwrap_or("")), ..Failure::default() })
}

/// The transcript's answer for `addr`, whose block is `block` (lines
/// `range` of the notification; `led` are all lines led by an address): see
/// [`transcript::answer_for`], else the refusal inside the block when the
/// block has no line of the MTA's own about the recipient.
fn transcript_answer<'e>(
    exchanges: &'e [transcript::Exchange],
    led: &[(usize, String)],
    block: &[&str],
    range: (usize, usize),
    addr: &str,
) -> Option<&'e transcript::Exchange> {
    let lines_of = |same: bool| -> Vec<usize> {
        led.iter().filter(|(_, a)| a.eq_ignore_ascii_case(addr) == same).map(|(i, _)| *i).collect()
    };
    let (own, other) = (lines_of(true), lines_of(false));
    transcript::answer_for(exchanges, addr, &own, &other).or_else(|| {
        own_line(block, addr).is_none().then_some(())?;
        let inside = |e: &&transcript::Exchange| (range.0..range.1).contains(&e.reply.last_line);
        exchanges.iter().filter(inside).find(|e| e.failed() && !names_another_recipient(e, addr))
    })
}

/// Whether a transcript exchange answered a `RCPT` for someone else.
fn names_another_recipient(e: &transcript::Exchange, addr: &str) -> bool {
    e.phase == Some("rcpt") && !e.names(addr)
        || e.command.as_deref().is_some_and(|c| c.to_ascii_lowercase().starts_with("rcpt") && !e.names(addr))
}

/// A failure from a transcript's exchange: the reply's words, code and
/// status, the phase of the command it answered, the session's host.
fn from_exchange(e: &transcript::Exchange, block: &[&str], addr: &str) -> Failure {
    let status = e.reply.status.clone().or_else(|| reply_in(&e.reply.text).and_then(|(_, s)| s));
    Failure {
        recipient: addr.to_string(),
        text: clean_text(&e.reply.text),
        code: Some(e.reply.code),
        status,
        mx: e.host.clone().or_else(|| mx_in(&block.join(" "))),
        phase: e.phase.map(str::to_string),
    }
}

fn looks_like_header(line: &str) -> bool {
    let l = line.trim_start().to_ascii_lowercase();
    ["from:", "to:", "cc:", "reply-to:", "return-path:", "sender:", "envelope-to:", "delivered-to:", "x-"]
        .iter()
        .any(|h| l.starts_with(h))
        && !line.starts_with(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Failure {
        let f = failures(text, &Excluded::never(["sender@example.jp".to_string()]));
        assert_eq!(f.len(), 1, "{f:?}");
        f.into_iter().next().unwrap_or_default()
    }

    #[test]
    fn qmail() {
        let f = one("Hi. This is the qmail-send program at mx4.example.jp.\n\n<kijitora@example.ne.jp>:\n\
             Sorry, no SMTP connection got far enough; most progress was RCPT TO response; remote host 192.0.2.32 said: 550 Unknown user kijitora@example.ne.jp\n. (#5.5.0)\n\n\
             --- Below this line is a copy of the message.\n\nFrom: sender@example.jp\n");
        assert_eq!(f.recipient, "kijitora@example.ne.jp");
        assert_eq!(f.code, Some(550));
        assert!(f.text.starts_with("550 Unknown user"), "{}", f.text);
        assert_eq!(f.phase.as_deref(), Some("rcpt"));
    }

    #[test]
    fn exim() {
        let f = one(
            "A message that you sent could not be delivered to one or more of its\nrecipients. This is a permanent error. The following address(es) failed:\n\n  kijitora@example.ed.jp\n\
             \x20   SMTP error from remote mail server after MAIL FROM:<sender@example.jp> SIZE=1543:\n\
             \x20   host mx.example.jp [192.0.2.20]: 550 5.7.0 <sender@example.jp>... Please use the smtp server of your ISP.\n\n\
             ------ This is a copy of the message, including all the headers. ------\n",
        );
        assert_eq!(f.recipient, "kijitora@example.ed.jp");
        assert_eq!((f.code, f.status.as_deref()), (Some(550), Some("5.7.0")));
        assert_eq!(f.mx.as_deref(), Some("mx.example.jp"));
        assert_eq!(f.phase.as_deref(), Some("mail"));
    }

    #[test]
    fn gmail() {
        let f = one("Delivery to the following recipient failed permanently:\n\n     userunknown@example.jp\n\n\
             Technical details of permanent failure: \nGoogle tried to deliver your message, but it was rejected by the server for the recipient domain example.jp by mx.example.jp. [192.0.2.153].\n\n\
             The error that the other server returned was:\n550 5.1.1 <userunknown@example.jp>... User Unknown\n\n----- Original message -----\n\nTo: other@example.jp\n");
        assert_eq!(f.recipient, "userunknown@example.jp");
        assert_eq!((f.code, f.status.as_deref()), (Some(550), Some("5.1.1")));
        assert!(f.text.starts_with("550 5.1.1"), "{}", f.text);
        assert_eq!(f.mx.as_deref(), Some("example.jp").or(f.mx.as_deref()));
    }

    #[test]
    fn a_line_with_a_bracketed_reason() {
        let f = one("---The following addresses had delivery errors---\n\nkijitora@example.co.jp [User unknown]\n");
        assert_eq!(f.recipient, "kijitora@example.co.jp");
        assert_eq!(f.text, "[User unknown]");
    }

    #[test]
    fn office365_names_the_address_twice() {
        let f = one(
            "Delivery has failed to these recipients or groups:\n\nkijitora@example.com<mailto:kijitora@example.com>\n\
             The email address wasn't found at the destination domain.\n\nDiagnostic information for administrators:\n\n\
             Generating server: FFFF.e0.prod.outlook.com\n\nkijitora@example.com\n\
             Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'\n\n\
             Original message headers:\n\nFrom: sender@example.jp\n",
        );
        assert_eq!(f.recipient, "kijitora@example.com");
        assert_eq!((f.code, f.status.as_deref()), (Some(550), Some("5.1.10")));
        assert!(f.text.starts_with("550 5.1.10 RESOLVER.ADR.RecipientNotFound"), "{}", f.text);
    }

    #[test]
    fn replies_are_found_and_ports_are_not() {
        assert_eq!(reply_in("host a.example [192.0.2.1]:25: 550 5.1.1 no"), Some((Some(550), Some("5.1.1".into()))));
        assert_eq!(reply_in("(#5.5.0)"), Some((None, Some("5.5.0".into()))));
        assert_eq!(reply_in("at 10:45:00 nothing"), None);
    }

    /// `cut_original` as it was written first: each line lowercased and
    /// searched for each marker.
    fn cut_original_line_by_line(text: &str) -> &str {
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let l = line.trim().to_ascii_lowercase();
            if !l.is_empty()
                && ORIGINAL_MARKERS.iter().any(|m| l.contains(m))
                && !KEEP_MARKERS.iter().any(|m| l.contains(m))
                && offset > 0
            {
                return &text[..offset];
            }
            offset += line.len();
        }
        text
    }

    #[test]
    fn the_returned_message_is_cut_where_a_line_by_line_search_cuts_it() {
        assert!(KEEP_MARKERS.iter().all(|k| ORIGINAL_MARKERS.contains(k)));
        for text in [
            "Hi.\n\n--- Below this line is a copy of the message.\n\nFrom: a@b.example\n",
            "--- Below this line is a copy of the message.\nthe first line is never cut\n",
            "text\n   ----- Transcript of session follows -----  \n<<< 550 no\n----- Original message -----\nTo: x\n",
            "text\nThe original message was received; this is a copy of the message\nmore\n",
            "text\r\nContent-Type: MESSAGE/RFC822\r\n\r\nFrom: a\r\n",
            "no marker at all\nat all\n",
            "ä\n------=_Part_1\n",
            "",
        ] {
            assert_eq!(cut_original(text), cut_original_line_by_line(text), "{text:?}");
        }
    }

    #[test]
    fn the_first_phase_named_wins() {
        assert_eq!(phase_in("after RCPT TO:<a@b>, during MAIL FROM").as_deref(), Some("rcpt"));
        assert_eq!(phase_in("Mail From:<a@b> then rcpt to:<c@d>").as_deref(), Some("mail"));
        // A list of the message's details names no phase.
        assert_eq!(phase_in("MAIL FROM: a@b RCPT TO: c@d"), None);
        assert_eq!(phase_in("in reply to DATA").as_deref(), Some("data"));
        // Words a receiver may use about anything name no phase.
        assert_eq!(phase_in("550 5.4.316 Message expired, connection refused"), None);
        assert_eq!(phase_in("550-H=mail.example.com [192.0.2.11] HELO=[mail.example.com]"), None);
        assert_eq!(phase_in("connect to mx.example.org[192.0.2.1]:25: Connection refused").as_deref(), Some("connect"));
        assert_eq!(phase_in("192.0.2.1 does not like recipient.").as_deref(), Some("rcpt"));
        assert_eq!(phase_in("nothing"), None);
    }

    #[test]
    fn the_sender_is_never_the_recipient() {
        assert!(
            failures("Your message to sender@example.jp failed", &Excluded::never(["sender@example.jp".to_string()]))
                .is_empty()
        );
    }
}
