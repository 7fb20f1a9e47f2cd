//! `set_source` and `get_source`: what an administrator registers and how it
//! reads back, and the note an export's audit row carries when the source
//! waived Row Level Security.

use pgrx::PgSqlErrorCode;
use pgrx::prelude::*;
use serde_json::{Value, json};

use crate::error::UserError;
use crate::pg::guc::with_pinned_search_path;
use crate::pg::spi;
use crate::source::resolve::{Source, SourceColumn, Turns, check_installed_version, resolve};
use crate::store;

/// Only superusers and the extension's owner may register a source.
fn check_may_register() {
    let allowed = with_pinned_search_path(|| {
        spi::read_one::<bool>(
            "checking who may register",
            "SELECT r.rolsuper OR e.extowner = r.oid FROM pg_catalog.pg_roles r, pg_catalog.pg_extension e \
             WHERE r.rolname = current_user AND e.extname = 'export_system'",
            &[],
        )
    })
    .unwrap_or(false);
    if !allowed {
        UserError {
            code: PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            message:
                "only the extension's owner or a superuser may register the conversation source"
                    .into(),
            hint: "Ask the database administrator to run export_system.set_source().".into(),
        }
        .raise();
    }
}

/// Register (or replace) the source; returns the registration as stored.
pub fn set_source(
    conversations: pg_sys::Oid,
    turns: Option<pg_sys::Oid>,
    columns: Value,
    allow_without_rls: bool,
) -> Value {
    check_may_register();
    let mapping = match columns {
        Value::Null => json!({}),
        Value::Object(_) => columns,
        other => UserError::invalid_parameter(
            format!("the source's columns must be a JSON object, got {other}"),
            "For example '{\"conversations\": {\"title\": \"subject\"}, \"turns\": {\"content\": \"body\"}}'.",
        )
        .raise(),
    };
    if let Some(key) = mapping.as_object().and_then(|m| {
        m.keys()
            .find(|k| !matches!(k.as_str(), "conversations" | "turns"))
    }) {
        UserError::invalid_parameter(
            format!("unknown key \"{key}\" in the source's columns"),
            "Valid keys: conversations, turns.",
        )
        .raise();
    }
    let source = resolve(conversations, turns, &mapping, allow_without_rls, false)
        .unwrap_or_else(|e| e.raise());
    let mut stored = describe(&source);
    stored["allow_without_rls"] = json!(allow_without_rls);
    let resolved_columns = json!({
        "conversations": stored["conversations"]["columns"].clone(),
        "turns": stored["turns"].get("columns").cloned().unwrap_or(Value::Null),
        "allow_without_rls": allow_without_rls,
    });
    store::source::write_registration(conversations, turns, resolved_columns);
    stored
}

/// The registration as users see it (`get_source()`), or null.
pub fn describe(source: &Source) -> Value {
    let names = |columns: &[(&str, &SourceColumn)]| {
        Value::Object(
            columns
                .iter()
                .map(|(field, column)| (field.to_string(), json!(column.name)))
                .collect(),
        )
    };
    let mut conversation_columns: Vec<(&str, &SourceColumn)> =
        source.columns.iter().map(|(f, c)| (*f, c)).collect();
    let turns = match &source.turns {
        Turns::Relation {
            relation,
            conversation_id,
            turn_number,
            role,
            content,
            token_count,
            tool_calls,
            tool_call_id,
        } => {
            let mut turn_columns = vec![
                ("conversation_id", conversation_id),
                ("turn_number", turn_number),
                ("role", role),
                ("content", content),
            ];
            turn_columns.extend(token_count.iter().map(|c| ("token_count", c)));
            turn_columns.extend(tool_calls.iter().map(|c| ("tool_calls", c)));
            turn_columns.extend(tool_call_id.iter().map(|c| ("tool_call_id", c)));
            json!({"relation": relation, "columns": names(&turn_columns)})
        }
        Turns::Embedded { messages } => {
            conversation_columns.push(("messages", messages));
            json!(null)
        }
    };
    json!({
        "shape": if matches!(source.turns, Turns::Embedded { .. }) { "embedded" } else { "normalized" },
        "conversations": {"relation": source.conversations, "columns": names(&conversation_columns)},
        "turns": turns,
        "allow_without_rls": source.rls_opted_out,
    })
}

/// The current registration, or null when there is none.
pub fn get_source() -> Value {
    check_installed_version();
    if store::source::read().is_some() {
        describe(&Source::load())
    } else {
        Value::Null
    }
}

/// The note an audit row's config carries when the export read a source
/// registered without Row Level Security.
const WAIVER_NOTE: &str = "source_allow_without_rls";

/// Mark an audit row's config when the administrator allowed a source
/// without Row Level Security: every such export says so.
pub fn note_in_audit(rls_opted_out: bool, config: &mut Value) {
    if let Some(object) = config.as_object_mut() {
        if rls_opted_out {
            object.insert(WAIVER_NOTE.into(), json!(true));
        } else {
            object.remove(WAIVER_NOTE);
        }
    }
}

/// An audited config as the export was asked for (the audit's note taken
/// out, so it parses as an export config again), and whether the note said
/// the source waived Row Level Security.
pub fn without_audit_note(audited: &Value) -> (Value, bool) {
    let mut config = audited.clone();
    let waived = config
        .as_object_mut()
        .and_then(|object| object.remove(WAIVER_NOTE))
        == Some(json!(true));
    (config, waived)
}

/// Whether the registered source (if any) waived Row Level Security; for a
/// queued export, whose source is resolved only when its job runs.
pub fn registered_without_rls() -> bool {
    check_installed_version();
    store::source::waives_row_security()
}
