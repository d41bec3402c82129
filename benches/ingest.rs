//! Ingest throughput, on one core: real bounce emails (the shared corpus,
//! `$REBOUND_SHARED/corpus/dsn/emails` or `../shared/corpus/dsn/emails`;
//! the project's own fixtures when it is not there) parsed into events, and
//! parsed and classified by the shipped policy. Reported as emails per
//! second; the target is 20,000.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rebound::ingest::{Options, mail};

fn emails() -> (String, Vec<Vec<u8>>) {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = std::env::var_os("REBOUND_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("../shared"))
        .join("corpus/dsn/emails");
    let dir = if shared.is_dir() { shared } else { root.join("tests/fixtures/ingest/mail") };
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let emails: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    (dir.display().to_string(), emails)
}

fn bench(c: &mut Criterion) {
    let (dir, emails) = emails();
    let bytes: usize = emails.iter().map(Vec::len).sum();
    eprintln!("{} emails, {} KiB in all, from {dir}", emails.len(), bytes / 1024);
    let policy = rebound::load::compile_shipped().policy.unwrap();
    let opts = Options::default();

    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(emails.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| emails.iter().map(|e| mail::parse(e, "bench", &opts).events.len()).sum::<usize>())
    });
    g.bench_function("parse+classify", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for e in &emails {
                for ev in mail::parse(e, "bench", &opts).events {
                    n += policy.classify(&ev.as_event()).class as usize;
                }
            }
            n
        })
    });
    g.finish();

    // How it grows: one DSN naming more and more recipients, each with its
    // own diagnostic, in recipients per second (linear growth keeps it flat).
    let mut g = c.benchmark_group("ingest/recipients_per_dsn");
    for n in [1usize, 10, 100, 1000] {
        let email = dsn_with(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(n.to_string(), |b| b.iter(|| mail::parse(&email, "bench", &opts).events.len()));
    }
    g.finish();
}

/// A Postfix-style DSN naming `n` recipients, every one refused with its own text.
fn dsn_with(n: usize) -> Vec<u8> {
    let mut prose = String::new();
    let mut fields = String::new();
    for i in 0..n {
        prose.push_str(&format!(
            "<user{i}@example.org>: host mx.example.org[192.0.2.25] said: 550 5.1.1 <user{i}@example.org>:\n    \
             Recipient address rejected: User unknown (in reply to RCPT TO command)\n\n"
        ));
        fields.push_str(&format!(
            "Final-Recipient: rfc822; user{i}@example.org\nAction: failed\nStatus: 5.1.1\n\
             Remote-MTA: dns; mx.example.org\nDiagnostic-Code: smtp; 550 5.1.1 <user{i}@example.org>: \
             Recipient address rejected: User unknown\n\n"
        ));
    }
    format!(
        "From: MAILER-DAEMON@mail.example.net\nTo: news@example.net\nSubject: Undelivered Mail Returned to Sender\n\
         Message-Id: <bench@mail.example.net>\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n\
         --b\nContent-Type: text/plain\n\n{prose}--b\nContent-Type: message/delivery-status\n\n\
         Reporting-MTA: dns; mail.example.net\n\n{fields}--b--\n"
    )
    .into_bytes()
}

criterion_group!(benches, bench);
criterion_main!(benches);
