//! Who the backend acts as: the caller's identity (database role and JWT
//! subject), and the one guard for changing it — the extension owner's
//! privileges, a background job's owner, a read-only transaction. Whatever a
//! guard changed it restores when dropped — on every exit, early returns and
//! unwinding included — so no path can leave a worker running as a job's
//! owner or a session as the extension's owner.

use pgrx::{PgSqlErrorCode, pg_sys};

use crate::error::UserError;
use crate::pg::guc::{PINNED_SEARCH_PATH, set_guc, with_pinned_search_path};
use crate::pg::spi;

/// Who runs an export, read once at its start.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The JWT subject (`export_system.current_user_id()`), if any.
    pub user_id: Option<String>,
    /// `current_user`: the database role that runs the export.
    pub db_role: String,
}

impl Identity {
    pub fn current() -> Identity {
        let (user_id, db_role) = with_pinned_search_path(|| {
            spi::read_two::<String, String>(
                "reading the caller's identity",
                // export_system.current_user_id()'s formula, inline: an
                // operator granted export_query alone needs no other grant.
                "SELECT COALESCE( \
                   NULLIF(pg_catalog.current_setting('request.jwt.claim.sub', true), ''), \
                   NULLIF(pg_catalog.current_setting('request.jwt.claims', true), '')::pg_catalog.jsonb \
                     OPERATOR(pg_catalog.->>) 'sub')::pg_catalog.uuid::text, \
                 current_user::text",
                &[],
            )
        });
        Identity {
            user_id,
            db_role: db_role.unwrap_or_default(),
        }
    }
}

