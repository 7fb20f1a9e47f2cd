//! The SQL that reads conversations as the caller: one parameterised query
//! for an export's conversations and turns in order, and its count, built
//! from constants, the registered source's catalog names and parameters.
//! Every operator, function and type in it is schema-qualified with operand
//! types pg_catalog matches exactly: it runs under the caller's search_path
//! (`tests::sql_lint` checks every shape and option).

use pgrx::datum::TimestampWithTimeZone;

use crate::config::{ExportConfig, Filters, Scope, SortColumn, SortDirection};
use crate::error::UserError;
use crate::pg::spi;
use crate::source::{Source, SourceColumn, Turns};
use crate::sql_args::SqlArgs;

/// One column of the export query: its name, the SQL that computes it, and
/// the type it is cast to and decoded as.
struct Column {
    name: &'static str,
    sql: String,
    sql_type: &'static str,
}

impl Column {
    fn new(name: &'static str, sql: String, sql_type: &'static str) -> Column {
        Column {
            name,
            sql,
            sql_type,
        }
    }

    fn selected(&self) -> String {
        format!("{} AS {}", self.sql, self.name)
    }

    fn null(&self) -> String {
        format!("NULL::{} AS {}", self.sql_type, self.name)
    }
}

/// Conversation fields that only metadata shows: read only when it is written.
const METADATA_FIELDS: &[&str] = &[
    "category",
    "quality_score",
    "quality_metrics",
    "persona",
    "emotion",
    "topic",
    "total_turns",
    "token_count",
    "parent_id",
    "parent_type",
    "review_history",
    "created_at",
    "updated_at",
];

/// The conversation's columns, each cast to the type it is decoded as
/// (checked once per query against the portal's tuple descriptor); a field
/// the source lacks, or the file does not show, is NULL. Casts never fail
/// on a stored value: integers are read as int8 (any integer column fits),
/// scores as their decimal text (checked in Rust), jsonb as its text, so it
/// reaches the file exactly as stored.
fn conversation_columns(source: &Source, with_metadata: bool, increment: bool) -> Vec<Column> {
    let id = source.require("id", "the source").sql("c");
    let label = source
        .column("conversation_id")
        .map_or(format!("{id}::pg_catalog.text"), |c| {
            format!("{}::pg_catalog.text", c.sql("c"))
        });
    let mut columns = vec![
        Column::new("id", format!("{id}::pg_catalog.text"), "pg_catalog.text"),
        Column::new("conversation_id", label, "pg_catalog.text"),
    ];
    for (name, sql_type) in [
        ("title", "pg_catalog.text"),
        ("status", "pg_catalog.text"),
        ("tier", "pg_catalog.text"),
        ("category", "pg_catalog.text[]"),
        ("quality_score", "pg_catalog.text"),
        ("quality_metrics", "pg_catalog.text"),
        ("persona", "pg_catalog.text"),
        ("emotion", "pg_catalog.text"),
        ("topic", "pg_catalog.text"),
        ("total_turns", "pg_catalog.int8"),
        ("token_count", "pg_catalog.int8"),
        ("parent_id", "pg_catalog.text"),
        ("parent_type", "pg_catalog.text"),
        ("review_history", "pg_catalog.text"),
        ("created_at", "pg_catalog.timestamptz"),
        ("updated_at", "pg_catalog.timestamptz"),
        ("tools", "pg_catalog.text"),
    ] {
        // An increment compares each conversation's updated_at with the
        // one it was exported at.
        let shown = with_metadata
            || !METADATA_FIELDS.contains(&name)
            || (increment && name == "updated_at");
        let sql = match source.column(name) {
            Some(column) if shown => format!("{}::{sql_type}", column.sql("c")),
            _ => format!("NULL::{sql_type}"),
        };
        columns.push(Column::new(name, sql, sql_type));
    }
    let unreadable = match &source.turns {
        Turns::Embedded { messages } => messages_unreadable(messages),
        Turns::Relation { .. } => "false".into(),
    };
    columns.push(Column::new(
        "messages_unreadable",
        unreadable,
        "pg_catalog.bool",
    ));
    columns
}

