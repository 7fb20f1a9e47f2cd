//! Reading conversations as the caller: one parameterised query, opened once as
//! a pinned portal and fetched in batches bounded in bytes, so Row Level
//! Security decides what is seen and memory holds one batch at a time however
//! large the export or its values. Every operator, function and type in the
//! generated SQL is schema-qualified: it runs under the caller's search_path.

use chrono::{DateTime, SecondsFormat};
use pgrx::prelude::*;

use crate::config::{ExportConfig, Filters, Part, Scope, SortColumn, SortDirection, Split};
use crate::export::registry::{Source, SourceColumn, Turns};
use crate::formats::StoredJson;
use crate::pg::portal::{FetchBudget, PinnedPortal, Row};
use crate::sql_args::SqlArgs;

/// One conversation with its turns, as the formats see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: String,
    pub conversation_id: String,
    pub title: Option<String>,
    pub status: String,
    pub tier: String,
    pub category: Vec<String>,
    pub quality_score: Option<f64>,
    pub quality_metrics: Option<StoredJson>,
    pub persona: Option<String>,
    pub emotion: Option<String>,
    pub topic: Option<String>,
    pub total_turns: i64,
    pub token_count: i64,
    pub parent_id: Option<String>,
    pub parent_type: Option<String>,
    pub review_history: StoredJson,
    /// ISO 8601, UTC.
    pub created_at: String,
    /// ISO 8601, UTC.
    pub updated_at: String,
    /// Tool definitions its assistant may call, as stored.
    pub tools: Option<StoredJson>,
    pub turns: Vec<Turn>,
    /// Why a stored value cannot be written (a number beyond every format's
    /// range, messages PostgreSQL cannot read as text): the conversation is
    /// skipped, never the whole export failed.
    pub unreadable: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub turn_number: i64,
    pub role: String,
    pub content: String,
    pub token_count: Option<i64>,
    /// An assistant's tool calls, as stored.
    pub tool_calls: Option<StoredJson>,
    /// A tool result's link to the call it answers.
    pub tool_call_id: Option<String>,
}

/// One fetch holds about this many bytes of rows, however large its values:
/// the receiver stops the fetch once they add up to it.
const BATCH_BYTES: usize = 4 << 20;
const BATCH_ROWS: i64 = 5000;

