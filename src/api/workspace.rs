//! What a UI around exports needs besides the exports themselves: counts
//! per scope, file names, preferences, history. (Status and metrics are SQL
//! functions in sql/workspace.sql.)

use pgrx::JsonB;
use pgrx::prelude::*;

use crate::audit::history;
use crate::config::ExportConfig;
use crate::error::OrRaise;
use crate::export::conversation_query::count_conversations;
use crate::export::preferences;
use crate::export::scope_counts;
use crate::formats::file_name;
use crate::jobs::queue::own_export;
use crate::pg::jsonb_arg::ConfigJson;
use crate::source::{Source, registration};

/// Counts per scope with the config's filters and limit; `selected` is NULL
/// unless the config names conversation_ids, `filtered` NULL without filters.
#[pg_extern(stable, parallel_unsafe)]
fn scope_counts(config: default!(Option<ConfigJson>, "'{}'")) -> JsonB {
    JsonB(scope_counts::scope_counts(config))
}

/// For an export about to run: today's date and the conversations it would hold.
#[pg_extern(stable, parallel_unsafe)]
fn export_file_info(config: ConfigJson) -> JsonB {
    let config = preferences::effective_config(Some(config));
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    JsonB(file_name::file_info(
        &config,
        &today,
        count_conversations(&config, &Source::load()),
    ))
}

/// For one of the caller's exports: its date and recorded count.
#[pg_extern(stable, parallel_unsafe)]
fn export_file_info_for_export(export_id: pgrx::Uuid) -> JsonB {
    let export = own_export(export_id);
    let (asked, _) = registration::without_audit_note(&export.config);
    let config = ExportConfig::from_json(&asked).or_raise();
    let date = export.created_at.get(..10).unwrap_or_default().to_string();
    JsonB(file_name::file_info(
        &config,
        &date,
        export.conversation_count,
    ))
}

/// The caller's export preferences, `{}` when none are set.
#[pg_extern(stable, parallel_safe)]
fn get_export_preferences() -> JsonB {
    JsonB(preferences::stored())
}

/// Replace the caller's export preferences (format, target, include options);
/// returns what was stored. `{}` clears them.
#[pg_extern(volatile, parallel_unsafe)]
fn set_export_preferences(preferences: ConfigJson) -> JsonB {
    JsonB(preferences::replace_stored(preferences))
}

/// Your exports, newest first: {"page", "limit" (max 100), "format",
/// "status", "kind", "from", "to"} → {"page", "limit", "total", "pages",
/// "exports"}. service_role and superusers see every user's.
#[pg_extern(stable, parallel_unsafe)]
fn export_history(filter: default!(Option<ConfigJson>, "'{}'")) -> JsonB {
    let filter = filter.map_or(serde_json::Value::Null, |f| {
        f.into_value("the history filter")
    });
    JsonB(history::history(&filter))
}
