//! `preview_export`: the first conversations of an export, byte-identical to
//! the head of the full file (same rows, cut after the third conversation's
//! last row; an export of at most three conversations is previewed whole). Not audited and not rate limited: it shows at most three
//! conversations the caller can already read, like a list view would, and
//! nothing leaves as a file.

use pgrx::JsonB;
use pgrx::prelude::*;

use crate::exporter::{self, Exporter};
use crate::preferences;
use crate::source::ConversationSource;

pub const PREVIEW_CONVERSATIONS: i64 = 3;

/// The head of the export `config` describes, through its third conversation.
#[pg_extern(volatile, parallel_unsafe)]
fn preview_export(config: default!(Option<JsonB>, "'{}'")) -> SetOfIterator<'static, String> {
    let config = preferences::effective_config(config);
    let mut source = ConversationSource::open(&config);
    let mut exporter = Exporter::new(config, exporter::export_date_now());
    // Rows through the last preview conversation, once known.
    let mut head_rows: Option<usize> = None;
    let mut held_at: Option<usize> = None;
    'reading: while !source.is_exhausted() {
        let mut batch = Vec::new();
        source.next_batch(&mut batch);
        for conversation in &batch {
            let written_before = exporter.conversations_written;
            exporter.add(std::slice::from_ref(conversation));
            if exporter.conversations_written == written_before {
                continue; // skipped: no rows
            }
            if let Some(held) = held_at {
                // The next conversation released the held row first.
                head_rows = Some(held + 1);
                break 'reading;
            }
            if exporter.conversations_written == PREVIEW_CONVERSATIONS {
                if exporter.holds_a_row() {
                    held_at = Some(exporter.rows.len());
                } else {
                    head_rows = Some(exporter.rows.len());
                    break 'reading;
                }
            }
        }
    }
    if head_rows.is_none() {
        // No conversation after the preview's: the whole file is the preview.
        exporter.finish();
        head_rows = Some(exporter.rows.len());
    }
    source.close();
    let mut rows = std::mem::take(&mut exporter.rows);
    rows.truncate(head_rows.unwrap_or(0));
    SetOfIterator::new(rows)
}
