//! JSON: one versioned document, streamed. `conversation_count` and `summary`
//! follow the `conversations` array, because they are known only at its end.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::json_string;
use super::json_writer::to_json_text;
use super::{
    ExportFormat, Metadata, Rows, Skip, StoredJson, exported_content, insert_optional_metadata,
};
use crate::config::{ExportConfig, Include};
use crate::model::Conversation;

/// Version of the document layout below.
pub const SCHEMA_VERSION: &str = "1.0";

pub struct Json {
    include: Include,
    pretty: bool,
    export_date: String,
    count: i64,
    total_turns: i64,
    quality_sum: f64,
    quality_count: i64,
    tiers: BTreeMap<String, i64>,
    /// Pretty mode: the last line of the previous conversation, held back
    /// until we know whether a comma follows it.
    held_conversation: Option<String>,
}

impl Json {
    pub fn new(config: &ExportConfig, export_date: String) -> Self {
        Json {
            include: config.include.clone(),
            pretty: config.pretty,
            export_date,
            count: 0,
            total_turns: 0,
            quality_sum: 0.0,
            quality_count: 0,
            tiers: BTreeMap::new(),
            held_conversation: None,
        }
    }

    fn to_text<T: Serialize>(&self, value: &T) -> String {
        to_json_text("", value, self.pretty, 0, 0)
    }
}

/// A conversation of the document. Fields are declared in byte order, the
/// order every object here has; text is borrowed, never copied into a tree,
/// and stored jsonb (tools, tool calls) is written verbatim.
#[derive(Serialize)]
struct ConversationOut<'a> {
    conversation_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata>,
    status: &'a str,
    tier: &'a str,
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a StoredJson>,
    turns: Vec<TurnOut<'a>>,
}

#[derive(Serialize)]
struct TurnOut<'a> {
    #[serde(serialize_with = "json_string::text")]
    content: &'a str,
    role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<&'a StoredJson>,
}

/// `token_count` is the source's, or the example's count when asked for.
fn metadata(conversation: &Conversation, include: &Include, tokens: Option<u64>) -> Metadata {
    let mut metadata = Metadata::new();
    metadata.insert("persona", json!(conversation.persona).into());
    metadata.insert("emotion", json!(conversation.emotion).into());
    metadata.insert("topic", json!(conversation.topic).into());
    metadata.insert("category", json!(conversation.category).into());
    metadata.insert("total_turns", json!(conversation.total_turns).into());
    let token_count = tokens
        .filter(|_| include.token_count)
        .map_or(json!(conversation.token_count), |tokens| json!(tokens));
    metadata.insert("token_count", token_count.into());
    insert_optional_metadata(&mut metadata, conversation, include);
    if include.quality_scores {
        metadata.insert(
            "quality_metrics",
            conversation.quality_metrics.clone().into(),
        );
    }
    metadata
}

impl ExportFormat for Json {
    fn begin(&mut self, rows: &mut Rows) {
        let version = json!(SCHEMA_VERSION);
        let date = json!(self.export_date);
        if self.pretty {
            rows.push_back("{".into());
            rows.push_back(format!("  \"version\": {version},"));
            rows.push_back(format!("  \"export_date\": {date},"));
            rows.push_back("  \"conversations\": [".into());
        } else {
            rows.push_back(format!(
                "{{\"version\":{version},\"export_date\":{date},\"conversations\":["
            ));
        }
    }

    fn conversation(
        &mut self,
        conversation: &Conversation,
        token_count: Option<u64>,
        rows: &mut Rows,
    ) -> Result<(), Skip> {
        let full = self.include.full_content;
        let contents: Vec<_> = conversation
            .turns
            .iter()
            .map(|t| exported_content(&t.content, full))
            .collect();
        let object = ConversationOut {
            conversation_id: &conversation.conversation_id,
            metadata: self
                .include
                .metadata
                .then(|| metadata(conversation, &self.include, token_count)),
            status: &conversation.status,
            tier: &conversation.tier,
            title: conversation.title.as_deref(),
            tools: conversation.tools.as_ref(),
            turns: conversation
                .turns
                .iter()
                .zip(&contents)
                .map(|(t, content)| TurnOut {
                    content,
                    role: &t.role,
                    token_count: t.token_count,
                    tool_call_id: t.tool_call_id.as_deref(),
                    tool_calls: t.tool_calls.as_ref(),
                })
                .collect(),
        };

        // Indented keys and values take about 128 bytes a turn.
        let expected_bytes = conversation.text_bytes() + 128 * conversation.turns.len() + 1024;
        self.count += 1;
        self.total_turns += conversation.turns.len() as i64;
        if let Some(score) = conversation.quality_score {
            self.quality_sum += score;
            self.quality_count += 1;
        }
        *self.tiers.entry(conversation.tier.clone()).or_default() += 1;

        if self.pretty {
            // Held until the next conversation or the end shows whether a
            // comma follows it.
            if let Some(mut previous) = self.held_conversation.take() {
                previous.push(',');
                rows.push_back(previous);
            }
            // An element of the root's `conversations` array: two levels deep.
            self.held_conversation = Some(to_json_text("    ", &object, true, 2, expected_bytes));
        } else {
            let separator = if self.count > 1 { "," } else { "" };
            rows.push_back(to_json_text(separator, &object, false, 0, expected_bytes));
        }
        Ok(())
    }

    fn holds_a_row(&self) -> bool {
        self.held_conversation.is_some()
    }

    fn finish(&mut self, rows: &mut Rows) {
        let mut tail = Map::new();
        tail.insert("conversation_count".into(), json!(self.count));
        if self.include.metadata {
            let average = (self.quality_count > 0).then(|| {
                // Two decimals, like the scores themselves.
                (self.quality_sum / self.quality_count as f64 * 100.0).round() / 100.0
            });
            tail.insert(
                "summary".into(),
                json!({
                    "total_turns": self.total_turns,
                    "average_quality_score": average,
                    "tier_distribution": self.tiers,
                }),
            );
        }
        if self.pretty {
            rows.extend(self.held_conversation.take());
            rows.push_back("  ],".into());
            // Splice the tail object's members (all but its braces) into the open root object.
            let tail_text = self.to_text(&Value::Object(tail));
            let lines: Vec<&str> = tail_text.split('\n').collect();
            rows.extend(
                lines[1..lines.len() - 1]
                    .iter()
                    .map(|line| line.to_string()),
            );
            rows.push_back("}".into());
        } else {
            let tail_text = self.to_text(&Value::Object(tail));
            rows.push_back(format!("],{}", &tail_text[1..]));
        }
    }
}
