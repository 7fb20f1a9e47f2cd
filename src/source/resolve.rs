//! The registered source: which of the application's relations hold the
//! conversations (and their turns), and which of their columns hold each
//! field. Registered once by an administrator with `set_source`, checked
//! then (relations exist, columns exist with usable types, each relation
//! enforces Row Level Security), and stored as catalog names: identifiers
//! reach SQL only quoted from the catalog, never as a user typed them.
//!
//! Two shapes: normalized (a conversations relation plus a turns relation)
//! and embedded (a `jsonb` messages array on each conversation).

use pgrx::PgSqlErrorCode;
use pgrx::prelude::*;
use serde_json::{Map, Value};

use crate::error::UserError;
use crate::pg::guc::with_pinned_search_path;
use crate::pg::identity::Identity;
use crate::pg::spi;
use crate::source::row_security;
use crate::store;

/// What a column must be to hold a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Anything with a text form (ids).
    Any,
    Text,
    TextArray,
    Number,
    Integer,
    Json,
    Timestamp,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Any => "any type",
            Kind::Text => "a text type (text, varchar, char)",
            Kind::TextArray => "an array of text (text[], varchar[])",
            Kind::Number => {
                "a number type (numeric, real, double precision, smallint, integer, bigint)"
            }
            Kind::Integer => "an integer type (smallint, integer, bigint)",
            Kind::Json => "jsonb or json",
            Kind::Timestamp => "timestamptz or timestamp",
        }
    }
}

