//! Every export status and every transition between them, in one place:
//! this file holds the only SQL that writes `export_logs.status`.
//!
//! ```text
//! streamed:    (none) ──▶ completed | cancelled          (one INSERT, in the caller's transaction)
//! background:  (none) ──▶ queued ──▶ processing ──▶ completed ──▶ expired
//!                          │            ├──▶ failed
//!                          └────────────┴──▶ cancelled
//! ```
//! A worker may claim a background export while it is queued or processing
//! (a processing one whose runner died): `export_system.in_queue(status,
//! delivery)` in sql/schema.sql says so once, for the queue's partial index,
//! `export_metrics` and the queries here.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use serde_json::Value;

use crate::audit::record::{AuditRecord, Identity, as_log_owner};
use crate::pg::spi;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportStatus {
    Queued,
    Processing,
    Completed,
    Failed,
    Expired,
    Cancelled,
}

impl ExportStatus {
    pub const ALL: [ExportStatus; 6] = [
        ExportStatus::Queued,
        ExportStatus::Processing,
        ExportStatus::Completed,
        ExportStatus::Failed,
        ExportStatus::Expired,
        ExportStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Queued => "queued",
            ExportStatus::Processing => "processing",
            ExportStatus::Completed => "completed",
            ExportStatus::Failed => "failed",
            ExportStatus::Expired => "expired",
            ExportStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<ExportStatus> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// A queued or running export can still be cancelled.
    pub fn can_be_cancelled(self) -> bool {
        matches!(self, ExportStatus::Queued | ExportStatus::Processing)
    }

    /// An export that ended without a file to download can be run again.
    pub fn can_be_retried(self) -> bool {
        matches!(
            self,
            ExportStatus::Failed | ExportStatus::Cancelled | ExportStatus::Expired
        )
    }
}

/// The queue's predicate, as SQL over `export_logs` columns.
pub const IN_QUEUE: &str = "export_system.in_queue(status, delivery)";

fn update(sql: &str, args: &[DatumWithOid]) -> usize {
    as_log_owner(|| {
        Spi::connect_mut(|client| {
            client
                .update(sql, None, args)
                .unwrap_or_else(|e| panic!("recording an export's status failed: {e}"))
                .len()
        })
    })
}

/// A streamed export's one row: `completed` or `cancelled`.
pub fn record_streamed(identity: &Identity, record: &AuditRecord) {
    debug_assert!(matches!(
        record.status,
        ExportStatus::Completed | ExportStatus::Cancelled
    ));
    update(
        "INSERT INTO export_system.export_logs \
           (export_id, user_id, db_role, format, config, status, conversation_count, \
            skipped_count, file_size, duration_ms, error_message, kind) \
         VALUES ($1::pg_catalog.uuid, $2::pg_catalog.uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            record.export_id.clone().into(),
            identity.user_id.clone().into(),
            identity.db_role.clone().into(),
            record.format.into(),
            pgrx::JsonB(record.config.clone()).into(),
            record.status.as_str().into(),
            (record.conversation_count as i32).into(),
            (record.skipped_count as i32).into(),
            record.file_size.into(),
            record.duration_ms.into(),
            record.error_message.clone().into(),
            record.kind.into(),
        ],
    );
}

/// (none) → queued: the export's row and the identity its job will run as.
pub fn record_queued(export_id: &str, identity: &Identity, format: &str, config: Value) {
    update(
        "WITH logged AS ( \
           INSERT INTO export_system.export_logs \
             (export_id, user_id, db_role, format, config, status, delivery) \
           VALUES ($1::uuid, $2::uuid, $3, $4, $5, 'queued', 'background') \
           RETURNING export_id) \
         INSERT INTO export_system.export_jobs (export_id, db_role, jwt_claims) \
         SELECT export_id, $3, \
                COALESCE(NULLIF(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb, '{}') \
                || CASE WHEN $2 IS NULL THEN '{}'::jsonb \
                        ELSE pg_catalog.jsonb_build_object('sub', $2) END \
         FROM logged",
        &[
            export_id.into(),
            identity.user_id.clone().into(),
            identity.db_role.clone().into(),
            format.into(),
            pgrx::JsonB(config).into(),
        ],
    );
}

