//! The application's conversation source: which of its relations hold the
//! conversations (and their turns) and which columns hold each field
//! (`resolve`), registered by an administrator (`registration`), and
//! checked to keep every caller to their own rows (`row_security`).

mod dependency_walk;
pub mod registration;
mod resolve;
pub mod row_security;

pub use resolve::{Source, SourceColumn, Turns};
