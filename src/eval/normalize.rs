//! Normalising a receiver's answer before any rule runs.
//!
//! Real answers arrive messy: multi-line replies joined with their repeated
//! prefixes (`550-5.1.1 … 550 5.1.1 …`), wrapped by the sending MTA
//! (`host mx.example.com[192.0.2.1] said: … (in reply to RCPT TO command)`),
//! with the code and status only in the text, with a reply nested in
//! another (`… -> 451 4.2.0 Throttled`), or with tokens that look like a
//! status and are not (Yahoo's `554 30 … (554.30)`). Each step below is a
//! pure function; [`normalize`] runs them in order and records what it
//! noticed as [`Flags`], which rules can test and `explain` shows.

use std::sync::LazyLock;

use regex::Regex;

use crate::compile::patterns::{Status, fold_text};
use crate::model::{Flag, Phase};

/// What normalisation noticed, as a bit set of [`Flag`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags(u8);

impl Flags {
    fn bit(f: Flag) -> u8 {
        1 << Flag::ALL.iter().position(|x| *x == f).unwrap_or(0)
    }

    /// Raises a flag.
    pub fn set(&mut self, f: Flag) {
        self.0 |= Flags::bit(f);
    }

    /// Whether a flag is raised.
    pub fn has(self, f: Flag) -> bool {
        self.0 & Flags::bit(f) != 0
    }

    /// The raised flags, in vocabulary order.
    pub fn list(self) -> Vec<Flag> {
        Flag::ALL.iter().copied().filter(|f| self.has(*f)).collect()
    }
}

/// The answer as the rules see it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    /// The basic reply code.
    pub code: Option<u16>,
    /// The enhanced status code.
    pub status: Option<Status>,
    /// The reply nested inside the text (`-> 451 4.2.0 …`), its code…
    pub inner_code: Option<u16>,
    /// …and its status.
    pub inner_status: Option<Status>,
    /// The receiver's words: joined, unwrapped, without the leading code and status.
    pub text: String,
    /// `text` lowercased with whitespace runs collapsed: what text tests match.
    pub folded: String,
    /// The SMTP phase, from the event or from the MTA's wrapper.
    pub phase: Option<Phase>,
    /// The MX host that answered, lowercase.
    pub mx: Option<String>,
    /// The recipient's domain, lowercase.
    pub domain: String,
    /// What normalisation noticed.
    pub flags: Flags,
}

impl Response {
    /// The reply class (2, 4, 5): from the code, else from the status.
    pub fn reply_class(&self) -> Option<u8> {
        self.code.map(|c| (c / 100) as u8).or(self.status.map(|s| s.class))
    }
}

/// The raw parts of an answer, as an event carries them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Raw<'a> {
    /// The `code` field.
    pub code: Option<u16>,
    /// The `status` field.
    pub status: Option<&'a str>,
    /// The `text` field.
    pub text: &'a str,
    /// The `mx` field.
    pub mx: Option<&'a str>,
    /// The `phase` field, already read.
    pub phase: Option<Phase>,
    /// The recipient's domain.
    pub domain: &'a str,
    /// What the report said happened (the event's `action`: DSN `failed`,
    /// `delayed`, Postfix `expired`, …), read only for
    /// [`Flag::FinalTemporary`].
    pub action: Option<&'a str>,
}

/// Runs every step, in order. Answers with nothing to unwrap or join (the
/// common case) take a short path that gives the same result.
pub fn normalize(raw: &Raw) -> Response {
    let trimmed = raw.text.trim_ascii();
    let first = trimmed.as_bytes().first();
    let plain = !first.is_some_and(|b| b.is_ascii_digit() || *b == b'#')
        && !maybe_wrapped(trimmed)
        && !raw.code.is_some_and(|c| continued(trimmed, c));
    if plain {
        return plain_response(raw, trimmed);
    }
    normalize_full(raw)
}

fn lower_host(h: &str) -> String {
    let h = h.trim_ascii();
    h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase()
}

