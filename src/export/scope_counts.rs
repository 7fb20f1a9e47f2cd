//! `scope_counts`: how many conversations each scope would export for this
//! caller and config, counted under the caller's Row Level Security, so a UI
//! can show them before anything is exported.

use serde_json::{Value, json};

use crate::config::{Filters, Scope};
use crate::export::conversation_query::count_conversations;
use crate::export::preferences;
use crate::pg::jsonb_arg::ConfigJson;
use crate::settings;
use crate::source::Source;

/// Counts per scope with the config's filters and limit; `selected` is NULL
/// unless the config names conversation_ids, `filtered` NULL without filters.
pub fn scope_counts(config: Option<ConfigJson>) -> Value {
    let config = preferences::effective_config(config);
    let source = Source::load();
    let count_as = |scope: Scope| {
        let mut scoped = config.clone();
        scoped.scope = scope;
        json!(count_conversations(&scoped, &source))
    };
    let selected = if config.scope == Scope::Selected {
        count_as(Scope::Selected)
    } else {
        Value::Null
    };
    let filtered = if config.filters != Filters::default() {
        count_as(Scope::Filtered)
    } else {
        Value::Null
    };
    json!({
        "selected": selected,
        "filtered": filtered,
        "approved": count_as(Scope::Approved),
        "all": count_as(Scope::All),
        "scope": config.scope.as_str(),
        "async_threshold": settings::async_threshold(),
    })
}
