//! File name and MIME type of an export, by the seeds' convention
//! `training-data-{tier}-{YYYY-MM-DD}-{count}.{ext}`: the tier when the
//! filters pick exactly one (else `all`), the export's UTC date, and its
//! conversation count; `-train` / `-validation` before the extension for one
//! part of a split.

use serde_json::{Value, json};

use crate::config::{ExportConfig, Format};

fn extension_and_mime(format: Format) -> (&'static str, &'static str) {
    match format {
        Format::Jsonl => ("jsonl", "application/x-ndjson"),
        Format::Json => ("json", "application/json"),
        Format::Csv => ("csv", "text/csv"),
        Format::Markdown => ("md", "text/markdown"),
    }
}

/// The file name, MIME type and parts of it for an export of `count`
/// conversations on `date` (YYYY-MM-DD, UTC).
pub fn file_info(config: &ExportConfig, date: &str, count: i64) -> Value {
    let tier = match config.filters.tier.as_slice() {
        [only] => only.as_str(),
        _ => "all",
    };
    let (extension, mime_type) = extension_and_mime(config.format);
    // One part of a train/validation split says which.
    let part = config
        .split
        .as_ref()
        .map_or(String::new(), |split| format!("-{}", split.part.as_str()));
    let mut info = json!({
        "file_name": format!("training-data-{tier}-{date}-{count}{part}.{extension}"),
        "mime_type": mime_type,
        "extension": extension,
        "tier": tier,
        "date": date,
        "conversation_count": count,
    });
    if let Some(split) = &config.split {
        info["part"] = json!(split.part.as_str());
    }
    info
}
