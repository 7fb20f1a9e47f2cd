//! JSONL: one fine-tuning example per line, in the chosen target's dialect.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::json;

use super::json_string;
use super::tool_calls::{ToolCall, calls, check_tool_flow, uses_tools};
use super::{
    ExportFormat, MetaValue, Metadata, Rows, Skip, StoredJson, exported_content, json_line,
};
use crate::config::{ExportConfig, Include, Target};
use crate::model::{Conversation, Turn};

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
    #[serde(serialize_with = "json_string::text")]
    content: &'a str,
}

/// OpenAI's chat message, with tool use: an assistant's `tool_calls` (its
/// `content` null when it only calls), a tool result's `tool_call_id`.
#[derive(Serialize)]
pub(super) struct OpenAiMessage<'a> {
    pub(super) role: &'a str,
    #[serde(serialize_with = "json_string::optional_text")]
    pub(super) content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tool_calls: Vec<OpenAiToolCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_call_id: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct OpenAiToolCall {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    pub(super) function: OpenAiFunction,
}

#[derive(Serialize)]
pub(super) struct OpenAiFunction {
    pub(super) name: String,
    /// A JSON text, as OpenAI requires.
    pub(super) arguments: String,
}

#[derive(Serialize)]
struct OpenAiExample<'a> {
    messages: Vec<OpenAiMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a StoredJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata>,
}

/// Bedrock's Claude format: `system` and `messages`, and no other key.
#[derive(Serialize)]
struct AnthropicExample<'a> {
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "json_string::optional_text"
    )]
    system: Option<String>,
    messages: Vec<Message<'a>>,
}

#[derive(Serialize)]
pub(super) struct ShareGptMessage<'a> {
    pub(super) from: &'static str,
    #[serde(serialize_with = "json_string::text")]
    pub(super) value: Cow<'a, str>,
}

/// LLaMA-Factory's sharegpt layout: leading system turns become `system`.
#[derive(Serialize)]
struct ShareGptExample<'a> {
    conversations: Vec<ShareGptMessage<'a>>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "json_string::optional_text"
    )]
    system: Option<String>,
    /// The tool definitions, as the JSON text LLaMA-Factory's `tools` takes.
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata>,
}

/// The seeds' JSONL metadata object: identity always, the rest per include
/// flags. Every value is a string — `""` when the conversation has none,
/// numbers in their decimal form, jsonb as its JSON text — and every line of
/// one export has the same keys, so a loader that fixes its schema from the
/// first lines (Hugging Face datasets, Arrow) reads them all: a key missing
/// at first, a null at first, or jsonb whose shape varies would each break it.
/// With `include_token_count`, `token_count` is the example's count.
pub fn training_metadata(
    conversation: &Conversation,
    include: &Include,
    token_count: Option<u64>,
) -> Metadata {
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
    if let Some(tokens) = token_count.filter(|_| include.token_count) {
        metadata.insert("token_count", text(Some(&tokens.to_string())));
    }
    metadata
}

/// Whether `text` holds only whitespace: `trim().is_empty()` without
/// scanning from both ends (it looks at one character of most texts).
fn is_blank(text: &str) -> bool {
    text.chars().all(char::is_whitespace)
}

