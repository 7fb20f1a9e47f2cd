//! What happens to each conversation an export reads before a format, a
//! token count or a duplicate check sees it: its personal data is redacted
//! (when asked), and it is kept only if its redacted content belongs to the
//! split's part (when split). Shared by the export pipeline and the training
//! report, so both see exactly the same examples.

use serde_json::Value;

use crate::config::{ExportConfig, Redaction};
use crate::model::Conversation;
use crate::redaction::Redactor;
use crate::training::split_part::SplitPart;

pub struct ExampleSelection {
    redactor: Option<Redactor>,
    split: Option<SplitPart>,
}

impl ExampleSelection {
    pub fn for_config(config: &ExportConfig) -> ExampleSelection {
        ExampleSelection {
            redactor: Redactor::for_entities(&config.redact, config.redaction),
            split: config
                .split
                .as_ref()
                .map(|split| SplitPart::new(split, config.redaction == Redaction::Pseudonym)),
        }
    }

    /// Redact the conversation in place; whether it is one of the export's.
    pub fn take(&mut self, conversation: &mut Conversation) -> bool {
        if let Some(redactor) = &mut self.redactor {
            redactor.conversation(conversation);
        }
        self.split
            .as_ref()
            .is_none_or(|split| split.holds(conversation))
    }

    /// Values redacted so far per kind of personal data asked for; None
    /// when the export redacts nothing.
    pub fn redactions(&self) -> Option<Value> {
        self.redactor.as_ref().map(Redactor::counts)
    }
}
