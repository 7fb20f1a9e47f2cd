//! File name and MIME type of an export, by the seeds' convention
//! `training-data-{tier}-{YYYY-MM-DD}-{count}.{ext}`: the tier when the
//! filters pick exactly one (else `all`), the export's UTC date, and its
//! conversation count.

use pgrx::JsonB;
use pgrx::prelude::*;
use serde_json::json;

use crate::config::{ExportConfig, Format};
use crate::config_json::ConfigJson;
use crate::error::OrRaise;
use crate::preferences;
use crate::queue::own_export;
use crate::source::count_conversations;

fn extension_and_mime(format: Format) -> (&'static str, &'static str) {
    match format {
        Format::Jsonl => ("jsonl", "application/x-ndjson"),
        Format::Json => ("json", "application/json"),
        Format::Csv => ("csv", "text/csv"),
        Format::Markdown => ("md", "text/markdown"),
    }
}

fn file_info(config: &ExportConfig, date: &str, count: i64) -> JsonB {
    let tier = match config.filters.tier.as_slice() {
        [only] => only.as_str(),
        _ => "all",
    };
    let (extension, mime_type) = extension_and_mime(config.format);
    JsonB(json!({
        "file_name": format!("training-data-{tier}-{date}-{count}.{extension}"),
        "mime_type": mime_type,
        "extension": extension,
        "tier": tier,
        "date": date,
        "conversation_count": count,
    }))
}

/// For an export about to run: today's date and the conversations it would hold.
#[pg_extern(stable, parallel_unsafe)]
fn export_file_info(config: ConfigJson) -> JsonB {
    let config = preferences::effective_config(Some(config));
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    file_info(&config, &today, count_conversations(&config))
}

/// For one of the caller's exports: its date and recorded count.
#[pg_extern(stable, parallel_unsafe)]
fn export_file_info_for_export(export_id: pgrx::Uuid) -> JsonB {
    let export = own_export(export_id);
    let config = ExportConfig::from_json(&export.config).or_raise();
    let date = export.created_at.get(..10).unwrap_or_default().to_string();
    file_info(&config, &date, export.conversation_count)
}
