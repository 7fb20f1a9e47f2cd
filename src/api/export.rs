//! Exports streamed to the caller: conversations, their preview, and an
//! operator's query.

use pgrx::prelude::*;

use crate::export::{json_text, operator_query, preview, stream, training_report};
use crate::pg::jsonb_arg::ConfigJson;

/// Export conversations as one file's rows; each row is one line of the file.
#[pg_extern(volatile, parallel_unsafe)]
fn export_conversations(
    config: default!(Option<ConfigJson>, "'{}'"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> SetOfIterator<'static, String> {
    stream::stream_conversations(config, fcinfo)
}

/// The head of the export `config` describes, through its third conversation.
#[pg_extern(volatile, parallel_unsafe)]
fn preview_export(config: default!(Option<ConfigJson>, "'{}'")) -> SetOfIterator<'static, String> {
    SetOfIterator::new(preview::preview_rows(config))
}

/// Pre-flight for fine-tuning over the export `config` describes: examples,
/// skips, duplicates, tokens per example, the limit, billing and epochs.
#[pg_extern(volatile, parallel_unsafe)]
fn training_report(config: default!(Option<ConfigJson>, "'{}'")) -> pgrx::JsonB {
    pgrx::JsonB(training_report::training_report(config))
}

/// Operators only: the result of a read-only query as CSV (default), JSON,
/// JSONL or a Markdown table; each returned row is one line of the file.
#[pg_extern(volatile, parallel_unsafe)]
fn export_query(
    query: &str,
    config: default!(Option<ConfigJson>, "'{}'"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> SetOfIterator<'static, String> {
    operator_query::stream_query(query, config, fcinfo)
}

/// Whether a `json` value's text can be read as jsonb and text (no `\u0000`,
/// no unpaired surrogate escape). Called by the export query of an embedded
/// source whose messages column is `json`, so it runs as the exporting user.
#[pg_extern(immutable, strict, parallel_safe)]
fn json_is_readable(json: &str) -> bool {
    json_text::is_readable(json)
}
