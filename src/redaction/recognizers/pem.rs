//! PEM private-key blocks: `-----BEGIN [A-Z ]*PRIVATE KEY-----` through the
//! matching `-----END …PRIVATE KEY-----`.
//!
//! The only matches that span lines, so they are searched for across the
//! whole text rather than per window, a `PIECE_BYTES` chunk at a time with
//! an interrupt check before each chunk.

use super::interrupts::{PIECE_BYTES, check};
use super::{Entity, Found};
use memchr::memmem::Finder;
use std::sync::LazyLock;

static BEGIN: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"-----BEGIN "));
static END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"-----END "));
const TAIL: &[u8] = b"PRIVATE KEY-----";
/// Longest label before `PRIVATE KEY` worth reading (`ENCRYPTED `, `RSA `, ...).
const MAX_LABEL: usize = 32;
/// Longest line accepted as part of a block's base64 body (PEM uses 64).
const MAX_BODY_LINE: usize = 128;

/// Appends every PEM private-key block in `text`.
///
/// A block whose END line is missing (a key truncated by an export, say)
/// still leaks the key, so it extends over the base64 lines after its BEGIN
/// line instead.
pub(super) fn scan(text: &str, out: &mut Vec<Found>) {
    let bytes = text.as_bytes();
    // Once no END line follows some point, none follows any later one:
    // remembering that keeps many unterminated BEGIN lines linear.
    let mut ends_exhausted = false;
    let mut pos = 0;
    while let Some(begin) = find_piecewise(&BEGIN, bytes, pos) {
        pos = begin + BEGIN.needle().len();
        let Some(header_end) = marker_tail(bytes, pos) else {
            continue;
        };
        let end = if ends_exhausted {
            None
        } else {
            end_line(bytes, header_end)
        };
        ends_exhausted |= end.is_none();
        let end = end.unwrap_or_else(|| body_end(bytes, header_end));
        out.push(Found {
            start: begin,
            end,
            entity: Entity::Secret,
        });
        pos = end;
    }
}

/// The first occurrence of `needle` at or after `from`, searched a piece
/// at a time.
fn find_piecewise(needle: &Finder, bytes: &[u8], from: usize) -> Option<usize> {
    let overlap = needle.needle().len() - 1;
    let mut pos = from;
    while pos < bytes.len() {
        check();
        let chunk_end = bytes.len().min(pos + PIECE_BYTES + overlap);
        if let Some(i) = needle.find(&bytes[pos..chunk_end]) {
            return Some(pos + i);
        }
        pos += PIECE_BYTES;
    }
    None
}

/// After `-----BEGIN ` or `-----END ` at `pos`: the end of
/// `[A-Z ]*PRIVATE KEY-----`, if that is what follows.
fn marker_tail(bytes: &[u8], pos: usize) -> Option<usize> {
    let label = bytes[pos..]
        .iter()
        .take(MAX_LABEL)
        .take_while(|b| b.is_ascii_uppercase() || **b == b' ')
        .count();
    // `PRIVATE KEY` is itself upper case and spaces, so the label run may
    // have swallowed part of it: the tail starts at the last `PRIVATE`.
    (0..=label)
        .rev()
        .map(|i| pos + i)
        .find(|&at| bytes[at..].starts_with(TAIL))
        .map(|at| at + TAIL.len())
}

/// The end of the first END line after `from`.
fn end_line(bytes: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    loop {
        let end = find_piecewise(&END, bytes, pos)?;
        pos = end + END.needle().len();
        if let Some(tail) = marker_tail(bytes, pos) {
            return Some(tail);
        }
    }
}

