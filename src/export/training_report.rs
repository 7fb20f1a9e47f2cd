//! `training_report`: the cookbook's pre-flight over the conversations an
//! export with the same config would read (same preferences, RLS, filters,
//! split, redaction), batch by batch, keeping only aggregates. Never a file, so it is
//! neither audited nor rate limited, like `preview_export`: what leaves is
//! counts and the ids of conversations the caller can already read.

use serde_json::Value;

use crate::export::conversation_reader::ConversationReader;
use crate::export::example_selection::ExampleSelection;
use crate::export::preferences;
use crate::export::saved_run::{RunKind, SavedRun};
use crate::pg::jsonb_arg::ConfigJson;
use crate::source::Source;
use crate::training::report::TrainingReport;

pub fn training_report(config: Option<ConfigJson>) -> Value {
    let mut config = preferences::effective_config(config);
    let continuation = SavedRun::begin(&mut config, RunKind::Look)
        .map(|(_, continuation)| continuation)
        .unwrap_or_default();
    let mut source = ConversationReader::open(&config, &Source::load());
    // The same examples as the export: redacted, of the split's part, and
    // for an increment only the new ones; with history, earlier runs'
    // examples count as duplicates.
    let mut selection = ExampleSelection::for_config(&config).in_window(continuation.window);
    let mut report = TrainingReport::new(config, continuation.emitted);
    let mut batch = Vec::new();
    while !source.is_exhausted() {
        batch.clear();
        source.next_batch(&mut batch);
        for conversation in &mut batch {
            pgrx::check_for_interrupts!();
            if selection.take(conversation) {
                report.add(conversation);
            }
        }
    }
    source.close();
    let mut report = report.to_json();
    if let Some(redactions) = selection.redactions() {
        report["redactions"] = redactions;
    }
    report
}
