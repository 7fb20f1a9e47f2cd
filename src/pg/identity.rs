//! The one guard for changing who the backend acts as and what it may do:
//! the audit log owner's privileges, a background job's owner, a read-only
//! transaction. Whatever a guard changed it restores when dropped — on every
//! exit, early returns and unwinding included — so no path can leave a
//! worker running as a job's owner or a session as the log owner.

use pgrx::pg_sys;

use crate::pg::guc::{PINNED_SEARCH_PATH, set_guc};

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
