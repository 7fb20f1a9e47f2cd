//! Whether a registered relation lets each caller see only their own rows,
//! checked all the way down: every table the relation reads, directly or
//! through views, must enforce Row Level Security on the roles the API
//! uses; every view on the way must run as its caller
//! (`security_invoker`); no `SECURITY DEFINER` function may stand between
//! the caller and the rows. Checked at registration and again at every
//! export, since any of it can change after registration.

use pgrx::PgSqlErrorCode;
use pgrx::prelude::*;

use crate::error::UserError;
use crate::pg::guc::with_pinned_search_path;
use crate::pg::spi;

/// A relation the registered one reads, as the catalog describes it.
struct Reached {
    qualified: String,
    kind: u8,
    row_security: bool,
    forced: bool,
    security_invoker: bool,
    /// API roles (anon, authenticated) holding the owner's privileges.
    owner_privileges_of: Option<String>,
    /// The current role holds the owner's privileges, and neither is a
    /// superuser nor has BYPASSRLS (for which RLS never applies anyway).
    caller_bypasses_as_owner: bool,
    /// The view whose query reads it; None for the registered relation.
    read_by: Option<String>,
}

/// The relation and everything its views' queries read, breadth first.
const REACHED_SQL: &str = "\
WITH RECURSIVE reached(relid, via, depth) AS (
    SELECT $1::oid, NULL::oid, 0
  UNION
    SELECT d.refobjid, r.ev_class, reached.depth + 1
    FROM reached
    JOIN pg_catalog.pg_rewrite r ON r.ev_class = reached.relid AND r.ev_type = '1'
    JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
     AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> r.ev_class
)
SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text, c.relrowsecurity, c.relforcerowsecurity,
       EXISTS (SELECT FROM pg_options_to_table(c.reloptions) o
               WHERE o.option_name = 'security_invoker'
                 AND lower(o.option_value) IN ('true', 'on', 'yes', '1')),
       (SELECT string_agg(a.rolname, ', ' ORDER BY a.rolname) FROM pg_roles a
         WHERE a.rolname IN ('anon', 'authenticated') AND pg_has_role(a.oid, c.relowner, 'USAGE')),
       pg_has_role(current_user, c.relowner, 'USAGE')
         AND NOT (SELECT r.rolsuper OR r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user),
       (SELECT format('%I.%I', vn.nspname, v.relname) FROM pg_class v
          JOIN pg_namespace vn ON vn.oid = v.relnamespace WHERE v.oid = reached.via)
FROM reached
JOIN pg_class c ON c.oid = reached.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY reached.depth, c.oid";

/// SECURITY DEFINER functions that the views' queries call.
const DEFINER_FUNCTIONS_SQL: &str = "\
WITH RECURSIVE reached(relid) AS (
    SELECT $1::oid
  UNION
    SELECT d.refobjid
    FROM reached
    JOIN pg_catalog.pg_rewrite r ON r.ev_class = reached.relid AND r.ev_type = '1'
    JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
     AND d.refclassid = 'pg_catalog.pg_class'::regclass
)
SELECT DISTINCT p.oid::regprocedure::text, format('%I.%I', vn.nspname, v.relname)
FROM reached
JOIN pg_rewrite r ON r.ev_class = reached.relid AND r.ev_type = '1'
JOIN pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
 AND d.refclassid = 'pg_catalog.pg_proc'::regclass
JOIN pg_proc p ON p.oid = d.refobjid AND p.prosecdef
JOIN pg_class v ON v.oid = r.ev_class
JOIN pg_namespace vn ON vn.oid = v.relnamespace
ORDER BY 1";

fn reached(oid: pg_sys::Oid) -> Vec<Reached> {
    with_pinned_search_path(|| {
        Spi::connect(|client| {
            client
                .select(REACHED_SQL, None, &[oid.into()])
                .unwrap_or_else(|e| spi::fail("reading the source's dependencies", e))
                .map(|row| {
                    let text = |ordinal| row.get::<String>(ordinal).ok().flatten();
                    let flag = |ordinal| row.get::<bool>(ordinal).ok().flatten().unwrap_or(false);
                    Reached {
                        qualified: text(1).unwrap_or_default(),
                        kind: text(2).and_then(|k| k.bytes().next()).unwrap_or(b'?'),
                        row_security: flag(3),
                        forced: flag(4),
                        security_invoker: flag(5),
                        owner_privileges_of: text(6),
                        caller_bypasses_as_owner: flag(7),
                        read_by: text(8),
                    }
                })
                .collect()
        })
    })
}

