//! An example's tokens by the rule of OpenAI's cookbook
//! (`num_tokens_from_messages`): every value of every message encoded, 3
//! tokens more per message (`<|start|>{role}<|message|>…<|end|>`) and 3 for
//! the reply's priming (`<|start|>assistant<|message|>`). The source's turns
//! carry no `name`, so the cookbook's 1 token per name never applies. Beyond
//! the cookbook, an assistant's tool calls add their function names' and
//! arguments' tokens, and the tool definitions add what the cookbook's tool
//! function counts (`tool_tokens`): estimates, not what OpenAI bills.

use crate::config::Tokenizer;
use crate::formats::training_example::{ExampleMessage, TrainingExample};
use crate::training::encoding::count;
use crate::training::tool_tokens;

/// Tokens of each message's frame.
const TOKENS_PER_MESSAGE: u64 = 3;

/// Tokens that prime the reply.
const REPLY_PRIMING: u64 = 3;

fn message_tokens(tokenizer: Tokenizer, message: &ExampleMessage) -> u64 {
    let text = |value: &str| count(tokenizer, value);
    TOKENS_PER_MESSAGE
        + text(&message.role)
        + message.content.as_deref().map_or(0, text)
        + message.tool_call_id.as_deref().map_or(0, text)
        + message
            .tool_calls
            .iter()
            .map(|(name, arguments)| text(name) + text(arguments))
            .sum::<u64>()
}

/// The example's tokens: its messages, the reply's priming, its tools.
pub fn example_tokens(tokenizer: Tokenizer, example: &TrainingExample) -> u64 {
    let messages: u64 = example
        .messages
        .iter()
        .map(|message| message_tokens(tokenizer, message))
        .sum();
    messages
        + REPLY_PRIMING
        + example
            .tools
            .map_or(0, |tools| tool_tokens::count(tokenizer, tools))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: &str, content: &str) -> ExampleMessage {
        ExampleMessage {
            role: role.into(),
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    #[test]
    fn the_cookbook_rule_frames_each_message_and_primes_the_reply() {
        let example = TrainingExample {
            messages: vec![message("user", "hello world"), message("assistant", "hi")],
            tools: None,
        };
        // user 1 + "hello world" 2 + 3; assistant 1 + "hi" 1 + 3; priming 3.
        assert_eq!(example_tokens(Tokenizer::O200kBase, &example), 14);
    }
}
