//! `ingest` on the project's own emails (tests/fixtures/ingest): every
//! format a bounce mailbox holds — RFC 3464 DSNs (plain, base64, several
//! recipients with failed, delayed and relayed actions), prose bounces
//! (qmail, Exim, Gmail, Office 365 in quoted-printable windows-1252, a
//! multipart whose boundary never appears), ISO-2022-JP, CRLF and bare-CR
//! line ends, ARF and a complaint without ARF, an auto-reply, a message that
//! is not a bounce, a bounce forwarded inside a gateway's notice, a mailing
//! list's refusal of a non-member, an unsubscribe request sent by mail,
//! Lotus Notes' reason above its recipient — and mbox and Maildir. Each gives a snapshot of its
//! events (and the shipped policy's verdict on each), and the properties
//! hold: never a panic, stable ids, line ends change nothing.

use std::path::Path;

use proptest::prelude::*;
use rebound::event::Event;
use rebound::ingest::{Format, Options, Parsed, dsn, mail, prose, source};

fn fixtures() -> std::path::PathBuf {
    crate::root().join("tests/fixtures/ingest")
}

/// Events and notes as a snapshot: the event JSON with the origin made
/// relative, and the shipped policy's verdict beside each bounce.
fn render(parsed: &[Parsed]) -> String {
    let policy = rebound::load::compile_shipped().policy.expect("the shipped policy compiles");
    let root = fixtures().display().to_string();
    let mut out = String::new();
    for p in parsed {
        for e in &p.events {
            let line = e.to_json_line().replace(&root, "fixtures");
            let verdict = match Event::parse(&line) {
                Ok(ev) => {
                    let v = policy.classify(&ev);
                    format!("{} {} (rule {})", v.class.as_str(), v.reason, v.rule.unwrap_or("-"))
                }
                Err(e) => format!("INVALID EVENT: {e}"),
            };
            let pretty: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            out.push_str(&serde_json::to_string_pretty(&pretty).unwrap_or_default());
            out.push_str(&format!("\n=> {verdict}\n\n"));
        }
        for n in &p.notes {
            out.push_str(&format!("note ({:?}) {}: {}\n\n", n.kind, n.origin.replace(&root, "fixtures"), n.message));
        }
    }
    out
}

fn ingest(path: &Path, from: Format) -> Vec<Parsed> {
    let mut all = Vec::new();
    source::ingest(path, from, &Options::default(), &mut |p| {
        all.push(p);
        Ok(())
    })
    .expect("reading fixtures does not fail");
    all
}

#[test]
fn every_email_fixture() {
    insta::glob!("fixtures/ingest/mail/*.eml", |path| {
        insta::assert_snapshot!(render(&ingest(path, Format::Auto)));
    });
}

#[test]
fn an_mbox_gives_each_message_its_origin() {
    let parsed = ingest(&fixtures().join("mbox/bounces.mbox"), Format::Auto);
    assert_eq!(parsed.len(), 3, "three messages");
    insta::assert_snapshot!(render(&parsed));
}

#[test]
fn a_maildir_with_a_maildirplusplus_folder() {
    let parsed = ingest(&fixtures().join("maildir"), Format::Auto);
    let origins: Vec<String> = parsed
        .iter()
        .flat_map(|p| p.events.iter().map(|e| e.origin.clone()))
        .map(|o| o.replace(&fixtures().display().to_string(), ""))
        .collect();
    assert_eq!(
        origins,
        [
            "/maildir/cur/1764000902.M1P1.host:2,S",
            "/maildir/new/1764234000.M2P1.host",
            "/maildir/.Bounces/new/1764255600.M3P1.host"
        ]
    );
    insta::assert_snapshot!(render(&parsed));
}

#[test]
fn line_ends_change_nothing() {
    let dir = fixtures().join("mail");
    let strip = |parsed: Vec<Parsed>| -> Vec<_> {
        parsed
            .into_iter()
            .flat_map(|p| p.events)
            .map(|mut e| {
                e.origin.clear();
                e.text = e.text.map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "));
                e
            })
            .collect()
    };
    let lf = strip(ingest(&dir.join("postfix-dsn-user-unknown.eml"), Format::Eml));
    let crlf = strip(ingest(&dir.join("postfix-dsn-crlf.eml"), Format::Eml));
    let cr = strip(ingest(&dir.join("postfix-dsn-cr-only.eml"), Format::Eml));
    assert_eq!(lf.len(), 1);
    assert_eq!(lf, crlf);
    assert_eq!(lf, cr);
}