/// The SELECT list: every field named, and cast to the type it is decoded
/// as (checked once per query against the portal's tuple descriptor); a
/// field the source lacks is NULL. Casts never fail on a stored value:
/// integers are read as int8 (any integer column fits), scores as their
/// decimal text (checked in Rust), jsonb as its text, so it reaches the file
/// exactly as stored.
fn select_list(source: &Source) -> String {
    let conversation = |name: &str, sql_type: &str| {
        format!("{} AS {name}", source.expression(name, "c", sql_type))
    };
    let id = source.require("id", "the source").sql("c");
    let label = source
        .column("conversation_id")
        .map_or(format!("{id}::pg_catalog.text"), |c| {
            format!("{}::pg_catalog.text", c.sql("c"))
        });
    let mut columns = vec![
        format!("{id}::pg_catalog.text AS id"),
        format!("{label} AS conversation_id"),
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
        columns.push(conversation(name, sql_type));
    }
    columns.extend(match &source.turns {
        Turns::Relation {
            turn_number,
            role,
            content,
            token_count,
            tool_calls,
            tool_call_id,
            ..
        } => {
            let optional = |column: &Option<SourceColumn>, sql_type: &str, name: &str| {
                column
                    .as_ref()
                    .map_or(format!("NULL::{sql_type} AS {name}"), |c| {
                        format!("{}::{sql_type} AS {name}", c.sql("t"))
                    })
            };
            [
                format!("{}::pg_catalog.int8 AS turn_number", turn_number.sql("t")),
                format!("{}::pg_catalog.text AS turn_role", role.sql("t")),
                format!("{}::pg_catalog.text AS turn_content", content.sql("t")),
                optional(token_count, "pg_catalog.text", "turn_token_count"),
                optional(tool_calls, "pg_catalog.text", "turn_tool_calls"),
                optional(tool_call_id, "pg_catalog.text", "turn_tool_call_id"),
                "false AS messages_unreadable".into(),
            ]
        }
        Turns::Embedded { messages } => [
            "t.turn_number::pg_catalog.int8 AS turn_number".into(),
            "(t.message OPERATOR(pg_catalog.->>) 'role') AS turn_role".into(),
            "(t.message OPERATOR(pg_catalog.->>) 'content') AS turn_content".into(),
            // A JSON number's text, parsed in Rust: no numeric cast to overflow.
            "CASE WHEN pg_catalog.jsonb_typeof(t.message OPERATOR(pg_catalog.->) 'token_count') \
               OPERATOR(pg_catalog.=) 'number' \
             THEN t.message OPERATOR(pg_catalog.->>) 'token_count' END AS turn_token_count"
                .into(),
            "(t.message OPERATOR(pg_catalog.->) 'tool_calls')::pg_catalog.text AS turn_tool_calls"
                .into(),
            "(t.message OPERATOR(pg_catalog.->>) 'tool_call_id') AS turn_tool_call_id".into(),
            format!("{} AS messages_unreadable", messages_unreadable(messages)),
        ],
    });
    columns.join(", ")
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

/// The turns of conversation `c`, as `t`: the turns relation, or the
/// embedded messages array with its positions as turn numbers.
fn turns_join(source: &Source) -> String {
    let id = source.require("id", "the source").sql("c");
    match &source.turns {
        Turns::Relation {
            relation,
            conversation_id,
            ..
        } => format!(
            "LEFT JOIN {relation} t ON {} OPERATOR(pg_catalog.=) {id}",
            conversation_id.sql("t")
        ),
        Turns::Embedded { messages } => format!(
            "LEFT JOIN LATERAL pg_catalog.jsonb_array_elements({}) \
             WITH ORDINALITY AS t(message, turn_number) ON true",
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
    if let Some(split) = &config.split {
        conditions.push(split_condition(split, source, args));
    }
    conditions
}

/// The conversations of one part of a train/validation split: the first 32
/// bits of md5(seed || ':' || id), as a fraction of 2^32, fall below
/// `validation` for the validation part. md5, not Postgres's internal hash,
/// so the split is the same on every server and version.
fn split_condition(split: &Split, source: &Source, args: &mut SqlArgs) -> String {
    let id = source.require("id", "the source").sql("c");
    let seed = args.arg(format!("{}:", split.seed));
    let validation = args.arg(split.validation);
    let fraction = format!(
        "(('x' OPERATOR(pg_catalog.||) pg_catalog.substr(pg_catalog.md5({seed}::pg_catalog.text \
           OPERATOR(pg_catalog.||) {id}::pg_catalog.text), 1, 8))::pg_catalog.bit(32)::pg_catalog.int8::pg_catalog.float8 \
         OPERATOR(pg_catalog./) 4294967296::pg_catalog.float8)"
    );
    let in_validation =
        format!("{fraction} OPERATOR(pg_catalog.<) {validation}::pg_catalog.float8");
    match split.part {
        Part::Validation => in_validation,
        Part::Train => format!("NOT ({in_validation})"),
    }
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

/// The matching conversations in export order, with the `limit` applied.
/// Ordering uses each type's default btree operator class, which
/// search_path cannot change.
fn selection(config: &ExportConfig, source: &Source, args: &mut SqlArgs) -> (String, String) {
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
    let order = format!("{sort} {direction} NULLS LAST, {id} {direction}");
    let limit = match config.limit {
        Some(limit) => format!("LIMIT {}::pg_catalog.int8", args.arg(limit)),
        None => String::new(),
    };
    let conversations = format!(
        "SELECT c.* FROM {} c {where_clause} ORDER BY {order} {limit}",
        source.conversations
    );
    (conversations, order)
}

/// The export query: matching conversations in sort order (ties broken by
/// id), each followed by its turns in turn order.
fn export_query(config: &ExportConfig, source: &Source) -> (String, SqlArgs) {
    let mut args = SqlArgs::default();
    let (conversations, order) = selection(config, source, &mut args);
    let turn_order = match &source.turns {
        Turns::Relation { turn_number, .. } => turn_number.sql("t"),
        Turns::Embedded { .. } => "t.turn_number".to_string(),
    };
    let sql = format!(
        "SELECT {} FROM ({conversations}) c {} ORDER BY {order}, {turn_order}",
        select_list(source),
        turns_join(source)
    );
    (sql, args)
}

/// Every query an export of `config` runs under the caller's search_path.
#[cfg(any(test, feature = "pg_test"))]
pub fn generated_queries(config: &ExportConfig, source: &Source) -> Vec<String> {
    let mut args = SqlArgs::default();
    let (conversations, _) = selection(config, source, &mut args);
    vec![export_query(config, source).0, count_query(&conversations)]
}

fn count_query(conversations: &str) -> String {
    format!("SELECT pg_catalog.count(*) FROM ({conversations}) c")
}

/// How many conversations the export holds, counted as the caller (under RLS).
pub fn count_conversations(config: &ExportConfig, source: &Source) -> i64 {
    let mut args = SqlArgs::default();
    let (conversations, _) = selection(config, source, &mut args);
    let sql = count_query(&conversations);
    Spi::connect(|client| {
        client
            .select(sql.as_str(), Some(1), &args.values)
            .and_then(|table| table.first().get_one::<i64>())
            .unwrap_or_else(|e| panic!("counting the export's conversations failed: {e}"))
            .unwrap_or(0)
    })
}

fn iso8601(timestamp: TimestampWithTimeZone) -> String {
    // Postgres counts microseconds from 2000-01-01 UTC.
    const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
    let micros: i64 = pg_sys::TimestampTz::from(timestamp);
    micros
        .checked_add(POSTGRES_EPOCH_MICROS)
        .and_then(DateTime::from_timestamp_micros)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| {
            if micros > 0 {
                "infinity".into()
            } else {
                "-infinity".into()
            }
        })
}

/// A quality score from its decimal text (numeric, float or integer
/// output); Err when no format can write it as a number: beyond a double's
/// range, which a numeric column can hold (1e400, 1e-400).
fn quality_score(text: &str) -> Result<f64, &'static str> {
    const OUT_OF_RANGE: &str = "its quality_score is beyond the range of a double";
    let score: f64 = text.parse().map_err(|_| OUT_OF_RANGE)?;
    let infinity_stored = text
        .trim_start_matches('-')
        .eq_ignore_ascii_case("infinity");
    let underflowed = score == 0.0
        && text
            .split(['e', 'E'])
            .next()
            .is_some_and(|digits| digits.bytes().any(|b| matches!(b, b'1'..=b'9')));
    if (score.is_infinite() && !infinity_stored) || underflowed {
        return Err(OUT_OF_RANGE);
    }
    Ok(score)
}

/// A turn's token count from its text: an integer column's (any value), or
/// an embedded message's JSON number (kept when it rounds to a count).
fn token_count(text: &str, from_json: bool) -> Option<i64> {
    if !from_json {
        return text.parse().ok();
    }
    let count: f64 = text.parse().ok()?;
    let rounded = count.round();
    (rounded >= 0.0 && rounded < i64::MAX as f64).then_some(rounded as i64)
}

/// Tool fields that hold nothing (JSON null, an empty array) are absent.
fn present(text: &str) -> Option<StoredJson> {
    let json = StoredJson::from_jsonb_text(text);
    (!matches!(json.as_str(), "null" | "[]")).then_some(json)
}

/// Where each column of the export query is, found by name and checked for
/// its type once, when the portal opens.
struct Layout {
    id: usize,
    conversation_id: usize,
    title: usize,
    status: usize,
    tier: usize,
    category: usize,
    quality_score: usize,
    quality_metrics: usize,
    persona: usize,
    emotion: usize,
    topic: usize,
    total_turns: usize,
    token_count: usize,
    parent_id: usize,
    parent_type: usize,
    review_history: usize,
    created_at: usize,
    updated_at: usize,
    turn_number: usize,
    turn_role: usize,
    turn_content: usize,
    turn_token_count: usize,
    turn_tool_calls: usize,
    turn_tool_call_id: usize,
    tools: usize,
    messages_unreadable: usize,
    /// The source has no total_turns column: count the turns read.
    total_turns_counted: bool,
    /// Turn token counts are embedded messages' JSON numbers.
    token_counts_from_json: bool,
}

impl Layout {
    /// A conversation whose last turn has been read.
    fn complete(&self, mut conversation: Conversation) -> Conversation {
        if self.total_turns_counted {
            conversation.total_turns = conversation.turns.len() as i64;
        }
        conversation
    }

    fn of(portal: &PinnedPortal) -> Layout {
        let text = |name| portal.column_index(name, pg_sys::TEXTOID);
        let int8 = |name| portal.column_index(name, pg_sys::INT8OID);
        let timestamptz = |name| portal.column_index(name, pg_sys::TIMESTAMPTZOID);
        Layout {
            id: text("id"),
            conversation_id: text("conversation_id"),
            title: text("title"),
            status: text("status"),
            tier: text("tier"),
            category: portal.column_index("category", pg_sys::TEXTARRAYOID),
            quality_score: text("quality_score"),
            quality_metrics: text("quality_metrics"),
            persona: text("persona"),
            emotion: text("emotion"),
            topic: text("topic"),
            total_turns: int8("total_turns"),
            token_count: int8("token_count"),
            parent_id: text("parent_id"),
            parent_type: text("parent_type"),
            review_history: text("review_history"),
            created_at: timestamptz("created_at"),
            updated_at: timestamptz("updated_at"),
            turn_number: int8("turn_number"),
            turn_role: text("turn_role"),
            turn_content: text("turn_content"),
            turn_token_count: text("turn_token_count"),
            turn_tool_calls: text("turn_tool_calls"),
            turn_tool_call_id: text("turn_tool_call_id"),
            tools: text("tools"),
            messages_unreadable: portal.column_index("messages_unreadable", pg_sys::BOOLOID),
            total_turns_counted: false,
            token_counts_from_json: false,
        }
    }

    fn conversation(&self, row: &Row, id: String) -> Conversation {
        let score = row
            .text(self.quality_score)
            .map(|text| quality_score(&text));
        let unreadable = match score {
            Some(Err(reason)) => Some(reason),
            _ if row.boolean(self.messages_unreadable) == Some(true) => Some(
                "its messages hold \\u0000 or an unpaired surrogate, which PostgreSQL text cannot",
            ),
            _ => None,
        };
        Conversation {
            id,
            conversation_id: row.text(self.conversation_id).unwrap_or_default(),
            title: row.text(self.title),
            status: row.text(self.status).unwrap_or_default(),
            tier: row.text(self.tier).unwrap_or_default(),
            category: row
                .text_array(self.category)
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .collect(),
            quality_score: score.and_then(Result::ok),
            quality_metrics: row
                .text(self.quality_metrics)
                .map(|text| StoredJson::from_jsonb_text(&text)),
            persona: row.text(self.persona),
            emotion: row.text(self.emotion),
            topic: row.text(self.topic),
            total_turns: row.int8(self.total_turns).unwrap_or_default(),
            token_count: row.int8(self.token_count).unwrap_or_default(),
            parent_id: row.text(self.parent_id),
            parent_type: row.text(self.parent_type),
            review_history: row
                .text(self.review_history)
                .map_or_else(StoredJson::empty_array, |text| {
                    StoredJson::from_jsonb_text(&text)
                }),
            created_at: row
                .timestamptz(self.created_at)
                .map(iso8601)
                .unwrap_or_default(),
            updated_at: row
                .timestamptz(self.updated_at)
                .map(iso8601)
                .unwrap_or_default(),
            tools: row.text(self.tools).and_then(|text| present(&text)),
            turns: Vec::new(),
            unreadable,
        }
    }

    /// The turn on this row, or None for a conversation without turns (LEFT JOIN).
    fn turn(&self, row: &Row) -> Option<Turn> {
        let turn_number = row.int8(self.turn_number)?;
        Some(Turn {
            turn_number,
            role: row.text(self.turn_role).unwrap_or_default(),
            content: row.text(self.turn_content).unwrap_or_default(),
            token_count: row
                .text(self.turn_token_count)
                .and_then(|text| token_count(&text, self.token_counts_from_json)),
            tool_calls: row
                .text(self.turn_tool_calls)
                .and_then(|text| present(&text)),
            tool_call_id: row.text(self.turn_tool_call_id),
        })
    }
}

/// The bytes a decoded row holds, for the fetch budget.
fn row_bytes(conversation_started: Option<&Conversation>, turn: Option<&Turn>) -> usize {
    let text = |value: &Option<String>| value.as_ref().map_or(0, String::len);
    let json = |value: &Option<StoredJson>| value.as_ref().map_or(0, |json| json.as_str().len());
    let header = conversation_started.map_or(0, |c| {
        c.id.len()
            + c.conversation_id.len()
            + c.status.len()
            + c.tier.len()
            + c.category.iter().map(String::len).sum::<usize>()
            + text(&c.title)
            + text(&c.persona)
            + text(&c.emotion)
            + text(&c.topic)
            + text(&c.parent_id)
            + text(&c.parent_type)
            + json(&c.quality_metrics)
            + json(&c.tools)
            + c.review_history.as_str().len()
            + 256
    });
    header
        + turn.map_or(0, |t| {
            t.content.len() + t.role.len() + json(&t.tool_calls) + text(&t.tool_call_id) + 64
        })
}

/// The export query's portal, read batch by batch across calls.
pub struct ConversationSource {
    portal: PinnedPortal,
    layout: Layout,
    /// The conversation whose turns may continue in the next batch.
    pending: Option<Conversation>,
    budget: FetchBudget,
}

impl ConversationSource {
    /// Open the portal as the current user. Errors in the query (including
    /// permission errors) are raised here, before any row is returned.
    pub fn open(config: &ExportConfig, source: &Source) -> ConversationSource {
        Self::open_portal(config, source, false)
    }

    /// Open the portal WITH HOLD, so it outlives this transaction: at commit
    /// Postgres runs the query to the end into a spill-to-disk store, as the
    /// current user, and later transactions read it from there. One snapshot
    /// for the whole export, however many transactions read it.
    pub fn open_holdable(config: &ExportConfig, source: &Source) -> ConversationSource {
        Self::open_portal(config, source, true)
    }

    fn open_portal(config: &ExportConfig, source: &Source, holdable: bool) -> ConversationSource {
        let (sql, args) = export_query(config, source);
        let portal = PinnedPortal::open(&sql, &args.values, holdable);
        let mut layout = Layout::of(&portal);
        layout.total_turns_counted = source.column("total_turns").is_none();
        layout.token_counts_from_json = matches!(source.turns, Turns::Embedded { .. });
        ConversationSource {
            portal,
            layout,
            pending: None,
            budget: FetchBudget {
                max_rows: BATCH_ROWS,
                max_bytes: BATCH_BYTES,
            },
        }
    }

    /// A smaller byte budget per fetch, for callers that read only the head.
    pub fn with_batch_bytes(mut self, max_bytes: usize) -> ConversationSource {
        self.budget.max_bytes = max_bytes;
        self
    }

    pub fn is_exhausted(&self) -> bool {
        self.portal.is_exhausted() && self.pending.is_none()
    }

    /// Fetch one batch; complete conversations are appended to `out`.
    pub fn next_batch(&mut self, out: &mut Vec<Conversation>) {
        let layout = &self.layout;
        if self.portal.is_exhausted() {
            out.extend(self.pending.take().map(|c| layout.complete(c)));
            return;
        }
        let pending = &mut self.pending;
        self.portal.fetch(self.budget, &mut |row| {
            let id = row.text(layout.id).unwrap_or_default();
            let mut started = false;
            if pending.as_ref().is_none_or(|c| c.id != id) {
                out.extend(pending.take().map(|c| layout.complete(c)));
                *pending = Some(layout.conversation(row, id));
                started = true;
            }
            let conversation = pending.as_mut().expect("set above");
            let turn = layout.turn(row);
            let bytes = row_bytes(started.then_some(&*conversation), turn.as_ref());
            conversation.turns.extend(turn);
            bytes
        });
        if self.portal.is_exhausted() {
            out.extend(self.pending.take().map(|c| layout.complete(c)));
        }
    }

    /// Close the portal early (the caller stopped reading).
    pub fn close(&mut self) {
        self.pending = None;
        self.portal.close();
    }
}
