//! IBAN lengths by country, from the SWIFT IBAN Registry: the 89 country
//! codes it lists as of 2026, including the recent additions (FK, HN, MN,
//! NI, OM, RU, SO, YE, ...). Territory codes that some validators map onto
//! a listed country's format are not accepted.

/// `(country code, IBAN length)`, sorted by code for binary search.
#[rustfmt::skip]
const LENGTHS: [(&[u8; 2], usize); 89] = [
    (b"AD", 24), (b"AE", 23), (b"AL", 28), (b"AT", 20), (b"AZ", 28), (b"BA", 20),
    (b"BE", 16), (b"BG", 22), (b"BH", 22), (b"BI", 27), (b"BR", 29), (b"BY", 28),
    (b"CH", 21), (b"CR", 22), (b"CY", 28), (b"CZ", 24), (b"DE", 22), (b"DJ", 27),
    (b"DK", 18), (b"DO", 28), (b"EE", 20), (b"EG", 29), (b"ES", 24), (b"FI", 18),
    (b"FK", 18), (b"FO", 18), (b"FR", 27), (b"GB", 22), (b"GE", 22), (b"GI", 23),
    (b"GL", 18), (b"GR", 27), (b"GT", 28), (b"HN", 28), (b"HR", 21), (b"HU", 28),
    (b"IE", 22), (b"IL", 23), (b"IQ", 23), (b"IS", 26), (b"IT", 27), (b"JO", 30),
    (b"KW", 30), (b"KZ", 20), (b"LB", 28), (b"LC", 32), (b"LI", 21), (b"LT", 20),
    (b"LU", 20), (b"LV", 21), (b"LY", 25), (b"MC", 27), (b"MD", 24), (b"ME", 22),
    (b"MK", 19), (b"MN", 20), (b"MR", 27), (b"MT", 31), (b"MU", 30), (b"NI", 28),
    (b"NL", 18), (b"NO", 15), (b"OM", 23), (b"PK", 24), (b"PL", 28), (b"PS", 29),
    (b"PT", 25), (b"QA", 29), (b"RO", 24), (b"RS", 22), (b"RU", 33), (b"SA", 24),
    (b"SC", 31), (b"SD", 18), (b"SE", 24), (b"SI", 19), (b"SK", 24), (b"SM", 27),
    (b"SO", 23), (b"ST", 25), (b"SV", 28), (b"TL", 23), (b"TN", 24), (b"TR", 26),
    (b"UA", 29), (b"VA", 22), (b"VG", 24), (b"XK", 20), (b"YE", 30),
];

/// The longest IBAN of any country.
pub(super) const MAX_LEN: usize = 34;

/// The IBAN length of an upper-case country code, if it issues IBANs.
pub(super) fn length(country: [u8; 2]) -> Option<usize> {
    LENGTHS
        .binary_search_by(|(code, _)| code.as_slice().cmp(&country))
        .ok()
        .map(|i| LENGTHS[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_within_bounds() {
        assert!(LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(
            LENGTHS
                .iter()
                .all(|&(code, len)| code.iter().all(u8::is_ascii_uppercase)
                    && (15..=MAX_LEN).contains(&len))
        );
    }

    #[test]
    fn known_lengths() {
        for (code, len) in [
            (*b"NO", 15),
            (*b"BE", 16),
            (*b"NL", 18),
            (*b"CH", 21),
            (*b"DE", 22),
            (*b"GB", 22),
            (*b"ES", 24),
            (*b"PT", 25),
            (*b"FR", 27),
            (*b"IT", 27),
            (*b"PL", 28),
            (*b"BR", 29),
            (*b"MT", 31),
            (*b"LC", 32),
            (*b"RU", 33),
            (*b"HN", 28),
            (*b"OM", 23),
            (*b"YE", 30),
            (*b"SO", 23),
            (*b"MN", 20),
        ] {
            assert_eq!(
                length(code),
                Some(len),
                "{}",
                String::from_utf8_lossy(&code)
            );
        }
    }

    /// Builds a valid IBAN of every listed country (check digits computed
    /// from a made-up BBAN) and finds it, compact and grouped.
    #[test]
    fn every_country_round_trips() {
        use super::super::iban::{at, mod97_valid};
        for &(code, len) in &LENGTHS {
            let bban: String = (0..len - 4)
                .map(|i| char::from(b"0123456789ABCDEFGHIJ"[i * 7 % 20]))
                .collect();
            let country = std::str::from_utf8(code).unwrap();
            let check = (2..=98)
                .find(|c| mod97_valid(format!("{country}{c:02}{bban}").as_bytes()))
                .expect("some check digits fit");
            let iban = format!("{country}{check:02}{bban}");
            let grouped: Vec<&str> = iban
                .as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            for form in [iban.clone(), grouped.join(" ")] {
                let text = format!("IBAN {form}.");
                assert_eq!(at(&text, 7..9).map(|r| &text[r]), Some(form.as_str()));
            }
        }
    }

    #[test]
    fn countries_without_iban() {
        for code in [
            *b"US", *b"CA", *b"AU", *b"JP", *b"CN", *b"IN", *b"ZZ", *b"de",
        ] {
            assert_eq!(length(code), None);
        }
    }
}
