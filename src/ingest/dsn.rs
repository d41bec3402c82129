//! The fields of a delivery status notification (RFC 3464 §2): one
//! per-message group, then one group per recipient.
//!
//! ```text
//! Reporting-MTA: dns; mx.example.org
//! Arrival-Date: Thu, 29 Apr 2026 23:45:41 +0900
//!
//! Final-Recipient: rfc822; pat@example.org
//! Action: failed
//! Status: 5.1.1
//! Remote-MTA: dns; mx.example.org
//! Diagnostic-Code: smtp; 550 5.1.1 <pat@example.org>: User unknown
//! ```
//!
//! Real reports bend the rules: groups not separated by blank lines,
//! folded and unfolded continuation lines, `X-` fields, CRLF or bare CR,
//! field names in any case. This reader takes them all; it never fails,
//! it finds fewer recipients.

use super::clean_address;

/// The per-message fields that matter here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageFields {
    /// `Reporting-MTA`, without its type.
    pub reporting_mta: Option<String>,
    /// `Arrival-Date`.
    pub arrival_date: Option<String>,
}

/// One recipient's fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecipientFields {
    /// `Final-Recipient`, cleaned.
    pub final_recipient: Option<String>,
    /// `Original-Recipient`, cleaned.
    pub original_recipient: Option<String>,
    /// `X-Actual-Recipient` and similar, cleaned.
    pub actual_recipient: Option<String>,
    /// `Action`, lowercased (`failed`, `delayed`, `delivered`, `relayed`, `expanded`).
    pub action: Option<String>,
    /// `Status` (`5.1.1`), when it looks like one.
    pub status: Option<String>,
    /// The comment after the `Status` (`4.0.0 (example.org: host name
    /// lookup failure)`): the reporting MTA's words when it wrote no
    /// `Diagnostic-Code`.
    pub status_comment: Option<String>,
    /// `Remote-MTA`, without its type.
    pub remote_mta: Option<String>,
    /// `Diagnostic-Code`, without its type (`smtp;`).
    pub diagnostic: Option<String>,
    /// The `Diagnostic-Code`'s type as written (`smtp`, `X-Unix`,
    /// `X-Postfix`), when it has one: only an `smtp` diagnostic is an SMTP
    /// reply; `X-Unix` is a local program's exit status.
    pub diagnostic_type: Option<String>,
    /// `Last-Attempt-Date`.
    pub last_attempt: Option<String>,
}

impl RecipientFields {
    /// The recipient the report is about: the final one, else the original.
    pub fn recipient(&self) -> Option<&str> {
        self.final_recipient.as_deref().or(self.original_recipient.as_deref()).or(self.actual_recipient.as_deref())
    }
}

/// A parsed `message/delivery-status` body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryStatus {
    /// The per-message group.
    pub message: MessageFields,
    /// The recipients, in order.
    pub recipients: Vec<RecipientFields>,
}

/// Splits `text` into unfolded `(name, value)` fields, with `None` for a
/// group break (a blank line).
fn fields(text: &str) -> Vec<Option<(String, String)>> {
    let mut out: Vec<Option<(String, String)>> = Vec::new();
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    for raw in text.split('\n') {
        let line = raw.trim_end();
        if line.is_empty() {
            if !matches!(out.last(), Some(None) | None) {
                out.push(None);
            }
            continue;
        }
        let folded = raw.starts_with([' ', '\t']);
        if folded && let Some(Some((_, v))) = out.last_mut() {
            v.push(' ');
            v.push_str(line.trim());
            continue;
        }
        match line.split_once(':') {
            Some((name, value))
                if !name.is_empty()
                    && name.len() < 64
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                out.push(Some((name.to_ascii_lowercase(), value.trim().to_string())));
            }
            // A continuation that lost its indentation (some MTAs unfold
            // long Diagnostic-Code values onto a new line).
            _ => {
                if let Some(Some((name, v))) = out.last_mut()
                    && name == "diagnostic-code"
                {
                    v.push(' ');
                    v.push_str(line.trim());
                }
            }
        }
    }
    out
}

/// Drops the `type;` of a typed value (`rfc822; a@b`, `dns; mx`, `smtp; 550 …`).
pub fn untyped(value: &str) -> &str {
    match value.split_once(';') {
        Some((kind, rest)) if kind.len() < 20 && !kind.contains(' ') && !kind.contains('@') => rest.trim(),
        _ => value.trim(),
    }
}

/// The `type` of a typed value (`smtp` of `smtp; 550 …`), if it has one.
pub fn type_of(value: &str) -> Option<&str> {
    match value.split_once(';') {
        Some((kind, _)) if kind.len() < 20 && !kind.contains(' ') && !kind.contains('@') => Some(kind.trim()),
        _ => None,
    }
}

/// Whether a diagnostic of this type is a local program's exit status
/// (`X-Unix; 75`: sysexits, or any number a delivery program returned),
/// not an SMTP reply.
pub fn is_exit_status_type(kind: &str) -> bool {
    kind.eq_ignore_ascii_case("x-unix")
}

/// An enhanced status code (`5.1.1`, `4.7.26`) at the start of `s`, if any.
pub fn status_at_start(s: &str) -> Option<String> {
    let token = s.split(|c: char| c.is_whitespace() || c == ')' || c == '(' || c == ',' || c == ';').next()?;
    let token = token.trim_start_matches(['#', '(']).trim_end_matches(['.', ':']);
    is_status(token).then(|| token.to_string())
}

