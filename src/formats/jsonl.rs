//! JSONL: one fine-tuning example per line, in the chosen target's dialect.

use serde::Serialize;
use serde_json::json;

use super::{
    ExportFormat, Metadata, Rows, Skip, exported_content, insert_optional_metadata, json_line,
};
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

#[derive(Serialize)]
struct AnthropicExample<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata>,
}

#[derive(Serialize)]
struct ShareGptMessage<'a> {
    from: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct ShareGptExample<'a> {
    conversations: Vec<ShareGptMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata>,
}

/// The seeds' JSONL metadata object: identity always, the rest per include flags.
pub fn training_metadata(conversation: &Conversation, include: &Include) -> Metadata {
    let mut metadata = Metadata::new();
    metadata.insert(
        "conversation_id",
        json!(conversation.conversation_id).into(),
    );
    metadata.insert("title", json!(conversation.title).into());
    metadata.insert("tier", json!(conversation.tier).into());
    insert_optional_metadata(&mut metadata, conversation, include);
    for (key, value) in [
        ("persona", &conversation.persona),
        ("emotion", &conversation.emotion),
        ("topic", &conversation.topic),
    ] {
        if let Some(value) = value {
            metadata.insert(key, json!(value).into());
        }
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

/// Anthropic (Bedrock Claude) examples: leading system turns become the
/// `system` string; the rest must alternate user/assistant, user first and
/// assistant last.
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
                let system = (leading_system > 0).then(|| {
                    contents[..leading_system]
                        .iter()
                        .map(|c| c.as_ref())
                        .collect::<Vec<_>>()
                        .join("\n\n")
                });
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
                    metadata,
                })
            }
            Target::ShareGpt => {
                check_alternation(turns)?;
                json_line(&ShareGptExample {
                    conversations: turns
                        .iter()
                        .zip(&contents)
                        .map(|(t, value)| ShareGptMessage {
                            from: match t.role.as_str() {
                                "user" => "human",
                                "assistant" => "gpt",
                                _ => "system",
                            },
                            value,
                        })
                        .collect(),
                    metadata,
                })
            }
        };
        rows.push_back(line);
        Ok(())
    }
}
