//! Reading conversations as the caller: one parameterised query, opened once as
//! a cursor and fetched in batches, so Row Level Security decides what is seen
//! and memory holds one batch at a time however large the export.

use std::ffi::{CString, c_char};

use chrono::{DateTime, SecondsFormat};
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use serde_json::Value;

use crate::config::{ExportConfig, Scope, SortColumn, SortDirection};

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
    pub quality_metrics: Option<Value>,
    pub persona: Option<String>,
    pub emotion: Option<String>,
    pub topic: Option<String>,
    pub total_turns: i32,
    pub token_count: i32,
    pub parent_id: Option<String>,
    pub parent_type: Option<String>,
    pub review_history: Value,
    /// ISO 8601, UTC.
    pub created_at: String,
    /// ISO 8601, UTC.
    pub updated_at: String,
    pub turns: Vec<Turn>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub turn_number: i32,
    pub role: String,
    pub content: String,
    pub token_count: Option<i32>,
}

/// Rows per fetch are sized to about this many bytes, so a batch of 1 MB
/// messages stays as small in memory as a batch of one-line ones.
const TARGET_BATCH_BYTES: usize = 4 << 20;
const MIN_FETCH_ROWS: i64 = 8;
const MAX_FETCH_ROWS: i64 = 2000;
const FIRST_FETCH_ROWS: i64 = 200;

/// The SELECT list; `row_to_conversation` and `row_to_turn` read it by ordinal.
const COLUMNS: &str = "c.id::text, c.conversation_id, c.title, c.status, c.tier, c.category, \
    c.quality_score::float8, c.quality_metrics, c.persona, c.emotion, c.topic, c.total_turns, \
    c.token_count, c.parent_id::text, c.parent_type, c.review_history, c.created_at, c.updated_at, \
    t.turn_number, t.role, t.content, t.token_count";
const FIRST_TURN_COLUMN: usize = 19;

/// SQL text plus its arguments. Values only ever travel as arguments; the
/// text is assembled from constants and whitelisted identifiers.
pub struct ConversationQuery {
    pub sql: String,
    pub args: Vec<DatumWithOid<'static>>,
}

impl ConversationQuery {
    fn arg(&mut self, value: impl IntoDatum + 'static) -> String {
        self.args.push(value.into());
        format!("${}", self.args.len())
    }
}

fn sort_expression(column: SortColumn) -> &'static str {
    match column {
        SortColumn::CreatedAt => "c.created_at",
        SortColumn::UpdatedAt => "c.updated_at",
        SortColumn::QualityScore => "c.quality_score",
        SortColumn::Title => "c.title",
        SortColumn::ConversationId => "c.conversation_id",
        SortColumn::TotalTurns => "c.total_turns",
        SortColumn::TokenCount => "c.token_count",
        SortColumn::Tier => "c.tier",
        SortColumn::Status => "c.status",
    }
}

