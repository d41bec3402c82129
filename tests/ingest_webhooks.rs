//! ESP webhook bodies and Postfix logs through `ingest`: every file under
//! `tests/fixtures/ingest/{ses,sendgrid,postmark,mailgun,postfix-log}/` (our
//! own realistic examples, documentation addresses only) gives the events
//! and notes snapshotted beside it, reviewed by hand; random input never
//! panics.

use std::io::Read;
use std::path::Path;

use proptest::prelude::*;
use rebound::event::EventType;
use rebound::ingest::{Format, NoteKind, Options, Parsed, postfix_log, webhook};

/// The events and notes as a person reads them.
fn render(p: &Parsed) -> String {
    let value = serde_json::json!({ "events": p.events, "notes": p.notes });
    serde_json::to_string_pretty(&value).unwrap()
}

/// `ses/bounce.json`: the origin as the fixture's place under
/// `fixtures/ingest`, so snapshots hold no absolute path.
fn origin_of(path: &Path) -> String {
    let dir = path.parent().and_then(Path::file_name).unwrap().to_string_lossy();
    format!("{dir}/{}", path.file_name().unwrap().to_string_lossy())
}

fn webhook_file(format: Format, path: &Path) -> Parsed {
    let body = std::fs::read(path).unwrap();
    webhook::parse(format, &body, &origin_of(path), &Options::default())
}

fn log_file(path: &Path) -> Parsed {
    let mut all = Parsed::default();
    let file = std::fs::File::open(path).unwrap();
    let mut reader = std::io::BufReader::new(file);
    postfix_log::parse(&mut reader, &origin_of(path), &Options::default(), &mut |p| {
        all.events.extend(p.events);
        all.notes.extend(p.notes);
        Ok(())
    })
    .unwrap();
    all
}

fn fixture(rel: &str) -> std::path::PathBuf {
    crate::root().join("tests/fixtures/ingest").join(rel)
}

#[test]
fn ses() {
    insta::glob!("fixtures/ingest/ses/*.json*", |path| {
        insta::assert_snapshot!(render(&webhook_file(Format::Ses, path)));
    });
}

#[test]
fn sendgrid() {
    insta::glob!("fixtures/ingest/sendgrid/*.json*", |path| {
        insta::assert_snapshot!(render(&webhook_file(Format::Sendgrid, path)));
    });
}

#[test]
fn postmark() {
    insta::glob!("fixtures/ingest/postmark/*.json*", |path| {
        insta::assert_snapshot!(render(&webhook_file(Format::Postmark, path)));
    });
}

#[test]
fn mailgun() {
    insta::glob!("fixtures/ingest/mailgun/*.json*", |path| {
        insta::assert_snapshot!(render(&webhook_file(Format::Mailgun, path)));
    });
}

#[test]
fn postfix_log() {
    insta::glob!("fixtures/ingest/postfix-log/*.log", |path| {
        insta::assert_snapshot!(render(&log_file(path)));
    });
}

