//! Exports streamed to the caller: conversations, their preview, and an
//! operator's query.

use pgrx::prelude::*;

use crate::export::{preview, query, stream};
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

/// Operators only: the result of a read-only query as CSV (default), JSON,
/// JSONL or a Markdown table; each returned row is one line of the file.
#[pg_extern(volatile, parallel_unsafe)]
fn export_query(
    query: &str,
    config: default!(Option<ConfigJson>, "'{}'"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> SetOfIterator<'static, String> {
    query::stream_query(query, config, fcinfo)
}
