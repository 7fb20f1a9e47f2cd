//! The final state of one export, as its audit row records it.

use serde_json::Value;

use crate::model::ExportStatus;

/// The final state of one export, as recorded.
#[derive(Debug, Clone)]
pub struct AuditRecord<'a> {
    pub export_id: String,
    pub kind: &'static str,
    pub format: &'static str,
    pub config: &'a Value,
    pub status: ExportStatus,
    pub conversation_count: i64,
    pub skipped_count: i64,
    pub file_size: i64,
    pub duration_ms: i64,
    pub error_message: Option<String>,
    /// Values redacted per kind of personal data; None when none was asked.
    pub redactions: Option<Value>,
}
