//! What an increment of a saved export knows about the conversations it
//! reads: those an earlier increment exported at the same updated_at are
//! skipped (they did not change), and those it reads at or after the next
//! checkpoint's start are noted, because the next increment reads them again.

use std::collections::HashMap;

use crate::model::Conversation;

pub struct IncrementWindow {
    /// Conversation id → the updated_at (microseconds) it was exported at.
    exported: HashMap<String, i64>,
    /// The next checkpoint's start: conversations read at or after it are
    /// read again by the next increment.
    read_again_from: i64,
    /// Conversations this increment read at or after `read_again_from`.
    read_again: Vec<(String, i64)>,
}

impl IncrementWindow {
    pub fn new(exported: Vec<(String, i64)>, read_again_from: i64) -> IncrementWindow {
        IncrementWindow {
            exported: exported.into_iter().collect(),
            read_again_from,
            read_again: Vec::new(),
        }
    }

    /// Whether the conversation is new to this saved export: false when an
    /// earlier increment exported it with the same updated_at.
    pub fn is_new(&self, conversation: &Conversation) -> bool {
        conversation.changed_at.is_none()
            || self.exported.get(&conversation.id) != conversation.changed_at.as_ref()
    }

    /// Note a conversation this increment exports (or skips as an example):
    /// the next one must know it if it reads it again.
    pub fn note_read(&mut self, conversation: &Conversation) {
        if let Some(changed_at) = conversation.changed_at
            && changed_at >= self.read_again_from
        {
            self.read_again.push((conversation.id.clone(), changed_at));
        }
    }

    /// The conversations the next increment reads again.
    pub fn read_again(&self) -> &[(String, i64)] {
        &self.read_again
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(id: &str, changed_at: Option<i64>) -> Conversation {
        let mut conversation = Conversation::with_turns(id, &["hello"]);
        conversation.changed_at = changed_at;
        conversation
    }

    #[test]
    fn an_unchanged_conversation_is_not_new_and_a_changed_one_is() {
        let window = IncrementWindow::new(vec![("a".into(), 10)], 5);
        assert!(!window.is_new(&conversation("a", Some(10))));
        assert!(window.is_new(&conversation("a", Some(11))));
        assert!(window.is_new(&conversation("b", Some(10))));
    }

    #[test]
    fn only_what_the_next_increment_reads_again_is_noted() {
        let mut window = IncrementWindow::new(Vec::new(), 5);
        for (id, at) in [
            ("old", Some(4)),
            ("edge", Some(5)),
            ("new", Some(9)),
            ("none", None),
        ] {
            window.note_read(&conversation(id, at));
        }
        assert_eq!(
            window.read_again(),
            &[("edge".to_string(), 5), ("new".to_string(), 9)]
        );
    }
}
