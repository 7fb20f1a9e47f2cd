//! At most `export_system.rate_limit` exports per signed-in user per hour,
//! counted from the audit log (so a rolled-back export never counts, and a
//! preview, which is not audited, never does). Superusers and roles that
//! bypass RLS (Supabase's service_role) are exempt, as are callers without a
//! JWT identity (psql, pg_cron).
//!
//! The check is serialised per user by a transaction-level advisory lock, held
//! until the export's transaction ends: a concurrent export of the same user
//! waits for it and then counts its audit row, so parallel calls cannot all
//! pass a check none of them has been counted in yet.

use pgrx::PgSqlErrorCode;

use crate::error::UserError;
use crate::pg::guc::with_pinned_search_path;
use crate::pg::identity::Identity;
use crate::pg::spi;
use crate::settings;
use crate::store;

/// First key of the per-user rate-limit advisory locks ("RATE").
const RATE_LOCK_SPACE: i32 = 0x5241_5445;

/// Raise SQLSTATE 53400 if the caller has used up this hour's exports.
pub fn check(identity: &Identity) {
    let (Some(limit), Some(user_id)) = (settings::rate_limit(), identity.user_id.as_ref()) else {
        return;
    };
    let (exempt, used, next_allowed) = with_pinned_search_path(|| {
        let exempt = spi::read_one::<bool>(
            "checking the export rate limit",
            "SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r \
             WHERE r.rolname = current_user",
            &[],
        )
        .unwrap_or(false);
        if exempt {
            return (true, 0, None);
        }
        spi::read_one::<bool>(
            "locking the export rate limit",
            "SELECT true FROM pg_catalog.pg_advisory_xact_lock($1, pg_catalog.hashtext($2))",
            &[RATE_LOCK_SPACE.into(), user_id.clone().into()],
        );
        let (used, next_allowed) = store::logs::recent_exports(user_id, limit);
        (false, used, next_allowed)
    });
    if exempt || used < limit {
        return;
    }
    UserError {
        code: PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
        message: format!(
            "export rate limit reached: {used} exports in the last hour, at most {limit} allowed"
        ),
        hint: format!(
            "The next export is allowed at {} (export_system.rate_limit exports per rolling hour). Previews do not count.",
            next_allowed.unwrap_or_default()
        ),
    }
    .raise()
}