/// A turn's columns: of the turns relation `t`, or of the embedded message
/// `t.message` at position `t.turn_number`.
fn turn_columns(source: &Source) -> Vec<Column> {
    match &source.turns {
        Turns::Relation {
            turn_number,
            role,
            content,
            token_count,
            tool_calls,
            tool_call_id,
            ..
        } => {
            let optional = |column: &Option<SourceColumn>, name, sql_type| {
                let sql = column.as_ref().map_or(format!("NULL::{sql_type}"), |c| {
                    format!("{}::{sql_type}", c.sql("t"))
                });
                Column::new(name, sql, sql_type)
            };
            vec![
                optional(&Some(turn_number.clone()), "turn_number", "pg_catalog.int8"),
                optional(&Some(role.clone()), "turn_role", "pg_catalog.text"),
                optional(&Some(content.clone()), "turn_content", "pg_catalog.text"),
                optional(token_count, "turn_token_count", "pg_catalog.text"),
                optional(tool_calls, "turn_tool_calls", "pg_catalog.text"),
                optional(tool_call_id, "turn_tool_call_id", "pg_catalog.text"),
            ]
        }
        Turns::Embedded { .. } => {
            let text = |key: &str| format!("(t.message OPERATOR(pg_catalog.->>) '{key}')");
            vec![
                Column::new(
                    "turn_number",
                    "t.turn_number::pg_catalog.int8".into(),
                    "pg_catalog.int8",
                ),
                Column::new("turn_role", text("role"), "pg_catalog.text"),
                Column::new("turn_content", text("content"), "pg_catalog.text"),
                // A JSON number's text, parsed in Rust: no numeric cast to overflow.
                Column::new(
                    "turn_token_count",
                    format!(
                        "CASE WHEN pg_catalog.jsonb_typeof(t.message OPERATOR(pg_catalog.->) 'token_count') \
                           OPERATOR(pg_catalog.=) 'number' THEN {} END",
                        text("token_count")
                    ),
                    "pg_catalog.text",
                ),
                Column::new(
                    "turn_tool_calls",
                    "(t.message OPERATOR(pg_catalog.->) 'tool_calls')::pg_catalog.text".into(),
                    "pg_catalog.text",
                ),
                Column::new("turn_tool_call_id", text("tool_call_id"), "pg_catalog.text"),
            ]
        }
    }
}

/// Whether a `json` messages column holds text that jsonb (and text) cannot:
/// `\u0000`, or a `\u` escape of an unpaired surrogate. Such a conversation
/// is skipped, so one row never fails everyone's export; jsonb cannot hold it.
fn messages_unreadable(messages: &SourceColumn) -> String {
    if messages.is_jsonb() {
        return "false".into();
    }
    format!(
        "COALESCE(NOT export_system.json_is_readable({}::pg_catalog.text), false)",
        messages.sql("c")
    )
}

/// The turns of conversation `c`, as `t`, in turn order: the turns
/// relation (read through its (conversation, turn number) index when it has
/// one), or the embedded messages array with its positions as turn numbers.
fn turns_of_conversation(source: &Source) -> String {
    let id = source.require("id", "the source").sql("c");
    match &source.turns {
        Turns::Relation {
            relation,
            conversation_id,
            turn_number,
            ..
        } => format!(
            "FROM {relation} t WHERE {} OPERATOR(pg_catalog.=) {id} ORDER BY {}",
            conversation_id.sql("t"),
            turn_number.sql("t")
        ),
        Turns::Embedded { messages } => format!(
            "FROM pg_catalog.jsonb_array_elements({}) WITH ORDINALITY AS t(message, turn_number)",
            messages_array(messages)
        ),
    }
}

/// The embedded messages as a jsonb array; anything else (null, an object,
/// a scalar, json that jsonb cannot hold) as no messages rather than an
/// error that fails the export.
fn messages_array(messages: &SourceColumn) -> String {
    let value = format!("{}::pg_catalog.jsonb", messages.sql("c"));
    let as_array = format!(
        "CASE WHEN pg_catalog.jsonb_typeof({value}) OPERATOR(pg_catalog.=) 'array' \
         THEN {value} ELSE '[]'::pg_catalog.jsonb END"
    );
    if messages.is_jsonb() {
        return as_array;
    }
    // CASE evaluates its branches in order: the cast runs only on readable json.
    format!(
        "CASE WHEN {} THEN '[]'::pg_catalog.jsonb ELSE {as_array} END",
        messages_unreadable(messages)
    )
}

