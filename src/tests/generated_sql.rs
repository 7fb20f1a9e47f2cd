//! The SQL an export generates, for every source shape and every option that
//! changes it, names only qualified operators, functions and types
//! (`sql_lint`): nothing resolves through the caller's search_path.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;
    use serde_json::{Value, json};

    use crate::config::ExportConfig;
    use crate::export::conversation_query::generated_queries;
    use crate::source::Source;
    use crate::tests::sql_lint::unqualified_names;

    const EVERY_FIELD: &str = "
        CREATE TABLE public.conversations (
            id uuid PRIMARY KEY, conversation_id text, title text, status text, tier text,
            category text[], quality_score numeric, quality_metrics jsonb, persona text, emotion text,
            topic text, total_turns bigint, token_count bigint, parent_id uuid, parent_type text,
            review_history jsonb, created_at timestamptz, updated_at timestamptz, tools jsonb,
            messages_jsonb jsonb, messages_json json);
        CREATE TABLE public.conversation_turns (
            conversation_id uuid, turn_number bigint, role text, content text, token_count bigint,
            tool_calls json, tool_call_id text);
        ALTER TABLE public.conversations ENABLE ROW LEVEL SECURITY;
        ALTER TABLE public.conversation_turns ENABLE ROW LEVEL SECURITY;";

    /// Every config that changes the generated SQL.
    fn configs() -> Vec<Value> {
        let every_filter = json!({
            "status": ["approved"], "tier": ["template"], "category": ["support"], "search": "a",
            "quality_min": 1, "quality_max": 10, "created_from": "2020-01-01", "created_to": "2030-01-01",
            "persona": ["p"], "emotion": ["e"], "topic": ["t"]});
        let mut configs = vec![
            json!({}),
            json!({"scope": "all", "limit": 5}),
            json!({"scope": "selected", "conversation_ids": ["00000000-0000-4000-8000-000000000001"]}),
            json!({"scope": "filtered", "filters": every_filter}),
            json!({"scope": "all", "split": {"validation": 0.1, "seed": "s", "part": "train"}}),
            json!({"scope": "all", "split": {"validation": 0.1, "seed": "s", "part": "validation"}}),
        ];
        for by in [
            "created_at",
            "updated_at",
            "quality_score",
            "title",
            "conversation_id",
            "total_turns",
            "token_count",
            "tier",
            "status",
        ] {
            configs.push(json!({"sort": {"by": by, "direction": "desc"}}));
        }
        configs
    }

    fn assert_all_qualified() {
        let source = Source::load();
        // An increment after its first run reads from its checkpoint's start.
        let mut increment =
            ExportConfig::from_json(&json!({"saved": "weekly", "since": "last"})).unwrap();
        increment.filters.changed_since = Some(0);
        let parsed = configs().into_iter().map(|config| {
            ExportConfig::from_json(&config).unwrap_or_else(|e| panic!("{}", e.message))
        });
        for parsed in parsed.chain([increment]) {
            for sql in generated_queries(&parsed, &source) {
                let found = unqualified_names(&sql);
                assert!(found.is_empty(), "{found:?} in {sql}");
            }
        }
    }

    #[pg_test]
    fn normalized_source_sql_is_qualified() {
        Spi::run(EVERY_FIELD).unwrap();
        Spi::run(
            "SELECT export_system.set_source('public.conversations', 'public.conversation_turns')",
        )
        .unwrap();
        assert_all_qualified();
    }

    #[pg_test]
    fn embedded_sources_sql_is_qualified() {
        Spi::run(EVERY_FIELD).unwrap();
        for column in ["messages_jsonb", "messages_json"] {
            Spi::run(&format!(
                "SELECT export_system.set_source('public.conversations', NULL, \
                 '{{\"conversations\": {{\"messages\": \"{column}\"}}}}')"
            ))
            .unwrap();
            assert_all_qualified();
        }
    }
}
