//! The background export queue's SQL API: queue an export, cancel or retry
//! one, and (for hosts without preloaded workers) run the queue from pg_cron.
//! Every function runs as its caller; a job is only ever visible to its owner.

use pgrx::PgSqlErrorCode;

use crate::audit::rate_limit;
use crate::audit::record;
use crate::config::ExportConfig;
use crate::error::{OrRaise, UserError};
use crate::export::preferences;
use crate::jobs::worker;
use crate::model::ExportStatus;
use crate::pg::guc::with_pinned_search_path;
use crate::pg::identity::Identity;
use crate::pg::jsonb_arg::ConfigJson;
use crate::pg::spi;
use crate::settings;
use crate::source::registration;
use crate::store;
use crate::store::logs::OwnExport;

/// The caller's export `export_id`, or SQLSTATE P0002 when there is no such
/// export of theirs (someone else's is indistinguishable from none).
pub fn own_export(export_id: pgrx::Uuid) -> OwnExport {
    store::logs::own_export(export_id).unwrap_or_else(|| {
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
    record::refuse_on_a_standby();
    let identity = Identity::current();
    rate_limit::check(&identity);
    let export_id = uuid::Uuid::new_v4().to_string();
    let mut audited_config = config.to_json();
    registration::note_in_audit(registration::registered_without_rls(), &mut audited_config);
    store::logs::insert_queued(
        &export_id,
        &identity,
        config.format.as_str(),
        audited_config,
    );
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, worker::wake_workers);
    pgrx::Uuid::from_bytes(*uuid::Uuid::parse_str(&export_id).unwrap().as_bytes())
}

/// Queue an export to run in the background as the caller; returns its
/// export_id. The config is validated now, with the same errors as
/// export_conversations().
pub fn queue(config: Option<ConfigJson>) -> pgrx::Uuid {
    enqueue(&preferences::effective_config(config))
}

/// Cancel a queued or running export of the caller's; true if it was
/// cancelled now, false if it had already ended.
pub fn cancel(export_id: pgrx::Uuid) -> bool {
    let export = own_export(export_id);
    if !ExportStatus::parse(&export.status).is_some_and(ExportStatus::can_be_cancelled) {
        return false;
    }
    store::logs::set_cancelled(export_id, &Identity::current().db_role)
}

/// Queue a failed, cancelled or expired export of the caller's again, with
/// the same config; returns the new export_id.
pub fn retry(export_id: pgrx::Uuid) -> pgrx::Uuid {
    let export = own_export(export_id);
    if !ExportStatus::parse(&export.status).is_some_and(ExportStatus::can_be_retried) {
        UserError {
            code: PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            message: format!("export {export_id} is {}; only failed, cancelled or expired exports can be retried", export.status),
            hint: "Wait for a queued or processing export to finish; download a completed one with export_system.download_export().".into(),
        }
        .raise();
    }
    let (asked, _) = registration::without_audit_note(&export.config);
    enqueue(
        &ExportConfig::from_json(&asked)
            .and_then(ExportConfig::with_redaction_minimum)
            .or_raise(),
    )
}

/// Start background workers that run this database's queued exports and
/// exit; for hosts without preloaded workers, called from pg_cron. Returns
/// how many were started.
pub fn launch_queue_runners() -> i32 {
    let (waiting, database) = with_pinned_search_path(|| {
        let database = spi::read_one::<String>(
            "reading the database name",
            "SELECT current_database()::text",
            &[],
        );
        (store::logs::queue_depth(), database)
    });
    let wanted = (waiting as usize).min(settings::workers().max(1));
    worker::launch_queue_runners(&database.unwrap_or_default(), wanted) as i32
}