fn sort_field(column: SortColumn) -> &'static str {
    match column {
        SortColumn::CreatedAt => "created_at",
        SortColumn::UpdatedAt => "updated_at",
        SortColumn::QualityScore => "quality_score",
        SortColumn::Title => "title",
        SortColumn::ConversationId => "conversation_id",
        SortColumn::TotalTurns => "total_turns",
        SortColumn::TokenCount => "token_count",
        SortColumn::Tier => "tier",
        SortColumn::Status => "status",
    }
}

/// `WHERE` conditions for the scope and filters, in the caller's visibility.
fn conversation_conditions(
    config: &ExportConfig,
    source: &Source,
    args: &mut SqlArgs,
) -> Vec<String> {
    let mut conditions = scope_conditions(config, source, args);
    conditions.extend(list_conditions(&config.filters, source, args));
    conditions.extend(range_conditions(&config.filters, source, args));
    if let Some(search) = &config.filters.search {
        conditions.push(search_condition(search, source, args));
    }
    if config.since_last {
        conditions.extend(changed_since_condition(
            config.filters.changed_since,
            source,
            args,
        ));
    }
    conditions
}

fn scope_conditions(config: &ExportConfig, source: &Source, args: &mut SqlArgs) -> Vec<String> {
    match config.scope {
        Scope::Approved => {
            let status = source.require("status", "scope \"approved\"").sql("c");
            vec![format!(
                "{status}::pg_catalog.text OPERATOR(pg_catalog.=) 'approved'::pg_catalog.text"
            )]
        }
        Scope::Selected => {
            let ids: Vec<String> = config
                .conversation_ids
                .iter()
                .map(|id| id.to_string())
                .collect();
            let id = source.require("id", "the source");
            // A uuid id is compared as uuid, so its index serves the lookup.
            let (column, array) = if id.is_uuid() {
                (id.sql("c"), "pg_catalog.uuid[]")
            } else {
                (
                    format!("{}::pg_catalog.text", id.sql("c")),
                    "pg_catalog.text[]",
                )
            };
            vec![one_of(&column, &args.arg(ids), array)]
        }
        Scope::All | Scope::Filtered => Vec::new(),
    }
}

/// `value` equals an element of the array parameter `array` (of SQL type
/// `array_type`): a semi-join over its elements with the qualified `=`,
/// where `= ANY` would be sugar to keep out of generated SQL.
fn one_of(value: &str, array: &str, array_type: &str) -> String {
    format!(
        "EXISTS (SELECT FROM pg_catalog.unnest({array}::{array_type}) AS listed(element) \
         WHERE {value} OPERATOR(pg_catalog.=) listed.element)"
    )
}

/// Filters that pick from a list: a column equal to any listed value, or
/// (categories) sharing one.
fn list_conditions(filters: &Filters, source: &Source, args: &mut SqlArgs) -> Vec<String> {
    let keywords = |values: Vec<&str>| values.into_iter().map(str::to_string).collect::<Vec<_>>();
    let lists = [
        (
            "status",
            keywords(filters.status.iter().map(|s| s.as_str()).collect()),
        ),
        (
            "tier",
            keywords(filters.tier.iter().map(|t| t.as_str()).collect()),
        ),
        ("persona", filters.persona.clone()),
        ("emotion", filters.emotion.clone()),
        ("topic", filters.topic.clone()),
    ];
    let mut conditions: Vec<String> = lists
        .into_iter()
        .filter(|(_, values)| !values.is_empty())
        .map(|(field, values)| {
            let column = source.require(field, &format!("filters.{field}")).sql("c");
            one_of(
                &format!("{column}::pg_catalog.text"),
                &args.arg(values),
                "pg_catalog.text[]",
            )
        })
        .collect();
    if !filters.category.is_empty() {
        let column = source.require("category", "filters.category").sql("c");
        conditions.push(format!(
            "{column}::pg_catalog.text[] OPERATOR(pg_catalog.&&) {}::pg_catalog.text[]",
            args.arg(filters.category.clone())
        ));
    }
    conditions
}

