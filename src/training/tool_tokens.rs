//! Tool definitions' tokens, as the cookbook's `num_tokens_for_tools` counts
//! them: per function a fixed start (7 on o200k_base models, 10 on
//! cl100k_base ones) and `name:description`; per parameter `name:type:
//! description` and 3; 3 once a function has parameters; each enum value and
//! 3, less 3 per enum; 12 once at the end. Descriptions lose one final
//! period. An estimate of how OpenAI renders tools, as the cookbook says.
//! Definitions may be OpenAI's `{"type": "function", "function": {…}}` or
//! the function object itself; a missing text counts as empty, a value that
//! is not a string as its JSON text.

use serde_json::{Map, Value};

use crate::config::Tokenizer;
use crate::model::StoredJson;
use crate::training::encoding;

const PROPERTIES_START: i64 = 3;
const PROPERTY_KEY: i64 = 3;
const ENUM_START: i64 = -3;
const ENUM_ITEM: i64 = 3;
const FUNCTIONS_END: i64 = 12;

fn function_start(tokenizer: Tokenizer) -> i64 {
    match tokenizer {
        Tokenizer::O200kBase => 7,
        Tokenizer::Cl100kBase => 10,
    }
}

fn text_of(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

fn without_final_period(mut text: String) -> String {
    if text.ends_with('.') {
        text.pop();
    }
    text
}

fn parameter_tokens(tokenizer: Tokenizer, name: &str, schema: &Value) -> i64 {
    let tokens = |text: &str| encoding::count(tokenizer, text) as i64;
    let mut total = PROPERTY_KEY;
    if let Some(values) = schema.get("enum") {
        total += ENUM_START;
        for item in values.as_array().into_iter().flatten() {
            total += ENUM_ITEM + tokens(&text_of(Some(item)));
        }
    }
    let kind = text_of(schema.get("type"));
    let description = without_final_period(text_of(schema.get("description")));
    total + tokens(&format!("{name}:{kind}:{description}"))
}

fn function_tokens(tokenizer: Tokenizer, function: &Value) -> i64 {
    let name = text_of(function.get("name"));
    let description = without_final_period(text_of(function.get("description")));
    let mut total = function_start(tokenizer)
        + encoding::count(tokenizer, &format!("{name}:{description}")) as i64;
    let empty = Map::new();
    let properties = function
        .pointer("/parameters/properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if !properties.is_empty() {
        total += PROPERTIES_START;
        for (name, schema) in properties {
            total += parameter_tokens(tokenizer, name, schema);
        }
    }
    total
}

/// The tool definitions' tokens; definitions that are not a JSON array count
/// as their text.
pub fn count(tokenizer: Tokenizer, tools: &StoredJson) -> u64 {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(tools.as_str()) else {
        return encoding::count(tokenizer, tools.as_str());
    };
    if items.is_empty() {
        return 0;
    }
    let functions: i64 = items
        .iter()
        .map(|item| function_tokens(tokenizer, item.get("function").unwrap_or(item)))
        .sum();
    (functions + FUNCTIONS_END).max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::training_example::{ExampleMessage, TrainingExample};
    use crate::training::message_tokens::example_tokens;

    /// The cookbook's own example, whose counts OpenAI's API confirmed:
    /// 101 prompt tokens on gpt-4o, 105 on gpt-4.
    #[test]
    fn the_cookbook_example_counts_as_the_api_did() {
        let tools = StoredJson::from_jsonb_text(
            r#"[{"type": "function", "function": {"name": "get_current_weather",
                "description": "Get the current weather in a given location",
                "parameters": {"type": "object", "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {"type": "string", "description": "The unit of temperature to return",
                             "enum": ["celsius", "fahrenheit"]}},
                "required": ["location"]}}}]"#,
        );
        let message = |role: &str, content: &str| ExampleMessage {
            role: role.into(),
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        };
        let example = TrainingExample {
            messages: vec![
                message(
                    "system",
                    "You are a helpful assistant that can answer to questions about the weather.",
                ),
                message("user", "What's the weather like in San Francisco?"),
            ],
            tools: Some(&tools),
        };
        assert_eq!(example_tokens(Tokenizer::O200kBase, &example), 101);
        assert_eq!(example_tokens(Tokenizer::Cl100kBase, &example), 105);
    }
}
