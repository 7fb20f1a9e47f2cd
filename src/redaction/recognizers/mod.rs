//! Personal-data recognizers for "redact at export".
//!
//! [`find`] returns where a text holds e-mail addresses, phone numbers,
//! payment card numbers, IBANs, IP addresses and credentials, as byte
//! ranges the exporter replaces with placeholders (`<EMAIL_ADDRESS>`, see
//! [`Entity::label`]).
//!
//! # Design
//!
//! - **Linear time.** Regexes use the `regex` crate (finite automata, no
//!   backtracking), are compiled once, and each anchors on a literal prefix
//!   or a rare byte, so ordinary prose is skipped at memory speed.
//!   Recognizers whose trigger byte is absent (`@`, `:`, a digit, a secret
//!   prefix) cost one vectorized search.
//! - **Cancellable.** The text is scanned in windows of about
//!   `PIECE_BYTES` ([`windows`]), with an interrupt check before each
//!   recognizer's pass over a window; PEM blocks, the one match that spans
//!   lines, are found in a separate chunked pass with its own checks.
//! - **Cut-independent.** Windows are cut where no match can lie (after a
//!   newline, between two plain words, after a delimiter), and recognizers
//!   read context from the whole text, so the result equals a scan of the
//!   text as a single window.
//! - **Precision first.** Every match is validated (Luhn, mod 97, address
//!   parsers, shape rules) and must not be glued to a longer word.

#![forbid(unsafe_code)]

mod card;
mod digits;
mod email;
mod entity;
mod iban;
mod iban_registry;
mod ipv4;
mod ipv6;
mod pem;
mod phone;
mod phone_shape;
mod resolve;
mod run_verdict;
mod scan;
mod secret;
mod text;
mod window;
mod windows;

#[cfg(test)]
mod tests;

pub use entity::{Entity, EntitySet};

/// The extension's interrupt hook; the one path to repoint on import.
use crate::pg::interrupts;

use scan::scan_window;
use std::ops::Range;
use window::Window;

/// One match: `text[start..end]` is an entity of kind `entity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub entity: Entity,
}

/// Every entity of `wanted` in `text`, as non-overlapping byte ranges in
/// order.
///
/// Overlaps resolve by the longer match, then by priority Secret >
/// EmailAddress > IbanCode > CreditCard > IpAddress > PhoneNumber. Ranges
/// always fall on char boundaries.
pub fn find(text: &str, wanted: EntitySet) -> Vec<Found> {
    find_in(
        text,
        wanted,
        windows::Windows::new(text, interrupts::PIECE_BYTES),
    )
}

/// [`find`], scanning the given windows (which must tile `text`).
fn find_in(
    text: &str,
    wanted: EntitySet,
    windows: impl IntoIterator<Item = Range<usize>>,
) -> Vec<Found> {
    let mut candidates = Vec::new();
    if wanted.is_empty() {
        return candidates;
    }
    if wanted.contains(Entity::Secret) {
        pem::scan(text, &mut candidates);
    }
    for range in windows {
        let window = Window {
            text,
            start: range.start,
            end: range.end,
        };
        scan_window(&window, wanted, &mut candidates);
    }
    resolve::non_overlapping(candidates)
}
