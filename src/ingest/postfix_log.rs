//! A Postfix log in, one [`IngestEvent`] per delivery result out.
//!
//! The delivery agents (`smtp`, `lmtp`, `local`, `virtual`, `error`, `pipe`,
//! …) log one line per recipient and attempt:
//!
//! ```text
//! Nov 28 05:13:59 mail postfix/smtp[4242]: 3F1A2B4C5D: to=<pat@example.org>,
//!   relay=mx.example.org[192.0.2.1]:25, delay=1.2, delays=0.1/0/0.6/0.5, dsn=5.1.1,
//!   status=bounced (host mx.example.org[192.0.2.1] said: 550 5.1.1 <pat@example.org>:
//!   Recipient address rejected: User unknown (in reply to RCPT TO command))
//! ```
//!
//! (one line in the log). `status=bounced`, `deferred`, `expired` (with a
//! recipient) and `SOFTBOUNCE` give `bounce` events, `status=sent` gives
//! `delivered`; `action` is the status word. The receiver's words (after
//! `said:` or `refused to talk to me:`, without Postfix's `(in reply to …
//! command)`) are the `text`, the reply code and enhanced status leading
//! them the `code` and `status` (Postfix's `dsn=` when the words have none),
//! the host of `relay=` the `mx` (none for `relay=none` or a transport name
//! such as `relay=local`), and the command Postfix names (or a connection
//! failure) the `phase`.
//!
//! Timestamps: a line that starts with an RFC 3339 time
//! (`2026-11-28T05:13:59.123456+00:00 host postfix/smtp[…]`, as rsyslog's
//! high-precision format and `journalctl -o short-iso` write them) gives
//! `at`. The classic syslog prefix (`Nov 28 05:13:59`) has no year, so its
//! events carry no `at` and are taken in log order.
//!
//! A log cannot know a campaign. The `message-id=` line of `cleanup` gives
//! the `message_id` of the later lines of its queue id, and a
//! `header_checks` `WARN`/`INFO` line for the campaign header
//! (`warning: header X-Campaign-Id: spring-2026 from …`) its campaign; at
//! most [`MAX_QUEUE_IDS`] queue ids are remembered (oldest forgotten first,
//! each forgotten when `qmgr` logs it `removed`).
//!
//! Other lines are ignored silently: connections, `NOQUEUE` rejections of
//! incoming mail, address verification probes (`status=deliverable`). A
//! delivery line that cannot be read is an error note at `path:LINE`.
//! The log is streamed a line at a time, lines cut at [`MAX_LINE_BYTES`],
//! bytes that are not UTF-8 replaced: memory stays flat whatever its size.

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;

use super::{Format, IngestEvent, NoteKind, Options, Parsed, clean_address, stable_id, webhook};
use crate::event::EventType;

/// The longest log line read, in bytes; the rest of a longer line is
/// dropped.
pub const MAX_LINE_BYTES: usize = 32 << 10;

/// How many queue ids' message ids and campaigns are remembered.
pub const MAX_QUEUE_IDS: usize = 100_000;

/// The longest message id or campaign kept, in characters.
const MAX_VALUE_CHARS: usize = 998;

/// Reads a Postfix log: one event per `status=bounced` / `status=deferred`
/// (and `status=sent`, as `delivered`) line; calls `out` for each line that
/// gave something (events or notes), in order.
///
/// ```
/// use rebound::ingest::{Options, postfix_log};
/// let log = "2026-11-28T05:13:59+00:00 mail postfix/smtp[42]: 3F1A2B4C5D: to=<pat@example.org>, \
///            relay=mx.example.org[192.0.2.1]:25, dsn=5.1.1, status=bounced (host mx.example.org[192.0.2.1] \
///            said: 550 5.1.1 User unknown (in reply to RCPT TO command))\n";
/// let mut events = Vec::new();
/// postfix_log::parse(&mut log.as_bytes(), "mail.log", &Options::default(), &mut |p| {
///     events.extend(p.events);
///     Ok(())
/// })
/// .unwrap();
/// assert_eq!(events[0].origin, "mail.log:1");
/// assert_eq!(events[0].mx.as_deref(), Some("mx.example.org"));
/// assert_eq!(events[0].phase.as_deref(), Some("rcpt"));
/// ```
pub fn parse(
    input: &mut dyn BufRead,
    origin: &str,
    opts: &Options,
    out: &mut dyn FnMut(Parsed) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut queues = Queues::new(MAX_QUEUE_IDS);
    let finder = memchr::memmem::Finder::new(b"postfix");
    let mut buf = Vec::with_capacity(1024);
    let mut number = 0usize;
    while read_line(input, &mut buf, MAX_LINE_BYTES)? {
        number += 1;
        let bytes = trim_eol(&buf);
        if finder.find(bytes).is_none() {
            continue;
        }
        let line = String::from_utf8_lossy(bytes);
        if let Some(p) = read_entry(&line, (origin, number), opts, &mut queues) {
            out(p)?;
        }
    }
    Ok(())
}

