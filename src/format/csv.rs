//! CSV (RFC 4180): a header, then one record per turn with the conversation's
//! columns repeated. Quoting is the `csv` crate's; we never escape by hand.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::io;
use std::rc::Rc;

use csv::{QuoteStyle, Terminator, Writer, WriterBuilder};

use super::{ExportFormat, Rows, Skip, exported_content};
use crate::config::{ExportConfig, Include, LineEnding};
use crate::source::Conversation;

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
    full_content: bool,
    bom: bool,
    formula_guard: bool,
    /// One writer for the whole export, over an in-memory buffer that each
    /// finished record is taken from as a row.
    writer: Writer<RecordBuffer>,
    buffer: Rc<RefCell<Vec<u8>>>,
    /// Where a turn number is formatted, reused from turn to turn.
    number: String,
}

impl Csv {
    pub fn new(config: &ExportConfig) -> Self {
        let terminator = match config.line_ending {
            LineEnding::Lf => Terminator::Any(b'\n'),
            LineEnding::Crlf => Terminator::CRLF,
        };
        let buffer = Rc::new(RefCell::new(Vec::new()));
        Csv {
            columns: columns(&config.include),
            full_content: config.include.full_content,
            bom: config.bom,
            formula_guard: config.formula_guard,
            writer: WriterBuilder::new()
                .terminator(terminator)
                .quote_style(QuoteStyle::Necessary)
                .from_writer(RecordBuffer(Rc::clone(&buffer))),
            buffer,
            number: String::new(),
        }
    }

    /// Ends the record written field by field and takes it as a row: quoted
    /// by the csv crate, with the record terminator's final "\n" left for the
    /// file's row separator.
    fn take_record(&mut self) -> String {
        self.writer
            .write_record(None::<&[u8]>)
            .expect("writing to memory cannot fail");
        self.writer.flush().expect("flushing to memory cannot fail");
        let mut bytes = std::mem::take(&mut *self.buffer.borrow_mut());
        bytes.pop();
        String::from_utf8(bytes).expect("CSV of UTF-8 cells is UTF-8")
    }
}

/// The csv writer's output: records are taken out of it one by one.
struct RecordBuffer(Rc<RefCell<Vec<u8>>>);

impl io::Write for RecordBuffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// OWASP's CSV-injection defence: a leading apostrophe makes the cell text.
fn guard(formula_guard: bool, cell: Cow<'_, str>) -> Cow<'_, str> {
    if formula_guard && cell.starts_with(FORMULA_TRIGGERS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        cell
    }
}

/// A conversation's cell in `column`, or None for the turn's own columns.
fn conversation_cell(column: Column, conversation: &Conversation) -> Option<Cow<'_, str>> {
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
    })
}

impl ExportFormat for Csv {
    fn begin(&mut self, rows: &mut Rows) {
        for column in &self.columns {
            let name = guard(self.formula_guard, Cow::Borrowed(column.name()));
            self.writer
                .write_field(name.as_bytes())
                .expect("writing to memory cannot fail");
        }
        let header = self.take_record();
        rows.push_back(if self.bom {
            format!("\u{FEFF}{header}")
        } else {
            header
        });
    }

    fn conversation(&mut self, conversation: &Conversation, rows: &mut Rows) -> Result<(), Skip> {
        // The conversation's cells are the same in each of its records: made
        // (and guarded) once, not once per turn.
        let shared: Vec<Option<Cow<str>>> = self
            .columns
            .iter()
            .map(|&column| {
                conversation_cell(column, conversation).map(|cell| guard(self.formula_guard, cell))
            })
            .collect();
        for turn in &conversation.turns {
            for (&column, cell) in self.columns.iter().zip(&shared) {
                let written = match (column, cell) {
                    (_, Some(cell)) => self.writer.write_field(cell.as_bytes()),
                    (Column::TurnNumber, None) => {
                        self.number.clear();
                        write!(self.number, "{}", turn.turn_number)
                            .expect("formatting to a String cannot fail");
                        let number = guard(self.formula_guard, Cow::Borrowed(self.number.as_str()));
                        self.writer.write_field(number.as_bytes())
                    }
                    (Column::Role, None) => {
                        let role = guard(self.formula_guard, Cow::Borrowed(turn.role.as_str()));
                        self.writer.write_field(role.as_bytes())
                    }
                    (_, None) => {
                        let content = guard(
                            self.formula_guard,
                            exported_content(&turn.content, self.full_content),
                        );
                        self.writer.write_field(content.as_bytes())
                    }
                };
                written.expect("writing to memory cannot fail");
            }
            let record = self.take_record();
            rows.push_back(record);
        }
        Ok(())
    }
}
