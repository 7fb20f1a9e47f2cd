//! User-facing errors: a SQLSTATE, a message naming what was wrong, and a hint
//! saying what would be right. Raised through Postgres's own ereport, so they
//! abort the statement (and with it any audit row) like any SQL error.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// A rejected request, carried as a value until it is reported.
#[derive(Debug, Clone, PartialEq)]
pub struct UserError {
    pub code: PgSqlErrorCode,
    pub message: String,
    pub hint: String,
}

impl UserError {
    pub fn invalid_parameter(message: impl Into<String>, hint: impl Into<String>) -> Self {
        UserError {
            code: PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// Raise as an ERROR; never returns.
    pub fn raise(self) -> ! {
        ErrorReport::new(self.code, self.message, "export_system")
            .set_hint(self.hint)
            .report(PgLogLevel::ERROR);
        unreachable!("ereport(ERROR) returned")
    }
}

/// Unwrap a user-facing result or raise its error.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, UserError> {
    fn or_raise(self) -> T {
        self.unwrap_or_else(|error| error.raise())
    }
}
