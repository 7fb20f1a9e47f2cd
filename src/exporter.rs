//! Turning batches of conversations into a file's rows, with the counts the
//! audit row records. Shared by the streaming function and background jobs, so
//! both produce the same bytes for the same data.

use pgrx::PgSqlErrorCode;

use crate::config::ExportConfig;
use crate::error::UserError;
use crate::format::{self, ExportFormat, Rows};
use crate::source::Conversation;

/// Skipped conversations named in the NOTICE; the rest are counted.
const SKIPPED_NAMED: usize = 20;

pub struct Exporter {
    pub config: ExportConfig,
    format: Box<dyn ExportFormat>,
    /// Rows made but not yet handed out: an opening row (CSV header, JSON
    /// envelope), one row per conversation, a closing row (JSON).
    pub rows: Rows,
    pub conversations_written: i64,
    pub skipped_count: i64,
    skipped: Vec<(String, &'static str)>,
}

impl Exporter {
    /// `export_date` (ISO 8601) is stamped into JSON documents.
    pub fn new(config: ExportConfig, export_date: String) -> Exporter {
        let mut format = format::for_config(&config, export_date);
        let mut rows = Rows::new();
        format.begin(&mut rows);
        join_rows_from(&mut rows, 0);
        Exporter {
            config,
            format,
            rows,
            conversations_written: 0,
            skipped_count: 0,
            skipped: Vec::new(),
        }
    }

    /// Format a batch; in strict mode an invalid conversation raises SQLSTATE 22000.
    pub fn add(&mut self, batch: &[Conversation]) {
        for conversation in batch {
            pgrx::check_for_interrupts!();
            let first_new_row = self.rows.len();
            let written = self.format.conversation(conversation, &mut self.rows);
            join_rows_from(&mut self.rows, first_new_row);
            match written {
                Ok(()) => self.conversations_written += 1,
                Err(skip) => {
                    if self.config.strict {
                        UserError {
                            code: PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
                            message: format!(
                                "conversation {} is not a valid {} example: {}",
                                conversation.conversation_id,
                                self.config.target.as_str(),
                                skip.0
                            ),
                            hint: "Fix or exclude the conversation, or drop \"strict\" to skip such conversations with a NOTICE.".into(),
                        }
                        .raise();
                    }
                    self.skipped_count += 1;
                    if self.skipped.len() < SKIPPED_NAMED {
                        self.skipped
                            .push((conversation.conversation_id.clone(), skip.0));
                    }
                }
            }
        }
    }

    /// The rows that close the file.
    pub fn finish(&mut self) {
        // A held conversation is released first, as a row of its own.
        let first_closing_row = self.rows.len() + usize::from(self.format.holds_a_row());
        self.format.finish(&mut self.rows);
        join_rows_from(&mut self.rows, first_closing_row);
    }

    /// See `ExportFormat::holds_a_row`.
    pub fn holds_a_row(&self) -> bool {
        self.format.holds_a_row()
    }

    /// One NOTICE naming the skipped conversations, if any.
    pub fn notice_skipped(&self, export_id: &str) {
        if self.skipped_count == 0 {
            return;
        }
        let mut named: Vec<String> = self
            .skipped
            .iter()
            .map(|(id, why)| format!("{id} ({why})"))
            .collect();
        if self.skipped_count as usize > named.len() {
            named.push(format!(
                "and {} more",
                self.skipped_count as usize - named.len()
            ));
        }
        pgrx::notice!(
            "export {} skipped {} conversation(s) that are not valid {} examples: {}",
            export_id,
            self.skipped_count,
            self.config.target.as_str(),
            named.join(", ")
        );
    }
}

/// Join the rows from `first` on into one, lines separated by "\n": the file
/// is unchanged, but a conversation is one row however many lines it spans.
/// Every row costs the same fixed work between here and the client's file
/// (a set-returning call, a protocol message), and PostgREST's 1,000-row cap
/// then counts conversations, not lines.
fn join_rows_from(rows: &mut Rows, first: usize) {
    if rows.len() <= first + 1 {
        return;
    }
    let lines: Vec<String> = rows.drain(first..).collect();
    rows.push_back(lines.join("\n"));
}

/// ISO 8601 UTC, milliseconds: the export date stamped into JSON documents.
pub fn export_date_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
