//! The audit log. Rows are written by the extension itself, in the caller's
//! transaction, with the privileges of the log table's owner: callers hold only
//! SELECT (and RLS shows them only their own rows), so nobody can write,
//! change or delete a row by hand.

use pgrx::prelude::*;
use serde_json::Value;

use pgrx::PgSqlErrorCode;

use crate::audit::status::ExportStatus;
use crate::error::UserError;
use crate::export::stream::ExportDescription;
use crate::pg::backend;
use crate::pg::guc::with_pinned_search_path;
use crate::pg::identity::IdentityGuard;
use crate::pg::spi;

/// What was exported: conversations, or an operator's query's result.
pub const KINDS: &[&str] = &["conversations", "query"];

/// Who ran an export, read once at its start.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The JWT subject (`export_system.current_user_id()`), if any.
    pub user_id: Option<String>,
    /// `current_user`: the database role that ran the export.
    pub db_role: String,
}

impl Identity {
    pub fn current() -> Identity {
        with_pinned_search_path(|| {
            Spi::connect(|client| {
                let row = client
                    .select(
                        // export_system.current_user_id()'s formula, inline: an
                        // operator granted export_query alone needs no other grant.
                        "SELECT COALESCE( \
                           NULLIF(pg_catalog.current_setting('request.jwt.claim.sub', true), ''), \
                           NULLIF(pg_catalog.current_setting('request.jwt.claims', true), '')::pg_catalog.jsonb \
                             OPERATOR(pg_catalog.->>) 'sub')::pg_catalog.uuid::text, \
                         current_user::text",
                        Some(1),
                        &[],
                    )
                    .and_then(|table| table.first().get_two::<String, String>())
                    .unwrap_or_else(|e| panic!("reading the caller's identity failed: {e}"));
                Identity {
                    user_id: row.0,
                    db_role: row.1.unwrap_or_default(),
                }
            })
        })
    }
}

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

/// The final state of one export, as recorded.
#[derive(Debug, Clone)]
pub struct AuditRecord<'a> {
    pub export_id: String,
    pub kind: &'static str,
    pub format: &'static str,
    pub config: &'a Value,
    pub status: ExportStatus,
    pub conversation_count: i64,
    pub skipped_count: i64,
    pub file_size: i64,
    pub duration_ms: i64,
    pub error_message: Option<String>,
}

fn log_owner() -> pg_sys::Oid {
    with_pinned_search_path(|| {
        spi::read_one::<pg_sys::Oid>(
            "looking up the audit log's owner",
            "SELECT c.relowner FROM pg_catalog.pg_class c \
             WHERE c.oid = 'export_system.export_logs'::pg_catalog.regclass",
            &[],
        )
        .expect("export_system.export_logs has an owner")
    })
}

/// Run `write` as the owner of the audit table with search_path pinned, the
/// way a SECURITY DEFINER function would; both are restored afterwards, on
/// every exit. Every change to the extension's own tables (audit rows, jobs,
/// stored files) goes through here.
pub fn as_log_owner<R>(write: impl FnOnce() -> R) -> R {
    let _owner = IdentityGuard::as_owner(log_owner());
    write()
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
