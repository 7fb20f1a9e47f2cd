//! A batch's token counts, made on the backend and on threads beside it
//! (`pg::threads`): counting is pure work on the batch's texts, and the
//! encoder is the largest cost of a pre-flight, so it scales with the cores
//! while the backend keeps reading and formatting on its own. A conversation
//! over `LARGE_BYTES` of text is counted on the backend alone, where a cancel
//! stops the count within one piece; the threads beside it finish a smaller
//! one in a few milliseconds before they stop.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::Conversation;
use crate::pg::threads;

/// Text a conversation may hold and still be counted beside the backend.
const LARGE_BYTES: usize = 1 << 20;

/// Stands for "not counted" among the counts (no example counts that many).
const UNCOUNTED: u64 = u64::MAX;

/// `count` of every conversation of the batch, in batch order: None where
/// it counts nothing (not asked, not an example, another split's part).
pub fn batch_tokens(
    batch: &[Conversation],
    count: impl Fn(usize, &Conversation) -> Option<u64> + Sync,
) -> Vec<Option<u64>> {
    let counts: Vec<AtomicU64> = batch.iter().map(|_| AtomicU64::new(UNCOUNTED)).collect();
    let indexed: Vec<(usize, &Conversation)> = batch.iter().enumerate().collect();
    threads::for_each(
        &indexed,
        |(_, conversation)| conversation.text_bytes() > LARGE_BYTES,
        |(index, conversation)| {
            if let Some(tokens) = count(*index, conversation) {
                counts[*index].store(tokens, Ordering::Relaxed);
            }
        },
    );
    counts
        .into_iter()
        .map(|tokens| Some(tokens.into_inner()).filter(|tokens| *tokens != UNCOUNTED))
        .collect()
}
