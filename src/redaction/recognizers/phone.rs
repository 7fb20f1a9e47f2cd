//! Phone numbers, international and national, in the formats people (and
//! Faker's en_US, en_GB, de_DE, fr_FR, it_IT, es_ES, nl_NL, pt_BR and ja_JP
//! locales) write them: `+1-415-555-0132`, `(415) 555-0132`,
//! `415.555.0132 x123`, `+44 20 7946 0958`, `030 12345678`,
//! `+49 (0) 30 1234567`, `01 23 45 67 89`.
//!
//! Digits are everywhere in text, so the rule is precision first. A regex
//! finds the extent of a candidate (digit groups joined by single
//! separators, optional `+`, parenthesized groups and an extension); its
//! [`Shape`](super::phone_shape::Shape) then decides.

use super::phone_shape::Shape;
use super::run_verdict::Verdict;
use super::text::{char_before, continues_number, is_word, word_at};
use super::{card, iban};
use regex::Regex;
use std::ops::Range;
use std::sync::LazyLock;

/// Anchored: it only measures a candidate starting at a digit run.
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    let group = r"(?:\([0-9]{1,5}\)|[0-9]{1,12})";
    // One separator, maybe with spaces around `-`, `.` or `/`; or none,
    // next to a parenthesis as in `(415)555-0132`.
    let separator = r"(?: ?[-./] ?| )?";
    let extension = r"(?: ?(?:[xX]|[eE][xX][tT](?:[eE][nN][sS][iI][oO][nN]|\.)?|#) ?[0-9]{1,6})?";
    Regex::new(&format!(
        r"^(?:\+ ?)?{group}(?:{separator}{group}){{0,8}}{extension}"
    ))
    .expect("phone pattern is valid")
});

/// Currency signs: digits after one are an amount (`$1 299 000 000`).
const CURRENCIES: &str = "$€£¥₹";

/// The phone number starting at the digit run `run` (or at a `+` or `(`
/// just before it), if any.
///
/// A card number, an IBAN, or a candidate of more than 15 digits without a
/// date, is one long number: no phone number starts inside it either (the
/// `1111 1111 1111` of a card), even when cards and IBANs are not wanted.
/// Any other rejection leaves the later runs free
/// (`2024-05-01 415-555-0132`).
pub(super) fn at(text: &str, run: Range<usize>) -> Verdict {
    if let Some(other) = card::at(text, run.clone()).or_else(|| iban::at(text, run.clone())) {
        return Verdict::RejectedThrough(other.end);
    }
    if !enough_digits_ahead(text, &run) {
        return Verdict::NoMatch;
    }
    let bytes = text.as_bytes();
    let mut start = run.start;
    if start > 0 && bytes[start - 1] == b'(' {
        start -= 1;
    }
    if start > 0 && bytes[start - 1] == b'+' {
        start -= 1;
    }
    match from(text, start) {
        // `(415-555-0132)`: the parenthesis does not belong to the number.
        Verdict::NoMatch if start < run.start => from(text, run.start),
        verdict => verdict,
    }
}

/// A quick necessary condition, so that the `3` of `3 days` costs no
/// regex search: a number has at least 7 digits, so either the run is that
/// long or another digit follows it after at most three separator bytes.
fn enough_digits_ahead(text: &str, run: &Range<usize>) -> bool {
    let after = &text.as_bytes()[run.end..];
    let separators = after
        .iter()
        .take(3)
        .take_while(|b| b" -./()".contains(b))
        .count();
    run.len() >= 7 || after.get(separators).is_some_and(u8::is_ascii_digit)
}

fn from(text: &str, start: usize) -> Verdict {
    if !starts_cleanly(text, start) {
        return Verdict::NoMatch;
    }
    let Some(found) = PHONE.find(&text[start..]) else {
        return Verdict::NoMatch;
    };
    let end = start + found.end();
    let shape = Shape::parse(found.as_str());
    if shape.is_phone() && ends_cleanly(text, end) {
        Verdict::Match(start..end)
    } else if shape.is_long_number() {
        Verdict::RejectedThrough(end)
    } else {
        Verdict::NoMatch
    }
}

/// A number does not continue a word (`ID4155550132`), a longer token
/// (`v-415…`, `1.2`, `1,299`), a time (`10:30`) or an amount, nor follow a
/// `+` it did not start with.
fn starts_cleanly(text: &str, start: usize) -> bool {
    let Some(before) = char_before(text, start) else {
        return true;
    };
    let earlier = char_before(text, start - before.len_utf8());
    let currency = |c: Option<char>| c.is_some_and(|c| CURRENCIES.contains(c));
    match before {
        '+' => false,
        '-' | '.' | '/' | ',' => !earlier.is_some_and(char::is_alphanumeric),
        ':' => !earlier.is_some_and(|c| c.is_ascii_digit()),
        ' ' => !currency(earlier),
        c => !is_word(c) && !currency(Some(c)),
    }
}