#[test]
fn ids_are_stable_and_a_campaign_is_read_from_the_returned_message() {
    let path = fixtures().join("mail/sendmail-dsn-three-recipients.eml");
    let a = ingest(&path, Format::Eml);
    let b = ingest(&path, Format::Eml);
    assert_eq!(a, b);
    let events = &a[0].events;
    let ids: std::collections::HashSet<_> = events.iter().map(|e| &e.id).collect();
    assert_eq!(ids.len(), events.len(), "distinct ids");
    assert!(events.iter().all(|e| e.campaign.as_deref() == Some("digest-48")));
    let kinds: Vec<_> = events.iter().map(|e| (e.recipient.as_str(), e.kind.as_str(), e.action.as_deref())).collect();
    assert_eq!(
        kinds,
        [
            ("full@example.com", "bounce", Some("failed")),
            ("slow@example.com", "bounce", Some("delayed")),
            ("ok@example.com", "delivered", Some("relayed")),
        ]
    );
    // Another header name reads another campaign, or none.
    let opts = Options { campaign_header: "X-Mailing".into() };
    let raw = std::fs::read(&path).expect("fixture");
    assert!(mail::parse(&raw, "x", &opts).events.iter().all(|e| e.campaign.is_none()));
}

#[test]
fn a_final_dsn_with_a_temporary_status_raises_final_temporary() {
    // `Action: failed` with `Status: 4.4.1`: the MTA gave up retrying. The
    // event says so in its `action`, and a policy reads it as a flag.
    let policy = rebound::load::compile_bytes(
        "expiry.rebound",
        b"rule gave_up {\n  when flag final_temporary\n  then soft expired\n}\n",
    )
    .policy
    .expect("a policy that tests the flag compiles");
    let parsed = ingest(&fixtures().join("mail/dsn-final-temporary.eml"), Format::Eml);
    let events = &parsed[0].events;
    assert_eq!(events.len(), 1);
    let line = events[0].to_json_line();
    let event = Event::parse(&line).expect("a valid event");
    let verdict = policy.classify(&event);
    assert_eq!((verdict.reason, verdict.rule), ("expired", Some("gave_up")), "{line}");
    // The same answer in a delay notice is no expiry.
    let delayed = line.replace("\"action\":\"failed\"", "\"action\":\"delayed\"");
    assert_ne!(policy.classify(&Event::parse(&delayed).expect("valid")).rule, Some("gave_up"), "{delayed}");
}

#[test]
fn what_is_not_a_bounce_says_so() {
    let parsed = ingest(&fixtures().join("mail/not-a-bounce.eml"), Format::Eml);
    assert!(parsed[0].events.is_empty());
    assert_eq!(parsed[0].notes[0].kind, rebound::ingest::NoteKind::Skipped);
    assert!(parsed[0].notes[0].message.contains("not a bounce"), "{:?}", parsed[0].notes);
}

#[test]
fn a_person_quoting_list_words_is_not_a_list_refusal() {
    // The same words from a person, not from a list's robot, are just mail.
    let raw = b"From: Pat <pat@example.org>\nTo: news@example.net\nSubject: re: our list\n\n\
                You are not a member of this mailing list <team@lists.example.org>, so ask Sam.\n";
    let p = mail::parse(raw, "x", &Options::default());
    assert!(p.events.is_empty(), "{:?}", p.events);
    assert_eq!(p.notes[0].kind, rebound::ingest::NoteKind::Skipped);
}

#[test]
fn a_reply_that_only_says_unsubscribe_is_not_an_unsubscribe_request() {
    // `Subject: unsubscribe` counts when sent to an opt-out address (or
    // marked by Apple Mail), not to a person.
    let raw = b"From: Pat <pat@example.org>\nTo: sam@example.net\nSubject: unsubscribe\n\nplease\n";
    let p = mail::parse(raw, "x", &Options::default());
    assert!(p.events.iter().all(|e| e.kind != rebound::event::EventType::Unsubscribe), "{:?}", p.events);
}

#[test]
fn unreadable_inputs_are_errors_and_the_rest_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a-garbage.eml"), [0xff, 0xfe, 0x00, 0x01]).expect("write");
    std::fs::copy(fixtures().join("mail/qmail-prose.eml"), dir.path().join("b-qmail.eml")).expect("copy");
    std::fs::write(dir.path().join("c-empty.eml"), b"").expect("write");
    let parsed = ingest(dir.path(), Format::Auto);
    let events: usize = parsed.iter().map(|p| p.events.len()).sum();
    let errors: usize =
        parsed.iter().flat_map(|p| &p.notes).filter(|n| n.kind == rebound::ingest::NoteKind::Error).count();
    assert_eq!(events, 1, "the good email still gives its event");
    assert_eq!(errors, 2, "{parsed:?}");
    let missing = ingest(&dir.path().join("nope.eml"), Format::Auto);
    assert!(missing[0].notes[0].message.contains("cannot read"));
}

