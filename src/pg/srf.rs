//! A value-per-call set-returning function's early stop: the executor may
//! shut a call down before its last row (a `LIMIT`, a cursor closed
//! half-read, PostgREST's row cap). A hook on the call's ExprContext tells
//! the stream, so it can close what it opened and record what it delivered.

use std::cell::RefCell;
use std::rc::Rc;

use pgrx::PgMemoryContexts;
use pgrx::prelude::*;

/// What is told when the executor stops the call early.
pub trait EarlyStop {
    fn stop_early(&mut self);
}

type Shared = Rc<RefCell<dyn EarlyStop>>;

/// Our registration on the SRF's ExprContext.
pub struct ShutdownHook {
    econtext: *mut pg_sys::ExprContext,
    arg: pg_sys::Datum,
}

/// Register `target` to be told if this call is shut down before its end.
/// Call from the SRF's first call, whose current memory context is the
/// multi-call context (pgrx runs the first call in it).
pub fn on_early_shutdown(fcinfo: pg_sys::FunctionCallInfo, target: Shared) -> ShutdownHook {
    // SAFETY: fcinfo is this call's; as a set-returning function it carries a
    // ReturnSetInfo whose econtext outlives the multi-call memory context the
    // shared pointer is leaked into (and dropped with).
    unsafe {
        let result_info = (*fcinfo).resultinfo.cast::<pg_sys::ReturnSetInfo>();
        let econtext = (*result_info).econtext;
        let shared = PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(target);
        let arg = pg_sys::Datum::from(shared);
        pg_sys::RegisterExprContextCallback(econtext, Some(stopped_early), arg);
        ShutdownHook { econtext, arg }
    }
}

impl ShutdownHook {
    /// The call reached its end: no early stop will come.
    pub fn cancel(self) {
        // SAFETY: the same (econtext, function, arg) triple we registered.
        unsafe {
            pg_sys::UnregisterExprContextCallback(self.econtext, Some(stopped_early), self.arg)
        };
    }
}

/// The ExprContext shutdown callback: the caller stopped reading.
///
/// # Safety
/// Registered by `on_early_shutdown` with `arg` pointing at the leaked
/// `Rc<RefCell<dyn EarlyStop>>`, and called at most once, by Postgres.
#[pg_guard]
unsafe extern "C-unwind" fn stopped_early(arg: pg_sys::Datum) {
    // SAFETY: `arg` points at the Rc leaked into the SRF's multi-call memory
    // context, which outlives this callback (ours was registered after pgrx's
    // own shutdown callback, so it runs first).
    let target = unsafe { &*(arg.cast_mut_ptr::<Shared>()) };
    let Ok(mut target) = target.try_borrow_mut() else {
        return;
    };
    // Executor shutdown can run after the statement's snapshot was popped (a
    // portal dropped at the end of a query or at COMMIT); what the target
    // writes needs one.
    // SAFETY: balanced push/pop within this transaction.
    unsafe {
        let need_snapshot = !pg_sys::ActiveSnapshotSet();
        if need_snapshot {
            pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        }
        target.stop_early();
        if need_snapshot {
            pg_sys::PopActiveSnapshot();
        }
    }
}
