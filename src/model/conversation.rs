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
    /// Tool definitions its assistant may call, as stored.
    pub tools: Option<StoredJson>,
    pub turns: Vec<Turn>,
    /// Why a stored value cannot be written (a number beyond every format's
    /// range, messages PostgreSQL cannot read as text): the conversation is
    /// skipped, never the whole export failed.
    pub unreadable: Option<&'static str>,
}

impl Conversation {
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
