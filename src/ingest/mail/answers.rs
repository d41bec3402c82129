//! Messages that are not bounces but say something about a recipient:
//! complaints (ARF, and providers' own), RFC 3834 auto-replies,
//! unsubscribe requests sent by mail, and mailing lists' refusals of a
//! non-member's post.

use mail_parser::Message;

use super::{BOUNCE_WORDING, Context, Parts, bounce_subject, header_lines, is_system_sender};
use crate::event::EventType;
use crate::ingest::prose::{self, Failure};
use crate::ingest::{NoteKind, Parsed, clean_address, rfc3339_of_mail_date};

/// A mailing list's refusal of a post from a non-member (FML, Mailman,
/// Google Groups' older notices): the list is the recipient that refused.
pub(super) fn list_refusal(message: &Message<'_>, notification: &str) -> Option<Failure> {
    // Only a list's robot says so: a person's mail quoting the words is not a refusal.
    let from = message.header_raw("From").unwrap_or("").to_ascii_lowercase();
    let robot = [
        "-admin@",
        "-owner@",
        "-request@",
        "-bounces@",
        "owner-",
        "mailman",
        "majordomo",
        "listserv",
        "fml",
        "mailer-daemon",
    ]
    .iter()
    .any(|w| from.contains(w));
    if !robot {
        return None;
    }
    const PHRASES: &[&str] = &[
        "not a member of this mailing list",
        "not a member of the mailing list",
        "only members can post",
        "only members may post",
        "non-member submission",
    ];
    let lower = notification.to_ascii_lowercase();
    let at = PHRASES.iter().filter_map(|p| lower.find(p)).min()?;
    // The sentence that says it, and the list it names.
    let start = lower[..at].rfind(['\n', '.']).map_or(0, |i| i + 1);
    let end = lower[at..].find("\n\n").map_or(lower.len(), |i| at + i);
    let sentence = notification.get(start..end)?;
    let (_, list) = prose::addresses(sentence).into_iter().next()?;
    let text: String = sentence.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(Failure { recipient: list, text, ..Failure::default() })
}

/// Whether a message is an automatic reply: RFC 3834's `Auto-Submitted:
/// auto-replied`, a vacation responder's header, or a subject that starts
/// like an auto-reply's in one of the usual languages. Checked after a
/// DSN, and never for a message with a bounce's marks — a mail system's
/// sender, a bounce's subject, a bounce's wording in its text — so a
/// bounce that quotes such a subject (or carries `Auto-Submitted`, as
/// Postfix and Exim bounces do) is still a bounce.
pub(super) fn is_auto_reply(message: &Message<'_>, notification: &str) -> bool {
    let header = |n: &str| message.header_raw(n).map(|v| v.trim().to_ascii_lowercase());
    let from = header("From").unwrap_or_default();
    if is_system_sender(&from) {
        return false;
    }
    let subject = message.subject().unwrap_or("").to_lowercase();
    if bounce_subject(&subject) || BOUNCE_WORDING.any_in(notification) {
        return false;
    }
    header("Auto-Submitted").is_some_and(|v| v.starts_with("auto-replied"))
        || header("X-Autoreply").is_some()
        || header("X-Autorespond").is_some()
        || header("X-Auto-Response-Suppress").is_some() && subject_is_auto_reply(&subject)
        || header("Precedence").is_some_and(|p| p == "auto_reply")
        || header("X-Apple-Action").is_some_and(|v| v.contains("vacation"))
        || header("X-Vacation").is_some()
        || subject_is_auto_reply(&subject)
}

/// Whether a subject (lowercased) starts as auto-replies' do: the English
/// ones, and the prefixes mail clients and responders write in other
/// languages (Outlook's `Automatische Antwort:`, `Réponse automatique :`,
/// `Autosvar:`, `Afwezig:`, …), perhaps in brackets (`[Auto-Reply]`).
fn subject_is_auto_reply(subject: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "auto:",
        "auto reply",
        "auto-reply",
        "autoreply",
        "auto response",
        "auto-response",
        "autoresponse",
        "automatic reply",
        "automatic response",
        "out of office",
        "out of the office",
        "vacation",
        "away from",
        // German, Dutch, Scandinavian, Finnish
        "automatische antwort",
        "abwesenheitsnotiz",
        "abwesend",
        "automatisch antwoord",
        "afwezig",
        "autosvar",
        "automatisk svar",
        "automaattinen vastaus",
        // Romance languages
        "réponse automatique",
        "reponse automatique",
        "absence du bureau",
        "respuesta automática",
        "respuesta automatica",
        "resposta automática",
        "resposta automatica",
        "risposta automatica",
        "fuori sede",
        // Slavic, Turkish, Asian
        "odpowiedź automatyczna",
        "automatická odpověď",
        "автоматический ответ",
        "otomatik yanıt",
        "自動応答",
        "自动回复",
        "自動回覆",
        "자동 응답",
    ];
    let s = subject.trim_start().trim_start_matches(['[', '(']).trim_start();
    PREFIXES.iter().any(|p| s.starts_with(p))
}