/// Inclusive bounds on the quality score and the creation time.
fn range_conditions(filters: &Filters, source: &Source, args: &mut SqlArgs) -> Vec<String> {
    let mut conditions = Vec::new();
    let bounds = [
        (
            "quality_score",
            "filters.quality_min",
            filters.quality_min.map(|v| args.arg(v)),
            ">=",
            "numeric",
        ),
        (
            "quality_score",
            "filters.quality_max",
            filters.quality_max.map(|v| args.arg(v)),
            "<=",
            "numeric",
        ),
        (
            "created_at",
            "filters.created_from",
            filters.created_from.clone().map(|v| args.arg(v)),
            ">=",
            "timestamptz",
        ),
        (
            "created_at",
            "filters.created_to",
            filters.created_to.clone().map(|v| args.arg(v)),
            "<=",
            "timestamptz",
        ),
    ];
    for (field, key, placeholder, operator, sql_type) in bounds {
        if let Some(placeholder) = placeholder {
            let column = source.require(field, key).sql("c");
            conditions.push(format!(
                "{column}::pg_catalog.{sql_type} OPERATOR(pg_catalog.{operator}) {placeholder}::pg_catalog.{sql_type}"
            ));
        }
    }
    conditions
}

/// An increment reads the conversations changed since its checkpoint (all
/// of them on its first run); it needs the source's updated_at, as an
/// instant: a `timestamp` is read in each session's TimeZone, and a rounded
/// one can fall before the start of the transaction that wrote it.
fn changed_since_condition(
    changed_since: Option<i64>,
    source: &Source,
    args: &mut SqlArgs,
) -> Option<String> {
    let column = source.require("updated_at", "\"since\"");
    if !column.is_exact_instant() {
        UserError::invalid_parameter(
            format!(
                "\"since\" needs the source's \"updated_at\" as timestamptz to the microsecond, and its column is {}",
                column.described()
            ),
            "Change the column to timestamptz without a precision (ALTER TABLE … ALTER COLUMN … TYPE timestamptz), or export without \"since\".",
        )
        .raise();
    }
    let column = column.sql("c");
    let since = changed_since?;
    let since = TimestampWithTimeZone::try_from(since).unwrap_or_else(|_| {
        pgrx::error!("a saved export's checkpoint holds an invalid time: {since}")
    });
    Some(format!(
        "{column}::pg_catalog.timestamptz OPERATOR(pg_catalog.>=) {}::pg_catalog.timestamptz",
        args.arg(since)
    ))
}

/// The search text in the title or any turn, case-insensitively. strpos,
/// not LIKE: the text is literal, never a pattern.
fn search_condition(search: &str, source: &Source, args: &mut SqlArgs) -> String {
    let needle = args.arg(search.to_string());
    let contains = |text: &str| {
        format!(
            "pg_catalog.strpos(pg_catalog.lower({text}::pg_catalog.text), \
             pg_catalog.lower({needle}::pg_catalog.text)) OPERATOR(pg_catalog.>) 0"
        )
    };
    let id = source.require("id", "the source").sql("c");
    let in_turns = match &source.turns {
        Turns::Relation {
            relation,
            conversation_id,
            content,
            ..
        } => format!(
            "EXISTS (SELECT 1 FROM {relation} st WHERE {} OPERATOR(pg_catalog.=) {id} AND {})",
            conversation_id.sql("st"),
            contains(&content.sql("st"))
        ),
        Turns::Embedded { messages } => format!(
            "EXISTS (SELECT 1 FROM pg_catalog.jsonb_array_elements({}) AS sm(message) WHERE {})",
            messages_array(messages),
            contains("(sm.message OPERATOR(pg_catalog.->>) 'content')")
        ),
    };
    match source.column("title") {
        Some(title) => format!("({} OR {in_turns})", contains(&title.sql("c"))),
        None => in_turns,
    }
}

/// The matching conversations, in export order (`sort` then `id`, both in
/// the configured direction), with the `limit` applied. Ordering uses each
/// type's default btree operator class, which search_path cannot change.
struct Selection {
    relation: String,
    where_clause: String,
    order: String,
    limit: String,
}

impl Selection {
    /// The conversations as a subquery.
    fn conversations(&self) -> String {
        self.select("")
    }

    /// The conversations with `export_position`, their place in export
    /// order from 1, which the reader checks as it reads.
    fn numbered_conversations(&self) -> String {
        self.select(&format!(
            ", pg_catalog.row_number() OVER (ORDER BY {}) AS export_position",
            self.order
        ))
    }

