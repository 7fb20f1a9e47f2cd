//! Looking at the characters next to a candidate match.
//!
//! Recognizers decide "is this inside a longer word?" from the whole text,
//! not from the window being scanned, so a match's verdict never depends on
//! where the text was cut.

/// The character that ends just before byte `i` (a char boundary).
pub(super) fn char_before(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

/// The character that starts at byte `i` (a char boundary).
pub(super) fn char_at(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}

/// Letters, digits (of any script) and `_`: what glues characters into one
/// word or identifier.
pub(super) fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Is the character before byte `i` part of a word?
pub(super) fn word_before(text: &str, i: usize) -> bool {
    char_before(text, i).is_some_and(is_word)
}

/// Is the character at byte `i` part of a word?
pub(super) fn word_at(text: &str, i: usize) -> bool {
    char_at(text, i).is_some_and(is_word)
}

/// Does the number before byte `i` go on: one of `separators` at `i`,
/// followed by an ASCII digit (`0132-7`, `1.2.3.4.5`)?
pub(super) fn continues_number(text: &str, i: usize, separators: &[u8]) -> bool {
    byte_at(text, i).is_some_and(|b| separators.contains(&b))
        && byte_at(text, i + 1).is_some_and(|b| b.is_ascii_digit())
}

/// The byte at `i`, if the text is that long.
pub(super) fn byte_at(text: &str, i: usize) -> Option<u8> {
    text.as_bytes().get(i).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_decode_whole_characters() {
        let text = "é1_ x";
        assert_eq!(char_before(text, 2), Some('é'));
        assert_eq!(char_before(text, 0), None);
        assert_eq!(char_at(text, 0), Some('é'));
        assert_eq!(char_at(text, text.len()), None);
        assert!(word_before(text, 2) && word_at(text, 2) && word_at(text, 3));
        assert!(!word_at(text, 4) && !word_before(text, 0));
        assert_eq!(byte_at(text, 4), Some(b' '));
        assert_eq!(byte_at(text, 9), None);
    }

    #[test]
    fn numbers_go_on_through_a_separator_and_a_digit() {
        assert!(continues_number("1.2", 1, b"."));
        assert!(!continues_number("1.2", 1, b"-"));
        assert!(!continues_number("1. 2", 1, b"."));
        assert!(!continues_number("1.", 1, b"."));
        assert!(!continues_number("1", 1, b"."));
    }

    #[test]
    fn words_are_letters_digits_and_underscore() {
        for c in ['a', 'Z', '7', '_', 'ß', 'я', '字', '٣'] {
            assert!(is_word(c), "{c}");
        }
        for c in [' ', '-', '.', '@', '\n', '“', '…'] {
            assert!(!is_word(c), "{c}");
        }
    }
}
