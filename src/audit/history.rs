//! `export_history`: the caller's exports, newest first, a page at a time.
//! The filter's value lists are the Rust enums' own (formats, statuses,
//! kinds), so they cannot drift from what the extension writes.

use serde_json::{Map, Value};

use crate::audit::record::KINDS;
use crate::config::{self, Format};
use crate::error::UserError;
use crate::model::ExportStatus;
use crate::pg::identity::Identity;
use crate::store;
use crate::store::history::HistoryQuery;

const KEYS: &[&str] = &["page", "limit", "format", "status", "kind", "from", "to"];
const MAX_PAGE_SIZE: i64 = 100;

fn invalid(message: String, hint: impl Into<String>) -> UserError {
    UserError::invalid_parameter(message, hint)
}

fn whole_number(key: &str, value: &Value) -> Result<i64, UserError> {
    let bounds = if key == "limit" {
        "from 1 to 100"
    } else {
        "of at least 1"
    };
    value
        .as_i64()
        .filter(|n| *n >= 1 && *n <= i64::from(i32::MAX) && (key != "limit" || *n <= MAX_PAGE_SIZE))
        .ok_or_else(|| {
            invalid(
                format!(
                    "history filter key \"{key}\" must be a whole number {bounds}, got {value}"
                ),
                "Pages are numbered from 1; a page holds at most 100 exports.",
            )
        })
}

fn one_of(key: &str, value: &Value, allowed: &[&str]) -> Result<Vec<String>, UserError> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    items
        .iter()
        .map(|item| {
            item.as_str()
                .filter(|text| allowed.contains(text))
                .map(str::to_string)
        })
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| {
            invalid(
                format!("history filter key \"{key}\" has an invalid value {value}"),
                format!("Give one of {}, or an array of them.", allowed.join(", ")),
            )
        })
}

fn instant(key: &str, value: &Value) -> Result<String, UserError> {
    // A bare `to` date covers that whole day.
    config::parse_instant(value.as_str().unwrap_or_default(), key == "to").ok_or_else(|| {
        invalid(
            format!(
                "history filter key \"{key}\" must be an ISO 8601 date or timestamp, got {value}"
            ),
            "For example \"2026-01-31\" or \"2026-01-31T12:00:00Z\"; both ends are inclusive.",
        )
    })
}

/// The filter's keys, validated.
fn parse(filter: &Value) -> Result<HistoryQuery, UserError> {
    let empty = Map::new();
    let map = match filter {
        Value::Null => &empty,
        Value::Object(map) => map,
        other => {
            return Err(invalid(
                format!("history filter must be a JSON object, got {other}"),
                "Pass an object such as '{\"page\": 1, \"limit\": 20, \"status\": \"completed\"}'::jsonb.",
            ));
        }
    };
    if let Some(key) = map.keys().find(|key| !KEYS.contains(&key.as_str())) {
        return Err(invalid(
            format!("unknown key \"{key}\" in history filter"),
            format!("Valid keys: {}.", KEYS.join(", ")),
        ));
    }
    let formats: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
    let statuses: Vec<&str> = ExportStatus::ALL.iter().map(|s| s.as_str()).collect();
    let get = |key: &str| map.get(key);
    Ok(HistoryQuery {
        page: get("page").map_or(Ok(1), |v| whole_number("page", v))?,
        page_size: get("limit").map_or(Ok(20), |v| whole_number("limit", v))?,
        formats: get("format")
            .map(|v| one_of("format", v, &formats))
            .transpose()?,
        statuses: get("status")
            .map(|v| one_of("status", v, &statuses))
            .transpose()?,
        kinds: get("kind").map(|v| one_of("kind", v, KINDS)).transpose()?,
        from: get("from").map(|v| instant("from", v)).transpose()?,
        to: get("to").map(|v| instant("to", v)).transpose()?,
    })
}

/// One page of the caller's history (everyone's for operators), as jsonb.
pub fn history(filter: &Value) -> Value {
    let query = parse(filter).unwrap_or_else(|error| error.raise());
    store::history::page(&query, Identity::current().user_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_lists() {
        let filter = parse(&json!({"status": "completed", "format": ["csv", "json"]})).unwrap();
        assert_eq!((filter.page, filter.page_size), (1, 20));
        assert_eq!(filter.statuses, Some(vec!["completed".to_string()]));
        assert_eq!(
            filter.formats,
            Some(vec!["csv".to_string(), "json".to_string()])
        );
    }

    #[test]
    fn a_bare_to_date_covers_its_day() {
        let filter = parse(&json!({"to": "2026-01-31"})).unwrap();
        assert_eq!(filter.to.as_deref(), Some("2026-01-31T23:59:59.999999Z"));
    }

    #[test]
    fn errors_name_the_key() {
        for (filter, named) in [
            (json!({"pages": 1}), "\"pages\""),
            (json!({"limit": 101}), "\"limit\""),
            (json!({"page": 0}), "\"page\""),
            (json!({"status": "done"}), "\"status\""),
            (json!({"kind": ["query", 1]}), "\"kind\""),
            (json!({"from": "yesterday"}), "\"from\""),
            (json!([]), "JSON object"),
        ] {
            let error = parse(&filter).unwrap_err();
            assert!(error.message.contains(named), "{}", error.message);
        }
    }
}
