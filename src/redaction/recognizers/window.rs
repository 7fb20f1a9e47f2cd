//! One window of a text: where recognizers look for matches starting, with
//! the whole text around it for context.

#[cfg(test)]
use super::Found;

/// The bytes `start..end` of `text`, where recognizers look for matches
/// *starting*; they still read the whole `text` for the context around a
/// match, so cutting the text never changes a verdict.
pub(super) struct Window<'t> {
    pub text: &'t str,
    pub start: usize,
    pub end: usize,
}

impl<'t> Window<'t> {
    /// Everything up to the window's end: what a regex searches, from
    /// `start`, so it sees the real characters before the window.
    pub fn hay(&self) -> &'t str {
        &self.text[..self.end]
    }

    /// The window's own bytes, for `memchr`.
    pub fn bytes(&self) -> &'t [u8] {
        &self.text.as_bytes()[self.start..self.end]
    }
}

/// What one recognizer's `scan` finds in the whole `text` as one window, as
/// the matched strings: what its unit tests compare.
#[cfg(test)]
pub(super) fn matched_by(scan: fn(&Window, &mut Vec<Found>), text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    scan(
        &Window {
            text,
            start: 0,
            end: text.len(),
        },
        &mut out,
    );
    out.iter().map(|f| &text[f.start..f.end]).collect()
}
