//! What an export asks of each example before it is written: its token
//! count (for `max_tokens` and `metadata.token_count`) and whether it repeats
//! an earlier one (`dedupe`). Built only when the config asks for either, so
//! other exports never count a token.

use crate::config::{ExportConfig, Format, Target, Tokenizer};
use crate::formats::training_example::{TrainingExample, training_example, turns_as_example};
use crate::model::Conversation;
use crate::training::duplicates::Duplicates;
use crate::training::message_tokens::example_tokens;

/// The outcome for one conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Write it; its count when counted.
    Keep(Option<u64>),
    /// Over `max_tokens`: skip it (or fail a strict export).
    OverLimit(u64),
    /// Repeats an earlier example: skip it, naming that one.
    Duplicate(String),
}

pub struct ExampleChecks {
    target: Target,
    full_content: bool,
    /// A JSONL file's examples are its lines: one the target cannot express
    /// is the format's to skip. Other formats count such a conversation over
    /// its turns.
    jsonl: bool,
    tokenizer: Option<Tokenizer>,
    max_tokens: Option<u64>,
    duplicates: Option<Duplicates>,
}

impl ExampleChecks {
    /// The checks `config` asks for; None when it asks for none.
    pub fn for_config(config: &ExportConfig) -> Option<ExampleChecks> {
        let counts = config.counts_tokens();
        (counts || config.dedupe).then(|| ExampleChecks {
            target: config.target,
            full_content: config.include.full_content,
            jsonl: config.format == Format::Jsonl,
            tokenizer: counts.then_some(config.tokenizer),
            max_tokens: config.max_tokens,
            duplicates: config.dedupe.then(Duplicates::with_random_key),
        })
    }

    /// Whether `tokens` counts anything (the config asks for counts).
    pub fn counts_tokens(&self) -> bool {
        self.tokenizer.is_some()
    }

    /// The example the checks read: the target's; for formats other than
    /// JSONL, the turns as OpenAI messages when the target cannot express it.
    fn example<'c>(&self, conversation: &'c Conversation) -> Option<TrainingExample<'c>> {
        match training_example(conversation, self.target, self.full_content) {
            Ok(example) => Some(example),
            Err(_) if self.jsonl => None,
            Err(_) => Some(turns_as_example(conversation, self.full_content)),
        }
    }

    /// The example's tokens, when counted. Reads nothing but the
    /// conversation, so threads beside the backend count whole batches.
    pub fn tokens(&self, conversation: &Conversation) -> Option<u64> {
        let tokenizer = self.tokenizer?;
        self.example(conversation)
            .map(|example| example_tokens(tokenizer, &example))
    }

    /// The verdict on one conversation, given its `tokens` (as `tokens`
    /// counted them).
    pub fn examine(&mut self, conversation: &Conversation, tokens: Option<u64>) -> Verdict {
        let Some(example) = self.example(conversation) else {
            return Verdict::Keep(None);
        };
        if let (Some(tokens), Some(max)) = (tokens, self.max_tokens)
            && tokens > max
        {
            return Verdict::OverLimit(tokens);
        }
        if let Some(duplicates) = &mut self.duplicates
            && let Some(earlier) = duplicates.earlier(&conversation.id, &example)
        {
            return Verdict::Duplicate(earlier);
        }
        Verdict::Keep(tokens)
    }
}