/// The text of a field's trailing comment (`5.0.0 (permanent failure)` →
/// `permanent failure`), if it has words.
fn comment_of(value: &str) -> Option<String> {
    let open = value.find('(')?;
    let close = value.rfind(')').filter(|c| *c > open)?;
    let inner = value.get(open + 1..close)?.trim();
    inner.chars().any(char::is_alphabetic).then(|| inner.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Whether `s` is an enhanced status code: class 2, 4 or 5, subject up to
/// three digits, detail up to three digits.
pub fn is_status(s: &str) -> bool {
    let mut parts = s.split('.');
    let (Some(c), Some(sub), Some(det), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    matches!(c, "2" | "4" | "5")
        && (1..=3).contains(&sub.len())
        && (1..=3).contains(&det.len())
        && sub.bytes().all(|b| b.is_ascii_digit())
        && det.bytes().all(|b| b.is_ascii_digit())
}

/// Reads a `message/delivery-status` body.
pub fn parse(text: &str) -> DeliveryStatus {
    let mut ds = DeliveryStatus::default();
    let mut current: Option<RecipientFields> = None;
    let mut in_message_group = true;
    for f in fields(text) {
        let Some((name, value)) = f else {
            if let Some(r) = current.take() {
                ds.recipients.push(r);
            }
            in_message_group = false;
            continue;
        };
        let starts_recipient = matches!(name.as_str(), "final-recipient" | "original-recipient");
        if starts_recipient {
            in_message_group = false;
            // A second recipient in the same group: some MTAs leave out the blank line.
            let same_kind_again = current.as_ref().is_some_and(|r| {
                (name == "final-recipient" && r.final_recipient.is_some())
                    || (name == "original-recipient" && r.original_recipient.is_some())
            });
            if same_kind_again && let Some(r) = current.take() {
                ds.recipients.push(r);
            }
        }
        if in_message_group {
            match name.as_str() {
                "reporting-mta" => ds.message.reporting_mta = Some(untyped(&value).to_string()),
                "arrival-date" => ds.message.arrival_date = Some(value),
                _ => {}
            }
            continue;
        }
        let r = current.get_or_insert_with(RecipientFields::default);
        match name.as_str() {
            "final-recipient" => r.final_recipient = clean_address(&value),
            "original-recipient" => r.original_recipient = clean_address(&value),
            "x-actual-recipient" => r.actual_recipient = clean_address(&value),
            "action" => r.action = Some(value.split_whitespace().next().unwrap_or("").to_ascii_lowercase()),
            "status" => {
                r.status = status_at_start(&value);
                r.status_comment = comment_of(&value);
            }
            "remote-mta" => r.remote_mta = Some(untyped(&value).to_string()).filter(|s| !s.is_empty()),
            "diagnostic-code" => {
                r.diagnostic = Some(untyped(&value).to_string()).filter(|s| !s.is_empty());
                r.diagnostic_type = type_of(&value).map(str::to_string);
            }
            "last-attempt-date" => r.last_attempt = Some(value),
            "reporting-mta" => ds.message.reporting_mta = Some(untyped(&value).to_string()),
            "arrival-date" => ds.message.arrival_date = Some(value),
            _ => {}
        }
    }
    if let Some(r) = current.take() {
        ds.recipients.push(r);
    }
    ds.recipients.retain(|r| r.recipient().is_some());
    ds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standard_report() {
        let ds = parse(
            "Reporting-MTA: dns; mx.example.org\r\nArrival-Date: Thu, 29 Apr 2026 23:45:41 +0900\r\n\r\n\
             Final-Recipient: rfc822; pat@example.org\r\nOriginal-Recipient: rfc822;PAT@example.org\r\n\
             Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.example.org\r\n\
             Diagnostic-Code: smtp; 550 5.1.1 <pat@example.org>:\r\n    User unknown\r\n",
        );
        assert_eq!(ds.message.reporting_mta.as_deref(), Some("mx.example.org"));
        assert_eq!(ds.recipients.len(), 1);
        let r = &ds.recipients[0];
        assert_eq!(r.recipient(), Some("pat@example.org"));
        assert_eq!(r.action.as_deref(), Some("failed"));
        assert_eq!(r.status.as_deref(), Some("5.1.1"));
        assert_eq!(r.diagnostic.as_deref(), Some("550 5.1.1 <pat@example.org>: User unknown"));
    }

    #[test]
    fn recipients_without_blank_lines_between_them() {
        let ds = parse(
            "Reporting-MTA: dns; a.example\n\nFinal-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n\
             Final-Recipient: rfc822; b@example.org\nAction: delayed\nStatus: 4.2.2\n",
        );
        let got: Vec<_> = ds.recipients.iter().map(|r| (r.recipient(), r.action.as_deref())).collect();
        assert_eq!(got, [(Some("a@example.org"), Some("failed")), (Some("b@example.org"), Some("delayed"))]);
    }

    #[test]
    fn bare_cr_and_odd_values() {
        let ds =
            parse("Final-Recipient: RFC822; <x@example.org>\rAction: Failed (permanent)\rStatus: 5.0.0 (unknown)\r");
        assert_eq!(ds.recipients[0].recipient(), Some("x@example.org"));
        assert_eq!(ds.recipients[0].action.as_deref(), Some("failed"));
        assert_eq!(ds.recipients[0].status.as_deref(), Some("5.0.0"));
        assert_eq!(ds.recipients[0].status_comment.as_deref(), Some("unknown"));
    }

    #[test]
    fn statuses() {
        assert!(is_status("5.7.1") && is_status("4.7.650") && !is_status("5.7") && !is_status("6.1.1"));
        assert_eq!(status_at_start("#5.1.1 user").as_deref(), Some("5.1.1"));
        assert_eq!(status_at_start("550 5.1.1"), None);
    }
}