/// The short path: no wrapper, no leading code, no continuation lines.
fn plain_response(raw: &Raw, text: &str) -> Response {
    let mut flags = Flags::default();
    let status_field = raw.status.and_then(|s| Status::parse(s.trim_ascii()));
    if raw.status.is_some_and(|s| !s.trim_ascii().is_empty()) && status_field.is_none() {
        flags.set(Flag::OddStatus);
    }
    if odd_status_token(text) {
        flags.set(Flag::OddStatus);
    }
    let status = status_field.or_else(|| find_status(text));
    if status_field.is_none() && status.is_some() {
        flags.set(Flag::FromText);
    }
    if let (Some(c), Some(s)) = (raw.code, status)
        && (c / 100) as u8 != s.class
    {
        flags.set(Flag::ClassMismatch);
    }
    let (inner_code, inner_status) = nested(text);
    if inner_code.is_some() || inner_status.is_some() {
        flags.set(Flag::Nested);
    }
    if gave_up_on_temporary(raw.action, raw.code, status) {
        flags.set(Flag::FinalTemporary);
    }
    Response {
        code: raw.code,
        status,
        inner_code,
        inner_status,
        text: text.to_string(),
        folded: fold_text(text),
        phase: raw.phase,
        mx: raw.mx.map(lower_host).filter(|m| !m.is_empty()),
        domain: lower_host(raw.domain),
        flags,
    }
}

/// Whether `text` may carry an MTA's wrapper: a `:` or `;` after one of
/// the wrappers' words, Exchange's `returned '`, or Postfix's closing
/// `(in reply to … command)`. A quick necessary test before the regexes.
pub fn maybe_wrapped(text: &str) -> bool {
    const BEFORE_COLON: &[&str] =
        &["said", "code", "talk to me", "rcpt to", "mail from", "connection", "data", "helo", "ehlo", "smtp"];
    let b = text.as_bytes();
    let ends_with_ci = |end: usize, stem: &str| {
        end >= stem.len() && b.get(end - stem.len()..end).is_some_and(|w| w.eq_ignore_ascii_case(stem.as_bytes()))
    };
    for i in memchr::memchr3_iter(b':', b';', b'\'', b) {
        let hit = match b.get(i) {
            Some(b':') => BEFORE_COLON.iter().any(|s| ends_with_ci(i, s)),
            Some(b';') => ends_with_ci(i, "smtp"),
            _ => ends_with_ci(i, "returned "),
        };
        if hit {
            return true;
        }
    }
    static IN_REPLY_TO: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"in reply to"));
    b.last() == Some(&b')') && IN_REPLY_TO.find(b).is_some()
}

/// Whether the text carries continuation lines of reply `code` (`550-`).
fn continued(text: &str, code: u16) -> bool {
    let digits = [b'0' + (code / 100 % 10) as u8, b'0' + (code / 10 % 10) as u8, b'0' + (code % 10) as u8];
    let b = text.as_bytes();
    memchr::memchr_iter(b'-', b).any(|i| i >= 3 && b.get(i - 3..i) == Some(&digits[..]))
}

/// The full path: unwrap, join, read codes from the text. [`normalize`]
/// gives the same result by a shorter path when there is nothing to do.
pub fn normalize_full(raw: &Raw) -> Response {
    let mut flags = Flags::default();
    let status_field = raw.status.and_then(|s| Status::parse(s.trim_ascii()));
    if raw.status.is_some_and(|s| !s.trim_ascii().is_empty()) && status_field.is_none() {
        flags.set(Flag::OddStatus);
    }
    let (unwrapped, wrapper_phase) = strip_wrappers(raw.text);
    if unwrapped.len() != raw.text.len() {
        flags.set(Flag::Wrapped);
    }
    let joined = join_multiline(unwrapped, raw.code);
    if joined.joined {
        flags.set(Flag::Multiline);
    }
    let lead = leading_reply(&joined.text);
    let text_code = joined.code.or(lead.code);
    let text_status = joined.status.or(lead.status);
    let mut rest = lead.rest.to_string();
    if odd_status_token(&rest) {
        flags.set(Flag::OddStatus);
    }
    // Prefer what agrees with the reply class when field and text differ.
    let code = choose(raw.code, text_code, status_field.or(text_status).map(|s| s.class), |c| (c / 100) as u8);
    let mut status = choose(status_field, text_status, code.map(|c| (c / 100) as u8), |s| s.class);
    if status.is_none() {
        status = find_status(&rest);
    }
    if (raw.code.is_none() && code.is_some()) || (status_field.is_none() && status.is_some()) {
        flags.set(Flag::FromText);
    }
    if let (Some(c), Some(s)) = (code, status)
        && (c / 100) as u8 != s.class
    {
        flags.set(Flag::ClassMismatch);
    }
    let (inner_code, inner_status) = nested(&rest);
    if inner_code.is_some() || inner_status.is_some() {
        flags.set(Flag::Nested);
    }
    if gave_up_on_temporary(raw.action, code, status) {
        flags.set(Flag::FinalTemporary);
    }
    rest.truncate(rest.trim_end().len());
    let folded = fold_text(&rest);
    Response {
        code,
        status,
        inner_code,
        inner_status,
        text: rest,
        folded,
        phase: raw.phase.or(wrapper_phase),
        mx: raw.mx.map(lower_host).filter(|m| !m.is_empty()),
        domain: lower_host(raw.domain),
        flags,
    }
}

