//! Reading JSONL events for the commands: streamed, bad lines reported with
//! their number on stderr and skipped, the run going on.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use crate::event::{Event, Line, Lines};

/// What a pass over the events found wrong.
#[derive(Debug, Default)]
pub struct Report {
    /// Lines read (not counting blank ones).
    pub events: usize,
    /// Lines reported and skipped.
    pub bad: usize,
}

/// Opens a file, or stdin for `None` or `-`.
pub fn open(path: Option<&Path>) -> std::io::Result<Box<dyn BufRead>> {
    match path {
        None => Ok(Box::new(BufReader::with_capacity(1 << 16, std::io::stdin()))),
        Some(p) if p == Path::new("-") => Ok(Box::new(BufReader::with_capacity(1 << 16, std::io::stdin()))),
        Some(p) => Ok(Box::new(BufReader::with_capacity(1 << 16, File::open(p)?))),
    }
}

/// Calls `f` for every event; bad lines go to `err` as `line N: why`.
pub fn each_event(
    input: impl BufRead,
    err: &mut impl Write,
    mut f: impl FnMut(usize, &Event) -> std::io::Result<()>,
) -> std::io::Result<Report> {
    let mut lines = Lines::new(input);
    let mut buf = Vec::new();
    let mut report = Report::default();
    while let Some(line) = lines.next_line(&mut buf)? {
        match line {
            Line::Text(_, text) if text.trim().is_empty() => {}
            Line::Text(n, text) => {
                report.events += 1;
                match Event::parse(&text) {
                    Ok(event) => f(n, &event)?,
                    Err(e) => {
                        report.bad += 1;
                        writeln!(err, "line {n}: {e}")?;
                    }
                }
            }
            Line::Bad(n, why) => {
                report.events += 1;
                report.bad += 1;
                writeln!(err, "line {n}: {why}")?;
            }
        }
    }
    Ok(report)
}
