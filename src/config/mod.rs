//! The export config: jsonb in, a validated, typed `ExportConfig` out.
//!
//! Keys are snake_case; the seeds' camelCase spellings (`includeMetadata`,
//! `conversationIds`, …) are accepted as aliases. Anything unknown, mistyped or
//! out of range is rejected with SQLSTATE 22023, naming the key and the value.

pub mod preferences;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::UserError;

/// The type of a config value: how it is read from JSON (errors name `key`)
/// and written back for `to_json`.
trait ConfigValue: Sized {
    fn read(key: &str, value: &Value) -> Result<Self, UserError>;
    fn to_value(self) -> Value;
}

impl ConfigValue for bool {
    fn read(key: &str, value: &Value) -> Result<bool, UserError> {
        value
            .as_bool()
            .ok_or_else(|| wrong_type(key, value, "a boolean", "Use true or false."))
    }

    fn to_value(self) -> Value {
        Value::Bool(self)
    }
}

macro_rules! keyword_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            fn valid_list() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl ConfigValue for $name {
            fn read(key: &str, value: &Value) -> Result<Self, UserError> {
                keyword(key, value, Self::parse, Self::valid_list())
            }

            fn to_value(self) -> Value {
                Value::from(self.as_str())
            }
        }
    };
}

keyword_enum!(
    /// Output file format.
    Format { Jsonl => "jsonl", Json => "json", Csv => "csv", Markdown => "markdown" }
);
keyword_enum!(
    /// Fine-tuning dialect of a JSONL line.
    Target { OpenAi => "openai", Anthropic => "anthropic", ShareGpt => "sharegpt" }
);
keyword_enum!(
    /// Which conversations an export starts from (before filters narrow it).
    Scope { Approved => "approved", All => "all", Selected => "selected", Filtered => "filtered" }
);
keyword_enum!(
    /// Whitelisted sort columns; anything else never reaches SQL.
    SortColumn {
        CreatedAt => "created_at",
        UpdatedAt => "updated_at",
        QualityScore => "quality_score",
        Title => "title",
        ConversationId => "conversation_id",
        TotalTurns => "total_turns",
        TokenCount => "token_count",
        Tier => "tier",
        Status => "status",
    }
);
keyword_enum!(SortDirection { Asc => "asc", Desc => "desc" });
keyword_enum!(LineEnding { Lf => "lf", Crlf => "crlf" });
keyword_enum!(
    /// Conversation review states (the CHECK set of conversations.status).
    Status {
        Draft => "draft",
        Generated => "generated",
        PendingReview => "pending_review",
        Approved => "approved",
        Rejected => "rejected",
        NeedsRevision => "needs_revision",
        Failed => "failed",
    }
);
keyword_enum!(
    /// Conversation tiers (the CHECK set of conversations.tier).
    Tier { Template => "template", Scenario => "scenario", EdgeCase => "edge_case" }
);

/// What the optional parts of each exported conversation contain.
#[derive(Debug, Clone, PartialEq)]
pub struct Include {
    pub metadata: bool,
    pub quality_scores: bool,
    pub timestamps: bool,
    pub approval_history: bool,
    pub parent_references: bool,
    /// false: every turn's content is cut to `CONTENT_PREVIEW_CHARS` characters plus "…".
    pub full_content: bool,
}

/// Length of turn content kept when `include_full_content` is false.
pub const CONTENT_PREVIEW_CHARS: usize = 500;

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
}

/// Which part of a train/validation split an export holds. A conversation is
/// in the validation part when a stable hash of the seed and its id falls
/// below `validation` (a fraction), so the parts are disjoint, together the
/// whole export, and the same in every run, format and job.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub validation: f64,
    pub seed: String,
    pub part: Part,
}

keyword_enum!(
    /// The part of a split an export holds.
    Part { Train => "train", Validation => "validation" }
);

const SPLIT_KEYS: &[&str] = &["validation", "seed", "part"];

