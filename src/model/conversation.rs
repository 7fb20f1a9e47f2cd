//! A conversation and its turns, as every format writes them: decoded from
//! the application's tables by the export query, read by the formats.

use crate::model::StoredJson;

/// One conversation with its turns, as the formats see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: String,
    pub conversation_id: String,
    pub title: Option<String>,
    pub status: String,
    pub tier: String,
    pub category: Vec<String>,
    pub quality_score: Option<f64>,
    pub quality_metrics: Option<StoredJson>,
    pub persona: Option<String>,
    pub emotion: Option<String>,
    pub topic: Option<String>,
    pub total_turns: i64,
    pub token_count: i64,
    pub parent_id: Option<String>,
    pub parent_type: Option<String>,
    pub review_history: StoredJson,
    /// ISO 8601, UTC.
    pub created_at: String,
    /// ISO 8601, UTC.
    pub updated_at: String,
    /// updated_at exactly (microseconds since 2000-01-01 UTC, PostgreSQL's
    /// own count), when the export reads it: what an increment compares.
    pub changed_at: Option<i64>,
    /// Tool definitions its assistant may call, as stored.
    pub tools: Option<StoredJson>,
    pub turns: Vec<Turn>,
    /// Why a stored value cannot be written (a number beyond every format's
    /// range, messages PostgreSQL cannot read as text): the conversation is
    /// skipped, never the whole export failed.
    pub unreadable: Option<&'static str>,
}

impl Conversation {
    /// A test conversation: alternating user and assistant turns.
    #[cfg(test)]
    pub fn with_turns(id: &str, contents: &[&str]) -> Conversation {
        Conversation {
            id: id.into(),
            conversation_id: id.into(),
            title: None,
            status: "approved".into(),
            tier: "template".into(),
            category: Vec::new(),
            quality_score: None,
            quality_metrics: None,
            persona: None,
            emotion: None,
            topic: None,
            total_turns: contents.len() as i64,
            token_count: 0,
            parent_id: None,
            parent_type: None,
            review_history: StoredJson::empty_array(),
            created_at: String::new(),
            updated_at: String::new(),
            changed_at: None,
            tools: None,
            turns: contents
                .iter()
                .enumerate()
                .map(|(n, content)| Turn {
                    turn_number: n as i64 + 1,
                    role: if n % 2 == 0 { "user" } else { "assistant" }.into(),
                    content: (*content).into(),
                    token_count: None,
                    tool_calls: None,
                    tool_call_id: None,
                })
                .collect(),
            unreadable: None,
        }
    }

    /// The bytes of its turns' contents: most of what any format writes.
    pub fn text_bytes(&self) -> usize {
        self.turns.iter().map(|turn| turn.content.len()).sum()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub turn_number: i64,
    pub role: String,
    pub content: String,
    pub token_count: Option<i64>,
    /// An assistant's tool calls, as stored.
    pub tool_calls: Option<StoredJson>,
    /// A tool result's link to the call it answers.
    pub tool_call_id: Option<String>,
}
