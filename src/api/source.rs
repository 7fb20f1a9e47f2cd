//! Registering the application's conversation tables as the source.

use pgrx::prelude::*;
use pgrx::{JsonB, PgRelation};

use crate::pg::jsonb_arg::ConfigJson;
use crate::source::registration;

/// Register where conversations live (owner or superuser only): a
/// conversations relation, optionally a turns relation (else an embedded
/// `messages` jsonb column), and which columns hold which fields. Each
/// relation must enforce Row Level Security unless `allow_without_rls`.
#[pg_extern(volatile, parallel_unsafe)]
fn set_source(
    conversations: PgRelation,
    turns: default!(Option<PgRelation>, "NULL"),
    columns: default!(Option<ConfigJson>, "'{}'"),
    allow_without_rls: default!(bool, false),
) -> JsonB {
    let columns = columns.map_or(serde_json::Value::Null, |c| {
        c.into_value("the source's columns")
    });
    JsonB(registration::set_source(
        conversations.oid(),
        turns.map(|t| t.oid()),
        columns,
        allow_without_rls,
    ))
}

/// The registered source: shape, relations and the column of each field;
/// NULL when none is registered.
#[pg_extern(stable, parallel_safe)]
fn get_source() -> Option<JsonB> {
    let source = registration::get_source();
    (!source.is_null()).then_some(JsonB(source))
}
