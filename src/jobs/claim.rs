//! Claiming the queue's next job: the oldest export that is queued, or
//! `processing` with nobody holding its lock (its runner died). Each running
//! job holds a session advisory lock, so no job runs twice and a crashed
//! one is found again.

use serde_json::Value;

use crate::pg::spi;
use crate::store;

/// First key of the two-key advisory locks that mark a job as running ("EXPT").
const JOB_LOCK_SPACE: i32 = 0x4558_5054;

/// How many queued exports one claim considers.
const CANDIDATES: i64 = 32;

pub struct ClaimedJob {
    pub export_id: String,
    pub config: Value,
    pub db_role: String,
    pub jwt_claims: String,
    pub attempts: i32,
}

fn try_lock(export_id: &str) -> bool {
    spi::read_one::<bool>(
        "locking a job",
        "SELECT pg_catalog.pg_try_advisory_lock($1, pg_catalog.hashtext($2))",
        &[JOB_LOCK_SPACE.into(), export_id.into()],
    )
    .unwrap_or(false)
}

/// Release a job's lock once its run has ended.
pub fn unlock(export_id: &str) {
    spi::read_one::<bool>(
        "unlocking a job",
        "SELECT pg_catalog.pg_advisory_unlock($1, pg_catalog.hashtext($2))",
        &[JOB_LOCK_SPACE.into(), export_id.into()],
    );
}

/// Claim the oldest runnable job in this database. Runs in the caller's
/// transaction; the claim (and its advisory lock) must be committed before
/// the job runs.
pub fn claim_next() -> Option<ClaimedJob> {
    let export_id = store::logs::lock_claimable(CANDIDATES)
        .into_iter()
        .find(|export_id| try_lock(export_id))?;
    let config = store::logs::set_processing(&export_id);
    let identity = store::jobs::start_attempt(&export_id);
    // Parts of an earlier, interrupted run.
    store::files::delete_parts(&export_id);
    Some(ClaimedJob {
        export_id,
        config,
        db_role: identity.db_role,
        jwt_claims: identity.jwt_claims,
        attempts: identity.attempts,
    })
}
