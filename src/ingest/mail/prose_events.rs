//! Events from a bounce in prose: the recipients and failures
//! [`crate::ingest::prose`] reads in its text; else those `X-Failed-Recipients`
//! names; else, for a report that names no recipient but names the
//! destination that failed, the one returned recipient at that domain —
//! never the returned message's `To` by itself. Also whether a report is a
//! warning about a delay, which makes its failures `delayed`.

use std::collections::HashSet;
use std::sync::LazyLock;

use mail_parser::Message;

use super::{Context, Parts};
use crate::ingest::needles::Needles;
use crate::ingest::prose::{self, Excluded, Failure};
use crate::ingest::{NoteKind, Parsed};

/// The events of a message that looks like a bounce and is not a DSN.
pub(super) fn prose_bounce(message: &Message<'_>, parts: &Parts<'_>, ctx: &Context<'_>) -> Parsed {
    // Exim's and Google's `X-Failed-Recipients` names who failed: then
    // the report's own recipients (the sender) are not candidates.
    let failed: Vec<String> = message
        .header_raw("X-Failed-Recipients")
        .map(|v| prose::addresses(v).into_iter().map(|(_, a)| a).collect())
        .unwrap_or_default();
    let known: HashSet<String> = failed.iter().map(|a| a.to_ascii_lowercase()).collect();
    let exclude = match known.is_empty() {
        true => ctx.exclude.clone(),
        false => {
            let all = ctx.exclude.never.iter().chain(&ctx.exclude.unless_named);
            Excluded::never(all.filter(|a| !known.contains(*a)).cloned())
        }
    };
    let failures = prose::failures_among(&parts.notification, &exclude, &known);
    if !failures.is_empty() {
        return Parsed {
            events: failures.iter().enumerate().map(|(i, f)| ctx.prose_event(f, i)).collect(),
            notes: Vec::new(),
        };
    }
    // A bounce whose text names nobody: `X-Failed-Recipients`, else the
    // destination the text names.
    if !failed.is_empty() {
        let text = summary_after_recipients(&parts.notification);
        let (code, status) = prose::refusal_in(&text);
        let events = failed
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let f = Failure {
                    recipient: r.clone(),
                    text: text.clone(),
                    code,
                    status: status.clone(),
                    ..Failure::default()
                };
                ctx.prose_event(&f, i)
            })
            .collect();
        return Parsed { events, notes: Vec::new() };
    }
    if let Some(to) = named_destination(message, &parts.notification, ctx) {
        let f = Failure { recipient: to, text: summary(&parts.notification), ..Failure::default() };
        let (code, status) = prose::refusal_in(&f.text);
        let f = Failure { code, status, ..f };
        return Parsed { events: vec![ctx.prose_event(&f, 0)], notes: Vec::new() };
    }
    Parsed::note(ctx.origin, NoteKind::Error, "a bounce, but no recipient could be found in it")
}

/// For a bounce whose text names no recipient but names the destination
/// that failed (`421 example.com (smtp)... Deferred: Connection timed
/// out`), or that the receiving domain's own system sent (`From:
/// postmaster@mx1.example.com` about a message to `pat@example.com`): the
/// one recipient of the returned message at that domain. Not the returned
/// message's `To` as such — never when neither names a domain of its
/// recipients, when several of them are at it, nor an address that is the
/// sender's or a list's.
fn named_destination(message: &Message<'_>, notification: &str, ctx: &Context<'_>) -> Option<String> {
    let text = prose::cut_original(notification).to_ascii_lowercase();
    let reporter: Option<String> = message
        .header_raw("From")
        .and_then(|f| prose::addresses(f).into_iter().next())
        .and_then(|(_, a)| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()));
    let at_named_domain = |a: &&String| {
        a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).is_some_and(|d| {
            names_domain(&text, &d) || reporter.as_deref().is_some_and(|h| h == d || h.ends_with(&format!(".{d}")))
        })
    };
    let mut at_named: Vec<&String> = ctx
        .original_recipients
        .iter()
        .filter(|a| !ctx.exclude.contains(&a.to_ascii_lowercase()))
        .filter(at_named_domain)
        .collect();
    at_named.dedup();
    match at_named.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    }
}