/// The oldest claimable exports, locked for this transaction (SKIP LOCKED).
pub fn claimable(limit: i64) -> Vec<String> {
    let sql = format!(
        "SELECT export_id::text FROM export_system.export_logs WHERE {IN_QUEUE} \
         ORDER BY created_at, export_id FOR UPDATE SKIP LOCKED LIMIT $1"
    );
    Spi::connect_mut(|client| {
        client
            .update(&sql, None, &[limit.into()])
            .unwrap_or_else(|e| panic!("reading the export queue failed: {e}"))
            .filter_map(|row| row.get::<String>(1).ok().flatten())
            .collect()
    })
}

/// How many background exports wait for or hold a worker.
pub fn queue_depth() -> i64 {
    spi::read_one::<i64>(
        "reading the export queue",
        &format!("SELECT count(*) FROM export_system.export_logs WHERE {IN_QUEUE}"),
        &[],
    )
    .unwrap_or(0)
}

/// queued | processing → processing (a claim, or a rerun after a crash);
/// returns the export's config.
pub fn mark_processing(export_id: &str) -> Value {
    as_log_owner(|| {
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
                .and_then(|table| table.first().get_one::<pgrx::JsonB>())
                .unwrap_or_else(|e| panic!("claiming export {export_id} failed: {e}"))
                .map_or(Value::Null, |json| json.0)
        })
    })
}

/// What a finished job records.
pub struct JobResult {
    pub conversations: i64,
    pub skipped: i64,
    pub file_size: i64,
    pub duration_ms: i64,
    pub parts: i32,
    pub file_ttl_seconds: i32,
}

/// processing → completed, downloadable until the file's time is up.
pub fn mark_completed(export_id: &str, result: &JobResult) {
    update(
        "UPDATE export_system.export_logs SET status = 'completed', completed_at = now(), \
           updated_at = now(), conversation_count = $2, skipped_count = $3, file_size = $4, \
           duration_ms = $5, progress_done = $6, progress_total = $6, part_count = $7, \
           expires_at = now() + pg_catalog.make_interval(secs => $8) \
         WHERE export_id = $1::uuid",
        &[
            export_id.into(),
            (result.conversations as i32).into(),
            (result.skipped as i32).into(),
            result.file_size.into(),
            result.duration_ms.into(),
            ((result.conversations + result.skipped) as i32).into(),
            result.parts.into(),
            (result.file_ttl_seconds as f64).into(),
        ],
    );
}

/// queued | processing → failed, with why.
pub fn mark_failed(export_id: &str, message: &str) {
    update(
        "UPDATE export_system.export_logs SET status = 'failed', error_message = $2, \
           updated_at = now(), completed_at = now(), \
           duration_ms = (extract(epoch FROM now() - started_at) * 1000)::int8 \
         WHERE export_id = $1::uuid",
        &[export_id.into(), message.into()],
    );
}

/// queued | processing → cancelled; false if it had ended meanwhile.
pub fn mark_cancelled(export_id: pgrx::Uuid, cancelled_by: &str) -> bool {
    update(
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
    update(
        "UPDATE export_system.export_logs SET status = 'expired', updated_at = now() \
         WHERE export_id IN (SELECT export_id FROM export_system.export_logs \
                             WHERE status = 'completed' AND expires_at <= now() \
                             FOR UPDATE SKIP LOCKED)",
        &[],
    ) as i64
}

/// An export's current status, read with the log owner's privileges.
pub fn current(export_id: &str) -> Option<ExportStatus> {
    as_log_owner(|| {
        spi::read_one::<String>(
            "reading an export's status",
            "SELECT status FROM export_system.export_logs WHERE export_id = $1::uuid",
            &[export_id.into()],
        )
    })
    .and_then(|status| ExportStatus::parse(&status))
}
