//! OpenAI's encodings, from GitHub's `bpe-openai` (the rank files tiktoken
//! publishes, prebuilt into the library): each is loaded once per backend,
//! on first use, so an export that counts nothing never loads one.

use crate::config::Tokenizer;

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
    encoding.count(text) as u64
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
}
