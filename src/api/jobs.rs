//! Background exports: queue, cancel, retry, download, and the maintenance
//! pg_cron runs.

use pgrx::JsonB;
use pgrx::prelude::*;

use crate::jobs::{download, queue, retention};
use crate::pg::jsonb_arg::ConfigJson;

/// Queue an export to run in the background as the caller; returns its
/// export_id. The config is validated now, with the same errors as
/// export_conversations().
#[pg_extern(volatile, parallel_unsafe)]
fn queue_export(config: default!(Option<ConfigJson>, "'{}'")) -> pgrx::Uuid {
    queue::queue(config)
}

/// Cancel a queued or running export of the caller's; true if it was
/// cancelled now, false if it had already ended.
#[pg_extern(volatile, parallel_unsafe)]
fn cancel_export(export_id: pgrx::Uuid) -> bool {
    queue::cancel(export_id)
}

/// Queue a failed, cancelled or expired export of the caller's again, with
/// the same config; returns the new export_id.
#[pg_extern(volatile, parallel_unsafe)]
fn retry_export(export_id: pgrx::Uuid) -> pgrx::Uuid {
    queue::retry(export_id)
}

/// The stored file of a completed background export of the caller's: parts
/// `from_part` .. `from_part + part_count - 1` (all remaining when NULL).
#[pg_extern(volatile, parallel_unsafe)]
fn download_export(
    export_id: Option<pgrx::Uuid>,
    from_part: default!(Option<i32>, 1),
    part_count: default!(Option<i32>, "NULL"),
) -> SetOfIterator<'static, String> {
    SetOfIterator::new(download::download(export_id, from_part, part_count))
}

/// Start background workers that run this database's queued exports and
/// exit; for hosts without preloaded workers, called from pg_cron. Returns
/// how many were started.
#[pg_extern(volatile, parallel_unsafe)]
fn run_queued_exports() -> i32 {
    queue::launch_queue_runners()
}

/// Expire downloadable files past their time and delete audit rows past the
/// retention; returns the counts. Safe to run alongside the worker's cleanup.
#[pg_extern(volatile, parallel_unsafe)]
fn cleanup_expired() -> JsonB {
    JsonB(retention::cleanup_and_report())
}
