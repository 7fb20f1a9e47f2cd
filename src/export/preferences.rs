//! Per-user export defaults. A config's missing keys come from the caller's
//! preferences, then from the built-in defaults; the audit row records the
//! effective config. Written only through `set_export_preferences`, which
//! validates them, so a stored preference can never break an export.

use pgrx::PgSqlErrorCode;
use serde_json::{Value, json};

use crate::config::{self, ExportConfig};
use crate::error::{OrRaise, UserError};
use crate::export::saved_config;
use crate::pg::identity::Identity;
use crate::pg::jsonb_arg::ConfigJson;
use crate::store;

/// The caller's stored preferences (`{}` when none or without a JWT identity).
pub fn stored() -> Value {
    store::preferences::read().unwrap_or_else(|| json!({}))
}

/// The effective, validated config: the given one over the saved export it
/// names, if any, over the caller's preferences.
pub fn effective_config(config: Option<ConfigJson>) -> ExportConfig {
    let given = config.map_or(Value::Null, |c| c.into_value("the export config"));
    let given = if given.is_null() { json!({}) } else { given };
    let given = saved_config::with_saved(given);
    ExportConfig::from_json(&config::with_preferences(&given, &stored()))
        .and_then(ExportConfig::with_redaction_minimum)
        .or_raise()
}

/// Replace the caller's export preferences; returns what was stored.
pub fn replace_stored(preferences: ConfigJson) -> Value {
    let preferences = preferences.into_value("the preferences");
    let preferences = config::validate_preferences(&preferences).or_raise();
    let user_id = Identity::current().user_id.unwrap_or_else(|| {
        UserError {
            code: PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            message: "export preferences belong to a signed-in user, and there is none".into(),
            hint: "Call it with a JWT subject (request.jwt.claims ->> 'sub'), as Supabase does for signed-in users.".into(),
        }
        .raise()
    });
    store::preferences::write_for(&user_id, &preferences);
    preferences
}
