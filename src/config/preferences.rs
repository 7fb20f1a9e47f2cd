//! Export preferences: the options a user may keep as personal defaults,
//! validated as a config would be, and merged under a config's own keys.

use serde_json::{Map, Value};

use crate::config::values::{shown, snake_case};
use crate::config::{ExportConfig, SIMPLE_OPTIONS};
use crate::error::UserError;

/// Options with a structured value that a user may also keep as a default.
const STRUCTURED_PREFERENCES: &[&str] = &["max_tokens", "redact", "dedupe"];

/// Keys a user may keep as personal defaults (`set_export_preferences`).
fn preference_keys() -> Vec<&'static str> {
    SIMPLE_OPTIONS
        .iter()
        .filter(|option| option.preference)
        .map(|option| option.key)
        .chain(STRUCTURED_PREFERENCES.iter().copied())
        .collect()
}

/// Validate preferences: only `preference_keys()`, each valid as in a config.
/// Returns them with canonical (snake_case) keys.
pub fn validate_preferences(preferences: &Value) -> Result<Value, UserError> {
    let Value::Object(map) = preferences else {
        return Err(UserError::invalid_parameter(
            format!(
                "export preferences must be a JSON object, got {}",
                shown(preferences)
            ),
            "Pass an object such as '{\"format\": \"csv\", \"include_metadata\": false}'::jsonb.",
        ));
    };
    let preference_keys = preference_keys();
    let mut canonical = Map::new();
    for (key, value) in map {
        let name = snake_case(key);
        if !preference_keys.contains(&name.as_str()) {
            return Err(UserError::invalid_parameter(
                format!("unknown key \"{key}\" in export preferences"),
                format!("Preferences may set: {}.", preference_keys.join(", ")),
            ));
        }
        canonical.insert(name, value.clone());
    }
    let canonical = Value::Object(canonical);
    // Each value must be one a config accepts; errors name the key.
    ExportConfig::from_json(&canonical)?;
    Ok(canonical)
}

/// The config with the caller's preferences filling the keys it leaves out
/// (whatever spelling, snake_case or camelCase, the config uses).
pub fn with_preferences(config: &Value, preferences: &Value) -> Value {
    let (Value::Object(given), Value::Object(defaults)) = (config, preferences) else {
        return config.clone();
    };
    let given_keys: Vec<String> = given.keys().map(|key| snake_case(key)).collect();
    let mut merged: Map<String, Value> = defaults
        .iter()
        .filter(|(key, _)| !given_keys.contains(key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    merged.extend(
        given
            .iter()
            .map(|(key, value)| (key.clone(), value.clone())),
    );
    Value::Object(merged)
}
