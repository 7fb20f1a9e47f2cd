//! Text full of things that look like personal data but are not.

use super::super::{EntitySet, find};
use super::{matches, prose};

const LOOK_ALIKES: &str = r#"
Release notes for version 1.2.3, build 10.0.19041 (also 10.0.19041.1234 and v2.4.1-rc.3).
Dates: 2024-05-01, 01/05/2024, 2024.05.01, 5/1/2024, 1.5.2024 and May 1, 2024.
Times: 12:30:45, 09:00, 23:59:59.999 and the ISO timestamp 2024-05-01T10:30:00Z or 2024-05-01 10:30:00+02:00.
Prices: 1,299.00 USD, $1 299, € 12.50, £1,000,000 and ¥ 1 234 567 890; 99.9% uptime.
Numbers: population 1 234 567 890, order #123456, 20 items, page 12 of 14, pi is 3.14159265358979.
IDs: uuid 123e4567-e89b-12d3-a456-426614174000, commit 3f786850e387550fdab836ed7e6dc881de23001b,
short sha 3f78685, sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.
Identifiers: user_4155550132, order-4155550132, ID4155550132, file_20240501103000.log, build #4155550132x.
Code: x = 12345678; let timeout = 86400000; if (n > 1000000) { return 0x7fffffff; } std::vector<int> a; Foo::bar();
Hashes: md5 d41d8cd98f00b204e9800998ecf8427e and base64 dGhpcyBpcyBub3QgYSBzZWNyZXQgYXQgYWxsLCBqdXN0IGJhc2U2NA==.
Versions and paths: python3.11, /usr/lib/x86_64-linux-gnu/libc.so.6, node v18.17.1, 1.2.3.4.5, 10.0.0.1.2.
Maths: 2+2=4, 10-5=5, 1e10, 6.022e23, (1) first (2) second, 3/4 cup, 1:2 ratio, 16:9 screen.
Other shapes: MAC 00:1a:2b:3c:4d:5e, time 12:30, dead:beef, a::b, ISBN 978-3-16-148410-0, ISBN 0-306-40615-2.
Words: sk-learn, scikit-learn, ask-me, risk-free, AKIA, ghp_, eyJ, xoxb, glpat, @mention, user@localhost, a @ b.
Cards that fail: 4111 1111 1111 1112, 1234 5678 9012 3456 7890, 9999999999999995.
IBAN-like: DE89370400440532013001, US12345678901234567890, XX00 0000 0000 0000.
"#;

#[test]
fn look_alikes_are_not_matched() {
    let found = find(LOOK_ALIKES, EntitySet::all());
    assert!(found.is_empty(), "{:#?}", matches(LOOK_ALIKES, &found));
}

#[test]
fn prose_with_numbers_has_no_matches() {
    let text = prose(200_000, 11, true);
    let found = find(&text, EntitySet::all());
    assert!(found.is_empty(), "{:?}", matches(&text, &found));
}
