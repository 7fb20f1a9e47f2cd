//! Email addresses: an RFC 5322-ish local part, `@`, and a domain of
//! letter/digit/hyphen labels (any script) ending in a TLD of 2+ letters.
//!
//! Found from each `@` outwards rather than by a regex: `@` is rare, so the
//! scan is a `memchr`, and both halves are short and bounded.

use super::text::{char_at, word_before};
use super::window::Window;
use super::{Entity, Found};
use memchr::memchr_iter;

/// RFC 5321's limit on the local part.
const LOCAL_MAX: usize = 64;
/// RFC 1035's limits on a label and on a whole domain name.
const LABEL_MAX: usize = 63;
const DOMAIN_MAX: usize = 253;

/// Bytes of a local part. RFC 5322's `atext` also has `' / = ? ` { | }`;
/// they are left out on purpose: in text and code they delimit addresses
/// (`to='a@b.c'`, `?to=a@b.c`, `|a@b.c|`, `{a@b.c}`) far more often than
/// they occur in one, so the address starts after them.
fn is_local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&*+-.^_~".contains(&b)
}

/// Appends the email addresses whose `@` lies in `window`.
pub(super) fn scan(window: &Window, out: &mut Vec<Found>) {
    for at in memchr_iter(b'@', window.bytes()).map(|i| window.start + i) {
        if let (Some(start), Some(end)) = (
            local_start(window.text, at),
            domain_end(window.text, at + 1),
        ) {
            out.push(Found {
                start,
                end,
                entity: Entity::EmailAddress,
            });
        }
    }
}

/// Where the local part ending at the `@` at byte `at` starts.
///
/// Leading dots are dropped, and so is anything up to a double dot
/// (`see...john@x.org` gives `john@x.org`); a trailing dot rules the
/// address out, as does a non-ASCII letter glued to its start (`josé@`).
fn local_start(text: &str, at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut start = at;
    while start > 0 && is_local_byte(bytes[start - 1]) {
        if at - start == LOCAL_MAX {
            return None;
        }
        start -= 1;
    }
    let run = &bytes[start..at];
    let mut skip = run
        .windows(2)
        .rposition(|w| w == b"..")
        .map_or(0, |i| i + 2);
    while run.get(skip) == Some(&b'.') {
        skip += 1;
    }
    let local = &run[skip..];
    if local.is_empty() || local.ends_with(b".") || (skip == 0 && word_before(text, start)) {
        return None;
    }
    Some(start + skip)
}

/// Where the domain starting at byte `from` (just after the `@`) ends.
///
/// Labels are letters or digits of any script and inner hyphens; there are
/// at least two and the last is all letters, at least two of them (or an
/// IDN TLD in punycode, `xn--p1ai`). IP-literal domains (`a@[10.0.0.1]`) are
/// not recognized, nor are quoted local parts (`"a b"@c.org`). A final
/// dot is sentence punctuation and stays out. The address must not run on
/// into `_` or another `@`.
fn domain_end(text: &str, from: usize) -> Option<usize> {
    let mut pos = from;
    let mut labels = 0;
    loop {
        let (len, chars, all_letters) = label(text, pos)?;
        let name = &text[pos..pos + len];
        if name.starts_with('-') || name.ends_with('-') {
            return None;
        }
        labels += 1;
        pos += len;
        if pos - from > DOMAIN_MAX {
            return None;
        }
        let another = text[pos..].starts_with('.')
            && char_at(text, pos + 1).is_some_and(char::is_alphanumeric);
        if another {
            pos += 1;
            continue;
        }
        let punycode = name.len() > 4
            && name
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("xn--"));
        let tld = all_letters && chars >= 2 || punycode;
        let runs_on = matches!(char_at(text, pos), Some('_' | '@'));
        return (labels >= 2 && tld && !runs_on).then_some(pos);
    }
}

/// The label at byte `pos`: (bytes, chars, all letters), if non-empty and
/// within `LABEL_MAX` characters.
fn label(text: &str, pos: usize) -> Option<(usize, usize, bool)> {
    let mut len = 0;
    let mut chars = 0;
    let mut all_letters = true;
    for c in text[pos..].chars() {
        if !(c.is_alphanumeric() || c == '-') {
            break;
        }
        if chars == LABEL_MAX {
            return None;
        }
        chars += 1;
        len += c.len_utf8();
        all_letters &= c.is_alphabetic();
    }
    (len > 0).then_some((len, chars, all_letters))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emails(text: &str) -> Vec<&str> {
        super::super::window::matched_by(scan, text)
    }

    #[test]
    fn addresses() {
        for (text, email) in [
            ("mail john.doe@example.com today", "john.doe@example.com"),
            ("JOHN@EXAMPLE.COM", "JOHN@EXAMPLE.COM"),
            ("a@b.co", "a@b.co"),
            (
                "first.last+tag@sub.example.co.uk.",
                "first.last+tag@sub.example.co.uk",
            ),
            ("x_y%z-w@my-host.example.org", "x_y%z-w@my-host.example.org"),
            ("odd!#$&*^~chars@example.com", "odd!#$&*^~chars@example.com"),
            ("<john@example.com>", "john@example.com"),
            ("mailto:john@example.com", "john@example.com"),
            ("to='john@example.com'", "john@example.com"),
            ("?to=john@example.com&x", "john@example.com"),
            ("|john@example.com|", "john@example.com"),
            ("see...john@example.com", "john@example.com"),
            ("bad..john@example.com", "john@example.com"),
            (".john@example.com", "john@example.com"),
            ("user@bücher.de", "user@bücher.de"),
            ("user@例え.テスト", "user@例え.テスト"),
            ("user@пример.рф", "user@пример.рф"),
            ("«user@example.com»", "user@example.com"),
            ("n1@10.example.com", "n1@10.example.com"),
            ("john@example.com's desk", "john@example.com"),
            ("user@example.xn--p1ai", "user@example.xn--p1ai"),
        ] {
            assert_eq!(emails(text), [email], "{text}");
        }
    }

    #[test]
    fn not_addresses() {
        for text in [
            "@example.com",
            "john@",
            "john@localhost",
            "john@example.c",
            "john@example.123",
            "john.@example.com",
            "john@-example.com",
            "john@example-.com",
            "john@example..com",
            "john@.example.com",
            "josé@example.com",
            "john@example.com_x",
            "a @ b.com",
            "@@",
            "price: 5 @ 10.00",
            "user@@example.com",
        ] {
            assert!(emails(text).is_empty(), "{text}: {:?}", emails(text));
        }
    }

    #[test]
    fn local_part_is_at_most_64_bytes() {
        let ok = format!("{}@example.com", "a".repeat(64));
        let long = format!("{}@example.com", "a".repeat(65));
        assert_eq!(emails(&ok), [ok.as_str()]);
        assert!(emails(&long).is_empty());
    }

    #[test]
    fn labels_are_at_most_63_characters() {
        let ok = format!("a@{}.com", "b".repeat(63));
        let long = format!("a@{}.com", "b".repeat(64));
        assert_eq!(emails(&ok), [ok.as_str()]);
        assert!(emails(&long).is_empty());
    }

    #[test]
    fn chained_addresses_are_each_candidates() {
        assert_eq!(emails("a@b.com@c.org"), ["b.com@c.org"]);
        assert_eq!(emails("a@b.com, c@d.org"), ["a@b.com", "c@d.org"]);
    }
}
