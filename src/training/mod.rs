//! Pre-flight for fine-tuning, as OpenAI's cookbook runs it before an upload:
//! each example's tokens by the model's encoding, the limit, duplicates, and
//! the training report's aggregates. No database access: the export floor
//! feeds it conversations and sends what it finds.

pub mod content_hash;
pub mod duplicates;
pub mod encoding;
pub mod epochs;
pub mod example_checks;
pub mod message_tokens;
mod piece_cache;
mod pretokenizer;
pub mod report;
pub mod split_part;
pub mod token_histogram;
pub mod tool_tokens;