/// `WHERE` conditions for the scope and filters, in the caller's visibility.
pub fn conversation_conditions(
    config: &ExportConfig,
    query: &mut ConversationQuery,
) -> Vec<String> {
    let mut conditions = Vec::new();
    match config.scope {
        Scope::Approved => conditions.push("c.status = 'approved'".to_string()),
        Scope::Selected => {
            let ids: Vec<String> = config
                .conversation_ids
                .iter()
                .map(|id| id.to_string())
                .collect();
            conditions.push(format!("c.id = ANY ({}::uuid[])", query.arg(ids)));
        }
        Scope::All | Scope::Filtered => {}
    }
    let f = &config.filters;
    let mut any_of = |column: &str, values: Vec<String>, query: &mut ConversationQuery| {
        if !values.is_empty() {
            conditions.push(format!("{column} = ANY ({}::text[])", query.arg(values)));
        }
    };
    any_of(
        "c.status",
        f.status.iter().map(|s| s.as_str().to_string()).collect(),
        query,
    );
    any_of(
        "c.tier",
        f.tier.iter().map(|t| t.as_str().to_string()).collect(),
        query,
    );
    any_of("c.persona", f.persona.clone(), query);
    any_of("c.emotion", f.emotion.clone(), query);
    any_of("c.topic", f.topic.clone(), query);
    if !f.category.is_empty() {
        conditions.push(format!(
            "c.category && {}::text[]",
            query.arg(f.category.clone())
        ));
    }
    if let Some(min) = f.quality_min {
        conditions.push(format!("c.quality_score >= {}::numeric", query.arg(min)));
    }
    if let Some(max) = f.quality_max {
        conditions.push(format!("c.quality_score <= {}::numeric", query.arg(max)));
    }
    if let Some(from) = &f.created_from {
        conditions.push(format!(
            "c.created_at >= {}::timestamptz",
            query.arg(from.clone())
        ));
    }
    if let Some(to) = &f.created_to {
        conditions.push(format!(
            "c.created_at <= {}::timestamptz",
            query.arg(to.clone())
        ));
    }
    if let Some(search) = &f.search {
        // strpos, not LIKE: the search text is literal, never a pattern.
        let needle = query.arg(search.clone());
        conditions.push(format!(
            "(strpos(lower(c.title), lower({needle})) > 0 OR EXISTS (\
                SELECT 1 FROM export_system.conversation_turns st \
                WHERE st.conversation_id = c.id AND strpos(lower(st.content), lower({needle})) > 0))"
        ));
    }
    conditions
}

/// The matching conversations in export order, with the `limit` applied.
fn selection(config: &ExportConfig, query: &mut ConversationQuery) -> (String, String) {
    let conditions = conversation_conditions(config, query);
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let direction = match config.sort.direction {
        SortDirection::Asc => "ASC",
        SortDirection::Desc => "DESC",
    };
    let order = format!(
        "{} {direction} NULLS LAST, c.id {direction}",
        sort_expression(config.sort.by)
    );
    let limit = match config.limit {
        Some(limit) => format!("LIMIT {}", query.arg(limit)),
        None => String::new(),
    };
    let conversations = format!(
        "SELECT c.* FROM export_system.conversations c {where_clause} ORDER BY {order} {limit}"
    );
    (conversations, order)
}

/// The export query: matching conversations in sort order (ties broken by id),
/// each followed by its turns in turn order.
pub fn export_query(config: &ExportConfig) -> ConversationQuery {
    let mut query = ConversationQuery {
        sql: String::new(),
        args: Vec::new(),
    };
    let (conversations, order) = selection(config, &mut query);
    query.sql = format!(
        "SELECT {COLUMNS} FROM ({conversations}) c \
         LEFT JOIN export_system.conversation_turns t ON t.conversation_id = c.id \
         ORDER BY {order}, t.turn_number"
    );
    query
}

/// How many conversations the export holds, counted as the caller (under RLS).
pub fn count_conversations(config: &ExportConfig) -> i64 {
    let mut query = ConversationQuery {
        sql: String::new(),
        args: Vec::new(),
    };
    let (conversations, _) = selection(config, &mut query);
    let sql = format!("SELECT count(*) FROM ({conversations}) c");
    Spi::connect(|client| {
        client
            .select(sql.as_str(), Some(1), &query.args)
            .and_then(|table| table.first().get_one::<i64>())
            .unwrap_or_else(|e| panic!("counting the export's conversations failed: {e}"))
            .unwrap_or(0)
    })
}

fn iso8601(timestamp: TimestampWithTimeZone) -> String {
    // Postgres counts microseconds from 2000-01-01 UTC.
    const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
    let micros: i64 = pg_sys::TimestampTz::from(timestamp);
    DateTime::from_timestamp_micros(micros + POSTGRES_EPOCH_MICROS)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| {
            if micros > 0 {
                "infinity".into()
            } else {
                "-infinity".into()
            }
        })
}

/// One fetched row, deformed once with heap_deform_tuple: reading the columns
/// one by one would walk the tuple from its start for each of them.
struct Row<'a> {
    values: &'a [pg_sys::Datum],
    nulls: &'a [bool],
    types: &'a [pg_sys::Oid],
}

