//! Deciding whether a phone-number candidate has a phone number's shape.

/// Most digit groups a candidate can have (the regex allows 1 + 8).
const MAX_GROUPS: usize = 9;
/// ITU-T E.164: at most 15 digits.
const MAX_DIGITS: usize = 15;

#[derive(Clone, Copy, Default)]
struct Group {
    len: usize,
    paren: bool,
    first: u8,
}

/// A candidate's digit groups, their separators and its leading `+`; the
/// extension (`x123`) is not part of it. Only the first 15 digits are kept:
/// past that, the count alone rules a phone number out.
pub(super) struct Shape {
    plus: bool,
    groups: [Group; MAX_GROUPS],
    /// `seps[i]` joins groups `i` and `i + 1`: `b' '`, `b'-'`, `b'.'`,
    /// `b'/'`, or 0 where a parenthesis needs no separator.
    seps: [u8; MAX_GROUPS],
    count: usize,
    digits: [u8; MAX_DIGITS],
    total: usize,
}

impl Shape {
    /// Reads a string the phone regex matched.
    pub fn parse(candidate: &str) -> Shape {
        let b = candidate.as_bytes();
        let mut shape = Shape {
            plus: b.first() == Some(&b'+'),
            groups: [Group::default(); MAX_GROUPS],
            seps: [0; MAX_GROUPS],
            count: 0,
            digits: [0; MAX_DIGITS],
            total: 0,
        };
        let mut i = usize::from(shape.plus);
        if shape.plus && b.get(i) == Some(&b' ') {
            i += 1;
        }
        loop {
            let paren = b.get(i) == Some(&b'(');
            i += usize::from(paren);
            let len = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            let kept = shape.total.min(MAX_DIGITS);
            for (slot, c) in shape.digits[kept..].iter_mut().zip(&b[i..i + len]) {
                *slot = c - b'0';
            }
            shape.total += len;
            let first = b.get(i).map_or(0, |c| c.wrapping_sub(b'0'));
            shape.groups[shape.count] = Group { len, paren, first };
            shape.count += 1;
            i += len + usize::from(paren);
            let mut sep = 0;
            while let Some(&c) = b.get(i).filter(|c| b" -./".contains(c)) {
                if sep == 0 || c != b' ' {
                    sep = c;
                }
                i += 1;
            }
            match b.get(i) {
                Some(c) if (c.is_ascii_digit() || *c == b'(') && shape.count < MAX_GROUPS => {
                    shape.seps[shape.count - 1] = sep
                }
                _ => return shape,
            }
        }
    }

    /// 7–15 digits and a phone-like shape: a `+` and country code; or an
    /// area code in parentheses (or the `(0)` trunk prefix); or at least two
    /// separated groups with 9+ digits; or, unseparated, a national number
    /// with its `0` trunk prefix and 9–12 digits. Never a date, version,
    /// IPv4 address or thousands-grouped amount, nor one digit repeated
    /// (`0000 0000 0000` is a placeholder).
    pub fn is_phone(&self) -> bool {
        let digits = &self.digits[..self.total.min(MAX_DIGITS)];
        if !(7..=MAX_DIGITS).contains(&self.total)
            || self.has_date()
            || digits.iter().all(|&d| d == digits[0])
        {
            return false;
        }
        if self.plus {
            // Country codes never start with 0.
            return self.digits[0] != 0;
        }
        if self.has_lone_digit() || self.is_ipv4() || self.is_thousands() {
            return false;
        }
        let groups = &self.groups[..self.count];
        let area_code = groups
            .iter()
            .any(|g| g.paren && ((2..=5).contains(&g.len) || g.len == 1 && g.first == 0));
        let national = self.count == 1 && self.digits[0] == 0 && (9..=12).contains(&self.total);
        area_code || (self.count >= 2 && self.total >= 9) || national
    }

    fn seps(&self) -> &[u8] {
        &self.seps[..self.count.saturating_sub(1)]
    }

    /// `2024-05-01`, `01/05/2024`, `2024.05.01`: three groups joined by the
    /// same `-`, `/` or `.`, a 4-digit year at one end and two short ones.
    fn has_date(&self) -> bool {
        (0..self.count.saturating_sub(2)).any(|i| {
            let [a, b, c] = [self.groups[i], self.groups[i + 1], self.groups[i + 2]];
            let sep = self.seps[i];
            sep == self.seps[i + 1]
                && b"-/.".contains(&sep)
                && !(a.paren || b.paren || c.paren)
                && b.len <= 2
                && (a.len == 4 && c.len <= 2 || a.len <= 2 && c.len == 4)
        })
    }