/// Whether the start of a file looks like a Postfix log: its first line
/// starts with a syslog time, and one of its lines is Postfix's.
pub fn sniff(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let Some(first) = text.lines().find(|l| !l.trim().is_empty()) else { return false };
    starts_with_time(first) && text.lines().take(200).any(|l| starts_with_time(l) && find_tag(l).is_some())
}

/// The SMTP phase that a receiver's answer as an MTA reports it names:
/// Postfix's `in reply to RCPT TO command`, `while sending end of data`, a
/// failed connection, Exim's `after RCPT TO`. `None` when it names none.
/// (Used for Postfix logs, webhook diagnostics and DSN diagnostics; the
/// prose of a notification has its own, looser reading in `prose`.)
pub(super) fn phase_of(text: &str) -> Option<&'static str> {
    const PHASES: &[(&str, &str)] = &[
        ("in reply to rcpt to", "rcpt"),
        ("while sending rcpt to", "rcpt"),
        ("in reply to mail from", "mail"),
        ("while sending mail from", "mail"),
        ("in reply to end of data", "data"),
        ("in reply to data", "data"),
        ("in reply to bdat", "data"),
        ("while sending end of data", "data"),
        ("while sending message body", "data"),
        ("while sending data", "data"),
        ("in reply to helo", "helo"),
        ("in reply to ehlo", "helo"),
        ("in reply to lhlo", "helo"),
        ("while performing the ehlo handshake", "helo"),
        ("while performing the lhlo handshake", "helo"),
        ("refused to talk to me", "connect"),
        ("initial server greeting", "connect"),
        ("initial protocol greeting", "connect"),
        // Exim's `SMTP error from remote mail server after RCPT TO:<…>`.
        ("after rcpt to", "rcpt"),
        ("after mail from", "mail"),
        ("after end of data", "data"),
        ("after data", "data"),
    ];
    let lower = text.to_ascii_lowercase();
    PHASES
        .iter()
        .find(|(needle, _)| lower.contains(needle))
        .map(|(_, phase)| *phase)
        // `connect to HOST[IP]:PORT: …`, Postfix's own words for a failed
        // connection (not `cannot connect to database` in a reply).
        .or_else(|| super::prose::postfix_connect(text).map(|_| "connect"))
}

// ---------------------------------------------------------------------------
// Lines

/// Reads one line (up to `\n`) into `buf`, keeping at most `cap` bytes of
/// it and consuming the rest. `false` at the end of the input.
fn read_line(input: &mut dyn BufRead, buf: &mut Vec<u8>, cap: usize) -> std::io::Result<bool> {
    buf.clear();
    let mut any = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(any);
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        input.consume(take);
        if done {
            return Ok(true);
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One Postfix line: `TIME HOST postfix/SERVICE[PID]: QUEUEID: BODY`.
#[derive(Debug)]
struct Entry<'a> {
    at: Option<String>,
    queue_id: &'a str,
    body: &'a str,
}

fn entry(line: &str) -> Option<Entry<'_>> {
    let (start, end) = find_tag(line)?;
    let mut rest = &line[end..];
    if let Some(r) = rest.strip_prefix('[') {
        let close = r.find(']')?;
        rest = &r[close + 1..];
    }
    let rest = rest.strip_prefix(':')?.trim_start();
    let (queue_id, body) = match rest.split_once(':') {
        Some((q, b)) if b.is_empty() || b.starts_with(' ') => (q, b.trim()),
        _ => return None,
    };
    is_queue_id(queue_id).then(|| Entry { at: time_of(&line[..start]), queue_id, body })
}

