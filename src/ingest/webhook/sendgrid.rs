//! SendGrid Event Webhook posts: an array of events, each an object with
//! `event`, `email`, `timestamp` (Unix seconds), `sg_event_id`, `smtp-id`
//! and the message's custom arguments as fields of their own.
//!
//! - `bounce`, `blocked`, `deferred`: a `bounce` event, the reply from
//!   `reason` (`response` first for `deferred`), `status` filling in; the
//!   bounce's `type` (`bounce`, `blocked`) or the event's name kept in
//!   `action`.
//! - `dropped`: a `bounce` event only when its `reason` is an SMTP answer
//!   (leads with a reply code); else SendGrid dropped the message without
//!   one, and it is skipped with a note.
//! - `delivered`: a `delivered` event, the reply from `response`.
//! - `spamreport`: a `complaint` event.
//! - `unsubscribe`, `group_unsubscribe`: the person unsubscribed (from
//!   everything, or from a group): an `unsubscribe` event.
//!
//! Other events (`processed`, `open`, `click`, …) are skipped with a note.
//! The id is the `sg_event_id`; the `Message-ID` the `smtp-id`; the
//! campaign a custom argument (the campaign header's name, `campaign`, …),
//! else `marketing_campaign_id`, else the first `category`.

use serde_json::{Map, Value};

use super::{Common, Cx, cut, message_id, recipient, scalar, set_reply, split_reply, status_field, str_of, timestamp};
use crate::event::EventType;
use crate::ingest::Format;

pub(super) fn sendgrid(record: &Map<String, Value>, mut cx: Cx<'_>) {
    let Some(event) = str_of(record, "event") else {
        return cx.error("not a SendGrid event: no `event`");
    };
    let mut common = Common::new(Format::Sendgrid, &cx, record, str_of(record, "sg_event_id").map(str::to_string));
    let name = common.name(&format!("a SendGrid `{}` event", cut(event, 100)), "sg_event_id");
    let reason = str_of(record, "reason");
    let response = str_of(record, "response");
    let kind = match event {
        "bounce" | "blocked" | "deferred" => EventType::Bounce,
        "dropped" => {
            if reason.is_none_or(|r| split_reply(r).code.is_none()) {
                let why = reason.map(|r| format!(": {}", cut(r, 200))).unwrap_or_default();
                return cx.skip(format!("{name}: SendGrid dropped the message without an SMTP answer{why}"));
            }
            EventType::Bounce
        }
        "delivered" => EventType::Delivered,
        "spamreport" => EventType::Complaint,
        // The person unsubscribed (from everything, or from a group): the lifecycle's `unsubscribe`.
        "unsubscribe" | "group_unsubscribe" => EventType::Unsubscribe,
        other => {
            return cx.skip(format!("a SendGrid `{}` event: not a bounce, complaint or delivery", cut(other, 100)));
        }
    };
    let address = match recipient(record.get("email"), &name, "email") {
        Ok(a) => a,
        Err(message) => return cx.error(message),
    };
    common.at = timestamp(record.get("timestamp"));
    common.message_id = message_id(record.get("smtp-id"));
    common.campaign = cx
        .campaign_in(Some(record))
        .or_else(|| record.get("marketing_campaign_id").and_then(scalar))
        .or_else(|| record.get("category").and_then(scalar));
    let mut e = common.event(kind, address, 0);
    match kind {
        EventType::Bounce => {
            let answer = if event == "deferred" { response.or(reason) } else { reason.or(response) };
            set_reply(&mut e, answer, status_field(record.get("status")));
            e.action =
                Some(if event == "bounce" { str_of(record, "type").unwrap_or("bounce") } else { event }.to_string());
        }
        EventType::Delivered => set_reply(&mut e, response, status_field(record.get("status"))),
        _ => {}
    }
    cx.out.events.push(e);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Options;
    use crate::ingest::webhook::parse;

    #[test]
    fn campaign_header_name_is_configurable() {
        let opts = Options { campaign_header: "X-Mailing".to_string() };
        let body = r#"{"event":"bounce","email":"a@example.org","x-mailing":"m-9","campaign":"c-1","category":"k"}"#;
        let p = parse(Format::Sendgrid, body.as_bytes(), "t", &opts);
        assert_eq!(p.events[0].campaign.as_deref(), Some("m-9"));
        let p = parse(Format::Sendgrid, body.as_bytes(), "t.json", &Options::default());
        assert_eq!(p.events[0].campaign.as_deref(), Some("c-1"));
    }
}
