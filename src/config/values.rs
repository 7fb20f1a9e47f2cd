//! Reading a config's JSON values, with errors that name the key (and its
//! path), show the value and say what would be valid: SQLSTATE 22023.

use serde_json::{Map, Value};

use crate::error::UserError;

/// `includeMetadata` → `include_metadata`; snake_case passes through unchanged.
pub fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for ch in key.chars() {
        if ch.is_ascii_uppercase() {
            out.push('_');
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// Canonical keys of a JSON object, each checked against `known`.
/// `path` is how the object is named in messages ("" for the top level).
pub(super) fn canonical_entries<'a>(
    object: &'a Map<String, Value>,
    known: &[&str],
    path: &str,
) -> Result<Vec<(String, &'a Value)>, UserError> {
    let mut entries: Vec<(String, &Value)> = Vec::with_capacity(object.len());
    for (key, value) in object {
        let canonical = snake_case(key);
        let full = qualified(path, key);
        if !known.contains(&canonical.as_str()) {
            return Err(UserError::invalid_parameter(
                format!("unknown key \"{full}\" in export config"),
                format!("Valid keys{}: {}.", in_object(path), known.join(", ")),
            ));
        }
        if entries.iter().any(|(seen, _)| *seen == canonical) {
            return Err(UserError::invalid_parameter(
                format!(
                    "key \"{}\" is given twice in export config",
                    qualified(path, &canonical)
                ),
                "Use either the snake_case key or its camelCase alias, not both.",
            ));
        }
        entries.push((canonical, value));
    }
    Ok(entries)
}

pub(super) fn qualified(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(super) fn in_object(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" in \"{path}\"")
    }
}

/// The value as it appears in an error message: JSON text, cut short.
pub(super) fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

pub(super) fn wrong_type(key: &str, value: &Value, expected: &str, hint: &str) -> UserError {
    UserError::invalid_parameter(
        format!(
            "export config key \"{key}\" must be {expected}, got {}",
            shown(value)
        ),
        hint.to_string(),
    )
}

pub(super) fn string_list(key: &str, value: &Value) -> Result<Vec<String>, UserError> {
    let hint = "Give a JSON array of strings, e.g. [\"a\", \"b\"].";
    let items = value
        .as_array()
        .ok_or_else(|| wrong_type(key, value, "an array of strings", hint))?;
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_string)
                .ok_or_else(|| wrong_type(key, item, "an array of strings", hint))
        })
        .collect()
}

pub(super) fn object<'a>(
    key: &str,
    value: &'a Value,
    hint: &str,
) -> Result<&'a Map<String, Value>, UserError> {
    value
        .as_object()
        .ok_or_else(|| wrong_type(key, value, "an object", hint))
}

/// The config's object, None for `null` (all defaults); anything else is an
/// error whose hint shows `example`.
pub(super) fn config_object<'a>(
    config: &'a Value,
    example: &str,
) -> Result<Option<&'a Map<String, Value>>, UserError> {
    match config {
        Value::Null => Ok(None),
        Value::Object(map) => Ok(Some(map)),
        other => Err(UserError::invalid_parameter(
            format!("export config must be a JSON object, got {}", shown(other)),
            format!("Pass an object such as '{example}'::jsonb."),
        )),
    }
}
