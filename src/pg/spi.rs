//! Reading with SPI. A read is run with `Spi::connect` and `select`, never
//! `Spi::get_one` and friends: those mark the transaction as writing, which
//! assigns a transaction id — a cost for nothing on a primary, and an error
//! on a hot standby. A failure is raised with its SQLSTATE and what was being
//! read, never as a panic.

use pgrx::datum::{DatumWithOid, FromDatum, IntoDatum};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::{SpiResult, SpiTupleTable};
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// Raise an SPI failure as an internal error naming what was being done.
pub fn fail(what: &str, error: impl std::fmt::Display) -> ! {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        format!("export_system: {what} failed: {error}"),
        "export_system",
    )
    .report(PgLogLevel::ERROR);
    unreachable!("ereport(ERROR) returned")
}

/// The first row of a read-only query, decoded by `decode`; None without rows.
fn read_first<R>(
    what: &str,
    sql: &str,
    args: &[DatumWithOid],
    decode: impl FnOnce(&SpiTupleTable) -> SpiResult<R>,
) -> Option<R> {
    Spi::connect(|client| {
        let table = client.select(sql, Some(1), args)?;
        if table.is_empty() {
            return Ok(None);
        }
        decode(&table.first()).map(Some)
    })
    .unwrap_or_else(|error| fail(what, error))
}

/// The first column of the first row (None without rows or for NULL).
pub fn read_one<A: FromDatum + IntoDatum>(
    what: &str,
    sql: &str,
    args: &[DatumWithOid],
) -> Option<A> {
    read_first(what, sql, args, |row| row.get_one::<A>()).flatten()
}

/// The first two columns of the first row.
pub fn read_two<A: FromDatum + IntoDatum, B: FromDatum + IntoDatum>(
    what: &str,
    sql: &str,
    args: &[DatumWithOid],
) -> (Option<A>, Option<B>) {
    read_first(what, sql, args, |row| row.get_two::<A, B>()).unwrap_or((None, None))
}

/// The first three columns of the first row.
pub fn read_three<A, B, C>(
    what: &str,
    sql: &str,
    args: &[DatumWithOid],
) -> (Option<A>, Option<B>, Option<C>)
where
    A: FromDatum + IntoDatum,
    B: FromDatum + IntoDatum,
    C: FromDatum + IntoDatum,
{
    read_first(what, sql, args, |row| row.get_three::<A, B, C>()).unwrap_or((None, None, None))
}
