//! export_system: export reviewed chat conversations as LoRA fine-tuning data,
//! inside PostgreSQL, audited and under the caller's Row Level Security.
//!
//! `api` is the SQL API; `export` the one pipeline (source → formats → audit)
//! shared by streaming, jobs and preview; `formats` bytes only; `jobs` the
//! background exports; `audit` the log and its status lifecycle; `pg` every
//! unsafe use of the backend's internals.

use pgrx::prelude::*;

mod api;
mod audit;
mod config;
mod error;
mod export;
mod formats;
mod jobs;
mod pg;
mod settings;
mod sql_args;
#[cfg(any(test, feature = "pg_test"))]
mod tests;

::pgrx::pg_module_magic!(name, version);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    let preloading = pg::backend::preloading();
    settings::register(preloading);
    if preloading {
        jobs::worker::register_resident_workers();
    }
}

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!(
    "../sql/workspace.sql",
    name = "workspace",
    requires = ["schema"]
);
extension_sql_file!("../sql/grants.sql", name = "grants", finalize);

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        // Preloaded as in production: GUCs defined, resident worker registered
        // (it idles: the tests' database is not export_system.database).
        vec!["shared_preload_libraries = 'export_system'"]
    }
}
