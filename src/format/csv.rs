//! CSV (RFC 4180): a header, then one record per turn with the conversation's
//! columns repeated. Quoting is the `csv` crate's; we never escape by hand.

use csv::{QuoteStyle, Terminator, WriterBuilder};

use super::{ExportFormat, Rows, Skip, exported_content};
use crate::config::{ExportConfig, Include, LineEnding};
use crate::source::{Conversation, Turn};

/// Characters that make a spreadsheet treat a cell as a formula.
const FORMULA_TRIGGERS: &[char] = &['=', '+', '-', '@', '\t', '\r'];

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
    }
    columns
}

pub struct Csv {
    columns: Vec<Column>,
    include: Include,
    bom: bool,
    line_ending: LineEnding,
    formula_guard: bool,
}

impl Csv {
    pub fn new(config: &ExportConfig) -> Self {
        Csv {
            columns: columns(&config.include),
            include: config.include.clone(),
            bom: config.bom,
            line_ending: config.line_ending,
            formula_guard: config.formula_guard,
        }
    }

    /// One record as a row: quoted by the csv crate, with the record
    /// terminator's final "\n" left for the file's row separator.
    fn record<'a>(&self, cells: impl IntoIterator<Item = std::borrow::Cow<'a, str>>) -> String {
        let terminator = match self.line_ending {
            LineEnding::Lf => Terminator::Any(b'\n'),
            LineEnding::Crlf => Terminator::CRLF,
        };
        let mut writer = WriterBuilder::new()
            .terminator(terminator)
            .quote_style(QuoteStyle::Necessary)
            .from_writer(Vec::new());
        let guarded = cells.into_iter().map(|cell| self.guard(cell));
        writer
            .write_record(guarded.map(|c| c.into_owned()))
            .expect("writing to memory cannot fail");
        let mut bytes = writer.into_inner().expect("flushing to memory cannot fail");
        bytes.pop();
        String::from_utf8(bytes).expect("CSV of UTF-8 cells is UTF-8")
    }

    /// OWASP's CSV-injection defence: a leading apostrophe makes the cell text.
    fn guard<'a>(&self, cell: std::borrow::Cow<'a, str>) -> std::borrow::Cow<'a, str> {
        if self.formula_guard && cell.starts_with(FORMULA_TRIGGERS) {
            std::borrow::Cow::Owned(format!("'{cell}"))
        } else {
            cell
        }
    }

    fn cell<'a>(
        &self,
        column: Column,
        conversation: &'a Conversation,
        turn: &'a Turn,
    ) -> std::borrow::Cow<'a, str> {
        use std::borrow::Cow;
        let text = |value: &'a Option<String>| Cow::Borrowed(value.as_deref().unwrap_or(""));
        match column {
            Column::ConversationId => Cow::Borrowed(&conversation.conversation_id),
            Column::Title => text(&conversation.title),
            Column::Status => Cow::Borrowed(&conversation.status),
            Column::Tier => Cow::Borrowed(&conversation.tier),
            Column::TurnNumber => Cow::Owned(turn.turn_number.to_string()),
            Column::Role => Cow::Borrowed(&turn.role),
            Column::Content => exported_content(&turn.content, self.include.full_content),
            Column::QualityScore => Cow::Owned(
                conversation
                    .quality_score
                    .map(|q| q.to_string())
                    .unwrap_or_default(),
            ),
            Column::Persona => text(&conversation.persona),
            Column::Emotion => text(&conversation.emotion),
            Column::Topic => text(&conversation.topic),
            Column::Category => Cow::Owned(conversation.category.join("; ")),
            Column::CreatedAt => Cow::Borrowed(&conversation.created_at),
            Column::UpdatedAt => Cow::Borrowed(&conversation.updated_at),
            Column::ReviewHistory => Cow::Owned(conversation.review_history.to_string()),
            Column::ParentId => text(&conversation.parent_id),
            Column::ParentType => text(&conversation.parent_type),
        }
    }
}

impl ExportFormat for Csv {
    fn begin(&mut self, rows: &mut Rows) {
        let header = self.record(
            self.columns
                .iter()
                .map(|c| std::borrow::Cow::Borrowed(c.name())),
        );
        rows.push_back(if self.bom {
            format!("\u{FEFF}{header}")
        } else {
            header
        });
    }

    fn conversation(&mut self, conversation: &Conversation, rows: &mut Rows) -> Result<(), Skip> {
        for turn in &conversation.turns {
            let record = self.record(
                self.columns
                    .iter()
                    .map(|&column| self.cell(column, conversation, turn)),
            );
            rows.push_back(record);
        }
        Ok(())
    }
}
