//! Turning batches of conversations into a file's rows, with the counts the
//! audit row records. Shared by the streaming function and background jobs, so
//! both produce the same bytes for the same data.

use std::collections::VecDeque;

use pgrx::PgSqlErrorCode;

use crate::config::ExportConfig;
use crate::error::UserError;
use crate::export::continuation::Continuation;
use crate::export::conversation_reader::ConversationReader;
use crate::export::example_selection::ExampleSelection;
use crate::formats::{self, ExportFormat, Rows};
use crate::model::Conversation;
use crate::training::example_checks::{ExampleChecks, Verdict};

/// Skipped conversations named in the NOTICE; the rest are counted.
const SKIPPED_NAMED: usize = 20;

pub struct Exporter {
    config: ExportConfig,
    format: Box<dyn ExportFormat>,
    /// Rows made but not yet handed out: an opening row (CSV header, JSON
    /// envelope), one row per conversation, a closing row (JSON).
    rows: Rows,
    /// How many conversations each row of `rows` carries (0 or 1).
    row_conversations: VecDeque<i64>,
    conversations_written: i64,
    skipped_count: i64,
    /// The first skipped conversations and why.
    skipped: Vec<(String, String)>,
    /// Token counts and duplicates, when the config asks for them.
    checks: Option<ExampleChecks>,
    /// Redaction and the split's part, before anything else reads a
    /// conversation.
    selection: ExampleSelection,
}

impl Exporter {
    /// `export_date` (ISO 8601) is stamped into JSON documents;
    /// `continuation` is what a saved export's earlier runs left.
    fn new(config: ExportConfig, export_date: String, continuation: Continuation) -> Exporter {
        let mut format = formats::for_config(&config, export_date);
        let mut rows = Rows::new();
        format.begin(&mut rows);
        join_rows_from(&mut rows, 0);
        let row_conversations = rows.iter().map(|_| 0).collect();
        let checks = ExampleChecks::for_config(&config, continuation.emitted);
        let selection = ExampleSelection::for_config(&config).in_window(continuation.window);
        Exporter {
            checks,
            selection,
            config,
            format,
            rows,
            row_conversations,
            conversations_written: 0,
            skipped_count: 0,
            skipped: Vec::new(),
        }
    }

    /// Format a batch, redacted first (so token counts, duplicates, the split
    /// and every format see only the redacted text), leaving out the
    /// conversations of the split's other part; in strict mode an invalid
    /// conversation, or one over `max_tokens`, raises SQLSTATE 22000.
    pub fn add(&mut self, batch: &mut [Conversation]) {
        for conversation in batch {
            pgrx::check_for_interrupts!();
            if !self.selection.take(conversation) {
                continue;
            }
            let first_new_row = self.rows.len();
            let written = self.write(conversation);
            join_rows_from(&mut self.rows, first_new_row);
            // The one row a conversation releases is its own, or (for a
            // format that holds a row) the previous conversation's.
            self.row_conversations
                .extend((first_new_row..self.rows.len()).map(|_| 1));
            match written {
                Ok(()) => self.conversations_written += 1,
                Err(why) => {
                    self.skipped_count += 1;
                    if self.skipped.len() < SKIPPED_NAMED {
                        self.skipped
                            .push((conversation.conversation_id.clone(), why));
                    }
                }
            }
        }
    }

    /// One conversation's rows, or why it is skipped.
    fn write(&mut self, conversation: &Conversation) -> Result<(), String> {
        if let Some(reason) = conversation.unreadable {
            return Err(self.invalid(conversation, formats::Skip(reason)));
        }
        let verdict = self
            .checks
            .as_mut()
            .map_or(Verdict::Keep(None), |checks| checks.examine(conversation));
        let token_count = match verdict {
            Verdict::Keep(tokens) => tokens,
            Verdict::OverLimit(tokens) => return Err(self.over_limit(conversation, tokens)),
            Verdict::Duplicate(earlier) => return Err(format!("duplicate of {earlier}")),
        };
        self.format
            .conversation(conversation, token_count, &mut self.rows)
            .map_err(|skip| self.invalid(conversation, skip))
    }

    /// Why an invalid example is skipped; in strict mode, the error.
    fn invalid(&self, conversation: &Conversation, skip: formats::Skip) -> String {
        let target = self.config.target.as_str();
        if self.config.strict {
            UserError {
                code: PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
                message: format!(
                    "conversation {} is not a valid {target} example: {}",
                    conversation.conversation_id, skip.0
                ),
                hint: "Fix or exclude the conversation, or drop \"strict\" to skip such conversations with a NOTICE.".into(),
            }
            .raise();
        }
        skip.0.to_string()
    }

