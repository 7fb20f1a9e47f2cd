//! `export_preferences`: each signed-in user's export defaults.

use pgrx::JsonB;
use serde_json::Value;

use crate::pg::spi;
use crate::store::{as_caller, write};

/// The caller's stored preferences, if any (read as the caller).
pub fn read() -> Option<Value> {
    as_caller(|| {
        spi::read_one::<JsonB>(
            "reading the export preferences",
            "SELECT preferences FROM export_system.export_preferences \
             WHERE user_id = export_system.current_user_id()",
            &[],
        )
    })
    .map(|json| json.0)
}

/// Replace `user_id`'s preferences.
pub fn write_for(user_id: &str, preferences: &Value) {
    write(
        "storing export preferences",
        "INSERT INTO export_system.export_preferences (user_id, preferences, updated_at) \
         VALUES ($1::uuid, $2, now()) \
         ON CONFLICT (user_id) DO UPDATE SET preferences = EXCLUDED.preferences, updated_at = now()",
        &[user_id.into(), JsonB(preferences.clone()).into()],
    );
}
