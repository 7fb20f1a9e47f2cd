//! IPv4 addresses in dotted-quad form.

use super::text::{byte_at, char_before, continues_number, word_at, word_before};
use std::net::Ipv4Addr;
use std::ops::Range;

/// The IPv4 address starting at the digit run `run`, if any.
///
/// Four decimal octets that `Ipv4Addr` accepts (0–255, no leading zeros
/// such as `01`), not part of a longer dotted number: so neither `1.2.3.4.5`
/// nor the version `10.0.0.1.2` yields an address, while a sentence may
/// still end right after one (`at 10.0.0.1.`). A port (`:8080`) or prefix
/// length (`/24`) after it is left out.
pub(super) fn at(text: &str, run: Range<usize>) -> Option<Range<usize>> {
    if word_before(text, run.start) || char_before(text, run.start) == Some('.') {
        return None;
    }
    let mut pos = run.start;
    for octet in 0..4 {
        let digits = text.as_bytes()[pos..]
            .iter()
            .take(4)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if !(1..=3).contains(&digits) {
            return None;
        }
        pos += digits;
        if octet < 3 {
            if byte_at(text, pos) != Some(b'.') {
                return None;
            }
            pos += 1;
        }
    }
    let longer = word_at(text, pos) || continues_number(text, pos, b".");
    let address = &text[run.start..pos];
    (!longer && address.parse::<Ipv4Addr>().is_ok()).then_some(run.start..pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip_in(text: &str) -> Option<&str> {
        super::super::digits::matched_at_first_run(at, text)
    }

    #[test]
    fn addresses() {
        for (text, ip) in [
            ("host 192.168.1.10 is up", "192.168.1.10"),
            ("0.0.0.0", "0.0.0.0"),
            ("255.255.255.255", "255.255.255.255"),
            ("at 10.0.0.1.", "10.0.0.1"),
            ("10.0.0.1:5432", "10.0.0.1"),
            ("10.0.0.0/8", "10.0.0.0"),
            ("[127.0.0.1]", "127.0.0.1"),
            ("::ffff:192.0.2.1", "192.0.2.1"),
            ("ip=8.8.8.8,", "8.8.8.8"),
            ("«1.2.3.4»", "1.2.3.4"),
        ] {
            assert_eq!(ip_in(text), Some(ip), "{text}");
        }
    }

    #[test]
    fn not_addresses() {
        for text in [
            "256.1.1.1",
            "1.2.3.999",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3",
            "1.2.3.4.5",
            "10.0.0.1.2",
            "1..2.3.4",
            "1234.1.1.1",
            "v1.2.3.4",
            "1.2.3.4a",
            "1.2.3.4_x",
            ".1.2.3.4",
            "2024.05.01",
        ] {
            assert_eq!(ip_in(text), None, "{text}");
        }
    }
}
