//! The audit log. Rows are written by the extension itself, in the caller's
//! transaction, with the privileges of the extension's owner (`store`):
//! callers hold only SELECT (and RLS shows them only their own rows), so
//! nobody can write, change or delete a row by hand.

use pgrx::PgSqlErrorCode;

use crate::error::UserError;
use crate::model::{AuditRecord, ExportDescription};
use crate::pg::backend;
use crate::pg::identity::Identity;

/// What was exported: conversations, or an operator's query's result.
pub const KINDS: &[&str] = &["conversations", "query"];

/// Exports are audited, and a hot standby can write no audit row: refuse
/// them there with the reason, before anything is read.
pub fn refuse_on_a_standby() {
    if backend::in_recovery() {
        UserError {
            code: PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            message: "exports cannot run on a hot standby: every export writes its audit row".into(),
            hint: "Run export_conversations() and queue_export() on the primary; previews, counts, file info, the source and the export history and status work on standbys.".into(),
        }
        .raise();
    }
}

/// The server-log trail of an export: one LOG line at its start and one at
/// its end, written as they happen, so a rollback (of a savepoint, or of a
/// DO block that caught an error) cannot erase them the way it erases the
/// audit row. LOG is in the server log by default (log_min_messages, which
/// only a superuser can change) and not sent to the client. Operators
/// reconcile the two by export_id: a start line without an `export_logs`
/// row is an export whose audit row was rolled back.
pub fn log_start(identity: &Identity, export_id: &str, description: &ExportDescription) {
    pgrx::log!(
        "export_system: export {export_id} started: user_id={} db_role={} kind={} format={}",
        identity.user_id.as_deref().unwrap_or("-"),
        identity.db_role,
        description.kind,
        description.format
    );
}

pub fn log_end(identity: &Identity, record: &AuditRecord) {
    pgrx::log!(
        "export_system: export {} {}: user_id={} db_role={} kind={} format={} conversations={} skipped={} bytes={} duration_ms={}",
        record.export_id,
        record.status.as_str(),
        identity.user_id.as_deref().unwrap_or("-"),
        identity.db_role,
        record.kind,
        record.format,
        record.conversation_count,
        record.skipped_count,
        record.file_size,
        record.duration_ms
    );
}