/// Column `ordinal` (1-based). Converted in the current (SPI) memory context,
/// so detoasted copies are freed with the batch, not kept to the end of the
/// transaction.
fn column<T: FromDatum>(row: &Row, ordinal: usize) -> Option<T> {
    let index = ordinal - 1;
    // SAFETY: value, null flag and type come from the same deformed tuple.
    unsafe { T::from_polymorphic_datum(row.values[index], row.nulls[index], row.types[index]) }
}

fn json_column(row: &Row, ordinal: usize) -> Option<Value> {
    column::<pgrx::JsonB>(row, ordinal).map(|json| json.0)
}

fn row_to_conversation(row: &Row, id: String) -> Conversation {
    Conversation {
        id,
        conversation_id: column(row, 2).unwrap_or_default(),
        title: column(row, 3),
        status: column(row, 4).unwrap_or_default(),
        tier: column(row, 5).unwrap_or_default(),
        category: column::<Vec<Option<String>>>(row, 6)
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect(),
        quality_score: column(row, 7),
        quality_metrics: json_column(row, 8),
        persona: column(row, 9),
        emotion: column(row, 10),
        topic: column(row, 11),
        total_turns: column(row, 12).unwrap_or_default(),
        token_count: column(row, 13).unwrap_or_default(),
        parent_id: column(row, 14),
        parent_type: column(row, 15),
        review_history: json_column(row, 16).unwrap_or(Value::Array(Vec::new())),
        created_at: column(row, 17).map(iso8601).unwrap_or_default(),
        updated_at: column(row, 18).map(iso8601).unwrap_or_default(),
        turns: Vec::new(),
    }
}

/// The turn on this row, or None for a conversation without turns (LEFT JOIN).
fn row_to_turn(row: &Row) -> Option<Turn> {
    let turn_number: i32 = column(row, FIRST_TURN_COLUMN)?;
    Some(Turn {
        turn_number,
        role: column(row, FIRST_TURN_COLUMN + 1).unwrap_or_default(),
        content: column(row, FIRST_TURN_COLUMN + 2).unwrap_or_default(),
        token_count: column(row, FIRST_TURN_COLUMN + 3),
    })
}

fn turn_bytes(turn: &Turn) -> usize {
    turn.content.len() + turn.role.len() + 64
}

/// A cursor over the export query, read batch by batch across calls.
pub struct ConversationSource {
    cursor_name: Option<String>,
    /// The conversation whose turns may continue in the next batch.
    pending: Option<Conversation>,
    fetch_rows: i64,
}

impl ConversationSource {
    /// Open the cursor as the current user. Errors in the query (including
    /// permission errors) are raised here, before any row is returned.
    pub fn open(config: &ExportConfig) -> ConversationSource {
        let query = export_query(config);
        let cursor_name = Spi::connect(|client| {
            client
                .try_open_cursor(query.sql.as_str(), &query.args)
                .unwrap_or_else(|e| panic!("opening the export cursor failed: {e}"))
                .detach_into_name()
        });
        ConversationSource {
            cursor_name: Some(cursor_name),
            pending: None,
            fetch_rows: FIRST_FETCH_ROWS,
        }
    }

    /// Open the cursor WITH HOLD under `name`, so it outlives this transaction:
    /// at commit Postgres runs the query to the end into a spill-to-disk store,
    /// as the current user, and later transactions read it from there. One
    /// snapshot for the whole export, however many transactions read it.
    pub fn open_holdable(config: &ExportConfig, name: &str) -> ConversationSource {
        let query = export_query(config);
        let cursor_name = CString::new(name).expect("cursor names have no NUL");
        let sql = CString::new(query.sql).expect("the export query has no NUL");
        let mut types: Vec<pg_sys::Oid> = query.args.iter().map(|arg| arg.oid()).collect();
        let mut values: Vec<pg_sys::Datum> = query
            .args
            .iter()
            .map(|arg| {
                arg.datum()
                    .map_or(pg_sys::Datum::from(0), |d| d.sans_lifetime())
            })
            .collect();
        let nulls: Vec<c_char> = query
            .args
            .iter()
            .map(|arg| if arg.datum().is_none() { b'n' } else { b' ' } as c_char)
            .collect();
        Spi::connect(|_client| {
            // SAFETY: inside an SPI connection; the arrays outlive the call,
            // which copies the parameters into the portal.
            let portal = unsafe {
                pg_sys::SPI_cursor_open_with_args(
                    cursor_name.as_ptr(),
                    sql.as_ptr(),
                    types.len() as i32,
                    types.as_mut_ptr(),
                    values.as_mut_ptr(),
                    nulls.as_ptr(),
                    false,
                    (pg_sys::CURSOR_OPT_HOLD | pg_sys::CURSOR_OPT_NO_SCROLL) as i32,
                )
            };
            assert!(!portal.is_null(), "opening the export cursor {name} failed");
        });
        ConversationSource {
            cursor_name: Some(name.to_string()),
            pending: None,
            fetch_rows: FIRST_FETCH_ROWS,
        }
    }

