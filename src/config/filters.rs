//! `filters` and `sort`: which conversations an export holds, in which order.

use serde_json::Value;

use crate::config::keywords::{ConfigValue, SortColumn, SortDirection, keyword_list};
use crate::config::keywords::{Status, Tier};
use crate::config::time::instant;
use crate::config::values::{canonical_entries, object, shown, string_list, wrong_type};
use crate::config::{ExportConfig, Sort};
use crate::error::UserError;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filters {
    pub status: Vec<Status>,
    pub tier: Vec<Tier>,
    pub quality_min: Option<f64>,
    pub quality_max: Option<f64>,
    pub persona: Vec<String>,
    pub emotion: Vec<String>,
    pub topic: Vec<String>,
    pub category: Vec<String>,
    /// RFC 3339, UTC; inclusive.
    pub created_from: Option<String>,
    /// RFC 3339, UTC; inclusive.
    pub created_to: Option<String>,
    pub search: Option<String>,
    /// An increment's start: conversations whose updated_at is at least
    /// this (microseconds since 2000-01-01 UTC). Set from the saved
    /// export's checkpoint, never from a config.
    pub changed_since: Option<i64>,
}

const FILTER_KEYS: &[&str] = &[
    "status",
    "tier",
    "quality_min",
    "quality_max",
    "persona",
    "emotion",
    "topic",
    "category",
    "created_from",
    "created_to",
    "search",
];

const SORT_KEYS: &[&str] = &["by", "direction"];

pub(super) fn quality(key: &str, value: &Value) -> Result<f64, UserError> {
    let hint = "Quality scores are numbers from 0 to 10.";
    let number = value
        .as_f64()
        .ok_or_else(|| wrong_type(key, value, "a number", hint))?;
    if !(0.0..=10.0).contains(&number) {
        return Err(UserError::invalid_parameter(
            format!(
                "export config key \"{key}\" is out of range: {}",
                shown(value)
            ),
            hint,
        ));
    }
    Ok(number)
}

pub(super) fn parse_filters(value: &Value) -> Result<Filters, UserError> {
    let map = object(
        "filters",
        value,
        "Give filters as an object, e.g. {\"tier\": [\"template\"]}.",
    )?;
    let mut filters = Filters::default();
    for (key, value) in canonical_entries(map, FILTER_KEYS, "filters")? {
        let path = format!("filters.{key}");
        match key.as_str() {
            "status" => filters.status = keyword_list(&path, value)?,
            "tier" => filters.tier = keyword_list(&path, value)?,
            "quality_min" => filters.quality_min = Some(quality(&path, value)?),
            "quality_max" => filters.quality_max = Some(quality(&path, value)?),
            "persona" => filters.persona = string_list(&path, value)?,
            "emotion" => filters.emotion = string_list(&path, value)?,
            "topic" => filters.topic = string_list(&path, value)?,
            "category" => filters.category = string_list(&path, value)?,
            "created_from" => filters.created_from = Some(instant(&path, value, false)?),
            "created_to" => filters.created_to = Some(instant(&path, value, true)?),
            "search" => {
                let hint = "Give the text to look for in titles and turn content.";
                let text = value
                    .as_str()
                    .ok_or_else(|| wrong_type(&path, value, "a string", hint))?;
                if text.is_empty() {
                    return Err(UserError::invalid_parameter(
                        "export config key \"filters.search\" must not be empty",
                        hint,
                    ));
                }
                filters.search = Some(text.to_string());
            }
            _ => unreachable!("canonical_entries admits only FILTER_KEYS"),
        }
    }
    if let (Some(min), Some(max)) = (filters.quality_min, filters.quality_max)
        && min > max
    {
        return Err(UserError::invalid_parameter(
            format!(
                "export config key \"filters.quality_min\" ({min}) is greater than \"filters.quality_max\" ({max})"
            ),
            "quality_min must be less than or equal to quality_max.",
        ));
    }
    Ok(filters)
}

pub(super) fn parse_sort(value: &Value) -> Result<Sort, UserError> {
    let mut sort = ExportConfig::default().sort;
    if let Some(text) = value.as_str() {
        sort.by = SortColumn::read("sort", &Value::String(text.into()))?;
        return Ok(sort);
    }
    let map = object(
        "sort",
        value,
        "Give sort as {\"by\": \"created_at\", \"direction\": \"desc\"}.",
    )?;
    for (key, value) in canonical_entries(map, SORT_KEYS, "sort")? {
        match key.as_str() {
            "by" => sort.by = SortColumn::read("sort.by", value)?,
            "direction" => sort.direction = SortDirection::read("sort.direction", value)?,
            _ => unreachable!("canonical_entries admits only SORT_KEYS"),
        }
    }
    Ok(sort)
}