/// Where Postfix's program tag (`postfix/smtp`, `postfix-out/smtp`,
/// `postfix/submission/smtpd`) is in a line: a word with `postfix` and a
/// `/`, followed by `[` or `:`.
fn find_tag(line: &str) -> Option<(usize, usize)> {
    for (i, _) in line.match_indices("postfix") {
        let start = line[..i].rfind(char::is_whitespace).map_or(0, |w| w + 1);
        let end = line[i..].find(|c: char| c.is_whitespace() || c == '[' || c == ':').map_or(line.len(), |e| i + e);
        let tag = &line[start..end];
        let followed = matches!(line.as_bytes().get(end), Some(b'[' | b':'));
        let tag_chars = tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'));
        if followed && tag_chars && line[i..end].contains('/') {
            return Some((start, end));
        }
    }
    None
}

/// A queue id: the short hex form (`3F1A2B4C5D`) or the long one
/// (`4Xw2Qr5dRmz9sXy`); not `NOQUEUE`, nor a word such as `warning`.
fn is_queue_id(s: &str) -> bool {
    (5..=32).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric())
        && s.bytes().any(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        && s != "NOQUEUE"
}

/// Whether a line starts with a syslog time (classic or RFC 3339).
fn starts_with_time(line: &str) -> bool {
    let line = strip_priority(line.trim_start());
    is_iso_date(line) || is_classic_time(line)
}

/// `<13>`, the priority some syslog files keep.
fn strip_priority(line: &str) -> &str {
    if let Some(r) = line.strip_prefix('<')
        && let Some(close) = r.find('>')
        && close <= 3
        && r[..close].bytes().all(|b| b.is_ascii_digit())
    {
        return r[close + 1..].trim_start();
    }
    line
}

fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// `Nov 28 05:13:59`, `Nov  8 05:13:59`.
fn is_classic_time(s: &str) -> bool {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let mut words = s.split_whitespace();
    let (Some(month), Some(day), Some(time)) = (words.next(), words.next(), words.next()) else { return false };
    let t = time.as_bytes();
    MONTHS.contains(&month)
        && (1..=2).contains(&day.len())
        && day.bytes().all(|b| b.is_ascii_digit())
        && t.len() >= 8
        && t[2] == b':'
        && t[5] == b':'
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| t[i].is_ascii_digit())
}

/// The time that starts the part of a line before the program tag, as
/// RFC 3339 UTC: only RFC 3339 / ISO 8601 times with an offset. A classic
/// syslog time has no year: `None`.
fn time_of(prefix: &str) -> Option<String> {
    let prefix = strip_priority(prefix.trim_start());
    if !is_iso_date(prefix) {
        return None;
    }
    let mut words = prefix.split_whitespace();
    let first = words.next()?;
    // `2026-11-28 05:13:59+00:00`: the date and the time in two words.
    let joined;
    let token = if first.len() == 10 {
        joined = format!("{first}T{}", words.next()?);
        joined.as_str()
    } else {
        first
    };
    if let Ok(t) = token.parse::<jiff::Timestamp>() {
        return Some(t.to_string());
    }
    // `+0000`: an offset without its colon.
    let b = token.as_bytes();
    let n = b.len();
    if n > 5 && matches!(b[n - 5], b'+' | b'-') && b[n - 4..].iter().all(u8::is_ascii_digit) {
        let fixed = format!("{}:{}", &token[..n - 2], &token[n - 2..]);
        return fixed.parse::<jiff::Timestamp>().ok().map(|t| t.to_string());
    }
    None
}

// ---------------------------------------------------------------------------
// What lines say

