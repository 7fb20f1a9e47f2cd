//! Tool use in a conversation: an assistant turn's calls and the tool
//! results that answer them. Calls are stored as `[{"id", "name",
//! "arguments"}]` or OpenAI's `[{"id", "type": "function", "function":
//! {"name", "arguments"}}]`; arguments may be stored as a JSON object or as
//! the JSON string OpenAI requires, and always leave as that string,
//! exactly as stored (no number round-trip).

use serde::Deserialize;
use serde_json::value::RawValue;

use super::Skip;
use crate::model::Turn;

/// One call, normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as a JSON text (what OpenAI's `arguments` string holds).
    pub arguments: String,
}

#[derive(Deserialize)]
struct StoredFunction {
    name: String,
    #[serde(default)]
    arguments: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct StoredCall {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<Box<RawValue>>,
    #[serde(default)]
    function: Option<StoredFunction>,
}

/// Arguments given as a JSON string are that string; given as JSON, its text.
fn arguments_text(raw: Option<Box<RawValue>>) -> String {
    match raw {
        None => "{}".into(),
        Some(raw) => {
            serde_json::from_str::<String>(raw.get()).unwrap_or_else(|_| raw.get().to_string())
        }
    }
}

/// The turn's tool calls (none for a turn without any).
pub fn calls(turn: &Turn) -> Result<Vec<ToolCall>, Skip> {
    let Some(stored) = &turn.tool_calls else {
        return Ok(Vec::new());
    };
    let calls: Vec<StoredCall> = serde_json::from_str(stored.as_str())
        .map_err(|_| Skip("tool calls are not [{\"id\", \"name\", \"arguments\"}]"))?;
    calls
        .into_iter()
        .map(|call| {
            let (name, arguments) = match call.function {
                Some(function) => (function.name, function.arguments),
                None => (
                    call.name.ok_or(Skip("a tool call has no name"))?,
                    call.arguments,
                ),
            };
            let arguments = arguments_text(arguments);
            // Consumers parse the arguments (OpenAI's string, LLaMA-Factory's object).
            if serde_json::from_str::<&RawValue>(&arguments).is_err() {
                return Err(Skip("tool call arguments are not JSON"));
            }
            Ok(ToolCall {
                id: call.id,
                name,
                arguments,
            })
        })
        .collect()
}

/// Whether the conversation uses tools at all.
pub fn uses_tools(turns: &[Turn]) -> bool {
    turns.iter().any(|t| {
        t.role == "tool"
            || t.tool_calls
                .as_ref()
                .is_some_and(|c| c.as_str() != "[]" && c.as_str() != "null")
    })
}

/// Tool use that trainers accept: every tool result answers a call made in
/// the assistant turn just before it (or before other results of that
/// turn), and every call gets its result before the dialogue goes on.
pub fn check_tool_flow(turns: &[Turn]) -> Result<(), Skip> {
    let mut open: Vec<String> = Vec::new();
    for turn in turns {
        match turn.role.as_str() {
            "tool" => {
                if turn.tool_calls.is_some() {
                    return Err(Skip("tool calls on a tool result"));
                }
                let id = turn
                    .tool_call_id
                    .as_deref()
                    .ok_or(Skip("a tool result has no tool_call_id"))?;
                let position = open
                    .iter()
                    .position(|call| call == id)
                    .ok_or(Skip("a tool result does not follow a call with its id"))?;
                open.remove(position);
            }
            _ => {
                if !open.is_empty() {
                    return Err(Skip("a tool call has no result"));
                }
                if turn.role == "assistant" {
                    open = calls(turn)?.into_iter().map(|call| call.id).collect();
                } else if turn.tool_calls.is_some() {
                    return Err(Skip("tool calls on a turn that is not the assistant's"));
                }
            }
        }
    }
    if open.is_empty() {
        Ok(())
    } else {
        Err(Skip("a tool call has no result"))
    }
}

/// What a reader sees of one turn and its tool use.
pub enum ReadableEntry<'a> {
    /// The turn itself (a tool result carries the id of the call it answers).
    Turn {
        role: &'a str,
        call_id: Option<&'a str>,
        content: &'a str,
    },
    /// One of an assistant turn's calls: `name`, its arguments' JSON.
    Call {
        id: String,
        name: String,
        arguments: String,
    },
}

/// A turn as CSV and Markdown show it: the turn, then one entry per call
/// (stored calls that cannot be read are shown as their JSON).
pub fn readable(turn: &Turn) -> Vec<ReadableEntry<'_>> {
    let mut entries = vec![ReadableEntry::Turn {
        role: &turn.role,
        call_id: turn.tool_call_id.as_deref(),
        content: &turn.content,
    }];
    match calls(turn) {
        Ok(calls) => entries.extend(calls.into_iter().map(|call| ReadableEntry::Call {
            id: call.id,
            name: call.name,
            arguments: call.arguments,
        })),
        Err(_) => entries.extend(turn.tool_calls.as_ref().map(|raw| ReadableEntry::Call {
            id: String::new(),
            name: String::new(),
            arguments: raw.as_str().to_string(),
        })),
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StoredJson;

    fn turn(role: &str, calls: Option<&str>, id: Option<&str>) -> Turn {
        Turn {
            turn_number: 1,
            role: role.into(),
            content: "x".into(),
            token_count: None,
            tool_calls: calls.map(StoredJson::from_jsonb_text),
            tool_call_id: id.map(str::to_string),
        }
    }

    #[test]
    fn both_stored_shapes_normalize_to_a_string_of_arguments() {
        let simple = turn(
            "assistant",
            Some(r#"[{"id": "c1", "name": "f", "arguments": {"n": 1e400}}]"#),
            None,
        );
        let openai = turn(
            "assistant",
            Some(
                r#"[{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"n\":1e400}"}}]"#,
            ),
            None,
        );
        let expected = vec![ToolCall {
            id: "c1".into(),
            name: "f".into(),
            arguments: r#"{"n":1e400}"#.into(),
        }];
        assert_eq!(calls(&simple).unwrap(), expected);
        assert_eq!(calls(&openai).unwrap(), expected);
    }

    #[test]
    fn results_must_answer_the_calls_just_made() {
        let call = r#"[{"id": "c1", "name": "f", "arguments": {}}]"#;
        let ok = [
            turn("user", None, None),
            turn("assistant", Some(call), None),
            turn("tool", None, Some("c1")),
            turn("assistant", None, None),
        ];
        assert_eq!(check_tool_flow(&ok), Ok(()));
        let orphan = [turn("user", None, None), turn("tool", None, Some("c1"))];
        assert!(check_tool_flow(&orphan).is_err());
        let unanswered = [
            turn("user", None, None),
            turn("assistant", Some(call), None),
            turn("assistant", None, None),
        ];
        assert!(check_tool_flow(&unanswered).is_err());
        let wrong_id = [
            turn("assistant", Some(call), None),
            turn("tool", None, Some("c2")),
        ];
        assert!(check_tool_flow(&wrong_id).is_err());
    }
}
