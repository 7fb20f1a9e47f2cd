//! Every export status and every transition between them:
//!
//! ```text
//! streamed:    (none) ──▶ completed | cancelled          (one INSERT, in the caller's transaction)
//! background:  (none) ──▶ queued ──▶ processing ──▶ completed ──▶ expired
//!                          │            ├──▶ failed
//!                          └────────────┴──▶ cancelled
//! ```
//! `store::logs` holds the one statement for each transition.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportStatus {
    Queued,
    Processing,
    Completed,
    Failed,
    Expired,
    Cancelled,
}

impl ExportStatus {
    pub const ALL: [ExportStatus; 6] = [
        ExportStatus::Queued,
        ExportStatus::Processing,
        ExportStatus::Completed,
        ExportStatus::Failed,
        ExportStatus::Expired,
        ExportStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Queued => "queued",
            ExportStatus::Processing => "processing",
            ExportStatus::Completed => "completed",
            ExportStatus::Failed => "failed",
            ExportStatus::Expired => "expired",
            ExportStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<ExportStatus> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// A queued or running export can still be cancelled.
    pub fn can_be_cancelled(self) -> bool {
        matches!(self, ExportStatus::Queued | ExportStatus::Processing)
    }

    /// An export that ended without a file to download can be run again.
    pub fn can_be_retried(self) -> bool {
        matches!(
            self,
            ExportStatus::Failed | ExportStatus::Cancelled | ExportStatus::Expired
        )
    }
}