/// Whether a final report carries a temporary answer: the message expired
/// after retries. `failed` (RFC 3464: the MTA will not try again) with a
/// reply class of 4 (from the code, else the status); `expired` (Postfix's
/// and SendGrid's word for a message that timed out in the queue) unless
/// the answer is permanent.
fn gave_up_on_temporary(action: Option<&str>, code: Option<u16>, status: Option<Status>) -> bool {
    let class = code.map(|c| (c / 100) as u8).or(status.map(|s| s.class));
    match action.map(str::trim) {
        Some(a) if a.eq_ignore_ascii_case("failed") => class == Some(4),
        Some(a) if a.eq_ignore_ascii_case("expired") => class != Some(5),
        _ => false,
    }
}

/// The field's value unless the text's agrees with `class` and the field's does not.
fn choose<T: Copy + PartialEq>(
    field: Option<T>,
    text: Option<T>,
    class: Option<u8>,
    class_of: fn(T) -> u8,
) -> Option<T> {
    match (field, text, class) {
        (Some(f), Some(t), Some(c)) if f != t && class_of(f) != c && class_of(t) == c => Some(t),
        (Some(f), _, _) => Some(f),
        (None, t, _) => t,
    }
}

fn re(s: &str) -> Option<Regex> {
    Regex::new(s).ok()
}

static POSTFIX_HOST: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"(?i)^\s*host\s+\S+?\s*\[[^\]]*\]\s+(said|refused to talk to me):\s*"));
static POSTFIX_REPLY_TO: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"(?i)\s*\(in reply to ([a-z ]+?)(?: command)?\)\s*$"));
static EXIM: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r"(?i)^\s*(?:host\s+\S+\s*\[[^\]]*\]:?\s+)?smtp error from remote (?:mail server|mailer) after (initial connection|end of data|rcpt to|mail from|data|helo|ehlo|pipelined [a-z ]+?)(?::?\s*<[^>]*>)?[^:]*:\s*(?:host\s+\S+\s*\[[^\]]*\]:\s*)?",
    )
});
static DIAGNOSTIC: LazyLock<Option<Regex>> = LazyLock::new(|| re(r"(?i)^\s*(?:diagnostic-code:\s*)?smtp;\s*"));
static REMOTE_SAID: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"(?i)^(.*?\b(sender|recipient) was rejected\.?)?.*?remote host said:\s*"));
static EXCHANGE_RETURNED: LazyLock<Option<Regex>> = LazyLock::new(|| re(r"(?i)^\s*remote server returned '(.*)'\s*$"));

fn phase_of(words: &str) -> Option<Phase> {
    let w = words.to_ascii_lowercase();
    if w.contains("rcpt") || w.contains("recipient") {
        Some(Phase::Rcpt)
    } else if w.contains("mail from") || w.contains("sender") {
        Some(Phase::Mail)
    } else if w.contains("data") {
        Some(Phase::Data)
    } else if w.contains("helo") || w.contains("ehlo") {
        Some(Phase::Helo)
    } else if w.contains("connect") || w.contains("greeting") || w.contains("refused to talk") {
        Some(Phase::Connect)
    } else {
        None
    }
}