fn parse_split(value: &Value) -> Result<Split, UserError> {
    let map = object(
        "split",
        value,
        "Give an object such as {\"validation\": 0.1, \"seed\": \"v1\", \"part\": \"train\"}.",
    )?;
    let mut split = Split {
        validation: -1.0,
        seed: String::new(),
        part: Part::Train,
    };
    let mut part_given = false;
    for (key, value) in canonical_entries(map, SPLIT_KEYS, "split")? {
        let full = format!("split.{key}");
        match key.as_str() {
            "validation" => {
                split.validation = value
                    .as_f64()
                    .filter(|v| *v > 0.0 && *v < 1.0)
                    .ok_or_else(|| {
                        UserError::invalid_parameter(
                            format!(
                                "export config key \"{full}\" must be a fraction between 0 and 1, got {}",
                                shown(value)
                            ),
                            "For example 0.1 puts about a tenth of the conversations in the validation part.",
                        )
                    })?
            }
            "seed" => {
                split.seed = value
                    .as_str()
                    .ok_or_else(|| {
                        wrong_type(&full, value, "a string", "Any text; the same seed gives the same split.")
                    })?
                    .to_string()
            }
            "part" => {
                split.part = Part::read(&full, value)?;
                part_given = true;
            }
            _ => unreachable!("canonical_entries admits only SPLIT_KEYS"),
        }
    }
    if split.validation < 0.0 || !part_given {
        return Err(UserError::invalid_parameter(
            "export config key \"split\" needs \"validation\" and \"part\"",
            "For example {\"validation\": 0.1, \"seed\": \"v1\", \"part\": \"train\"}; export the other part with \"part\": \"validation\".",
        ));
    }
    Ok(split)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    pub by: SortColumn,
    pub direction: SortDirection,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportConfig {
    pub format: Format,
    pub target: Target,
    pub scope: Scope,
    pub conversation_ids: Vec<Uuid>,
    pub filters: Filters,
    pub sort: Sort,
    pub limit: Option<i64>,
    /// A deterministic train/validation split, and which part to export.
    pub split: Option<Split>,
    pub include: Include,
    /// Unusable conversations raise an error instead of being skipped.
    pub strict: bool,
    pub pretty: bool,
    pub bom: bool,
    pub line_ending: LineEnding,
    pub formula_guard: bool,
}

/// Declares every top-level key of an export config once, in the order the
/// "Valid keys" hint lists them, and derives `ExportConfig::default`,
/// `TOP_LEVEL_KEYS` and `SIMPLE_OPTIONS` from the rows:
///
/// - `"key" => field: Type = default[, preference];` a simple option, read and
///   written through `Type`'s `ConfigValue`; `preference` lets users keep it as
///   a personal default.
/// - `"key" => field = default;` a structured option, which `from_json` and
///   `to_json` handle by hand.
/// - `field: Struct { simple options }` options kept in a struct field.
///
/// Rows are taken one at a time, gathering keys, `Default` fields and
/// `SIMPLE_OPTIONS` entries in the three bracketed lists, because a nested
/// struct's defaults must form their own struct literal.
macro_rules! top_level_options {
    (@rows [$($keys:tt)*] [$($defaults:tt)*] [$($options:tt)*]
        $key:literal => $field:ident: $type:ty = $default:expr $(, $preference:ident)?;
        $($rest:tt)*
    ) => {
        top_level_options!(@rows
            [$($keys)* $key,]
            [$($defaults)* $field: $default,]
            [$($options)* top_level_options!(@simple $key, [$field], $type, $($preference)?),]
            $($rest)*
        );
    };
    (@rows [$($keys:tt)*] [$($defaults:tt)*] [$($options:tt)*]
        $key:literal => $field:ident = $default:expr;
        $($rest:tt)*
    ) => {
        top_level_options!(@rows
            [$($keys)* $key,]
            [$($defaults)* $field: $default,]
            [$($options)*]
            $($rest)*
        );
    };
    (@rows [$($keys:tt)*] [$($defaults:tt)*] [$($options:tt)*]
        $outer:ident: $outer_type:ident {
            $($key:literal => $field:ident: $type:ty = $default:expr $(, $preference:ident)?;)*
        }
        $($rest:tt)*
    ) => {
        top_level_options!(@rows
            [$($keys)* $($key,)*]
            [$($defaults)* $outer: $outer_type { $($field: $default,)* },]
            [$($options)* $(top_level_options!(@simple $key, [$outer.$field], $type, $($preference)?),)*]
            $($rest)*
        );
    };
    (@rows [$($keys:tt)*] [$($defaults:tt)*] [$($options:tt)*]) => {
        impl Default for ExportConfig {
            fn default() -> Self {
                ExportConfig { $($defaults)* }
            }
        }

        const TOP_LEVEL_KEYS: &[&str] = &[$($keys)*];

        const SIMPLE_OPTIONS: &[SimpleOption] = &[$($options)*];
    };
    (@simple $key:literal, [$($field:ident).+], $type:ty, $($preference:ident)?) => {
        SimpleOption {
            key: $key,
            preference: top_level_options!(@preference $($preference)?),
            read: |config, value| {
                config.$($field).+ = <$type as ConfigValue>::read($key, value)?;
                Ok(())
            },
            write: |config| config.$($field).+.to_value(),
        }
    };
    (@preference) => { false };
    (@preference preference) => { true };
    ($($rows:tt)*) => {
        top_level_options!(@rows [] [] [] $($rows)*);
    };
}

/// A top-level option with a single bool or keyword value.
struct SimpleOption {
    key: &'static str,
    /// Users may keep it as a personal default (`set_export_preferences`).
    preference: bool,
    read: fn(&mut ExportConfig, &Value) -> Result<(), UserError>,
    write: fn(&ExportConfig) -> Value,
}

// A new bool or keyword option needs only its row here.
top_level_options! {
    "format" => format: Format = Format::Jsonl, preference;
    "target" => target: Target = Target::OpenAi, preference;
    "scope" => scope: Scope = Scope::Approved;
    "conversation_ids" => conversation_ids = Vec::new();
    "filters" => filters = Filters::default();
    "sort" => sort = Sort { by: SortColumn::CreatedAt, direction: SortDirection::Asc };
    "limit" => limit = None;
    "split" => split = None;
    include: Include {
        "include_metadata" => metadata: bool = true, preference;
        "include_quality_scores" => quality_scores: bool = true, preference;
        "include_timestamps" => timestamps: bool = true, preference;
        "include_approval_history" => approval_history: bool = false, preference;
        "include_parent_references" => parent_references: bool = false, preference;
        "include_full_content" => full_content: bool = true, preference;
    }
    "strict" => strict: bool = false;
    "pretty" => pretty: bool = true;
    "bom" => bom: bool = true;
    "line_ending" => line_ending: LineEnding = LineEnding::Lf;
    "formula_guard" => formula_guard: bool = true;
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

/// `includeMetadata` → `include_metadata`; snake_case passes through unchanged.
fn snake_case(key: &str) -> String {
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
fn canonical_entries<'a>(
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

fn qualified(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn in_object(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" in \"{path}\"")
    }
}

/// The value as it appears in an error message: JSON text, cut short.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

fn wrong_type(key: &str, value: &Value, expected: &str, hint: &str) -> UserError {
    UserError::invalid_parameter(
        format!(
            "export config key \"{key}\" must be {expected}, got {}",
            shown(value)
        ),
        hint.to_string(),
    )
}

fn keyword<T>(
    key: &str,
    value: &Value,
    parse: fn(&str) -> Option<T>,
    valid: String,
) -> Result<T, UserError> {
    let hint = format!("Valid values for \"{key}\": {valid}.");
    let text = value
        .as_str()
        .ok_or_else(|| wrong_type(key, value, "a string", &hint))?;
    parse(text).ok_or_else(|| {
        UserError::invalid_parameter(
            format!(
                "export config key \"{key}\" has invalid value {}",
                shown(value)
            ),
            hint,
        )
    })
}

fn string_list(key: &str, value: &Value) -> Result<Vec<String>, UserError> {
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

fn keyword_list<T: ConfigValue>(key: &str, value: &Value) -> Result<Vec<T>, UserError> {
    string_list(key, value)?
        .into_iter()
        .map(|text| T::read(key, &Value::String(text)))
        .collect()
}

fn quality(key: &str, value: &Value) -> Result<f64, UserError> {
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

fn instant(key: &str, value: &Value, end_of_day: bool) -> Result<String, UserError> {
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

fn object<'a>(
    key: &str,
    value: &'a Value,
    hint: &str,
) -> Result<&'a Map<String, Value>, UserError> {
    value
        .as_object()
        .ok_or_else(|| wrong_type(key, value, "an object", hint))
}

fn parse_filters(value: &Value) -> Result<Filters, UserError> {
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

fn parse_sort(value: &Value) -> Result<Sort, UserError> {
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

fn parse_ids(value: &Value) -> Result<Vec<Uuid>, UserError> {
    let hint = "Give the conversations' id values (UUIDs) as a JSON array of strings.";
    let items = value
        .as_array()
        .ok_or_else(|| wrong_type("conversation_ids", value, "an array of UUID strings", hint))?;
    items
        .iter()
        .map(|item| {
            item.as_str()
                .and_then(|text| Uuid::parse_str(text).ok())
                .ok_or_else(|| {
                    UserError::invalid_parameter(
                        format!(
                            "export config key \"conversation_ids\" contains a malformed id: {}",
                            shown(item)
                        ),
                        hint,
                    )
                })
        })
        .collect()
}

/// The config's object, None for `null` (all defaults); anything else is an
/// error whose hint shows `example`.
fn config_object<'a>(
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

/// Keys a user may keep as personal defaults (`set_export_preferences`).
fn preference_keys() -> Vec<&'static str> {
    SIMPLE_OPTIONS
        .iter()
        .filter(|option| option.preference)
        .map(|option| option.key)
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

impl ExportConfig {
    /// Validate a jsonb config. `null` or a missing argument means all defaults.
    pub fn from_json(config: &Value) -> Result<ExportConfig, UserError> {
        let mut out = ExportConfig::default();
        let empty = Map::new();
        let map =
            config_object(config, r#"{"format": "jsonl", "scope": "approved"}"#)?.unwrap_or(&empty);
        let mut ids_given = false;
        for (key, value) in canonical_entries(map, TOP_LEVEL_KEYS, "")? {
            let key = key.as_str();
            if let Some(option) = SIMPLE_OPTIONS.iter().find(|option| option.key == key) {
                (option.read)(&mut out, value)?;
                continue;
            }
            match key {
                "conversation_ids" => {
                    out.conversation_ids = parse_ids(value)?;
                    ids_given = true;
                }
                "filters" => out.filters = parse_filters(value)?,
                "sort" => out.sort = parse_sort(value)?,
                "split" => out.split = Some(parse_split(value)?),
                "limit" => {
                    let hint = "Give a whole number of conversations, at least 1.";
                    let limit = value
                        .as_i64()
                        .ok_or_else(|| wrong_type(key, value, "an integer", hint))?;
                    if limit < 1 {
                        return Err(UserError::invalid_parameter(
                            format!("export config key \"limit\" must be at least 1, got {limit}"),
                            hint,
                        ));
                    }
                    out.limit = Some(limit);
                }
                _ => unreachable!("canonical_entries admits only TOP_LEVEL_KEYS"),
            }
        }
        let metadata_given = map.keys().any(|k| snake_case(k) == "include_metadata");
        if out.format == Format::Jsonl && !metadata_given {
            // Training files are training-clean unless metadata is asked for.
            out.include.metadata = false;
        }
        if out.format == Format::Jsonl && out.target == Target::Anthropic && out.include.metadata {
            return Err(UserError::invalid_parameter(
                "export config key \"include_metadata\" cannot be true with target \"anthropic\"",
                "Bedrock's fine-tuning format allows only \"system\" and \"messages\" on each line; drop include_metadata, or use target openai or sharegpt.",
            ));
        }
        match (out.scope, ids_given) {
            (Scope::Selected, false) => Err(UserError::invalid_parameter(
                "export config key \"scope\" is \"selected\" but \"conversation_ids\" is missing",
                "Add \"conversation_ids\": [\"<uuid>\", …], or choose scope approved, all or filtered.",
            )),
            (Scope::Selected, true) if out.conversation_ids.is_empty() => {
                Err(UserError::invalid_parameter(
                    "export config key \"conversation_ids\" is empty",
                    "Scope \"selected\" needs at least one conversation id.",
                ))
            }
            (scope, true) if scope != Scope::Selected => Err(UserError::invalid_parameter(
                format!(
                    "export config key \"conversation_ids\" is only used with scope \"selected\", not \"{}\"",
                    scope.as_str()
                ),
                "Set \"scope\": \"selected\", or remove conversation_ids.",
            )),
            (Scope::Filtered, _) if !map.keys().any(|k| snake_case(k) == "filters") => {
                Err(UserError::invalid_parameter(
                    "export config key \"scope\" is \"filtered\" but \"filters\" is missing",
                    "Add \"filters\": {…}, or choose scope approved or all.",
                ))
            }
            _ => Ok(out),
        }
    }

    /// The effective config with every key spelled out: what the audit log records.
    pub fn to_json(&self) -> Value {
        let f = &self.filters;
        let names = |items: &[Status]| items.iter().map(|s| s.as_str()).collect::<Vec<_>>();
        let mut filters = Map::new();
        let mut put = |key: &str, value: Value| {
            if !value.is_null() && value != json!([]) {
                filters.insert(key.to_string(), value);
            }
        };
        put("status", json!(names(&f.status)));
        put(
            "tier",
            json!(f.tier.iter().map(|t| t.as_str()).collect::<Vec<_>>()),
        );
        put("quality_min", json!(f.quality_min));
        put("quality_max", json!(f.quality_max));
        put("persona", json!(f.persona));
        put("emotion", json!(f.emotion));
        put("topic", json!(f.topic));
        put("category", json!(f.category));
        put("created_from", json!(f.created_from));
        put("created_to", json!(f.created_to));
        put("search", json!(f.search));
        let mut config: Map<String, Value> = SIMPLE_OPTIONS
            .iter()
            .map(|option| (option.key.to_string(), (option.write)(self)))
            .collect();
        config.insert("filters".into(), Value::Object(filters));
        config.insert(
            "sort".into(),
            json!({"by": self.sort.by.as_str(), "direction": self.sort.direction.as_str()}),
        );
        if let Some(limit) = self.limit {
            config.insert("limit".into(), json!(limit));
        }
        if let Some(split) = &self.split {
            config.insert(
                "split".into(),
                json!({"validation": split.validation, "seed": split.seed, "part": split.part.as_str()}),
            );
        }
        if self.scope == Scope::Selected {
            config.insert(
                "conversation_ids".into(),
                json!(
                    self.conversation_ids
                        .iter()
                        .map(Uuid::to_string)
                        .collect::<Vec<_>>()
                ),
            );
        }
        Value::Object(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_fill_only_the_keys_a_config_leaves_out() {
        let preferences = json!({"format": "csv", "include_metadata": false, "target": "sharegpt"});
        let merged = with_preferences(
            &json!({"includeMetadata": true, "scope": "all"}),
            &preferences,
        );
        let config = ExportConfig::from_json(&merged).unwrap();
        assert_eq!(config.format, Format::Csv);
        assert!(config.include.metadata, "the config's camelCase key wins");
        assert_eq!(config.target, Target::ShareGpt);
        assert_eq!(config.scope, Scope::All);
        assert_eq!(with_preferences(&Value::Null, &preferences), Value::Null);
    }

    #[test]
    fn preferences_accept_only_defaults_keys_with_valid_values() {
        assert_eq!(
            validate_preferences(&json!({"includeMetadata": false})).unwrap(),
            json!({"include_metadata": false})
        );
        let unknown = validate_preferences(&json!({"scope": "all"})).unwrap_err();
        assert!(unknown.message.contains("\"scope\""), "{}", unknown.message);
        let bad = validate_preferences(&json!({"format": "xml"})).unwrap_err();
        assert!(bad.message.contains("\"format\""), "{}", bad.message);
        assert!(validate_preferences(&json!([])).is_err());
    }

    fn err(config: Value) -> UserError {
        ExportConfig::from_json(&config).expect_err("config should be rejected")
    }

    #[test]
    fn defaults_when_empty_or_null() {
        // JSONL training files are clean unless metadata is asked for.
        let mut training = ExportConfig::default();
        training.include.metadata = false;
        assert_eq!(ExportConfig::from_json(&json!({})).unwrap(), training);
        assert!(
            ExportConfig::from_json(&json!({"format": "csv"}))
                .unwrap()
                .include
                .metadata
        );
        assert_eq!(ExportConfig::from_json(&Value::Null).unwrap(), training);
    }

    #[test]
    fn camel_case_aliases_are_accepted() {
        let config = ExportConfig::from_json(
            &json!({"includeMetadata": false, "includeFullContent": false}),
        )
        .unwrap();
        assert!(!config.include.metadata);
        assert!(!config.include.full_content);
    }

    #[test]
    fn alias_and_key_together_are_rejected() {
        let e = err(json!({"includeMetadata": false, "include_metadata": true}));
        assert!(e.message.contains("include_metadata"), "{}", e.message);
    }

    #[test]
    fn unknown_key_is_named_and_valid_keys_hinted() {
        let e = err(json!({"fromat": "csv"}));
        assert!(e.message.contains("\"fromat\""), "{}", e.message);
        assert!(e.hint.contains("format"), "{}", e.hint);
    }

    #[test]
    fn bad_values_name_key_and_value() {
        let e = err(json!({"format": "xml"}));
        assert!(
            e.message.contains("\"format\"") && e.message.contains("\"xml\""),
            "{}",
            e.message
        );
        assert!(e.hint.contains("jsonl, json, csv, markdown"), "{}", e.hint);
        let e = err(json!({"include_metadata": "yes"}));
        assert!(
            e.message.contains("include_metadata") && e.message.contains("\"yes\""),
            "{}",
            e.message
        );
        let e = err(json!({"filters": {"tier": ["gold"]}}));
        assert!(
            e.message.contains("filters.tier") && e.message.contains("gold"),
            "{}",
            e.message
        );
        let e = err(json!({"sort": {"by": "id; drop table x"}}));
        assert!(e.message.contains("sort.by"), "{}", e.message);
    }

    #[test]
    fn malformed_id_is_rejected() {
        let e = err(json!({"scope": "selected", "conversation_ids": ["not-a-uuid"]}));
        assert!(
            e.message.contains("conversation_ids") && e.message.contains("not-a-uuid"),
            "{}",
            e.message
        );
    }

    #[test]
    fn scope_and_ids_must_agree() {
        assert!(
            err(json!({"scope": "selected"}))
                .message
                .contains("conversation_ids")
        );
        assert!(
            err(json!({"conversation_ids": []}))
                .message
                .contains("only used with scope")
        );
        assert!(
            err(json!({"scope": "filtered"}))
                .message
                .contains("filters")
        );
    }

    #[test]
    fn dates_become_utc_instants() {
        let config = ExportConfig::from_json(&json!({
            "filters": {"created_from": "2025-10-29", "created_to": "2025-10-30T12:00:00+02:00"}
        }))
        .unwrap();
        assert_eq!(
            config.filters.created_from.as_deref(),
            Some("2025-10-29T00:00:00.000000Z")
        );
        assert_eq!(
            config.filters.created_to.as_deref(),
            Some("2025-10-30T10:00:00.000000Z")
        );
    }

    #[test]
    fn normalized_config_round_trips() {
        let config = ExportConfig::from_json(&json!({
            "format": "csv", "scope": "filtered",
            "filters": {"tier": ["template"], "quality_min": 7.5, "search": "refund"},
            "sort": {"by": "quality_score", "direction": "desc"}, "limit": 10
        }))
        .unwrap();
        assert_eq!(ExportConfig::from_json(&config.to_json()).unwrap(), config);
    }

    #[test]
    fn top_level_keys_are_declared_once() {
        let mut keys = TOP_LEVEL_KEYS.to_vec();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), TOP_LEVEL_KEYS.len(), "{TOP_LEVEL_KEYS:?}");
    }

    #[test]
    fn hints_list_keys_in_declaration_order() {
        assert_eq!(
            err(json!({"fromat": "csv"})).hint,
            "Valid keys: format, target, scope, conversation_ids, filters, sort, limit, split, \
             include_metadata, include_quality_scores, include_timestamps, \
             include_approval_history, include_parent_references, include_full_content, \
             strict, pretty, bom, line_ending, formula_guard."
        );
        assert_eq!(
            validate_preferences(&json!({"strict": true}))
                .unwrap_err()
                .hint,
            "Preferences may set: format, target, include_metadata, include_quality_scores, \
             include_timestamps, include_approval_history, include_parent_references, \
             include_full_content."
        );
    }

    #[test]
    fn default_config_json_is_unchanged() {
        assert_eq!(
            ExportConfig::default().to_json().to_string(),
            r#"{"bom":true,"filters":{},"format":"jsonl","formula_guard":true,"include_approval_history":false,"include_full_content":true,"include_metadata":true,"include_parent_references":false,"include_quality_scores":true,"include_timestamps":true,"line_ending":"lf","pretty":true,"scope":"approved","sort":{"by":"created_at","direction":"asc"},"strict":false,"target":"openai"}"#
        );
    }

    #[test]
    fn every_top_level_key_is_written_and_read_back() {
        // Scope "selected", a limit and a split are what make to_json write every key.
        let config = ExportConfig::from_json(&json!({
            "scope": "selected",
            "conversation_ids": ["0000000a-0000-4000-8000-00000000000a"],
            "limit": 3,
            "split": {"validation": 0.1, "seed": "s", "part": "validation"}
        }))
        .unwrap();
        let written = config.to_json();
        let mut written_keys: Vec<&str> = written
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut keys = TOP_LEVEL_KEYS.to_vec();
        written_keys.sort_unstable();
        keys.sort_unstable();
        assert_eq!(written_keys, keys);
        assert_eq!(ExportConfig::from_json(&written).unwrap(), config);
    }

    #[test]
    fn every_simple_option_round_trips_each_value_it_accepts() {
        let candidates: Vec<Value> = [json!(true), json!(false)]
            .into_iter()
            .chain(Format::ALL.iter().map(|v| v.to_value()))
            .chain(Target::ALL.iter().map(|v| v.to_value()))
            .chain(Scope::ALL.iter().map(|v| v.to_value()))
            .chain(LineEnding::ALL.iter().map(|v| v.to_value()))
            .collect();
        for option in SIMPLE_OPTIONS {
            let mut accepted = 0;
            for value in &candidates {
                let mut config = ExportConfig::default();
                if (option.read)(&mut config, value).is_ok() {
                    assert_eq!(config.to_json()[option.key], *value, "{}", option.key);
                    accepted += 1;
                }
            }
            assert!(accepted >= 2, "{} accepts {accepted} values", option.key);
        }
    }
}
