//! What an export's audit row says about it besides its counts.

use serde_json::Value;

/// The kind (`conversations` or `query`), the format, and the normalized
/// config as the audit row records it.
pub struct ExportDescription {
    pub kind: &'static str,
    pub format: &'static str,
    pub config: Value,
}
