//! Reading the export query as the caller: opened once as a pinned portal
//! and fetched in batches bounded in bytes, so Row Level Security decides
//! what is seen and memory holds one batch at a time however large the
//! export or its values. Each row's columns are decoded by name after their
//! types were checked once, when the portal opened.

use chrono::{DateTime, SecondsFormat};
use pgrx::prelude::*;

use crate::config::ExportConfig;
use crate::export::conversation_query::export_query;
use crate::model::{Conversation, StoredJson, Turn};
use crate::pg::portal::{FetchBudget, PinnedPortal, Row};
use crate::source::{Source, Turns};

/// One fetch holds about this many bytes of rows, however large its values:
/// the receiver stops the fetch once they add up to it.
const BATCH_BYTES: usize = 4 << 20;
const BATCH_ROWS: i64 = 5000;

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
    /// The conversation's place in export order, from 1.
    export_position: usize,
    /// 0: a conversation's own row; 1: one of its turns.
    part: usize,
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
            export_position: int8("export_position"),
            part: portal.column_index("part", pg_sys::INT4OID),
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

    fn conversation(&self, row: &Row) -> Conversation {
        let id = row.text(self.id).unwrap_or_default();
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
            changed_at: row
                .timestamptz(self.updated_at)
                .map(pg_sys::TimestampTz::from),
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

/// Where the rows read so far have got to in file order: the export query
/// has no final ORDER BY (see `export_query`), so each row is checked
/// against the last before it is used.
#[derive(Default)]
struct FileOrder {
    /// The last conversation's `export_position` (0 before the first).
    position: i64,
    /// The last turn number read in that conversation.
    turn_number: Option<i64>,
}

impl FileOrder {
    fn conversation(&mut self, position: Option<i64>) {
        self.check(position == Some(self.position + 1));
        self.position += 1;
        self.turn_number = None;
    }

    fn turn(&mut self, turn_number: Option<i64>) {
        let Some(turn_number) = turn_number else {
            return;
        };
        self.check(self.position > 0 && self.turn_number.is_none_or(|last| last <= turn_number));
        self.turn_number = Some(turn_number);
    }

    fn check(&self, in_order: bool) {
        if !in_order {
            pgrx::error!(
                "export_system: the export query returned rows out of file order after conversation {}",
                self.position
            );
        }
    }
}

/// The export query's portal, read batch by batch across calls.
pub struct ConversationReader {
    portal: PinnedPortal,
    layout: Layout,
    /// The conversation whose turns may continue in the next batch.
    pending: Option<Conversation>,
    order: FileOrder,
    budget: FetchBudget,
}

impl ConversationReader {
    /// Open the portal as the current user. Errors in the query (including
    /// permission errors) are raised here, before any row is returned.
    pub fn open(config: &ExportConfig, source: &Source) -> ConversationReader {
        Self::open_portal(config, source, false)
    }

    /// Open the portal WITH HOLD, so it outlives this transaction: at commit
    /// Postgres runs the query to the end into a spill-to-disk store, as the
    /// current user, and later transactions read it from there. One snapshot
    /// for the whole export, however many transactions read it.
    pub fn open_holdable(config: &ExportConfig, source: &Source) -> ConversationReader {
        Self::open_portal(config, source, true)
    }

    fn open_portal(config: &ExportConfig, source: &Source, holdable: bool) -> ConversationReader {
        let (sql, args) = export_query(config, source, holdable);
        let portal = PinnedPortal::open(&sql, &args.values, holdable);
        let mut layout = Layout::of(&portal);
        layout.total_turns_counted = source.column("total_turns").is_none();
        layout.token_counts_from_json = matches!(source.turns, Turns::Embedded { .. });
        ConversationReader {
            portal,
            layout,
            pending: None,
            order: FileOrder::default(),
            budget: FetchBudget {
                max_rows: BATCH_ROWS,
                max_bytes: BATCH_BYTES,
            },
        }
    }

    /// A smaller byte budget per fetch, for callers that read only the head.
    pub fn with_batch_bytes(mut self, max_bytes: usize) -> ConversationReader {
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
        let order = &mut self.order;
        self.portal.fetch(self.budget, &mut |row| {
            // A conversation's own row (part 0) comes first, then its turns'.
            if row.int4(layout.part) == Some(0) {
                order.conversation(row.int8(layout.export_position));
                out.extend(pending.take().map(|c| layout.complete(c)));
                let conversation = layout.conversation(row);
                let bytes = row_bytes(Some(&conversation), None);
                *pending = Some(conversation);
                return bytes;
            }
            let turn = layout.turn(row);
            order.turn(turn.as_ref().map(|t| t.turn_number));
            let bytes = row_bytes(None, turn.as_ref());
            if let Some(conversation) = pending.as_mut() {
                conversation.turns.extend(turn);
            }
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
