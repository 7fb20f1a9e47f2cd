//! One claimed background export, run by a worker as a series of short
//! transactions: open its query WITH HOLD (one snapshot for the whole file),
//! then per batch store the next parts and commit the progress, and finally
//! record the result. A job left `processing` by a crash is claimed again
//! (`claim`) and run from the start; its partial parts are discarded first,
//! so no row is duplicated.

use std::time::Instant;

use pgrx::PgSqlErrorCode;
use pgrx::prelude::*;

use crate::config::ExportConfig;
use crate::error::UserError;
use crate::export::conversation_query;
use crate::export::conversation_reader::ConversationReader;
use crate::export::pipeline::ExportPipeline;
use crate::export::saved_run::{RunKind, SavedRun};
use crate::jobs::claim::{self, ClaimedJob};
use crate::model::ExportStatus;
use crate::pg::identity::IdentityGuard;
use crate::pg::job_limits::JobLimits;
use crate::pg::spi;
use crate::pg::transaction::{self, Failure};
use crate::settings;
use crate::source::{Source, registration};
use crate::store;
use crate::store::logs::JobResult;

/// A stored part is flushed once it holds this many bytes: small enough that
/// 16 parts fit one PostgREST response comfortably inside 8 seconds.
pub const PART_TARGET_BYTES: usize = 1 << 20;

/// A job whose runs kept dying (say, it crashes the server) is failed after this many.
const MAX_ATTEMPTS: i32 = 3;

/// How a job run ended.
pub enum Outcome {
    Completed,
    Cancelled,
    Failed,
    /// The worker was asked to shut down; the job stays `processing` and is rerun.
    Interrupted,
}

/// The job owner's identity, in force from opening the query to the last
/// batch, so Row Level Security sees exactly what the owner would see.
fn enter_job_identity(db_role: &str, jwt_claims: &str) -> IdentityGuard {
    let role: pg_sys::Oid = spi::read_one(
        "looking up the job's role",
        "SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1",
        &[db_role.into()],
    )
    .unwrap_or_else(|| pgrx::error!("the role {db_role} that queued this export no longer exists"));
    IdentityGuard::as_job_owner(role, jwt_claims)
}

/// Rows gathered into stored parts of about PART_TARGET_BYTES.
struct PartWriter {
    export_id: String,
    buffer: String,
    parts_written: i32,
    file_size: i64,
}

impl PartWriter {
    fn push(&mut self, row: &str) {
        if !self.buffer.is_empty() {
            self.buffer.push('\n');
        }
        self.buffer.push_str(row);
        self.file_size += row.len() as i64 + 1;
    }

    fn flush(&mut self, force: bool) {
        if self.buffer.is_empty() || (!force && self.buffer.len() < PART_TARGET_BYTES) {
            return;
        }
        self.parts_written += 1;
        let content = std::mem::take(&mut self.buffer);
        store::files::insert_part(&self.export_id, self.parts_written, content);
    }
}

/// A job queued while the source enforced Row Level Security never reads it
/// after it was re-registered without: its owner asked for an export under
/// RLS, and the waiver is a decision to take again, by queuing anew.
fn refuse_a_waiver_added_since_queued(registered: &Source, queued_under_waiver: bool) {
    if registered.rls_opted_out && !queued_under_waiver {
        UserError {
            code: PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            message: "the source was registered with allow_without_rls after this export was queued under Row Level Security".into(),
            hint: "Queue the export again (export_system.retry_export) to export from the source as it is now registered; the waiver is then recorded in its audit row.".into(),
        }
        .raise();
    }
}

struct JobRun {
    job_id: String,
    /// Made from a saved export: what its next run continues from.
    saved_run: Option<SavedRun>,
    started: Instant,
    pipeline: ExportPipeline,
    parts: PartWriter,
}

impl JobRun {
    fn open(job: &ClaimedJob) -> JobRun {
        let (asked, queued_under_waiver) = registration::without_audit_note(&job.config);
        // The owner's redaction minimum as it is now, should it have risen.
        let mut config = ExportConfig::from_json(&asked)
            .and_then(ExportConfig::with_redaction_minimum)
            .unwrap_or_else(|e| {
                pgrx::error!("the stored config is no longer valid: {}", e.message)
            });
        let registered = Source::load();
        refuse_a_waiver_added_since_queued(&registered, queued_under_waiver);
        let (saved_run, continuation) = SavedRun::begin(&mut config, RunKind::Background).unzip();
        let total = conversation_query::count_conversations(&config, &registered);
        let source = ConversationReader::open_holdable(&config, &registered);
        // The audit row says whether the source this run read waived RLS.
        let mut audited = job.config.clone();
        registration::note_in_audit(registered.rls_opted_out, &mut audited);
        store::logs::set_progress_total(&job.export_id, total, audited);
        JobRun {
            job_id: job.export_id.clone(),
            saved_run,
            started: Instant::now(),
            pipeline: ExportPipeline::new(source, config, continuation.unwrap_or_default()),
            parts: PartWriter {
                export_id: job.export_id.clone(),
                buffer: String::new(),
                parts_written: 0,
                file_size: 0,
            },
        }
    }

    fn is_cancelled(&self) -> bool {
        store::logs::status(&self.job_id) != Some(ExportStatus::Processing)
    }

