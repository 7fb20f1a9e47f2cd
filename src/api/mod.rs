//! The SQL API: every function the extension creates, one file per area.
//! Each is a thin `#[pg_extern]` over the subsystem that does the work.

mod export;
mod jobs;
mod saved;
mod source;
mod workspace;