    /// The matching conversations' columns and `extra` ones, in export order.
    fn select(&self, extra: &str) -> String {
        let Selection {
            relation,
            where_clause,
            order,
            limit,
        } = self;
        format!("SELECT c.*{extra} FROM {relation} c {where_clause} ORDER BY {order} {limit}")
    }
}

fn selection(config: &ExportConfig, source: &Source, args: &mut SqlArgs) -> Selection {
    let conditions = conversation_conditions(config, source, args);
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let direction = match config.sort.direction {
        SortDirection::Asc => "ASC",
        SortDirection::Desc => "DESC",
    };
    let field = sort_field(config.sort.by);
    let sort = match field {
        // Without a label column conversations are labelled by their id, and
        // without a creation time the default order is by id.
        "conversation_id" | "created_at" if source.column(field).is_none() => {
            source.require("id", "the source").sql("c")
        }
        _ => source.require(field, "sort.by").sql("c"),
    };
    let id = source.require("id", "the source").sql("c");
    let limit = match config.limit {
        Some(limit) => format!("LIMIT {}::pg_catalog.int8", args.arg(limit)),
        None => String::new(),
    };
    Selection {
        relation: source.conversations.clone(),
        where_clause,
        order: format!("{sort} {direction} NULLS LAST, {id} {direction}"),
        limit,
    }
}

/// The export query: each matching conversation's row (`part` 0, its own
/// columns, read once) followed by its turns' rows (`part` 1, the turn's
/// columns only), in export order. A conversation's columns never repeat
/// on its turns, so the work grows with the bytes read, never with
/// (conversation bytes × turns).
///
/// The conversations are read in export order and each one's rows are made
/// beside it (LATERAL: a nested loop, the conversation outside), its own row
/// first and then its turns in order (UNION ALL runs its branches in turn).
/// So the rows stream out in file order with no sort at all: no sort of the
/// whole export before the first row, and none per conversation either. No
/// final ORDER BY promises that order, so the reader checks it on every row
/// (`export_position` counts up by one, turn numbers never go down) and
/// fails the export rather than write a file out of order.
///
/// `held`: the portal is held past its transaction (a background job), so
/// Postgres runs it to its end at once: it gets that ORDER BY, so a job
/// past its temp_file_limit fails in the sort, before the held copy of the
/// rows is written, and says so (streaming gains nothing there).
pub(super) fn export_query(
    config: &ExportConfig,
    source: &Source,
    held: bool,
) -> (String, SqlArgs) {
    let mut args = SqlArgs::default();
    let selected = selection(config, source, &mut args);
    let conversation = conversation_columns(source, config.include.metadata, config.since_last);
    let turn = turn_columns(source);
    let list = |columns: &[Column], shown: bool| {
        columns
            .iter()
            .map(|c| if shown { c.selected() } else { c.null() })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sql = format!(
        "SELECT c.export_position, export_rows.* FROM ({}) c \
         CROSS JOIN LATERAL ( \
           SELECT 0 AS part, {}, {} \
           UNION ALL \
           (SELECT 1 AS part, {}, {} {}) \
         ) export_rows {}",
        selected.numbered_conversations(),
        list(&conversation, true),
        list(&turn, false),
        list(&conversation, false),
        list(&turn, true),
        turns_of_conversation(source),
        if held {
            "ORDER BY c.export_position, export_rows.part, export_rows.turn_number"
        } else {
            ""
        }
    );
    (sql, args)
}

/// Every query an export of `config` runs under the caller's search_path.
#[cfg(any(test, feature = "pg_test"))]
pub fn generated_queries(config: &ExportConfig, source: &Source) -> Vec<String> {
    let mut args = SqlArgs::default();
    let selected = selection(config, source, &mut args);
    vec![
        export_query(config, source, false).0,
        export_query(config, source, true).0,
        count_query(&selected.conversations()),
    ]
}

fn count_query(conversations: &str) -> String {
    format!("SELECT pg_catalog.count(*) FROM ({conversations}) c")
}

/// How many conversations the export holds, counted as the caller (under RLS).
pub fn count_conversations(config: &ExportConfig, source: &Source) -> i64 {
    let mut args = SqlArgs::default();
    let sql = count_query(&selection(config, source, &mut args).conversations());
    spi::read_one::<i64>("counting the export's conversations", &sql, &args.values).unwrap_or(0)
}