fn fixture_bytes() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(fixtures().join("mail")).expect("fixtures") {
        out.push(std::fs::read(entry.expect("entry").path()).expect("read"));
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary bytes never make the MIME reader panic.
    #[test]
    fn any_bytes_are_safe(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = mail::parse(&bytes, "fuzz", &Options::default());
    }

    /// Real emails, cut, spliced and corrupted, never make it panic.
    #[test]
    fn mangled_emails_are_safe(
        pick in 0usize..64,
        cut in 0usize..8192,
        at in 0usize..8192,
        junk in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let all = fixture_bytes();
        let mut raw = all[pick % all.len()].clone();
        raw.truncate(cut.min(raw.len()).max(raw.len() / 2));
        let at = at.min(raw.len());
        raw.splice(at..at, junk);
        let parsed = mail::parse(&raw, "fuzz", &Options::default());
        for e in parsed.events {
            prop_assert!(Event::parse(&e.to_json_line()).is_ok(), "ingest writes valid events");
        }
    }

    /// The DSN field reader and the prose reader take any text.
    #[test]
    fn any_text_is_safe(text in "\\PC{0,2000}") {
        let _ = dsn::parse(&text);
        let _ = prose::failures(&text, &Default::default());
        let _ = prose::addresses(&text);
        let _ = prose::reply_in(&text);
    }

    /// Texts that look like reports, with odd characters in the places that
    /// matter, are safe too.
    #[test]
    fn report_shaped_text_is_safe(
        a in "[a-zé<>@.\"; ]{0,30}",
        b in "[0-9. #]{0,12}",
        c in "\\PC{0,80}",
    ) {
        let text = format!("Final-Recipient: rfc822; {a}\nAction: {c}\nStatus: {b}\nDiagnostic-Code: smtp; {b} {c}\n\n<{a}>:\nRemote host said: {b} {c}\n");
        let _ = dsn::parse(&text);
        let _ = prose::failures(&text, &Default::default());
        let mail = format!("From: MAILER-DAEMON@x.example\nSubject: failure notice\n\n{text}");
        let _ = mail::parse(mail.as_bytes(), "fuzz", &Options::default());
    }
}

/// The fixtures that are bounces naming no recipient the report stands
/// behind: an error each (exit 1), never a guess.
const NO_RECIPIENT_FIXTURES: &[&str] = &["list-post-no-recipient.eml"];

#[test]
fn the_command_writes_events_that_classify_reads() {
    let out = assert_cmd::Command::cargo_bin("rebound")
        .expect("binary")
        .args(["ingest", "--verbose"])
        .arg(fixtures().join("mail"))
        .assert()
        .code(1);
    let output = out.get_output();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("skipped:") && stderr.contains("not-a-bounce.eml"), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), NO_RECIPIENT_FIXTURES.len(), "{stderr}");
    for (line, name) in errors.iter().zip(NO_RECIPIENT_FIXTURES) {
        assert!(line.contains(name) && line.contains("no recipient"), "{line}");
    }
    let inputs = std::fs::read_dir(fixtures().join("mail")).expect("fixtures").count();
    assert!(stderr.contains(&format!("ingest: {inputs} inputs")), "{stderr}");
    let events = stdout.lines().count();
    assert!(events >= 15, "{stdout}");
    // Piped into classify: one verdict per event, none refused.
    let classified = assert_cmd::Command::cargo_bin("rebound")
        .expect("binary")
        .args(["classify", "--format", "json"])
        .write_stdin(stdout)
        .assert()
        .success();
    assert_eq!(String::from_utf8_lossy(&classified.get_output().stdout).lines().count(), events);
}

#[test]
fn the_command_fails_on_bad_inputs_but_writes_the_good_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("bad.eml"), b"").expect("write");
    std::fs::copy(fixtures().join("mail/qmail-prose.eml"), dir.path().join("good.eml")).expect("copy");
    let out = assert_cmd::Command::cargo_bin("rebound").expect("binary").arg("ingest").arg(dir.path()).assert().code(1);
    let o = out.get_output();
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.eml: not an email"));
}
