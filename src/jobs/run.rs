//! One background export, run by a worker as a series of short transactions:
//! claim it, open its query WITH HOLD (one snapshot for the whole file), then
//! per batch store the next parts and commit the progress, and finally record
//! the result. Each job holds a session advisory lock while it runs, so a job
//! left `processing` by a crash (lock gone with its process) is run again from
//! the start; its partial parts are discarded first, so no row is duplicated.

use std::time::Instant;

use pgrx::PgSqlErrorCode;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use serde_json::Value;

use crate::audit::record::as_log_owner;
use crate::audit::status::{self, ExportStatus, JobResult};
use crate::config::ExportConfig;
use crate::error::UserError;
use crate::export::pipeline::{self, ExportPipeline, Exporter};
use crate::export::registry::{self, Source};
use crate::export::source::{self, ConversationSource};
use crate::pg::identity::IdentityGuard;
use crate::pg::spi;
use crate::pg::transaction::{self, Failure};
use crate::settings;

/// A stored part is flushed once it holds this many bytes: small enough that
/// 16 parts fit one PostgREST response comfortably inside 8 seconds.
pub const PART_TARGET_BYTES: usize = 1 << 20;

/// First key of the two-key advisory locks that mark a job as running ("EXPT").
const JOB_LOCK_SPACE: i32 = 0x4558_5054;

/// A job whose runs kept dying (say, it crashes the server) is failed after this many.
const MAX_ATTEMPTS: i32 = 3;

pub struct ClaimedJob {
    export_id: String,
    config: Value,
    db_role: String,
    jwt_claims: String,
    attempts: i32,
}

/// How a job run ended.
pub enum Outcome {
    Completed,
    Cancelled,
    Failed,
    /// The worker was asked to shut down; the job stays `processing` and is rerun.
    Interrupted,
}

fn run_sql(sql: &str, args: &[DatumWithOid]) {
    Spi::connect_mut(|client| {
        client
            .update(sql, None, args)
            .unwrap_or_else(|e| panic!("job bookkeeping failed: {e}"));
    });
}

/// Claim the oldest runnable job in this database: queued, or `processing`
/// with nobody holding its lock. Runs in the caller's transaction; the claim
/// (and its advisory lock) must be committed before the job runs.
pub fn claim_next() -> Option<ClaimedJob> {
    let candidates = status::claimable(32);
    let export_id = candidates.into_iter().find(|export_id| {
        Spi::get_one_with_args::<bool>(
            "SELECT pg_catalog.pg_try_advisory_lock($1, pg_catalog.hashtext($2))",
            &[JOB_LOCK_SPACE.into(), export_id.clone().into()],
        )
        .ok()
        .flatten()
        .unwrap_or(false)
    })?;
    as_log_owner(|| {
        let config = status::mark_processing(&export_id);
        let (db_role, jwt_claims, attempts) = Spi::connect_mut(|client| {
            let (db_role, jwt_claims, attempts) = client
                .update(
                    "UPDATE export_system.export_jobs \
                       SET attempts = attempts + 1, worker_pid = pg_catalog.pg_backend_pid() \
                     WHERE export_id = $1::uuid RETURNING db_role, jwt_claims::text, attempts",
                    None,
                    &[export_id.clone().into()],
                )
                .and_then(|table| table.first().get_three::<String, String, i32>())
                .unwrap_or_else(|e| panic!("claiming export {export_id} failed: {e}"));
            (
                db_role.unwrap_or_default(),
                jwt_claims.unwrap_or_else(|| "{}".into()),
                attempts.unwrap_or(1),
            )
        });
        // Parts of an earlier, interrupted run.
        run_sql(
            "DELETE FROM export_system.export_files WHERE export_id = $1::uuid",
            &[export_id.clone().into()],
        );
        Some(ClaimedJob {
            export_id,
            config,
            db_role,
            jwt_claims,
            attempts,
        })
    })
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
        as_log_owner(|| {
            run_sql(
                "INSERT INTO export_system.export_files (export_id, part, content) \
                 VALUES ($1::uuid, $2, $3)",
                &[
                    self.export_id.clone().into(),
                    self.parts_written.into(),
                    content.into(),
                ],
            )
        });
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
    started: Instant,
    pipeline: ExportPipeline,
    parts: PartWriter,
}

