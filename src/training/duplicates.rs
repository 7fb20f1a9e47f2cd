//! Duplicate examples within one export: each kept example leaves a 128-bit
//! fingerprint of its training content and the earlier conversation's id —
//! 16 bytes when the id is a UUID (the usual key), else the example's
//! position in the file — so memory grows by a fixed size per example,
//! never by its text.

use std::collections::HashMap;

use uuid::Uuid;

use crate::formats::training_example::TrainingExample;
use crate::training::content_hash::ContentHasher;

/// How a duplicate names the conversation it repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Earlier {
    Id(Uuid),
    /// 1-based, among the examples kept.
    Position(u64),
}

pub struct Duplicates {
    hasher: ContentHasher,
    seen: HashMap<u128, Earlier>,
}

impl Duplicates {
    pub fn with_random_key() -> Duplicates {
        Duplicates {
            hasher: ContentHasher::random(),
            seen: HashMap::new(),
        }
    }

    /// The earlier conversation this example repeats (its id, or "example N"
    /// for an id that is not a UUID); None for a new one, which is kept.
    pub fn earlier(&mut self, id: &str, example: &TrainingExample) -> Option<String> {
        let fingerprint = self.hasher.fingerprint(example);
        if let Some(earlier) = self.seen.get(&fingerprint) {
            return Some(match earlier {
                Earlier::Id(id) => id.to_string(),
                Earlier::Position(position) => format!("example {position}"),
            });
        }
        let position = self.seen.len() as u64 + 1;
        let earlier = Uuid::parse_str(id).map_or(Earlier::Position(position), Earlier::Id);
        self.seen.insert(fingerprint, earlier);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::training_example::ExampleMessage;

    fn example(content: &str) -> TrainingExample<'static> {
        TrainingExample {
            messages: vec![ExampleMessage {
                role: "user".into(),
                content: Some(content.into()),
                tool_calls: Vec::new(),
                tool_call_id: None,
            }],
            tools: None,
        }
    }

    #[test]
    fn a_repeat_names_the_first_conversation() {
        let first = "0000000a-0000-4000-8000-000000000001";
        let mut duplicates = Duplicates::with_random_key();
        assert_eq!(duplicates.earlier(first, &example("a")), None);
        assert_eq!(duplicates.earlier("x", &example("b")), None);
        assert_eq!(
            duplicates.earlier("y", &example("a")).as_deref(),
            Some(first)
        );
        assert_eq!(
            duplicates.earlier("z", &example("b")).as_deref(),
            Some("example 2")
        );
    }
}
