//! The audit log: who exports (identity), the record and server-log trail,
//! every status transition, and the per-user rate limit.

pub mod history;
pub mod rate_limit;
pub mod record;
pub mod status;
