//! The 128-bit fingerprint of an example's training content: SipHash-1-3
//! (128-bit output) over its messages and tools, each text length-prefixed
//! so that different contents never feed the same bytes. Keyed at random per
//! export, so nobody who writes conversations can aim a collision at another.

use std::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher13};

use crate::formats::training_example::TrainingExample;
use crate::pg::interrupts::{self, PIECE_BYTES};

/// `bytes` into a hasher that takes its input as a stream (pieces hash as
/// the whole), checking for interrupts between pieces of `PIECE_BYTES`.
pub fn write_in_pieces(hasher: &mut impl Hasher, bytes: &[u8]) {
    for piece in bytes.chunks(PIECE_BYTES) {
        hasher.write(piece);
        interrupts::check();
    }
}

#[derive(Clone)]
pub struct ContentHasher {
    keys: (u64, u64),
}

impl ContentHasher {
    /// A hasher with keys of its own (from a version 4 UUID's random bits).
    pub fn random() -> ContentHasher {
        let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
        ContentHasher { keys: (high, low) }
    }

    /// A hasher with a key kept elsewhere (a saved export's, secret).
    pub fn with_key(keys: (u64, u64)) -> ContentHasher {
        ContentHasher { keys }
    }

    pub fn fingerprint(&self, example: &TrainingExample) -> u128 {
        let mut hasher = SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        let mut text = |value: Option<&str>| match value {
            None => hasher.write_u8(0),
            Some(value) => {
                hasher.write_u8(1);
                hasher.write_u64(value.len() as u64);
                write_in_pieces(&mut hasher, value.as_bytes());
            }
        };
        for message in &example.messages {
            text(Some(&message.role));
            text(message.content.as_deref());
            text(message.tool_call_id.as_deref());
            for (name, arguments) in &message.tool_calls {
                text(Some(name));
                text(Some(arguments));
            }
            // Ends the message: no text is None inside a call list.
            text(None);
        }
        text(example.tools.map(|tools| tools.as_str()));
        hasher.finish128().as_u128()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::training_example::ExampleMessage;

    fn example(contents: &[&str]) -> TrainingExample<'static> {
        TrainingExample {
            messages: contents
                .iter()
                .map(|content| ExampleMessage {
                    role: "user".into(),
                    content: Some(content.to_string()),
                    tool_calls: Vec::new(),
                    tool_call_id: None,
                })
                .collect(),
            tools: None,
        }
    }

    #[test]
    fn equal_contents_match_and_moved_boundaries_do_not() {
        let hasher = ContentHasher::random();
        let fingerprint = |contents: &[&str]| hasher.fingerprint(&example(contents));
        assert_eq!(fingerprint(&["ab", "c"]), fingerprint(&["ab", "c"]));
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
        assert_ne!(fingerprint(&["ab"]), fingerprint(&["ab", ""]));
    }
}
