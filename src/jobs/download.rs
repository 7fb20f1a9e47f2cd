//! Downloading a finished background export. The file is stored in parts of
//! whole rows of about 1 MiB, and each returned row is one part: the file is
//! every row followed by "\n", exactly as with export_conversations(). A
//! Supabase client pages with `from_part` / `part_count` to stay inside
//! PostgREST's per-call limits (1,000 rows, 8 seconds).

use pgrx::PgSqlErrorCode;
use pgrx::prelude::*;

use crate::error::UserError;
use crate::jobs::queue::own_export;
use crate::pg::backend;
use crate::pg::portal::{FetchBudget, PinnedPortal};
use crate::store;

/// The requested parts, read through one portal: one snapshot for the whole
/// download, so a cleanup that expires the export meanwhile cannot cut the
/// file short; one part per fetch, so memory holds one part.
pub struct Parts {
    export_id: pgrx::Uuid,
    portal: PinnedPortal,
    content: usize,
    part: usize,
    next: i32,
}

const ONE_PART: FetchBudget = FetchBudget {
    max_rows: 1,
    max_bytes: 1,
};

impl Parts {
    /// Read as the caller: the stored file is under Row Level Security too.
    fn open(export_id: pgrx::Uuid, first: i32, last: i32) -> Parts {
        let portal = store::files::open_parts(export_id, first, last);
        Parts {
            export_id,
            content: portal.column_index("content", pg_sys::TEXTOID),
            part: portal.column_index("part", pg_sys::INT4OID),
            portal,
            next: first,
        }
    }
}

impl Iterator for Parts {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        pgrx::check_for_interrupts!();
        let mut found = None;
        let (content, part) = (self.content, self.part);
        self.portal.fetch(ONE_PART, &mut |row| {
            found = Some((
                row.int4(part).unwrap_or_default(),
                row.text(content).unwrap_or_default(),
            ));
            1
        });
        match found {
            Some((part, content)) if part == self.next => {
                self.next += 1;
                Some(content)
            }
            Some(_) => pgrx::error!("part {} of export {} is missing", self.next, self.export_id),
            None => None,
        }
    }
}

fn not_downloadable(message: String, hint: &str) -> ! {
    UserError {
        code: PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        message,
        hint: hint.into(),
    }
    .raise()
}

/// The stored file of a completed background export of the caller's: parts
/// `from_part` .. `from_part + part_count - 1` (all remaining when NULL).
pub fn download(
    export_id: Option<pgrx::Uuid>,
    from_part: Option<i32>,
    part_count: Option<i32>,
) -> Parts {
    let Some(export_id) = export_id else {
        UserError::invalid_parameter(
            "export_id must not be NULL",
            "Pass the id queue_export() returned.",
        )
        .raise()
    };
    let from_part = from_part.unwrap_or(1);
    if from_part < 1 {
        UserError::invalid_parameter(
            format!("from_part must be 1 or more, got {from_part}"),
            "Parts are numbered from 1; export_status() tells how many there are.",
        )
        .raise();
    }
    if let Some(count) = part_count.filter(|count| *count < 1) {
        UserError::invalid_parameter(
            format!("part_count must be 1 or more, got {count}"),
            "Leave part_count NULL to get every remaining part.",
        )
        .raise();
    }
    let export = own_export(export_id);
    if export.delivery != "background" {
        not_downloadable(
            format!(
                "export {export_id} was streamed by export_conversations(); nothing was stored"
            ),
            "Queue it with export_system.queue_export() to get a downloadable file.",
        );
    }
    if export.status == "expired" || (export.status == "completed" && export.expired) {
        not_downloadable(
            format!(
                "export {export_id} expired at {} and its file was deleted",
                export.expires_at.unwrap_or_default()
            ),
            "Run it again with export_system.retry_export(export_id).",
        );
    }
    if export.status != "completed" {
        not_downloadable(
            format!("export {export_id} is {}, not completed", export.status),
            "Poll export_system.export_status(export_id) until its status is completed.",
        );
    }
    // A hot standby serves the file but cannot record the download.
    if from_part == 1 && !backend::in_recovery() {
        store::logs::count_download(export_id);
    }
    let last = match part_count {
        Some(count) => export.part_count.min(from_part.saturating_add(count - 1)),
        None => export.part_count,
    };
    Parts::open(export_id, from_part, last)
}
