//! IBANs: country code, two check digits and the BBAN, at the country's
//! exact length, compact or in groups of four, passing ISO 7064 mod 97-10.

use super::iban_registry::{self, MAX_LEN};
use super::text::{word_at, word_before};
use std::ops::Range;

/// ISO 7064 MOD 97-10 over an upper-case IBAN: move the first four
/// characters to the end, read letters as 10..=35, and the number must
/// leave remainder 1 modulo 97.
pub(super) fn mod97_valid(iban: &[u8]) -> bool {
    if iban.len() < 5 {
        return false;
    }
    let rotated = iban[4..].iter().chain(&iban[..4]);
    let mut rest = 0u32;
    for &c in rotated {
        let value = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        let scale = if value < 10 { 10 } else { 100 };
        rest = (rest * scale + value) % 97;
    }
    rest == 1
}

/// The IBAN whose check digits start the digit run `run`, if any.
///
/// Triggered by digit runs because every IBAN has its check digits right
/// after two letters. Input may be any case; it must not be glued to a
/// longer word on either side.
pub(super) fn at(text: &str, run: Range<usize>) -> Option<Range<usize>> {
    let bytes = text.as_bytes();
    let start = run.start.checked_sub(2)?;
    let country = [
        bytes[start].to_ascii_uppercase(),
        bytes[start + 1].to_ascii_uppercase(),
    ];
    if !country.iter().all(u8::is_ascii_uppercase) || run.len() < 2 || word_before(text, start) {
        return None;
    }
    let len = iban_registry::length(country)?;
    // Grouped IBANs put a single space after every fourth character.
    let grouped = bytes.get(start + 4) == Some(&b' ');
    let mut iban = [0u8; MAX_LEN];
    let mut pos = start;
    for (i, slot) in iban[..len].iter_mut().enumerate() {
        if grouped && i > 0 && i % 4 == 0 {
            if bytes.get(pos) != Some(&b' ') {
                return None;
            }
            pos += 1;
        }
        let c = *bytes.get(pos).filter(|c| c.is_ascii_alphanumeric())?;
        *slot = c.to_ascii_uppercase();
        pos += 1;
    }
    (!word_at(text, pos) && mod97_valid(&iban[..len])).then_some(start..pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iban_in(text: &str) -> Option<&str> {
        super::super::digits::matched_at_first_run(at, text)
    }

    #[test]
    fn mod97_known_values() {
        assert!(mod97_valid(b"GB82WEST12345698765432"));
        assert!(mod97_valid(b"DE89370400440532013000"));
        assert!(mod97_valid(b"NO9386011117947"));
        assert!(mod97_valid(b"LC55HEMM000100010012001200023015"));
        assert!(!mod97_valid(b"GB82WEST12345698765433"));
        assert!(!mod97_valid(b"GB28WEST12345698765432"));
        assert!(
            !mod97_valid(b"gb82WEST12345698765432"),
            "validator expects upper case"
        );
        assert!(!mod97_valid(b"GB82"));
    }

    #[test]
    fn registry_examples_compact_and_grouped() {
        for example in [
            "AD12 0001 2030 2003 5910 0100",
            "BE68 5390 0754 7034",
            "BR18 0036 0305 0000 1000 9795 493C 1",
            "CH93 0076 2011 6238 5295 7",
            "DE89 3704 0044 0532 0130 00",
            "FR14 2004 1010 0505 0001 3M02 606",
            "GB29 NWBK 6016 1331 9268 19",
            "IT60 X054 2811 1010 0000 0123 456",
            "LC55 HEMM 0001 0001 0012 0012 0002 3015",
            "MT84 MALT 0110 0001 2345 MTLC AST0 01S",
            "NL91 ABNA 0417 1643 00",
            "NO93 8601 1117 947",
            "QA58 DOHB 0000 1234 5678 90AB CDEF G",
            "SC18 SSCB 1101 0000 0000 0000 1497 USD",
        ] {
            assert_eq!(iban_in(example), Some(example));
            let compact = example.replace(' ', "");
            assert_eq!(iban_in(&compact), Some(compact.as_str()));
        }
    }

    #[test]
    fn any_case_and_surrounding_punctuation() {
        assert_eq!(
            iban_in("iban: de89 3704 0044 0532 0130 00."),
            Some("de89 3704 0044 0532 0130 00")
        );
        assert_eq!(
            iban_in("(Gb82West12345698765432)"),
            Some("Gb82West12345698765432")
        );
        assert_eq!(
            iban_in("IBAN DE89370400440532013000, BIC"),
            Some("DE89370400440532013000")
        );
    }

    #[test]
    fn rejects() {
        for text in [
            "DE89370400440532013001",       // bad checksum
            "DE8937040044053201300",        // one short
            "DE893704004405320130000",      // one long: glued to a digit
            "XDE89370400440532013000",      // glued to a word before
            "DE89370400440532013000x",      // and after
            "US89370400440532013000",       // no IBAN in the US
            "DE89 3704 0044 0532 013000",   // broken grouping
            "DE89  3704 0044 0532 0130 00", // double space
            "DE 89 3704 0044 0532 0130 00", // space inside the country block
        ] {
            assert_eq!(iban_in(text), None, "{text}");
        }
    }
}
