//! Saved exports: named configs per owner, for one-click and scheduled
//! exports (`{"saved": name}`, `{"saved": name, "since": "last"}`).

use pgrx::JsonB;
use pgrx::prelude::*;

use crate::export::saved_exports;
use crate::pg::jsonb_arg::ConfigJson;

/// Create or replace your saved export `name`; the config is validated as an
/// export's. Returns the saved export.
#[pg_extern(volatile, parallel_unsafe)]
fn save_export(name: &str, config: ConfigJson) -> JsonB {
    JsonB(saved_exports::save(
        name,
        config.into_value("the saved export's config"),
    ))
}

/// Your saved exports by name, each with its config and its increments.
#[pg_extern(stable, parallel_unsafe)]
fn saved_exports() -> JsonB {
    JsonB(saved_exports::listed())
}

/// Drop your saved export `name` with its checkpoints and history; whether
/// there was one.
#[pg_extern(volatile, parallel_unsafe)]
fn drop_saved_export(name: &str) -> bool {
    saved_exports::drop(name)
}
