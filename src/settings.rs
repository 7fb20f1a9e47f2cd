//! The extension's settings (GUCs). Worker layout is fixed at server start;
//! intervals and retention are re-read on SIGHUP (`pg_reload_conf()`).

use std::ffi::CString;
use std::time::Duration;

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Upper bound of `export_system.workers`; also sizes the shared wake-up table.
pub const MAX_WORKERS: usize = 16;

static DATABASE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"postgres"));
static WORKERS: GucSetting<i32> = GucSetting::<i32>::new(1);
static POLL_INTERVAL_S: GucSetting<i32> = GucSetting::<i32>::new(10);
static CLEANUP_INTERVAL_S: GucSetting<i32> = GucSetting::<i32>::new(3600);
static FILE_TTL_S: GucSetting<i32> = GucSetting::<i32>::new(24 * 3600);
static LOG_RETENTION_S: GucSetting<i32> = GucSetting::<i32>::new(30 * 24 * 3600);
static ASYNC_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(500);
static RATE_LIMIT: GucSetting<i32> = GucSetting::<i32>::new(10);
static JOB_TIMEOUT_S: GucSetting<i32> = GucSetting::<i32>::new(3600);
static JOB_TEMP_FILE_LIMIT_KB: GucSetting<i32> = GucSetting::<i32>::new(4 * 1024 * 1024);
static REDACT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// `preloading`: whether `shared_preload_libraries` is being processed; only
/// then may server-start settings be defined (a backend that loads the
/// library later would otherwise fail with FATAL).
pub fn register(preloading: bool) {
    if preloading {
        register_worker_layout();
    }
    register_reloadable();
}

fn register_worker_layout() {
    GucRegistry::define_string_guc(
        c"export_system.database",
        c"Database whose export queue the background workers serve.",
        c"Jobs queued in other databases are run by export_system.run_queued_exports().",
        &DATABASE,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"export_system.workers",
        c"Number of background export workers (0 disables them).",
        c"Needs export_system in shared_preload_libraries.",
        &WORKERS,
        0,
        MAX_WORKERS as i32,
        GucContext::Postmaster,
        GucFlags::default(),
    );
}

fn register_reloadable() {
    GucRegistry::define_int_guc(
        c"export_system.poll_interval",
        c"How often an idle worker looks for queued exports.",
        c"Queuing an export also wakes the workers at once.",
        &POLL_INTERVAL_S,
        1,
        24 * 3600,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"export_system.cleanup_interval",
        c"How often the first worker expires stored files and old audit rows.",
        c"",
        &CLEANUP_INTERVAL_S,
        1,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"export_system.file_ttl",
        c"How long a finished background export can be downloaded.",
        c"",
        &FILE_TTL_S,
        1,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"export_system.log_retention",
        c"Audit rows older than this are deleted by the cleanup (0 keeps them forever).",
        c"",
        &LOG_RETENTION_S,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"export_system.job_timeout",
        c"Longest run of one background export (0 = no limit).",
        c"Workers have no client statement, so statement_timeout never applies to them.",
        &JOB_TIMEOUT_S,
        0,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"export_system.job_temp_file_limit",
        c"temp_file_limit of a background export's run (-1 = no limit).",
        c"",
        &JOB_TEMP_FILE_LIMIT_KB,
        -1,
        i32::MAX,
        GucContext::Sighup,
        GucFlags::UNIT_KB,
    );
    register_export_limits();
}

/// What every export may do: its size in one call, how often, and the
/// personal data it must redact at least.
fn register_export_limits() {
    GucRegistry::define_int_guc(
        c"export_system.async_threshold",
        c"Largest synchronous export, in conversations, for callers with a JWT identity (0 = no limit).",
        c"Larger exports must go through export_system.queue_export().",
        &ASYNC_THRESHOLD,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"export_system.redact",
        c"Kinds of personal data every export redacts, at least: all, or names separated by commas.",
        c"email_address, phone_number, credit_card, iban_code, ip_address, secret. A config or preference may add to it, never remove.",
        &REDACT,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"export_system.rate_limit",
        c"Exports a signed-in user may start per hour (0 = no limit).",
        c"Counted from the audit log; superusers and roles with BYPASSRLS (service_role) are exempt.",
        &RATE_LIMIT,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
}

pub fn database() -> String {
    DATABASE
        .get()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "postgres".into())
}

pub fn workers() -> usize {
    WORKERS.get().max(0) as usize
}

pub fn poll_interval() -> Duration {
    Duration::from_secs(POLL_INTERVAL_S.get() as u64)
}

pub fn cleanup_interval() -> Duration {
    Duration::from_secs(CLEANUP_INTERVAL_S.get() as u64)
}

pub fn file_ttl_seconds() -> i32 {
    FILE_TTL_S.get()
}

pub fn log_retention_seconds() -> i32 {
    LOG_RETENTION_S.get()
}

/// None when background jobs may run as long as they need.
pub fn job_timeout() -> Option<Duration> {
    let seconds = JOB_TIMEOUT_S.get();
    (seconds > 0).then(|| Duration::from_secs(seconds as u64))
}

/// In kB; -1 for no limit.
pub fn job_temp_file_limit_kb() -> i32 {
    JOB_TEMP_FILE_LIMIT_KB.get()
}

/// None when synchronous exports are not limited.
pub fn async_threshold() -> Option<i64> {
    let threshold = ASYNC_THRESHOLD.get();
    (threshold > 0).then_some(threshold as i64)
}

/// None when exports are not rate limited.
pub fn rate_limit() -> Option<i64> {
    let limit = RATE_LIMIT.get();
    (limit > 0).then_some(limit as i64)
}

/// The owner's minimum of kinds of personal data to redact, as set ("" for none).
pub fn redact_minimum() -> String {
    REDACT
        .get()
        .map(|setting| setting.to_string_lossy().into_owned())
        .unwrap_or_default()
}
