//! Facts about this backend process, and what a background worker does to it.

use pgrx::pg_sys;

/// Whether `shared_preload_libraries` is being processed (only then may a
/// library register workers and shared memory).
pub fn preloading() -> bool {
    // SAFETY: a flag Postgres sets while loading shared_preload_libraries.
    unsafe { pg_sys::process_shared_preload_libraries_in_progress }
}

pub fn process_id() -> i32 {
    // SAFETY: MyProcPid is set for every backend before any library code runs.
    unsafe { pg_sys::MyProcPid }
}

/// Re-read postgresql.conf, as every Postgres process does on SIGHUP.
pub fn reload_config_file() {
    // SAFETY: called between transactions, as the postmaster's children do.
    unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
}

/// Set the latch of backend `pid`, if it is alive.
pub fn wake(pid: i32) {
    // SAFETY: BackendPidGetProc takes ProcArrayLock; the PGPROC it returns
    // stays valid while the process lives, and setting a dead latch is harmless.
    unsafe {
        let proc = pg_sys::BackendPidGetProc(pid);
        if !proc.is_null() {
            pg_sys::SetLatch(&raw mut (*proc).procLatch);
        }
    }
}

/// End this process with `status`, the way Postgres's own exits do.
pub fn exit(status: i32) -> ! {
    // SAFETY: proc_exit runs the process's exit callbacks and never returns.
    unsafe { pg_sys::proc_exit(status) };
    // PostgreSQL 18 declares proc_exit with a noreturn attribute that the
    // bindings do not carry over.
    #[cfg(feature = "pg18")]
    unreachable!("proc_exit returned")
}

/// Whether this server is a hot standby (replaying WAL): it reads, never writes.
pub fn in_recovery() -> bool {
    // SAFETY: RecoveryInProgress reads shared memory under its own spinlock
    // and may be called from any backend at any time.
    unsafe { pg_sys::RecoveryInProgress() }
}