/// Each fixture is told as its provider's (or as a Postfix log) from its
/// content alone, and reading it with `--from auto` gives the same.
#[test]
fn fixtures_are_sniffed_as_their_provider() {
    for (dir, format) in [
        ("ses", Format::Ses),
        ("sendgrid", Format::Sendgrid),
        ("postmark", Format::Postmark),
        ("mailgun", Format::Mailgun),
    ] {
        for entry in std::fs::read_dir(fixture(dir)).unwrap() {
            let path = entry.unwrap().path();
            let body = std::fs::read(&path).unwrap();
            assert_eq!(webhook::sniff(&body), Some(format), "{}", path.display());
            // A body cut short (the head `--from auto` looks at first) too.
            assert_eq!(webhook::sniff(&body[..body.len() / 2]), Some(format), "half of {}", path.display());
            let origin = origin_of(&path);
            assert_eq!(
                webhook::parse(Format::Auto, &body, &origin, &Options::default()),
                webhook::parse(format, &body, &origin, &Options::default())
            );
        }
    }
    for entry in std::fs::read_dir(fixture("postfix-log")).unwrap() {
        let path = entry.unwrap().path();
        let mut head = Vec::new();
        std::fs::File::open(&path).unwrap().take(8192).read_to_end(&mut head).unwrap();
        assert!(postfix_log::sniff(&head), "{}", path.display());
        assert_eq!(webhook::sniff(&head), None);
    }
    // Emails and other JSON are neither.
    assert!(!postfix_log::sniff(b"Return-Path: <>\nReceived: from mx.example.org\n"));
    assert_eq!(webhook::sniff(br#"{"id": "e-1", "recipient": "a@example.org", "code": 550}"#), None);
}

/// SES labels some permanent answers `Transient`: the event keeps the
/// receiver's 550 5.4.4 and leaves the decision to the policy.
#[test]
fn ses_transient_with_550_5_4_4_keeps_the_real_status() {
    let p = webhook_file(Format::Ses, &fixture("ses/bounce-transient-550-5.4.4.json"));
    assert!(p.notes.is_empty(), "{:?}", p.notes);
    let [e] = p.events.as_slice() else { panic!("one event expected: {:?}", p.events) };
    assert_eq!(e.kind, EventType::Bounce);
    assert_eq!(e.recipient, "sam@nowhere.example.org");
    assert_eq!(e.action.as_deref(), Some("Transient/General"));
    assert_eq!(e.code, Some(550));
    assert_eq!(e.status.as_deref(), Some("5.4.4"));
    assert_eq!(e.text.as_deref(), Some("550 5.4.4 Unable to route: no mail hosts for domain nowhere.example.org"));
}

/// Events ingested from webhooks are valid events for `classify` (SPEC §7).
#[test]
fn events_read_back_as_events() {
    for dir in ["ses", "sendgrid", "postmark", "mailgun", "postfix-log"] {
        for entry in std::fs::read_dir(fixture(dir)).unwrap() {
            let path = entry.unwrap().path();
            let p = if dir == "postfix-log" {
                log_file(&path)
            } else {
                webhook::parse(Format::Auto, &std::fs::read(&path).unwrap(), "x", &Options::default())
            };
            for e in &p.events {
                let line = e.to_json_line();
                let back = rebound::event::Event::parse(&line).unwrap();
                assert_eq!(back.recipient, e.recipient);
                assert_eq!(back.kind, e.kind);
                assert_eq!(back.code, e.code);
                if let Some(at) = &e.at {
                    at.parse::<jiff::Timestamp>().unwrap();
                }
            }
            // Ids are unique within a file.
            let mut ids: Vec<&str> = p.events.iter().map(|e| e.id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), p.events.len(), "{}", path.display());
        }
    }
}

/// A bad record is an error note; the records around it still give events.
#[test]
fn one_bad_record_spoils_nothing_else() {
    let p = webhook_file(Format::Sendgrid, &fixture("sendgrid/missing-email.json"));
    assert_eq!(p.events.len(), 1);
    assert_eq!(p.events[0].origin, "sendgrid/missing-email.json#3");
    let errors: Vec<&str> = p.notes.iter().filter(|n| n.kind == NoteKind::Error).map(|n| n.origin.as_str()).collect();
    assert_eq!(
        errors,
        ["sendgrid/missing-email.json#1", "sendgrid/missing-email.json#2", "sendgrid/missing-email.json#4"]
    );
}

/// A line far longer than `MAX_LINE_BYTES`, without a newline for tens of
/// megabytes, is cut, not held; the line after it is read.
#[test]
fn a_huge_line_is_streamed() {
    let bounced = "Nov 28 05:13:59 mail postfix/smtp[1]: 3F1A2B4C5D: to=<pat@example.org>, relay=none, dsn=5.1.1, \
                   status=bounced (host mx.example.org[192.0.2.1] said: 550 5.1.1 unknown (in reply to RCPT TO command))\n";
    let huge = bounced.trim_end().to_string();
    let mut input = std::io::BufReader::new(
        huge.as_bytes().chain(std::io::repeat(b'x').take(40 << 20)).chain(&b"\n"[..]).chain(bounced.as_bytes()),
    );
    let mut events = Vec::new();
    postfix_log::parse(&mut input, "big.log", &Options::default(), &mut |p| {
        events.extend(p.events);
        Ok(())
    })
    .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].origin, "big.log:2");
    assert!(events[0].text.as_deref().is_some_and(|t| t.len() <= postfix_log::MAX_LINE_BYTES));
}