/// The end of the base64 lines right after the BEGIN line ending at `from`.
fn body_end(bytes: &[u8], from: usize) -> usize {
    let is_body = |b: &u8| b.is_ascii_alphanumeric() || b"+/=".contains(b);
    let mut end = from;
    let mut pos = from;
    let mut unchecked = 0;
    loop {
        // Each line starts after one line break.
        pos += match &bytes[pos..] {
            [b'\r', b'\n', ..] => 2,
            [b'\n', ..] => 1,
            _ => return end,
        };
        let line = bytes[pos..]
            .iter()
            .take(MAX_BODY_LINE + 1)
            .take_while(|b| is_body(b))
            .count();
        let ends_line = matches!(bytes.get(pos + line), None | Some(b'\r' | b'\n'));
        if line == 0 || line > MAX_BODY_LINE || !ends_line {
            return end;
        }
        pos += line;
        end = pos;
        unchecked += line;
        if unchecked >= PIECE_BYTES {
            check();
            unchecked = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        scan(text, &mut out);
        out.iter().map(|f| &text[f.start..f.end]).collect()
    }

    const BODY: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\nMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\nNMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ\n";

    #[test]
    fn every_label() {
        for label in ["", "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED "] {
            let block = format!(
                "-----BEGIN {label}PRIVATE KEY-----\n{BODY}-----END {label}PRIVATE KEY-----"
            );
            let text = format!("key:\n{block}\ndone");
            assert_eq!(blocks(&text), [block.as_str()]);
        }
    }

    #[test]
    fn crlf_and_several_blocks() {
        let block = format!(
            "-----BEGIN PRIVATE KEY-----\r\n{}-----END PRIVATE KEY-----",
            BODY.replace('\n', "\r\n")
        );
        let text = format!("{block}\r\nand\r\n{block}");
        assert_eq!(blocks(&text), [block.as_str(), block.as_str()]);
    }

    #[test]
    fn unterminated_block_covers_its_base64_lines() {
        let text = format!("-----BEGIN RSA PRIVATE KEY-----\n{BODY}(truncated)\nmore text");
        let expected = format!("-----BEGIN RSA PRIVATE KEY-----\n{}", BODY.trim_end());
        assert_eq!(blocks(&text), [expected.as_str()]);
        assert_eq!(
            blocks("x -----BEGIN PRIVATE KEY----- y"),
            ["-----BEGIN PRIVATE KEY-----"]
        );
    }

    #[test]
    fn many_unterminated_blocks() {
        let text = "-----BEGIN PRIVATE KEY-----\nQUJD\n".repeat(1000);
        let found = blocks(&text);
        assert_eq!(found.len(), 1000);
        assert!(
            found
                .iter()
                .all(|b| *b == "-----BEGIN PRIVATE KEY-----\nQUJD")
        );
    }

    #[test]
    fn public_keys_and_certificates_are_not_secrets() {
        for text in [
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----",
            "-----BEGIN CERTIFICATE-----\nMIIBIjANBgkq\n-----END CERTIFICATE-----",
            "-----BEGIN private key-----\nMIIBIjANBgkq\n-----END private key-----",
            "-----BEGIN PRIVATE KEY",
        ] {
            assert!(blocks(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn end_line_must_name_a_private_key() {
        let text = format!(
            "-----BEGIN PRIVATE KEY-----\n{BODY}-----END CERTIFICATE-----\n-----END PRIVATE KEY-----"
        );
        assert_eq!(blocks(&text), [text.as_str()]);
    }

    #[test]
    fn markers_straddling_search_chunks_are_found() {
        let block = format!("-----BEGIN PRIVATE KEY-----\n{BODY}-----END PRIVATE KEY-----");
        let header = "-----BEGIN PRIVATE KEY-----";
        for pad in [
            PIECE_BYTES - 9,
            PIECE_BYTES - 5,
            PIECE_BYTES - 1,
            PIECE_BYTES,
            PIECE_BYTES + 3,
        ] {
            // BEGIN across the first chunk's end.
            let text = format!("{}{block}", " ".repeat(pad));
            assert_eq!(blocks(&text), [block.as_str()], "pad {pad}");
            // END across the end of the first chunk searched for it.
            let text = format!("{header}{}-----END PRIVATE KEY-----", "\n".repeat(pad));
            assert_eq!(blocks(&text), [text.as_str()], "pad {pad}");
        }
    }
}
