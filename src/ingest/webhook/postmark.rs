//! Postmark webhooks: one object per post, its kind in `RecordType` (old
//! bounce webhooks have none: a `BouncedAt` and an `Email` make a bounce).
//!
//! - `Bounce`: a `bounce` event for `Email`, the reply from `Details`, else
//!   `Description`; the `Type` (`HardBounce`, `SoftBounce`, …) kept in
//!   `action`. One whose `Type` is `AutoResponder` is an `auto_reply` event
//!   (no reply read).
//! - `SpamComplaint`: a `complaint` event for `Email`, `Type` in `action`.
//! - `Delivery`: a `delivered` event for `Recipient`, the reply from
//!   `Details`, else `Description`.
//! - `SubscriptionChange` that suppresses sending: a suppression the person
//!   asked for (`ManualSuppression`) is an `unsubscribe` event for
//!   `Recipient`; one for a bounce or a complaint is skipped (that is its
//!   own event), and so is one lifted.
//!
//! Other records (`Open`, `Click`, …) are skipped with a note. The id is
//! the `ID`, else the `MessageID`; the time `BouncedAt`, `DeliveredAt` or
//! `ChangedAt`; the campaign a `Metadata` field, else the `Tag`.

use serde_json::{Map, Value};

use super::{Common, Cx, cut, message_id, recipient, scalar, set_reply, str_of, timestamp};
use crate::event::EventType;
use crate::ingest::Format;

pub(super) fn postmark(record: &Map<String, Value>, mut cx: Cx<'_>) {
    // Old bounce webhooks have no `RecordType`.
    let record_type = str_of(record, "RecordType")
        .or_else(|| (record.contains_key("BouncedAt") && record.contains_key("Email")).then_some("Bounce"));
    let Some(record_type) = record_type else {
        return cx.error("not a Postmark webhook: no `RecordType`");
    };
    let provider_id = record.get("ID").and_then(scalar).or_else(|| record.get("MessageID").and_then(scalar));
    let mut common = Common::new(Format::Postmark, &cx, record, provider_id);
    let name = common.name(&format!("a Postmark `{}` record", cut(record_type, 100)), "ID");
    let bounce_type = str_of(record, "Type");
    let (kind, address_field, at_field) = match record_type {
        "Bounce" if bounce_type == Some("AutoResponder") => (EventType::AutoReply, "Email", "BouncedAt"),
        "Bounce" => (EventType::Bounce, "Email", "BouncedAt"),
        "SpamComplaint" => (EventType::Complaint, "Email", "BouncedAt"),
        "Delivery" => (EventType::Delivered, "Recipient", "DeliveredAt"),
        // A suppression the person asked for is an unsubscribe; one lifted is not an event here.
        "SubscriptionChange" if record.get("SuppressSending").and_then(Value::as_bool) == Some(true) => {
            match str_of(record, "SuppressionReason") {
                Some("ManualSuppression") | None => (EventType::Unsubscribe, "Recipient", "ChangedAt"),
                Some(other) => {
                    return cx.skip(format!(
                        "a Postmark suppression for `{}`: the bounce or complaint that caused it is its own event",
                        cut(other, 100)
                    ));
                }
            }
        }
        other => {
            return cx.skip(format!("a Postmark `{}` record: not a bounce, complaint or delivery", cut(other, 100)));
        }
    };
    let address = match recipient(record.get(address_field), &name, address_field) {
        Ok(a) => a,
        Err(message) => return cx.error(message),
    };
    common.at = timestamp(record.get(at_field));
    common.message_id = message_id(record.get("MessageID"));
    common.campaign = cx
        .campaign_in(record.get("Metadata").and_then(Value::as_object))
        .or_else(|| record.get("Tag").and_then(scalar));
    let mut e = common.event(kind, address, 0);
    if kind == EventType::Bounce || kind == EventType::Delivered {
        let details = str_of(record, "Details");
        set_reply(&mut e, details.or_else(|| str_of(record, "Description")), None);
    }
    if kind != EventType::Delivered {
        e.action = bounce_type.map(str::to_string);
    }
    cx.out.events.push(e);
}
