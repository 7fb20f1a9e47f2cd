//! The ground floor: plain nouns every other module shares — a conversation
//! and its turns, stored JSON carried verbatim, what an export is. Nothing
//! here runs SQL or depends on another module of the crate.

mod audit_record;
mod conversation;
mod export_description;
mod export_status;
mod stored_json;

pub use audit_record::AuditRecord;
pub use conversation::{Conversation, Turn};
pub use export_description::ExportDescription;
pub use export_status::ExportStatus;
pub use stored_json::StoredJson;