/// What a line gave: events or a note for a delivery line, nothing for the
/// rest (which may teach `queues` a message id or a campaign). `place` is the
/// log's origin and the line's number.
fn read_entry(line: &str, place: (&str, usize), opts: &Options, queues: &mut Queues) -> Option<Parsed> {
    let entry = entry(line)?;
    let body = entry.body;
    if let Some(id) = body.strip_prefix("message-id=") {
        let id = id.split_whitespace().next().unwrap_or("").trim_start_matches('<').trim_end_matches('>');
        if !id.is_empty() {
            queues.known_mut(entry.queue_id).message_id = Some(cut(id, MAX_VALUE_CHARS).to_string());
        }
        return None;
    }
    if body == "removed" {
        queues.remove(entry.queue_id);
        return None;
    }
    if let Some((name, value)) = header_of(body) {
        if name.eq_ignore_ascii_case(opts.campaign_header.trim()) && !value.is_empty() {
            queues.known_mut(entry.queue_id).campaign = Some(cut(value, MAX_VALUE_CHARS).to_string());
        }
        return None;
    }
    if !body.starts_with("to=") {
        return None;
    }
    Some(delivery(&entry, line, &format!("{}:{}", place.0, place.1), queues))
}

/// `warning: header NAME: VALUE from CLIENT; from=<…> to=<…> …` (the
/// `WARN` and `INFO` actions of `header_checks`): the header's name and
/// value.
fn header_of(body: &str) -> Option<(&str, &str)> {
    let (action, rest) = body.split_once(": ")?;
    if !matches!(action, "warning" | "info") {
        return None;
    }
    let rest = rest.strip_prefix("header ")?;
    let (name, value) = rest.split_once(':')?;
    let value = match value.rfind("; from=<") {
        Some(i) => value[..i].rfind(" from ").map_or(&value[..i], |j| &value[..j]),
        None => value,
    };
    Some((name.trim(), value.trim()))
}

/// The fields of a delivery line, up to `status=`.
#[derive(Debug, Default)]
struct Fields<'a> {
    to: Option<&'a str>,
    relay: Option<&'a str>,
    dsn: Option<&'a str>,
    status: Option<&'a str>,
    /// What follows the status word: `(host … said: …)`.
    tail: &'a str,
}

fn fields(body: &str) -> Fields<'_> {
    let mut f = Fields::default();
    let mut rest = body;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim();
        let after = &rest[eq + 1..];
        if key == "status" {
            let end = after.find([' ', ',', '(']).unwrap_or(after.len());
            f.status = Some(&after[..end]);
            f.tail = after[end..].trim_start_matches(',').trim();
            break;
        }
        if key.contains(' ') {
            break;
        }
        let (value, next) = match after.strip_prefix('<') {
            Some(inner) => match inner.find(">,").or_else(|| inner.find('>')) {
                Some(c) => (&inner[..c], &inner[c + 1..]),
                None => (inner, ""),
            },
            None => match after.find(", ") {
                Some(c) => (&after[..c], &after[c..]),
                None => (after, ""),
            },
        };
        match key {
            "to" => f.to = Some(value),
            "relay" => f.relay = Some(value),
            "dsn" => f.dsn = Some(value),
            _ => {}
        }
        rest = next.trim_start_matches([',', ' ']);
    }
    f
}

/// The event (or the note) of a `to=<…>, …, status=…` line.
fn delivery(entry: &Entry<'_>, line: &str, origin: &str, queues: &Queues) -> Parsed {
    let f = fields(entry.body);
    let Some(status) = f.status.filter(|s| !s.is_empty()) else {
        return Parsed::note(origin, NoteKind::Error, "a delivery line without `status=`");
    };
    let kind = match status {
        "sent" => EventType::Delivered,
        "bounced" | "deferred" | "expired" | "SOFTBOUNCE" => EventType::Bounce,
        "deliverable" | "undeliverable" => return Parsed::default(),
        other => {
            let message = format!("`status={}`: not a delivery result", cut(other, 100));
            return Parsed::note(origin, NoteKind::Skipped, message);
        }
    };
    let Some(to) = f.to.map(str::trim).filter(|t| !t.is_empty()) else {
        return Parsed::note(origin, NoteKind::Error, format!("a `status={status}` line without a recipient (`to=`)"));
    };
    let Some(recipient) = clean_address(to) else {
        let message = format!("recipient `{}` is not a full address", cut(to, 200));
        return Parsed::note(origin, NoteKind::Skipped, message);
    };
    let known = queues.get(entry.queue_id);
    let mut e = IngestEvent {
        id: stable_id("postfix", &[entry.queue_id, &recipient, line]),
        kind,
        recipient,
        campaign: known.and_then(|k| k.campaign.clone()),
        at: entry.at.clone(),
        action: Some(status.to_ascii_lowercase()),
        message_id: known.and_then(|k| k.message_id.clone()),
        format: Format::PostfixLog.as_str().to_string(),
        origin: origin.to_string(),
        ..IngestEvent::default()
    };
    // `(host … said: …)`: what is inside the parentheses.
    if let Some(inner) = f.tail.strip_prefix('(') {
        let inner = inner.strip_suffix(')').unwrap_or(inner);
        let (words, phase) = answer(inner);
        let reply = webhook::split_reply(words);
        e.code = reply.code;
        e.status = reply.status;
        e.text = reply.text;
        e.phase = phase.map(str::to_string);
    }
    if e.status.is_none() {
        e.status = f.dsn.map(str::trim).filter(|d| webhook::is_status(d)).map(str::to_string);
    }
    e.mx = f.relay.and_then(relay_host);
    Parsed { events: vec![e], notes: Vec::new() }
}