    pub fn is_exhausted(&self) -> bool {
        self.cursor_name.is_none() && self.pending.is_none()
    }

    /// Fetch one batch; complete conversations are appended to `out`.
    pub fn next_batch(&mut self, out: &mut Vec<Conversation>) {
        let Some(name) = self.cursor_name.take() else {
            out.extend(self.pending.take());
            return;
        };
        let fetch_rows = self.fetch_rows;
        let mut pending = self.pending.take();
        let (fetched, bytes, name) = Spi::connect(|client| {
            let mut cursor = client
                .find_cursor(&name)
                .unwrap_or_else(|e| panic!("export cursor {name} is gone: {e}"));
            let fetched = cursor
                .fetch(fetch_rows)
                .unwrap_or_else(|e| panic!("fetching export rows failed: {e}"))
                .len();
            let mut bytes: usize = 0;
            // SAFETY: the tuple table the fetch just filled, read before the SPI
            // connection that owns it ends.
            unsafe {
                let table = pg_sys::SPI_tuptable;
                if fetched > 0 {
                    let tupdesc = (*table).tupdesc;
                    let columns = (*tupdesc).natts;
                    let types: Vec<pg_sys::Oid> = (1..=columns)
                        .map(|number| pg_sys::SPI_gettypeid(tupdesc, number))
                        .collect();
                    let mut values = vec![pg_sys::Datum::from(0); columns as usize];
                    let mut nulls = vec![false; columns as usize];
                    for &tuple in std::slice::from_raw_parts((*table).vals, fetched) {
                        pgrx::check_for_interrupts!();
                        pg_sys::heap_deform_tuple(
                            tuple,
                            tupdesc,
                            values.as_mut_ptr(),
                            nulls.as_mut_ptr(),
                        );
                        let row = Row {
                            values: &values,
                            nulls: &nulls,
                            types: &types,
                        };
                        let id: String = column(&row, 1).unwrap_or_default();
                        if pending.as_ref().is_none_or(|c| c.id != id) {
                            out.extend(pending.take());
                            pending = Some(row_to_conversation(&row, id));
                        }
                        if let (Some(conversation), Some(turn)) =
                            (pending.as_mut(), row_to_turn(&row))
                        {
                            bytes += turn_bytes(&turn);
                            conversation.turns.push(turn);
                        }
                    }
                }
            }
            let fetched = fetched as i64;
            let name = (fetched == fetch_rows).then(|| cursor.detach_into_name());
            (fetched, bytes, name)
        });
        self.cursor_name = name;
        if self.cursor_name.is_none() {
            out.extend(pending.take());
        }
        self.pending = pending;
        if fetched > 0 {
            let average = (bytes / fetched as usize).max(1);
            self.fetch_rows =
                ((TARGET_BATCH_BYTES / average) as i64).clamp(MIN_FETCH_ROWS, MAX_FETCH_ROWS);
        }
    }

    /// Close the cursor early (the caller stopped reading). Safe to call when
    /// the cursor is already gone, e.g. dropped by the end of its transaction.
    pub fn close(&mut self) {
        self.pending = None;
        if let Some(name) = self.cursor_name.take() {
            Spi::connect(|client| {
                // Dropping the found cursor closes it.
                let _ = client.find_cursor(&name);
            });
        }
    }
}