    /// Why an example over `max_tokens` is skipped; in strict mode, the error.
    fn over_limit(&self, conversation: &Conversation, tokens: u64) -> String {
        let max = self.config.max_tokens.unwrap_or_default();
        let tokenizer = self.config.tokenizer.as_str();
        if self.config.strict {
            UserError {
                code: PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
                message: format!(
                    "conversation {} has {tokens} tokens ({tokenizer}), over max_tokens {max}",
                    conversation.conversation_id
                ),
                hint: "Raise max_tokens, shorten or exclude the conversation, or drop \"strict\" to skip such conversations with a NOTICE.".into(),
            }
            .raise();
        }
        format!("{tokens} tokens, over max_tokens {max}")
    }

    /// The rows that close the file.
    pub fn finish(&mut self) {
        // A held conversation is released first, as a row of its own.
        let held = usize::from(self.format.holds_a_row());
        let first_closing_row = self.rows.len() + held;
        self.format.finish(&mut self.rows);
        join_rows_from(&mut self.rows, first_closing_row);
        self.row_conversations.extend(std::iter::repeat_n(1, held));
        self.row_conversations
            .extend((first_closing_row..self.rows.len()).map(|_| 0));
    }

    /// Values redacted so far per kind of personal data asked for; None
    /// when the export redacts nothing.
    pub fn redactions(&self) -> Option<serde_json::Value> {
        self.selection.redactions()
    }

    /// An increment's conversations the next increment reads again.
    pub fn read_again(&self) -> Vec<(String, i64)> {
        self.selection
            .window()
            .map_or_else(Vec::new, |window| window.read_again().to_vec())
    }

    /// The fingerprints of the examples kept, when the export dedupes.
    pub fn kept_fingerprints(&self) -> Vec<u128> {
        self.checks
            .as_ref()
            .and_then(ExampleChecks::duplicates)
            .map_or_else(Vec::new, |duplicates| duplicates.kept_fingerprints())
    }

    /// Conversations written so far, and those skipped (invalid examples,
    /// over `max_tokens`, duplicates).
    pub fn counts(&self) -> (i64, i64) {
        (self.conversations_written, self.skipped_count)
    }

    /// The next row made, with how many conversations it carries.
    pub fn take_row(&mut self) -> Option<(String, i64)> {
        let row = self.rows.pop_front()?;
        let conversations = self.row_conversations.pop_front().unwrap_or(0);
        Some((row, conversations))
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
            "export {} skipped {} conversation(s) as {} examples: {}",
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
fn export_date_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The one export pipeline, shared by streaming, background jobs and
/// preview: the source portal's batches through the format, as rows.
pub struct ExportPipeline {
    source: ConversationReader,
    exporter: Exporter,
    finished: bool,
}

impl ExportPipeline {
    /// `source`'s conversations as the file `config` describes, dated now;
    /// `continuation` is what a saved export's earlier runs left.
    pub fn new(
        source: ConversationReader,
        config: ExportConfig,
        continuation: Continuation,
    ) -> ExportPipeline {
        ExportPipeline {
            source,
            exporter: Exporter::new(config, export_date_now(), continuation),
            finished: false,
        }
    }

    /// Read and format the next batch, and close the file once the source is
    /// done; false when the file is complete (its rows may still be queued).
    pub fn advance(&mut self) -> bool {
        if self.finished {
            return false;
        }
        let mut batch = Vec::new();
        self.source.next_batch(&mut batch);
        self.exporter.add(&mut batch);
        if self.source.is_exhausted() {
            self.exporter.finish();
            self.finished = true;
        }
        !self.finished
    }

    /// The next queued row and the conversations it carries, without reading.
    pub fn take_row(&mut self) -> Option<(String, i64)> {
        self.exporter.take_row()
    }

    /// The next row of the file, reading as needed; None at its end.
    pub fn next_row(&mut self) -> Option<(String, i64)> {
        loop {
            if let Some(row) = self.exporter.take_row() {
                return Some(row);
            }
            if !self.advance() {
                return self.exporter.take_row();
            }
        }
    }

    pub fn exporter(&self) -> &Exporter {
        &self.exporter
    }

    /// Close the source early (the caller stopped reading, or a job ended).
    pub fn close(&mut self) {
        self.source.close();
    }
}
