//! SMTP transcripts quoted in bounce prose: the commands an MTA sent and
//! the replies it got, so that a failure is the receiver's own answer with
//! the phase of the command it answered — not the MTA's summary of it.
//!
//! ```text
//!    ----- Transcript of session follows -----
//! ... while talking to mx.example.org.:
//! >>> RCPT To:<pat@example.org>
//! <<< 550-5.1.1 <pat@example.org>... User unknown
//! <<< 550 5.1.1 Try another address
//! 550 5.1.1 <pat@example.org>... User unknown
//! ```
//!
//! Three notations are read, told apart by what follows the marker rather
//! than by which way an arrow points (gateways write them either way):
//! `>>>`/`<<<` (Sendmail, Courier), `Sent <<<`/`Received >>>` (InterScan),
//! and `In:`/`Out:` (a Postfix server's transcript). A line whose words
//! start with a reply code is a reply; one that starts with an SMTP verb is
//! a command. `... while talking to HOST:` starts a new session with a host.
//!
//! What it must not do: take a reply that does not answer a command sent
//! (`221 Bye` after `QUIT`, a `250` after the failure) as the failure, or
//! name a phase it cannot see. When several replies follow one command (a
//! pipelined exchange: `>>> DATA` then the replies to `RCPT` and `DATA`),
//! only the last answers the command shown, so the earlier ones have no
//! phase.

use super::dsn::is_status;

/// The SMTP verbs a transcript's command lines start with, and the phase a
/// reply to each is in (`None`: a command outside the five phases).
const VERBS: &[(&str, Option<&str>)] = &[
    ("rcpt", Some("rcpt")),
    ("mail", Some("mail")),
    ("data", Some("data")),
    ("bdat", Some("data")),
    (".", Some("data")),
    ("ehlo", Some("helo")),
    ("helo", Some("helo")),
    ("lhlo", Some("helo")),
    ("starttls", None),
    ("auth", None),
    ("quit", None),
    ("rset", None),
    ("noop", None),
    ("xforward", None),
    ("xclient", None),
    ("vrfy", None),
    ("etrn", None),
];

/// One reply, its lines joined (`550-…`, `550 …`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    /// The reply code.
    pub code: u16,
    /// The enhanced status of its first line, if any.
    pub status: Option<String>,
    /// The reply as the receiver sent it, its lines joined by spaces.
    pub text: String,
    /// The index of its last line.
    pub last_line: usize,
}

/// A reply and the command it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// The command line as sent (`RCPT To:<a@b>`); `None` for the greeting.
    pub command: Option<String>,
    /// The phase of the reply: the command's, `connect` for a greeting,
    /// `None` when it cannot be told.
    pub phase: Option<&'static str>,
    /// The reply.
    pub reply: Reply,
    /// The host of the session (`while talking to mx.example.org`).
    pub host: Option<String>,
    /// Which session (a `while talking to` line starts a new one).
    pub session: usize,
}

impl Exchange {
    /// Whether the reply refuses (4xx or 5xx).
    pub fn failed(&self) -> bool {
        self.reply.code >= 400
    }

    /// Whether the command names `addr` (`RCPT To:<addr>`).
    pub fn names(&self, addr: &str) -> bool {
        self.command.as_deref().is_some_and(|c| contains_ci(c, addr))
    }
}

