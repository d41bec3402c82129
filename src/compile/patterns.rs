//! The small languages inside the policy language: reply codes, enhanced
//! status codes, host patterns, dates and pattern templates. Each parser
//! returns a typed value or a message saying what is wrong, in words.

use std::fmt;

/// A set of basic reply codes (RFC 5321): `550`, `55x`, `550..554`.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeSet {
    bits: [u64; 10],
}

impl fmt::Debug for CodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries((0..640u16).filter(|c| self.contains(*c))).finish()
    }
}

impl Default for CodeSet {
    fn default() -> Self {
        CodeSet::new()
    }
}

impl CodeSet {
    /// The empty set.
    pub const fn new() -> CodeSet {
        CodeSet { bits: [0; 10] }
    }

    /// Adds `lo..=hi`.
    pub fn insert_range(&mut self, lo: u16, hi: u16) {
        for c in lo..=hi.min(639) {
            if let Some(w) = self.bits.get_mut(usize::from(c / 64)) {
                *w |= 1 << (c % 64);
            }
        }
    }

    /// Whether `code` is in the set.
    pub fn contains(&self, code: u16) -> bool {
        self.bits.get(usize::from(code / 64)).is_some_and(|w| w & (1 << (code % 64)) != 0)
    }

    /// Whether every code of `self` is in `other`.
    pub fn is_subset(&self, other: &CodeSet) -> bool {
        self.bits.iter().zip(other.bits.iter()).all(|(a, b)| a & !b == 0)
    }

    /// Adds every code of `other`.
    pub fn union_with(&mut self, other: &CodeSet) {
        for (a, b) in self.bits.iter_mut().zip(other.bits.iter()) {
            *a |= b;
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }
}

/// Whether `code` can be a reply code: first digit 2–5, second 0–5.
pub fn valid_code(code: u16) -> bool {
    (200..600).contains(&code) && (code / 10) % 10 <= 5
}

/// Parses one code pattern into the set of codes it stands for.
pub fn parse_code(tok: &str) -> Result<CodeSet, String> {
    let mut set = CodeSet::new();
    if let Some((lo, hi)) = tok.split_once("..") {
        let lo = exact_code(lo)?;
        let hi = exact_code(hi)?;
        if lo > hi {
            return Err(format!("the range `{tok}` is empty: `{lo}` comes after `{hi}`"));
        }
        for c in lo..=hi {
            if valid_code(c) {
                set.insert_range(c, c);
            }
        }
        return Ok(set);
    }
    let t = tok.to_ascii_lowercase();
    let b = t.as_bytes();
    if b.len() != 3 {
        return Err(format!("`{tok}` is not a reply code: reply codes have three digits"));
    }
    let first_x = b.iter().position(|&c| c == b'x').unwrap_or(3);
    if b.get(first_x..).is_some_and(|rest| rest.iter().any(|&c| c != b'x')) {
        return Err(format!("`{tok}` is not a reply code pattern: `x` may only end it (`5xx`, `55x`)"));
    }
    if first_x == 0 {
        return Err(format!("`{tok}` matches every reply: name the class (`4xx`, `5xx`)"));
    }
    let digits: u16 = t[..first_x].parse().map_err(|_| format!("`{tok}` is not a reply code"))?;
    let width = 10u16.pow(3 - first_x as u32);
    let lo = digits * width;
    check_prefix(tok, lo, first_x)?;
    for c in lo..lo + width {
        if valid_code(c) {
            set.insert_range(c, c);
        }
    }
    Ok(set)
}

fn exact_code(tok: &str) -> Result<u16, String> {
    let c: u16 = tok
        .parse()
        .ok()
        .filter(|_| tok.len() == 3)
        .ok_or_else(|| format!("`{tok}` is not a reply code: reply codes have three digits"))?;
    check_prefix(tok, c, 3)?;
    Ok(c)
}

/// Checks that the digits given (the first `n`) can begin a reply code.
fn check_prefix(tok: &str, lo: u16, n: usize) -> Result<(), String> {
    let first = lo / 100;
    if !(2..=5).contains(&first) {
        return Err(format!("`{tok}` cannot be a reply code: the first digit is 2, 3, 4 or 5"));
    }
    if n >= 2 && (lo / 10) % 10 > 5 {
        return Err(format!("`{tok}` cannot be a reply code: the second digit is 0 to 5"));
    }
    Ok(())
}

/// Parses `4xx`/`5xx` as used by `on` in a reason: the reply class digit.
pub fn parse_reply_class(tok: &str) -> Result<u8, String> {
    let t = tok.to_ascii_lowercase();
    match t.as_str() {
        "2xx" => Ok(2),
        "3xx" => Ok(3),
        "4xx" => Ok(4),
        "5xx" => Ok(5),
        _ => Err(format!("`{tok}` is not a reply class: write `4xx` or `5xx`")),
    }
}

/// An enhanced status code or pattern: `5.1.1`, `5.7.*`, `x.7.26`,
/// `5.7.606..649`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusPat {
    /// 2, 4 or 5; `None` for `x`.
    pub class: Option<u8>,
    /// The subject; `None` for `*`.
    pub subject: Option<u16>,
    /// The details, an inclusive range; `None` for `*`.
    pub detail: Option<(u16, u16)>,
}

