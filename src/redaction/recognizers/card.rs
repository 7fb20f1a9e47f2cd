//! Payment card numbers: 12–19 digits (12 for Maestro only), optionally
//! grouped by single spaces or hyphens, with a known issuer prefix and a
//! valid Luhn check digit.

use super::text::{char_before, continues_number, word_at, word_before};
use std::ops::Range;

/// An issuer identification range: numbers whose first `digits` digits lie
/// in `lo..=hi`, with a length (in digits) whose bit is set in `lengths`.
struct Issuer {
    digits: usize,
    lo: u32,
    hi: u32,
    lengths: u32,
    /// Taken only after a payment word (see `PAYMENT_WORDS`).
    needs_context: bool,
}

const fn lengths(from: u32, to: u32) -> u32 {
    (1 << (to + 1)) - (1 << from)
}

const fn issuer(digits: usize, lo: u32, hi: u32, lengths: u32) -> Issuer {
    Issuer {
        digits,
        lo,
        hi,
        lengths,
        needs_context: false,
    }
}

const fn after_payment_word(issuer: Issuer) -> Issuer {
    Issuer {
        needs_context: true,
        ..issuer
    }
}

/// Words that say a number nearby is a card's (ASCII, lower case).
const PAYMENT_WORDS: &[&str] = &[
    "card",
    "credit",
    "debit",
    "pay",
    "paid",
    "payment",
    "charge",
    "declined",
    "maestro",
    "visa",
    "mastercard",
];

/// How far before a number a payment word may stand, in bytes.
const CONTEXT_BYTES: usize = 48;

/// Whether a payment word stands in the `CONTEXT_BYTES` before `start`.
fn after_a_payment_word(text: &str, start: usize) -> bool {
    let mut from = start.saturating_sub(CONTEXT_BYTES);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let before = text[from..start].to_ascii_lowercase();
    before
        .split(|c: char| !c.is_ascii_alphabetic())
        .any(|word| PAYMENT_WORDS.contains(&word))
}

/// The brands the module recognizes; lengths are each brand's issued ones,
/// so a Visa-looking 15-digit number is not taken for a card.
const ISSUERS: [Issuer; 25] = [
    issuer(1, 4, 4, 1 << 13 | 1 << 16 | 1 << 19), // Visa
    issuer(2, 51, 55, 1 << 16),                   // Mastercard
    issuer(4, 2221, 2720, 1 << 16),               // Mastercard 2-series
    issuer(2, 34, 34, 1 << 15),                   // American Express
    issuer(2, 37, 37, 1 << 15),                   // American Express
    issuer(4, 6011, 6011, lengths(16, 19)),       // Discover
    issuer(3, 644, 649, lengths(16, 19)),         // Discover
    issuer(2, 65, 65, lengths(16, 19)),           // Discover
    issuer(3, 300, 305, lengths(14, 19)),         // Diners Club
    issuer(2, 36, 36, lengths(14, 19)),           // Diners Club
    issuer(2, 38, 38, lengths(14, 19)),           // Diners Club
    issuer(2, 35, 35, lengths(16, 19)),           // JCB (3528–3589 issued; 35 as generated)
    issuer(4, 2131, 2131, 1 << 15),               // JCB, 15 digits
    issuer(4, 1800, 1800, 1 << 15),               // JCB, 15 digits
    issuer(2, 50, 50, lengths(13, 19)),           // Maestro
    issuer(2, 56, 69, lengths(13, 19)),           // Maestro, UnionPay (62)
    // 12-digit Maestro, only under the prefixes issued for it: a 12-digit
    // run passes Luhn one time in ten, so the wider ranges would flag ids.
    issuer(4, 5018, 5018, 1 << 12),
    issuer(4, 5020, 5020, 1 << 12),
    issuer(4, 5038, 5038, 1 << 12),
    // The 56–58 range is wide: a 12-digit number there needs a payment word.
    after_payment_word(issuer(2, 56, 58, 1 << 12)),
    issuer(4, 6304, 6304, 1 << 12),
    issuer(4, 6759, 6759, 1 << 12),
    issuer(4, 6761, 6763, 1 << 12),
    issuer(4, 6390, 6390, 1 << 12),
    issuer(4, 604, 604, lengths(12, 19)), // Maestro 0604
];