/// What one transcript line is.
enum Line<'a> {
    /// A command sent.
    Command(&'a str),
    /// A reply line: its code, whether more lines follow (`550-`), the rest.
    Reply(u16, bool, &'a str),
    /// `while talking to HOST`.
    Session(Option<String>),
    /// Anything else.
    Other,
}

/// The reply code that starts `s` (`550 `, `550-`, `550` alone), whether a
/// continuation dash follows, and what comes after.
pub fn reply_start(s: &str) -> Option<(u16, bool, &str)> {
    let b = s.as_bytes();
    if b.len() < 3 || !matches!(b[0], b'2' | b'3' | b'4' | b'5') || !b[1].is_ascii_digit() || !b[2].is_ascii_digit() {
        return None;
    }
    let code: u16 = s.get(..3)?.parse().ok()?;
    match b.get(3) {
        None => Some((code, false, "")),
        Some(b'-') => Some((code, true, s.get(4..)?)),
        Some(c) if c.is_ascii_whitespace() => Some((code, false, s.get(4..)?.trim_start())),
        _ => None,
    }
}

/// Whether `s` starts with an SMTP verb (as a whole word).
fn starts_with_verb(s: &str) -> bool {
    let word = s.split(|c: char| c.is_whitespace() || c == ':').next().unwrap_or("");
    VERBS.iter().any(|(v, _)| word.eq_ignore_ascii_case(v))
}

fn classify(line: &str) -> Line<'_> {
    let t = line.trim();
    let lower_start: String = t.chars().take(24).collect::<String>().to_ascii_lowercase();
    if let Some(i) = lower_start.find("while talking to ")
        && i <= 4
    {
        let rest = t.get(i + "while talking to ".len()..).unwrap_or("");
        let host = rest.trim_end_matches([':', '.', ' ']).trim_end_matches('.');
        let host = host.split_whitespace().next().map(|h| h.trim_end_matches('.').to_ascii_lowercase());
        return Line::Session(host.filter(|h| !h.is_empty()));
    }
    // `Sent <<< RCPT …`, `Received >>> 550 …`: the word says the direction.
    let t = ["sent ", "received "]
        .iter()
        .find(|w| lower_start.starts_with(*w))
        .and_then(|w| t.get(w.len()..))
        .map_or(t, str::trim_start);
    let body = if let Some(rest) = t.strip_prefix(">>>").or_else(|| t.strip_prefix("<<<")) {
        rest.trim_start()
    } else if let Some(rest) = strip_ci(t, "in:").or_else(|| strip_ci(t, "out:")) {
        rest.trim_start()
    } else {
        return Line::Other;
    };
    if let Some((code, more, rest)) = reply_start(body) {
        return Line::Reply(code, more, rest);
    }
    if starts_with_verb(body) { Line::Command(body) } else { Line::Other }
}

fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| s.get(prefix.len()..)).flatten()
}

fn phase_of_command(command: &str) -> Option<&'static str> {
    let word = command.split(|c: char| c.is_whitespace() || c == ':').next().unwrap_or("");
    VERBS.iter().find(|(v, _)| word.eq_ignore_ascii_case(v)).and_then(|(_, p)| *p)
}

/// Every reply of every transcript in `lines`, with the command it answered.
pub fn exchanges(lines: &[&str]) -> Vec<Exchange> {
    let mut out: Vec<Exchange> = Vec::new();
    let mut session = 0;
    let mut host: Option<String> = None;
    let mut command: Option<String> = None;
    // Whether a `while talking to` line began the session: a reply before
    // any command is then the greeting; without one, the transcript may
    // have been cut and the reply's command is not known.
    let mut announced = false;
    // Replies read since the last command (pipelining: several replies).
    let mut since_command: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        match classify(lines.get(i).copied().unwrap_or("")) {
            Line::Session(h) => {
                session += 1;
                host = h;
                command = None;
                announced = true;
                since_command.clear();
            }
            Line::Command(c) => {
                // A command wrapped onto indented lines (`In:  MAIL` then `FROM:<…>`).
                let mut text = c.trim().to_string();
                while let Some(next) = lines.get(i + 1)
                    && next.starts_with([' ', '\t'])
                    && matches!(classify(next), Line::Other)
                    && !next.trim().is_empty()
                {
                    text.push(' ');
                    text.push_str(next.trim());
                    i += 1;
                }
                fix_pipelined(&mut out, &since_command);
                since_command.clear();
                command = Some(text);
            }
            Line::Reply(code, more, rest) => {
                let (reply, last) = read_reply(lines, i, code, more, rest);
                i = last;
                let phase = match &command {
                    Some(c) => phase_of_command(c),
                    None if announced => Some("connect"),
                    None => None,
                };
                since_command.push(out.len());
                out.push(Exchange { command: command.clone(), phase, reply, host: host.clone(), session });
            }
            Line::Other => {}
        }
        i += 1;
    }
    fix_pipelined(&mut out, &since_command);
    out
}

