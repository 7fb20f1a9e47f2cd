//! Saved exports: a named config per owner, validated like an export's, that
//! any export function takes as `{"saved": "<name>"}` (`saved_config`).

use serde_json::{Map, Value};

use crate::config::{self, ExportConfig, parse_saved_name};
use crate::error::{OrRaise, UserError};
use crate::export::preferences;
use crate::export::saved_config::entry;
use crate::pg::identity::Identity;
use crate::store::saved_exports as store;

/// Create or replace the caller's saved export `name`: the config is
/// validated as an export's (with the caller's preferences and the owner's
/// redaction minimum); returns the saved export.
pub fn save(name: &str, config: Value) -> Value {
    let name = parse_saved_name("the saved export's name", &Value::from(name)).or_raise();
    let given = if config.is_null() {
        Value::Object(Map::new())
    } else {
        config
    };
    let Value::Object(map) = &given else {
        UserError::invalid_parameter(
            format!("a saved export's config must be a JSON object, got {}", given),
            "Pass an object such as '{\"format\": \"jsonl\", \"split\": {\"validation\": 0.1, \"part\": \"train\"}}'::jsonb.",
        )
        .raise()
    };
    for key in ["saved", "since"] {
        if entry(map, key).is_some() {
            UserError::invalid_parameter(
                format!("a saved export's config cannot hold \"{key}\""),
                "Save the export's own keys; pass {\"saved\": name, \"since\": \"last\"} when you export it.",
            )
            .raise();
        }
    }
    let mut named = map.clone();
    named.insert("saved".into(), Value::from(name.as_str()));
    ExportConfig::from_json(&config::with_preferences(
        &Value::Object(named),
        &preferences::stored(),
    ))
    .and_then(ExportConfig::with_redaction_minimum)
    .or_raise();
    store::save(&Identity::current(), &name, &given)
}

/// The caller's saved exports, by name, each with its increments per part.
pub fn listed() -> Value {
    store::listed(&Identity::current(), None)
}

/// Drop the caller's saved export `name`, with its checkpoints and history.
pub fn drop(name: &str) -> bool {
    store::drop(&Identity::current(), name)
}
