//! `training_report`: the cookbook's pre-flight over the conversations an
//! export with the same config would read (same preferences, RLS, filters,
//! split, redaction), batch by batch, keeping only aggregates. Never a file, so it is
//! neither audited nor rate limited, like `preview_export`: what leaves is
//! counts and the ids of conversations the caller can already read.

use serde_json::Value;

use crate::config::Redaction;

use crate::export::conversation_reader::ConversationReader;
use crate::export::preferences;
use crate::pg::jsonb_arg::ConfigJson;
use crate::redaction::Redactor;
use crate::source::Source;
use crate::training::report::TrainingReport;
use crate::training::split_part::SplitPart;

pub fn training_report(config: Option<ConfigJson>) -> Value {
    let config = preferences::effective_config(config);
    let mut source = ConversationReader::open(&config, &Source::load());
    // Counts and duplicates are those of the redacted texts, as in the export.
    let mut redactor = Redactor::for_entities(&config.redact, config.redaction);
    let split = config
        .split
        .as_ref()
        .map(|split| SplitPart::new(split, config.redaction == Redaction::Pseudonym));
    let mut report = TrainingReport::new(config);
    let mut batch = Vec::new();
    while !source.is_exhausted() {
        batch.clear();
        source.next_batch(&mut batch);
        for conversation in &mut batch {
            pgrx::check_for_interrupts!();
            if let Some(redactor) = &mut redactor {
                redactor.conversation(conversation);
            }
            if split.as_ref().is_none_or(|split| split.holds(conversation)) {
                report.add(conversation);
            }
        }
    }
    source.close();
    let mut report = report.to_json();
    if let Some(redactor) = &redactor {
        report["redactions"] = redactor.counts();
    }
    report
}
