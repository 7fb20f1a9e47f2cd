//! Scanning in windows finds exactly what scanning the text as one window
//! finds, wherever the cuts fall relative to the matches.

use super::super::interrupts::PIECE_BYTES;
use super::super::windows::Windows;
use super::super::{EntitySet, Found, find_in};
use super::{find_whole, matches, prose};

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
const AWS_VALUE: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// `(text to insert, the match it must produce)`.
fn samples() -> Vec<(String, &'static str)> {
    let whole = |s: &'static str| (s.to_string(), s);
    vec![
        whole("john.doe@example.com"),
        whole("user@bücher.de"),
        whole("+44 20 7946 0958"),
        whole("(415) 555-0132 ext. 123"),
        whole("01 23 45 67 89"),
        whole("4111 1111 1111 1111"),
        whole("3782-822463-10005"),
        whole("DE89 3704 0044 0532 0130 00"),
        whole("QA58 DOHB 0000 1234 5678 90AB CDEF G"),
        whole("GB82WEST12345698765432"),
        whole("192.168.1.10"),
        whole("2001:db8:85a3::8a2e:370:7334"),
        whole("AKIAIOSFODNN7EXAMPLE"),
        whole(JWT),
        whole("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
        (format!("aws_secret_access_key = {AWS_VALUE}"), AWS_VALUE),
    ]
}

/// Base texts that make the cutter use each kind of cut.
fn bases(len: usize) -> Vec<(&'static str, String)> {
    let lines = prose(len, 3, false);
    let one_line = lines.replace('\n', " ");
    let delimited: String = one_line.replace(' ', ",");
    let blob: String = one_line.chars().filter(|c| c.is_alphabetic()).collect();
    vec![
        ("newlines", lines),
        ("spaces", one_line),
        ("delimiters", delimited),
        ("blob", blob),
    ]
}

fn windowed(text: &str, piece: usize) -> Vec<Found> {
    find_in(text, EntitySet::all(), Windows::new(text, piece))
}

/// Inserts each sample so that each cut of `base` falls at every offset
/// inside it, and compares the two scans.
fn sweep(kind: &str, base: &str, piece: usize, samples: &[(String, &str)]) {
    let cuts: Vec<usize> = Windows::new(base, piece)
        .map(|w| w.end)
        .filter(|&e| e < base.len())
        .collect();
    assert!(cuts.len() >= 3, "{kind}: only {} cuts", cuts.len());
    for &cut in &cuts {
        for (sample, expected) in samples {
            for offset in 0..=sample.len() + 1 {
                let at = base.floor_char_boundary(cut.saturating_sub(offset));
                let text = format!("{} {sample} {}", &base[..at], &base[at..]);
                let whole = find_whole(&text, EntitySet::all());
                assert_eq!(
                    matches(&text, &windowed(&text, piece)),
                    matches(&text, &whole),
                    "{kind}: {sample:?} at {at} of {}",
                    text.len()
                );
                let start = at + 1 + sample.len() - expected.len();
                assert!(
                    whole
                        .iter()
                        .any(|f| f.start == start && &text[f.start..f.end] == *expected),
                    "{kind}: {sample:?} not found at {at}"
                );
            }
        }
    }
}

#[test]
fn every_sample_across_every_cut_of_small_windows() {
    let samples = samples();
    for (kind, base) in bases(1200) {
        sweep(kind, &base, 128, &samples);
    }
}

#[test]
fn spaced_samples_across_cuts_of_real_windows() {
    let samples: Vec<_> = samples()
        .into_iter()
        .filter(|(s, _)| s.contains(' '))
        .collect();
    for (kind, base) in bases(5 * PIECE_BYTES) {
        if kind == "newlines" || kind == "spaces" {
            sweep(kind, &base, PIECE_BYTES, &samples);
        }
    }
}

#[test]
fn prose_with_many_entities_in_real_windows() {
    let mut text = String::new();
    let samples = samples();
    for (i, line) in prose(6 * PIECE_BYTES, 5, true).lines().enumerate() {
        text.push_str(line);
        text.push(if i % 7 == 0 { ' ' } else { '\n' });
        if i % 3 == 0 {
            text.push_str(&samples[i % samples.len()].0);
            text.push(' ');
        }
    }
    let whole = find_whole(&text, EntitySet::all());
    assert!(whole.len() > 1000);
    assert_eq!(windowed(&text, PIECE_BYTES), whole);
}
