//! export_system: export reviewed chat conversations as LoRA fine-tuning data,
//! inside PostgreSQL, audited and under the caller's Row Level Security.
//!
//! Floors, each using only those below it (`tests::layers` checks it):
//! `model` (plain nouns), `error`, `sql_args`, `settings`; `pg` (every unsafe
//! use of the backend, SPI, identities); `config` (what an export asks for);
//! `store` (the only SQL on the extension's own tables); `source` (the
//! application's tables, registered and checked); `audit` (server-log trail,
//! history, rate limit); `formats` (bytes only) and `redaction` (personal
//! data replaced in a conversation's texts); `export` (the one pipeline,
//! shared by streaming, jobs and preview); `jobs` (background exports);
//! `api` (every SQL function).

use pgrx::prelude::*;

mod api;
mod audit;
mod config;
mod error;
mod export;
mod formats;
mod jobs;
mod model;
mod pg;
mod redaction;
mod settings;
mod source;
mod sql_args;
mod store;
#[cfg(any(test, feature = "pg_test"))]
mod tests;
mod training;

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
    "../sql/continuous.sql",
    name = "continuous",
    requires = ["schema"]
);
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
