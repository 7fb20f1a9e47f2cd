//! Who the backend acts as: the caller's identity (database role and JWT
//! subject), and the one guard for changing it — the extension owner's
//! privileges, a background job's owner, a read-only transaction. Whatever a
//! guard changed it restores when dropped — on every exit, early returns and
//! unwinding included — so no path can leave a worker running as a job's
//! owner or a session as the extension's owner.

use pgrx::pg_sys;

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

/// The role that created the extension, and so owns its tables.
fn extension_owner() -> pg_sys::Oid {
    with_pinned_search_path(|| {
        spi::read_one::<pg_sys::Oid>(
            "looking up the extension's owner",
            "SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'export_system'",
            &[],
        )
    })
    .expect("the extension is installed")
}

/// Run `work` as the extension's owner with search_path pinned, the way a
/// SECURITY DEFINER function would; both are restored afterwards, on every
/// exit. Every change to the extension's own tables (audit rows, jobs,
/// stored files, preferences, the source) goes through here.
pub fn as_extension_owner<R>(work: impl FnOnce() -> R) -> R {
    let _owner = IdentityGuard::as_owner(extension_owner());
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
