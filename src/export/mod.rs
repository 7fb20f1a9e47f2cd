//! The one export pipeline: the source portal (query building + typed
//! decoding), the pipeline that turns batches into a file's rows, and the
//! set-returning stream with its early stop. Shared by streaming, background
//! jobs and preview.

pub mod json_text;
pub mod pipeline;
pub mod preview;
pub mod query;
pub mod registry;
pub mod row_security;
pub mod scope_counts;
pub mod source;
pub mod stream;
