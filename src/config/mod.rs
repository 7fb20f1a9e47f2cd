//! The export config: jsonb in, a validated, typed `ExportConfig` out.
//!
//! Keys are snake_case; the seeds' camelCase spellings (`includeMetadata`,
//! `conversationIds`, …) are accepted as aliases. Anything unknown, mistyped or
//! out of range is rejected with SQLSTATE 22023, naming the key and the value.

mod continuous;
mod filters;
mod keywords;
mod preferences;
mod query_export;
mod redact;
mod split;
mod time;
mod values;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::UserError;
use crate::settings;
pub use continuous::{Dedupe, SELECTION_KEYS, parse_saved_name};
use continuous::{check_continuous, parse_dedupe, parse_since};
pub use filters::Filters;
use filters::{parse_filters, parse_sort};
use keywords::ConfigValue;
pub use keywords::{
    Entity, Format, LineEnding, Part, Redaction, Scope, SortColumn, SortDirection, Status, Target,
    Tokenizer,
};
pub use preferences::{validate_preferences, with_preferences};
pub use query_export::QueryExportConfig;
use redact::{normalized, parse_minimum, parse_redact};
pub use split::Split;
use split::parse_split;
pub use time::parse_instant;
pub use values::snake_case;
use values::{canonical_entries, config_object, shown, wrong_type};

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
    /// `metadata.token_count`: the example's count by `tokenizer`.
    pub token_count: bool,
}

/// Length of turn content kept when `include_full_content` is false.
pub const CONTENT_PREVIEW_CHARS: usize = 500;

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
    /// The encoding token counts use.
    pub tokenizer: Tokenizer,
    /// Examples over this many tokens are skipped (an error in strict mode).
    pub max_tokens: Option<u64>,
    /// Examples whose training content equals an earlier one's are skipped
    /// (with `History`, also one an earlier run of the saved export emitted).
    pub dedupe: Dedupe,
    /// The saved export this config was made from (`{"saved": name}`).
    pub saved: Option<String>,
    /// `"since": "last"`: only what changed since the saved export's last
    /// completed run.
    pub since_last: bool,
    /// Kinds of personal data replaced in every text that leaves (empty: none).
    pub redact: Vec<Entity>,
    pub redaction: Redaction,
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

        pub(super) const SIMPLE_OPTIONS: &[SimpleOption] = &[$($options)*];
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
pub(super) struct SimpleOption {
    pub(super) key: &'static str,
    /// Users may keep it as a personal default (`set_export_preferences`).
    pub(super) preference: bool,
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
        "include_token_count" => token_count: bool = false, preference;
    }
    "tokenizer" => tokenizer: Tokenizer = Tokenizer::O200kBase, preference;
    "max_tokens" => max_tokens = None;
    "dedupe" => dedupe = Dedupe::Off;
    "redact" => redact = Vec::new();
    "redaction" => redaction: Redaction = Redaction::Placeholder, preference;
    "strict" => strict: bool = false;
    "pretty" => pretty: bool = true;
    "bom" => bom: bool = true;
    "line_ending" => line_ending: LineEnding = LineEnding::Lf;
    "formula_guard" => formula_guard: bool = true;
    "saved" => saved = None;
    "since" => since_last = false;
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

fn parse_limit(value: &Value) -> Result<i64, UserError> {
    let hint = "Give a whole number of conversations, at least 1.";
    let limit = value
        .as_i64()
        .ok_or_else(|| wrong_type("limit", value, "an integer", hint))?;
    if limit < 1 {
        return Err(UserError::invalid_parameter(
            format!("export config key \"limit\" must be at least 1, got {limit}"),
            hint,
        ));
    }
    Ok(limit)
}

fn parse_max_tokens(value: &Value) -> Result<u64, UserError> {
    let hint = "Give a whole number of tokens, at least 1: examples counted over it are skipped.";
    match value.as_u64() {
        Some(0) => Err(UserError::invalid_parameter(
            "export config key \"max_tokens\" must be at least 1, got 0",
            hint,
        )),
        Some(max) => Ok(max),
        None => Err(wrong_type("max_tokens", value, "a positive integer", hint)),
    }
}

impl ExportConfig {
    /// Whether each example's tokens must be counted: only when something
    /// uses the count, so exports without these options cost what they did.
    pub fn counts_tokens(&self) -> bool {
        self.max_tokens.is_some() || (self.include.metadata && self.include.token_count)
    }

