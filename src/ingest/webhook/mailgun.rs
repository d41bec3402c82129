//! Mailgun webhooks: a post of `signature` and `event-data`, the event with
//! `event`, `recipient`, `timestamp` (Unix seconds, fractional), `id` and
//! `delivery-status`; or the legacy webhooks (`bounced`, `dropped`, …),
//! with flat fields (`error`, `notification` or `description`, `code`) and
//! a `token` unique to the post instead of an event id.
//!
//! - `failed`, legacy `bounced`: a `bounce` event, the reply from
//!   `delivery-status` (`message`, else `description`; `enhanced-code`,
//!   `code`, `mx-host`), else from the flat fields; `severity/reason`
//!   (`permanent/bounce`) of `failed`, the name of the others, kept in
//!   `action`.
//! - `dropped`: a `bounce` event only when it carries an SMTP answer (a
//!   `code`, or a reply code leading its words); else Mailgun dropped the
//!   message without one, and it is skipped with a note.
//! - `delivered`: a `delivered` event, the reply from `delivery-status`.
//! - `complained`: a `complaint` event; `unsubscribed`: an `unsubscribe`
//!   event.
//!
//! Other events (`accepted`, `opened`, `clicked`, …) are skipped with a
//! note. Mailgun's own codes (such as 605) are not taken for reply codes.
//! The id is the event `id`, else the `token`; the `Message-ID` from
//! `message.headers`, else a `Message-Id` field; the campaign a
//! `user-variables` field, else a field of the event, else the first of
//! `tags` (or `tag`).

use serde_json::{Map, Value};

use super::{
    Common, Cx, code_field, cut, label_of, message_id, recipient, scalar, set_reply, split_reply, status_field, str_of,
    timestamp,
};
use crate::event::EventType;
use crate::ingest::Format;

pub(super) fn mailgun(record: &Map<String, Value>, mut cx: Cx<'_>) {
    let data = match record.get("event-data") {
        Some(Value::Object(d)) => d,
        Some(_) => return cx.error("a Mailgun webhook whose `event-data` is not an object"),
        None => record,
    };
    let Some(event) = str_of(data, "event") else {
        return cx.error("not a Mailgun event: no `event`");
    };
    // The legacy webhooks have no event id, but a token unique to the post.
    let (provider_id, id_field) = match str_of(data, "id") {
        Some(id) => (Some(id), "id"),
        None => (str_of(data, "token"), "token"),
    };
    let mut common = Common::new(Format::Mailgun, &cx, data, provider_id.map(str::to_string));
    let name = common.name(&format!("a Mailgun `{}` event", cut(event, 100)), id_field);
    let status = data.get("delivery-status").and_then(Value::as_object);
    // The legacy webhooks: `bounced` and `dropped`, flat fields.
    let legacy_text =
        str_of(data, "error").or_else(|| str_of(data, "notification")).or_else(|| str_of(data, "description"));
    let kind = match event {
        "failed" | "bounced" => EventType::Bounce,
        "dropped" => {
            let has_answer =
                code_field(data.get("code")).is_some() || legacy_text.is_some_and(|t| split_reply(t).code.is_some());
            if !has_answer {
                let why = str_of(data, "reason").map(|r| format!(" ({})", cut(r, 100))).unwrap_or_default();
                return cx.skip(format!("{name}: Mailgun dropped the message without an SMTP answer{why}"));
            }
            EventType::Bounce
        }
        "delivered" => EventType::Delivered,
        "complained" => EventType::Complaint,
        "unsubscribed" => EventType::Unsubscribe,
        other => return cx.skip(format!("a Mailgun `{}` event: not a bounce, complaint or delivery", cut(other, 100))),
    };
    let address = match recipient(data.get("recipient"), &name, "recipient") {
        Ok(a) => a,
        Err(message) => return cx.error(message),
    };
    common.at = timestamp(data.get("timestamp"));
    let headers = data.get("message").and_then(|m| m.get("headers")).and_then(Value::as_object);
    common.message_id = message_id(headers.and_then(|h| h.get("message-id")))
        .or_else(|| message_id(data.get("Message-Id").or_else(|| data.get("message-id"))));
    common.campaign = cx
        .campaign_in(data.get("user-variables").and_then(Value::as_object))
        .or_else(|| cx.campaign_in(Some(data)))
        .or_else(|| data.get("tags").and_then(scalar))
        .or_else(|| data.get("tag").and_then(scalar));
    let mut e = common.event(kind, address, 0);
    if kind == EventType::Bounce || kind == EventType::Delivered {
        match status {
            Some(s) => {
                let words = str_of(s, "message").or_else(|| str_of(s, "description"));
                set_reply(&mut e, words, status_field(s.get("enhanced-code")));
                e.code = code_field(s.get("code")).or(e.code);
                e.mx = str_of(s, "mx-host").map(|h| h.trim_end_matches('.').to_ascii_lowercase());
            }
            None => {
                set_reply(&mut e, legacy_text, None);
                e.code = code_field(data.get("code")).or(e.code);
            }
        }
    }
    if kind == EventType::Bounce {
        e.action = if event == "failed" {
            label_of(&[str_of(data, "severity"), str_of(data, "reason")])
        } else {
            Some(event.to_string())
        };
    }
    cx.out.events.push(e);
}
