//! Text values of the export files as JSON strings, escaped eight bytes at a
//! time: most text needs no escape at all, and serde_json's string writer
//! looks at it one byte at a time (the largest cost of our own code in a
//! JSONL export's profile). The escapes are serde_json's, byte for byte, plus
//! U+2028 and U+2029 as `\u` escapes (see `json_writer`).

use std::io::{self, Write};

use serde::Serializer;

use crate::pg::interrupts::{self, PIECE_BYTES};

/// A text field written by `json_writer` as a JSON string through the fast
/// escape below (`#[serde(serialize_with = "json_string::text")]`). It reaches
/// the writer as bytes (`serialize_bytes`), the one path serde_json leaves
/// to the formatter whole, and the export formatter writes them as a string.
/// Only `json_writer::to_json_text` serializes these fields: any other
/// serializer would write a byte array.
pub fn text<T, S>(value: &T, serializer: S) -> Result<S::Ok, S::Error>
where
    T: AsRef<str> + ?Sized,
    S: Serializer,
{
    serializer.serialize_bytes(value.as_ref().as_bytes())
}

/// `text` for an optional field: None stays null.
pub fn optional_text<T, S>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error>
where
    T: AsRef<str>,
    S: Serializer,
{
    match value {
        Some(value) => text(value, serializer),
        None => serializer.serialize_none(),
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each zero byte of `word`; the lowest one set is exact
/// (a borrow can only flag bytes above a real zero).
const fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGH_BITS
}

/// The bytes of `word` that need a look: control characters, `"`, `\`, and
/// 0xE2 (the lead byte of U+2028 and U+2029, and of other punctuation such
/// as dashes). Only the lowest flag is exact.
const fn needing_a_look(word: u64) -> u64 {
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH_BITS;
    control
        | zero_bytes(word ^ (ONES * b'"' as u64))
        | zero_bytes(word ^ (ONES * b'\\' as u64))
        | zero_bytes(word ^ (ONES * 0xE2))
}

/// The first byte from `from` on that needs a look, eight bytes at a time.
fn next_to_look_at(text: &[u8], mut from: usize) -> Option<usize> {
    while let Some(word) = text.get(from..from + 8) {
        let flags = needing_a_look(u64::from_le_bytes(word.try_into().expect("eight bytes")));
        if flags != 0 {
            return Some(from + flags.trailing_zeros() as usize / 8);
        }
        from += 8;
    }
    let tail = text.get(from..)?;
    tail.iter()
        .position(|&byte| byte < 0x20 || matches!(byte, b'"' | b'\\' | 0xE2))
        .map(|offset| from + offset)
}

/// The escape for U+2028 or U+2029 when one starts at `at` (E2 80 A8/A9
/// in UTF-8); `text[at]` is their lead byte E2.
pub fn line_separator_at(text: &[u8], at: usize) -> Option<&'static [u8]> {
    match (text.get(at + 1), text.get(at + 2)) {
        (Some(0x80), Some(0xA8)) => Some(b"\\u2028"),
        (Some(0x80), Some(0xA9)) => Some(b"\\u2029"),
        _ => None,
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The escape for the character starting at `text[at]`, written into
/// `escape`: its length and how many bytes of `text` it replaces; None when
/// the character is written as it is.
fn escape_at(text: &[u8], at: usize, escape: &mut [u8; 6]) -> Option<(usize, usize)> {
    let (short, replaced): (&[u8], usize) = match text[at] {
        b'"' => (b"\\\"", 1),
        b'\\' => (b"\\\\", 1),
        b'\n' => (b"\\n", 1),
        b'\r' => (b"\\r", 1),
        b'\t' => (b"\\t", 1),
        0x08 => (b"\\b", 1),
        0x0C => (b"\\f", 1),
        control @ 0x00..=0x1F => {
            *escape = *b"\\u00\0\0";
            escape[4] = HEX_DIGITS[usize::from(control >> 4)];
            escape[5] = HEX_DIGITS[usize::from(control & 0xF)];
            return Some((6, 1));
        }
        0xE2 => (line_separator_at(text, at)?, 3),
        _ => return None,
    };
    escape[..short.len()].copy_from_slice(short);
    Some((short.len(), replaced))
}

/// `text` as the contents of a JSON string (without its quotes), escaped in
/// pieces that end on character boundaries, checking for interrupts
/// between them: every escape is one character's, so the pieces escape as
/// the whole would.
pub fn write_escaped<W: ?Sized + Write>(out: &mut W, text: &[u8]) -> io::Result<()> {
    let mut from = 0;
    while from < text.len() {
        let mut end = (from + PIECE_BYTES).min(text.len());
        // A UTF-8 continuation byte (10xxxxxx) never starts a character.
        while end < text.len() && text[end] & 0xC0 == 0x80 {
            end += 1;
        }
        write_escaped_piece(out, &text[from..end])?;
        from = end;
        if from < text.len() {
            interrupts::check();
        }
    }
    Ok(())
}

fn write_escaped_piece<W: ?Sized + Write>(out: &mut W, text: &[u8]) -> io::Result<()> {
    let mut clean_from = 0;
    let mut from = 0;
    while let Some(at) = next_to_look_at(text, from) {
        let mut escape = [0u8; 6];
        match escape_at(text, at, &mut escape) {
            None => from = at + 1,
            Some((written, replaced)) => {
                out.write_all(&text[clean_from..at])?;
                out.write_all(&escape[..written])?;
                from = at + replaced;
                clean_from = from;
            }
        }
    }
    out.write_all(&text[clean_from..])
}

#[cfg(test)]
mod tests {
    use super::write_escaped;

    fn escaped(text: &str) -> String {
        let mut out = Vec::new();
        write_escaped(&mut out, text.as_bytes()).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// serde_json's string, without quotes, U+2028/U+2029 escaped.
    fn expected(text: &str) -> String {
        let json = serde_json::to_string(text).unwrap();
        json[1..json.len() - 1]
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
    }

    #[test]
    fn every_ascii_character_escapes_as_serde_json_does() {
        for byte in 0u8..0x80 {
            let one = char::from(byte).to_string();
            assert_eq!(escaped(&one), expected(&one), "byte {byte:#04x}");
            // At each place of a word, between clean text.
            for place in 0..9 {
                let text = format!("{}{one}{}", "a".repeat(place), "b".repeat(9 - place));
                assert_eq!(
                    escaped(&text),
                    expected(&text),
                    "byte {byte:#04x} at {place}"
                );
            }
        }
    }

    #[test]
    fn mixed_text_at_every_alignment_matches_serde_json() {
        let pieces = [
            "plain ",
            "\"",
            "\\",
            "\n",
            "\u{2028}",
            "\u{2029}",
            "\u{2026}",
            "é",
            "😀",
            "\u{1}",
            "\u{7f}",
            "\t\r",
            "\u{e2}",
            "日本語",
            "\u{202F}",
        ];
        // A fixed pseudo-random walk over the pieces: same cases every run.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for length in 0..400 {
            let mut text = String::new();
            for _ in 0..length % 23 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            assert_eq!(escaped(&text), expected(&text), "{text:?}");
        }
    }

    #[test]
    fn a_lead_byte_at_the_end_is_left_as_it_is() {
        assert_eq!(escaped("abc\u{2028}"), "abc\\u2028");
        assert_eq!(escaped("abcdefg\u{2029}"), "abcdefg\\u2029");
        assert_eq!(escaped("\u{2000}"), "\u{2000}");
    }
}
