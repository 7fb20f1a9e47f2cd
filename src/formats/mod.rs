//! Output formats: each turns conversations into the rows of one file type.
//! A file is its rows, each followed by "\n"; no row contains the separator
//! unless the format itself needs multi-line records (CSV cells).

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::{CONTENT_PREVIEW_CHARS, ExportConfig, Format};
use crate::model::{Conversation, StoredJson};

mod csv;
pub mod csv_records;
pub mod file_name;
mod json;
mod json_string;
mod json_writer;
mod jsonl;
mod markdown;
pub mod markdown_escape;
pub mod query_result;
pub mod tool_calls;
pub mod training_example;

/// Rows produced but not yet returned.
pub type Rows = VecDeque<String>;

/// Why a conversation could not be written in the chosen format or target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip(pub &'static str);

pub trait ExportFormat {
    /// Rows that open the file (a header, an envelope's start).
    fn begin(&mut self, _rows: &mut Rows) {}
    /// Rows for one conversation, or why it cannot be exported;
    /// `token_count` is its count when the config asks for one.
    fn conversation(
        &mut self,
        conversation: &Conversation,
        token_count: Option<u64>,
        rows: &mut Rows,
    ) -> Result<(), Skip>;
    /// Rows that close the file.
    fn finish(&mut self, _rows: &mut Rows) {}
    /// Whether the last conversation's final row is held back until the next
    /// conversation or the end shows how it must end (JSON's commas). The
    /// held row is then the first row pushed.
    fn holds_a_row(&self) -> bool {
        false
    }
}

/// The format's writer; `export_date` (ISO 8601) is stamped into JSON documents.
pub fn for_config(config: &ExportConfig, export_date: String) -> Box<dyn ExportFormat> {
    match config.format {
        Format::Jsonl => Box::new(jsonl::Jsonl::new(config)),
        Format::Json => Box::new(json::Json::new(config, export_date)),
        Format::Csv => Box::new(csv::Csv::new(config)),
        Format::Markdown => Box::new(markdown::Markdown::new(config)),
    }
}

/// A JSON object of metadata, keys in byte order; stored jsonb values in it
/// are written verbatim.
pub type Metadata = BTreeMap<&'static str, MetaValue>;

#[derive(Serialize)]
#[serde(untagged)]
pub enum MetaValue {
    Json(Value),
    Stored(StoredJson),
}

impl From<Value> for MetaValue {
    fn from(value: Value) -> MetaValue {
        MetaValue::Json(value)
    }
}

impl From<Option<StoredJson>> for MetaValue {
    fn from(value: Option<StoredJson>) -> MetaValue {
        value.map_or(MetaValue::Json(Value::Null), MetaValue::Stored)
    }
}

/// The metadata every JSON dialect shares, per include flags: quality score,
/// timestamps, review history, parent references.
pub fn insert_optional_metadata(
    metadata: &mut Metadata,
    conversation: &Conversation,
    include: &crate::config::Include,
) {
    if include.quality_scores {
        metadata.insert("quality_score", json!(conversation.quality_score).into());
    }
    if include.timestamps {
        metadata.insert("created_at", json!(conversation.created_at).into());
        metadata.insert("updated_at", json!(conversation.updated_at).into());
    }
    if include.approval_history {
        metadata.insert(
            "review_history",
            MetaValue::Stored(conversation.review_history.clone()),
        );
    }
    if include.parent_references
        && (conversation.parent_id.is_some() || conversation.parent_type.is_some())
    {
        metadata.insert("parent_id", json!(conversation.parent_id).into());
        metadata.insert("parent_type", json!(conversation.parent_type).into());
    }
}

/// Turn content as exported: whole, or cut to a preview when
/// `include_full_content` is false.
pub fn exported_content(content: &str, full: bool) -> Cow<'_, str> {
    if full {
        return Cow::Borrowed(content);
    }
    match content.char_indices().nth(CONTENT_PREVIEW_CHARS) {
        None => Cow::Borrowed(content),
        Some((cut, _)) => Cow::Owned(format!("{}…", &content[..cut])),
    }
}

/// Serialize compactly, with U+2028/U+2029 escaped: JSON allows them raw, but
/// JavaScript tooling and line-oriented readers treat them as line breaks.
/// `expected_bytes` sizes its buffer (see `to_json_text`).
pub fn json_line<T: serde::Serialize>(value: &T, expected_bytes: usize) -> String {
    json_writer::to_json_text("", value, false, 0, expected_bytes)
}

/// U+2028/U+2029 escaped in JSON text built by hand (query results).
pub use json_writer::escape_line_separators;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_cuts_on_character_boundaries() {
        let long = "é".repeat(CONTENT_PREVIEW_CHARS + 3);
        let cut = exported_content(&long, false);
        assert_eq!(cut.chars().count(), CONTENT_PREVIEW_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(exported_content("short", false), "short");
        assert_eq!(exported_content(&long, true), long.as_str());
    }

    #[test]
    fn line_separators_are_escaped() {
        assert_eq!(json_line(&"a\u{2028}b\u{2029}c", 0), r#""a\u2028b\u2029c""#);
    }
}