/// A concrete enhanced status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Status {
    /// 2, 4 or 5.
    pub class: u8,
    /// 0–7 in RFC 3463; receivers use more.
    pub subject: u16,
    /// 0–999.
    pub detail: u16,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl serde::Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Status {
    /// Parses `5.1.1`; `None` when it is not a well-formed status.
    pub fn parse(s: &str) -> Option<Status> {
        let mut it = s.split('.');
        let class: u8 = it.next()?.parse().ok()?;
        let subject: u16 = digits(it.next()?, 3)?;
        let detail: u16 = digits(it.next()?, 3)?;
        if it.next().is_some() || !matches!(class, 2 | 4 | 5) {
            return None;
        }
        Some(Status { class, subject, detail })
    }
}

fn digits(s: &str, max: usize) -> Option<u16> {
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl StatusPat {
    /// Whether `s` is one of the codes this pattern stands for.
    pub fn matches(&self, s: Status) -> bool {
        self.class.is_none_or(|c| c == s.class)
            && self.subject.is_none_or(|x| x == s.subject)
            && self.detail.is_none_or(|(lo, hi)| (lo..=hi).contains(&s.detail))
    }

    /// Whether every status `other` stands for, this one stands for too.
    pub fn covers(&self, other: &StatusPat) -> bool {
        fn part<T: PartialEq>(mine: Option<T>, theirs: Option<T>) -> bool {
            match (mine, theirs) {
                (None, _) => true,
                (Some(a), Some(b)) => a == b,
                (Some(_), None) => false,
            }
        }
        let detail = match (self.detail, other.detail) {
            (None, _) => true,
            (Some((lo, hi)), Some((a, b))) => lo <= a && b <= hi,
            (Some(_), None) => false,
        };
        part(self.class, other.class) && part(self.subject, other.subject) && detail
    }
}

impl fmt::Display for StatusPat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.class.map_or("x".to_string(), |c| c.to_string());
        let s = self.subject.map_or("*".to_string(), |c| c.to_string());
        let d = match self.detail {
            None => "*".to_string(),
            Some((lo, hi)) if lo == hi => lo.to_string(),
            Some((lo, hi)) => format!("{lo}..{hi}"),
        };
        write!(f, "{c}.{s}.{d}")
    }
}

