//! The options of `export_query`: how an operator's result set is written.

use serde_json::{Value, json};

use crate::config::ExportConfig;
use crate::config::keywords::{ConfigValue, Format, LineEnding};
use crate::config::values::{canonical_entries, config_object};
use crate::error::UserError;

/// Options of `export_query`: how a result set is written.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryExportConfig {
    pub format: Format,
    pub bom: bool,
    pub line_ending: LineEnding,
    pub formula_guard: bool,
}

const QUERY_KEYS: &[&str] = &["format", "bom", "line_ending", "formula_guard"];

impl QueryExportConfig {
    /// Defaults: CSV, with the conversation CSV's BOM, LF and formula guard.
    pub fn from_json(config: &Value) -> Result<QueryExportConfig, UserError> {
        let defaults = ExportConfig::default();
        let mut out = QueryExportConfig {
            format: Format::Csv,
            bom: defaults.bom,
            line_ending: defaults.line_ending,
            formula_guard: defaults.formula_guard,
        };
        let Some(map) = config_object(config, r#"{"format": "csv"}"#)? else {
            return Ok(out);
        };
        for (key, value) in canonical_entries(map, QUERY_KEYS, "")? {
            let key = key.as_str();
            match key {
                "format" => out.format = Format::read(key, value)?,
                "bom" => out.bom = bool::read(key, value)?,
                "line_ending" => out.line_ending = LineEnding::read(key, value)?,
                "formula_guard" => out.formula_guard = bool::read(key, value)?,
                _ => unreachable!("canonical_entries admits only QUERY_KEYS"),
            }
        }
        Ok(out)
    }

    pub fn to_json(&self, query: &str) -> Value {
        json!({
            "query": query,
            "format": self.format.as_str(),
            "bom": self.bom,
            "line_ending": self.line_ending.as_str(),
            "formula_guard": self.formula_guard,
        })
    }
}
