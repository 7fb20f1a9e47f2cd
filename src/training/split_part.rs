//! Which part of a train/validation split an example belongs to, decided by
//! its training content, so identical content always lands in the same part
//! — also when it sits in different conversations, which an id-keyed split
//! put in both parts. The key is a 128-bit SipHash-1-3 of the conversation's
//! turns (role, content, tool calls, tool result link) and tools, as they
//! are exported (after redaction), keyed by the split's seed: the same part
//! in every run, format, target, preview and job; another seed, another
//! split. Pseudonyms count as their placeholder (`<EMAIL_ADDRESS_3>` as
//! `<EMAIL_ADDRESS>`), since their numbers depend on what else an export
//! holds.

use std::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher13};

use crate::config::{Entity, Part, Split};
use crate::model::Conversation;
use crate::training::content_hash::write_in_pieces;

pub struct SplitPart {
    keys: (u64, u64),
    validation: f64,
    part: Part,
    pseudonyms: bool,
}

impl SplitPart {
    /// `pseudonyms`: the export's redaction numbers its values.
    pub fn new(split: &Split, pseudonyms: bool) -> SplitPart {
        let mut seed = SipHasher13::new_with_keys(0, 0);
        seed.write(b"export_system split seed\0");
        seed.write(split.seed.as_bytes());
        let seed = seed.finish128();
        SplitPart {
            keys: (seed.h1, seed.h2),
            validation: split.validation,
            part: split.part,
            pseudonyms,
        }
    }

    /// Whether the conversation's content belongs to the part exported.
    pub fn holds(&self, conversation: &Conversation) -> bool {
        let fraction = (self.fingerprint(conversation) >> 64) as f64 / 2f64.powi(64);
        let in_validation = fraction < self.validation;
        in_validation == (self.part == Part::Validation)
    }

    fn fingerprint(&self, conversation: &Conversation) -> u128 {
        let mut hasher = SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        let text = |hasher: &mut SipHasher13, value: Option<&str>| match value {
            None => hasher.write_u8(0),
            Some(value) => {
                hasher.write_u8(1);
                self.write_text(hasher, value);
                // Ends the text: a text never holds a byte 0xFF.
                hasher.write_u8(0xFF);
            }
        };
        for turn in &conversation.turns {
            text(&mut hasher, Some(&turn.role));
            text(&mut hasher, Some(&turn.content));
            text(
                &mut hasher,
                turn.tool_calls.as_ref().map(|calls| calls.as_str()),
            );
            text(&mut hasher, turn.tool_call_id.as_deref());
        }
        text(
            &mut hasher,
            conversation.tools.as_ref().map(|tools| tools.as_str()),
        );
        hasher.finish128().as_u128()
    }

    /// The text's bytes, a pseudonym's number left out, checking for
    /// interrupts every `PIECE_BYTES`.
    fn write_text(&self, hasher: &mut SipHasher13, text: &str) {
        let mut written = 0;
        if self.pseudonyms {
            for (start, end) in pseudonym_numbers(text) {
                write_in_pieces(hasher, &text.as_bytes()[written..start]);
                written = end;
            }
        }
        write_in_pieces(hasher, &text.as_bytes()[written..]);
    }
}

/// The byte ranges of the `_<digits>` in each `<LABEL_<digits>>` of `text`.
fn pseudonym_numbers(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'<', bytes).filter_map(move |open| {
        let rest = &text[open + 1..];
        let label = Entity::ALL
            .iter()
            .map(|entity| entity.label())
            .find(|label| rest.starts_with(label))?;
        let after_label = open + 1 + label.len();
        let digits = bytes[after_label..]
            .iter()
            .skip(1)
            .take_while(|b| b.is_ascii_digit())
            .count();
        let close = after_label + 1 + digits;
        (bytes.get(after_label) == Some(&b'_') && digits > 0 && bytes.get(close) == Some(&b'>'))
            .then_some((after_label, close))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(id: &str, contents: &[&str]) -> Conversation {
        Conversation::with_turns(id, contents)
    }

    fn split(seed: &str, part: Part) -> Split {
        Split {
            validation: 0.5,
            seed: seed.into(),
            part,
        }
    }

    #[test]
    fn the_same_content_lands_in_the_same_part_whatever_its_conversation() {
        let parts = SplitPart::new(&split("s", Part::Validation), false);
        for n in 0..200 {
            let text = format!("question {n}");
            let a = conversation("a", &[&text, "answer"]);
            let b = conversation("b", &[&text, "answer"]);
            assert_eq!(parts.holds(&a), parts.holds(&b));
        }
    }

    #[test]
    fn the_parts_are_complementary_and_the_seed_matters() {
        let validation = SplitPart::new(&split("s", Part::Validation), false);
        let train = SplitPart::new(&split("s", Part::Train), false);
        let other = SplitPart::new(&split("t", Part::Validation), false);
        let mut differs = false;
        for n in 0..200 {
            let c = conversation("c", &[&format!("q{n}"), "a"]);
            assert_ne!(validation.holds(&c), train.holds(&c));
            differs |= validation.holds(&c) != other.holds(&c);
        }
        assert!(differs);
    }

    #[test]
    fn a_pseudonym_counts_as_its_placeholder() {
        let parts = SplitPart::new(&split("s", Part::Validation), true);
        let plain = SplitPart::new(&split("s", Part::Validation), false);
        for n in 0..100 {
            let one = conversation("a", &[&format!("mail <EMAIL_ADDRESS_1> {n}"), "ok"]);
            let two = conversation("b", &[&format!("mail <EMAIL_ADDRESS_27> {n}"), "ok"]);
            let placeholder = conversation("c", &[&format!("mail <EMAIL_ADDRESS> {n}"), "ok"]);
            assert_eq!(parts.holds(&one), parts.holds(&two));
            assert_eq!(parts.holds(&one), plain.holds(&placeholder));
        }
        let spans: Vec<_> =
            pseudonym_numbers("<SECRET_12> <SECRET> <EMAIL_ADDRESS_x> <IP_ADDRESS_3").collect();
        assert_eq!(spans, vec![(7, 10)]);
    }
}