    /// A single-digit group marks versions (`10.0.1.2`), ISBNs
    /// (`0-306-40615-2`) and dates (`5/1/2024`) far more often than phone
    /// numbers; the one exception is NANP's `1-800-555-0199`.
    fn has_lone_digit(&self) -> bool {
        let groups = &self.groups[..self.count];
        let nanp =
            self.count == 4 && self.digits[0] == 1 && groups.iter().map(|g| g.len).eq([1, 3, 3, 4]);
        !nanp && groups.iter().any(|g| g.len == 1 && !g.paren)
    }

    /// `172.16.254.100`.
    fn is_ipv4(&self) -> bool {
        self.count == 4
            && self.seps().iter().all(|&s| s == b'.')
            && self.groups[..4].iter().all(|g| g.len <= 3)
    }

    /// `1 234 567 890`, `1.299.000.000`: a short head without trunk `0`,
    /// then groups of exactly three, one separator throughout.
    fn is_thousands(&self) -> bool {
        let groups = &self.groups[..self.count];
        let seps = self.seps();
        self.count >= 3
            && (seps.iter().all(|&s| s == b' ') || seps.iter().all(|&s| s == b'.'))
            && (1..=3).contains(&groups[0].len)
            && self.digits[0] != 0
            && groups.iter().all(|g| !g.paren)
            && groups[1..].iter().all(|g| g.len == 3)
    }

    /// More than 15 digits without a date among them: one long number
    /// (`1234 5678 9012 3456 7890`), no part of which is a phone number.
    /// (With a date, the rest may well be one: `2024-05-01 415-555-0132`.)
    pub fn is_long_number(&self) -> bool {
        self.total > MAX_DIGITS && !self.has_date()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(s: &str) -> Shape {
        Shape::parse(s)
    }

    #[test]
    fn parses_groups_separators_and_extension() {
        let s = shape("+44(0)115 496-0914 x12");
        assert!(s.plus);
        let lens: Vec<_> = s.groups[..s.count]
            .iter()
            .map(|g| (g.len, g.paren))
            .collect();
        assert_eq!(
            lens,
            [(2, false), (1, true), (3, false), (3, false), (4, false)]
        );
        assert_eq!(s.seps(), [0, 0, b' ', b'-']);
        assert_eq!(s.total, 13);
        assert_eq!(shape("415 - 555 / 0132").seps(), [b'-', b'/']);
        let long = shape("1234 5678 9012 3456");
        assert_eq!((long.total, long.count), (16, 4));
        assert!(long.is_long_number() && !long.is_phone());
        assert!(!shape("2024-05-01 415-555-0132").is_long_number());
        assert!(!shape("123456789012345").is_long_number());
    }

    #[test]
    fn shape_rules() {
        assert!(shape("+1 415 555 0132").is_phone());
        assert!(!shape("+0 415 555 0132").is_phone());
        assert!(shape("(415) 555 0132").is_phone());
        assert!(shape("(0) 30 1234567").is_phone());
        assert!(
            !shape("(4) 555 0132").is_phone(),
            "not an area code, 8 digits"
        );
        assert!(shape("030 1234567").is_phone());
        assert!(
            !shape("555 0132").is_phone(),
            "separated groups need 9 digits"
        );
        assert!(shape("012345678").is_phone());
        assert!(!shape("01234567").is_phone());
        assert!(!shape("0123456789012").is_phone());
        assert!(
            !shape("4155550132").is_phone(),
            "unseparated needs a trunk 0"
        );
        assert!(!shape("+1234").is_phone(), "too few digits");
        assert!(!shape("0000 0000 0000").is_phone() && !shape("+1 111 111 1111").is_phone());
    }

    #[test]
    fn rejections() {
        assert!(shape("2024-05-01 10").has_date());
        assert!(shape("01/05/2024").has_date());
        assert!(shape("1.5.2024 12").has_date());
        assert!(!shape("2024-0501-01").has_date());
        assert!(!shape("080-9141-7776").has_date());
        assert!(shape("10.0.19041.1").has_lone_digit());
        assert!(!shape("1-800-555-0199").has_lone_digit());
        assert!(shape("2-800-555-0199").has_lone_digit());
        assert!(shape("172.16.254.100").is_ipv4());
        assert!(!shape("172.16.254").is_ipv4());
        assert!(shape("1 234 567 890").is_thousands());
        assert!(shape("12.345.678.901").is_thousands());
        assert!(!shape("012 345 678").is_thousands());
        assert!(!shape("415 555 0132").is_thousands());
        assert!(!shape("1 234.567 890").is_thousands());
    }
}