/// The Luhn (mod 10) check over digit values `0..=9`, last digit the check.
fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            match (i % 2 == 1, d * 2) {
                (true, twice) if twice > 9 => twice - 9,
                (true, twice) => twice,
                (false, _) => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// How a digit string reads as a card number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CardReading {
    No,
    Yes,
    /// Only after a payment word.
    InContext,
}

/// Does this digit string (values `0..=9`) read as a card number?
pub(super) fn card_reading(digits: &[u8]) -> CardReading {
    let prefix = |n: usize| {
        digits[..n]
            .iter()
            .fold(0, |acc, &d| acc * 10 + u32::from(d))
    };
    if !(12..=19).contains(&digits.len()) || !luhn(digits) {
        return CardReading::No;
    }
    let issuers = ISSUERS.iter().filter(|i| {
        (i.lo..=i.hi).contains(&prefix(i.digits)) && i.lengths & 1 << digits.len() != 0
    });
    let mut reading = CardReading::No;
    for issuer in issuers {
        if !issuer.needs_context {
            return CardReading::Yes;
        }
        reading = CardReading::InContext;
    }
    reading
}

#[cfg(test)]
fn is_card_number(digits: &[u8]) -> bool {
    card_reading(digits) == CardReading::Yes
}

/// The card number starting at the digit run `run`, if any.
///
/// The digits run on through single spaces or hyphens; the longest prefix of
/// whole groups that is a card number wins, so a trailing expiry date or
/// amount (`4111 1111 1111 1111 12/26`) is left out. The first group holds
/// at least the 4-digit issuer prefix, and starts with 0–6 as every issuer
/// does: both rule out most digit runs at a glance. A card never follows a
/// hyphen, dot, comma, slash or `+` (it would be part of a longer number or
/// identifier), nor continues into one.
pub(super) fn at(text: &str, run: Range<usize>) -> Option<Range<usize>> {
    let bytes = text.as_bytes();
    if run.len() < 4
        || !(b'0'..=b'6').contains(&bytes[run.start])
        || word_before(text, run.start)
        || char_before(text, run.start).is_some_and(|c| "-.,/+".contains(c))
    {
        return None;
    }
    let mut digits = [0u8; 19];
    let mut count = 0;
    let mut longest = None;
    let mut pos = run.start;
    loop {
        while let Some(&b) = bytes.get(pos).filter(|b| b.is_ascii_digit()) {
            if count == digits.len() {
                // Past 19 digits: this group cannot end a card number.
                return longest;
            }
            digits[count] = b - b'0';
            count += 1;
            pos += 1;
        }
        let reading = card_reading(&digits[..count]);
        let taken = reading == CardReading::Yes
            || (reading == CardReading::InContext && after_a_payment_word(text, run.start));
        if ends_cleanly(text, pos) && taken {
            longest = Some(run.start..pos);
        }
        let separated = matches!(bytes.get(pos), Some(b' ' | b'-'))
            && bytes.get(pos + 1).is_some_and(u8::is_ascii_digit);
        if !separated {
            return longest;
        }
        pos += 1;
    }
}

