//! A conversation's training content as its target's JSONL line holds it:
//! the messages (role, content, tool calls, tool result link) and the tool
//! definitions, metadata aside. What token counts and duplicate checks read,
//! built by the same rules (and skipped for the same reasons) as the line.

use std::borrow::Cow;

use super::jsonl::{
    check_alternation, check_contents, joined_system, openai_message, sharegpt_turns,
};
use super::tool_calls::{check_tool_flow, uses_tools};
use super::{Skip, StoredJson, exported_content};
use crate::config::Target;
use crate::model::Conversation;

/// One message of an example, as its target writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleMessage {
    /// The target's label: OpenAI's and Bedrock's role, ShareGPT's `from`
    /// (`human`, `gpt`, `function_call`, `observation`; `system` for its
    /// top-level system prompt).
    pub role: String,
    /// None for an OpenAI assistant turn that only calls tools.
    pub content: Option<String>,
    /// OpenAI's `tool_calls`: each call's function name and arguments.
    pub tool_calls: Vec<(String, String)>,
    /// OpenAI's link from a tool result to its call.
    pub tool_call_id: Option<String>,
}

/// The training content of one example.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingExample<'a> {
    pub messages: Vec<ExampleMessage>,
    /// The tool definitions (OpenAI's shape), for the targets that write them.
    pub tools: Option<&'a StoredJson>,
}

fn plain(role: &str, content: &str) -> ExampleMessage {
    ExampleMessage {
        role: role.to_string(),
        content: Some(content.to_string()),
        tool_calls: Vec::new(),
        tool_call_id: None,
    }
}

/// The example `target`'s JSONL line holds for the conversation, or why it
/// has none (the line's own reason).
pub fn training_example(
    conversation: &Conversation,
    target: Target,
    full_content: bool,
) -> Result<TrainingExample<'_>, Skip> {
    let turns = &conversation.turns;
    check_contents(turns)?;
    let contents: Vec<Cow<str>> = turns
        .iter()
        .map(|t| exported_content(&t.content, full_content))
        .collect();
    let tool_use = conversation.tools.is_some() || uses_tools(turns);
    if tool_use {
        check_tool_flow(turns)?;
    }
    let leading_system = turns.iter().take_while(|t| t.role == "system").count();
    let system = joined_system(&contents[..leading_system]);
    let system_message = || system.as_deref().map(|text| plain("system", text));
    let (messages, tools) = match target {
        Target::OpenAi => {
            let mut messages = Vec::with_capacity(turns.len());
            for (turn, content) in turns.iter().zip(&contents) {
                let message = openai_message(turn, content)?;
                messages.push(ExampleMessage {
                    role: message.role.to_string(),
                    content: message.content.map(str::to_string),
                    tool_calls: message
                        .tool_calls
                        .into_iter()
                        .map(|call| (call.function.name, call.function.arguments))
                        .collect(),
                    tool_call_id: message.tool_call_id.map(str::to_string),
                });
            }
            (messages, conversation.tools.as_ref())
        }
        Target::Anthropic => {
            if tool_use {
                return Err(Skip("tool use cannot be expressed in Bedrock's format"));
            }
            check_alternation(turns)?;
            let dialogue = turns[leading_system..]
                .iter()
                .zip(&contents[leading_system..])
                .map(|(turn, content)| plain(&turn.role, content));
            (system_message().into_iter().chain(dialogue).collect(), None)
        }
        Target::ShareGpt => {
            let dialogue = sharegpt_turns(&turns[leading_system..], &contents[leading_system..])?
                .into_iter()
                .map(|message| plain(message.from, &message.value));
            let messages = system_message().into_iter().chain(dialogue).collect();
            (messages, conversation.tools.as_ref())
        }
    };
    Ok(TrainingExample { messages, tools })
}

/// A conversation no target can express, as OpenAI messages of its turns'
/// roles and contents: what the JSON, CSV and Markdown formats count for it.
pub fn turns_as_example(conversation: &Conversation, full_content: bool) -> TrainingExample<'_> {
    TrainingExample {
        messages: conversation
            .turns
            .iter()
            .map(|turn| plain(&turn.role, &exported_content(&turn.content, full_content)))
            .collect(),
        tools: conversation.tools.as_ref(),
    }
}
