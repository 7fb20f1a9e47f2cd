//! The background export queue's SQL API: queue an export, cancel or retry
//! one, and (for hosts without preloaded workers) run the queue from pg_cron.
//! Every function runs as its caller; a job is only ever visible to its owner.

use pgrx::prelude::*;
use pgrx::{JsonB, PgSqlErrorCode};
use serde_json::Value;

use crate::audit::{Identity, as_log_owner};
use crate::config::ExportConfig;
use crate::config_json::ConfigJson;
use crate::error::{OrRaise, UserError};
use crate::pg::guc::with_pinned_search_path;
use crate::{preferences, rate_limit, settings, worker};

/// The caller's export `export_id`, or SQLSTATE P0002 when there is no such
/// export of theirs (someone else's is indistinguishable from none).
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

pub fn own_export(export_id: pgrx::Uuid) -> OwnExport {
    let found = with_pinned_search_path(|| {
        Spi::connect(|client| {
            let table = client
            .select(
                "SELECT status, delivery, expires_at <= now(), expires_at::text, \
                        COALESCE(part_count, 0), config, \
                        pg_catalog.to_char(\"timestamp\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
                        conversation_count::int8 \
                 FROM export_system.export_logs l \
                 WHERE export_id = $1 AND export_system.is_own_export(l.user_id, l.db_role)",
                Some(1),
                &[export_id.into()],
            )
            .unwrap_or_else(|e| panic!("looking up export {export_id} failed: {e}"));
            if table.is_empty() {
                return None;
            }
            let row = table.first();
            let text = |ordinal| row.get::<String>(ordinal).ok().flatten();
            Some(OwnExport {
                status: text(1).unwrap_or_default(),
                delivery: text(2).unwrap_or_default(),
                expired: row.get::<bool>(3).ok().flatten().unwrap_or(false),
                expires_at: text(4),
                part_count: row.get::<i32>(5).ok().flatten().unwrap_or(0),
                config: row
                    .get::<JsonB>(6)
                    .ok()
                    .flatten()
                    .map_or(Value::Null, |json| json.0),
                created_at: text(7).unwrap_or_default(),
                conversation_count: row.get::<i64>(8).ok().flatten().unwrap_or(0),
            })
        })
    });
    found.unwrap_or_else(|| {
        UserError {
            code: PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
            message: format!("export {export_id} not found"),
            hint: "Only the user who ran an export can see, download, cancel or retry it; check the export_id.".into(),
        }
        .raise()
    })
}

/// Record a queued job for the current caller and wake the workers once the
/// transaction commits; returns its export_id.
fn enqueue(config: &ExportConfig) -> pgrx::Uuid {
    let identity = Identity::current();
    rate_limit::check(&identity);
    let export_id = uuid::Uuid::new_v4().to_string();
    as_log_owner(|| {
        Spi::connect_mut(|client| {
            client
                .update(
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
                    None,
                    &[
                        export_id.clone().into(),
                        identity.user_id.clone().into(),
                        identity.db_role.clone().into(),
                        config.format.as_str().into(),
                        JsonB(config.to_json()).into(),
                    ],
                )
                .unwrap_or_else(|e| panic!("queuing the export failed: {e}"));
        })
    });
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, worker::wake_workers);
    pgrx::Uuid::from_bytes(*uuid::Uuid::parse_str(&export_id).unwrap().as_bytes())
}

/// Queue an export to run in the background as the caller; returns its
/// export_id. The config is validated now, with the same errors as
/// export_conversations().
#[pg_extern(volatile, parallel_unsafe)]
fn queue_export(config: default!(Option<ConfigJson>, "'{}'")) -> pgrx::Uuid {
    enqueue(&preferences::effective_config(config))
}

/// Cancel a queued or running export of the caller's; true if it was
/// cancelled now, false if it had already ended.
#[pg_extern(volatile, parallel_unsafe)]
fn cancel_export(export_id: pgrx::Uuid) -> bool {
    let export = own_export(export_id);
    if !matches!(export.status.as_str(), "queued" | "processing") {
        return false;
    }
    let cancelled_by = Identity::current().db_role;
    as_log_owner(|| {
        Spi::connect_mut(|client| {
            !client
                .update(
                    "UPDATE export_system.export_logs SET status = 'cancelled', updated_at = now(), \
                       completed_at = now(), error_message = 'cancelled by ' || $2 \
                     WHERE export_id = $1 AND status IN ('queued', 'processing')",
                    None,
                    &[export_id.into(), cancelled_by.into()],
                )
                .unwrap_or_else(|e| panic!("cancelling export {export_id} failed: {e}")).is_empty()
        })
    })
}

/// Queue a failed, cancelled or expired export of the caller's again, with
/// the same config; returns the new export_id.
#[pg_extern(volatile, parallel_unsafe)]
fn retry_export(export_id: pgrx::Uuid) -> pgrx::Uuid {
    let export = own_export(export_id);
    if !matches!(export.status.as_str(), "failed" | "cancelled" | "expired") {
        UserError {
            code: PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            message: format!("export {export_id} is {}; only failed, cancelled or expired exports can be retried", export.status),
            hint: "Wait for a queued or processing export to finish; download a completed one with export_system.download_export().".into(),
        }
        .raise();
    }
    let config = ExportConfig::from_json(&export.config).or_raise();
    enqueue(&config)
}

/// Start background workers that run this database's queued exports and
/// exit; for hosts without preloaded workers, called from pg_cron. Returns
/// how many were started.
#[pg_extern(volatile, parallel_unsafe)]
fn run_queued_exports() -> i32 {
    let (waiting, database) = with_pinned_search_path(|| {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT (SELECT count(*) FROM export_system.export_logs \
                         WHERE status IN ('queued', 'processing') AND delivery = 'background'), \
                        current_database()::text",
                    Some(1),
                    &[],
                )
                .and_then(|table| table.first().get_two::<i64, String>())
                .unwrap_or_else(|e| panic!("reading the export queue failed: {e}"))
        })
    });
    let wanted = (waiting.unwrap_or(0) as usize).min(settings::workers().max(1));
    worker::launch_queue_runners(&database.unwrap_or_default(), wanted) as i32
}