/// Strips what sending MTAs put around the receiver's words, and reads the
/// SMTP phase from it.
pub fn strip_wrappers(text: &str) -> (&str, Option<Phase>) {
    let mut t = text;
    let mut phase = None;
    // Each regex runs only when its wrapper's words are there.
    if t.trim_end().ends_with(')')
        && contains_ci(t, "in reply to")
        && let Some(m) = POSTFIX_REPLY_TO.as_ref().and_then(|r| r.captures(t))
    {
        phase = m.get(1).and_then(|g| phase_of(g.as_str()));
        t = &t[..m.get(0).map_or(t.len(), |g| g.start())];
    }
    if starts_ci(t.trim_start(), "host ")
        && (contains_ci(t, "said:") || contains_ci(t, "talk to me:"))
        && let Some(m) = POSTFIX_HOST.as_ref().and_then(|r| r.captures(t))
    {
        if m.get(1).is_some_and(|g| g.as_str().eq_ignore_ascii_case("refused to talk to me")) {
            phase = phase.or(Some(Phase::Connect));
        }
        t = &t[m.get(0).map_or(0, |g| g.end())..];
    }
    if contains_ci(t, "smtp error from")
        && let Some(m) = EXIM.as_ref().and_then(|r| r.captures(t))
    {
        phase = phase.or_else(|| m.get(1).and_then(|g| phase_of(g.as_str())));
        t = &t[m.get(0).map_or(0, |g| g.end())..];
    }
    if contains_ci(t, "remote host said")
        && let Some(m) = REMOTE_SAID.as_ref().and_then(|r| r.captures(t))
    {
        phase = phase.or_else(|| m.get(2).and_then(|g| phase_of(g.as_str())));
        t = &t[m.get(0).map_or(0, |g| g.end())..];
    }
    let lead = t.trim_start();
    if (starts_ci(lead, "diagnostic-code") || starts_ci(lead, "smtp;"))
        && let Some(m) = DIAGNOSTIC.as_ref().and_then(|r| r.find(t))
    {
        t = &t[m.end()..];
    }
    if starts_ci(t.trim_start(), "remote server returned")
        && let Some(g) = EXCHANGE_RETURNED.as_ref().and_then(|r| r.captures(t)).and_then(|m| m.get(1))
    {
        t = &t[g.start()..g.end()];
    }
    let trimmed = t.trim();
    if let Some(inner) = trimmed.strip_prefix('#')
        && inner.starts_with(|c: char| c.is_ascii_digit())
    {
        t = inner.trim_end_matches('#').trim_end();
    }
    (t, phase)
}

fn starts_ci(t: &str, prefix: &str) -> bool {
    t.as_bytes().get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// ASCII case-insensitive substring test (`needle` is lowercase).
fn contains_ci(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let Some(&first) = n.first() else { return true };
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), h)
        .any(|i| h.get(i..i + n.len()).is_some_and(|w| w.eq_ignore_ascii_case(n)))
}

/// A reply joined from several lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined<'a> {
    /// The text without the repeated prefixes.
    pub text: std::borrow::Cow<'a, str>,
    /// The code the prefixes carried.
    pub code: Option<u16>,
    /// The status the prefixes carried.
    pub status: Option<Status>,
    /// Whether there was anything to join.
    pub joined: bool,
}

fn status_at(s: &str) -> Option<(Status, usize)> {
    let end = s.find(|c: char| c.is_whitespace()).unwrap_or(s.len());
    let tok = s.get(..end)?.trim_end_matches([',', ';', ':']);
    Status::parse(tok).map(|st| (st, end))
}

/// Joins `550-5.1.1 a 550-5.1.1 b 550 5.1.1 c` into `a b c`, keeping the
/// code and status the prefixes carried. `field` is the event's code, used
/// when the text starts without one.
pub fn join_multiline(text: &str, field: Option<u16>) -> Joined<'_> {
    use std::borrow::Cow;
    let unchanged = || Joined { text: Cow::Borrowed(text), code: None, status: None, joined: false };
    let t = text.trim_start();
    let code = match t.get(..4) {
        Some(p) if p.as_bytes().get(3) == Some(&b'-') => p.get(..3).and_then(|c| c.parse::<u16>().ok()),
        _ => None,
    }
    .or(field);
    let Some(code) = code else { return unchanged() };
    if !continued(t, code) {
        return unchanged();
    }
    let dash = format!("{code}-");
    let space = format!("{code} ");
    let mut out = String::with_capacity(t.len());
    let mut status = None;
    let mut rest = t;
    let mut seen_dash = false;
    while !rest.is_empty() {
        let at_word = out.is_empty() || out.ends_with(char::is_whitespace);
        let prefix = if rest.starts_with(&dash) {
            Some(dash.len())
        } else if seen_dash && rest.starts_with(&space) {
            Some(space.len())
        } else {
            None
        };
        if let (true, Some(n)) = (at_word, prefix) {
            seen_dash |= n == dash.len();
            rest = &rest[n..];
            if let Some((st, len)) = status_at(rest) {
                status = status.or(Some(st));
                rest = rest[len..].trim_start();
            }
            continue;
        }
        // Copy through the next whitespace in one piece: a prefix only
        // counts at the start of a word.
        let end = rest.char_indices().find(|(_, c)| c.is_whitespace()).map_or(rest.len(), |(i, c)| i + c.len_utf8());
        out.push_str(&rest[..end]);
        rest = &rest[end..];
    }
    Joined { text: Cow::Owned(out.trim().to_string()), code: Some(code), status, joined: seen_dash }
}

