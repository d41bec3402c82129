//! Text → spanned AST. The only code that knows pest.
//!
//! [`parse`] takes the text of one `.rebound` file and returns its [`ast::File`]
//! or located diagnostics in words a person understands: pest's rule names
//! are translated by [`describe`], and unclosed strings and over-deep nesting
//! are caught before pest sees them. It never panics and never recurses
//! deeper than [`MAX_NESTING`] levels of parentheses.

pub mod ast;
mod build;

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};

use crate::diag::{Diagnostic, FileId, Span, codes};

/// The deepest nesting of parentheses in a condition.
pub const MAX_NESTING: usize = 64;

/// The largest policy file, in bytes.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// pest's generated parser and `Rule`, kept private to `syntax/`.
mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "grammar/rebound.pest"]
    pub(super) struct RawParser;
}

use grammar::{RawParser, Rule};

/// Parses one file.
pub fn parse(file: FileId, text: &str) -> Result<ast::File, Vec<Diagnostic>> {
    if text.len() > MAX_FILE_BYTES {
        return Err(vec![Diagnostic::error(
            codes::FILE_TOO_LARGE,
            Span::new(file, 0..0),
            format!("the file is {} bytes; the limit is {MAX_FILE_BYTES}", text.len()),
        )]);
    }
    if let Some(d) = prescan(file, text) {
        return Err(vec![d]);
    }
    match RawParser::parse(Rule::policy, text) {
        Ok(mut pairs) => match pairs.next() {
            Some(policy) => build::file(file, text, policy).map_err(|d| vec![*d]),
            None => Ok(ast::File { items: Vec::new(), comments: Vec::new() }),
        },
        Err(e) => Err(vec![translate(file, text, &e)]),
    }
}

/// Finds what pest would report badly or could choke on: strings and
/// regexes left open at the end of a line, and parentheses nested too deep.
fn prescan(file: FileId, text: &str) -> Option<Diagnostic> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'#' => i = line_end(bytes, i),
            b'"' if bytes.get(i..i + 3) == Some(b"\"\"\"") => match find_triple(bytes, i + 3) {
                Some(end) => i = end + 2,
                None => {
                    return Some(
                        Diagnostic::error(codes::UNTERMINATED, Span::new(file, i..i + 3), "this script is not closed")
                            .with_label("script starts here")
                            .with_help("end it with `\"\"\"`"),
                    );
                }
            },
            b'"' | b'/' => match closing(bytes, i) {
                Some(end) => i = end,
                None => return Some(unterminated(file, text, i)),
            },
            b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(
                        Diagnostic::error(
                            codes::TOO_DEEP,
                            Span::new(file, i..i + 1),
                            format!("parentheses nest deeper than {MAX_NESTING} levels"),
                        )
                        .with_label("too deep")
                        .with_help("split the condition into several rules"),
                    );
                }
            }
            b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..].iter().position(|&b| b == b'\n' || b == b'\r').map_or(bytes.len(), |p| from + p)
}

/// The index of the `"""` closing a script that starts at `from`.
fn find_triple(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len().saturating_sub(2)).find(|&i| bytes.get(i..i + 3) == Some(b"\"\"\""))
}

/// The index of the delimiter closing the one at `open`, on the same line.
fn closing(bytes: &[u8], open: usize) -> Option<usize> {
    let delim = *bytes.get(open)?;
    let mut i = open + 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'\n' | b'\r' => return None,
            _ if b == delim => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn unterminated(file: FileId, text: &str, open: usize) -> Diagnostic {
    let end = line_end(text.as_bytes(), open);
    let (what, delim) =
        if text.as_bytes().get(open) == Some(&b'"') { ("string", "\"") } else { ("regular expression", "/") };
    Diagnostic::error(
        codes::UNTERMINATED,
        Span::new(file, open..end),
        format!("this {what} is not closed before the end of the line"),
    )
    .with_label(format!("{what} starts here"))
    .with_help(format!("end it with `{delim}` on the same line; write `\\{delim}` for a literal `{delim}`"))
}

/// Turns pest's error into a diagnostic that speaks of the language.
fn translate(file: FileId, text: &str, e: &pest::error::Error<Rule>) -> Diagnostic {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let found = found_at(text, pos);
    let mut expected: Vec<&'static str> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.iter().filter_map(|r| describe(*r)).collect(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let name = name_in_context(text, pos);
    for e in expected.iter_mut() {
        if *e == "a name" {
            *e = name;
        }
    }
    expected.sort_unstable();
    expected.dedup();
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", one_of(&expected))
    };
    let end = (pos + found_len(text, pos)).min(text.len());
    Diagnostic::error(codes::SYNTAX, Span::new(file, pos..end), message)
        .with_label("unexpected here")
        .with_help(hint(&expected))
}

