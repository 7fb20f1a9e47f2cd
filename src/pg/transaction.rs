//! Transactions for background workers, which have no client to start them:
//! each unit of work commits on its own, and an ERROR inside one rolls back
//! just that unit and comes back as a value instead of ending the process.

use std::panic::AssertUnwindSafe;

use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;

/// An ERROR (or panic) caught in a worker transaction, already rolled back.
#[derive(Debug, Clone)]
pub struct Failure {
    pub message: String,
}

fn describe(error: CaughtError) -> Failure {
    let report = match &error {
        CaughtError::PostgresError(report) | CaughtError::ErrorReport(report) => report,
        CaughtError::RustPanic { ereport, .. } => ereport,
    };
    let mut message = report.message().to_string();
    if let Some(hint) = report.hint() {
        message.push_str(" (");
        message.push_str(hint);
        message.push(')');
    }
    Failure { message }
}

/// Run `body` in a transaction of its own and commit it. An error anywhere,
/// commit included, aborts the transaction and is returned.
/// State `body` changed before a failure is the caller's to discard.
pub fn run<R>(body: impl FnOnce() -> R) -> Result<R, Failure> {
    // SAFETY: a background worker between transactions, as in worker_spi.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    let outcome = PgTryBuilder::new(AssertUnwindSafe(|| {
        let value = body();
        // SAFETY: the snapshot pushed above; commit ends the transaction we started.
        unsafe {
            pg_sys::PopActiveSnapshot();
            pg_sys::CommitTransactionCommand();
        }
        Ok(value)
    }))
    .catch_others(|error| Err(describe(error)))
    .execute();
    if outcome.is_err() {
        // SAFETY: releases everything the failed transaction held.
        unsafe { pg_sys::AbortCurrentTransaction() };
    }
    outcome
}
