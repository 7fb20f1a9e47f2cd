//! `export_conversations(config)`: one export, streamed row by row.
//!
//! The first call validates the config, reads the caller's identity and opens
//! the source cursor; each later call returns one row, fetching the next batch
//! only when the rows already made are used up. The audit row is written when
//! the last row has been returned, or, if the caller stops reading early,
//! by an ExprContext shutdown callback that records what was delivered.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use pgrx::prelude::*;

use crate::audit::rate_limit;
use crate::audit::record;
use crate::config::ExportConfig;
use crate::error::UserError;
use crate::export::conversation_query;
use crate::export::conversation_reader::ConversationReader;
use crate::export::pipeline::ExportPipeline;
use crate::export::preferences;
use crate::export::saved_run::{RunKind, SavedRun};
use crate::model::{AuditRecord, ExportDescription, ExportStatus};
use crate::pg::identity::Identity;
use crate::pg::jsonb_arg::ConfigJson;
use crate::pg::srf::{self, EarlyStop, ShutdownHook};
use crate::settings;
use crate::source::{Source, registration};
use crate::store;

/// Where a streamed export's rows come from.
pub trait RowProducer {
    /// The next row of the file and how many items (conversations, records)
    /// it carries; None once the file is complete.
    fn next_row(&mut self) -> Option<(String, i64)>;
    /// The caller stopped reading: release what is open.
    fn close(&mut self);
    /// Items made so far, and items skipped, for the audit row.
    fn counts(&self) -> (i64, i64);
    /// Values redacted per kind of personal data, for the audit row.
    fn redactions(&self) -> Option<serde_json::Value> {
        None
    }
    /// Called once the last row has been returned.
    fn finished(&self, _export_id: &str) {}
    /// Called once the completed export's audit row is written, in its
    /// transaction.
    fn recorded(&self, _export_id: &str) {}
}

struct ExportRun {
    description: ExportDescription,
    identity: Identity,
    export_id: String,
    producer: Box<dyn RowProducer>,
    done: bool,
    started: Instant,
    rows_delivered: i64,
    items_delivered: i64,
    bytes_delivered: i64,
    shutdown_hook: Option<ShutdownHook>,
}

impl ExportRun {
    /// Record the export: the audit row in the caller's transaction, and the
    /// server-log line that no rollback can take back.
    fn audit(&self, status: ExportStatus, error_message: Option<String>) {
        let (_, skipped) = self.producer.counts();
        let record = AuditRecord {
            export_id: self.export_id.clone(),
            kind: self.description.kind,
            format: self.description.format,
            config: &self.description.config,
            status,
            conversation_count: self.items_delivered,
            skipped_count: skipped,
            file_size: self.bytes_delivered,
            duration_ms: self.started.elapsed().as_millis() as i64,
            error_message,
            redactions: self.producer.redactions(),
        };
        record::log_end(&self.identity, &record);
        store::logs::insert_streamed(&self.identity, &record);
    }

    /// The last row has been returned: record the export and stand down the hook.
    fn complete(&mut self) {
        self.done = true;
        self.producer.finished(&self.export_id);
        self.audit(ExportStatus::Completed, None);
        self.producer.recorded(&self.export_id);
        if let Some(hook) = self.shutdown_hook.take() {
            hook.cancel();
        }
    }
}

impl EarlyStop for ExportRun {
    /// The caller stopped reading (LIMIT, a closed cursor): close the source
    /// and record what was actually delivered.
    fn stop_early(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        self.shutdown_hook = None;
        self.producer.close();
        let message = format!(
            "the caller stopped reading after {} row(s)",
            self.rows_delivered
        );
        self.audit(ExportStatus::Cancelled, Some(message));
    }
}

/// Conversations from the source portal through the chosen format.
struct ConversationRows {
    pipeline: ExportPipeline,
    /// Made from a saved export: what its next run continues from.
    saved_run: Option<SavedRun>,
}

impl RowProducer for ConversationRows {
    fn next_row(&mut self) -> Option<(String, i64)> {
        self.pipeline.next_row()
    }