/// What kind of name is expected at `pos`, from the word before it.
fn name_in_context(text: &str, pos: usize) -> &'static str {
    let before = text.get(..pos).unwrap_or("");
    let prev = before.split_whitespace().next_back().unwrap_or("");
    match prev {
        "then" | "hard" | "soft" | "block" | "defer" | "ignore" => "a reason",
        "scope" => "a scope (`recipient`, `sender_ip`, …)",
        "rule" => "a rule id",
        "receiver" => "a receiver name",
        "reason" => "a name for the reason",
        "phase" => "a phase (`connect`, `helo`, `mail`, `rcpt`, `data`)",
        "flag" => "a flag",
        _ => "a name",
    }
}

fn hint(expected: &[&str]) -> String {
    if expected.contains(&"`then`") {
        "a rule reads `rule ID { when CONDITION then [CLASS] REASON }`".into()
    } else if expected.contains(&"a reason") {
        "an outcome is `[hard|soft|block|defer|ignore] REASON [scope SCOPE]`".into()
    } else if expected.contains(&"`rule`") && expected.contains(&"`receiver`") {
        "a file holds `rule`, `receiver`, `reason`, `statuses` and `replies` blocks".into()
    } else if expected.contains(&"a test") {
        "a test is `code …`, `status …`, `text contains|matches|like …`, `phase …`, `mx …`, `domain …` or `flag …`"
            .into()
    } else {
        "see docs/language.md for the syntax".into()
    }
}

fn one_of(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn found_len(text: &str, pos: usize) -> usize {
    let rest = text.get(pos..).unwrap_or("");
    let first = rest.chars().next().map_or(0, char::len_utf8);
    let word = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len()).min(40);
    let mut n = word.max(first);
    while n < rest.len() && !rest.is_char_boundary(n) {
        n += 1;
    }
    n
}

fn found_at(text: &str, pos: usize) -> String {
    let rest = text.get(pos..).unwrap_or("");
    if rest.is_empty() {
        return "the end of the file".into();
    }
    let tok: String = rest.get(..found_len(text, pos)).unwrap_or("").chars().take(40).collect();
    format!("`{tok}`")
}