/// A request to unsubscribe sent by mail to a `List-Unsubscribe: <mailto:…>`
/// address: Apple Mail marks its own with `X-Apple-Unsubscribe: true`;
/// others send `Subject: unsubscribe` to an address that says so.
pub(super) fn unsubscribe_request(message: &Message<'_>, ctx: &Context<'_>) -> Option<Parsed> {
    let apple = message.header_raw("X-Apple-Unsubscribe").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let subject = message.subject().unwrap_or("").trim().to_ascii_lowercase();
    let to = message.header_raw("To").unwrap_or("").to_ascii_lowercase();
    let by_address =
        subject == "unsubscribe" && (to.contains("unsubscribe") || to.contains("opt-out") || to.contains("optout"));
    if !apple && !by_address {
        return None;
    }
    let from = message.header_raw("From").unwrap_or("");
    let who = prose::addresses(from).into_iter().map(|(_, a)| a).next().and_then(|a| clean_address(&a))?;
    let mut e = ctx.event(EventType::Unsubscribe, &who, 0, "unsubscribe");
    e.text = message.subject().map(|s| s.to_string());
    Some(Parsed { events: vec![e], notes: Vec::new() })
}

pub(super) fn auto_reply(message: &Message<'_>, ctx: &Context<'_>) -> Parsed {
    let from = message.header_raw("Reply-To").or_else(|| message.header_raw("From")).unwrap_or("");
    let Some(who) = prose::addresses(from).into_iter().map(|(_, a)| a).next().and_then(|a| clean_address(&a)) else {
        return Parsed::note(ctx.origin, NoteKind::Error, "an auto-reply without a readable From address");
    };
    let mut e = ctx.event(EventType::AutoReply, &who, 0, "auto-reply");
    e.text = message.subject().map(|s| s.to_string());
    Parsed { events: vec![e], notes: Vec::new() }
}

/// ARF (RFC 5965) and the complaints providers send without it.
/// `headers` are the returned message's ([`original_headers`]).
pub(super) fn complaint(
    message: &Message<'_>,
    parts: &Parts<'_>,
    headers: &[(String, String)],
    ctx: &Context<'_>,
) -> Option<Parsed> {
    let arf = parts.report_type.as_deref() == Some("feedback-report") || !parts.feedback.is_empty();
    let subject = message.subject().unwrap_or("").to_ascii_lowercase();
    let hotmail = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("X-HmXmrOriginalRecipient"));
    let complaint_subject =
        subject.contains("complaint about message") || subject.contains("abuse report") || subject.starts_with("fbl");
    if !(arf || hotmail || complaint_subject && parts.original.is_some()) {
        return None;
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    for f in &parts.feedback {
        fields.extend(header_lines(f));
    }
    let field =
        |name: &str| fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string());
    let feedback_type = field("Feedback-Type").map(|t| t.to_ascii_lowercase()).unwrap_or_else(|| "abuse".to_string());
    // Who complained about our mail: the report names them, or the returned
    // message was addressed to them.
    let mut recipients: Vec<String> = fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Original-Rcpt-To") || n.eq_ignore_ascii_case("Removal-Recipient"))
        .filter_map(|(_, v)| clean_address(v))
        .collect();
    if recipients.is_empty() {
        recipients = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("X-HmXmrOriginalRecipient"))
            .filter_map(|(_, v)| clean_address(v))
            .collect();
    }
    if recipients.is_empty() {
        recipients = ctx.original_to.clone();
    }
    recipients.dedup();
    if recipients.is_empty() {
        return Some(Parsed::note(ctx.origin, NoteKind::Error, "a complaint report that names no recipient"));
    }
    let at = field("Arrival-Date")
        .or_else(|| field("Received-Date"))
        .and_then(|d| rfc3339_of_mail_date(&d))
        .or_else(|| ctx.date.clone());
    let events = recipients
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut e = ctx.event(EventType::Complaint, r, i, "arf");
            e.feedback_type = Some(feedback_type.clone());
            e.at = at.clone();
            e
        })
        .collect();
    Some(Parsed { events, notes: Vec::new() })
}