/// Nor does it run on into a word or a longer number (`0132.5`, `0132-7`).
fn ends_cleanly(text: &str, end: usize) -> bool {
    !(word_at(text, end) || continues_number(text, end, b"-./,:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The phone numbers found starting at each digit run, as the digit
    /// driver does it: a run inside an accepted number is not tried again.
    fn phones(text: &str) -> Vec<&str> {
        let mut found = Vec::new();
        let mut resume = 0;
        let bytes = text.as_bytes();
        for i in 0..bytes.len() {
            let starts_run =
                bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit());
            if starts_run && i >= resume {
                let end = bytes[i..]
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .map_or(bytes.len(), |n| i + n);
                match at(text, i..end) {
                    Verdict::Match(r) => {
                        resume = r.end;
                        found.push(&text[r]);
                    }
                    Verdict::RejectedThrough(end) => resume = end,
                    Verdict::NoMatch => {}
                }
            }
        }
        found
    }

    #[test]
    fn formats_from_the_brief() {
        for number in [
            "+1-415-555-0132",
            "(415) 555-0132",
            "415.555.0132 x123",
            "+44 20 7946 0958",
            "030 12345678",
            "+49 (0) 30 1234567",
            "01 23 45 67 89",
            "+33 1 23 45 67 89",
            "415-555-0132 ext. 123",
            "415-555-0132 Ext 12",
            "415-555-0132 extension 4",
            "415-555-0132 #12",
        ] {
            for text in [
                number.to_string(),
                format!("call {number} now"),
                format!("({number})"),
                format!("tel:{number}."),
            ] {
                assert_eq!(phones(&text), [number], "{text}");
            }
        }
    }

    #[test]
    fn more_national_and_international_shapes() {
        for number in [
            "(591)341-7776",
            "206.269.0743x9150",
            "+1-537-640-6812x41586",
            "001-572-611-9360",
            "1-800-555-0199",
            "1 (800) 555-0199",
            "+44(0)115 4960914",
            "+448081570344",
            "(0161) 4960066",
            "(01632) 960391",
            "0191 4960657",
            "+49(0)6812415868",
            "(03449) 78690",
            "00008063608",
            "0232781286",
            "+33 (0)1 41 63 60 83",
            "07 88 35 33 74",
            "04.15.39.15.00",
            "+39 0925141776",
            "016549996",
            "+34 948 812 415",
            "+34976 631 706",
            "+31(0)83-4497869",
            "(0406)-812415",
            "0011-070434",
            "+55 61 9141-7776",
            "12 3915-0008",
            "080-9141-7776",
            "75-6508-8995",
            "+81 3 1234 5678",
            "+14155550132",
            "+1 415 555 0132",
            "0044 20 7946 0958",
            "030/12345678",
            "+41 44 668 18 00",
        ] {
            assert_eq!(
                phones(&format!("Phone: {number}, thanks")),
                [number],
                "{number}"
            );
        }
    }

    #[test]
    fn not_phone_numbers() {
        for text in [
            "version 1.2.3 and 10.0.19041 and 10.0.19041.1234",
            "released 2024-05-01, due 01/05/2024 or 2024.05.01",
            "on 2024-05-01 10:30:00 and 2024-05-01T10:30:00Z",
            "at 12:30:45 or 12:30",
            "costs 1,299.00 or $1 299 or $ 1 299 000 000 or €1.299.000.000",
            "population 1 234 567 890",
            "id 123e4567-e89b-12d3-a456-426614174000",
            "sha 3f786850e387550fdab836ed7e6dc881de23001b",
            "sha 8813c5a0e1b86e4b7d1e0c0c9b4b6d1e3b2f4a5c",
            "user4155550132 or order_4155550132 or ID-4155550132",
            "ip 192.168.100.200 or 172.16.254.100 or 10.0.0.1",
            "card 4111 1111 1111 1111 or 378282246310005 or 3782 822463 10005",
            "x = 12345678",
            "count 5272868387 rows",
            "isbn 978-3-16-148410-0 or 0-306-40615-2",
            "555-0132",
            "call 4155550132x",
            "+0 123 456 789",
            "v2.4155550132",
            "timestamp 20240501103000",
            "2024-05-01 415",
            "pages 12 14 16",
            "0x12345678",
        ] {
            assert!(phones(text).is_empty(), "{text}: {:?}", phones(text));
        }
    }

    #[test]
    fn next_to_other_numbers() {
        assert_eq!(phones("2024-05-01 415-555-0132"), ["415-555-0132"]);
        assert_eq!(phones("(415-555-0132)"), ["415-555-0132"]);
        assert_eq!(
            phones("415-555-0132, 415-555-0133"),
            ["415-555-0132", "415-555-0133"]
        );
    }
}