/// The words for a grammar rule in an error message; `None` hides it.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::kw_reason => "`reason`",
        Rule::kw_rule => "`rule`",
        Rule::kw_receiver => "`receiver`",
        Rule::kw_statuses => "`statuses`",
        Rule::kw_replies => "`replies`",
        Rule::kw_when => "`when`",
        Rule::kw_then => "`then`",
        Rule::kw_source | Rule::source_clause => "`source`",
        Rule::kw_observed | Rule::observed_clause => "`observed`",
        Rule::kw_note | Rule::note_clause => "`note`",
        Rule::kw_title | Rule::receiver_title => "`title`",
        Rule::kw_domains | Rule::receiver_domains => "`domains`",
        Rule::kw_mx | Rule::receiver_mx => "`mx`",
        Rule::kw_class | Rule::reason_class => "`class`",
        Rule::kw_scope | Rule::reason_scope => "`scope`",
        Rule::kw_on | Rule::reason_on => "`on`",
        Rule::kw_description | Rule::reason_description => "`description`",
        Rule::kw_or => "`or`",
        Rule::kw_and => "`and`",
        Rule::kw_contains | Rule::text_contains => "`contains`",
        Rule::kw_matches | Rule::text_matches => "`matches`",
        Rule::kw_like | Rule::text_like => "`like`",
        Rule::reason_decl => "`reason`",
        Rule::rule_decl => "`rule`",
        Rule::kw_extends | Rule::extends_decl => "`extends`",
        Rule::kw_replace | Rule::replace_rule | Rule::replace_lifecycle => "`replace`",
        Rule::kw_disable | Rule::disable_rule => "`disable`",
        Rule::kw_extend | Rule::extend_receiver => "`extend`",
        Rule::rule_ref => "a rule id (`user_unknown`, `gmail.user_unknown`)",
        Rule::kw_phrases | Rule::phrases_decl => "`phrases`",
        Rule::kw_stoplist | Rule::stoplist_decl => "`stoplist`",
        Rule::phrase_entry | Rule::phrase_pat | Rule::stop_entry => "a quoted phrase or `words`",
        Rule::kw_words | Rule::words_pat => "`words`",
        Rule::kw_weak => "`weak`",
        Rule::kw_except | Rule::phrase_except => "`except`",
        Rule::phrase_extra => "`source` or `note`",
        Rule::kw_subjects | Rule::reason_subjects => "`subjects`",
        Rule::receiver_decl => "`receiver`",
        Rule::statuses => "`statuses`",
        Rule::replies => "`replies`",
        Rule::when_clause => "`when`",
        Rule::then_clause => "`then`",
        Rule::condition
        | Rule::or_expr
        | Rule::and_expr
        | Rule::unary
        | Rule::kw_not
        | Rule::kw_inner
        | Rule::inner
        | Rule::code_test
        | Rule::status_test
        | Rule::text_test
        | Rule::phase_test
        | Rule::mx_test
        | Rule::domain_test
        | Rule::flag_test
        | Rule::kw_code
        | Rule::kw_status
        | Rule::kw_text
        | Rule::kw_phase
        | Rule::kw_domain
        | Rule::kw_flag
        | Rule::kw_script
        | Rule::kw_call
        | Rule::kw_phrase
        | Rule::phrase_test
        | Rule::script_test
        | Rule::call_test => "a test",
        Rule::class_name => "a class (`hard`, `soft`, `block`, `defer`, `ignore`)",
        Rule::outcome_body => "an outcome",
        Rule::reason_ref => "a reason",
        Rule::scope_ref => "a scope (`recipient`, `sender_ip`, …)",
        Rule::name => "a name",
        Rule::string | Rule::string_inner => "a quoted string",
        Rule::script_src | Rule::triple_string => "a script (`\"…\"` or `\"\"\"…\"\"\"`)",
        Rule::regex | Rule::regex_inner => "a regular expression between slashes",
        Rule::code_token | Rule::code_list => "a reply code (`550`, `55x`, `550..554`)",
        Rule::status_token | Rule::status_list => "a status code (`5.1.1`, `5.7.*`, `x.7.26`)",
        Rule::date => "a date (`2026-11-01`)",
        Rule::host | Rule::host_list => "a domain or host pattern (`gmail.com`, `*.google.com`)",
        Rule::status_entry => "a status code (`5.1.1`, `5.7.*`, `x.7.26`)",
        Rule::reply_entry => "a reply code (`550`, `55x`, `550..554`)",
        Rule::reason_field => "a reason field (`class`, `scope`, `on`, `description`)",
        Rule::receiver_field => "`title`, `domains`, `mx` or `rule`",
        Rule::rule_extra => "`source`, `observed` or `note`",
        Rule::EOI => "the end of the file",
        // Silent helpers, comments and the file itself are never named.
        _ => return None,
    })
}

/// Keeps pest's `Rule` private but lets the builder name it.
pub(crate) use grammar::Rule as PestRule;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_small_file() {
        let f = parse(0, "rule a { when code 550 then hard user_unknown }").unwrap();
        assert_eq!(f.items.len(), 1);
    }

    #[test]
    fn keywords_are_not_names() {
        assert!(parse(0, "rule a { when code 550 then hard source }").is_err());
        assert!(parse(0, "rule notes { when code 550 then hard user_unknown }").is_ok());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("rule a {{ when {}code 550{} then hard x }}", "(".repeat(100), ")".repeat(100));
        let e = parse(0, &text).unwrap_err();
        assert_eq!(e[0].code, codes::TOO_DEEP);
    }
}
