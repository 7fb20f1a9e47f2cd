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
use crate::exporter::{self, Exporter};
use crate::settings;
use crate::source::{self, ConversationSource};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Reading,
    Closing,
    Done,
}

struct ExportRun {
    normalized_config: Value,
    identity: Identity,
    export_id: String,
    source: ConversationSource,
    exporter: Exporter,
    phase: Phase,
    started: Instant,
    rows_delivered: i64,
    bytes_delivered: i64,
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
                format: self.exporter.config.format.as_str(),
                config: &self.normalized_config,
                status,
                conversation_count: self.exporter.conversations_written,
                skipped_count: self.exporter.skipped_count,
                file_size: self.bytes_delivered,
                duration_ms: self.started.elapsed().as_millis() as i64,
                error_message,
            },
        );
    }

    fn read_batch(&mut self) {
        let mut batch = Vec::new();
        self.source.next_batch(&mut batch);
        self.exporter.add(&batch);
        if self.source.is_exhausted() {
            self.exporter.finish();
            self.phase = Phase::Closing;
        }
    }

    /// The last row has been returned: record the export and stand down the hook.
    fn complete(&mut self) {
        self.phase = Phase::Done;
        self.exporter.notice_skipped(&self.export_id);
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
            if let Some(row) = run.exporter.rows.pop_front() {
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

/// An API caller's synchronous export must fit PostgREST's limits (8 s, 1,000
/// rows); larger ones belong in the background queue.
fn refuse_above_async_threshold(config: &ExportConfig) {
    let Some(threshold) = settings::async_threshold() else {
        return;
    };
    let count = source::count_conversations(config);
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
    if identity.user_id.is_some() {
        refuse_above_async_threshold(&config);
    }
    let source = ConversationSource::open(&config);
    let run = Rc::new(RefCell::new(ExportRun {
        normalized_config: config.to_json(),
        identity,
        export_id: uuid::Uuid::new_v4().to_string(),
        source,
        exporter: Exporter::new(config, exporter::export_date_now()),
        phase: Phase::Reading,
        started,
        rows_delivered: 0,
        bytes_delivered: 0,
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
