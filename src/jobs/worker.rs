//! Background workers. With the library in `shared_preload_libraries`,
//! `export_system.workers` resident workers serve `export_system.database`:
//! they run queued exports, and the first one also runs the cleanup on its
//! interval. `run_queued_exports()` starts short-lived workers that empty one
//! database's queue and exit, for hosts that cannot preload the library.

use std::time::{Duration, Instant};

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;

use crate::jobs::run::{self, Outcome};
use crate::jobs::{claim, retention};
use crate::pg::guc::{PINNED_SEARCH_PATH, set_guc};
use crate::pg::transaction;
use crate::pg::worker_slots;
use crate::pg::{backend, identity};
use crate::settings;

/// `bgw_main_arg` of a worker that exits once its database's queue is empty.
const DRAIN_AND_EXIT: i32 = -1;

const RESTART_AFTER: Duration = Duration::from_secs(5);

/// Called from `_PG_init` during `shared_preload_libraries` processing.
pub fn register_resident_workers() {
    worker_slots::reserve();
    for index in 0..settings::workers() {
        BackgroundWorkerBuilder::new(&format!("export_system worker {index}"))
            .set_type("export_system worker")
            .set_library("export_system")
            .set_function("export_system_worker_main")
            .set_argument(Some(pg_sys::Datum::from(index as i32)))
            .enable_spi_access()
            .set_restart_time(Some(RESTART_AFTER))
            .load();
    }
}

/// Start up to `count` workers that run `database`'s queued exports and exit.
pub fn launch_queue_runners(database: &str, count: usize) -> usize {
    (0..count)
        .take_while(|_| {
            BackgroundWorkerBuilder::new("export_system queue runner")
                .set_type("export_system worker")
                .set_library("export_system")
                .set_function("export_system_worker_main")
                .set_argument(Some(pg_sys::Datum::from(DRAIN_AND_EXIT)))
                .set_extra(database)
                .enable_spi_access()
                .set_restart_time(None)
                .load_dynamic()
                .map_err(|e| pgrx::warning!("export_system: no background worker slot free: {e:?}"))
                .is_ok()
        })
        .count()
}

/// Wake the resident workers now (called when a queuing transaction commits).
pub fn wake_workers() {
    worker_slots::wake_all();
}

/// Installed here, with a schema that is its own (a worker runs as the
/// bootstrap superuser, so it must never follow a name another role controls).
fn extension_installed() -> bool {
    transaction::run(identity::extension_is_intact).unwrap_or(false)
}

fn reload_config_if_asked() {
    if BackgroundWorker::sighup_received() {
        backend::reload_config_file();
    }
}

/// Run queued jobs until none is left; false when asked to shut down.
fn run_queue() -> bool {
    loop {
        reload_config_if_asked();
        if BackgroundWorker::sigterm_received() {
            return false;
        }
        let claimed = match transaction::run(claim::claim_next) {
            Ok(claimed) => claimed,
            Err(failure) => {
                pgrx::warning!("export_system: claiming a job failed: {}", failure.message);
                // A lock taken by the failed claim would make its job look busy.
                let _ = transaction::run(|| Spi::run("SELECT pg_catalog.pg_advisory_unlock_all()"));
                return true;
            }
        };
        let Some(claimed) = claimed else {
            return true;
        };
        if let Outcome::Interrupted = run::run(claimed, BackgroundWorker::sigterm_received) {
            return false;
        }
    }
}

fn run_cleanup() {
    match transaction::run(retention::cleanup) {
        Ok(counts) => counts.log(),
        Err(failure) => pgrx::warning!("export_system: cleanup failed: {}", failure.message),
    }
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn export_system_worker_main(arg: pg_sys::Datum) {
    let index = arg.value() as i32;
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = if index == DRAIN_AND_EXIT {
        BackgroundWorker::get_extra().to_string()
    } else {
        settings::database()
    };
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    // Jobs and cleanup resolve names only in pg_catalog: no schema a tenant
    // can write is ever on this process's path.
    set_guc(
        "search_path",
        PINNED_SEARCH_PATH,
        pg_sys::GucAction::GUC_ACTION_SET,
    );
    let slot = usize::try_from(index).ok();
    if let Some(slot) = slot {
        worker_slots::claim(slot);
    }
    pgrx::log!("export_system: worker started for database \"{database}\"");
    // Due at start, then every cleanup_interval after the last run; computed
    // afresh each time, so a reload that shortens the interval applies at once.
    let mut last_cleanup: Option<Instant> = None;
    let cleanup_due = |last: Option<Instant>| last.map(|at| at + settings::cleanup_interval());
    loop {
        reload_config_if_asked();
        // A hot standby writes nothing: its workers wait until it is promoted.
        if !backend::in_recovery() && extension_installed() {
            if !run_queue() {
                break;
            }
            if index == 0 && cleanup_due(last_cleanup).is_none_or(|due| Instant::now() >= due) {
                run_cleanup();
                last_cleanup = Some(Instant::now());
            }
        }
        if index == DRAIN_AND_EXIT {
            break;
        }
        let mut timeout = settings::poll_interval();
        if let (0, Some(due)) = (index, cleanup_due(last_cleanup)) {
            timeout = timeout.min(due.saturating_duration_since(Instant::now()));
        }
        if !BackgroundWorker::wait_latch(Some(timeout)) {
            break;
        }
    }
    pgrx::log!("export_system: worker for database \"{database}\" shutting down");
    if let Some(slot) = slot {
        worker_slots::release(slot);
        // Exit status 0 would unregister a resident worker for good; with 1 the
        // postmaster starts it again after pg_terminate_backend() or a dropped
        // database (at server shutdown nothing is restarted either way).
        backend::exit(1);
    }
}
