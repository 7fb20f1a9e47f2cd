//! Running the recognizers over one window of a text.

use super::interrupts::check;
use super::{Entity, EntitySet, Found, digits, email, ipv6, secret};

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

/// The entities whose matches always contain an ASCII digit, all found by
/// one pass over the window's digit runs.
const DIGIT_ENTITIES: [Entity; 4] = [
    Entity::PhoneNumber,
    Entity::CreditCard,
    Entity::IbanCode,
    Entity::IpAddress,
];

/// Appends every candidate of `wanted` found in `window` to `out`, unresolved.
///
/// Each recognizer is one pass over the window, so `check()` runs before
/// each: between two checks no more than one window's bytes are scanned.
pub(super) fn scan_window(window: &Window, wanted: EntitySet, out: &mut Vec<Found>) {
    if wanted.contains(Entity::Secret) {
        check();
        secret::scan(window, out);
    }
    if wanted.contains(Entity::EmailAddress) {
        check();
        email::scan(window, out);
    }
    if wanted.contains(Entity::IpAddress) {
        check();
        ipv6::scan(window, out);
    }
    if DIGIT_ENTITIES.into_iter().any(|e| wanted.contains(e)) {
        check();
        digits::scan(window, wanted, out);
    }
}
