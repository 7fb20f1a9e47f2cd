//! What happens to each conversation an export reads before a format, a
//! token count or a duplicate check sees it: its personal data is redacted
//! (when asked), and it is kept only if its redacted content belongs to the
//! split's part (when split), and, in an increment of a saved export, only
//! if it changed since an earlier increment exported it. Shared by the
//! export pipeline and the training report, so both see exactly the same
//! examples.

use serde_json::Value;

use crate::config::{ExportConfig, Redaction};
use crate::export::increment_window::IncrementWindow;
use crate::model::Conversation;
use crate::redaction::Redactor;
use crate::training::split_part::SplitPart;

pub struct ExampleSelection {
    redactor: Option<Redactor>,
    split: Option<SplitPart>,
    window: Option<IncrementWindow>,
}

impl ExampleSelection {
    pub fn for_config(config: &ExportConfig) -> ExampleSelection {
        ExampleSelection {
            redactor: Redactor::for_entities(&config.redact, config.redaction),
            split: config
                .split
                .as_ref()
                .map(|split| SplitPart::new(split, config.redaction == Redaction::Pseudonym)),
            window: None,
        }
    }

    /// In an increment: skip what an earlier one exported unchanged.
    pub fn in_window(mut self, window: Option<IncrementWindow>) -> ExampleSelection {
        self.window = window;
        self
    }

    /// The increment's window, with what this run read noted.
    pub fn window(&self) -> Option<&IncrementWindow> {
        self.window.as_ref()
    }

    /// Redact the conversation in place; whether it is one of the export's.
    pub fn take(&mut self, conversation: &mut Conversation) -> bool {
        if self
            .window
            .as_ref()
            .is_some_and(|window| !window.is_new(conversation))
        {
            return false;
        }
        if let Some(redactor) = &mut self.redactor {
            redactor.conversation(conversation);
        }
        let taken = self
            .split
            .as_ref()
            .is_none_or(|split| split.holds(conversation));
        if taken && let Some(window) = &mut self.window {
            window.note_read(conversation);
        }
        taken
    }

    /// Values redacted so far per kind of personal data asked for; None
    /// when the export redacts nothing.
    pub fn redactions(&self) -> Option<Value> {
        self.redactor.as_ref().map(Redactor::counts)
    }
}