/// May a card number end at byte `end`? Not inside a word, nor where a
/// hyphen, dot or comma carries the number on (a space may: what follows
/// is another number).
fn ends_cleanly(text: &str, end: usize) -> bool {
    !(word_at(text, end) || continues_number(text, end, b"-.,"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> Vec<u8> {
        s.bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect()
    }

    fn card_in(text: &str) -> Option<&str> {
        super::super::digits::matched_at_first_run(at, text)
    }

    #[test]
    fn luhn_known_values() {
        assert!(luhn(&digits("79927398713")));
        assert!(!luhn(&digits("79927398710")));
        assert!(luhn(&digits("4111111111111111")));
        assert!(!luhn(&digits("4111111111111112")));
        assert!(luhn(&digits("0")));
        assert!(luhn(&digits("18")));
        assert!(!luhn(&digits("19")));
    }

    #[test]
    fn every_brand() {
        for n in [
            "4111111111111111",    // Visa 16
            "4222222222222",       // Visa 13
            "4111111111111111110", // Visa 19
            "5555555555554444",    // Mastercard
            "2223003122003222",    // Mastercard 2-series
            "378282246310005",     // Amex
            "371449635398431",     // Amex
            "6011111111111117",    // Discover
            "6445644564456445",    // Discover 644-649
            "6500000000000002",    // Discover 65
            "30569309025904",      // Diners 14
            "38520000023237",      // Diners 38
            "36227206271667",      // Diners 36
            "3530111333300000",    // JCB
            "6200000000000005",    // UnionPay
            "5018000000000009",    // Maestro 50
            "6759649826438453",    // Maestro 67
        ] {
            assert!(is_card_number(&digits(n)), "{n}");
        }
    }

    #[test]
    fn unknown_prefix_wrong_length_or_bad_check_digit() {
        for n in [
            "1111111111111117",     // no issuer starts with 1
            "9111111111111111",     // nor 9
            "7111111111111114",     // nor 7
            "411111111111111",      // Visa is never 15 digits
            "37828224631000",       // Amex is 15 digits
            "5555555555554445",     // bad check digit
            "555555555555444",      // Mastercard is 16 digits
            "424242424242",         // 12 digits
            "42424242424242424242", // 20 digits
        ] {
            assert!(!is_card_number(&digits(n)), "{n}");
        }
    }

    #[test]
    fn grouped_by_spaces_or_hyphens() {
        assert_eq!(
            card_in("pay 4111 1111 1111 1111 now"),
            Some("4111 1111 1111 1111")
        );
        assert_eq!(
            card_in("pay 4111-1111-1111-1111."),
            Some("4111-1111-1111-1111")
        );
        assert_eq!(card_in("amex 3782 822463 10005"), Some("3782 822463 10005"));
        assert_eq!(card_in("(4111111111111111)"), Some("4111111111111111"));
        assert_eq!(card_in("card:5555555555554444"), Some("5555555555554444"));
    }

    #[test]
    fn trailing_numbers_are_left_out() {
        assert_eq!(
            card_in("4111 1111 1111 1111 12/26"),
            Some("4111 1111 1111 1111")
        );
        assert_eq!(
            card_in("4111 1111 1111 1111 2026 ok"),
            Some("4111 1111 1111 1111")
        );
    }

    #[test]
    fn not_inside_longer_numbers_or_words() {
        for text in [
            "41111111111111111111", // 20-digit run
            "x4111111111111111",    // glued to a word
            "4111111111111111x",
            "4111111111111111_",
            "id-4111111111111111", // part of an identifier
            "9-4111111111111111",
            "1.4111111111111111",
            "4111111111111111.5",
            "4111111111111111,25",
            "+4111111111111111",    // phone-like
            "4111  1111 1111 1111", // double space breaks the grouping
            "4 111 1111 1111 1111", // the issuer prefix is split
            "4111 1111 1111 1112",  // bad check digit
        ] {
            assert_eq!(card_in(text), None, "{text}");
        }
    }

    #[test]
    fn a_wide_range_12_digit_number_needs_a_payment_word() {
        assert_eq!(
            card_in("I paid with 5678 9012 3456 yesterday"),
            Some("5678 9012 3456")
        );
        assert_eq!(card_in("Card: 5678-9012-3456."), Some("5678-9012-3456"));
        assert_eq!(card_in("ticket 5678 9012 3456 is open"), None);
        assert_eq!(card_in("5678 9012 3456"), None);
    }
}
