//! OpenAI's default number of epochs, by the cookbook's rule: 3, unless
//! examples × 3 falls outside 100…25,000, then as many (at most 25) or as few
//! (at least 1) as bring it inside.

const TARGET_EPOCHS: u64 = 3;
const MIN_TARGET_EXAMPLES: u64 = 100;
const MAX_TARGET_EXAMPLES: u64 = 25_000;
const MIN_DEFAULT_EPOCHS: u64 = 1;
const MAX_DEFAULT_EPOCHS: u64 = 25;

/// None for no examples (the cookbook's rule divides by their number).
pub fn default_epochs(examples: u64) -> Option<u64> {
    if examples == 0 {
        return None;
    }
    Some(if examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES {
        MAX_DEFAULT_EPOCHS.min(MIN_TARGET_EXAMPLES / examples)
    } else if examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES {
        MIN_DEFAULT_EPOCHS.max(MAX_TARGET_EXAMPLES / examples)
    } else {
        TARGET_EPOCHS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookbook_rule() {
        assert_eq!(default_epochs(0), None);
        assert_eq!(default_epochs(1), Some(25));
        assert_eq!(default_epochs(10), Some(10));
        assert_eq!(default_epochs(34), Some(3));
        assert_eq!(default_epochs(8_333), Some(3));
        assert_eq!(default_epochs(8_334), Some(2));
        assert_eq!(default_epochs(100_000), Some(1));
    }
}