/// The receiver's words in Postfix's account of an attempt, and the phase.
fn answer(inner: &str) -> (&str, Option<&'static str>) {
    let (words, in_reply) = match inner.rfind(" (in reply to ") {
        Some(i) => (&inner[..i], Some(&inner[i..])),
        None => (inner, None),
    };
    let words = ["said: ", "refused to talk to me: "]
        .iter()
        .find_map(|m| words.find(m).map(|i| &words[i + m.len()..]))
        .unwrap_or(words);
    (words.trim(), in_reply.and_then(phase_of).or_else(|| phase_of(inner)))
}

/// `mx.example.org[192.0.2.1]:25` → `mx.example.org`; `none`, `local`,
/// `private/dovecot-lmtp` (no address) → `None`.
fn relay_host(relay: &str) -> Option<String> {
    let (host, _) = relay.split_once('[')?;
    let host = host.trim().trim_end_matches('.');
    if host.is_empty() || host.eq_ignore_ascii_case("none") {
        return None;
    }
    Some(cut(host, 255).to_ascii_lowercase())
}

/// `s` cut to at most `max` characters.
fn cut(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

// ---------------------------------------------------------------------------
// What is known of queue ids

/// What earlier lines said about a queue id.
#[derive(Debug, Default)]
struct Known {
    message_id: Option<String>,
    campaign: Option<String>,
}

/// Queue ids and what is known of them, at most `cap` of them: the oldest
/// is forgotten first.
#[derive(Debug)]
struct Queues {
    cap: usize,
    map: HashMap<String, (u64, Known)>,
    /// Insertion order; entries of forgotten ids linger until compacted.
    order: VecDeque<(u64, String)>,
    seq: u64,
}

impl Queues {
    fn new(cap: usize) -> Queues {
        Queues { cap: cap.max(1), map: HashMap::new(), order: VecDeque::new(), seq: 0 }
    }

    fn get(&self, queue_id: &str) -> Option<&Known> {
        self.map.get(queue_id).map(|(_, k)| k)
    }

    fn remove(&mut self, queue_id: &str) {
        self.map.remove(queue_id);
    }

    fn known_mut(&mut self, queue_id: &str) -> &mut Known {
        if !self.map.contains_key(queue_id) {
            self.make_room();
            self.seq += 1;
            self.order.push_back((self.seq, queue_id.to_string()));
        }
        let seq = self.seq;
        &mut self.map.entry(queue_id.to_string()).or_insert_with(|| (seq, Known::default())).1
    }

    fn make_room(&mut self) {
        while self.map.len() >= self.cap {
            let Some((seq, id)) = self.order.pop_front() else { break };
            if self.map.get(&id).is_some_and(|(s, _)| *s == seq) {
                self.map.remove(&id);
            }
        }
        if self.order.len() >= 2 * self.cap {
            let map = &self.map;
            self.order.retain(|(seq, id)| map.get(id).is_some_and(|(s, _)| s == seq));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(log: &str) -> Parsed {
        run_with(log, &Options::default())
    }

    fn run_with(log: &str, opts: &Options) -> Parsed {
        let mut all = Parsed::default();
        parse(&mut log.as_bytes(), "mail.log", opts, &mut |p| {
            all.events.extend(p.events);
            all.notes.extend(p.notes);
            Ok(())
        })
        .unwrap();
        all
    }

    const BOUNCED: &str = "Nov 28 05:13:59 mail postfix/smtp[4242]: 3F1A2B4C5D: to=<pat@example.org>, \
        orig_to=<pat.alias@example.com>, relay=mx.example.org[192.0.2.1]:25, delay=1.2, delays=0.1/0/0.6/0.5, \
        dsn=5.1.1, status=bounced (host mx.example.org[192.0.2.1] said: 550 5.1.1 <pat@example.org>: \
        Recipient address rejected: User unknown (in reply to RCPT TO command))";

    #[test]
    fn a_bounced_line() {
        let p = run(BOUNCED);
        let e = &p.events[0];
        assert_eq!(e.recipient, "pat@example.org");
        assert_eq!((e.code, e.status.as_deref()), (Some(550), Some("5.1.1")));
        assert_eq!(e.text.as_deref(), Some("550 5.1.1 <pat@example.org>: Recipient address rejected: User unknown"));
        assert_eq!((e.mx.as_deref(), e.phase.as_deref()), (Some("mx.example.org"), Some("rcpt")));
        assert_eq!((e.action.as_deref(), e.at.as_deref()), (Some("bounced"), None));
        assert_eq!(e.origin, "mail.log:1");
        assert_eq!(e.format, "postfix-log");
    }

    #[test]
    fn queue_ids() {
        assert!(is_queue_id("3F1A2B4C5D") && is_queue_id("4Xw2Qr5dRmz9sXy"));
        assert!(!is_queue_id("NOQUEUE") && !is_queue_id("warning") && !is_queue_id("3F1A") && !is_queue_id("3F1A-2B"));
    }

    #[test]
    fn relays() {
        assert_eq!(relay_host("mx.example.org[192.0.2.1]:25").as_deref(), Some("mx.example.org"));
        assert_eq!(relay_host("MX.Example.ORG.[192.0.2.1]:25").as_deref(), Some("mx.example.org"));
        assert_eq!(relay_host("198.51.100.7[198.51.100.7]:25").as_deref(), Some("198.51.100.7"));
        assert_eq!(relay_host("mail.example.org[private/dovecot-lmtp]").as_deref(), Some("mail.example.org"));
        assert_eq!(relay_host("none"), None);
        assert_eq!(relay_host("local"), None);
        assert_eq!(relay_host("[192.0.2.1]:25"), None);
    }

    #[test]
    fn phases() {
        let phase = |s: &str| answer(s).1;
        assert_eq!(phase("host a[192.0.2.1] said: 550 no (in reply to RCPT TO command)"), Some("rcpt"));
        assert_eq!(phase("host a[192.0.2.1] said: 553 no (in reply to MAIL FROM command)"), Some("mail"));
        assert_eq!(phase("host a[192.0.2.1] said: 554 spam (in reply to end of DATA command)"), Some("data"));
        assert_eq!(phase("host a[192.0.2.1] said: 554 no (in reply to DATA command)"), Some("data"));
        assert_eq!(phase("host a[192.0.2.1] said: 501 bad (in reply to EHLO command)"), Some("helo"));
        assert_eq!(phase("host a[192.0.2.1] said: 501 bad (in reply to HELO command)"), Some("helo"));
        assert_eq!(phase("host a[192.0.2.1] refused to talk to me: 554 5.7.1 go away"), Some("connect"));
        assert_eq!(phase("connect to a.example.org[192.0.2.1]:25: Connection refused"), Some("connect"));
        assert_eq!(
            phase("lost connection with a.example.org[192.0.2.1] while receiving the initial server greeting"),
            Some("connect")
        );
        assert_eq!(
            phase(
                "conversation with a[192.0.2.1] timed out while sending end of data -- message may be sent more than once"
            ),
            Some("data")
        );
        // The command Postfix names wins over words in the reply.
        assert_eq!(
            phase("host a[192.0.2.1] said: 450 cannot connect to database (in reply to RCPT TO command)"),
            Some("rcpt")
        );
        assert_eq!(phase("mailbox full"), None);
        assert_eq!(phase("host a[192.0.2.1] said: 451 cannot connect to database"), None);
    }

    #[test]
    fn the_words_are_the_receivers() {
        assert_eq!(answer("host a[192.0.2.1] said: 452 4.2.2 full (in reply to RCPT TO command)").0, "452 4.2.2 full");
        assert_eq!(answer("host a[192.0.2.1] refused to talk to me: 421 busy").0, "421 busy");
        assert_eq!(answer("unknown user: \"pat\"").0, "unknown user: \"pat\"");
    }

    #[test]
    fn syslog_and_iso_times() {
        assert_eq!(time_of("Nov 28 05:13:59 mail "), None);
        assert_eq!(time_of("2026-11-28T05:13:59.123456+00:00 mail ").as_deref(), Some("2026-11-28T05:13:59.123456Z"));
        assert_eq!(time_of("2026-11-28T06:13:59+0100 mail ").as_deref(), Some("2026-11-28T05:13:59Z"));
        assert_eq!(time_of("2026-11-28T05:13:59Z mail ").as_deref(), Some("2026-11-28T05:13:59Z"));
        assert_eq!(time_of("<22>2026-11-28T05:13:59Z mail ").as_deref(), Some("2026-11-28T05:13:59Z"));
        assert_eq!(time_of("2026-11-28 05:13:59+00:00 mail ").as_deref(), Some("2026-11-28T05:13:59Z"));
        // No offset: the zone is not known.
        assert_eq!(time_of("2026-11-28T05:13:59 mail "), None);
        assert_eq!(time_of("2026-13-45T99:13:59Z mail "), None);
        assert!(starts_with_time("Nov  8 05:13:59 mail postfix/smtp[1]: x"));
        assert!(starts_with_time("2026-11-28T05:13:59Z mail postfix/smtp[1]: x"));
        assert!(!starts_with_time("Received: from mail.example.org"));
    }

    #[test]
    fn iso_lines_carry_their_time() {
        let line = BOUNCED.replacen("Nov 28 05:13:59", "2026-11-28T05:13:59.5+01:00", 1);
        assert_eq!(run(&line).events[0].at.as_deref(), Some("2026-11-28T04:13:59.5Z"));
    }

    #[test]
    fn tags() {
        assert!(find_tag("Nov 28 05:13:59 mail postfix-out/smtp[1]: 3F1A2B: to=<a@example.org>").is_some());
        assert!(find_tag("Nov 28 05:13:59 mail postfix/submission/smtpd[1]: connect").is_some());
        assert!(find_tag("Nov 28 05:13:59 mail dovecot: lmtp(postfix/x): y").is_none());
        assert!(find_tag("Nov 28 05:13:59 mail postfix: started").is_none());
    }

    #[test]
    fn message_ids_and_campaigns_follow_the_queue_id() {
        let log = "Nov 28 05:13:58 mail postfix/cleanup[10]: 3F1A2B4C5D: message-id=<m1@example.com>\n\
            Nov 28 05:13:58 mail postfix/cleanup[10]: 3F1A2B4C5D: warning: header X-Campaign-Id: spring-2026 from \
            unknown[203.0.113.5]; from=<news@example.com> to=<pat@example.org> proto=ESMTP helo=<out.example.com>\n"
            .to_string()
            + BOUNCED
            + "\nNov 28 05:14:00 mail postfix/qmgr[11]: 3F1A2B4C5D: removed\n"
            + BOUNCED;
        let p = run(&log);
        assert_eq!(p.events.len(), 2);
        assert_eq!(p.events[0].message_id.as_deref(), Some("m1@example.com"));
        assert_eq!(p.events[0].campaign.as_deref(), Some("spring-2026"));
        assert_eq!(p.events[0].origin, "mail.log:3");
        assert_eq!((p.events[1].message_id.as_deref(), p.events[1].campaign.as_deref()), (None, None));
    }

    #[test]
    fn the_queue_map_is_bounded() {
        let mut q = Queues::new(3);
        for i in 0..10 {
            q.known_mut(&format!("Q{i:04}")).message_id = Some(i.to_string());
            if i % 2 == 0 {
                q.remove(&format!("Q{i:04}"));
            }
        }
        assert!(q.map.len() <= 3);
        assert!(q.order.len() <= 6);
        assert!(q.get("Q0009").is_some());
        assert!(q.get("Q0001").is_none());
    }

    #[test]
    fn crlf_and_bad_bytes() {
        let mut log = BOUNCED.as_bytes().to_vec();
        log.extend_from_slice(b"\r\n");
        log.extend_from_slice(&BOUNCED.as_bytes()[..40]);
        log.extend_from_slice(b"\xff\xfe garbage\r\n");
        let mut n = 0;
        parse(&mut log.as_slice(), "x", &Options::default(), &mut |p| {
            n += p.events.len();
            assert!(p.events.iter().all(|e| e.text.as_deref().is_some_and(|t| !t.ends_with('\r'))));
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn long_lines_are_cut_and_the_next_line_read() {
        let long = BOUNCED.replace("User unknown", &"x".repeat(MAX_LINE_BYTES * 3));
        let log = format!("{long}\n{BOUNCED}\n");
        let p = run(&log);
        assert_eq!(p.events.len(), 2);
        assert_eq!(p.events[1].origin, "mail.log:2");
        assert!(p.events[0].text.as_deref().is_some_and(|t| t.len() <= 2000));
    }

    #[test]
    fn lines_that_are_not_results() {
        let log = "Nov 28 05:13:59 mail postfix/smtpd[1]: connect from unknown[203.0.113.9]\n\
            Nov 28 05:13:59 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 no; \
            from=<a@example.com> to=<b@example.org> proto=ESMTP helo=<x>\n\
            Nov 28 05:13:59 mail postfix/qmgr[2]: 3F1A2B4C5D: from=<a@example.com>, status=expired, returned to sender\n\
            Nov 28 05:13:59 mail postfix/smtp[3]: 3F1A2B4C5D: to=<b@example.org>, relay=none, dsn=2.1.5, status=deliverable (ok)\n\
            Nov 28 05:13:59 mail dovecot: imap-login: Login\n";
        let p = run(log);
        assert_eq!((p.events.len(), p.notes.len()), (0, 0));
    }

    #[test]
    fn unreadable_delivery_lines_are_errors() {
        let log = "Nov 28 05:13:59 mail postfix/smtp[3]: 3F1A2B4C5D: to=<>, relay=none, status=bounced (x)\n\
            Nov 28 05:13:59 mail postfix/smtp[3]: 3F1A2B4C5D: to=<b@example.org>, relay=none, dsn=5.0.0\n\
            Nov 28 05:13:59 mail postfix/local[3]: 3F1A2B4C5D: to=<root@localhost>, relay=local, status=sent (delivered to mailbox)\n";
        let p = run(log);
        assert!(p.events.is_empty());
        let kinds: Vec<_> = p.notes.iter().map(|n| (n.origin.as_str(), n.kind)).collect();
        assert_eq!(
            kinds,
            [("mail.log:1", NoteKind::Error), ("mail.log:2", NoteKind::Error), ("mail.log:3", NoteKind::Skipped)]
        );
    }

    #[test]
    fn dsn_fills_a_status_the_words_lack() {
        let log = "Nov 28 05:13:59 mail postfix/error[9]: 3F1A2B4C5D: to=<b@example.org>, relay=none, delay=9, \
            dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to mx.example.org[192.0.2.1]:25: \
            Connection timed out)";
        let e = &run(log).events[0];
        assert_eq!(
            (e.code, e.status.as_deref(), e.phase.as_deref(), e.mx.as_deref()),
            (None, Some("4.4.1"), Some("connect"), None)
        );
        assert_eq!(e.action.as_deref(), Some("deferred"));
    }

    #[test]
    fn sniffing() {
        assert!(sniff(BOUNCED.as_bytes()));
        assert!(sniff(b"Nov 28 05:13:58 mail dovecot: x\nNov 28 05:13:59 mail postfix/smtpd[1]: connect from a\n"));
        assert!(!sniff(b"Received: from x by y\nSubject: postfix/smtp[1]: hi\n"));
        assert!(!sniff(b"Nov 28 05:13:58 mail dovecot: x\n"));
        assert!(!sniff(b""));
    }
}