/// Several replies after one command: only the last answers it; the
/// earlier ones answered commands the transcript does not show, so their
/// phase is unknown — unless the command was `DATA` and they were the 354
/// that let the data go and the answer to its end.
fn fix_pipelined(out: &mut [Exchange], since_command: &[usize]) {
    let Some((_, earlier)) = since_command.split_last() else { return };
    let data_then_end = since_command.len() == 2
        && earlier.first().and_then(|i| out.get(*i)).is_some_and(|e| e.reply.code == 354 && e.phase == Some("data"));
    if data_then_end {
        return;
    }
    for i in earlier {
        if let Some(e) = out.get_mut(*i)
            && e.command.is_some()
        {
            e.phase = None;
        }
    }
}

/// Reads one reply starting at line `i` (already split into its code,
/// continuation dash and words): `550-` lines go on to the `550 ` line.
fn read_reply(lines: &[&str], i: usize, code: u16, more: bool, rest: &str) -> (Reply, usize) {
    let mut words = vec![rest.trim().to_string()];
    let mut last = i;
    let mut more = more;
    while more {
        let Some(Line::Reply(c, m, r)) = lines.get(last + 1).map(|l| classify(l)) else { break };
        if c != code {
            break;
        }
        words.push(r.trim().to_string());
        more = m;
        last += 1;
    }
    let (text, status) = join_reply(code, &words);
    (Reply { code, status, text, last_line: last }, last)
}

/// A reply's lines as one text, `NNN S.S.S words words…`, its repeated
/// prefixes dropped; and the status of its first line.
pub fn join_reply(code: u16, lines: &[String]) -> (String, Option<String>) {
    let mut status: Option<String> = None;
    let mut parts: Vec<&str> = Vec::new();
    for l in lines {
        let (st, rest) = split_status(l);
        if status.is_none() {
            status = st.map(str::to_string);
        }
        if !rest.is_empty() {
            parts.push(rest);
        }
    }
    let mut text = code.to_string();
    if let Some(s) = &status {
        text.push(' ');
        text.push_str(s);
    }
    for p in parts {
        text.push(' ');
        text.push_str(p);
    }
    (text.split_whitespace().collect::<Vec<_>>().join(" "), status)
}

/// An enhanced status at the start of a reply line, and the words after it.
fn split_status(line: &str) -> (Option<&str>, &str) {
    let t = line.trim_start();
    let token = t.split_whitespace().next().unwrap_or("");
    let bare = token.trim_start_matches('#').trim_end_matches([',', ';', ':']);
    if is_status(bare) { (Some(bare), t.get(token.len()..).unwrap_or("").trim()) } else { (None, t.trim()) }
}

