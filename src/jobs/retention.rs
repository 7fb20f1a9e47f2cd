//! Expiry and retention: finished background exports stop being downloadable
//! after `export_system.file_ttl` and their stored parts are deleted; audit
//! rows older than `export_system.log_retention` are deleted. Run by the first
//! worker on its interval and by `cleanup_expired()` (for pg_cron); row locks
//! make concurrent runs safe, each row being changed by exactly one of them.

use serde_json::json;

use crate::settings;
use crate::store;

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
    let expired = store::logs::expire_due();
    let (parts_deleted, bytes_freed) = store::files::delete_unservable_parts();
    let logs_deleted = if log_retention_seconds > 0 {
        store::logs::delete_older_than(log_retention_seconds)
    } else {
        0
    };
    CleanupCounts {
        expired,
        parts_deleted,
        bytes_freed,
        logs_deleted,
        log_retention_seconds,
    }
}

/// Expire downloadable files past their time and delete audit rows past the
/// retention; returns the counts. Safe to run alongside the worker's cleanup.
pub fn cleanup_and_report() -> serde_json::Value {
    let counts = cleanup();
    counts.log();
    counts.to_json()
}
