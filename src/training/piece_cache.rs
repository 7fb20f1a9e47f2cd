//! A small, bounded, per-thread cache from pre-tokenized piece to its token count.
//!
//! Chat text repeats the same short pieces ("the", " I", "'s", ...) endlessly, and counting a
//! piece with `bpe` allocates and runs the backtracking encoder; a hash lookup is far cheaper.
//! Cached pieces are stored back to back in one buffer, so a miss costs no allocation and
//! clearing the cache frees nothing.

use std::hash::BuildHasher;
use std::ops::Range;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// Longest piece, in bytes, worth caching; longer pieces are rare and mostly unique. It also
/// bounds a cached piece's token count, which therefore fits the `u8` of an entry.
pub const MAX_CACHED_PIECE_LEN: usize = 32;

/// A cached piece: where its bytes are in `PieceCountCache::pieces`, and its token count.
#[derive(Clone, Copy)]
struct Entry {
    start: u32,
    len: u8,
    tokens: u8,
}

impl Entry {
    fn range(self) -> Range<usize> {
        let start = self.start as usize;
        start..start + usize::from(self.len)
    }
}

/// Bytes charged per entry besides its piece: the entry and the table's control byte.
const ENTRY_BYTES: usize = std::mem::size_of::<Entry>() + 1;

/// Piece → token count in at most `capacity_bytes` of pieces and entries (the hash table may
/// leave up to half of its slots empty on top). When full, it is cleared: the pieces that
/// matter come back within a few turns.
pub struct PieceCountCache {
    entries: HashTable<Entry>,
    pieces: Vec<u8>,
    used_bytes: usize,
    capacity_bytes: usize,
}

impl PieceCountCache {
    pub fn new(capacity_bytes: usize) -> Self {
        Self {
            entries: HashTable::new(),
            pieces: Vec::new(),
            used_bytes: 0,
            // Piece offsets are stored as u32.
            capacity_bytes: capacity_bytes.min(u32::MAX as usize),
        }
    }

    /// Token count of `piece`, from the cache or else from `count` (and then remembered).
    #[inline]
    pub fn count(&mut self, piece: &[u8], count: impl FnOnce(&[u8]) -> usize) -> usize {
        if piece.len() > MAX_CACHED_PIECE_LEN {
            return count(piece);
        }
        let hash = FxBuildHasher.hash_one(piece);
        let pieces = &self.pieces;
        if let Some(entry) = self.entries.find(hash, |entry| {
            usize::from(entry.len) == piece.len()
                && pieces
                    .get(entry.range())
                    .is_some_and(|cached| short_bytes_eq(cached, piece))
        }) {
            return usize::from(entry.tokens);
        }
        let tokens = count(piece);
        self.insert(hash, piece, tokens);
        tokens
    }

    fn insert(&mut self, hash: u64, piece: &[u8], tokens: usize) {
        let (Ok(len), Ok(tokens)) = (u8::try_from(piece.len()), u8::try_from(tokens)) else {
            return;
        };
        let entry_bytes = piece.len() + ENTRY_BYTES;
        if self.used_bytes + entry_bytes > self.capacity_bytes {
            self.entries.clear();
            self.pieces.clear();
            self.used_bytes = 0;
        }
        let Ok(start) = u32::try_from(self.pieces.len()) else {
            return;
        };
        self.pieces.extend_from_slice(piece);
        self.used_bytes += entry_bytes;
        let pieces = &self.pieces;
        self.entries
            .insert_unique(hash, Entry { start, len, tokens }, |entry| {
                FxBuildHasher.hash_one(pieces.get(entry.range()).unwrap_or_default())
            });
    }
}

/// `a == b` for slices of equal length up to [`MAX_CACHED_PIECE_LEN`], with a few (possibly
/// overlapping) word loads instead of a call to `memcmp`, which dominates lookups otherwise.
#[inline]
fn short_bytes_eq(a: &[u8], b: &[u8]) -> bool {
    #[inline(always)]
    fn word_at(bytes: &[u8], at: usize) -> u64 {
        bytes
            .get(at..at + 8)
            .and_then(|word| word.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    }
    #[inline(always)]
    fn half_word_at(bytes: &[u8], at: usize) -> u32 {
        bytes
            .get(at..at + 4)
            .and_then(|half_word| half_word.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    }
    let len = a.len();
    if len != b.len() {
        return false;
    }
    match len {
        0 => true,
        1..4 => a[0] == b[0] && a[len / 2] == b[len / 2] && a[len - 1] == b[len - 1],
        4..8 => {
            half_word_at(a, 0) == half_word_at(b, 0)
                && half_word_at(a, len - 4) == half_word_at(b, len - 4)
        }
        _ => {
            (0..len - 8)
                .step_by(8)
                .all(|at| word_at(a, at) == word_at(b, at))
                && word_at(a, len - 8) == word_at(b, len - 8)
        }
    }
}
