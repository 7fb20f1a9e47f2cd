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
use pgrx::{JsonB, PgMemoryContexts};
use serde_json::Value;

use crate::audit::{self, AuditRecord, Identity};
use crate::config::ExportConfig;
use crate::error::{OrRaise, UserError};
use crate::format::{self, ExportFormat, Rows};
use crate::source::ConversationSource;

/// Skipped conversations named in the NOTICE; the rest are counted.
const SKIPPED_NAMED: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Reading,
    Closing,
    Done,
}

struct ExportRun {
    config: ExportConfig,
    normalized_config: Value,
    identity: Identity,
    export_id: String,
    source: ConversationSource,
    format: Box<dyn ExportFormat>,
    rows: Rows,
    phase: Phase,
    started: Instant,
    rows_delivered: i64,
    bytes_delivered: i64,
    conversations_written: i64,
    skipped: Vec<(String, &'static str)>,
    skipped_count: i64,
    shutdown_hook: Option<ShutdownHook>,
}

/// Our registration on the SRF's ExprContext, removed when the export ends normally.
struct ShutdownHook {
    econtext: *mut pg_sys::ExprContext,
    arg: pg_sys::Datum,
}

impl ExportRun {
    fn audit(&self, status: &'static str, error_message: Option<String>) {
        audit::record(
            &self.identity,
            &AuditRecord {
                export_id: self.export_id.clone(),
                format: self.config.format.as_str(),
                config: &self.normalized_config,
                status,
                conversation_count: self.conversations_written,
                skipped_count: self.skipped_count,
                file_size: self.bytes_delivered,
                duration_ms: self.started.elapsed().as_millis() as i64,
                error_message,
            },
        );
    }

    fn read_batch(&mut self) {
        let mut batch = Vec::new();
        self.source.next_batch(&mut batch);
        for conversation in &batch {
            pgrx::check_for_interrupts!();
            match self.format.conversation(conversation, &mut self.rows) {
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
        if self.source.is_exhausted() {
            self.format.finish(&mut self.rows);
            self.phase = Phase::Closing;
        }
    }

    fn notice_skipped(&self) {
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
            self.export_id,
            self.skipped_count,
            self.config.target.as_str(),
            named.join(", ")
        );
    }

    /// The last row has been returned: record the export and stand down the hook.
    fn complete(&mut self) {
        self.phase = Phase::Done;
        self.notice_skipped();
        self.audit("completed", None);
        if let Some(hook) = self.shutdown_hook.take() {
            // SAFETY: the same (econtext, function, arg) triple we registered.
            unsafe {
                pg_sys::UnregisterExprContextCallback(hook.econtext, Some(stopped_early), hook.arg)
            };
        }
    }

    /// The caller stopped reading (LIMIT, a closed cursor): close the source
    /// and record what was actually delivered.
    fn stop_early(&mut self) {
        if self.phase == Phase::Done {
            return;
        }
        self.phase = Phase::Done;
        self.shutdown_hook = None;
        self.source.close();
        let message = format!(
            "the caller stopped reading after {} row(s)",
            self.rows_delivered
        );
        self.audit("cancelled", Some(message));
    }
}

/// Iterator handed to pgrx; shares the run with the shutdown callback.
struct ExportStream(Rc<RefCell<ExportRun>>);

impl Iterator for ExportStream {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut run = self.0.borrow_mut();
        loop {
            if let Some(row) = run.rows.pop_front() {
                run.rows_delivered += 1;
                run.bytes_delivered += row.len() as i64 + 1;
                return Some(row);
            }
            match run.phase {
                Phase::Reading => run.read_batch(),
                Phase::Closing => run.complete(),
                Phase::Done => return None,
            }
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn stopped_early(arg: pg_sys::Datum) {
    // SAFETY: `arg` points at the Rc we leaked into the SRF's multi-call memory
    // context, which outlives this callback (ours was registered after pgrx's
    // own shutdown callback, so it runs first).
    let run = unsafe { &*(arg.cast_mut_ptr::<Rc<RefCell<ExportRun>>>()) };
    let Ok(mut run) = run.try_borrow_mut() else {
        return;
    };
    // Executor shutdown can run after the statement's snapshot was popped
    // (a portal dropped at the end of a query or at COMMIT); the audit insert needs one.
    // SAFETY: balanced push/pop within this transaction.
    unsafe {
        let need_snapshot = !pg_sys::ActiveSnapshotSet();
        if need_snapshot {
            pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        }
        run.stop_early();
        if need_snapshot {
            pg_sys::PopActiveSnapshot();
        }
    }
}

/// Export conversations as one file's rows; each row is one line of the file.
#[pg_extern(volatile, parallel_unsafe)]
fn export_conversations(
    config: default!(Option<JsonB>, "'{}'"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> SetOfIterator<'static, String> {
    let started = Instant::now();
    let config_json = config.map(|c| c.0).unwrap_or(Value::Null);
    let config = ExportConfig::from_json(&config_json).or_raise();
    let identity = Identity::current();
    let source = ConversationSource::open(&config);
    let export_date = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut format = format::for_config(&config, export_date);
    let mut rows = Rows::new();
    format.begin(&mut rows);
    let run = Rc::new(RefCell::new(ExportRun {
        normalized_config: config.to_json(),
        config,
        identity,
        export_id: uuid::Uuid::new_v4().to_string(),
        source,
        format,
        rows,
        phase: Phase::Reading,
        started,
        rows_delivered: 0,
        bytes_delivered: 0,
        conversations_written: 0,
        skipped: Vec::new(),
        skipped_count: 0,
        shutdown_hook: None,
    }));
    // SAFETY: fcinfo is this call's; as a set-returning function it carries a
    // ReturnSetInfo whose econtext outlives the multi-call memory context that
    // pgrx runs this first call in.
    unsafe {
        let result_info = (*fcinfo).resultinfo.cast::<pg_sys::ReturnSetInfo>();
        let econtext = (*result_info).econtext;
        let shared =
            PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(Rc::clone(&run));
        let arg = pg_sys::Datum::from(shared);
        pg_sys::RegisterExprContextCallback(econtext, Some(stopped_early), arg);
        run.borrow_mut().shutdown_hook = Some(ShutdownHook { econtext, arg });
    }
    SetOfIterator::new(ExportStream(run))
}