/// ASCII case-insensitive substring test.
fn contains_ci(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    !n.is_empty() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// The failing exchange that answers for `addr`, and how it was found:
///
/// 1. the failing reply to a command that names it (`RCPT To:<addr>`);
/// 2. else the failing reply just before the MTA's own line about it
///    (`554 <addr>... Remote protocol error`, `<addr>... Deferred: 421`), in
///    the same session, with no other recipient's line in between — the
///    MTA's line summarises the reply it follows.
///
/// `own_lines` are the indexes of the lines the MTA wrote about `addr`;
/// `other_lines` those it wrote about other recipients.
pub fn answer_for<'e>(
    exchanges: &'e [Exchange],
    addr: &str,
    own_lines: &[usize],
    other_lines: &[usize],
) -> Option<&'e Exchange> {
    if let Some(e) = exchanges.iter().find(|e| e.failed() && e.names(addr)) {
        return Some(e);
    }
    for &own in own_lines {
        let Some(before) = exchanges.iter().rev().find(|e| e.reply.last_line < own) else { continue };
        let between_others = other_lines.iter().any(|o| *o > before.reply.last_line && *o < own);
        let claimed = exchanges.iter().any(|e| e.reply.last_line > before.reply.last_line && e.reply.last_line < own);
        if before.failed() && !between_others && !claimed {
            return Some(before);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(text: &str) -> Vec<Exchange> {
        let lines: Vec<&str> = text.lines().collect();
        exchanges(&lines)
    }

    #[test]
    fn a_refusal_at_rcpt_with_a_multiline_reply() {
        let e = ex("... while talking to mx.example.org.:\n>>> MAIL From:<s@example.net>\n<<< 250 2.1.0 ok\n\
                    >>> RCPT To:<pat@example.org>\n<<< 550-5.1.1 <pat@example.org>... User unknown\n\
                    <<< 550 5.1.1 Try another address\n550 5.1.1 <pat@example.org>... User unknown\n");
        let f: Vec<_> = e.iter().filter(|e| e.failed()).collect();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].reply.text, "550 5.1.1 <pat@example.org>... User unknown Try another address");
        assert_eq!(f[0].reply.status.as_deref(), Some("5.1.1"));
        assert_eq!(f[0].phase, Some("rcpt"));
        assert_eq!(f[0].host.as_deref(), Some("mx.example.org"));
        assert!(f[0].names("PAT@example.org"));
    }

    #[test]
    fn the_greeting_and_the_end_of_data() {
        let e = ex("While talking to mx.example.org:\n<<< 554 no thanks\n");
        assert_eq!(e[0].phase, Some("connect"));
        let e = ex(
            " Out: 220 mx ESMTP\n In:  DATA\n Out: 354 go on\n Out: 451 4.3.0 write error\n In:  QUIT\n Out: 221 2.0.0 Bye\n",
        );
        let f: Vec<_> = e.iter().filter(|e| e.failed()).collect();
        assert_eq!((f.len(), f[0].phase, f[0].reply.code), (1, Some("data"), 451));
    }

    #[test]
    fn pipelined_replies_have_no_phase_but_the_last() {
        let e = ex(">>> DATA\n<<< 550 5.1.1 <a@example.org>... User unknown\n<<< 503 5.0.0 Need RCPT (recipient)\n");
        assert_eq!((e[0].phase, e[1].phase), (None, Some("data")));
    }

    #[test]
    fn arrows_either_way() {
        let e = ex("Sent <<< RCPT TO:<a@example.org>\nReceived >>> 550 5.1.1 <a@example.org>... user unknown\n");
        assert_eq!((e[0].phase, e[0].reply.code), (Some("rcpt"), 550));
    }

    #[test]
    fn the_mta_line_claims_the_reply_before_it() {
        let text = "While talking to a.example.org:\n>>> MAIL From:<s@example.net>\n<<< 501 no access\n\
                    554 <x@example.org>... Remote protocol error\n550 b.example.org (smtp)... 550 Host unknown\n\
                    554 <y@example.org>... 550 Host unknown\n";
        let lines: Vec<&str> = text.lines().collect();
        let e = exchanges(&lines);
        assert_eq!(answer_for(&e, "x@example.org", &[3], &[5]).map(|e| e.reply.code), Some(501));
        assert_eq!(answer_for(&e, "y@example.org", &[5], &[3]), None);
    }

    #[test]
    fn reply_starts() {
        assert_eq!(reply_start("550-5.1.1 x"), Some((550, true, "5.1.1 x")));
        assert_eq!(reply_start("421"), Some((421, false, "")));
        assert_eq!(reply_start("5501 x"), None);
        assert_eq!(reply_start("5.1.1 x"), None);
    }
}