    fn close(&mut self) {
        self.pipeline.close();
    }

    fn counts(&self) -> (i64, i64) {
        self.pipeline.exporter().counts()
    }

    fn redactions(&self) -> Option<serde_json::Value> {
        self.pipeline.exporter().redactions()
    }

    fn finished(&self, export_id: &str) {
        self.pipeline.exporter().notice_skipped(export_id);
    }

    fn recorded(&self, export_id: &str) {
        if let Some(saved_run) = &self.saved_run {
            saved_run.complete(export_id, self.pipeline.exporter());
        }
    }
}

/// Iterator handed to pgrx; shares the run with the shutdown callback.
struct ExportStream(Rc<RefCell<ExportRun>>);

impl Iterator for ExportStream {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut run = self.0.borrow_mut();
        if run.done {
            return None;
        }
        match run.producer.next_row() {
            Some((row, items)) => {
                run.rows_delivered += 1;
                run.items_delivered += items;
                run.bytes_delivered += row.len() as i64 + 1;
                Some(row)
            }
            None => {
                run.complete();
                None
            }
        }
    }
}

/// An API caller's synchronous export must fit PostgREST's limits (8 s, 1,000
/// rows); larger ones belong in the background queue.
fn refuse_above_async_threshold(config: &ExportConfig, source: &Source) {
    let Some(threshold) = settings::async_threshold() else {
        return;
    };
    let count = conversation_query::count_conversations(config, source);
    if count > threshold {
        UserError {
            code: PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            message: format!(
                "this export has {count} conversations, more than export_system.async_threshold ({threshold}) allows in one call"
            ),
            hint: "Queue it with export_system.queue_export(config) and download it when it is completed, or narrow it with filters or \"limit\".".into(),
        }
        .raise();
    }
}

/// Stream `producer`'s rows as this set-returning call's result, audited as
/// `description` when the last row is returned or the caller stops early.
pub fn stream(
    fcinfo: pg_sys::FunctionCallInfo,
    identity: Identity,
    description: ExportDescription,
    producer: Box<dyn RowProducer>,
    started: Instant,
) -> SetOfIterator<'static, String> {
    let run = Rc::new(RefCell::new(ExportRun {
        description,
        identity,
        export_id: uuid::Uuid::new_v4().to_string(),
        producer,
        done: false,
        started,
        rows_delivered: 0,
        items_delivered: 0,
        bytes_delivered: 0,
        shutdown_hook: None,
    }));
    {
        let run = run.borrow();
        record::log_start(&run.identity, &run.export_id, &run.description);
    }
    let hook = srf::on_early_shutdown(fcinfo, run.clone());
    run.borrow_mut().shutdown_hook = Some(hook);
    SetOfIterator::new(ExportStream(run))
}

/// Export conversations as one file's rows; each row is one line of the file.
pub fn stream_conversations(
    config: default!(Option<ConfigJson>, "'{}'"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> SetOfIterator<'static, String> {
    let started = Instant::now();
    record::refuse_on_a_standby();
    let mut config = preferences::effective_config(config);
    let identity = Identity::current();
    // Resolved once for the whole export: the count, the query, the audit.
    let registered = Source::load();
    let (saved_run, continuation) = SavedRun::begin(&mut config, RunKind::Streamed).unzip();
    if identity.user_id.is_some() {
        rate_limit::check(&identity);
        refuse_above_async_threshold(&config, &registered);
    }
    let source = ConversationReader::open(&config, &registered);
    let mut audited_config = config.to_json();
    registration::note_in_audit(registered.rls_opted_out, &mut audited_config);
    let description = ExportDescription {
        kind: "conversations",
        format: config.format.as_str(),
        config: audited_config,
    };
    let producer = ConversationRows {
        pipeline: ExportPipeline::new(source, config, continuation.unwrap_or_default()),
        saved_run,
    };
    stream(fcinfo, identity, description, Box::new(producer), started)
}
