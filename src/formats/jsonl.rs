//! JSONL: one fine-tuning example per line, in the chosen target's dialect.

use serde::Serialize;
use serde_json::json;

use super::{ExportFormat, MetaValue, Metadata, Rows, Skip, exported_content, json_line};
use crate::config::{ExportConfig, Include, Target};
use crate::export::source::{Conversation, Turn};

pub struct Jsonl {
    target: Target,
    include: Include,
}

impl Jsonl {
    pub fn new(config: &ExportConfig) -> Self {
        Jsonl {
            target: config.target,
            include: config.include.clone(),
        }
    }
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Serialize)]
struct OpenAiExample<'a> {
    messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata>,
}

/// Bedrock's Claude format: `system` and `messages`, and no other key.
#[derive(Serialize)]
struct AnthropicExample<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<Message<'a>>,
}

#[derive(Serialize)]
struct ShareGptMessage<'a> {
    from: &'a str,
    value: &'a str,
}

/// LLaMA-Factory's sharegpt layout: leading system turns become `system`.
#[derive(Serialize)]
struct ShareGptExample<'a> {
    conversations: Vec<ShareGptMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata>,
}

/// The seeds' JSONL metadata object: identity always, the rest per include
/// flags. Every value is a string — `""` when the conversation has none,
/// numbers in their decimal form, jsonb as its JSON text — and every line of
/// one export has the same keys, so a loader that fixes its schema from the
/// first lines (Hugging Face datasets, Arrow) reads them all: a key missing
/// at first, a null at first, or jsonb whose shape varies would each break it.
pub fn training_metadata(conversation: &Conversation, include: &Include) -> Metadata {
    let text = |value: Option<&str>| MetaValue::from(json!(value.unwrap_or_default()));
    let mut metadata = Metadata::new();
    metadata.insert("conversation_id", text(Some(&conversation.conversation_id)));
    metadata.insert("title", text(conversation.title.as_deref()));
    metadata.insert("tier", text(Some(&conversation.tier)));
    metadata.insert("persona", text(conversation.persona.as_deref()));
    metadata.insert("emotion", text(conversation.emotion.as_deref()));
    metadata.insert("topic", text(conversation.topic.as_deref()));
    if include.quality_scores {
        let score = conversation.quality_score.map(|score| score.to_string());
        metadata.insert("quality_score", text(score.as_deref()));
    }
    if include.timestamps {
        metadata.insert("created_at", text(Some(&conversation.created_at)));
        metadata.insert("updated_at", text(Some(&conversation.updated_at)));
    }
    if include.approval_history {
        metadata.insert(
            "review_history",
            text(Some(conversation.review_history.as_str())),
        );
    }
    if include.parent_references {
        metadata.insert("parent_id", text(conversation.parent_id.as_deref()));
        metadata.insert("parent_type", text(conversation.parent_type.as_deref()));
    }
    metadata
}

fn check_contents(turns: &[Turn]) -> Result<(), Skip> {
    if turns.is_empty() {
        return Err(Skip("no turns"));
    }
    if turns.iter().any(|t| t.content.trim().is_empty()) {
        return Err(Skip("empty message content"));
    }
    if !turns.iter().any(|t| t.role == "assistant") {
        return Err(Skip("no assistant turn"));
    }
    Ok(())
}

/// Anthropic (Bedrock Claude) and ShareGPT (LLaMA-Factory) examples: leading
/// system turns become the `system` string; the rest must alternate
/// user/assistant, user first and assistant last (LLaMA-Factory drops an
/// example whose turns do not alternate human/gpt, or that ends with human).
fn check_alternation(turns: &[Turn]) -> Result<usize, Skip> {
    let leading_system = turns.iter().take_while(|t| t.role == "system").count();
    let dialogue = &turns[leading_system..];
    if dialogue.iter().any(|t| t.role == "system") {
        return Err(Skip("system turn after the dialogue started"));
    }
    if dialogue.first().is_none_or(|t| t.role != "user") {
        return Err(Skip("dialogue does not start with a user turn"));
    }
    if dialogue.last().is_none_or(|t| t.role != "assistant") {
        return Err(Skip("dialogue does not end with an assistant turn"));
    }
    if dialogue.windows(2).any(|pair| pair[0].role == pair[1].role) {
        return Err(Skip("user and assistant turns do not alternate"));
    }
    Ok(leading_system)
}

/// Leading system turns as one system prompt, paragraphs apart.
fn joined_system(contents: &[std::borrow::Cow<'_, str>]) -> Option<String> {
    (!contents.is_empty()).then(|| {
        contents
            .iter()
            .map(|c| c.as_ref())
            .collect::<Vec<_>>()
            .join("\n\n")
    })
}

impl ExportFormat for Jsonl {
    fn conversation(&mut self, conversation: &Conversation, rows: &mut Rows) -> Result<(), Skip> {
        let turns = &conversation.turns;
        check_contents(turns)?;
        let full = self.include.full_content;
        let contents: Vec<_> = turns
            .iter()
            .map(|t| exported_content(&t.content, full))
            .collect();
        let metadata = self
            .include
            .metadata
            .then(|| training_metadata(conversation, &self.include));
        let line = match self.target {
            Target::OpenAi => json_line(&OpenAiExample {
                messages: turns
                    .iter()
                    .zip(&contents)
                    .map(|(t, content)| Message {
                        role: &t.role,
                        content,
                    })
                    .collect(),
                metadata,
            }),
            Target::Anthropic => {
                let leading_system = check_alternation(turns)?;
                let system = joined_system(&contents[..leading_system]);
                json_line(&AnthropicExample {
                    system,
                    messages: turns[leading_system..]
                        .iter()
                        .zip(&contents[leading_system..])
                        .map(|(t, content)| Message {
                            role: &t.role,
                            content,
                        })
                        .collect(),
                })
            }
            Target::ShareGpt => {
                let leading_system = check_alternation(turns)?;
                json_line(&ShareGptExample {
                    conversations: turns[leading_system..]
                        .iter()
                        .zip(&contents[leading_system..])
                        .map(|(t, value)| ShareGptMessage {
                            from: if t.role == "user" { "human" } else { "gpt" },
                            value,
                        })
                        .collect(),
                    system: joined_system(&contents[..leading_system]),
                    metadata,
                })
            }
        };
        rows.push_back(line);
        Ok(())
    }
}