/// Whether `text` (lowercased) names `domain` as a host of its own, not
/// inside an address or a longer name.
fn names_domain(text: &str, domain: &str) -> bool {
    let b = text.as_bytes();
    let part = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    text.match_indices(domain).any(|(i, m)| {
        let before = i.checked_sub(1).and_then(|j| b.get(j)).copied();
        let after = b.get(i + m.len()).copied();
        let after_next = b.get(i + m.len() + 1).copied();
        before.is_none_or(|c| !part(c) && c != b'.' && c != b'@')
            && after.is_none_or(|c| !(part(c) || c == b'.' && after_next.is_some_and(part)))
    })
}

/// The first lines of a notification that say something, for a bounce that
/// names no recipient.
fn summary(notification: &str) -> String {
    // Without the section headings (`----- Transcript of session follows -----`).
    let heading = |l: &&str| {
        let t = l.trim();
        t.starts_with("---") && t.ends_with("---")
    };
    let lines: Vec<&str> = prose::cut_original(notification).lines().filter(|l| !heading(l)).collect();
    let text: String = lines.join(" ").split_whitespace().collect::<Vec<_>>().join(" ");
    text.chars().take(prose::MAX_TEXT).collect()
}

/// The words of a notification after its list-of-failures heading (Exim's
/// `The following address(es) failed:`), when no address leads a line.
fn summary_after_recipients(notification: &str) -> String {
    let n = prose::cut_original(notification);
    let lower = n.to_ascii_lowercase();
    let start = ["failed:", "recipients:", "recipient:"]
        .iter()
        .filter_map(|m| lower.find(m).map(|i| i + m.len()))
        .min()
        .unwrap_or(0);
    let text: String = n[start..].split_whitespace().collect::<Vec<_>>().join(" ");
    text.chars().take(prose::MAX_TEXT).collect()
}

/// The words an MTA writes in a warning about a delay, when it is still
/// trying and nothing is returned yet (Sendmail's and Postfix's `THIS IS A
/// WARNING MESSAGE ONLY`, Exim's `has not yet been delivered`, Gmail's
/// `Message will be retried`, OpenSMTPD's `only a temporary failure
/// report`); matched ignoring ASCII case.
const DELAY_WORDS: &[&str] = &[
    "this is a warning message only",
    "you do not need to resend",
    "has not yet been delivered",
    "will be retried",
    "will keep trying",
    "will continue trying",
    "delivery attempts will continue",
    "only a temporary failure report",
    "is still being retried",
];

static DELAY_WORDING: LazyLock<Needles> = LazyLock::new(|| Needles::new(DELAY_WORDS));

/// Whether a report is a warning about a delay: its subject says so
/// (`Delivery delayed`, `Warning: could not send message for past 4
/// hours`) or its text says the MTA is still trying.
pub(super) fn is_delay_notice(message: &Message<'_>, notification: &str) -> bool {
    let subject = message.subject().unwrap_or("").to_ascii_lowercase();
    ["delayed", "delay notification", "warning: could not send", "still trying"].iter().any(|w| subject.contains(w))
        || DELAY_WORDING.any_in(prose::cut_original(notification))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_is_named_as_a_host_of_its_own() {
        let text = "421 example.com (smtp)... deferred: connection timed out with example.com";
        assert!(names_domain(text, "example.com"));
        assert!(!names_domain("mail to pat@example.com failed", "example.com"));
        assert!(!names_domain("mx.example.com.au refused", "example.com"));
        assert!(!names_domain("myexample.com said no", "example.com"));
        assert!(names_domain("host mx.example.com[192.0.2.1] said", "mx.example.com"));
    }
}