/// The extension's owner and whether its schema is still its own: the
/// namespace the extension was created in (by OID), still named
/// `export_system`, owned by the extension's owner, and holding no CREATE
/// grant for another role. Everything the owner runs names the extension's
/// objects as `export_system.…`, so that name must lead to that namespace.
const EXTENSION_SQL: &str = "\
SELECT e.extowner,
       n.oid IS NOT NULL
       AND n.nspname OPERATOR(pg_catalog.=) 'export_system'::pg_catalog.name
       AND n.nspowner OPERATOR(pg_catalog.=) e.extowner
       AND NOT EXISTS (SELECT FROM pg_catalog.aclexplode(n.nspacl) a
                       WHERE a.grantee OPERATOR(pg_catalog.<>) n.nspowner
                         AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE')
FROM pg_catalog.pg_extension e
LEFT JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
WHERE e.extname OPERATOR(pg_catalog.=) 'export_system'::pg_catalog.name";

/// The extension's owner, once its schema is checked to be the extension's
/// own (see `EXTENSION_SQL`): a schema another role owns, renamed or replaced
/// by a look-alike, could otherwise run that role's code with the owner's
/// privileges, or with a caller's.
fn checked_extension_owner() -> pg_sys::Oid {
    let (owner, schema_is_own) = with_pinned_search_path(|| {
        spi::read_two::<pg_sys::Oid, bool>("looking up the extension's owner", EXTENSION_SQL, &[])
    });
    let owner = owner.expect("the extension is installed");
    if schema_is_own != Some(true) {
        UserError {
            code: PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            message: "the schema named export_system is not the extension's own: it was renamed, replaced, is owned by another role than the extension's owner, or lets another role create objects in it".into(),
            hint: "export_system refuses to run until it is. Check what the schema holds, then have a superuser restore it (ALTER SCHEMA … RENAME / OWNER TO the extension's owner, REVOKE CREATE), or drop and reinstall the extension.".into(),
        }
        .raise();
    }
    owner
}

/// Raise unless the name `export_system` leads to the extension's own
/// schema: called before any SQL that names the extension's objects.
pub fn check_extension_schema() {
    checked_extension_owner();
}

/// Whether export_system is installed in this database with a schema that is
/// its own (for the background workers, which check before every round).
pub fn extension_is_intact() -> bool {
    with_pinned_search_path(|| {
        spi::read_two::<pg_sys::Oid, bool>("looking for the extension", EXTENSION_SQL, &[])
    })
    .1
    .unwrap_or(false)
}

/// Run `work` as the extension's owner with search_path pinned, the way a
/// SECURITY DEFINER function would; both are restored afterwards, on every
/// exit. Every change to the extension's own tables (audit rows, jobs,
/// stored files, preferences, the source) goes through here.
pub fn as_extension_owner<R>(work: impl FnOnce() -> R) -> R {
    let _owner = IdentityGuard::as_owner(checked_extension_owner());
    work()
}

pub struct IdentityGuard {
    /// The user id and security context to restore, when switched.
    saved_user: Option<(pg_sys::Oid, i32)>,
    /// The GUC nest level holding the pinned search_path, when pinned.
    guc_nest_level: Option<i32>,
    /// Whether a job's JWT claims were set (and must be cleared).
    claims_set: bool,
    /// The transaction's read-only flag to restore, when forced.
    saved_read_only: Option<bool>,
}

impl IdentityGuard {
    fn none() -> IdentityGuard {
        IdentityGuard {
            saved_user: None,
            guc_nest_level: None,
            claims_set: false,
            saved_read_only: None,
        }
    }

    fn switch_user(&mut self, role: pg_sys::Oid, extra_context: u32) {
        let mut user = pg_sys::InvalidOid;
        let mut context = 0;
        // SAFETY: the switch fmgr_security_definer makes; Drop restores it.
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
            pg_sys::SetUserIdAndSecContext(role, context | extra_context as i32);
        }
        self.saved_user = Some((user, context));
    }

    /// Act as `owner` the way a SECURITY DEFINER function does: a restricted
    /// operation, with search_path pinned to `pg_catalog, pg_temp`.
    pub fn as_owner(owner: pg_sys::Oid) -> IdentityGuard {
        let mut guard = IdentityGuard::none();
        // SAFETY: a GUC nest level, closed by Drop.
        guard.guc_nest_level = Some(unsafe { pg_sys::NewGUCNestLevel() });
        set_guc(
            "search_path",
            PINNED_SEARCH_PATH,
            pg_sys::GucAction::GUC_ACTION_SAVE,
        );
        guard.switch_user(
            owner,
            pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION,
        );
        guard
    }

    /// Act as a background job's owner, with the JWT claims it was queued
    /// with, across the job's transactions: Row Level Security then sees
    /// exactly what the owner would.
    pub fn as_job_owner(role: pg_sys::Oid, jwt_claims: &str) -> IdentityGuard {
        let mut guard = IdentityGuard::none();
        guard.switch_user(role, pg_sys::SECURITY_LOCAL_USERID_CHANGE);
        set_guc(
            "request.jwt.claim.sub",
            "",
            pg_sys::GucAction::GUC_ACTION_SET,
        );
        set_guc(
            "request.jwt.claims",
            jwt_claims,
            pg_sys::GucAction::GUC_ACTION_SET,
        );
        guard.claims_set = true;
        guard
    }

    /// Mark the transaction read-only: every write path (DML, DDL, nextval,
    /// …) checks `XactReadOnly`, which is what `SET transaction_read_only` sets.
    pub fn read_only() -> IdentityGuard {
        let mut guard = IdentityGuard::none();
        // SAFETY: a backend global, restored by Drop.
        unsafe {
            guard.saved_read_only = Some(pg_sys::XactReadOnly);
            pg_sys::XactReadOnly = true;
        }
        guard
    }
}

impl Drop for IdentityGuard {
    fn drop(&mut self) {
        // SAFETY: each restores exactly what the constructor saved, in
        // reverse order of the changes.
        unsafe {
            if let Some(read_only) = self.saved_read_only {
                pg_sys::XactReadOnly = read_only;
            }
            if let Some((user, context)) = self.saved_user {
                pg_sys::SetUserIdAndSecContext(user, context);
            }
            if let Some(level) = self.guc_nest_level {
                pg_sys::AtEOXact_GUC(true, level);
            }
        }
        if self.claims_set {
            set_guc("request.jwt.claims", "", pg_sys::GucAction::GUC_ACTION_SET);
        }
    }
}
