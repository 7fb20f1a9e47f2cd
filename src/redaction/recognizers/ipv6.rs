//! IPv6 addresses.
//!
//! A candidate is a maximal run of hex digits, colons and dots around a
//! colon; it counts as an address when
//!
//! - `Ipv6Addr` parses it (so `12:30:45`, `dead:beef` and MAC addresses
//!   never do);
//! - it has the *shape* people write addresses in: a `::` compression, all
//!   eight groups (seven colons), or an embedded IPv4 tail;
//! - it contains a decimal digit. `Ipv6Addr` also parses `::`, `a::b` and
//!   `dead::beef`, which in text are C++/Rust paths far more often than
//!   addresses; real addresses (`::1`, `fe80::1`, `2001:db8::`) have one;
//! - it is not glued to a word on either side (`std::` fails, as `d` is
//!   preceded by `t`). A trailing `%zone` is allowed but left out, and so
//!   are sentence dots and a single trailing colon.

use super::text::{word_at, word_before};
use super::window::Window;
use super::{Entity, Found};
use memchr::memchr_iter;
use std::net::Ipv6Addr;

/// The longest textual IPv6 address, with an embedded IPv4 tail.
const MAX_LEN: usize = 45;

fn is_candidate_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// Appends the IPv6 addresses that start in `window`.
pub(super) fn scan(window: &Window, out: &mut Vec<Found>) {
    let bytes = window.text.as_bytes();
    // Colons of the run just examined are not looked at again.
    let mut examined = window.start;
    for colon in memchr_iter(b':', window.bytes()).map(|i| window.start + i) {
        // The first colon of a run must have a hex digit or a colon after it
        // (`::1`, `fe80:`); `Note: ...` is done with at a glance.
        if colon < examined
            || !bytes
                .get(colon + 1)
                .is_some_and(|&b| is_candidate_byte(b) && b != b'.')
        {
            continue;
        }
        // Expand no further than an address can reach, so a huge run of
        // hex digits and colons costs a bounded amount per colon.
        let mut start = colon;
        while start > 0 && colon - start <= MAX_LEN && is_candidate_byte(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = colon + 1;
        while end < bytes.len() && end - colon <= MAX_LEN && is_candidate_byte(bytes[end]) {
            end += 1;
        }
        examined = end;
        let longer = start > 0 && is_candidate_byte(bytes[start - 1])
            || end < bytes.len() && is_candidate_byte(bytes[end]);
        if longer {
            continue;
        }
        if let Some(range) = address(window.text, start, end) {
            out.push(Found {
                start: range.0,
                end: range.1,
                entity: Entity::IpAddress,
            });
        }
    }
}

/// The address in the candidate run `start..end`, trimmed of trailing
/// punctuation, as `(start, end)`.
fn address(text: &str, start: usize, mut end: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    while end > start && bytes[end - 1] == b'.' {
        end -= 1;
    }
    if bytes[start..end].ends_with(b":") && !bytes[start..end].ends_with(b"::") {
        end -= 1;
    }
    let candidate = &text[start..end];
    let colons = candidate.bytes().filter(|&b| b == b':').count();
    let shaped = candidate.contains("::") || colons == 7 || candidate.contains('.');
    let ok = candidate.len() <= MAX_LEN
        && shaped
        && candidate.bytes().any(|b| b.is_ascii_digit())
        && !word_before(text, start)
        && !word_at(text, end)
        && candidate.parse::<Ipv6Addr>().is_ok();
    ok.then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(text: &str) -> Vec<&str> {
        super::super::window::matched_by(scan, text)
    }

    #[test]
    fn addresses() {
        for (text, ip) in [
            ("loopback ::1 only", "::1"),
            ("fe80::1%eth0", "fe80::1"),
            ("2001:db8::", "2001:db8::"),
            (
                "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
                "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            ),
            (
                "2001:db8:85a3::8a2e:370:7334.",
                "2001:db8:85a3::8a2e:370:7334",
            ),
            ("[2001:db8::1]:8080", "2001:db8::1"),
            ("http://[::1]/", "::1"),
            ("::ffff:192.0.2.128", "::ffff:192.0.2.128"),
            ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:1.2.3.4"),
            ("ADDR FE80::ABCD:12", "FE80::ABCD:12"),
            ("at fe80::1:", "fe80::1"),
            ("ip=fe80::1;", "fe80::1"),
            ("“2001:db8::7”", "2001:db8::7"),
        ] {
            assert_eq!(ips(text), [ip], "{text}");
        }
    }

    #[test]
    fn not_addresses() {
        for text in [
            "12:30:45",
            "at 10:30 today",
            "dead:beef",
            "de:ad:be:ef:00:11",
            "std::vector",
            "a::b",
            "dead::beef",
            "::",
            "Foo::bar::1",
            "x::1",
            "2001:db8::1x",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7",
            "12345::1",
            "2001:db8::1.2.3.04",
            "Note: see 1:2",
        ] {
            assert!(ips(text).is_empty(), "{text}: {:?}", ips(text));
        }
    }

    #[test]
    fn runs_longer_than_any_address_are_not_addresses() {
        assert!(ips(&format!("{}::1", "0:".repeat(30))).is_empty());
        assert!(ips(&format!("fe80::1{}", ":0".repeat(30))).is_empty());
        let huge = "a:".repeat(200_000);
        assert!(ips(&huge).is_empty());
    }

    #[test]
    fn several_in_a_row() {
        assert_eq!(
            ips("::1, fe80::2 and 2001:db8::3"),
            ["::1", "fe80::2", "2001:db8::3"]
        );
    }
}
