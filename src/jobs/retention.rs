//! Expiry and retention: finished background exports stop being downloadable
//! after `export_system.file_ttl` and their stored parts are deleted; audit
//! rows older than `export_system.log_retention` are deleted. Run by the first
//! worker on its interval and by `cleanup_expired()` (for pg_cron); row locks
//! make concurrent runs safe, each row being changed by exactly one of them.

use pgrx::prelude::*;
use serde_json::json;

use crate::audit::record::as_log_owner;
use crate::audit::status;
use crate::settings;

pub struct CleanupCounts {
    pub expired: i64,
    pub parts_deleted: i64,
    pub bytes_freed: i64,
    pub logs_deleted: i64,
    pub log_retention_seconds: i32,
}

impl CleanupCounts {
    pub fn log(&self) {
        pgrx::log!(
            "export_system cleanup: {} export(s) expired, {} stored part(s) deleted ({} bytes), {} audit row(s) older than {} s deleted",
            self.expired,
            self.parts_deleted,
            self.bytes_freed,
            self.logs_deleted,
            self.log_retention_seconds
        );
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "expired": self.expired,
            "parts_deleted": self.parts_deleted,
            "bytes_freed": self.bytes_freed,
            "logs_deleted": self.logs_deleted,
            "log_retention_seconds": self.log_retention_seconds,
        })
    }
}

/// One cleanup pass in the current transaction.
pub fn cleanup() -> CleanupCounts {
    let log_retention_seconds = settings::log_retention_seconds();
    as_log_owner(|| {
        Spi::connect_mut(|client| {
            let expired = status::expire_due();
            // Parts of every export that is no longer downloadable or being written.
            let (parts_deleted, bytes_freed) = client
                .update(
                    "WITH deleted AS ( \
                       DELETE FROM export_system.export_files f \
                       WHERE NOT EXISTS (SELECT FROM export_system.export_logs l \
                                         WHERE l.export_id = f.export_id \
                                           AND l.status IN ('completed', 'processing')) \
                       RETURNING pg_catalog.octet_length(f.content) AS bytes) \
                     SELECT count(*), COALESCE(sum(bytes), 0)::int8 FROM deleted",
                    None,
                    &[],
                )
                .and_then(|table| table.first().get_two::<i64, i64>())
                .unwrap_or_else(|e| panic!("deleting expired files failed: {e}"));
            let logs_deleted = if log_retention_seconds > 0 {
                client
                    .update(
                        "DELETE FROM export_system.export_logs \
                         WHERE \"timestamp\" < now() - pg_catalog.make_interval(secs => $1) \
                           AND status NOT IN ('queued', 'processing')",
                        None,
                        &[(log_retention_seconds as f64).into()],
                    )
                    .unwrap_or_else(|e| panic!("deleting old audit rows failed: {e}"))
                    .len() as i64
            } else {
                0
            };
            CleanupCounts {
                expired,
                parts_deleted: parts_deleted.unwrap_or(0),
                bytes_freed: bytes_freed.unwrap_or(0),
                logs_deleted,
                log_retention_seconds,
            }
        })
    })
}

/// Expire downloadable files past their time and delete audit rows past the
/// retention; returns the counts. Safe to run alongside the worker's cleanup.
pub fn cleanup_and_report() -> serde_json::Value {
    let counts = cleanup();
    counts.log();
    counts.to_json()
}
