//! One pass over a window's digit runs drives every recognizer whose
//! matches contain a digit: IBANs (check digits), card numbers, IPv4
//! addresses and phone numbers.
//!
//! Finding digits with the regex `[0-9]` uses the engine's vectorized
//! byte-class search (it is a set of ten literals, so no automaton runs),
//! so text without digits costs next to nothing, and each recognizer only
//! ever looks at the few places a match can start.

use super::run_verdict::Verdict;
use super::window::Window;
use super::{Entity, EntitySet, Found, card, iban, ipv4, phone};
use regex::Regex;
use std::ops::Range;
use std::sync::LazyLock;

/// No match has more digits in a row than an IBAN has characters (34), so
/// a longer run is handed over in slices, each glued to digits before it,
/// which keeps a gigabyte of digits linear.
const MAX_RUN: usize = 64;

static DIGIT: LazyLock<Regex> = LazyLock::new(|| Regex::new("[0-9]").expect("valid regex"));

/// A recognizer given the text and a digit run in it.
type AtRun = fn(&str, Range<usize>) -> Verdict;

const RECOGNIZERS: [(Entity, AtRun); 4] = [
    (Entity::IbanCode, |text, run| iban::at(text, run).into()),
    (Entity::CreditCard, |text, run| card::at(text, run).into()),
    (Entity::IpAddress, |text, run| ipv4::at(text, run).into()),
    (Entity::PhoneNumber, phone::at),
];

/// Appends the matches of `wanted`'s digit entities that start in `window`.
pub(super) fn scan(window: &Window, wanted: EntitySet, out: &mut Vec<Found>) {
    let hay = window.hay();
    // Per recognizer, the end of its last match or rejected number: runs
    // inside it are not tried again (the `555` of `415-555-0132`).
    let mut resume = [0; RECOGNIZERS.len()];
    let mut pos = window.start;
    while let Some(digit) = hay.get(pos..).and_then(|_| DIGIT.find_at(hay, pos)) {
        // The run goes on in the text even past the window's end (only a
        // cut inside an unstructured blob can put one there), but no more
        // than `MAX_RUN` digits at a time.
        let digits = &window.text.as_bytes()[digit.start()..];
        let len = digits
            .iter()
            .take(MAX_RUN)
            .take_while(|b| b.is_ascii_digit())
            .count();
        let run = digit.start()..digit.start() + len;
        pos = run.end;
        for ((entity, at), resume) in RECOGNIZERS.iter().zip(&mut resume) {
            if run.start < *resume || !wanted.contains(*entity) {
                continue;
            }
            match at(window.text, run.clone()) {
                Verdict::Match(found) => {
                    *resume = found.end;
                    out.push(Found {
                        start: found.start,
                        end: found.end,
                        entity: *entity,
                    });
                }
                Verdict::RejectedThrough(end) => *resume = end,
                Verdict::NoMatch => {}
            }
        }
    }
}

/// What a digit-run recognizer's `at` finds at the first digit run of
/// `text`: what its unit tests compare.
#[cfg(test)]
pub(super) fn matched_at_first_run(
    at: fn(&str, Range<usize>) -> Option<Range<usize>>,
    text: &str,
) -> Option<&str> {
    let first = text.find(|c: char| c.is_ascii_digit())?;
    let run_end = text[first..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(text.len(), |i| first + i);
    at(text, first..run_end).map(|r| &text[r])
}