/// Parses one status pattern.
pub fn parse_status(tok: &str) -> Result<StatusPat, String> {
    if let Some((lo, hi)) = tok.split_once("..") {
        return parse_status_range(tok, lo, hi);
    }
    let parts: Vec<&str> = tok.split('.').collect();
    let [c, s, d] = parts.as_slice() else {
        return Err(format!("`{tok}` is not a status code: write three parts, `5.1.1`"));
    };
    let class = match *c {
        "x" | "X" => None,
        "2" | "4" | "5" => c.parse().ok(),
        _ => {
            return Err(format!("`{tok}` cannot be a status code: the class is 2, 4, 5 or `x`"));
        }
    };
    let wild = |p: &str| matches!(p, "*");
    for p in [s, d] {
        if matches!(*p, "x" | "X") {
            return Err(format!("`{tok}`: `x` stands only for the class; use `*` for any subject or detail"));
        }
    }
    let subject = if wild(s) {
        None
    } else {
        let v = digits(s, 3).ok_or_else(|| format!("`{tok}`: the subject `{s}` is not a number"))?;
        if v > 7 {
            return Err(format!("`{tok}` cannot be a status code: the subject is 0 to 7 (RFC 3463)"));
        }
        Some(v)
    };
    let detail = if wild(d) {
        None
    } else {
        let v = digits(d, 3).ok_or_else(|| format!("`{tok}`: the detail `{d}` is not a number of 1 to 3 digits"))?;
        Some((v, v))
    };
    if subject.is_none() && detail.is_some() {
        return Err(format!("`{tok}`: a fixed detail needs a fixed subject; write `{}.*.*` or name the subject", c));
    }
    if class.is_none() && subject.is_none() {
        return Err(format!("`{tok}` matches every status: name the class or the subject"));
    }
    Ok(StatusPat { class, subject, detail })
}

/// `5.7.606..5.7.649` or `5.7.606..649`: same class and subject, a range of details.
fn parse_status_range(tok: &str, lo: &str, hi: &str) -> Result<StatusPat, String> {
    let start = parse_status(lo)?;
    let Some((first, _)) = start.detail else {
        return Err(format!("`{tok}`: a range needs an exact start, `5.7.606..649`"));
    };
    let last_text = hi.rsplit('.').next().unwrap_or(hi);
    if hi.contains('.') {
        let end = parse_status(hi)?;
        if end.class != start.class || end.subject != start.subject {
            return Err(format!("`{tok}`: both ends of a range need the same class and subject"));
        }
    }
    let last = digits(last_text, 3).ok_or_else(|| format!("`{tok}`: `{last_text}` is not a detail"))?;
    if last < first {
        return Err(format!("the range `{tok}` is empty: `{first}` comes after `{last}`"));
    }
    Ok(StatusPat { detail: Some((first, last)), ..start })
}

/// A domain or host pattern: exact (`gmail.com`) or a suffix (`*.google.com`,
/// which matches `aspmx.l.google.com` but not `google.com`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPat {
    /// Exactly this name.
    Exact(String),
    /// Any name ending in `.` + this.
    Suffix(String),
}

impl HostPat {
    /// Whether `host` (lowercase, no trailing dot) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPat::Exact(h) => host == h,
            HostPat::Suffix(s) => {
                host.len() > s.len() && host.ends_with(s.as_str()) && host.as_bytes()[host.len() - s.len() - 1] == b'.'
            }
        }
    }

    /// Whether every name `other` matches, `self` matches too.
    pub fn covers(&self, other: &HostPat) -> bool {
        match (self, other) {
            (HostPat::Exact(a), HostPat::Exact(b)) => a == b,
            (HostPat::Exact(_), HostPat::Suffix(_)) => false,
            (HostPat::Suffix(_), HostPat::Exact(b)) => self.matches(b),
            (HostPat::Suffix(a), HostPat::Suffix(b)) => a == b || self.matches(b),
        }
    }

    /// Whether some name matches both.
    pub fn overlaps(&self, other: &HostPat) -> bool {
        self.covers(other) || other.covers(self)
    }
}

impl fmt::Display for HostPat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPat::Exact(h) => f.write_str(h),
            HostPat::Suffix(s) => write!(f, "*.{s}"),
        }
    }
}

/// Parses a host pattern.
pub fn parse_host(tok: &str) -> Result<HostPat, String> {
    let t = tok.trim().trim_end_matches('.').to_ascii_lowercase();
    let (suffix, body) = match t.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, t.as_str()),
    };
    if body.is_empty() || body.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err(format!("`{tok}` is not a domain or host name"));
    }
    if let Some(c) = body.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(format!("`{tok}` has `{c}`, which a host name cannot hold; `*.` may only begin a pattern"));
    }
    Ok(if suffix { HostPat::Suffix(body.to_string()) } else { HostPat::Exact(body.to_string()) })
}

