//! ISO 8601 instants and dates in configs and the history filter.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::Value;

use crate::config::values::{shown, wrong_type};
use crate::error::UserError;

/// ISO 8601 instant or calendar date → RFC 3339 in UTC. A bare date means the
/// start of that day (UTC) for `created_from` and its last microsecond for `created_to`.
/// An RFC 3339 timestamp, or a date (its first or, with `end_of_day`, its
/// last microsecond, UTC), as an RFC 3339 UTC instant.
pub fn parse_instant(text: &str, end_of_day: bool) -> Option<String> {
    let parsed: Option<DateTime<Utc>> = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            let time = if end_of_day {
                date.and_hms_micro_opt(23, 59, 59, 999_999)?
            } else {
                date.and_hms_opt(0, 0, 0)?
            };
            Some(time.and_utc())
        });
    parsed.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

pub(super) fn instant(key: &str, value: &Value, end_of_day: bool) -> Result<String, UserError> {
    let hint =
        "Use an ISO 8601 timestamp with offset (2025-10-29T10:00:00Z) or a date (2025-10-29).";
    let text = value
        .as_str()
        .ok_or_else(|| wrong_type(key, value, "a string", hint))?;
    parse_instant(text, end_of_day).ok_or_else(|| {
        UserError::invalid_parameter(
            format!(
                "export config key \"{key}\" is not an ISO 8601 date or timestamp: {}",
                shown(value)
            ),
            hint,
        )
    })
}
