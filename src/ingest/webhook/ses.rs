//! Amazon SES notifications: the SNS message (`"Type": "Notification"`,
//! whose `Message` is the notification as a JSON string), or the
//! notification on its own (`notificationType`, or the `eventType` of an
//! event publishing configuration set), with its `mail` object.
//!
//! - `Bounce`: one `bounce` event per entry of `bouncedRecipients`, the
//!   reply from its `diagnosticCode` (its `status` filling in),
//!   `remoteMtaIp` as `mx`, `bounceType/bounceSubType`
//!   (`Permanent/General`) kept in `action`. Where the label and the reply
//!   disagree (`Transient` with `550 5.4.4`), the reply is kept as given.
//! - `DeliveryDelay`: one `bounce` event per entry of `delayedRecipients`,
//!   read the same way, `Delay/delayType` in `action`.
//! - `Complaint`: one `complaint` event per entry of
//!   `complainedRecipients`, `complaintFeedbackType` as the feedback type,
//!   `complaintSubType` in `action`.
//! - `Delivery`: one `delivered` event per address of `recipients`, the
//!   reply from `smtpResponse`.
//!
//! An SNS `Message` that a mail system cut (an SNS notification sent to an
//! email subscription, its long line broken and part of it lost) is read up
//! to the damage: its recipients usually come before it.
//!
//! Other notifications (sends, opens, clicks) and the other SNS messages
//! (`SubscriptionConfirmation`: confirm the subscription at its
//! `SubscribeURL`) are skipped with a note. The id is the `feedbackId`,
//! else the SNS `MessageId`; the time the notification's `timestamp`, else
//! the `mail`'s; the campaign the campaign header among `mail.headers`,
//! else a campaign tag; the `Message-ID` from `commonHeaders.messageId`,
//! the header, else SES's own message id.

use serde_json::{Map, Value};

use super::{
    Common, Cx, cut, invalid, label_of, message_id, recipient, scalar, set_reply, status_field, str_of, timestamp,
};
use crate::event::EventType;
use crate::ingest::Format;

pub(super) fn ses(record: &Map<String, Value>, mut cx: Cx<'_>) {
    // The SNS envelope: `Message` is the notification, as a JSON string.
    let mut sns_id = None;
    let parsed;
    let n: &Map<String, Value> = match record.get("Type").and_then(Value::as_str) {
        Some("Notification") => {
            sns_id = str_of(record, "MessageId").map(str::to_string);
            match record.get("Message") {
                // A `Message` cut by a mail system on its way to an email
                // subscription: what it says before the cut.
                Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                    Ok(Value::Object(o)) => {
                        parsed = o;
                        &parsed
                    }
                    Ok(_) => return cx.skip("an SNS notification whose `Message` is not an SES notification"),
                    Err(e) => match super::salvage(s) {
                        Some(Value::Object(o)) if o.contains_key("notificationType") => {
                            parsed = o;
                            &parsed
                        }
                        _ => return cx.error(format!("the SNS `Message` is not JSON: {}", invalid(&e, None))),
                    },
                },
                Some(Value::Object(o)) => o,
                _ => return cx.error("an SNS notification without a `Message`"),
            }
        }
        Some(other @ ("SubscriptionConfirmation" | "UnsubscribeConfirmation")) => {
            return cx.skip(format!(
                "an SNS `{other}` message: not a notification (confirm the subscription at its `SubscribeURL`)"
            ));
        }
        Some(other) if record.contains_key("TopicArn") => {
            return cx.skip(format!("an SNS `{}` message: not a notification", cut(other, 100)));
        }
        _ => record,
    };
    let Some(kind) = str_of(n, "notificationType").or_else(|| str_of(n, "eventType")) else {
        return cx.error("not an SES notification: no `notificationType` or `eventType`");
    };
    let (section, list, label) = match kind {
        "Bounce" => ("bounce", "bouncedRecipients", "bounce"),
        "Complaint" => ("complaint", "complainedRecipients", "complaint"),
        "Delivery" => ("delivery", "recipients", "delivery"),
        "DeliveryDelay" => ("deliveryDelay", "delayedRecipients", "delivery delay"),
        other => {
            return cx.skip(format!("an SES `{}` notification: not a bounce, complaint or delivery", cut(other, 100)));
        }
    };
    let Some(body) = n.get(section).and_then(Value::as_object) else {
        return cx.error(format!("an SES {label} notification without its `{section}` object"));
    };
    let mail = n.get("mail").and_then(Value::as_object);
    let provider_id = str_of(body, "feedbackId").map(str::to_string).or(sns_id);
    let mut common = Common::new(Format::Ses, &cx, n, provider_id);
    common.at = timestamp(body.get("timestamp")).or_else(|| mail.and_then(|m| timestamp(m.get("timestamp"))));
    common.campaign = mail.and_then(|m| ses_campaign(m, &cx));
    common.message_id = mail.and_then(ses_message_id);
    let name = common.name(&format!("an SES {label} notification"), "feedbackId");
    let recipients = body.get(list).and_then(Value::as_array).filter(|l| !l.is_empty());
    let Some(recipients) = recipients else {
        return cx.error(format!("{name} has no `{list}`"));
    };
    let mx = str_of(body, "remoteMtaIp").map(str::to_string);
    for (i, r) in recipients.iter().enumerate() {
        let (raw, field) =
            if section == "delivery" { (Some(r), list) } else { (r.get("emailAddress"), "emailAddress") };
        let address = match recipient(raw, &format!("{name}, entry {} of `{list}`", i + 1), field) {
            Ok(a) => a,
            Err(message) => {
                cx.error(message);
                continue;
            }
        };
        let e = match section {
            "bounce" | "deliveryDelay" => {
                let mut e = common.event(EventType::Bounce, address, i);
                set_reply(&mut e, r.get("diagnosticCode").and_then(Value::as_str), status_field(r.get("status")));
                e.mx = mx.clone();
                e.action = if section == "bounce" {
                    label_of(&[str_of(body, "bounceType"), str_of(body, "bounceSubType")])
                } else {
                    label_of(&[Some("Delay"), str_of(body, "delayType")])
                };
                e
            }
            "complaint" => {
                let mut e = common.event(EventType::Complaint, address, i);
                e.feedback_type = str_of(body, "complaintFeedbackType").map(str::to_string);
                e.action = str_of(body, "complaintSubType").map(str::to_string);
                e
            }
            _ => {
                let mut e = common.event(EventType::Delivered, address, i);
                set_reply(&mut e, str_of(body, "smtpResponse"), None);
                e.mx = mx.clone();
                e
            }
        };
        cx.out.events.push(e);
    }
}

