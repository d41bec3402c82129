//! Writes benchmark events for `rebound run` to stdout:
//! `cargo run --release --example gen_events -- N CONTACTS > events.jsonl`
//! (default: 1,000,000 events over 100,000 contacts).

#[path = "events.rs"]
mod events;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.replace('_', "").parse::<usize>());
    let n = args.next().transpose().ok().flatten().unwrap_or(1_000_000);
    let contacts = args.next().transpose().ok().flatten().unwrap_or(100_000);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    events::write(n, contacts, &mut out)?;
    std::io::Write::flush(&mut out)
}