/// Checks a `YYYY-MM-DD` date.
pub fn check_date(tok: &str) -> Result<(), String> {
    let mut it = tok.split('-').map(|p| p.parse::<u32>().unwrap_or(0));
    let (y, m, d) = (it.next().unwrap_or(0), it.next().unwrap_or(0), it.next().unwrap_or(0));
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(format!("`{tok}` is not a date: the month is 01 to 12")),
    };
    if d == 0 || d > days {
        return Err(format!("`{tok}` is not a date: that month has {days} days"));
    }
    Ok(())
}

/// Lowercases and collapses runs of whitespace to one space, as the
/// evaluator does to the response text. ASCII text takes a byte-wise path.
pub fn fold_text(s: &str) -> String {
    static DOUBLE_SPACE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"  "));
    let b = s.as_bytes();
    let ascii = s.is_ascii();
    // Most answers are one line of ASCII with single spaces: lowercasing is
    // all there is to do, and it runs over the whole text at once.
    if ascii
        && !b.first().is_some_and(u8::is_ascii_whitespace)
        && !b.last().is_some_and(u8::is_ascii_whitespace)
        && memchr::memchr3(b'\t', b'\n', b'\r', b).is_none()
        && memchr::memchr(0x0c, b).is_none()
        && DOUBLE_SPACE.find(b).is_none()
    {
        return s.to_ascii_lowercase();
    }
    if ascii {
        let mut out: Vec<u8> = Vec::with_capacity(s.len());
        let mut space = false;
        for &b in s.as_bytes() {
            if b.is_ascii_whitespace() {
                space = !out.is_empty();
            } else {
                if space {
                    out.push(b' ');
                    space = false;
                }
                out.push(b.to_ascii_lowercase());
            }
        }
        return String::from_utf8(out).unwrap_or_default();
    }
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The placeholders of pattern templates and the regex each stands for.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    (
        "ip",
        r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}|[\dx*#]{1,3}(?:\.[\dx*#]{1,3}){3})",
    ),
    ("email", r"[^\s@<>()\[\]]+@[^\s@<>()\[\]]+"),
    ("domain", r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"),
    ("num", r"\d+"),
    ("word", r"\S+"),
    ("any", r".*?"),
];

/// A template error: a message and the byte range inside the template.
pub type TemplateError = (String, std::ops::Range<usize>);

/// Translates a pattern template to a regex: literal parts escaped,
/// whitespace matching any run of whitespace, placeholders replaced.
/// `{{` and `}}` stand for braces.
pub fn template_to_regex(t: &str) -> Result<String, TemplateError> {
    let mut re = String::new();
    let mut literal = String::new();
    let mut i = 0;
    let flush = |lit: &mut String, re: &mut String| {
        let mut first = true;
        for part in lit.split(char::is_whitespace) {
            if !first && !re.ends_with(r"\s+") {
                re.push_str(r"\s+");
            }
            first = false;
            re.push_str(&regex_syntax::escape(part));
        }
        lit.clear();
    };
    while let Some(c) = t[i..].chars().next() {
        let rest = &t[i..];
        if rest.starts_with("{{") || rest.starts_with("}}") {
            literal.push(c);
            i += 2;
        } else if c == '{' {
            let close = rest
                .find('}')
                .ok_or_else(|| ("this `{` is not closed; write `{{` for a literal brace".to_string(), i..i + 1))?;
            let name = &rest[1..close];
            let sub = PLACEHOLDERS.iter().find(|(n, _)| *n == name).map(|(_, r)| *r).ok_or_else(|| {
                let known: Vec<String> = PLACEHOLDERS.iter().map(|(n, _)| format!("{{{n}}}")).collect();
                (
                    format!("unknown placeholder `{{{name}}}`; the placeholders are {}", known.join(", ")),
                    i..i + close + 1,
                )
            })?;
            flush(&mut literal, &mut re);
            re.push_str(sub);
            i += close + 1;
        } else if c == '}' {
            return Err(("this `}` closes nothing; write `}}` for a literal brace".to_string(), i..i + 1));
        } else {
            literal.push(c);
            i += c.len_utf8();
        }
    }
    flush(&mut literal, &mut re);
    Ok(re)
}

