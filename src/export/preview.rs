//! `preview_export`: the first conversations of an export, byte-identical to
//! the head of the full file (same rows, cut after the third conversation's
//! row; an export of at most three conversations is previewed whole). Not
//! audited and not rate limited: it shows at most three conversations the
//! caller can already read, like a list view would, and nothing leaves as a
//! file. It reads only what it shows: small fetches, stopped as soon as the
//! head is known.

use crate::export::conversation_reader::ConversationReader;
use crate::export::pipeline::ExportPipeline;
use crate::export::preferences;
use crate::export::saved_run::{RunKind, SavedRun};
use crate::pg::jsonb_arg::ConfigJson;
use crate::source::Source;

pub const PREVIEW_CONVERSATIONS: i64 = 3;

/// Fetch budget of a preview: rows are read in small steps, so little more
/// than the shown conversations (and the one after them) is ever read.
const PREVIEW_FETCH_BYTES: usize = 64 << 10;

/// The head of the export `config` describes, through its third conversation.
pub fn preview_rows(config: Option<ConfigJson>) -> Vec<String> {
    let mut config = preferences::effective_config(config);
    let continuation = SavedRun::begin(&mut config, RunKind::Look)
        .map(|(_, continuation)| continuation)
        .unwrap_or_default();
    let source =
        ConversationReader::open(&config, &Source::load()).with_batch_bytes(PREVIEW_FETCH_BYTES);
    let mut pipeline = ExportPipeline::new(source, config, continuation);
    let mut head = Vec::new();
    let mut shown = 0;
    // Rows through the third conversation's; then the file's closing rows
    // only if no conversation follows.
    while let Some((row, conversations)) = pipeline.next_row() {
        if shown == PREVIEW_CONVERSATIONS && conversations > 0 {
            break;
        }
        shown += conversations;
        head.push(row);
    }
    pipeline.close();
    head
}
