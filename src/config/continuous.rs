//! The keys of continuous exports: `saved` (a saved export's name), `since`
//! (`"last"`: only what changed since its last completed run) and `dedupe`,
//! which besides true and false takes `"history"` (no example an earlier run
//! of the same saved export emitted).

use serde_json::Value;

use crate::config::ExportConfig;
use crate::config::values::{shown, wrong_type};
use crate::error::UserError;

/// What `dedupe` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedupe {
    Off,
    /// No two examples with the same training content in one export.
    InExport,
    /// Also none that an earlier run of the saved export emitted.
    History,
}

impl Dedupe {
    pub fn to_value(self) -> Value {
        match self {
            Dedupe::Off => Value::Bool(false),
            Dedupe::InExport => Value::Bool(true),
            Dedupe::History => Value::from("history"),
        }
    }
}

pub(super) fn parse_dedupe(value: &Value) -> Result<Dedupe, UserError> {
    match value {
        Value::Bool(false) => Ok(Dedupe::Off),
        Value::Bool(true) => Ok(Dedupe::InExport),
        Value::String(text) if text == "history" => Ok(Dedupe::History),
        _ => Err(wrong_type(
            "dedupe",
            value,
            "true, false or \"history\"",
            "true skips repeats within the export; \"history\" (with \"saved\") also skips examples an earlier run of the saved export emitted.",
        )),
    }
}

/// Whether `name` may name a saved export: 1 to 63 characters, letters,
/// digits, `_`, `.` and `-`, starting with a letter or digit.
pub fn is_saved_export_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A saved export's name, as `key` gives it.
pub fn parse_saved_name(key: &str, value: &Value) -> Result<String, UserError> {
    let hint = "Name it with 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit, e.g. \"weekly-train\".";
    let name = value
        .as_str()
        .ok_or_else(|| wrong_type(key, value, "a saved export's name", hint))?;
    if !is_saved_export_name(name) {
        return Err(UserError::invalid_parameter(
            format!("{key} is not a valid saved export name: {}", shown(value)),
            hint,
        ));
    }
    Ok(name.to_string())
}

/// `since`: only `"last"`.
pub(super) fn parse_since(value: &Value) -> Result<(), UserError> {
    match value.as_str() {
        Some("last") => Ok(()),
        _ => Err(UserError::invalid_parameter(
            format!(
                "export config key \"since\" must be \"last\", got {}",
                shown(value)
            ),
            "{\"saved\": \"<name>\", \"since\": \"last\"} exports what entered the saved export's selection or changed since its last completed run.",
        )),
    }
}

/// `since` and `"dedupe": "history"` are about a saved export's runs, and
/// an increment holds every change: a `limit` would leave some behind the
/// checkpoint.
pub(super) fn check_continuous(config: &ExportConfig) -> Result<(), UserError> {
    if config.since_last && config.limit.is_some() {
        return Err(UserError::invalid_parameter(
            "export config key \"limit\" cannot be used with \"since\": an increment holds every conversation that changed",
            "Drop \"limit\" from the saved export, or narrow it with filters.",
        ));
    }
    if config.saved.is_some() || !(config.since_last || config.dedupe == Dedupe::History) {
        return Ok(());
    }
    let key = if config.since_last { "since" } else { "dedupe" };
    Err(UserError::invalid_parameter(
        format!("export config key \"{key}\" needs a saved export: \"saved\" is missing"),
        "Save the config with export_system.save_export(name, config), then export {\"saved\": \"<name>\", \"since\": \"last\"}.",
    ))
}

/// Keys an increment may not override: they decide which conversations
/// (and, through the split of the redacted content, which part) the saved
/// export follows, and its checkpoints stand for that selection.
pub const SELECTION_KEYS: &[&str] = &[
    "scope",
    "conversation_ids",
    "filters",
    "limit",
    "split",
    "redact",
    "redaction",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_plain_words() {
        for name in ["weekly-train", "a", "v1.2_eval", &"x".repeat(63)] {
            assert!(is_saved_export_name(name), "{name}");
        }
        for name in ["", "-lead", "with space", "naïve", "a;b", &"x".repeat(64)] {
            assert!(!is_saved_export_name(name), "{name}");
        }
    }

    #[test]
    fn dedupe_takes_a_boolean_or_history() {
        assert_eq!(parse_dedupe(&Value::Bool(true)).unwrap(), Dedupe::InExport);
        assert_eq!(
            parse_dedupe(&Value::from("history")).unwrap(),
            Dedupe::History
        );
        assert!(parse_dedupe(&Value::from("yes")).is_err());
        assert_eq!(Dedupe::History.to_value(), Value::from("history"));
    }
}
