//! Per-user export defaults. A config's missing keys come from the caller's
//! preferences, then from the built-in defaults; the audit row records the
//! effective config. Written only through `set_export_preferences`, which
//! validates them, so a stored preference can never break an export.

use pgrx::JsonB;
use pgrx::prelude::*;
use serde_json::{Value, json};

use crate::audit::record::as_log_owner;
use crate::config::{self, ExportConfig};
use crate::error::{OrRaise, UserError};
use crate::pg::guc::with_pinned_search_path;
use crate::pg::jsonb_arg::ConfigJson;
use crate::pg::spi;

/// The caller's stored preferences (`{}` when none or without a JWT identity).
pub fn stored() -> Value {
    with_pinned_search_path(|| {
        spi::read_one::<JsonB>(
            "reading the export preferences",
            "SELECT preferences FROM export_system.export_preferences \
             WHERE user_id = export_system.current_user_id()",
            &[],
        )
    })
    .map_or_else(|| json!({}), |json| json.0)
}

/// The effective, validated config: the given one over the caller's preferences.
pub fn effective_config(config: Option<ConfigJson>) -> ExportConfig {
    let given = config.map_or(Value::Null, |c| c.into_value("the export config"));
    let given = if given.is_null() { json!({}) } else { given };
    ExportConfig::from_json(&config::with_preferences(&given, &stored())).or_raise()
}

/// Replace the caller's export preferences; returns what was stored.
pub fn store(preferences: ConfigJson) -> Value {
    let preferences = preferences.into_value("the preferences");
    let preferences = config::validate_preferences(&preferences).or_raise();
    let user_id = with_pinned_search_path(|| {
        spi::read_one::<String>(
            "reading the caller's identity",
            "SELECT export_system.current_user_id()::text",
            &[],
        )
    })
    .unwrap_or_else(|| {
            UserError {
                code: PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                message: "export preferences belong to a signed-in user, and there is none".into(),
                hint: "Call it with a JWT subject (request.jwt.claims ->> 'sub'), as Supabase does for signed-in users.".into(),
            }
            .raise()
        });
    as_log_owner(|| {
        Spi::run_with_args(
            "INSERT INTO export_system.export_preferences (user_id, preferences, updated_at) \
             VALUES ($1::uuid, $2, now()) \
             ON CONFLICT (user_id) DO UPDATE SET preferences = EXCLUDED.preferences, updated_at = now()",
            &[user_id.into(), JsonB(preferences.clone()).into()],
        )
        .unwrap_or_else(|e| panic!("storing export preferences failed: {e}"))
    });
    preferences
}
