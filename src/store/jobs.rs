//! `export_jobs`: the identity a queued export runs as, and its attempts.

use pgrx::prelude::*;

use crate::pg::identity::as_extension_owner;
use crate::pg::spi;

/// Who a job runs as, and how many runs it has had (this one included).
pub struct JobIdentity {
    pub db_role: String,
    pub jwt_claims: String,
    pub attempts: i32,
}

/// Count one more run of the job by this backend; returns who it runs as.
pub fn start_attempt(export_id: &str) -> JobIdentity {
    as_extension_owner(|| {
        Spi::connect_mut(|client| {
            client
                .update(
                    "UPDATE export_system.export_jobs \
                       SET attempts = attempts + 1, worker_pid = pg_catalog.pg_backend_pid() \
                     WHERE export_id = $1::uuid RETURNING db_role, jwt_claims::text, attempts",
                    None,
                    &[export_id.into()],
                )
                .and_then(|table| table.first().get_three::<String, String, i32>())
        })
        .map(|(db_role, jwt_claims, attempts)| JobIdentity {
            db_role: db_role.unwrap_or_default(),
            jwt_claims: jwt_claims.unwrap_or_else(|| "{}".into()),
            attempts: attempts.unwrap_or(1),
        })
        .unwrap_or_else(|error| spi::fail("claiming an export's job", error))
    })
}
