//! `export_files`: a background export's stored file, in parts of whole rows.

use pgrx::prelude::*;

use crate::pg::identity::as_extension_owner;
use crate::pg::portal::PinnedPortal;
use crate::pg::spi;
use crate::store::{as_caller, write};

pub fn insert_part(export_id: &str, part: i32, content: String) {
    write(
        "storing a part of the file",
        "INSERT INTO export_system.export_files (export_id, part, content) VALUES ($1::uuid, $2, $3)",
        &[export_id.into(), part.into(), content.into()],
    );
}

/// Every stored part of one export (a rerun's leftovers, a failed or
/// cancelled job's partial file).
pub fn delete_parts(export_id: &str) {
    write(
        "deleting the stored file",
        "DELETE FROM export_system.export_files WHERE export_id = $1::uuid",
        &[export_id.into()],
    );
}

/// Parts `first..=last` of an export in order, as a portal opened as the
/// caller: the stored file is under Row Level Security too. Columns `part`
/// (int4) and `content` (text).
pub fn open_parts(export_id: pgrx::Uuid, first: i32, last: i32) -> PinnedPortal {
    as_caller(|| {
        PinnedPortal::open(
            "SELECT part, content FROM export_system.export_files \
             WHERE export_id = $1 AND part >= $2 AND part <= $3 ORDER BY part",
            &[export_id.into(), first.into(), last.into()],
            false,
        )
    })
}

/// Delete the parts of every export that is no longer downloadable or being
/// written; returns how many parts and bytes.
pub fn delete_unservable_parts() -> (i64, i64) {
    as_extension_owner(|| {
        Spi::connect_mut(|client| {
            client
                .update(
                    include_str!("../../sql/store/delete_unservable_parts.sql"),
                    None,
                    &[],
                )
                .and_then(|table| table.first().get_two::<i64, i64>())
        })
        .map(|(parts, bytes)| (parts.unwrap_or(0), bytes.unwrap_or(0)))
        .unwrap_or_else(|error| spi::fail("deleting expired files", error))
    })
}