struct Field {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn field(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

const fn required(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

/// A conversation's fields; each defaults to the column of the same name.
const CONVERSATION_FIELDS: &[Field] = &[
    required("id", Kind::Any),
    field("conversation_id", Kind::Text),
    field("title", Kind::Text),
    field("status", Kind::Text),
    field("tier", Kind::Text),
    field("category", Kind::TextArray),
    field("quality_score", Kind::Number),
    field("quality_metrics", Kind::Json),
    field("persona", Kind::Text),
    field("emotion", Kind::Text),
    field("topic", Kind::Text),
    field("total_turns", Kind::Integer),
    field("token_count", Kind::Integer),
    field("parent_id", Kind::Any),
    field("parent_type", Kind::Text),
    field("review_history", Kind::Json),
    field("created_at", Kind::Timestamp),
    field("updated_at", Kind::Timestamp),
    // Tool definitions the conversation's assistant may call (OpenAI's shape).
    field("tools", Kind::Json),
];

/// The embedded shape's messages array: `[{"role": …, "content": …}, …]`.
const MESSAGES_FIELD: Field = required("messages", Kind::Json);

/// A turn's fields, in the normalized shape's turns relation.
const TURN_FIELDS: &[Field] = &[
    required("conversation_id", Kind::Any),
    required("turn_number", Kind::Integer),
    required("role", Kind::Text),
    required("content", Kind::Text),
    field("token_count", Kind::Integer),
    // An assistant turn's tool calls: [{"id", "name", "arguments"}] or
    // OpenAI's [{"id", "type", "function": {"name", "arguments"}}].
    field("tool_calls", Kind::Json),
    // A tool result's link to the call it answers (role "tool").
    field("tool_call_id", Kind::Text),
];

/// A column as the catalog names it, and its type.
#[derive(Debug, Clone)]
pub struct SourceColumn {
    pub(super) name: String,
    type_oid: pg_sys::Oid,
    /// pg_type.typcategory of the type, and of its element for an array.
    category: String,
    element_category: String,
    /// format_type(): the type as an error message names it.
    type_name: String,
    /// atttypmod: -1 when the type carries no modifier (a timestamp's
    /// precision, for one).
    type_modifier: i32,
}

impl SourceColumn {
    /// The column of relation alias `alias`, quoted for SQL.
    pub fn sql(&self, alias: &str) -> String {
        format!("{alias}.{}", quote_identifier(&self.name))
    }

    pub fn is_uuid(&self) -> bool {
        self.type_oid == pg_sys::UUIDOID
    }

    pub fn is_jsonb(&self) -> bool {
        self.type_oid == pg_sys::JSONBOID
    }

    /// `timestamptz` to the microsecond: an instant, whatever a session's
    /// TimeZone, never rounded.
    pub fn is_exact_instant(&self) -> bool {
        self.type_oid == pg_sys::TIMESTAMPTZOID && self.type_modifier == -1
    }

    /// The column's name and type, as an error message names them.
    pub fn described(&self) -> String {
        format!("{} ({})", self.name, self.type_name)
    }
}

/// Double-quote an identifier the catalog gave us (doubling inner quotes).
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

// One Source exists per query: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Turns {
    /// A turns relation (qualified, quoted name) and its columns.
    Relation {
        relation: String,
        conversation_id: SourceColumn,
        turn_number: SourceColumn,
        role: SourceColumn,
        content: SourceColumn,
        token_count: Option<SourceColumn>,
        tool_calls: Option<SourceColumn>,
        tool_call_id: Option<SourceColumn>,
    },
    /// A messages array on each conversation.
    Embedded { messages: SourceColumn },
}

/// The registration, resolved against the catalog for one query.
#[derive(Debug, Clone)]
pub struct Source {
    /// The conversations relation, qualified and quoted.
    pub conversations: String,
    pub(super) columns: Vec<(&'static str, SourceColumn)>,
    pub turns: Turns,
    /// The administrator allowed relations without Row Level Security.
    pub rls_opted_out: bool,
}

impl Source {
    /// The column holding conversation field `name`, if the source has one.
    pub fn column(&self, name: &str) -> Option<&SourceColumn> {
        self.columns
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, column)| column)
    }

    /// The column an option or filter needs; SQLSTATE 22023 naming it when
    /// the source has none.
    pub fn require(&self, name: &str, needed_by: &str) -> &SourceColumn {
        self.column(name).unwrap_or_else(|| {
            UserError::invalid_parameter(
                format!("{needed_by} needs a \"{name}\" column, and the registered source has none"),
                format!(
                    "Map one with export_system.set_source(…, columns => '{{\"conversations\": {{\"{name}\": \"<column>\"}}}}'), or leave {needed_by} out."
                ),
            )
            .raise()
        })
    }

    /// Read the registration (with the owner's privileges: it is the
    /// extension's own state) and resolve it against the catalog.
    pub fn load() -> Source {
        check_installed_version();
        let Some(stored) = store::source::read() else {
            UserError {
                code: PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                message: "no conversation source is registered".into(),
                hint: "An administrator registers the application's tables once: SELECT export_system.set_source('public.conversations', 'public.conversation_turns');".into(),
            }
            .raise()
        };
        let rls_opted_out = stored.columns.get("allow_without_rls") == Some(&Value::Bool(true));
        let jwt_caller = Identity::current().user_id.is_some();
        resolve(
            stored.conversations,
            stored.turns,
            &stored.columns,
            rls_opted_out,
            jwt_caller,
        )
        .unwrap_or_else(|e| e.raise())
    }
}

struct Relation {
    qualified: String,
}

fn relation(oid: pg_sys::Oid) -> Result<Relation, UserError> {
    let found = with_pinned_search_path(|| {
        spi::read_one::<String>(
            "reading the source's relation",
            "SELECT format('%I.%I', n.nspname, c.relname) \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = $1",
            &[oid.into()],
        )
    });
    found
        .map(|qualified| Relation { qualified })
        .ok_or_else(|| UserError {
            code: PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
            message: format!("the registered relation {} no longer exists", oid.to_u32()),
            hint: "Register the source again with export_system.set_source().".into(),
        })
}

/// A relation's columns with what their types are, in one catalog query
/// (registration and every export read them).
fn columns_of(oid: pg_sys::Oid) -> Vec<SourceColumn> {
    with_pinned_search_path(|| {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT a.attname::text, a.atttypid, t.typcategory::text, \
                            COALESCE(e.typcategory::text, ''), format_type(a.atttypid, NULL), a.atttypmod \
                     FROM pg_catalog.pg_attribute a \
                     JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
                     LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' \
                     WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                    None,
                    &[oid.into()],
                )
                .unwrap_or_else(|e| spi::fail("reading the catalog", e))
                .map(|row| {
                    let text = |ordinal| row.get::<String>(ordinal).ok().flatten().unwrap_or_default();
                    SourceColumn {
                        name: text(1),
                        type_oid: row
                            .get::<pg_sys::Oid>(2)
                            .ok()
                            .flatten()
                            .unwrap_or(pg_sys::InvalidOid),
                        category: text(3),
                        element_category: text(4),
                        type_name: text(5),
                        type_modifier: row.get::<i32>(6).ok().flatten().unwrap_or(-1),
                    }
                })
                .collect()
        })
    })
}

/// Whether `column` can hold a field of `kind`.
fn usable(kind: Kind, column: &SourceColumn) -> bool {
    match kind {
        Kind::Any => true,
        Kind::Text => column.category == "S",
        Kind::TextArray => column.category == "A" && column.element_category == "S",
        Kind::Number => matches!(
            column.type_oid,
            pg_sys::NUMERICOID
                | pg_sys::FLOAT4OID
                | pg_sys::FLOAT8OID
                | pg_sys::INT2OID
                | pg_sys::INT4OID
                | pg_sys::INT8OID
        ),
        Kind::Integer => matches!(
            column.type_oid,
            pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID
        ),
        Kind::Json => matches!(column.type_oid, pg_sys::JSONBOID | pg_sys::JSONOID),
        Kind::Timestamp => matches!(
            column.type_oid,
            pg_sys::TIMESTAMPTZOID | pg_sys::TIMESTAMPOID
        ),
    }
}

