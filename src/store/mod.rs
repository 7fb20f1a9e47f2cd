//! The one store of the extension's own tables — `export_logs`,
//! `export_jobs`, `export_files`, `export_preferences`, `source` and the
//! saved exports' (`saved_exports`): the
//! only code that runs SQL against them (long statements live in
//! `sql/store/*.sql`). Writes run as the extension's owner with search_path
//! pinned (`as_extension_owner`), the way a SECURITY DEFINER function would;
//! reads that Row Level Security scopes to the caller (their history, their
//! exports, their files) run as the caller, with search_path pinned
//! (`as_caller`). Both first check that the name `export_system` leads to
//! the extension's own schema.

pub mod files;
pub mod history;
pub mod jobs;
pub mod logs;
pub mod preferences;
pub mod saved_exports;
pub mod source;

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

use crate::pg::guc::with_pinned_search_path;
use crate::pg::identity::{as_extension_owner, check_extension_schema};
use crate::pg::spi;

/// Run a read of the extension's tables as the caller, with search_path
/// pinned, once the schema its SQL names is checked to be the extension's.
fn as_caller<R>(read: impl FnOnce() -> R) -> R {
    check_extension_schema();
    with_pinned_search_path(read)
}

/// Run a writing statement as the extension's owner; returns the rows it touched.
fn write(what: &str, sql: &str, args: &[DatumWithOid]) -> usize {
    as_extension_owner(|| {
        Spi::connect_mut(|client| client.update(sql, None, args).map(|table| table.len()))
            .unwrap_or_else(|error| spi::fail(what, error))
    })
}
