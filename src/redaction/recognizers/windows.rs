//! Cutting a text into windows of about `PIECE_BYTES`.
//!
//! Windows bound the work done between two interrupt checks. A cut must never
//! fall inside a match, or results would depend on where the cuts are; so
//! cuts go, in order of preference, after:
//!
//! 1. a newline: no match contains one (PEM blocks, found separately, aside);
//! 2. a space between two plain words: both all letters, one of them at least
//!    5 bytes long. Matches that contain spaces (phone numbers, grouped card
//!    numbers and IBANs, `aws_secret_access_key = …`) have a digit, `=` or
//!    `:` next to each space, or (IBAN groups) only tokens of at most 4 bytes;
//! 3. a delimiter that no match contains (`, ; < > [ ] { } |`);
//! 4. failing all three within 4×`PIECE_BYTES` of the window start (a huge
//!    blob with no structure at all), the char boundary at `PIECE_BYTES`.
//!
//! A recognizer reads the whole text for context, so a match that starts in
//! one window and crosses a cut of kind 4 is still found whole.

use memchr::{memchr, memchr_iter, memrchr, memrchr_iter};
use std::ops::Range;

/// Bytes that never occur inside any match.
const DELIMITERS: &[u8] = b",;<>[]{}|";

/// Longest token worth testing as a plain word; longer ones are not words.
const MAX_WORD: usize = 64;

/// The windows of a text, in order, covering it exactly.
pub(super) struct Windows<'t> {
    text: &'t str,
    piece: usize,
    start: usize,
}

impl<'t> Windows<'t> {
    /// Windows of about `piece` bytes (at least 2).
    pub fn new(text: &'t str, piece: usize) -> Windows<'t> {
        Windows {
            text,
            piece,
            start: 0,
        }
    }
}

impl Iterator for Windows<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        if self.start >= self.text.len() {
            return None;
        }
        let end = cut(self.text, self.start, self.piece);
        let window = self.start..end;
        self.start = end;
        Some(window)
    }
}

/// Where the window starting at `start` ends.
fn cut(text: &str, start: usize, piece: usize) -> usize {
    let bytes = text.as_bytes();
    if bytes.len() - start <= piece {
        return bytes.len();
    }
    // Prefer a cut in the second half of the piece, so windows stay near
    // `piece` bytes; look further ahead only for a newline, then the others.
    let near = start + piece / 2;
    let target = start + piece;
    let limit = bytes.len().min(start + 4 * piece);
    if let Some(i) = memrchr(b'\n', &bytes[near..target]) {
        return near + i + 1;
    }
    if let Some(i) = memchr(b'\n', &bytes[target..limit]) {
        return target + i + 1;
    }
    let plain_gap = memrchr_iter(b' ', &bytes[near..target])
        .map(|i| near + i)
        .chain(memchr_iter(b' ', &bytes[target..limit]).map(|i| target + i))
        .find(|&p| between_plain_words(text, p));
    if let Some(p) = plain_gap {
        return p + 1;
    }
    let is_delimiter = |b: &u8| DELIMITERS.contains(b);
    let delimiter = bytes[near..target]
        .iter()
        .rposition(is_delimiter)
        .map(|i| near + i)
        .or_else(|| {
            bytes[target..limit]
                .iter()
                .position(is_delimiter)
                .map(|i| target + i)
        });
    if let Some(p) = delimiter {
        return p + 1;
    }
    if limit == bytes.len() {
        return limit;
    }
    text.floor_char_boundary(target)
}

/// Is the space at byte `p` between two plain words (see the module docs)?
fn between_plain_words(text: &str, p: usize) -> bool {
    let bytes = text.as_bytes();
    let from = p.saturating_sub(MAX_WORD + 1);
    let left_start = bytes[from..p]
        .iter()
        .rposition(u8::is_ascii_whitespace)
        .map_or(from, |i| from + i + 1);
    let to = bytes.len().min(p + 1 + MAX_WORD + 1);
    let right_end = bytes[p + 1..to]
        .iter()
        .position(u8::is_ascii_whitespace)
        .map_or(to, |i| p + 1 + i);
    let left = &bytes[left_start..p];
    let right = &bytes[p + 1..right_end];
    let plain = |word: &[u8]| {
        (1..=MAX_WORD).contains(&word.len())
            && std::str::from_utf8(word).is_ok_and(|w| w.chars().all(char::is_alphabetic))
    };
    plain(left) && plain(right) && left.len().max(right.len()) >= 5
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(text: &str, piece: usize) -> Vec<Range<usize>> {
        let all: Vec<_> = Windows::new(text, piece).collect();
        let mut at = 0;
        for w in &all {
            assert_eq!(w.start, at, "windows must tile the text");
            assert!(w.end > w.start && w.end - w.start <= 4 * piece);
            assert!(text.is_char_boundary(w.end));
            at = w.end;
        }
        assert_eq!(at, text.len());
        all
    }

    #[test]
    fn empty_and_short_texts() {
        assert!(windows("", 64).is_empty());
        assert_eq!(windows("short", 64).len(), 1);
    }

    #[test]
    fn prefers_a_newline_near_the_piece_size() {
        let text = "a b c d e f g h\n".repeat(100);
        for w in windows(&text, 64) {
            assert!(text[..w.end].ends_with('\n'));
            assert!(w.end - w.start <= 64 || w.end == text.len());
        }
    }

    #[test]
    fn takes_a_newline_up_to_four_pieces_ahead() {
        let text = format!("{}\n{}", "x1 ".repeat(60), "y".repeat(10));
        assert_eq!(windows(&text, 64), [0..181, 181..191]);
    }

    #[test]
    fn else_cuts_between_plain_words() {
        let text =
            "call 415 555 0132 about IBAN GB82 WEST 1234 5698 7654 32 today, thanks ".repeat(20);
        for w in &windows(&text, 64)[..3] {
            let before = &text[..w.end - 1];
            let after = &text[w.end..];
            let left = before.rsplit(' ').next().unwrap();
            let right = after.split(' ').next().unwrap();
            assert!(left.chars().all(char::is_alphabetic), "{left:?}|{right:?}");
            assert!(right.chars().all(char::is_alphabetic), "{left:?}|{right:?}");
            assert!(left.len().max(right.len()) >= 5, "{left:?}|{right:?}");
        }
    }

    #[test]
    fn plain_word_gaps() {
        let at = |s: &str| between_plain_words(&s.replace('|', " "), s.find('|').unwrap());
        assert!(at("hello|world"));
        assert!(at("a|world") && at("hello|a"));
        assert!(at("the naïve|café x"));
        assert!(!at("WEST|ABCD"), "IBAN groups are 4 bytes");
        assert!(!at("0132|about") && !at("about|0132"));
        assert!(!at("key:|value") && !at("hello|world."));
        assert!(!at("|hello") && !at("hello|") && !at("|"));
    }

    #[test]
    fn else_cuts_after_a_delimiter() {
        let text = "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]".repeat(20);
        for w in &windows(&text, 64)[..4] {
            assert!(DELIMITERS.contains(&text.as_bytes()[w.end - 1]));
        }
    }

    #[test]
    fn else_cuts_on_a_char_boundary() {
        let text = "é".repeat(500);
        let all = windows(&text, 65);
        assert!(all.len() > 1);
        assert!(all[..all.len() - 1].iter().all(|w| w.end - w.start <= 65));
    }

    #[test]
    fn keeps_a_remainder_shorter_than_four_pieces_whole() {
        let text = "x".repeat(200);
        assert_eq!(
            windows(&text, 64).last().map(|w| w.end - w.start),
            Some(200)
        );
    }
}