impl JobRun {
    fn open(job: &ClaimedJob) -> JobRun {
        let (asked, queued_under_waiver) = registry::without_audit_note(&job.config);
        let config = ExportConfig::from_json(&asked).unwrap_or_else(|e| {
            pgrx::error!("the stored config is no longer valid: {}", e.message)
        });
        let registered = Source::load();
        refuse_a_waiver_added_since_queued(&registered, queued_under_waiver);
        let total = source::count_conversations(&config, &registered);
        let source = ConversationSource::open_holdable(&config, &registered);
        // The audit row says whether the source this run read waived RLS.
        let mut audited = job.config.clone();
        registry::note_in_audit(registered.rls_opted_out, &mut audited);
        as_log_owner(|| {
            run_sql(
                "UPDATE export_system.export_logs SET progress_total = $2, config = $3, \
                   updated_at = now() \
                 WHERE export_id = $1::uuid",
                &[
                    job.export_id.clone().into(),
                    (total as i32).into(),
                    pgrx::JsonB(audited).into(),
                ],
            )
        });
        JobRun {
            job_id: job.export_id.clone(),
            started: Instant::now(),
            pipeline: ExportPipeline::new(
                source,
                Exporter::new(config, pipeline::export_date_now()),
            ),
            parts: PartWriter {
                export_id: job.export_id.clone(),
                buffer: String::new(),
                parts_written: 0,
                file_size: 0,
            },
        }
    }

    fn is_cancelled(&self) -> bool {
        status::current(&self.job_id) != Some(ExportStatus::Processing)
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
            as_log_owner(|| {
                run_sql(
                    "UPDATE export_system.export_logs SET progress_done = $2, updated_at = now() \
                     WHERE export_id = $1::uuid",
                    &[
                        self.job_id.clone().into(),
                        ({
                            let (written, skipped) = self.pipeline.exporter().counts();
                            written + skipped
                        } as i32)
                            .into(),
                    ],
                )
            });
        }
        done
    }

    fn complete(&mut self) {
        let (conversations, skipped) = self.pipeline.exporter().counts();
        status::mark_completed(
            &self.job_id,
            &JobResult {
                conversations,
                skipped,
                file_size: self.parts.file_size,
                duration_ms: self.started.elapsed().as_millis() as i64,
                parts: self.parts.parts_written,
                file_ttl_seconds: settings::file_ttl_seconds(),
            },
        );
    }
}

/// Record a failure (or a cancellation's aftermath) and drop the partial
/// file; the job's held portal, if open, is closed (it survives aborts).
fn record_end(export_id: &str, pipeline: Option<&mut ExportPipeline>, failure: Option<&Failure>) {
    let result = transaction::run(|| {
        if let Some(pipeline) = pipeline {
            pipeline.close();
        }
        as_log_owner(|| {
            run_sql(
                "DELETE FROM export_system.export_files WHERE export_id = $1::uuid",
                &[export_id.into()],
            );
            if let Some(failure) = failure {
                status::mark_failed(export_id, &failure.message);
            }
        })
    });
    if let Err(failure) = result {
        pgrx::warning!(
            "export_system: recording the end of export {export_id} failed: {}",
            failure.message
        );
    }
}

fn unlock(export_id: &str) {
    let _ = transaction::run(|| {
        Spi::get_one_with_args::<bool>(
            "SELECT pg_catalog.pg_advisory_unlock($1, pg_catalog.hashtext($2))",
            &[JOB_LOCK_SPACE.into(), export_id.into()],
        )
    });
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

fn run_claimed(job: &ClaimedJob, should_stop: impl Fn() -> bool) -> Outcome {
    if job.attempts > MAX_ATTEMPTS {
        let failure = Failure {
            message: format!("gave up after {MAX_ATTEMPTS} attempts that did not finish"),
        };
        record_end(&job.export_id, None, Some(&failure));
        return Outcome::Failed;
    }
    let mut identity = None;
    let opened = transaction::run(|| {
        identity = Some(enter_job_identity(&job.db_role, &job.jwt_claims));
        JobRun::open(job)
    });
    let mut run = match opened {
        Ok(run) => run,
        Err(failure) => {
            drop(identity); // record the failure as the worker, not as the owner
            record_end(&job.export_id, None, Some(&failure));
            return Outcome::Failed;
        }
    };
    let ended = {
        // The owner's identity lasts exactly as long as this block.
        let _identity = identity.expect("entered with the open transaction");
        loop {
            if should_stop() {
                break Ok(Outcome::Interrupted);
            }
            match transaction::run(|| {
                if run.is_cancelled() {
                    None
                } else {
                    Some(run.step())
                }
            }) {
                Ok(Some(true)) => break Ok(Outcome::Completed),
                Ok(Some(false)) => continue,
                Ok(None) => break Ok(Outcome::Cancelled),
                Err(failure) => break Err(failure),
            }
        }
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