/// Fragments of the providers' shapes, so random bodies get past `{`.
const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"Type\"",
    "\"Notification\"",
    "\"Message\"",
    "\"notificationType\"",
    "\"eventType\"",
    "\"Bounce\"",
    "\"Complaint\"",
    "\"Delivery\"",
    "\"DeliveryDelay\"",
    "\"bounce\"",
    "\"bouncedRecipients\"",
    "\"emailAddress\"",
    "\"diagnosticCode\"",
    "\"status\"",
    "\"mail\"",
    "\"headers\"",
    "\"tags\"",
    "\"event\"",
    "\"email\"",
    "\"reason\"",
    "\"response\"",
    "\"dropped\"",
    "\"timestamp\"",
    "\"RecordType\"",
    "\"Email\"",
    "\"Details\"",
    "\"Metadata\"",
    "\"event-data\"",
    "\"failed\"",
    "\"recipient\"",
    "\"delivery-status\"",
    "\"code\"",
    "\"pat@example.org\"",
    "\"smtp; 550 5.1.1 x\"",
    "\"550-\"",
    "\"5.1\"",
    "1795756441.5",
    "-1e308",
    "605",
    "null",
    "true",
    "\"\"",
    "\"\\u00e9\"",
    "\"{\\\"notificationType\\\":\\\"Bounce\\\"}\"",
    "\n",
    " ",
];

/// Pieces of Postfix lines.
const LOG_TOKENS: &[&str] = &[
    "Nov 28 05:13:59 ",
    "2026-11-28T05:13:59+00:00 ",
    "2026-11-28T05:13:59+0000 ",
    "<22>",
    "mail ",
    "postfix/smtp[1]: ",
    "postfix-out/lmtp: ",
    "postfix",
    "3F1A2B4C5D: ",
    "NOQUEUE: ",
    "to=<",
    "to=",
    "pat@example.org",
    ">, ",
    "relay=",
    "mx.example.org[192.0.2.1]:25",
    "none",
    "[",
    "]",
    "dsn=5.1.1, ",
    "status=",
    "bounced ",
    "deferred",
    "sent",
    "(",
    ")",
    "host mx said: ",
    "refused to talk to me: ",
    "550 5.1.1 ",
    " (in reply to RCPT TO command)",
    "message-id=<a@b>",
    "warning: header X-Campaign-Id: c from x; from=<a> to=<b>",
    "removed",
    "é",
    "\u{fffd}",
    "\r",
    "\n",
    ", ",
    "=",
    ":",
];

fn from_tokens(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(tokens), 0..max).prop_map(|t| t.concat().into_bytes())
}

const WEBHOOKS: [Format; 5] = [Format::Ses, Format::Sendgrid, Format::Postmark, Format::Mailgun, Format::Auto];

fn read_log(bytes: &[u8]) -> Parsed {
    let mut all = Parsed::default();
    postfix_log::parse(&mut &bytes[..], "p.log", &Options::default(), &mut |p| {
        all.events.extend(p.events);
        all.notes.extend(p.notes);
        Ok(())
    })
    .unwrap();
    all
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn webhooks_never_panic_on_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = webhook::sniff(&body);
        for format in WEBHOOKS {
            let _ = webhook::parse(format, &body, "p.json", &Options::default());
        }
    }

    #[test]
    fn webhooks_never_panic_on_json_pieces(body in from_tokens(JSON_TOKENS, 80)) {
        let _ = webhook::sniff(&body);
        for format in WEBHOOKS {
            let p = webhook::parse(format, &body, "p.json", &Options::default());
            for e in &p.events {
                prop_assert!(!e.recipient.is_empty());
            }
        }
    }

    #[test]
    fn postfix_log_never_panics_on_bytes(log in prop::collection::vec(any::<u8>(), 0..1024)) {
        let _ = postfix_log::sniff(&log);
        read_log(&log);
    }

    #[test]
    fn postfix_log_never_panics_on_line_pieces(log in from_tokens(LOG_TOKENS, 60), text in ".{0,80}") {
        let _ = postfix_log::sniff(&log);
        read_log(&log);
        let mut line = log.clone();
        line.extend_from_slice(text.as_bytes());
        let p = read_log(&line);
        for e in &p.events {
            prop_assert!(e.origin.starts_with("p.log:"));
        }
    }
}
