//! The one export pipeline: the conversation query (SQL building + typed
//! decoding), the pipeline that turns batches into a file's rows, and the
//! set-returning stream with its early stop. Shared by streaming, background
//! jobs and preview; the operator's query export streams through it too.

mod continuation;
pub mod conversation_query;
pub mod conversation_reader;
mod example_selection;
mod increment_window;
pub mod json_text;
pub mod operator_query;
pub mod pipeline;
pub mod preferences;
pub mod preview;
mod saved_config;
pub mod saved_exports;
pub mod saved_run;
pub mod scope_counts;
pub mod stream;
pub mod training_report;
