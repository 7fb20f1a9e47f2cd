//! Whether a registered relation lets each caller see only their own rows,
//! checked all the way down: every table a read of the relation reaches —
//! through views, functions, operators, aggregates, casts and domains
//! (`dependency_walk`) — must enforce Row Level Security on the roles the API
//! uses; every view on the way must run as its caller (`security_invoker`);
//! no `SECURITY DEFINER` function may be reached, and no function outside
//! `pg_catalog` whose body PostgreSQL does not parse (only a SQL-standard
//! body's reads are recorded, so only those can be checked). Checked at
//! registration and again at every export, since any of it can change after
//! registration.

use pgrx::PgSqlErrorCode;
use pgrx::prelude::*;

use crate::error::UserError;
use crate::pg::guc::with_pinned_search_path;
use crate::pg::spi;
use crate::source::dependency_walk::{self, Kind, Next, Reached};

/// A relation the registered one reads, as the catalog describes it.
struct Relation {
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
    /// How the registered relation reaches it ("public.v", "public.v →
    /// function public.f()"); None for the registered relation.
    read_by: Option<String>,
}

const RELATION_SQL: &str = "\
SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), c.relkind::pg_catalog.text,
       c.relrowsecurity, c.relforcerowsecurity,
       EXISTS (SELECT FROM pg_catalog.pg_options_to_table(c.reloptions) o
               WHERE o.option_name OPERATOR(pg_catalog.=) 'security_invoker'
                 AND pg_catalog.lower(o.option_value) OPERATOR(pg_catalog.=) ANY (ARRAY['true', 'on', 'yes', '1'])),
       (SELECT pg_catalog.string_agg(a.rolname::pg_catalog.text, ', ' ORDER BY a.rolname)
        FROM pg_catalog.pg_roles a
        WHERE a.rolname OPERATOR(pg_catalog.=) ANY (ARRAY['anon', 'authenticated']::pg_catalog.name[])
          AND pg_catalog.pg_has_role(a.oid, c.relowner, 'USAGE')),
       pg_catalog.pg_has_role(CURRENT_USER, c.relowner, 'USAGE')
         AND NOT (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r
                  WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
WHERE c.oid OPERATOR(pg_catalog.=) $1";

fn relation(reached: &Reached) -> Relation {
    let read_by = (!reached.path.is_empty()).then(|| reached.path_text());
    with_pinned_search_path(|| {
        Spi::connect(|client| {
            let table = client
                .select(RELATION_SQL, Some(1), &[reached.oid.into()])
                .unwrap_or_else(|e| spi::fail("reading the source's relations", e));
            let row = table.first();
            let text = |ordinal| row.get::<String>(ordinal).ok().flatten();
            let flag = |ordinal| row.get::<bool>(ordinal).ok().flatten().unwrap_or(false);
            Relation {
                qualified: text(1).unwrap_or_default(),
                kind: text(2).and_then(|k| k.bytes().next()).unwrap_or(b'?'),
                row_security: flag(3),
                forced: flag(4),
                security_invoker: flag(5),
                owner_privileges_of: text(6),
                caller_bypasses_as_owner: flag(7),
                read_by,
            }
        })
    })
}

/// A function a read reaches, as the catalog describes it.
struct Function {
    /// `schema.name(argument types)`.
    signature: String,
    security_definer: bool,
    built_in: bool,
    /// Its body is parsed and its dependencies recorded: a SQL-standard
    /// body, or an aggregate (whose support functions are recorded).
    checkable: bool,
    language: String,
}

const FUNCTION_SQL: &str = "\
SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text, p.prosecdef,
       p.pronamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace::pg_catalog.oid,
       p.prosqlbody IS NOT NULL OR p.prokind OPERATOR(pg_catalog.=) 'a'::pg_catalog.\"char\",
       l.lanname::pg_catalog.text
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_language l ON l.oid OPERATOR(pg_catalog.=) p.prolang
WHERE p.oid OPERATOR(pg_catalog.=) $1";

fn function(oid: pg_sys::Oid) -> Function {
    with_pinned_search_path(|| {
        Spi::connect(|client| {
            let table = client
                .select(FUNCTION_SQL, Some(1), &[oid.into()])
                .unwrap_or_else(|e| spi::fail("reading the source's functions", e));
            let row = table.first();
            let text = |ordinal| {
                row.get::<String>(ordinal)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            };
            let flag = |ordinal| row.get::<bool>(ordinal).ok().flatten().unwrap_or(false);
            Function {
                signature: text(1),
                security_definer: flag(2),
                built_in: flag(3),
                checkable: flag(4),
                language: text(5),
            }
        })
    })
}

const HINT: &str = "Exports read as the caller, so every relation they read must decide which rows each tenant sees: without RLS (or through a view or function that runs as its owner) every tenant could export everyone's conversations. Enable RLS with policies on every table, make every view WITH (security_invoker = true), call no SECURITY DEFINER function from the views, or, for a single-tenant database, pass allow_without_rls => true (recorded in every audit row).";

fn refuse(relation: &Relation, what: &str, hint: &str) -> UserError {
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
fn check_owner_bypass(relation: &Relation, jwt_caller: bool) -> Result<(), UserError> {
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

fn check_relation(relation: &Relation, jwt_caller: bool) -> Result<Next, UserError> {
    match relation.kind {
        b'r' | b'p' if relation.row_security => {
            check_owner_bypass(relation, jwt_caller).map(|()| Next::Stop)
        }
        b'r' | b'p' => Err(refuse(
            relation,
            "does not have Row Level Security enabled",
            HINT,
        )),
        b'v' if relation.security_invoker => Ok(Next::Follow),
        b'v' => Err(refuse(
            relation,
            "is a view without security_invoker, so it reads its tables as its owner, past their RLS",
            HINT,
        )),
        // Sequences and composite types hold no rows.
        b'S' | b'c' if relation.read_by.is_some() => Ok(Next::Stop),
        _ => Err(refuse(
            relation,
            "is neither a table nor a view, and cannot enforce Row Level Security",
            HINT,
        )),
    }
}

/// A function may stand under the source only if it runs as its caller and
/// is built in, or has a body the walk can follow (a SQL-standard body, an
/// aggregate's support functions).
fn check_function(reached: &Reached) -> Result<Next, UserError> {
    let function = function(reached.oid);
    let caller = reached.path_text();
    let refuse = |what: String, hint: &str| {
        Err(UserError {
            code: PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            message: format!("{caller} calls {}, {what}", function.signature),
            hint: hint.into(),
        })
    };
    if function.security_definer {
        return refuse(
            "a SECURITY DEFINER function that reads as its owner, past the caller's RLS".into(),
            HINT,
        );
    }
    if function.built_in {
        return Ok(Next::Stop);
    }
    if !function.checkable {
        return refuse(
            format!(
                "a {} function whose body export_system cannot check: it could read a table past its RLS or call a SECURITY DEFINER function",
                function.language
            ),
            UNCHECKABLE_HINT,
        );
    }
    Ok(Next::Follow)
}

const UNCHECKABLE_HINT: &str = "Only a function with a SQL-standard body (CREATE FUNCTION … BEGIN ATOMIC … END, or RETURN …) has a body PostgreSQL parses and records, so that what it reads can be checked. Rewrite the function that way, call it from no view under the source, or, for a single-tenant database, pass allow_without_rls => true (recorded in every audit row).";

/// Refuse a relation through which a caller could read rows that Row Level
/// Security would not show them, or run code as another role: every
/// relation, function, operator, aggregate, cast and domain its reads reach
/// is checked (`dependency_walk`); `jwt_caller`: the caller is a signed-in
/// user.
pub fn check(oid: pg_sys::Oid, jwt_caller: bool) -> Result<(), UserError> {
    dependency_walk::walk(oid, |reached| match reached.kind {
        Kind::Relation => check_relation(&relation(reached), jwt_caller),
        Kind::Function => check_function(reached),
        Kind::Operator | Kind::Cast | Kind::Type | Kind::Constraint => Ok(Next::Follow),
    })
}
