//! OpenAI's encodings, from GitHub's `bpe-openai` (the rank files tiktoken
//! publishes, prebuilt into the library): each is loaded once per backend,
//! on first use, so an export that counts nothing never loads one. The text
//! is cut at the encoding's split points by our own pretokenizer (the
//! library's regex split costs more than the encoding), and each piece's
//! count is remembered in a bounded cache per encoding: chat text repeats
//! the same short pieces endlessly.

use std::cell::RefCell;

use crate::config::Tokenizer;
use crate::pg::interrupts::InterruptBudget;
use crate::training::piece_cache::PieceCountCache;
use crate::training::pretokenizer::{self, Pattern};

/// Bytes of pieces and entries each encoding's cache may hold (it is
/// emptied when full): a backend's pieces of everyday text fit many times.
const PIECE_CACHE_BYTES: usize = 2 << 20;

thread_local! {
    /// One cache per encoding: a piece's count differs between them.
    static PIECE_COUNTS: RefCell<[PieceCountCache; 2]> =
        RefCell::new([PIECE_CACHE_BYTES, PIECE_CACHE_BYTES].map(PieceCountCache::new));
}

/// Tokens `text` encodes to, special tokens taken as ordinary text (as
/// tiktoken's `encode_ordinary`).
pub fn count(tokenizer: Tokenizer, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    let (encoding, pattern, cache) = match tokenizer {
        Tokenizer::O200kBase => (bpe_openai::o200k_base(), Pattern::O200k, 0),
        Tokenizer::Cl100kBase => (bpe_openai::cl100k_base(), Pattern::Cl100k, 1),
    };
    // The split points cut the text into pieces that are encoded
    // independently (tiktoken does the same), so counting piece by piece is
    // exact and lets a cancel land between pieces. One piece is as long as a
    // run the split cannot cut (a word, a run of spaces or of punctuation):
    // in text, a few bytes.
    let mut budget = InterruptBudget::default();
    PIECE_COUNTS.with_borrow_mut(|caches| {
        let cache = &mut caches[cache];
        let mut tokens = 0;
        for piece in pretokenizer::pieces(pattern, text) {
            tokens += cache.count(piece.as_bytes(), |bytes| encoding.bpe.count(bytes)) as u64;
            budget.spend(piece.len());
        }
        tokens
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_tiktoken_on_known_strings() {
        // tiktoken: len(enc.encode_ordinary(text)).
        assert_eq!(count(Tokenizer::O200kBase, "hello world"), 2);
        assert_eq!(count(Tokenizer::Cl100kBase, "hello world"), 2);
        assert_eq!(count(Tokenizer::O200kBase, ""), 0);
        assert_eq!(count(Tokenizer::O200kBase, "<|endoftext|>"), 7);
    }

    #[test]
    fn counting_piece_by_piece_is_the_library_s_count() {
        let line = "Grüße, 東京! it's 3.14159 — naïve   \n\tcafé; ";
        let text = line.repeat(3 * crate::pg::interrupts::PIECE_BYTES / line.len());
        for tokenizer in [Tokenizer::O200kBase, Tokenizer::Cl100kBase] {
            let library = match tokenizer {
                Tokenizer::O200kBase => bpe_openai::o200k_base(),
                Tokenizer::Cl100kBase => bpe_openai::cl100k_base(),
            };
            assert_eq!(count(tokenizer, &text), library.count(text.as_str()) as u64);
        }
    }
}
