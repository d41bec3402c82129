//! What one recipient's block of a bounce in prose says: the receiver's
//! words (after the MTA's markers, on the MTA's own line, or a line that
//! starts with a refusal), the refusal's code and status read only where a
//! reply starts, the MX host, and the phase from the MTA's words for the
//! command it sent. [`super`] finds the recipients and their blocks; this
//! reads each block and must not look beyond it.

use std::sync::LazyLock;

use super::{Failure, MAX_TEXT, leading_address, transcript};
use crate::ingest::dsn::{self, is_status};
use crate::ingest::needles::Needles;

/// Whether `s` says something: two words of letters, or (in a script that
/// writes no spaces between words, Japanese, Chinese) a few letters.
pub(crate) fn has_words(s: &str) -> bool {
    s.split_whitespace().filter(|w| w.len() > 2 && w.chars().all(char::is_alphabetic)).count() >= 2
        || s.chars().filter(|c| c.is_alphabetic() && !c.is_ascii()).count() >= MIN_UNSPACED_LETTERS
}

/// How many letters of a script without spaces make words ([`has_words`]).
const MIN_UNSPACED_LETTERS: usize = 4;

/// Markers after which the receiver's own words follow.
const SAID: &[&str] = &[
    "the error that the other server returned was:",
    "remote server returned '",
    "remote server returned \"",
    "remote server returned",
    "remote host said:",
    "said:",
    "(reason:",
    "reason:",
    "error message:",
    "diagnostic-code:",
    "the reason of the problem:",
    "smtp error from remote mail server after",
    "error:",
];

static SAID_NEEDLES: LazyLock<Needles> = LazyLock::new(|| Needles::new(SAID));