/// Map each field to its column: the mapped name, else the field's own
/// name if the relation has it. Mapped columns must exist; required fields
/// must be found; types must fit.
fn map_fields(
    relation: &Relation,
    columns: &[SourceColumn],
    fields: &[&Field],
    mapping: Option<&Map<String, Value>>,
    group: &str,
) -> Result<Vec<(&'static str, SourceColumn)>, UserError> {
    if let Some(mapping) = mapping
        && let Some(unknown) = mapping
            .keys()
            .find(|key| !fields.iter().any(|f| f.name == *key))
    {
        return Err(UserError::invalid_parameter(
            format!("unknown field \"{group}.{unknown}\" in the source's columns"),
            format!(
                "Fields of {group}: {}.",
                fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let mut mapped = Vec::new();
    for field in fields {
        let given = mapping.and_then(|m| m.get(field.name));
        let name = match given {
            None => field.name.to_string(),
            Some(Value::String(name)) => name.clone(),
            Some(other) => {
                return Err(UserError::invalid_parameter(
                    format!(
                        "the source's column for \"{group}.{}\" must be a column name, got {other}",
                        field.name
                    ),
                    "Give the column's name as a string.",
                ));
            }
        };
        let Some(column) = columns.iter().find(|c| c.name == name) else {
            if given.is_some() || field.required {
                return Err(UserError {
                    code: PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
                    message: format!(
                        "{} has no column \"{name}\" for field \"{group}.{}\"",
                        relation.qualified, field.name
                    ),
                    hint: format!(
                        "Map the field to an existing column: columns => '{{\"{group}\": {{\"{}\": \"<column>\"}}}}'.",
                        field.name
                    ),
                });
            }
            continue;
        };
        if !usable(field.kind, column) {
            return Err(UserError {
                code: PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                message: format!(
                    "column \"{}\" of {} has type {}, but field \"{group}.{}\" needs {}",
                    column.name,
                    relation.qualified,
                    column.type_name,
                    field.name,
                    field.kind.describe()
                ),
                hint: "Map the field to another column, or expose a converted column through a view WITH (security_invoker = true).".into(),
            });
        }
        mapped.push((field.name, column.clone()));
    }
    Ok(mapped)
}

/// Resolve a registration against the catalog; `jwt_caller`: the source is
/// resolved for a signed-in user's export.
pub(super) fn resolve(
    conversations_oid: pg_sys::Oid,
    turns_oid: Option<pg_sys::Oid>,
    mapping: &Value,
    rls_opted_out: bool,
    jwt_caller: bool,
) -> Result<Source, UserError> {
    let group = |name: &str| mapping.get(name).and_then(Value::as_object);
    let conversations = relation(conversations_oid)?;
    let turns_relation = turns_oid.map(relation).transpose()?;
    if !rls_opted_out {
        row_security::check(conversations_oid, jwt_caller)?;
        if let Some(turns) = turns_oid {
            row_security::check(turns, jwt_caller)?;
        }
    }
    let conversation_columns = columns_of(conversations_oid);
    let mut conversation_fields: Vec<&Field> = CONVERSATION_FIELDS.iter().collect();
    if turns_relation.is_none() {
        conversation_fields.push(&MESSAGES_FIELD);
    }
    let mut columns = map_fields(
        &conversations,
        &conversation_columns,
        &conversation_fields,
        group("conversations"),
        "conversations",
    )?;
    let turns = match (turns_relation, turns_oid) {
        (Some(relation), Some(oid)) => {
            let mut mapped = map_fields(
                &relation,
                &columns_of(oid),
                &TURN_FIELDS.iter().collect::<Vec<_>>(),
                group("turns"),
                "turns",
            )?;
            let mut take = |name: &str| {
                mapped
                    .iter()
                    .position(|(field, _)| *field == name)
                    .map(|index| mapped.remove(index).1)
            };
            Turns::Relation {
                relation: relation.qualified.clone(),
                conversation_id: take("conversation_id").expect("required"),
                turn_number: take("turn_number").expect("required"),
                role: take("role").expect("required"),
                content: take("content").expect("required"),
                token_count: take("token_count"),
                tool_calls: take("tool_calls"),
                tool_call_id: take("tool_call_id"),
            }
        }
        _ => {
            if group("turns").is_some() {
                return Err(UserError::invalid_parameter(
                    "the source's columns map \"turns\", but no turns relation is given",
                    "Pass the turns relation as set_source's second argument, or drop the \"turns\" mapping for an embedded messages column.",
                ));
            }
            let index = columns
                .iter()
                .position(|(field, _)| *field == "messages")
                .expect("required");
            Turns::Embedded {
                messages: columns.remove(index).1,
            }
        }
    };
    Ok(Source {
        conversations: conversations.qualified,
        columns,
        turns,
        rls_opted_out,
    })
}

/// The SQL objects in this database must be the version this library is:
/// after the library is upgraded, the extension is updated with ALTER
/// EXTENSION, until then its tables are the old version's.
pub(super) fn check_installed_version() {
    let installed = with_pinned_search_path(|| {
        spi::read_one::<String>(
            "reading the extension's version",
            "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'export_system'",
            &[],
        )
    })
    .unwrap_or_default();
    let library = env!("CARGO_PKG_VERSION");
    if installed != library {
        UserError {
            code: PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            message: format!(
                "export_system's library is version {library}, but this database's extension is version {installed}"
            ),
            hint: format!(
                "Update the extension to the installed library: ALTER EXTENSION export_system UPDATE TO '{library}';"
            ),
        }
        .raise();
    }
}
