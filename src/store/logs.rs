//! `export_logs`: one audit row per export, and a background export's
//! lifecycle on it (the statuses and their transitions are
//! `model::ExportStatus`). Only this file writes `export_logs.status`.
//!
//! A worker may claim a background export while it is queued or processing
//! (a processing one whose runner died): `export_system.in_queue(status,
//! delivery)` in sql/schema.sql says so once, for the queue's partial index,
//! `export_metrics` and the queries here.

use pgrx::JsonB;
use pgrx::prelude::*;
use serde_json::Value;

use crate::model::{AuditRecord, ExportStatus};
use crate::pg::identity::{Identity, as_extension_owner, check_extension_schema};
use crate::pg::spi;
use crate::store::{as_caller, write};

/// The queue's predicate, as SQL over `export_logs` columns.
const IN_QUEUE: &str = "export_system.in_queue(status, delivery)";

/// A streamed export's one row: `completed` or `cancelled`.
pub fn insert_streamed(identity: &Identity, record: &AuditRecord) {
    debug_assert!(matches!(
        record.status,
        ExportStatus::Completed | ExportStatus::Cancelled
    ));
    write(
        "recording the export",
        include_str!("../../sql/store/insert_streamed.sql"),
        &[
            record.export_id.clone().into(),
            identity.user_id.clone().into(),
            identity.db_role.clone().into(),
            record.format.into(),
            JsonB(record.config.clone()).into(),
            record.status.as_str().into(),
            (record.conversation_count as i32).into(),
            (record.skipped_count as i32).into(),
            record.file_size.into(),
            record.duration_ms.into(),
            record.error_message.clone().into(),
            record.kind.into(),
            record.redactions.clone().map(JsonB).into(),
        ],
    );
}

/// (none) → queued: the export's row and the identity its job will run as.
pub fn insert_queued(export_id: &str, identity: &Identity, format: &str, config: Value) {
    write(
        "queuing the export",
        include_str!("../../sql/store/insert_queued.sql"),
        &[
            export_id.into(),
            identity.user_id.clone().into(),
            identity.db_role.clone().into(),
            format.into(),
            JsonB(config).into(),
        ],
    );
}

/// The oldest claimable exports, locked for this transaction (SKIP LOCKED).
pub fn lock_claimable(limit: i64) -> Vec<String> {
    let sql = format!(
        "SELECT export_id::text FROM export_system.export_logs WHERE {IN_QUEUE} \
         ORDER BY created_at, export_id FOR UPDATE SKIP LOCKED LIMIT $1"
    );
    check_extension_schema();
    Spi::connect_mut(|client| {
        client.update(&sql, None, &[limit.into()]).map(|table| {
            table
                .filter_map(|row| row.get::<String>(1).ok().flatten())
                .collect()
        })
    })
    .unwrap_or_else(|error| spi::fail("reading the export queue", error))
}

/// How many background exports wait for or hold a worker.
pub fn queue_depth() -> i64 {
    check_extension_schema();
    spi::read_one::<i64>(
        "reading the export queue",
        &format!("SELECT count(*) FROM export_system.export_logs WHERE {IN_QUEUE}"),
        &[],
    )
    .unwrap_or(0)
}

/// queued | processing → processing (a claim, or a rerun after a crash);
/// returns the export's config.
pub fn set_processing(export_id: &str) -> Value {
    as_extension_owner(|| {
        Spi::connect_mut(|client| {
            client
                .update(
                    "UPDATE export_system.export_logs SET status = 'processing', started_at = now(), \
                       updated_at = now(), progress_done = 0, progress_total = NULL, part_count = NULL, \
                       error_message = NULL \
                     WHERE export_id = $1::uuid RETURNING config",
                    None,
                    &[export_id.into()],
                )
                .and_then(|table| table.first().get_one::<JsonB>())
        })
        .unwrap_or_else(|error| spi::fail("claiming an export", error))
        .map_or(Value::Null, |json| json.0)
    })
}

/// A running job's size and its config as its audit row records it.
pub fn set_progress_total(export_id: &str, total: i64, config: Value) {
    write(
        "recording the job's size",
        "UPDATE export_system.export_logs SET progress_total = $2, config = $3, updated_at = now() \
         WHERE export_id = $1::uuid",
        &[
            export_id.into(),
            (total as i32).into(),
            JsonB(config).into(),
        ],
    );
}

/// A running job's progress, committed batch by batch.
pub fn set_progress_done(export_id: &str, done: i64) {
    write(
        "recording the job's progress",
        "UPDATE export_system.export_logs SET progress_done = $2, updated_at = now() \
         WHERE export_id = $1::uuid",
        &[export_id.into(), (done as i32).into()],
    );
}

/// What a finished job records.
pub struct JobResult {
    pub conversations: i64,
    pub skipped: i64,
    pub file_size: i64,
    pub duration_ms: i64,
    pub parts: i32,
    pub file_ttl_seconds: i32,
    /// Values redacted per kind of personal data; None when none was asked.
    pub redactions: Option<Value>,
}

/// processing → completed, downloadable until the file's time is up.
pub fn set_completed(export_id: &str, result: &JobResult) {
    write(
        "recording the finished export",
        include_str!("../../sql/store/set_completed.sql"),
        &[
            export_id.into(),
            (result.conversations as i32).into(),
            (result.skipped as i32).into(),
            result.file_size.into(),
            result.duration_ms.into(),
            ((result.conversations + result.skipped) as i32).into(),
            result.parts.into(),
            (result.file_ttl_seconds as f64).into(),
            result.redactions.clone().map(JsonB).into(),
        ],
    );
}