    /// Add the owner's minimum (`export_system.redact`, as set now) to the
    /// kinds of personal data this export redacts: a config or preference may
    /// ask for more, never for less.
    pub fn with_redaction_minimum(mut self) -> Result<ExportConfig, UserError> {
        let mut entities = parse_minimum(&settings::redact_minimum())?;
        entities.append(&mut self.redact);
        self.redact = normalized(entities);
        Ok(self)
    }

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
                "limit" => out.limit = Some(parse_limit(value)?),
                "max_tokens" => out.max_tokens = Some(parse_max_tokens(value)?),
                "dedupe" => out.dedupe = parse_dedupe(value)?,
                "saved" => {
                    out.saved = Some(parse_saved_name("export config key \"saved\"", value)?)
                }
                "since" => {
                    parse_since(value)?;
                    out.since_last = true;
                }
                "redact" => out.redact = parse_redact(value)?,
                _ => unreachable!("canonical_entries admits only TOP_LEVEL_KEYS"),
            }
        }
        check_continuous(&out)?;
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
        if let Some(max_tokens) = self.max_tokens {
            config.insert("max_tokens".into(), json!(max_tokens));
        }
        config.insert("dedupe".into(), self.dedupe.to_value());
        if let Some(saved) = &self.saved {
            config.insert("saved".into(), json!(saved));
        }
        if self.since_last {
            config.insert("since".into(), json!("last"));
        }
        config.insert(
            "redact".into(),
            json!(self.redact.iter().map(|e| e.as_str()).collect::<Vec<_>>()),
        );
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
    fn token_options_are_validated_naming_the_key() {
        let config = ExportConfig::from_json(
            &json!({"tokenizer": "cl100k_base", "maxTokens": 4096, "dedupe": true, "includeTokenCount": true}),
        )
        .unwrap();
        assert_eq!(config.tokenizer, Tokenizer::Cl100kBase);
        assert_eq!(config.max_tokens, Some(4096));
        assert!(config.dedupe == Dedupe::InExport && config.include.token_count);
        let e = err(json!({"tokenizer": "gpt2"}));
        assert!(e.message.contains("\"tokenizer\""), "{}", e.message);
        assert_eq!(
            e.hint,
            "Valid values for \"tokenizer\": o200k_base, cl100k_base."
        );
        for bad in [json!(0), json!(-1), json!(1.5), json!("100"), json!(null)] {
            let e = err(json!({"max_tokens": bad}));
            assert!(e.message.contains("\"max_tokens\""), "{}", e.message);
            assert!(e.hint.contains("at least 1"), "{}", e.hint);
        }
        let e = err(json!({"dedupe": "yes"}));
        assert!(e.message.contains("\"dedupe\""), "{}", e.message);
        assert!(e.hint.contains("\"history\""), "{}", e.hint);
        for bad in [
            json!({"tokenizer": "p50k"}),
            json!({"max_tokens": 0}),
            json!({"dedupe": 1}),
        ] {
            let e = validate_preferences(&bad).unwrap_err();
            let key = bad.as_object().unwrap().keys().next().unwrap().clone();
            assert!(e.message.contains(&format!("\"{key}\"")), "{}", e.message);
        }
        assert_eq!(
            validate_preferences(&json!({"maxTokens": 8192, "dedupe": true})).unwrap(),
            json!({"max_tokens": 8192, "dedupe": true})
        );
    }

    #[test]
    fn token_counting_is_asked_only_by_the_options_that_use_it() {
        let asks = |config: Value| ExportConfig::from_json(&config).unwrap().counts_tokens();
        assert!(!asks(json!({})));
        assert!(!asks(json!({"dedupe": true, "tokenizer": "cl100k_base"})));
        assert!(!asks(json!({"include_token_count": true})));
        assert!(asks(
            json!({"include_token_count": true, "include_metadata": true})
        ));
        assert!(asks(json!({"max_tokens": 10})));
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
             include_token_count, tokenizer, max_tokens, dedupe, redact, redaction, strict, pretty, \
             bom, line_ending, formula_guard, saved, since."
        );
        assert_eq!(
            validate_preferences(&json!({"strict": true}))
                .unwrap_err()
                .hint,
            "Preferences may set: format, target, include_metadata, include_quality_scores, \
             include_timestamps, include_approval_history, include_parent_references, \
             include_full_content, include_token_count, tokenizer, redaction, max_tokens, redact, \
             dedupe."
        );
    }

    #[test]
    fn default_config_json_is_unchanged() {
        assert_eq!(
            ExportConfig::default().to_json().to_string(),
            r#"{"bom":true,"dedupe":false,"filters":{},"format":"jsonl","formula_guard":true,"include_approval_history":false,"include_full_content":true,"include_metadata":true,"include_parent_references":false,"include_quality_scores":true,"include_timestamps":true,"include_token_count":false,"line_ending":"lf","pretty":true,"redact":[],"redaction":"placeholder","scope":"approved","sort":{"by":"created_at","direction":"asc"},"strict":false,"target":"openai","tokenizer":"o200k_base"}"#
        );
    }

    #[test]
    fn every_top_level_key_is_written_and_read_back() {
        // Scope "selected", a limit and a split are what make to_json write every key.
        let config = ExportConfig::from_json(&json!({
            "scope": "selected",
            "conversation_ids": ["0000000a-0000-4000-8000-00000000000a"],
            "limit": 3,
            "max_tokens": 4096,
            "split": {"validation": 0.1, "seed": "s", "part": "validation"}
        }))
        .unwrap();
        // And an increment of a saved export (which takes no limit).
        let increment = ExportConfig::from_json(
            &json!({"saved": "weekly", "since": "last", "dedupe": "history"}),
        )
        .unwrap();
        let mut written_keys: Vec<String> = Vec::new();
        for config in [config, increment] {
            let written = config.to_json();
            written_keys.extend(written.as_object().unwrap().keys().cloned());
            assert_eq!(ExportConfig::from_json(&written).unwrap(), config);
        }
        let mut keys = TOP_LEVEL_KEYS.to_vec();
        written_keys.sort_unstable();
        written_keys.dedup();
        keys.sort_unstable();
        assert_eq!(written_keys, keys);
    }

    #[test]
    fn every_simple_option_round_trips_each_value_it_accepts() {
        let candidates: Vec<Value> = [json!(true), json!(false)]
            .into_iter()
            .chain(Format::ALL.iter().map(|v| v.to_value()))
            .chain(Target::ALL.iter().map(|v| v.to_value()))
            .chain(Scope::ALL.iter().map(|v| v.to_value()))
            .chain(LineEnding::ALL.iter().map(|v| v.to_value()))
            .chain(Tokenizer::ALL.iter().map(|v| v.to_value()))
            .chain(Redaction::ALL.iter().map(|v| v.to_value()))
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
