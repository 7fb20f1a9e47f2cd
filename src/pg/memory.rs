//! Running a piece of work in a memory context of its own.

use pgrx::PgMemoryContexts;

/// Run `read` in a fresh memory context deleted right after, so what
/// Postgres allocates for it (a detoasted value, say) is freed now rather
/// than with the whole statement. `read` must return only Rust-owned data.
pub fn in_own_context<R: 'static>(name: &str, read: impl FnOnce() -> R) -> R {
    let mut context = PgMemoryContexts::new(name);
    // SAFETY: nothing allocated in the context outlives it: `R: 'static`
    // holds no borrow of palloc'd memory, and the context is deleted when
    // dropped at the end of this function.
    unsafe { context.switch_to(|_| read()) }
}