/// queued | processing → failed, with why.
pub fn set_failed(export_id: &str, message: &str) {
    write(
        "recording the failed export",
        "UPDATE export_system.export_logs SET status = 'failed', error_message = $2, \
           updated_at = now(), completed_at = now(), \
           duration_ms = (extract(epoch FROM now() - started_at) * 1000)::int8 \
         WHERE export_id = $1::uuid",
        &[export_id.into(), message.into()],
    );
}

/// queued | processing → cancelled; false if it had ended meanwhile.
pub fn set_cancelled(export_id: pgrx::Uuid, cancelled_by: &str) -> bool {
    write(
        "cancelling the export",
        "UPDATE export_system.export_logs SET status = 'cancelled', updated_at = now(), \
           completed_at = now(), error_message = 'cancelled by ' || $2 \
         WHERE export_id = $1 AND status IN ('queued', 'processing')",
        &[export_id.into(), cancelled_by.into()],
    ) > 0
}

/// completed → expired, for every file past its time; returns how many. A
/// row locked by a download in progress (which counts itself on it) is left
/// for the next run rather than waited for, so one open transaction never
/// holds up the whole cleanup.
pub fn expire_due() -> i64 {
    write(
        "expiring exports",
        "UPDATE export_system.export_logs SET status = 'expired', updated_at = now() \
         WHERE export_id IN (SELECT export_id FROM export_system.export_logs \
                             WHERE status = 'completed' AND expires_at <= now() \
                             FOR UPDATE SKIP LOCKED)",
        &[],
    ) as i64
}

/// Delete finished exports' rows older than `seconds`; returns how many.
pub fn delete_older_than(seconds: i32) -> i64 {
    write(
        "deleting old audit rows",
        "DELETE FROM export_system.export_logs \
         WHERE \"timestamp\" < now() - pg_catalog.make_interval(secs => $1) \
           AND status NOT IN ('queued', 'processing')",
        &[(seconds as f64).into()],
    ) as i64
}

/// An export's current status, read with the owner's privileges.
pub fn status(export_id: &str) -> Option<ExportStatus> {
    as_extension_owner(|| {
        spi::read_one::<String>(
            "reading an export's status",
            "SELECT status FROM export_system.export_logs WHERE export_id = $1::uuid",
            &[export_id.into()],
        )
    })
    .and_then(|status| ExportStatus::parse(&status))
}

/// A download of the file from its first part.
pub fn count_download(export_id: pgrx::Uuid) {
    write(
        "counting the download",
        "UPDATE export_system.export_logs \
         SET download_count = download_count + 1, last_downloaded_at = now() \
         WHERE export_id = $1",
        &[export_id.into()],
    );
}

/// How many exports `user_id` made in the last hour, and when the newest
/// `limit`th of them leaves the hour (ISO 8601). Read with a fresh snapshot
/// (a read-only SPI query would reuse the statement's), so after waiting
/// for the rate-limit lock it counts the audit row of the export it waited
/// for; an export writes its own row anyway.
pub fn recent_exports(user_id: &str, limit: i64) -> (i64, Option<String>) {
    let (used, next_allowed) = as_caller(|| {
        Spi::connect_mut(|client| {
            client
                .update(
                    include_str!("../../sql/store/recent_exports.sql"),
                    Some(1),
                    &[user_id.into(), limit.into()],
                )
                .and_then(|table| table.first().get_two::<i64, String>())
        })
        .unwrap_or_else(|error| spi::fail("checking the export rate limit", error))
    });
    (used.unwrap_or(0), next_allowed)
}

/// One of the caller's exports, as the job functions need it.
pub struct OwnExport {
    pub status: String,
    pub delivery: String,
    pub expired: bool,
    pub expires_at: Option<String>,
    pub part_count: i32,
    pub config: Value,
    /// ISO 8601, UTC.
    pub created_at: String,
    pub conversation_count: i64,
}

/// The caller's export `export_id`, read as the caller; None when it is not
/// theirs (or does not exist).
pub fn own_export(export_id: pgrx::Uuid) -> Option<OwnExport> {
    as_caller(|| {
        Spi::connect(|client| {
            let table = client.select(
                include_str!("../../sql/store/own_export.sql"),
                Some(1),
                &[export_id.into()],
            )?;
            if table.is_empty() {
                return Ok::<_, pgrx::spi::SpiError>(None);
            }
            let row = table.first();
            let text = |ordinal| row.get::<String>(ordinal).ok().flatten();
            Ok(Some(OwnExport {
                status: text(1).unwrap_or_default(),
                delivery: text(2).unwrap_or_default(),
                expired: row.get::<bool>(3)?.unwrap_or(false),
                expires_at: text(4),
                part_count: row.get::<i32>(5)?.unwrap_or(0),
                config: row.get::<JsonB>(6)?.map_or(Value::Null, |json| json.0),
                created_at: text(7).unwrap_or_default(),
                conversation_count: row.get::<i64>(8)?.unwrap_or(0),
            }))
        })
        .unwrap_or_else(|error| spi::fail("looking up an export", error))
    })
}
