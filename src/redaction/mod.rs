//! Personal data redacted at export: recognizers for Presidio's pattern
//! entities (`recognizers`), and the replacement of what they find in every text
//! of a conversation, with counts per entity (`redactor`).

mod json_strings;
mod recognizers;
mod redactor;

pub use redactor::Redactor;
