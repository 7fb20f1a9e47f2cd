//! `source`: the one row naming the application's conversation relations.

use pgrx::JsonB;
use pgrx::prelude::*;
use serde_json::Value;

use crate::pg::identity::as_extension_owner;
use crate::pg::spi;
use crate::store::write;

/// The registration as stored: the conversations relation, the turns
/// relation (normalized shape) and the column of each field.
pub struct StoredSource {
    pub conversations: pg_sys::Oid,
    pub turns: Option<pg_sys::Oid>,
    pub columns: Value,
}

/// The registration, read with the owner's privileges (it is the extension's
/// own state, not the caller's).
pub fn read() -> Option<StoredSource> {
    let (conversations, turns, columns) = as_extension_owner(|| {
        spi::read_three::<pg_sys::Oid, pg_sys::Oid, JsonB>(
            "reading the registered source",
            "SELECT conversations::oid, turns::oid, columns FROM export_system.source",
            &[],
        )
    });
    Some(StoredSource {
        conversations: conversations?,
        turns,
        columns: columns?.0,
    })
}

/// Register (or replace) the source.
pub fn write_registration(conversations: pg_sys::Oid, turns: Option<pg_sys::Oid>, columns: Value) {
    write(
        "storing the source",
        "INSERT INTO export_system.source (conversations, turns, columns, registered_by) \
         VALUES ($1::oid::regclass, $2::oid::regclass, $3, session_user) \
         ON CONFLICT (singleton) DO UPDATE SET conversations = EXCLUDED.conversations, \
           turns = EXCLUDED.turns, columns = EXCLUDED.columns, \
           registered_by = EXCLUDED.registered_by, registered_at = now()",
        &[conversations.into(), turns.into(), JsonB(columns).into()],
    );
}

/// Whether the registered source (if any) waived Row Level Security.
pub fn waives_row_security() -> bool {
    as_extension_owner(|| {
        spi::read_one::<bool>(
            "reading the source's RLS waiver",
            "SELECT (columns ->> 'allow_without_rls')::boolean FROM export_system.source",
            &[],
        )
    })
    .unwrap_or(false)
}