/// A reply code and status at the start of the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Lead<'a> {
    /// The code, if the text starts with one.
    pub code: Option<u16>,
    /// The status, if the text starts with one (after the code).
    pub status: Option<Status>,
    /// The text after them.
    pub rest: &'a str,
}

/// Reads `550 5.1.1 rest`, `5.1.1 rest` or `550 rest` at the start of the text.
pub fn leading_reply(text: &str) -> Lead<'_> {
    let mut rest = text.trim_start();
    let mut code = None;
    let b = rest.as_bytes();
    if b.len() >= 3
        && b.iter().take(3).all(u8::is_ascii_digit)
        && b.get(3).is_none_or(|c| c.is_ascii_whitespace() || *c == b'-')
    {
        code = rest.get(..3).and_then(|c| c.parse::<u16>().ok()).filter(|c| (200..600).contains(c));
        if code.is_some() {
            rest = rest[3..].trim_start_matches('-').trim_start();
        }
    }
    let mut status = None;
    if let Some((st, len)) = status_at(rest) {
        status = Some(st);
        rest = rest[len..].trim_start();
    }
    Lead { code, status, rest }
}

/// The first enhanced status inside the text, skipping IPv4 addresses,
/// version strings (`v5.3.1`) and dates: a `2`, `4` or `5`, a dot, one to
/// three digits, a dot, one to three digits, with no letter, digit, `_` or
/// `.` on either side (a final `.` before a space or the end is allowed).
pub fn find_status(text: &str) -> Option<Status> {
    let b = text.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'.';
    let digits = |from: usize| b.get(from..).map_or(0, |r| r.iter().take(4).take_while(|c| c.is_ascii_digit()).count());
    for i in memchr::memchr_iter(b'.', b) {
        let Some(start) = i.checked_sub(1) else { continue };
        if !matches!(b.get(start), Some(b'2' | b'4' | b'5'))
            || start.checked_sub(1).and_then(|p| b.get(p)).is_some_and(|c| word(*c))
        {
            continue;
        }
        let s_len = digits(i + 1);
        if !(1..=3).contains(&s_len) || b.get(i + 1 + s_len) != Some(&b'.') {
            continue;
        }
        let d_at = i + 2 + s_len;
        let d_len = digits(d_at);
        if !(1..=3).contains(&d_len) {
            continue;
        }
        let end = d_at + d_len;
        let ok = match b.get(end) {
            None => true,
            Some(b'.') => b.get(end + 1).is_none_or(u8::is_ascii_whitespace),
            Some(c) => !word(*c),
        };
        if ok && let Some(st) = text.get(start..end).and_then(Status::parse) {
            return Some(st);
        }
    }
    None
}

/// The reply nested after `->` in the text (`550 5.4.300 Message expired -> 451 4.2.0 Throttled`).
pub fn nested(text: &str) -> (Option<u16>, Option<Status>) {
    static ARROW: LazyLock<memchr::memmem::Finder<'static>> = LazyLock::new(|| memchr::memmem::Finder::new(b"->"));
    let Some(at) = ARROW.find(text.as_bytes()) else { return (None, None) };
    let lead = leading_reply(&text[at + 2..]);
    (lead.code, lead.status)
}

/// Whether the text carries a status-like token that is not RFC 3463:
/// `30 Sorry …` after `554`, or `(554.30)`.
pub fn odd_status_token(text: &str) -> bool {
    let b = text.as_bytes();
    let lead = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if (1..=2).contains(&lead) && b.get(lead).is_some_and(u8::is_ascii_whitespace) {
        return true;
    }
    memchr::memchr_iter(b'(', b).any(|i| {
        let tail = b.get(i + 1..).unwrap_or(&[]);
        let d1 = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        let rest = tail.get(d1..).unwrap_or(&[]);
        let d2 = rest.get(1..).map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count());
        d1 == 3 && rest.first() == Some(&b'.') && (1..=3).contains(&d2) && rest.get(1 + d2) == Some(&b')')
    })
}
