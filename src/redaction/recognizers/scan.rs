//! Running the recognizers over one window of a text.

use super::interrupts::check;
use super::window::Window;
use super::{Entity, EntitySet, Found, digits, email, ipv6, secret};

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