/// The campaign header among `mail.headers`, else a campaign tag.
fn ses_campaign(mail: &Map<String, Value>, cx: &Cx<'_>) -> Option<String> {
    let header = &cx.opts.campaign_header;
    let from_headers = mail.get("headers").and_then(Value::as_array).and_then(|headers| {
        headers.iter().find_map(|h| {
            let name = h.get("name").and_then(Value::as_str)?;
            if name.trim().eq_ignore_ascii_case(header) { h.get("value").and_then(scalar) } else { None }
        })
    });
    from_headers.or_else(|| cx.campaign_in(mail.get("tags").and_then(Value::as_object)))
}

/// The original `Message-ID`: `commonHeaders.messageId`, the header, else
/// SES's own message id.
fn ses_message_id(mail: &Map<String, Value>) -> Option<String> {
    message_id(mail.get("commonHeaders").and_then(|h| h.get("messageId")))
        .or_else(|| {
            let headers = mail.get("headers")?.as_array()?;
            let h = headers.iter().find(|h| {
                h.get("name").and_then(Value::as_str).is_some_and(|n| n.trim().eq_ignore_ascii_case("message-id"))
            })?;
            message_id(h.get("value"))
        })
        .or_else(|| message_id(mail.get("messageId")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Options;
    use crate::ingest::webhook::parse;

    #[test]
    fn ses_transient_with_a_permanent_reply_keeps_the_reply() {
        let body = r#"{"notificationType":"Bounce","bounce":{"bounceType":"Transient","bounceSubType":"General",
            "feedbackId":"f-1","bouncedRecipients":[{"emailAddress":"pat@example.org","status":"5.4.4",
            "diagnosticCode":"smtp; 550 5.4.4 Unable to route"}]},"mail":{}}"#;
        let p = parse(Format::Ses, body.as_bytes(), "t.json", &Options::default());
        let e = &p.events[0];
        assert_eq!(
            (e.code, e.status.as_deref(), e.action.as_deref()),
            (Some(550), Some("5.4.4"), Some("Transient/General"))
        );
    }
}
