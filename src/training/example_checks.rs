//! What an export asks of each example before it is written: its token
//! count (for `max_tokens` and `metadata.token_count`) and whether it repeats
//! an earlier one (`dedupe`). Built only when the config asks for either, so
//! other exports never count a token.

use crate::config::{Dedupe, ExportConfig, Format, Target, Tokenizer};
use crate::formats::training_example::{training_example, turns_as_example};
use crate::model::Conversation;
use crate::training::duplicates::{Duplicates, EmittedExamples};
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
    /// The checks `config` asks for; None when it asks for none. `emitted`:
    /// for `"dedupe": "history"`, what the saved export's runs emitted.
    pub fn for_config(
        config: &ExportConfig,
        emitted: Option<EmittedExamples>,
    ) -> Option<ExampleChecks> {
        let counts = config.counts_tokens();
        let duplicates = match (config.dedupe, emitted) {
            (Dedupe::Off, _) => None,
            (Dedupe::History, Some(emitted)) => Some(Duplicates::with_history(emitted)),
            (Dedupe::InExport | Dedupe::History, _) => Some(Duplicates::with_random_key()),
        };
        (counts || duplicates.is_some()).then(|| ExampleChecks {
            target: config.target,
            full_content: config.include.full_content,
            jsonl: config.format == Format::Jsonl,
            tokenizer: counts.then_some(config.tokenizer),
            max_tokens: config.max_tokens,
            duplicates,
        })
    }

    /// The duplicate check, when the export dedupes.
    pub fn duplicates(&self) -> Option<&Duplicates> {
        self.duplicates.as_ref()
    }

    pub fn examine(&mut self, conversation: &Conversation) -> Verdict {
        let example = match training_example(conversation, self.target, self.full_content) {
            Ok(example) => example,
            Err(_) if self.jsonl => return Verdict::Keep(None),
            Err(_) => turns_as_example(conversation, self.full_content),
        };
        let tokens = self
            .tokenizer
            .map(|tokenizer| example_tokens(tokenizer, &example));
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
