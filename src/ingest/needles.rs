//! Fixed phrase lists searched in one pass.
//!
//! The readers of bounce prose ask many "does this text say any of these
//! phrases?" questions (markers of the returned message, bounce wording,
//! the words before a receiver's answer). Lowercasing a whole notification
//! and calling `contains` once per phrase builds a new substring searcher
//! for every phrase and walks the text as many times; a [`Needles`] set is
//! one Aho-Corasick automaton, built once per process, that walks the text
//! once and ignores ASCII case by itself — with exactly the answers of
//! `text.to_ascii_lowercase().contains(phrase)` for lowercase phrases (the
//! byte offsets are the same too, since ASCII lowercasing keeps lengths).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use memchr::memmem::Finder;

/// A list of lowercase phrases, matched ignoring ASCII case.
pub struct Needles {
    /// `None` only when the automaton could not be built, which a short
    /// fixed list never causes (the tests build every set); then nothing
    /// is found, like a pattern that fails to compile elsewhere.
    ac: Option<AhoCorasick>,
    /// One searcher per phrase, for [`Needles::first_of_each`].
    finders: Vec<Finder<'static>>,
}

impl Needles {
    /// Builds the set. The phrases must not hold ASCII capitals (they would
    /// never match a lowercased text, and would match here): checked in
    /// debug builds.
    pub fn new(phrases: &[&str]) -> Needles {
        debug_assert!(phrases.iter().all(|p| !p.bytes().any(|b| b.is_ascii_uppercase())), "{phrases:?}");
        let ac =
            AhoCorasickBuilder::new().ascii_case_insensitive(true).match_kind(MatchKind::Standard).build(phrases).ok();
        let finders = phrases.iter().map(|p| Finder::new(p.as_bytes()).into_owned()).collect();
        Needles { ac, finders }
    }

    /// Whether any phrase occurs in `text`.
    pub fn any_in(&self, text: &str) -> bool {
        self.ac.as_ref().is_some_and(|ac| ac.is_match(text))
    }

    /// The start of the first occurrence of any phrase in `text`.
    pub fn first_in(&self, text: &str) -> Option<usize> {
        self.ac.as_ref()?.find(text).map(|m| m.start())
    }

    /// Every occurrence of every phrase, overlapping ones included, as
    /// (phrase index, start, end), in order of their ends. For short texts
    /// (a line): an overlapping search is much slower than [`Needles::first_in`].
    pub fn all_in<'a>(&'a self, text: &'a str) -> impl Iterator<Item = (usize, usize, usize)> + 'a {
        self.ac
            .iter()
            .flat_map(move |ac| ac.find_overlapping_iter(text))
            .map(|m| (m.pattern().as_usize(), m.start(), m.end()))
    }

    /// The start of each phrase's first occurrence in `text`, by phrase
    /// index (what `find` on the lowercased text gives for each): each
    /// phrase's prebuilt searcher over one lowercased copy, faster here than
    /// an overlapping automaton search.
    pub fn first_of_each(&self, text: &str) -> Vec<Option<usize>> {
        let lower = text.to_ascii_lowercase();
        self.finders.iter().map(|f| f.find(lower.as_bytes())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the sets replace: lowercase the text, then `find` each phrase.
    fn lowercase_find(phrases: &[&str], text: &str) -> Vec<Option<usize>> {
        let lower = text.to_ascii_lowercase();
        phrases.iter().map(|p| lower.find(p)).collect()
    }

    #[test]
    fn answers_as_lowercase_and_find_do() {
        let phrases = ["said:", "remote host said:", "error:", "ä error", "rcpt to", "to:"];
        let set = Needles::new(&phrases);
        for text in [
            "Remote host SAID: 550 no",
            "ERROR: said: x; Error: y",
            "Ä ERROR: ä error ",
            ">>> RCPT TO:<a@b>",
            "nothing at all",
            "",
        ] {
            assert_eq!(set.first_of_each(text), lowercase_find(&phrases, text), "{text:?}");
            assert_eq!(set.any_in(text), lowercase_find(&phrases, text).iter().any(Option::is_some), "{text:?}");
        }
    }

    #[test]
    fn overlapping_occurrences_are_all_reported() {
        let set = Needles::new(&["of the message", "copy of the message"]);
        let mut found: Vec<_> = set.all_in("A COPY OF THE MESSAGE").collect();
        found.sort();
        assert_eq!(found, [(0, 7, 21), (1, 2, 21)]);
    }
}
