//! Duplicate examples within one export: each kept example leaves a 128-bit
//! fingerprint of its training content and the earlier conversation's id —
//! 16 bytes when the id is a UUID (the usual key), else the example's
//! position in the file — so memory grows by a fixed size per example,
//! never by its text. With a saved export's history, the fingerprints its
//! earlier runs emitted (under its own secret key) count as earlier too,
//! each naming the run that emitted it.

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
    /// An earlier run of the saved export: an index into `earlier_runs`.
    Run(u32),
}

/// The examples a saved export's completed runs emitted.
pub struct EmittedExamples {
    /// The saved export's fingerprint key.
    pub key: (u64, u64),
    /// Each fingerprint and the export that emitted it first.
    pub fingerprints: Vec<(u128, Uuid)>,
}

pub struct Duplicates {
    hasher: ContentHasher,
    seen: HashMap<u128, Earlier>,
    earlier_runs: Vec<Uuid>,
    /// Examples this export kept so far.
    kept: u64,
}

impl Duplicates {
    pub fn with_random_key() -> Duplicates {
        Duplicates {
            hasher: ContentHasher::random(),
            seen: HashMap::new(),
            earlier_runs: Vec::new(),
            kept: 0,
        }
    }

    /// Duplicates within the export and of what the saved export's earlier
    /// runs emitted.
    pub fn with_history(emitted: EmittedExamples) -> Duplicates {
        let mut runs: HashMap<Uuid, u32> = HashMap::new();
        let mut earlier_runs = Vec::new();
        let mut seen = HashMap::with_capacity(emitted.fingerprints.len());
        for (fingerprint, export_id) in emitted.fingerprints {
            let run = *runs.entry(export_id).or_insert_with(|| {
                earlier_runs.push(export_id);
                earlier_runs.len() as u32 - 1
            });
            seen.insert(fingerprint, Earlier::Run(run));
        }
        Duplicates {
            hasher: ContentHasher::with_key(emitted.key),
            seen,
            earlier_runs,
            kept: 0,
        }
    }

    /// The fingerprints of the examples this export kept (not those of
    /// earlier runs): what its history gains when it completes.
    pub fn kept_fingerprints(&self) -> Vec<u128> {
        self.seen
            .iter()
            .filter(|(_, earlier)| !matches!(earlier, Earlier::Run(_)))
            .map(|(fingerprint, _)| *fingerprint)
            .collect()
    }

    /// The earlier conversation this example repeats (its id, or "example N"
    /// for an id that is not a UUID); None for a new one, which is kept.
    pub fn earlier(&mut self, id: &str, example: &TrainingExample) -> Option<String> {
        let fingerprint = self.hasher.fingerprint(example);
        if let Some(earlier) = self.seen.get(&fingerprint) {
            return Some(match earlier {
                Earlier::Id(id) => id.to_string(),
                Earlier::Position(position) => format!("example {position}"),
                Earlier::Run(run) => format!("export {}", self.earlier_runs[*run as usize]),
            });
        }
        self.kept += 1;
        let position = self.kept;
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

    #[test]
    fn a_repeat_of_an_earlier_run_names_that_run_and_is_not_kept_again() {
        let key = (7, 11);
        let mut first = Duplicates::with_history(EmittedExamples {
            key,
            fingerprints: Vec::new(),
        });
        assert_eq!(first.earlier("x", &example("a")), None);
        let run = Uuid::from_u128(42);
        let fingerprints = first
            .kept_fingerprints()
            .into_iter()
            .map(|fingerprint| (fingerprint, run))
            .collect();
        let mut second = Duplicates::with_history(EmittedExamples { key, fingerprints });
        assert_eq!(
            second.earlier("y", &example("a")),
            Some(format!("export {run}"))
        );
        assert_eq!(second.earlier("z", &example("b")), None);
        assert_eq!(
            second.earlier("w", &example("b")).as_deref(),
            Some("example 1"),
            "positions count this export's examples only"
        );
        assert_eq!(second.kept_fingerprints().len(), 1);
    }
}
