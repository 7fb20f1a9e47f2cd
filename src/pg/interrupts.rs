//! Work on one value stops when asked. A cancel, a `statement_timeout` or a
//! terminating backend only takes effect where the code checks for it, so
//! every loop over the bytes of one value (counting tokens, hashing,
//! escaping) checks after each `PIECE_BYTES` it has worked through: a
//! check costs a load of one global, a piece takes well under a millisecond.

/// Bytes of one value worked on between two checks (a power of two).
pub const PIECE_BYTES: usize = 64 * 1024;

/// Raise the pending cancel or timeout, if any.
#[cfg(not(test))]
pub fn check() {
    pgrx::check_for_interrupts!();
}

/// Unit tests run outside a backend, where there is nothing to check.
#[cfg(test)]
pub fn check() {}

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
