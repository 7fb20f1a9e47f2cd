//! The training report's aggregates, gathered one conversation at a time in
//! bounded memory: counts, sums, the first conversations named per finding,
//! a token histogram and a fixed-size fingerprint per example.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::config::{Dedupe, ExportConfig};
use crate::formats::training_example::training_example;
use crate::model::Conversation;
use crate::training::duplicates::{Duplicates, EmittedExamples};
use crate::training::epochs::default_epochs;
use crate::training::message_tokens::example_tokens;
use crate::training::token_histogram::TokenHistogram;

/// Conversations named per finding.
const NAMED: usize = 10;

/// How many conversations a finding counts, and the first of them.
#[derive(Debug, Default)]
struct Finding {
    count: u64,
    first: Vec<String>,
}

impl Finding {
    fn add(&mut self, conversation: &Conversation) {
        self.count += 1;
        if self.first.len() < NAMED {
            self.first.push(conversation.conversation_id.clone());
        }
    }

    fn to_json(&self) -> Value {
        json!({"count": self.count, "first": self.first})
    }
}

pub struct TrainingReport {
    config: ExportConfig,
    skipped: BTreeMap<&'static str, Finding>,
    duplicates: Finding,
    over_limit: Finding,
    duplicate_of: Duplicates,
    tokens: TokenHistogram,
    /// Each example's tokens, capped at `max_tokens`, summed.
    billing_tokens: u64,
    messages: TokenHistogram,
    no_system: Finding,
    no_user: Finding,
}

impl TrainingReport {
    /// `emitted`: for `"dedupe": "history"`, what the saved export's earlier
    /// runs emitted, which the next run would skip as duplicates.
    pub fn new(config: ExportConfig, emitted: Option<EmittedExamples>) -> TrainingReport {
        let duplicate_of = match (config.dedupe, emitted) {
            (Dedupe::History, Some(emitted)) => Duplicates::with_history(emitted),
            _ => Duplicates::with_random_key(),
        };
        TrainingReport {
            config,
            skipped: BTreeMap::new(),
            duplicates: Finding::default(),
            over_limit: Finding::default(),
            duplicate_of,
            tokens: TokenHistogram::default(),
            billing_tokens: 0,
            messages: TokenHistogram::default(),
            no_system: Finding::default(),
            no_user: Finding::default(),
        }
    }

    /// Take one conversation the export would read.
    pub fn add(&mut self, conversation: &Conversation) {
        let config = &self.config;
        let example = match conversation.unreadable.map_or_else(
            || training_example(conversation, config.target, config.include.full_content),
            |reason| Err(crate::formats::Skip(reason)),
        ) {
            Ok(example) => example,
            Err(skip) => {
                self.skipped.entry(skip.0).or_default().add(conversation);
                return;
            }
        };
        if self
            .duplicate_of
            .earlier(&conversation.id, &example)
            .is_some()
        {
            self.duplicates.add(conversation);
            if config.dedupe != Dedupe::Off {
                return;
            }
        }
        let tokens = example_tokens(config.tokenizer, &example);
        if config.max_tokens.is_some_and(|max| tokens > max) {
            self.over_limit.add(conversation);
        }
        self.tokens.add(tokens);
        self.billing_tokens += config.max_tokens.map_or(tokens, |max| tokens.min(max));
        self.messages.add(example.messages.len() as u64);
        let has = |role: &str| example.messages.iter().any(|m| m.role == role);
        if !has("system") {
            self.no_system.add(conversation);
        }
        if !(has("user") || has("human")) {
            self.no_user.add(conversation);
        }
    }
}

/// min, mean and max of a histogram (null when empty).
fn spread(histogram: &TokenHistogram) -> Value {
    match histogram.range() {
        None => json!({"min": null, "mean": null, "max": null}),
        Some((min, max)) => json!({
            "min": min,
            "mean": histogram.total() as f64 / histogram.examples() as f64,
            "max": max,
        }),
    }
}

impl TrainingReport {
    /// The report: what the export would hold and what training it would cost.
    pub fn to_json(&self) -> Value {
        let examples = self.tokens.examples();
        let epochs = default_epochs(examples);
        let mut tokens = spread(&self.tokens);
        tokens["p50"] = json!(self.tokens.percentile(0.5));
        tokens["p95"] = json!(self.tokens.percentile(0.95));
        tokens["total"] = json!(self.tokens.total());
        let by_reason: serde_json::Map<String, Value> = self
            .skipped
            .iter()
            .map(|(reason, finding)| (reason.to_string(), finding.to_json()))
            .collect();
        let no_assistant = self
            .skipped
            .get("no assistant turn")
            .map_or_else(|| Finding::default().to_json(), Finding::to_json);
        json!({
            "target": self.config.target.as_str(),
            "tokenizer": self.config.tokenizer.as_str(),
            "max_tokens": self.config.max_tokens,
            "dedupe": self.config.dedupe.to_value(),
            "examples": examples,
            "skipped": {
                "count": self.skipped.values().map(|finding| finding.count).sum::<u64>(),
                "by_reason": by_reason,
            },
            "duplicates": self.duplicates.to_json(),
            "messages_per_example": spread(&self.messages),
            "tokens_per_example": tokens,
            "over_limit": self.config.max_tokens.map(|_| self.over_limit.to_json()),
            "billing_tokens_per_epoch": self.billing_tokens,
            "default_epochs": epochs,
            "estimated_training_tokens": epochs.unwrap_or(0) * self.billing_tokens,
            "warnings": {
                "missing_system_message": self.no_system.to_json(),
                "missing_user_message": self.no_user.to_json(),
                "missing_assistant_message": no_assistant,
            },
        })
    }
}