fn definer_functions(oid: pg_sys::Oid) -> Vec<(String, String)> {
    with_pinned_search_path(|| {
        Spi::connect(|client| {
            client
                .select(DEFINER_FUNCTIONS_SQL, None, &[oid.into()])
                .unwrap_or_else(|e| spi::fail("reading the source's functions", e))
                .map(|row| {
                    let text = |ordinal| {
                        row.get::<String>(ordinal)
                            .ok()
                            .flatten()
                            .unwrap_or_default()
                    };
                    (text(1), text(2))
                })
                .collect()
        })
    })
}

const HINT: &str = "Exports read as the caller, so every relation they read must decide which rows each tenant sees: without RLS (or through a view or function that runs as its owner) every tenant could export everyone's conversations. Enable RLS with policies on every table, make every view WITH (security_invoker = true), call no SECURITY DEFINER function from the views, or, for a single-tenant database, pass allow_without_rls => true (recorded in every audit row).";

fn refuse(relation: &Reached, what: &str, hint: &str) -> UserError {
    let subject = match &relation.read_by {
        Some(view) => format!("{view} reads {}, which", relation.qualified),
        None => relation.qualified.clone(),
    };
    UserError {
        code: PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        message: format!("{subject} {what}"),
        hint: hint.into(),
    }
}

/// Table owners (and roles with their privileges) skip its policies unless
/// FORCE ROW LEVEL SECURITY is set.
fn check_owner_bypass(relation: &Reached, jwt_caller: bool) -> Result<(), UserError> {
    if relation.forced {
        return Ok(());
    }
    let force_hint = format!(
        "PostgreSQL skips a table's policies for its owner and every role with the owner's privileges. Run ALTER TABLE {} FORCE ROW LEVEL SECURITY, or let another role own the table.",
        relation.qualified
    );
    if let Some(roles) = &relation.owner_privileges_of {
        return Err(refuse(
            relation,
            &format!(
                "is owned by a role whose privileges {roles} holds, so its Row Level Security does not apply to them"
            ),
            &force_hint,
        ));
    }
    if jwt_caller && relation.caller_bypasses_as_owner {
        return Err(refuse(
            relation,
            "is owned by a role whose privileges the current role holds, so its Row Level Security does not apply to this signed-in user",
            &force_hint,
        ));
    }
    Ok(())
}

fn check_relation(relation: &Reached, jwt_caller: bool) -> Result<(), UserError> {
    match relation.kind {
        b'r' | b'p' if relation.row_security => check_owner_bypass(relation, jwt_caller),
        b'r' | b'p' => Err(refuse(
            relation,
            "does not have Row Level Security enabled",
            HINT,
        )),
        b'v' if relation.security_invoker => Ok(()),
        b'v' => Err(refuse(
            relation,
            "is a view without security_invoker, so it reads its tables as its owner, past their RLS",
            HINT,
        )),
        // Sequences and composite types hold no rows.
        b'S' | b'c' if relation.read_by.is_some() => Ok(()),
        _ => Err(refuse(
            relation,
            "is neither a table nor a view, and cannot enforce Row Level Security",
            HINT,
        )),
    }
}

/// Refuse a relation through which a caller could read rows that Row Level
/// Security would not show them; `jwt_caller`: the caller is a signed-in user.
pub fn check(oid: pg_sys::Oid, jwt_caller: bool) -> Result<(), UserError> {
    for relation in reached(oid) {
        check_relation(&relation, jwt_caller)?;
    }
    if let Some((function, view)) = definer_functions(oid).into_iter().next() {
        return Err(UserError {
            code: PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            message: format!(
                "{view} calls {function}, a SECURITY DEFINER function that reads as its owner, past the caller's RLS"
            ),
            hint: HINT.into(),
        });
    }
    Ok(())
}
