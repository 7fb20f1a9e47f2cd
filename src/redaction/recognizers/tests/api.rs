//! The public API: entity selection, overlap resolution, Unicode, edges.

use super::super::{Entity, EntitySet, Found, find};
use super::{matches, prose};

fn found(text: &str, wanted: EntitySet) -> Vec<(String, &'static str)> {
    matches(text, &find(text, wanted))
}

fn pairs(list: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
    list.iter().map(|&(s, e)| (s.to_string(), e)).collect()
}

const MIXED: &str = "Hi, mail john.doe@example.com or call +44 20 7946 0958. \
    Pay to DE89 3704 0044 0532 0130 00 with card 4111 1111 1111 1111 from 192.168.1.10 \
    or fe80::1%eth0 using key AKIAIOSFODNN7EXAMPLE.";

#[test]
fn empty_text_and_empty_set() {
    assert!(find("", EntitySet::all()).is_empty());
    assert!(find("mail john@example.com", EntitySet::empty()).is_empty());
}

#[test]
fn every_entity_in_one_text() {
    assert_eq!(
        found(MIXED, EntitySet::all()),
        pairs(&[
            ("john.doe@example.com", "email_address"),
            ("+44 20 7946 0958", "phone_number"),
            ("DE89 3704 0044 0532 0130 00", "iban_code"),
            ("4111 1111 1111 1111", "credit_card"),
            ("192.168.1.10", "ip_address"),
            ("fe80::1", "ip_address"),
            ("AKIAIOSFODNN7EXAMPLE", "secret"),
        ])
    );
}

#[test]
fn only_wanted_entities() {
    let all = find(MIXED, EntitySet::all());
    for entity in Entity::ALL.iter().copied() {
        let only = find(MIXED, entity.into());
        let expected: Vec<Found> = all.iter().copied().filter(|f| f.entity == entity).collect();
        assert_eq!(only, expected, "{entity:?}");
    }
    let two: EntitySet = [Entity::EmailAddress, Entity::Secret].into_iter().collect();
    assert_eq!(find(MIXED, two).len(), 2);
}

#[test]
fn card_and_iban_digits_are_not_phone_numbers_even_alone() {
    let phones = EntitySet::from(Entity::PhoneNumber);
    for text in [
        "card 4111 1111 1111 1111 ok",
        "amex 3782 822463 10005 ok",
        "iban DE89 3704 0044 0532 0130 00 ok",
        "iban GB82 WEST 1234 5698 7654 32 ok",
    ] {
        assert!(find(text, phones).is_empty(), "{text}");
    }
}

#[test]
fn overlaps_go_to_the_longer_match() {
    // Local part looks like a phone number; the address is longer.
    assert_eq!(
        found("4155550132@example.com", EntitySet::all()),
        pairs(&[("4155550132@example.com", "email_address")])
    );
    // An IPv4 tail inside an IPv6 address.
    assert_eq!(
        found("::ffff:192.0.2.1", EntitySet::all()),
        pairs(&[("::ffff:192.0.2.1", "ip_address")])
    );
    // Digits inside a JWT or a PEM block belong to the secret.
    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN 4111111111111111 eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.abc\n-----END PRIVATE KEY-----";
    assert_eq!(found(pem, EntitySet::all()), pairs(&[(pem, "secret")]));
    // A Slack webhook URL holds digits and letters a phone could start on.
    let hook = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";
    assert_eq!(found(hook, EntitySet::all()), pairs(&[(hook, "secret")]));
}

#[test]
fn unicode_around_matches() {
    let text = "Привет — пишите на «ivan@example.ru» 📧, звоните +7 495 123-45-67 🙂; \
        IBAN：DE89370400440532013000，IP “fe80::1” и 10.0.0.1… ключ 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。\
        日本語のメール user@例え.テスト です";
    let got = find(text, EntitySet::all());
    for f in &got {
        assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
    }
    assert_eq!(
        matches(text, &got),
        pairs(&[
            ("ivan@example.ru", "email_address"),
            ("+7 495 123-45-67", "phone_number"),
            ("DE89370400440532013000", "iban_code"),
            ("fe80::1", "ip_address"),
            ("10.0.0.1", "ip_address"),
            ("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", "secret"),
            ("user@例え.テスト", "email_address"),
        ])
    );
}

#[test]
fn letters_of_other_scripts_glue_like_ascii_ones() {
    for text in [
        "приветjohn@example.com",
        "電話4155550132",
        "ключAKIAIOSFODNN7EXAMPLE",
        "х10.0.0.1",
        "DE89370400440532013000é",
    ] {
        assert!(find(text, EntitySet::all()).is_empty(), "{text}");
    }
}

#[test]
fn results_are_sorted_disjoint_and_on_char_boundaries() {
    let mut text = prose(20_000, 7, true);
    for (i, insert) in [
        MIXED,
        " “ivan@пример.рф” ",
        " +49 (0) 30 1234567 ",
        " sk_live_4eC39HqLyjWDarjtT1zdp7dc ",
    ]
    .iter()
    .enumerate()
    {
        let at = text.floor_char_boundary(text.len() / 5 * (i + 1));
        text.insert_str(at, &format!("\n{insert}\n"));
    }
    let got = find(&text, EntitySet::all());
    assert!(got.len() >= 10);
    for pair in got.windows(2) {
        assert!(pair[0].end <= pair[1].start);
    }
    for f in &got {
        assert!(f.start < f.end && text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
    }
}
