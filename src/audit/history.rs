//! `export_history`: the caller's exports, newest first, a page at a time.
//! The filter's value lists are the Rust enums' own (formats, statuses,
//! kinds), so they cannot drift from what the extension writes.

use serde_json::{Map, Value};

use crate::audit::record::{Identity, KINDS};
use crate::audit::status::ExportStatus;
use crate::config::{self, Format};
use crate::error::UserError;
use crate::pg::guc::with_pinned_search_path;
use crate::pg::spi;
use crate::sql_args::SqlArgs;

const KEYS: &[&str] = &["page", "limit", "format", "status", "kind", "from", "to"];
const MAX_PAGE_SIZE: i64 = 100;

/// A validated history filter.
#[derive(Debug, Default, PartialEq)]
struct HistoryFilter {
    page: i64,
    page_size: i64,
    formats: Option<Vec<String>>,
    statuses: Option<Vec<String>>,
    kinds: Option<Vec<String>>,
    from: Option<String>,
    /// Inclusive upper bound (a bare date covers its whole UTC day).
    to: Option<String>,
}

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

impl HistoryFilter {
    fn from_json(filter: &Value) -> Result<HistoryFilter, UserError> {
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
        Ok(HistoryFilter {
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
}

/// Which rows of the log the filter selects, as SQL conditions.
fn conditions(
    filter: &HistoryFilter,
    user_id: Option<String>,
    sees_all: bool,
    args: &mut SqlArgs,
) -> Vec<String> {
    let mut conditions = Vec::new();
    match (user_id, sees_all) {
        (_, true) => {}
        (Some(user_id), false) => {
            conditions.push(format!("l.user_id = {}::uuid", args.arg(user_id)))
        }
        (None, false) => conditions.push("l.user_id IS NULL AND l.db_role = CURRENT_USER".into()),
    }
    for (column, values) in [
        ("format", &filter.formats),
        ("status", &filter.statuses),
        ("kind", &filter.kinds),
    ] {
        if let Some(values) = values {
            conditions.push(format!(
                "l.{column} = ANY ({}::text[])",
                args.arg(values.clone())
            ));
        }
    }
    if let Some(from) = &filter.from {
        conditions.push(format!(
            "l.\"timestamp\" >= {}::timestamptz",
            args.arg(from.clone())
        ));
    }
    if let Some(to) = &filter.to {
        conditions.push(format!(
            "l.\"timestamp\" <= {}::timestamptz",
            args.arg(to.clone())
        ));
    }
    conditions
}

/// One page of the caller's history (everyone's for operators), as jsonb.
/// Runs as the caller, with search_path pinned: RLS scopes the log too.
pub fn history(filter: &Value) -> Value {
    let filter = HistoryFilter::from_json(filter).unwrap_or_else(|error| error.raise());
    with_pinned_search_path(|| {
        let sees_all = spi::read_one::<bool>(
            "reading the caller's rights",
            "SELECT export_system.sees_all_exports()",
            &[],
        )
        .unwrap_or(false);
        let mut args = SqlArgs::default();
        let conditions = conditions(&filter, Identity::current().user_id, sees_all, &mut args);
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let (page, size) = (filter.page, filter.page_size);
        let limit = args.arg(size);
        let offset = args.arg((page - 1) * size);
        let user_column = if sees_all { ", l.user_id" } else { "" };
        let sql = format!(
            "SELECT jsonb_build_object('page', {page}, 'limit', {size}, 'total', t.total, \
               'pages', ceil(t.total::numeric / {size})::bigint, \
               'exports', (SELECT COALESCE(jsonb_agg(page ORDER BY page.\"timestamp\" DESC, page.export_id DESC), '[]') \
                           FROM (SELECT l.export_id, l.\"timestamp\", l.kind, l.format, l.status, l.delivery, \
                                        l.conversation_count, l.skipped_count, l.file_size, l.duration_ms, \
                                        l.expires_at, l.download_count, l.error_message, l.db_role, l.config{user_column} \
                                 FROM export_system.export_logs l {where_clause} \
                                 ORDER BY l.\"timestamp\" DESC, l.export_id DESC \
                                 LIMIT {limit} OFFSET {offset}) page)) \
             FROM (SELECT count(*) AS total FROM export_system.export_logs l {where_clause}) t"
        );
        spi::read_one::<pgrx::JsonB>("reading the export history", &sql, &args.values)
            .map_or(Value::Null, |json| json.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_lists() {
        let filter =
            HistoryFilter::from_json(&json!({"status": "completed", "format": ["csv", "json"]}))
                .unwrap();
        assert_eq!((filter.page, filter.page_size), (1, 20));
        assert_eq!(filter.statuses, Some(vec!["completed".to_string()]));
        assert_eq!(
            filter.formats,
            Some(vec!["csv".to_string(), "json".to_string()])
        );
    }

    #[test]
    fn a_bare_to_date_covers_its_day() {
        let filter = HistoryFilter::from_json(&json!({"to": "2026-01-31"})).unwrap();
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
            let error = HistoryFilter::from_json(&filter).unwrap_err();
            assert!(error.message.contains(named), "{}", error.message);
        }
    }
}
