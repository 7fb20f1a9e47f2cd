//! CSV (RFC 4180): a header, then one record per turn with the conversation's
//! columns repeated. Quoting is the `csv` crate's; we never escape by hand.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::csv_records::CsvRecords;
use super::tool_calls::{ReadableEntry, readable};
use super::{ExportFormat, Rows, Skip, exported_content};
use crate::config::{ExportConfig, Include};
use crate::model::Conversation;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Column {
    ConversationId,
    Title,
    Status,
    Tier,
    TurnNumber,
    Role,
    Content,
    QualityScore,
    Persona,
    Emotion,
    Topic,
    Category,
    CreatedAt,
    UpdatedAt,
    ReviewHistory,
    ParentId,
    ParentType,
    TokenCount,
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::ConversationId => "conversation_id",
            Column::Title => "title",
            Column::Status => "status",
            Column::Tier => "tier",
            Column::TurnNumber => "turn_number",
            Column::Role => "role",
            Column::Content => "content",
            Column::QualityScore => "quality_score",
            Column::Persona => "persona",
            Column::Emotion => "emotion",
            Column::Topic => "topic",
            Column::Category => "category",
            Column::CreatedAt => "created_at",
            Column::UpdatedAt => "updated_at",
            Column::ReviewHistory => "review_history",
            Column::ParentId => "parent_id",
            Column::ParentType => "parent_type",
            Column::TokenCount => "token_count",
        }
    }
}

/// The seeds' columns, then the optional ones, per include flags.
fn columns(include: &Include) -> Vec<Column> {
    use Column::*;
    let mut columns = vec![
        ConversationId,
        Title,
        Status,
        Tier,
        TurnNumber,
        Role,
        Content,
    ];
    if include.metadata {
        if include.quality_scores {
            columns.push(QualityScore);
        }
        columns.extend([Persona, Emotion, Topic, Category]);
        if include.timestamps {
            columns.extend([CreatedAt, UpdatedAt]);
        }
        if include.approval_history {
            columns.push(ReviewHistory);
        }
        if include.parent_references {
            columns.extend([ParentId, ParentType]);
        }
        if include.token_count {
            columns.push(TokenCount);
        }
    }
    columns
}

pub struct Csv {
    columns: Vec<Column>,
    full_content: bool,
    bom: bool,
    records: CsvRecords,
    /// Where a turn number is formatted, reused from turn to turn.
    number: String,
}

impl Csv {
    pub fn new(config: &ExportConfig) -> Self {
        Csv {
            columns: columns(&config.include),
            full_content: config.include.full_content,
            bom: config.bom,
            records: CsvRecords::new(config.line_ending, config.formula_guard),
            number: String::new(),
        }
    }
}

/// A conversation's cell in `column`, or None for the turn's own columns;
/// `token_count` is the example's count, when counted.
fn conversation_cell(
    column: Column,
    conversation: &Conversation,
    token_count: Option<u64>,
) -> Option<Cow<'_, str>> {
    fn text(value: &Option<String>) -> Cow<'_, str> {
        Cow::Borrowed(value.as_deref().unwrap_or(""))
    }
    let c = conversation;
    Some(match column {
        Column::TurnNumber | Column::Role | Column::Content => return None,
        Column::ConversationId => Cow::Borrowed(&c.conversation_id),
        Column::Title => text(&c.title),
        Column::Status => Cow::Borrowed(&c.status),
        Column::Tier => Cow::Borrowed(&c.tier),
        Column::QualityScore => {
            Cow::Owned(c.quality_score.map(|q| q.to_string()).unwrap_or_default())
        }
        Column::Persona => text(&c.persona),
        Column::Emotion => text(&c.emotion),
        Column::Topic => text(&c.topic),
        Column::Category => Cow::Owned(c.category.join("; ")),
        Column::CreatedAt => Cow::Borrowed(&c.created_at),
        Column::UpdatedAt => Cow::Borrowed(&c.updated_at),
        Column::ReviewHistory => Cow::Owned(c.review_history.to_string()),
        Column::ParentId => text(&c.parent_id),
        Column::ParentType => text(&c.parent_type),
        Column::TokenCount => Cow::Owned(token_count.map(|n| n.to_string()).unwrap_or_default()),
    })
}

impl ExportFormat for Csv {
    fn begin(&mut self, rows: &mut Rows) {
        for column in &self.columns {
            self.records.write(column.name());
        }
        let header = self.records.take_record();
        rows.push_back(if self.bom {
            format!("\u{FEFF}{header}")
        } else {
            header
        });
    }

    fn conversation(
        &mut self,
        conversation: &Conversation,
        token_count: Option<u64>,
        rows: &mut Rows,
    ) -> Result<(), Skip> {
        // The conversation's cells are the same in each of its records: made
        // (and guarded) once, not once per turn.
        let shared: Vec<Option<Cow<str>>> = self
            .columns
            .iter()
            .map(|&column| {
                conversation_cell(column, conversation, token_count)
                    .map(|cell| self.records.guard(cell))
            })
            .collect();
        for turn in &conversation.turns {
            // A turn's tool calls follow it as records of their own:
            // role "tool_call <id>", content "<name> <arguments>"; a tool
            // result's role names the call it answers, "tool <id>".
            for entry in readable(turn) {
                let (role, content): (Cow<str>, Cow<str>) = match entry {
                    ReadableEntry::Turn {
                        role,
                        call_id: Some(id),
                        content,
                    } => (
                        Cow::Owned(format!("{role} {id}")),
                        exported_content(content, self.full_content),
                    ),
                    ReadableEntry::Turn { role, content, .. } => (
                        Cow::Borrowed(role),
                        exported_content(content, self.full_content),
                    ),
                    ReadableEntry::Call {
                        id,
                        name,
                        arguments,
                    } => (
                        Cow::Owned(format!("tool_call {id}")),
                        Cow::Owned(format!("{name} {arguments}")),
                    ),
                };
                for (&column, cell) in self.columns.iter().zip(&shared) {
                    match (column, cell) {
                        (_, Some(cell)) => self.records.write_guarded(cell),
                        (Column::TurnNumber, None) => {
                            self.number.clear();
                            write!(self.number, "{}", turn.turn_number)
                                .expect("formatting to a String cannot fail");
                            self.records.write(&self.number);
                        }
                        (Column::Role, None) => self.records.write(&role),
                        (_, None) => self.records.write(&content),
                    }
                }
                self.records.end_record();
            }
        }
        // All its records as one row: the pipeline would join them anyway.
        if !conversation.turns.is_empty() {
            rows.push_back(self.records.take_row());
        }
        Ok(())
    }
}