    /// Format and store one batch; true when the file is complete.
    fn step(&mut self) -> bool {
        let done = !self.pipeline.advance();
        while let Some((row, _)) = self.pipeline.take_row() {
            self.parts.push(&row);
            self.parts.flush(false);
        }
        if done {
            self.parts.flush(true);
            self.complete();
        } else {
            let (written, skipped) = self.pipeline.exporter().counts();
            store::logs::set_progress_done(&self.job_id, written + skipped);
        }
        done
    }

    fn complete(&mut self) {
        let (conversations, skipped) = self.pipeline.exporter().counts();
        store::logs::set_completed(
            &self.job_id,
            &JobResult {
                conversations,
                skipped,
                file_size: self.parts.file_size,
                duration_ms: self.started.elapsed().as_millis() as i64,
                parts: self.parts.parts_written,
                file_ttl_seconds: settings::file_ttl_seconds(),
                redactions: self.pipeline.exporter().redactions(),
            },
        );
        if let Some(saved_run) = &self.saved_run {
            saved_run.complete(&self.job_id, self.pipeline.exporter());
        }
    }
}

/// Record a failure (or a cancellation's aftermath) and drop the partial
/// file; the job's held portal, if open, is closed (it survives aborts).
fn record_end(export_id: &str, pipeline: Option<&mut ExportPipeline>, failure: Option<&Failure>) {
    let result = transaction::run(|| {
        if let Some(pipeline) = pipeline {
            pipeline.close();
        }
        store::files::delete_parts(export_id);
        if let Some(failure) = failure {
            store::logs::set_failed(export_id, &failure.message);
        }
    });
    if let Err(failure) = result {
        pgrx::warning!(
            "export_system: recording the end of export {export_id} failed: {}",
            failure.message
        );
    }
}

fn unlock(export_id: &str) {
    let _ = transaction::run(|| claim::unlock(export_id));
}

/// Run a claimed job to its end. `should_stop` is asked between batches.
pub fn run(job: ClaimedJob, should_stop: impl Fn() -> bool) -> Outcome {
    let export_id = job.export_id.clone();
    let outcome = run_claimed(&job, should_stop);
    if !matches!(outcome, Outcome::Interrupted) {
        unlock(&export_id);
    }
    outcome
}

/// A failure past the job's time is the timeout's doing: say so.
fn explain(failure: Failure, started: Instant) -> Failure {
    match settings::job_timeout() {
        Some(timeout) if started.elapsed() >= timeout => Failure {
            message: format!(
                "the export ran longer than export_system.job_timeout ({} s) and was stopped: {}",
                timeout.as_secs(),
                failure.message
            ),
        },
        _ => failure,
    }
}

/// Open the job's query and run it batch by batch under its limits — the
/// owner's identity, export_system.job_timeout and job_temp_file_limit —
/// which all end when this returns. Returns the run, once opened, and how
/// it ended.
fn run_under_limits(
    job: &ClaimedJob,
    should_stop: impl Fn() -> bool,
) -> (Option<JobRun>, Result<Outcome, Failure>) {
    let started = Instant::now();
    let _limits = JobLimits::enter(settings::job_timeout(), settings::job_temp_file_limit_kb());
    let mut identity = None;
    let opened = transaction::run(|| {
        identity = Some(enter_job_identity(&job.db_role, &job.jwt_claims));
        JobRun::open(job)
    });
    let mut run = match opened {
        Ok(run) => run,
        Err(failure) => return (None, Err(explain(failure, started))),
    };
    let _identity = identity.expect("entered with the open transaction");
    let ended = loop {
        if should_stop() {
            break Ok(Outcome::Interrupted);
        }
        match transaction::run(|| (!run.is_cancelled()).then(|| run.step())) {
            Ok(Some(true)) => break Ok(Outcome::Completed),
            Ok(Some(false)) => continue,
            Ok(None) => break Ok(Outcome::Cancelled),
            Err(failure) => break Err(explain(failure, started)),
        }
    };
    (Some(run), ended)
}

fn run_claimed(job: &ClaimedJob, should_stop: impl Fn() -> bool) -> Outcome {
    if job.attempts > MAX_ATTEMPTS {
        let failure = Failure {
            message: format!("gave up after {MAX_ATTEMPTS} attempts that did not finish"),
        };
        record_end(&job.export_id, None, Some(&failure));
        return Outcome::Failed;
    }
    let (run, ended) = run_under_limits(job, should_stop);
    let Some(mut run) = run else {
        // Recorded as the worker, not as the owner.
        record_end(&job.export_id, None, ended.err().as_ref());
        return Outcome::Failed;
    };
    let outcome = match ended {
        Ok(outcome) => outcome,
        Err(failure) => {
            record_end(&job.export_id, Some(&mut run.pipeline), Some(&failure));
            return Outcome::Failed;
        }
    };
    match outcome {
        Outcome::Completed => {
            let _ = transaction::run(|| run.pipeline.close());
            pgrx::log!(
                "export_system: export {} completed: {} conversation(s), {} byte(s) in {} part(s), {} ms",
                job.export_id,
                run.pipeline.exporter().counts().0,
                run.parts.file_size,
                run.parts.parts_written,
                run.started.elapsed().as_millis()
            );
        }
        Outcome::Cancelled => record_end(&job.export_id, Some(&mut run.pipeline), None),
        Outcome::Interrupted | Outcome::Failed => {}
    }
    outcome
}