/// What one recipient's block says.
pub(super) fn describe(block: &[&str], addr: &str) -> Failure {
    let joined: String = block.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
    // The receiver's words, in this order: the MTA's own line for the
    // recipient; the words after a "said"-like marker that carry a refusal
    // code; a line that starts with a refusal code; the words after any
    // marker; else what the block says besides the address.
    let own = own_line(block, addr);
    let first_line = block.first().copied().unwrap_or("");
    let mut words: Option<String> = own.map(|i| with_mailer_output(block, i));
    let markers = said_markers(block);
    if words.is_none() {
        words = said_words(block, &markers, true);
    }
    // A line that starts with a failure reply (`550 5.7.26 …`, `554-…`) is
    // the receiver's: it and the lines that continue it.
    if words.is_none()
        && let Some(i) = block.iter().position(|l| reply_code(l.trim_start()).is_some_and(|c| c >= 400))
    {
        words = Some(reply_lines(block, i, block.get(i).copied().unwrap_or("")));
    }
    if words.is_none() {
        words = said_words(block, &markers, false);
    }
    let text = words.unwrap_or_else(|| {
        own_words(block)
            .replacen(addr, "", 1)
            .trim_matches(|c: char| c == '<' || c == '>' || c == ':' || c.is_whitespace())
            .to_string()
    });
    // The code is a refusal's (4xx, 5xx) at the start of the receiver's
    // words or after the MTA's `host … [ip]:`: never a number from the
    // rest of the block (`Size (in bytes): 222`, a `221 Bye` after QUIT).
    // The MTA's own line carries the code, whatever mailer output is above it.
    let (code, status) = prose_reply_in(own.and_then(|i| block.get(i)).copied().unwrap_or(&text));
    let mut text = clean_text(&text);
    if text.len() > MAX_TEXT {
        let mut cut = MAX_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    // The phase of sendmail's own line for the recipient, not of the
    // transcript of other hosts after it.
    let phase = match own {
        Some(0) => phase_in(first_line),
        _ => phase_in(&joined),
    };
    Failure { recipient: addr.to_string(), text, code, status, mx: mx_in(&joined), phase }
}

/// What a block says in its own words: its lines up to where a returned
/// message's headers begin without a marker (`Received: from …`), joined.
fn own_words(block: &[&str]) -> String {
    let header_starts = |l: &&str| {
        let t = l.trim_start().to_ascii_lowercase();
        ["received:", "return-path:", "message-id:", "dkim-signature:", "mime-version:"]
            .iter()
            .any(|h| t.starts_with(h))
    };
    let lines: Vec<&str> = block.iter().take_while(|l| !header_starts(l)).map(|l| l.trim()).collect();
    lines.into_iter().filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The MTA's own line about the recipient in its block: perhaps a refusal
/// code and a status, the address and `... ` (Sendmail: `554 <a@b>... 550
/// Host unknown`, `550 5.1.2 <a@b>... Host unknown`, `<a@b>... Deferred:
/// Connection refused by mx.example.org.`).
pub(super) fn own_line(block: &[&str], addr: &str) -> Option<usize> {
    let addr = addr.to_ascii_lowercase();
    block.iter().position(|l| {
        let t = l.trim();
        let Some(i) = t.find("... ") else { return false };
        let head = t.get(..i).unwrap_or("").to_ascii_lowercase();
        let bare = head.trim_start_matches('<').trim_end_matches('>');
        head.contains(&addr) && (reply_code(t).is_some_and(|c| c >= 400) || bare == addr)
    })
}

/// The MTA's line at `i` with the local mailer's output just above it, in
/// a transcript (`maildrop: maildir over quota.` before `550 5.0.0
/// <a@b>... Insufficient permission`): the mailer's words say why.
pub(super) fn with_mailer_output(block: &[&str], i: usize) -> String {
    let line = block.get(i).map_or("", |l| l.trim());
    let in_transcript =
        block.get(..i).unwrap_or(&[]).iter().any(|l| l.to_ascii_lowercase().contains("transcript of session"));
    if !in_transcript {
        return line.to_string();
    }
    let mut above: Vec<&str> = Vec::new();
    for l in block.get(..i).unwrap_or(&[]).iter().rev().take(MAX_MAILER_LINES) {
        let t = l.trim();
        let transcript_line = t.starts_with(['-', '(', '<', '>', '*', '='])
            || t.to_ascii_lowercase().contains("while talking to")
            || reply_code(t).is_some()
            || leading_address(l).is_some();
        if t.is_empty() || transcript_line {
            break;
        }
        above.push(t);
    }
    if above.is_empty() {
        return line.to_string();
    }
    above.reverse();
    above.push(line);
    above.join(" ")
}

/// How many lines of a local mailer's output above the MTA's line are kept.
const MAX_MAILER_LINES: usize = 3;

/// Where each [`SAID`] marker first occurs in a block, as (line, column),
/// by marker: one automaton pass over the lines. A marker inside a reply
/// (`550-Reason: …`) is the receiver's word, not the MTA's, and is passed
/// over.
fn said_markers(block: &[&str]) -> Vec<Option<(usize, usize)>> {
    let mut found: Vec<Option<(usize, usize)>> = vec![None; SAID.len()];
    for (i, line) in block.iter().enumerate() {
        if !SAID_NEEDLES.any_in(line) {
            continue;
        }
        let in_reply = transcript::reply_start(line.trim_start().trim_start_matches(['<', '>']).trim_start()).is_some();
        if in_reply {
            continue;
        }
        for (m, start, _) in SAID_NEEDLES.all_in(line) {
            if let Some(slot @ None) = found.get_mut(m) {
                *slot = Some((i, start));
            }
        }
    }
    found
}

/// The words after the first [`SAID`] marker (in that order) that has any:
/// the rest of its line, or the next line when the marker ends its line,
/// with the lines that continue the reply ([`reply_lines`]).
/// With `with_reply`, only words that carry a refusal code count.
fn said_words(block: &[&str], markers: &[Option<(usize, usize)>], with_reply: bool) -> Option<String> {
    for (m, found) in SAID.iter().zip(markers) {
        let Some((li, col)) = *found else { continue };
        let line = block.get(li).copied().unwrap_or("");
        let after = line.get(col + m.len()..).unwrap_or("").trim().trim_start_matches(['\'', '"']).trim();
        let words = if after.is_empty() {
            // `The error that the other server returned was:` and the reply
            // below; `For the following reason:` and its paragraph.
            match block.iter().enumerate().skip(li + 1).take(2).find(|(_, l)| !l.trim().is_empty()) {
                Some((i, l)) if transcript::reply_start(l.trim()).is_some() => reply_lines(block, i, l),
                Some((i, _)) => paragraph(block, i),
                None => continue,
            }
        } else {
            reply_lines(block, li, after)
        };
        let words = from_reply(&words);
        if !words.trim().is_empty() && (!with_reply || prose_reply_in(words).0.is_some()) {
            return Some(words.to_string());
        }
    }
    None
}

/// The reply that starts with `first` (on line `at` of `block`), and the
/// lines that continue it: `550-` lines up to the `550 ` line, then lines
/// indented below it (an MTA's wrap), up to a blank line or the next
/// recipient. qmail's `Giving up on 192.0.2.1.` or a `221 Bye` after it
/// are not part of it.
fn reply_lines(block: &[&str], at: usize, first: &str) -> String {
    let mut parts: Vec<String> = vec![first.trim().to_string()];
    let mut i = at;
    let start = transcript::reply_start(first.trim());
    let mut pending = start.filter(|(_, more, _)| *more).map(|(c, _, _)| c);
    let mut lines: Vec<String> = start.map(|(_, _, rest)| rest.to_string()).into_iter().collect();
    while let Some(code) = pending {
        let Some(next) = block.get(i + 1).map(|l| l.trim()) else { break };
        match transcript::reply_start(next) {
            Some((c, more, rest)) if c == code => {
                lines.push(rest.to_string());
                i += 1;
                pending = more.then_some(code);
            }
            _ => break,
        }
    }
    // A multi-line reply (`550-5.2.1 a`, `550 5.2.1 b`) as one: `550 5.2.1 a b`.
    if let Some((code, _, _)) = start
        && lines.len() > 1
    {
        parts = vec![transcript::join_reply(code, &lines).0];
    }
    while let Some(next) = block.get(i + 1) {
        if next.trim().is_empty() || !(next.starts_with([' ', '\t']) || is_qmail_status(next)) {
            break;
        }
        parts.push(next.trim().to_string());
        i += 1;
    }
    parts.join(" ")
}

/// The lines from `at` up to a blank line, joined.
fn paragraph(block: &[&str], at: usize) -> String {
    let lines = block.get(at..).unwrap_or(&[]);
    lines.iter().map(|l| l.trim()).take_while(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// qmail's own status for a failure, on the line after the reply: `. (#5.5.0)`.
fn is_qmail_status(line: &str) -> bool {
    let t = line.trim().trim_start_matches(['.', ' ']);
    t.strip_prefix("(#").and_then(|r| r.strip_suffix(')')).is_some_and(is_status)
}

/// An MTA's account of a refusal, from where the receiver's reply starts:
/// `RCPT TO:<a@b>: host mx.example.org [192.0.2.1]: 550 5.1.1 …` → `550
/// 5.1.1 …`, `Server mx.example.org[192.0.2.1] failed with: 550 …` → `550 …`.
/// Only before the first reply: a colon inside the receiver's own words
/// (`… visit the URL: 550-http://…` in a multi-line reply) is theirs.
fn from_reply(words: &str) -> &str {
    if transcript::reply_start(words).is_some() {
        return words;
    }
    for (i, _) in words.match_indices(": ") {
        let at = i + 2;
        if failure_reply_in(words.get(..i).unwrap_or("")).0.is_some() {
            break;
        }
        if let Some((code, _, _)) = words.get(at..).and_then(transcript::reply_start)
            && code >= 400
            && introduces_reply(words.get(..i).unwrap_or(""))
        {
            return words.get(at..).unwrap_or(words);
        }
    }
    words
}

/// Words before a colon that introduce a reply: a host (`host mx [ip]`,
/// `said[…]`), a command as sent (`RCPT TO:<a@b>`, `SIZE=1543`, `end of
/// data`, `EHLO mx`), or the MTA's verb (`failed with`, `responded with
/// failure`). Not a detail of the message (`Size (in bytes): 552`).
fn introduces_reply(before: &str) -> bool {
    const WORDS: &[&str] =
        &["said", "with", "failure", "error", "reason", "data", "connection", "returned", "response", "responded"];
    let tokens: Vec<&str> = before.split_whitespace().collect();
    let Some(last) = tokens.last() else { return false };
    let word = last.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_ascii_lowercase();
    let command = tokens.first().is_some_and(|t| ["ehlo", "helo", "lhlo"].iter().any(|c| t.eq_ignore_ascii_case(c)));
    last.ends_with(']')
        || last.ends_with('>')
        || word.starts_with("size=")
        || WORDS.contains(&word.as_str())
        || tokens.len() >= 2 && tokens.get(tokens.len() - 2).is_some_and(|p| p.eq_ignore_ascii_case("host"))
        || command
}

/// The refusal's reply code (4xx, 5xx) and enhanced status in the
/// receiver's words: the code at their start, else the first refusal
/// code that starts a word (a `220-` greeting line or a `250` before it is
/// not the refusal); the status that follows it, else the first.
pub(super) fn failure_reply_in(words: &str) -> (Option<u16>, Option<String>) {
    let t = words.trim_start();
    if let Some((code, _, rest)) = transcript::reply_start(t)
        && code >= 400
    {
        let status = dsn::status_at_start(rest).or_else(|| reply_in(rest).and_then(|(_, s)| s));
        return (Some(code), status);
    }
    reply_in_from(t, 400).unwrap_or((None, None))
}

/// As [`failure_reply_in`] for words found in prose, where only a reply
/// that starts them is one (after the MTA's `host … [ip]:`, see
/// [`from_reply`]): a number further on is a detail (`Size (in bytes):
/// 552`), not an answer. The status may be anywhere (qmail's `(#5.1.1)`).
fn prose_reply_in(words: &str) -> (Option<u16>, Option<String>) {
    let t = from_reply(words).trim_start();
    match transcript::reply_start(t) {
        Some((code, _, _)) if code >= 400 => failure_reply_in(t),
        _ => (None, reply_in(t).and_then(|(_, s)| s)),
    }
}

/// The refusal (4xx, 5xx) in a report's words: its code and status, read
/// where the receiver's reply starts (after the MTA's wrapper, a refusal code that starts a word).
pub fn refusal_in(words: &str) -> (Option<u16>, Option<String>) {
    failure_reply_in(from_reply(words))
}

/// The words on one line, without the quote or parenthesis that closed the
/// MTA's wrapper around them (`Remote Server returned '…'`, `(reason: …)`);
/// a parenthesis the words opened themselves (`(#5.1.1)`) stays.
pub(super) fn clean_text(s: &str) -> String {
    let mut s = s.trim().trim_end_matches(['\'', '"']).trim_end();
    while s.ends_with(')') && s.matches(')').count() > s.matches('(').count() {
        s = s[..s.len() - 1].trim_end().trim_end_matches(['\'', '"']).trim_end();
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A reply code at the start of `s` (`550 …`, `550-…`, `550`).
pub(super) fn reply_code(s: &str) -> Option<u16> {
    let b = s.as_bytes();
    if b.len() >= 3
        && matches!(b[0], b'2' | b'4' | b'5')
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && b.get(3).is_none_or(|c| matches!(c, b' ' | b'-' | b'\t' | b'.' | b','))
    {
        s[..3].parse().ok().filter(|c| (200..600).contains(c) && c % 100 < 60)
    } else {
        None
    }
}

/// The first reply code and enhanced status in `s`: a code that starts a
/// word and is followed by a space or dash; a status anywhere.
pub fn reply_in(s: &str) -> Option<(Option<u16>, Option<String>)> {
    reply_in_from(s, 200)
}

/// As [`reply_in`], the first code at or above `min` (400: a refusal's).
fn reply_in_from(s: &str, min: u16) -> Option<(Option<u16>, Option<String>)> {
    let mut code = None;
    let mut status = None;
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        // Codes and statuses start with 2, 4 or 5 (an ASCII byte, so a char
        // boundary): every other position is skipped at once.
        if !matches!(b, b'2' | b'4' | b'5') {
            continue;
        }
        let prev = if i == 0 { b' ' } else { bytes[i - 1] };
        let starts_word = !prev.is_ascii_alphanumeric() && prev != b'.' && prev != b'-' && prev != b'#' && prev != b'[';
        if (code.is_none() && starts_word && prev != b':' || code.is_none() && prev == b':' && i > 0)
            && let Some(c) = reply_code(&s[i..])
            // Not a status's first digit, not a port or a time.
            && bytes.get(i + 3) != Some(&b'.')
            && prev != b':'
            && c >= min
        {
            code = Some(c);
        }
        if status.is_none() && (starts_word || prev == b'#' || prev == b'(' || prev == b'[') {
            let len = bytes[i..].iter().take_while(|c| c.is_ascii_digit() || **c == b'.').count();
            let token = s[i..i + len].trim_end_matches('.');
            if is_status(token) {
                status = Some(token.to_string());
            }
        }
        if code.is_some() && status.is_some() {
            break;
        }
    }
    (code.is_some() || status.is_some()).then_some((code, status))
}

/// The MX host the prose names: `host mx.example.org [192.0.2.1]`,
/// `talking to mx.example.org.:`, `by mx.example.org. [192.0.2.1]`.
pub(super) fn mx_in(s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    for marker in ["host ", "talking to ", "rejected by the server for the recipient domain ", "by "] {
        let mut from = 0;
        while let Some(rel) = lower[from..].find(marker) {
            let i = from + rel + marker.len();
            from = i;
            let word: String =
                s[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-').collect();
            let host = word.trim_end_matches('.');
            let looks_like_host = host.contains('.')
                && host.chars().any(|c| c.is_ascii_alphabetic())
                && !host.contains("..")
                && host.rsplit('.').next().is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()));
            if looks_like_host && (marker != "by " || s[i + word.len()..].trim_start().starts_with('[')) {
                return Some(host.to_ascii_lowercase());
            }
        }
    }
    None
}

/// Phrases that name the SMTP command a reply answered, and its phase:
/// the MTA's own words for the command it sent (`after RCPT TO:<…>`, `in
/// reply to end of DATA command`, qmail's `does not like recipient`), never
/// words a receiver might use about anything (`connection refused`,
/// `greeting`, `HELO=` in a reply). A transcript's `>>> RCPT` is read by
/// [`transcript`] instead.
const PHASES: &[(&str, &str)] = &[
    // `RCPT TO:<a@b>` as sent (Exim's `after RCPT TO:<…>`); a bare `RCPT
    // TO: a@b` is a list of the message's details.
    ("rcpt to:<", "rcpt"),
    ("did not like our rcpt", "rcpt"),
    ("did not like our mail", "mail"),
    ("did not like our data", "data"),
    ("did not like our final data", "data"),
    ("reply to rcpt to", "rcpt"),
    ("rcpt to response", "rcpt"),
    ("[rcpt_to]", "rcpt"),
    ("after rcpt", "rcpt"),
    ("rcpt command", "rcpt"),
    ("smtp:rcpt", "rcpt"),
    ("smtp command rcpt", "rcpt"),
    ("does not like recipient", "rcpt"),
    ("mail from:<", "mail"),
    ("reply to mail from", "mail"),
    ("mail from response", "mail"),
    ("[mail_from]", "mail"),
    ("after mail from", "mail"),
    ("does not like sender", "mail"),
    ("but sender was rejected", "mail"),
    ("end of data", "data"),
    ("after data", "data"),
    ("in reply to data", "data"),
    ("reply to data", "data"),
    ("data command", "data"),
    ("smtp command data", "data"),
    ("smtp:data", "data"),
    ("failed after i sent the message", "data"),
    ("after helo", "helo"),
    ("after ehlo", "helo"),
    ("reply to helo", "helo"),
    ("reply to ehlo", "helo"),
    ("ehlo handshake", "helo"),
    ("helo handshake", "helo"),
    ("but my name was rejected", "helo"),
    ("initial connection", "connect"),
    ("refused to talk to me", "connect"),
    ("initial server greeting", "connect"),
    ("initial protocol greeting", "connect"),
    ("greeting failed", "connect"),
    ("during greeting wait", "connect"),
];

static PHASE_NEEDLES: LazyLock<Needles> =
    LazyLock::new(|| Needles::new(&PHASES.iter().map(|(phrase, _)| *phrase).collect::<Vec<_>>()));

/// The SMTP phase the prose names: the phrase that occurs first (the
/// earlier in [`PHASES`] on a tie), ASCII case ignored.
pub(super) fn phase_in(text: &str) -> Option<String> {
    PHASES
        .iter()
        .zip(PHASE_NEEDLES.first_of_each(text))
        .filter_map(|((_, phase), at)| at.map(|i| (i, *phase)))
        .chain(postfix_connect(text).map(|i| (i, "connect")))
        .min_by_key(|(i, _)| *i)
        .map(|(_, p)| p.to_string())
}

/// Where Postfix says its connection failed, `connect to HOST[IP]:PORT: …`
/// (the documented form; `connection refused` alone names no phase).
pub(crate) fn postfix_connect(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    lower.match_indices("connect to ").find_map(|(i, m)| {
        let host = lower.get(i + m.len()..)?.split_whitespace().next()?;
        (host.contains('[') && host.contains("]:")).then_some(i)
    })
}