pub(super) fn check_contents(turns: &[Turn]) -> Result<(), Skip> {
    if turns.is_empty() {
        return Err(Skip("no turns"));
    }
    // An assistant turn that only calls tools has no text of its own.
    if turns
        .iter()
        .any(|t| is_blank(&t.content) && t.tool_calls.is_none())
    {
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
pub(super) fn check_alternation(turns: &[Turn]) -> Result<usize, Skip> {
    let leading_system = turns.iter().take_while(|t| t.role == "system").count();
    let dialogue = &turns[leading_system..];
    if dialogue.iter().any(|t| t.role == "system") {
        return Err(Skip("system turn after the dialogue started"));
    }
    if dialogue
        .iter()
        .any(|t| t.role != "user" && t.role != "assistant")
    {
        return Err(Skip("a role other than user or assistant"));
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

/// The roles OpenAI's chat fine-tuning format accepts.
const OPENAI_ROLES: &[&str] = &["system", "user", "assistant", "tool"];

pub(super) fn openai_message<'a>(
    turn: &'a Turn,
    content: &'a str,
) -> Result<OpenAiMessage<'a>, Skip> {
    if !OPENAI_ROLES.contains(&turn.role.as_str()) {
        return Err(Skip("a role OpenAI does not accept"));
    }
    let tool_calls: Vec<OpenAiToolCall> = calls(turn)?
        .into_iter()
        .map(|call| OpenAiToolCall {
            id: call.id,
            kind: "function",
            function: OpenAiFunction {
                name: call.name,
                arguments: call.arguments,
            },
        })
        .collect();
    Ok(OpenAiMessage {
        role: &turn.role,
        content: (!content.is_empty() || tool_calls.is_empty()).then_some(content),
        tool_calls,
        tool_call_id: (turn.role == "tool")
            .then_some(turn.tool_call_id.as_deref())
            .flatten(),
    })
}

/// LLaMA-Factory's sharegpt turns: `human`, `gpt`, `function_call` (the
/// call as `{"name", "arguments"}`, several as a list) and `observation`
/// (the results of one assistant turn's calls together). Its converter
/// drops an example unless human/observation stand at odd positions and
/// gpt/function_call at even ones, ending on the model's turn.
pub(super) fn sharegpt_turns<'a>(
    turns: &'a [Turn],
    contents: &'a [Cow<'a, str>],
) -> Result<Vec<ShareGptMessage<'a>>, Skip> {
    let mut out: Vec<ShareGptMessage> = Vec::new();
    let mut results: Vec<&str> = Vec::new();
    let flush = |results: &mut Vec<&str>, out: &mut Vec<ShareGptMessage<'a>>| {
        match results.len() {
            0 => {}
            1 => out.push(ShareGptMessage {
                from: "observation",
                value: Cow::Owned(results[0].to_string()),
            }),
            _ => out.push(ShareGptMessage {
                from: "observation",
                value: Cow::Owned(serde_json::to_string(&results).expect("strings serialize")),
            }),
        }
        results.clear();
    };
    for (turn, content) in turns.iter().zip(contents) {
        if turn.role == "tool" {
            results.push(content.as_ref());
            continue;
        }
        flush(&mut results, &mut out);
        let tool_calls = calls(turn)?;
        match turn.role.as_str() {
            "user" => out.push(ShareGptMessage {
                from: "human",
                value: Cow::Borrowed(content),
            }),
            "assistant" if tool_calls.is_empty() => out.push(ShareGptMessage {
                from: "gpt",
                value: Cow::Borrowed(content),
            }),
            "assistant" if is_blank(content) => {
                let call = |c: &ToolCall| {
                    format!(
                        "{{\"name\":{},\"arguments\":{}}}",
                        json!(c.name),
                        c.arguments
                    )
                };
                let value = match tool_calls.as_slice() {
                    [one] => call(one),
                    many => format!("[{}]", many.iter().map(call).collect::<Vec<_>>().join(",")),
                };
                out.push(ShareGptMessage {
                    from: "function_call",
                    value: Cow::Owned(value),
                });
            }
            "assistant" => {
                return Err(Skip(
                    "assistant text alongside tool calls has no sharegpt form",
                ));
            }
            _ => return Err(Skip("system turn after the dialogue started")),
        }
    }
    flush(&mut results, &mut out);
    let model_turn = |from: &str| matches!(from, "gpt" | "function_call");
    let in_place = out
        .iter()
        .enumerate()
        .all(|(position, turn)| model_turn(turn.from) == (position % 2 == 1));
    if out.is_empty() || !out.len().is_multiple_of(2) || !in_place {
        return Err(Skip(
            "turns do not alternate human/gpt, user first and assistant last",
        ));
    }
    Ok(out)
}

/// Tool definitions for LLaMA-Factory: the functions themselves (OpenAI's
/// `{"type": "function", "function": {...}}` unwrapped), as a JSON text.
fn sharegpt_tools(tools: &StoredJson) -> String {
    #[derive(serde::Deserialize)]
    struct Wrapped {
        function: Box<serde_json::value::RawValue>,
    }
    match serde_json::from_str::<Vec<Box<serde_json::value::RawValue>>>(tools.as_str()) {
        Ok(items) => {
            let functions: Vec<String> = items
                .iter()
                .map(|item| {
                    serde_json::from_str::<Wrapped>(item.get())
                        .map_or_else(|_| item.get().to_string(), |w| w.function.get().to_string())
                })
                .collect();
            format!("[{}]", functions.join(","))
        }
        Err(_) => tools.as_str().to_string(),
    }
}

/// Leading system turns as one system prompt, paragraphs apart.
pub(super) fn joined_system(contents: &[Cow<'_, str>]) -> Option<String> {
    (!contents.is_empty()).then(|| {
        contents
            .iter()
            .map(|c| c.as_ref())
            .collect::<Vec<_>>()
            .join("\n\n")
    })
}

impl ExportFormat for Jsonl {
    fn conversation(
        &mut self,
        conversation: &Conversation,
        token_count: Option<u64>,
        rows: &mut Rows,
    ) -> Result<(), Skip> {
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
            .then(|| training_metadata(conversation, &self.include, token_count));
        let tool_use = conversation.tools.is_some() || uses_tools(turns);
        if tool_use {
            check_tool_flow(turns)?;
        }
        let expected_bytes = conversation.text_bytes() + 48 * turns.len() + 512;
        let line = match self.target {
            Target::OpenAi => json_line(
                &OpenAiExample {
                    messages: turns
                        .iter()
                        .zip(&contents)
                        .map(|(t, content)| openai_message(t, content))
                        .collect::<Result<_, Skip>>()?,
                    tools: conversation.tools.as_ref(),
                    metadata,
                },
                expected_bytes,
            ),
            Target::Anthropic => {
                if tool_use {
                    return Err(Skip("tool use cannot be expressed in Bedrock's format"));
                }
                let leading_system = check_alternation(turns)?;
                let system = joined_system(&contents[..leading_system]);
                json_line(
                    &AnthropicExample {
                        system,
                        messages: turns[leading_system..]
                            .iter()
                            .zip(&contents[leading_system..])
                            .map(|(t, content)| Message {
                                role: &t.role,
                                content,
                            })
                            .collect(),
                    },
                    expected_bytes,
                )
            }
            Target::ShareGpt => {
                let leading_system = turns.iter().take_while(|t| t.role == "system").count();
                let conversations =
                    sharegpt_turns(&turns[leading_system..], &contents[leading_system..])?;
                json_line(
                    &ShareGptExample {
                        conversations,
                        system: joined_system(&contents[..leading_system]),
                        tools: conversation.tools.as_ref().map(sharegpt_tools),
                        metadata,
                    },
                    expected_bytes,
                )
            }
        };
        rows.push_back(line);
        Ok(())
    }
}
