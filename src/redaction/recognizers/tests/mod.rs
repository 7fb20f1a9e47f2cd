//! Tests of [`find`](super::find) as a whole, and the helpers they share.

mod api;
mod equivalence;
mod faker;
mod precision;

use super::{EntitySet, Found, find_in};

/// `find`, scanning `text` as one window.
fn find_whole(text: &str, wanted: EntitySet) -> Vec<Found> {
    find_in(text, wanted, std::iter::once(0..text.len()))
}

/// The matched strings with their entity names.
fn matches(text: &str, found: &[Found]) -> Vec<(String, &'static str)> {
    found
        .iter()
        .map(|f| (text[f.start..f.end].to_string(), f.entity.as_str()))
        .collect()
}

/// A tiny deterministic generator, so test texts are reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "the", "be", "to", "of", "and", "a", "in", "that", "have", "it", "for", "not", "on", "with",
    "he", "as", "you", "do", "at", "this", "but", "his", "by", "from", "they", "we", "say", "her",
    "she", "or", "an", "will", "my", "one", "all", "would", "there", "their", "what", "so", "up",
    "out", "if", "about", "who", "get", "which", "go", "me", "when", "make", "can", "like", "time",
    "no", "just", "him", "know", "take", "people", "into", "year", "your", "good", "some", "could",
    "them", "see", "other", "than", "then", "now", "look", "only", "come", "its", "over", "think",
    "also", "back", "after", "use", "two", "how", "our", "work", "first", "well", "way", "even",
    "new", "want", "because", "any", "these", "give", "day", "most", "us", "meeting", "tomorrow",
    "thanks", "please", "document", "customer", "invoice", "schedule", "café", "naïve", "résumé",
];

/// English-like prose of about `len` bytes: sentences on lines of one to
/// three sentences; `digits` sprinkles in a few numbers and times.
fn prose(len: usize, seed: u64, digits: bool) -> String {
    let mut rng = Rng(seed | 1);
    let mut text = String::with_capacity(len + 100);
    while text.len() < len {
        for _ in 0..=rng.below(3) {
            let words = 4 + rng.below(12);
            for w in 0..words {
                let word = WORDS[rng.below(WORDS.len())];
                if w == 0 {
                    let mut chars = word.chars();
                    let first = chars.next().unwrap();
                    text.extend(first.to_uppercase());
                    text.push_str(chars.as_str());
                } else {
                    text.push(' ');
                    text.push_str(word);
                }
                if digits && rng.below(40) == 0 {
                    text.push_str(
                        [" 3", " 2024", " at 10:30", " 15 minutes", " 1.5"][rng.below(5)],
                    );
                }
            }
            text.push_str([". ", "? ", "! ", ", ok. "][rng.below(4)]);
        }
        text.pop();
        text.push('\n');
    }
    text
}
