//! The resident workers' process ids, in shared memory, so a backend that
//! queues an export can wake them. The table exists only when the library
//! is preloaded (shared memory is sized at server start).

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use pgrx::prelude::*;
use pgrx::{PgAtomic, pg_shmem_init};

use crate::pg::backend;
use crate::settings::MAX_WORKERS;

// SAFETY: the name is unique to this extension, and the table is only
// touched after `reserve` registered it (guarded by PRELOADED below).
static WORKER_PIDS: PgAtomic<[AtomicI32; MAX_WORKERS]> =
    unsafe { PgAtomic::new(c"export_system_worker_pids") };

/// Set by `reserve`, in `_PG_init` when preloading.
static PRELOADED: AtomicBool = AtomicBool::new(false);

/// Ask for the table's shared memory; only while preloading.
pub fn reserve() {
    pg_shmem_init!(WORKER_PIDS);
    PRELOADED.store(true, Ordering::Relaxed);
}

/// Record this process as resident worker `index`.
pub fn claim(index: usize) {
    if PRELOADED.load(Ordering::Relaxed) {
        WORKER_PIDS.get()[index].store(backend::process_id(), Ordering::Relaxed);
    }
}

/// Resident worker `index` has stopped.
pub fn release(index: usize) {
    if PRELOADED.load(Ordering::Relaxed) {
        WORKER_PIDS.get()[index].store(0, Ordering::Relaxed);
    }
}

/// Set the latch of every resident worker that is running.
pub fn wake_all() {
    if !PRELOADED.load(Ordering::Relaxed) {
        return;
    }
    for slot in WORKER_PIDS.get() {
        let pid = slot.load(Ordering::Relaxed);
        if pid != 0 {
            backend::wake(pid);
        }
    }
}
