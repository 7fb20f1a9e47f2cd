//! What a recognizer of digit runs (`digits`) makes of one run.

use std::ops::Range;

/// What a recognizer made of a digit run.
pub(super) enum Verdict {
    /// A match starting at (or, for an IBAN's letters or a phone number's
    /// `+` or `(`, just before) the run.
    Match(Range<usize>),
    /// None here; the runs before this byte belong to the same rejected
    /// number, so none of them starts a match either.
    RejectedThrough(usize),
    /// None here.
    NoMatch,
}

impl From<Option<Range<usize>>> for Verdict {
    fn from(found: Option<Range<usize>>) -> Verdict {
        found.map_or(Verdict::NoMatch, Verdict::Match)
    }
}
