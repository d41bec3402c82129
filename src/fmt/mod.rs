//! `rebound fmt`: one canonical layout for policy files.
//!
//! The formatter prints the AST back with fixed indentation (two spaces),
//! one clause per line, code tables with aligned arrows, long conditions
//! broken before `or`/`and`, and one blank line between top-level items.
//! Every comment is kept where it was: a comment after some code stays on
//! that code's line (a list broken there goes on under it), and a comment
//! on its own line stays on its own line before the code it precedes.
//!
//! [`format`] re-parses its own output and refuses (returns
//! [`FmtError::Unstable`]) when the tree or the comments differ, so a
//! formatter bug can never change what a policy means.
//!
//! The work is split three ways: [`printer`] places lines and comments and
//! knows nothing of the language; `items` says, item by item, what the lines
//! of each construct are (a new kind of item is one method there); `cond`
//! lays out conditions and prints tests and literals.

mod cond;
mod items;
mod printer;

use crate::diag::Diagnostic;
use crate::syntax::{self, ast::File};

pub use cond::quote;

/// The line width the formatter aims for.
pub const WIDTH: usize = 100;

/// One level of indentation.
const INDENT: &str = "  ";

/// Why a file was not formatted.
#[derive(Debug)]
pub enum FmtError {
    /// The file does not parse.
    Parse(Vec<Diagnostic>),
    /// The formatted text would not mean the same (a formatter bug).
    Unstable,
}

/// Formats the text of one file.
///
/// ```
/// let out = rebound::fmt::format("rule a { when code 550 then hard user_unknown }").unwrap();
/// assert_eq!(out, "rule a {\n  when code 550\n  then hard user_unknown\n}\n");
/// ```
pub fn format(text: &str) -> Result<String, FmtError> {
    let ast = syntax::parse(0, text).map_err(FmtError::Parse)?;
    let out = print(&ast, text);
    match syntax::parse(0, &out) {
        Ok(again) if again == ast => Ok(out),
        _ => Err(FmtError::Unstable),
    }
}

/// Prints a parsed file in canonical form; `text` is the source it came
/// from (for comments and blank lines).
pub fn print(file: &File, text: &str) -> String {
    let mut p = printer::Printer::new(text, &file.comments);
    for (i, item) in file.items.iter().enumerate() {
        if i > 0 {
            p.blank();
        }
        p.item(item);
    }
    p.finish()
}
