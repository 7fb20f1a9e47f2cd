//! OpenAI's encodings, from GitHub's `bpe-openai` (the rank files tiktoken
//! publishes, prebuilt into the library): each is loaded once per backend,
//! on first use, so an export that counts nothing never loads one.

use crate::config::Tokenizer;
use crate::pg::interrupts::InterruptBudget;

/// Tokens `text` encodes to, special tokens taken as ordinary text (as
/// tiktoken's `encode_ordinary`).
pub fn count(tokenizer: Tokenizer, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    let encoding = match tokenizer {
        Tokenizer::O200kBase => bpe_openai::o200k_base(),
        Tokenizer::Cl100kBase => bpe_openai::cl100k_base(),
    };
    // The encoding's own split points cut the text into pieces that are
    // encoded independently (tiktoken does the same), so counting piece by
    // piece is exact and lets a cancel land between pieces. One piece is as
    // long as a run the split cannot cut (a word, a run of spaces or of
    // punctuation): in text, a few bytes.
    let mut budget = InterruptBudget::default();
    let mut tokens = 0;
    for piece in encoding.split(text) {
        tokens += encoding.bpe.count(piece.as_bytes()) as u64;
        budget.spend(piece.len());
    }
    tokens
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
