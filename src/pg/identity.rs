//! Guards that change what the current backend may do, undone on drop.

use pgrx::pg_sys;

/// Marks the transaction read-only while alive; restores the previous flag
/// on every exit, unwinding included.
pub struct ReadOnlyGuard(bool);

impl ReadOnlyGuard {
    pub fn enter() -> ReadOnlyGuard {
        // SAFETY: XactReadOnly is what `SET transaction_read_only` sets; every
        // write path (DML, DDL, nextval, …) checks it when it runs.
        unsafe {
            let saved = pg_sys::XactReadOnly;
            pg_sys::XactReadOnly = true;
            ReadOnlyGuard(saved)
        }
    }
}

impl Drop for ReadOnlyGuard {
    fn drop(&mut self) {
        // SAFETY: restores the value saved in `enter`.
        unsafe { pg_sys::XactReadOnly = self.0 };
    }
}
