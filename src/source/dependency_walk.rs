//! Everything a caller's read of a registered relation can run, found in the
//! catalog: a view's query reaches relations, functions, operators, casts and
//! types; an operator reaches its function, an aggregate its support
//! functions, a cast its function, a domain its constraints, default and
//! base type, a function with a SQL-standard body (`BEGIN ATOMIC`, `RETURN`)
//! whatever its body names. `pg_depend` records each of these edges; the
//! walk follows them breadth first, each object once, and asks the caller at
//! every object whether to follow it further, so the refusal names the
//! object and the path from the source to it.

use pgrx::prelude::*;

use crate::error::UserError;
use crate::pg::guc::with_pinned_search_path;
use crate::pg::spi;

/// The catalogs whose objects a read can run or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Relation,
    Function,
    Operator,
    Cast,
    Type,
    Constraint,
}

/// pg_cast's and pg_constraint's OIDs, fixed by PostgreSQL's catalog
/// headers (`CastRelationId`, `ConstraintRelationId`), which pgrx does not
/// bind.
const CAST_RELATION_ID: u32 = 2605;
const CONSTRAINT_RELATION_ID: u32 = 2606;

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Relation,
        Kind::Function,
        Kind::Operator,
        Kind::Cast,
        Kind::Type,
        Kind::Constraint,
    ];

    fn from_catalog(catalog: pg_sys::Oid) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.catalog() == catalog)
    }

    fn catalog(self) -> pg_sys::Oid {
        match self {
            Kind::Relation => pg_sys::RelationRelationId,
            Kind::Function => pg_sys::ProcedureRelationId,
            Kind::Operator => pg_sys::OperatorRelationId,
            Kind::Cast => pg_sys::Oid::from(CAST_RELATION_ID),
            Kind::Type => pg_sys::TypeRelationId,
            Kind::Constraint => pg_sys::Oid::from(CONSTRAINT_RELATION_ID),
        }
    }
}

/// One object the walk reached.
pub struct Reached {
    pub kind: Kind,
    pub oid: pg_sys::Oid,
    /// The objects from the registered relation to the one that reached
    /// this one, described as `pg_describe_object` does (relations as
    /// `schema.name`); empty for the registered relation itself.
    pub path: Vec<String>,
}

impl Reached {
    /// "public.v → function public.f()": how the source reaches this object.
    pub fn path_text(&self) -> String {
        self.path.join(" → ")
    }
}

/// Whether the walk goes on past an object.
pub enum Next {
    /// Follow what the object references.
    Follow,
    /// Nothing past it runs as part of the read (a table, a built-in).
    Stop,
}

/// What an object references that a read of it can run or read. A view:
/// what its query names. A function, operator, cast, constraint: what its
/// definition names (a function's arguments and result types, a SQL-standard
/// body's relations and calls, an aggregate's support functions). A type:
/// its functions, base or element type and default, and a domain's
/// constraints, but not the relation behind a row type, which a value of
/// that type does not read.
const REFERENCES_SQL: &str = "\
SELECT d.refclassid, d.refobjid
FROM pg_catalog.pg_rewrite r
JOIN pg_catalog.pg_depend d
  ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass::pg_catalog.oid
 AND d.objid OPERATOR(pg_catalog.=) r.oid
WHERE $1 OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid
  AND r.ev_class OPERATOR(pg_catalog.=) $2
  AND r.ev_type OPERATOR(pg_catalog.=) '1'::pg_catalog.\"char\"
  AND d.deptype OPERATOR(pg_catalog.=) 'n'::pg_catalog.\"char\"
  AND NOT (d.refclassid OPERATOR(pg_catalog.=) $1 AND d.refobjid OPERATOR(pg_catalog.=) $2)
UNION
SELECT d.refclassid, d.refobjid
FROM pg_catalog.pg_depend d
WHERE $1 OPERATOR(pg_catalog.<>) 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid
  AND d.classid OPERATOR(pg_catalog.=) $1
  AND d.objid OPERATOR(pg_catalog.=) $2
  AND (d.deptype OPERATOR(pg_catalog.=) 'n'::pg_catalog.\"char\"
       OR (d.deptype OPERATOR(pg_catalog.=) 'i'::pg_catalog.\"char\"
           AND $1 OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass::pg_catalog.oid))
  AND NOT ($1 OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass::pg_catalog.oid
           AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid)
UNION
SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass::pg_catalog.oid, c.oid
FROM pg_catalog.pg_constraint c
WHERE $1 OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass::pg_catalog.oid
  AND c.contypid OPERATOR(pg_catalog.=) $2
ORDER BY 1, 2";

/// How a path names an object: relations as `schema.name`, the rest as
/// PostgreSQL describes them ("function public.f(integer)").
const DESCRIBE_SQL: &str = "\
SELECT CASE WHEN $1 OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid
            THEN (SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
                  FROM pg_catalog.pg_class c
                  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                  WHERE c.oid OPERATOR(pg_catalog.=) $2)
            ELSE pg_catalog.pg_describe_object($1, $2, 0) END";

fn references(kind: Kind, oid: pg_sys::Oid) -> Vec<(Kind, pg_sys::Oid)> {
    with_pinned_search_path(|| {
        Spi::connect(|client| {
            client
                .select(REFERENCES_SQL, None, &[kind.catalog().into(), oid.into()])
                .unwrap_or_else(|e| spi::fail("reading what the source references", e))
                .filter_map(|row| {
                    let catalog = row.get::<pg_sys::Oid>(1).ok().flatten()?;
                    let object = row.get::<pg_sys::Oid>(2).ok().flatten()?;
                    Some((Kind::from_catalog(catalog)?, object))
                })
                .collect()
        })
    })
}

fn describe(kind: Kind, oid: pg_sys::Oid) -> String {
    with_pinned_search_path(|| {
        spi::read_one::<String>(
            "describing what the source references",
            DESCRIBE_SQL,
            &[kind.catalog().into(), oid.into()],
        )
    })
    .unwrap_or_else(|| format!("object {}", oid.to_u32()))
}

/// Walk from `relation`, breadth first, each object once; `visit` decides
/// at each object whether to go on past it, or refuses it.
pub fn walk(
    relation: pg_sys::Oid,
    mut visit: impl FnMut(&Reached) -> Result<Next, UserError>,
) -> Result<(), UserError> {
    let mut seen = std::collections::HashSet::new();
    let mut queue = std::collections::VecDeque::from([Reached {
        kind: Kind::Relation,
        oid: relation,
        path: Vec::new(),
    }]);
    seen.insert((Kind::Relation.catalog(), relation));
    while let Some(reached) = queue.pop_front() {
        pgrx::check_for_interrupts!();
        if let Next::Stop = visit(&reached)? {
            continue;
        }
        let here = describe(reached.kind, reached.oid);
        for (kind, oid) in references(reached.kind, reached.oid) {
            if seen.insert((kind.catalog(), oid)) {
                let mut path = reached.path.clone();
                path.push(here.clone());
                queue.push_back(Reached { kind, oid, path });
            }
        }
    }
    Ok(())
}