/// The longest literal word of a template, folded: every match holds it.
/// `None` when the template has no literal word.
pub fn template_key(t: &str) -> Option<String> {
    let mut literal = String::new();
    let mut depth = 0usize;
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                if depth == 0 {
                    literal.push('{');
                }
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                if depth == 0 {
                    literal.push('}');
                }
            }
            '{' => {
                depth += 1;
                literal.push(' ');
            }
            '}' => depth = depth.saturating_sub(1),
            c if depth == 0 => literal.push(c),
            _ => {}
        }
    }
    let folded = fold_text(&literal);
    folded.split(' ').max_by_key(|w| w.len()).filter(|w| !w.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The short path (lowercase only) gives what the full one gives.
    #[test]
    fn fold_text_short_path_is_the_full_path() {
        fn full(s: &str) -> String {
            s.split_whitespace()
                .map(|w| w.chars().flat_map(char::to_lowercase).collect::<String>())
                .collect::<Vec<_>>()
                .join(" ")
        }
        proptest::proptest!(|(s in "[ a-zA-Z\t\r\n\x0c.:Ä]{0,40}")| {
            proptest::prop_assert_eq!(super::fold_text(&s), full(&s));
        });
    }

    #[test]
    fn codes() {
        assert!(parse_code("550").unwrap().contains(550));
        let s = parse_code("55x").unwrap();
        assert!(s.contains(554) && !s.contains(560) && !s.contains(549));
        assert!(parse_code("5xx").unwrap().contains(521));
        assert!(!parse_code("5xx").unwrap().contains(560), "second digit above 5 is no code");
        assert!(parse_code("550..554").unwrap().contains(552));
        assert!(parse_code("650").is_err());
        assert!(parse_code("570").is_err());
        assert!(parse_code("554..550").is_err());
        assert!(parse_code("5x0").is_err());
        assert!(parse_code("xxx").is_err());
    }

    #[test]
    fn statuses() {
        let p = parse_status("x.7.26").unwrap();
        assert!(p.matches(Status::parse("4.7.26").unwrap()));
        assert!(parse_status("5.7.*").unwrap().covers(&parse_status("5.7.1").unwrap()));
        assert!(parse_status("5.x.1").is_err());
        assert!(parse_status("5.*.1").is_err());
        assert!(parse_status("6.1.1").is_err());
        assert!(parse_status("5.9.1").is_err());
        assert!(Status::parse("5.4.300").is_some());
        assert!(Status::parse("5.4.3000").is_none());
        let r = parse_status("5.7.606..649").unwrap();
        assert!(r.matches(Status::parse("5.7.620").unwrap()));
        assert!(!r.matches(Status::parse("5.7.650").unwrap()));
        assert!(parse_status("5.7.606..5.7.649").unwrap().covers(&parse_status("5.7.610").unwrap()));
        assert!(parse_status("5.7.649..606").is_err());
        assert!(parse_status("5.7.606..5.6.649").is_err());
    }

    #[test]
    fn hosts() {
        let s = parse_host("*.google.com").unwrap();
        assert!(s.matches("aspmx.l.google.com"));
        assert!(!s.matches("google.com"));
        assert!(!s.matches("notgoogle.com"));
        assert!(s.covers(&parse_host("gmail-smtp-in.l.google.com").unwrap()));
        assert!(parse_host("mx*.x.com").is_err());
    }

    #[test]
    fn templates() {
        let re = template_to_regex("Messages from {ip} temporarily deferred (TS01)").unwrap();
        let r = regex::RegexBuilder::new(&re).case_insensitive(true).build().unwrap();
        assert!(r.is_match("[TS01] messages from 192.0.2.1  temporarily deferred (ts01)"));
        assert!(template_to_regex("a {nope} b").is_err());
        assert!(template_to_regex("a { b").is_err());
        assert_eq!(template_to_regex("{{x}}").unwrap(), r"\{x\}");
    }

    #[test]
    fn dates() {
        assert!(check_date("2024-02-29").is_ok());
        assert!(check_date("2023-02-29").is_err());
        assert!(check_date("2026-13-01").is_err());
    }
}
