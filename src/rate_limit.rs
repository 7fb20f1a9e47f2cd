//! At most `export_system.rate_limit` exports per signed-in user per hour,
//! counted from the audit log (so a rolled-back export never counts, and a
//! preview, which is not audited, never does). Superusers and roles that
//! bypass RLS (Supabase's service_role) are exempt, as are callers without a
//! JWT identity (psql, pg_cron).

use pgrx::PgSqlErrorCode;
use pgrx::prelude::*;

use crate::audit::Identity;
use crate::error::UserError;
use crate::settings;

/// Raise SQLSTATE 53400 if the caller has used up this hour's exports.
pub fn check(identity: &Identity) {
    let (Some(limit), Some(user_id)) = (settings::rate_limit(), identity.user_id.as_ref()) else {
        return;
    };
    let (exempt, used, next_allowed) = Spi::get_three_with_args::<bool, i64, String>(
        "SELECT (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r \
                 WHERE r.rolname = current_user), \
                (SELECT count(*) FROM export_system.export_logs \
                 WHERE user_id = $1::uuid AND \"timestamp\" > now() - interval '1 hour'), \
                (SELECT pg_catalog.to_char((\"timestamp\" + interval '1 hour') AT TIME ZONE 'UTC', \
                                           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                 FROM export_system.export_logs \
                 WHERE user_id = $1::uuid AND \"timestamp\" > now() - interval '1 hour' \
                 ORDER BY \"timestamp\" DESC OFFSET $2 - 1 LIMIT 1)",
        &[user_id.clone().into(), limit.into()],
    )
    .unwrap_or_else(|e| panic!("checking the export rate limit failed: {e}"));
    if exempt.unwrap_or(false) || used.unwrap_or(0) < limit {
        return;
    }
    UserError {
        code: PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
        message: format!(
            "export rate limit reached: {} exports in the last hour, at most {limit} allowed",
            used.unwrap_or(0)
        ),
        hint: format!(
            "The next export is allowed at {} (export_system.rate_limit exports per rolling hour). Previews do not count.",
            next_allowed.unwrap_or_default()
        ),
    }
    .raise()
}
