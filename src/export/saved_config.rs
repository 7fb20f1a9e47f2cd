//! A config that names a saved export (`{"saved": "<name>"}`): the saved
//! config fills the keys the given one leaves out. Another owner's saved
//! export is "not found".

use pgrx::PgSqlErrorCode;
use serde_json::{Map, Value};

use crate::config::{self, SELECTION_KEYS, parse_saved_name};
use crate::error::{OrRaise, UserError};
use crate::pg::identity::Identity;
use crate::store::saved_exports as store;

/// The error for a saved export the caller does not own or that is gone.
pub fn not_found(name: &str) -> ! {
    UserError {
        code: PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
        message: format!("saved export \"{name}\" not found"),
        hint: "export_system.saved_exports() lists yours; save one with export_system.save_export(name, config).".into(),
    }
    .raise()
}

/// The value of `key` in a config object, whatever its spelling.
pub fn entry<'a>(config: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    config
        .iter()
        .find(|(given, _)| config::snake_case(given) == key)
        .map(|(_, value)| value)
}

/// `given` with the saved export it names (if any) filling the keys it
/// leaves out. An increment may not override what selects its conversations.
pub fn with_saved(given: Value) -> Value {
    let Value::Object(map) = &given else {
        return given;
    };
    let Some(name) = entry(map, "saved") else {
        return given;
    };
    let name = parse_saved_name("export config key \"saved\"", name).or_raise();
    if entry(map, "since").is_some()
        && let Some(key) = SELECTION_KEYS.iter().find(|key| entry(map, key).is_some())
    {
        UserError::invalid_parameter(
            format!("export config key \"{key}\" cannot change which conversations an increment of saved export \"{name}\" follows"),
            "Save the selection with the saved export (export_system.save_export), or export without \"since\".",
        )
        .raise();
    }
    let saved = store::find(&Identity::current(), &name).unwrap_or_else(|| not_found(&name));
    config::with_preferences(&given, &saved.config)
}
