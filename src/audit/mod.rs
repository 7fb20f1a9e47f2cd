//! The audit trail around the log the store keeps: the server-log lines no
//! rollback erases, the hot-standby refusal, the export history's filter,
//! and the per-user rate limit.

pub mod history;
pub mod rate_limit;
pub mod record;
