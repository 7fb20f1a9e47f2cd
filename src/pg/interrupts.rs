//! Work on one value stops when asked. A cancel, a `statement_timeout` or a
//! terminating backend only takes effect where the code checks for it, so
//! every loop over the bytes of one value (counting tokens, hashing,
//! escaping) checks after each `PIECE_BYTES` it has worked through: a
//! check costs a load of one global, a piece takes well under a millisecond.

/// Bytes of one value worked on between two checks (a power of two).
pub const PIECE_BYTES: usize = 64 * 1024;

use std::cell::Cell;

thread_local! {
    /// Set on the threads `pg::threads` runs beside the backend: they never
    /// touch PostgreSQL, so their loops leave interrupts to the backend.
    static BESIDE_THE_BACKEND: Cell<bool> = const { Cell::new(false) };
}

/// Mark the current thread as one beside the backend (`pg::threads`).
pub(super) fn mark_beside_the_backend() {
    BESIDE_THE_BACKEND.set(true);
}

/// Raise the pending cancel or timeout, if any (on the backend's thread).
#[cfg(not(test))]
pub fn check() {
    if !BESIDE_THE_BACKEND.get() {
        pgrx::check_for_interrupts!();
    }
}

/// Unit tests run outside a backend, where there is nothing to check.
#[cfg(test)]
pub fn check() {}

/// Whether a cancel, timeout or termination waits to be acted on, without
/// acting on it: for the backend while threads beside it work.
#[cfg(not(test))]
pub fn pending() -> bool {
    // SAFETY: a read of a sig_atomic_t the backend's signal handlers set,
    // as INTERRUPTS_PENDING_CONDITION() reads it.
    unsafe { pgrx::pg_sys::InterruptPending != 0 }
}

#[cfg(test)]
pub fn pending() -> bool {
    false
}

/// Checks for interrupts as work on a value goes on: `spend` the bytes each
/// step took, and it checks whenever `PIECE_BYTES` have been spent since the
/// last check.
#[derive(Default)]
pub struct InterruptBudget {
    unchecked: usize,
}

impl InterruptBudget {
    pub fn spend(&mut self, bytes: usize) {
        self.unchecked += bytes;
        if self.unchecked >= PIECE_BYTES {
            self.unchecked = 0;
            check();
        }
    }
}
