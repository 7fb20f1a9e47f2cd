//! Tokens per example in bounded memory: counts below 4,096 are kept exactly,
//! larger ones by their 12 highest bits (within 1/4,096 of the true value),
//! in a sparse map of at most a few thousand buckets however many examples
//! come. Percentiles interpolate linearly between the two nearest ranks, as
//! numpy's default `percentile` does; min, max, total and mean are exact.

use std::collections::BTreeMap;

/// Bits of a count kept; values below 2^SIGNIFICANT_BITS are exact.
const SIGNIFICANT_BITS: u32 = 12;

#[derive(Debug, Default)]
pub struct TokenHistogram {
    buckets: BTreeMap<u64, u64>,
    examples: u64,
    total: u64,
    min: u64,
    max: u64,
}

fn bucket(tokens: u64) -> u64 {
    let bits = u64::BITS - tokens.leading_zeros();
    if bits <= SIGNIFICANT_BITS {
        return tokens;
    }
    let shift = bits - SIGNIFICANT_BITS;
    (tokens >> shift) << shift
}

impl TokenHistogram {
    pub fn add(&mut self, tokens: u64) {
        if self.examples == 0 || tokens < self.min {
            self.min = tokens;
        }
        self.max = self.max.max(tokens);
        self.examples += 1;
        self.total += tokens;
        *self.buckets.entry(bucket(tokens)).or_default() += 1;
    }

    pub fn examples(&self) -> u64 {
        self.examples
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// (min, max), None when empty.
    pub fn range(&self) -> Option<(u64, u64)> {
        (self.examples > 0).then_some((self.min, self.max))
    }

    /// The value at a 0-based rank (a bucket's value is its lowest, kept
    /// within the exact min and max).
    fn at_rank(&self, rank: u64) -> u64 {
        let mut seen = 0;
        for (&value, &count) in &self.buckets {
            seen += count;
            if rank < seen {
                return value.clamp(self.min, self.max);
            }
        }
        self.max
    }

    /// The `fraction` (0–1) percentile by linear interpolation; None when empty.
    pub fn percentile(&self, fraction: f64) -> Option<f64> {
        if self.examples == 0 {
            return None;
        }
        let position = (self.examples - 1) as f64 * fraction;
        let below = position.floor() as u64;
        let low = self.at_rank(below) as f64;
        if below + 1 >= self.examples {
            return Some(low);
        }
        let high = self.at_rank(below + 1) as f64;
        Some(low + (high - low) * (position - below as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let mut histogram = TokenHistogram::default();
        for tokens in [10, 20, 30, 40] {
            histogram.add(tokens);
        }
        // numpy.percentile([10, 20, 30, 40], [50, 95]) == [25.0, 38.5]
        assert_eq!(histogram.percentile(0.5), Some(25.0));
        assert_eq!(histogram.percentile(0.95), Some(38.5));
        assert_eq!(histogram.range(), Some((10, 40)));
        assert_eq!(TokenHistogram::default().percentile(0.5), None);
    }

    #[test]
    fn large_counts_stay_within_their_bucket() {
        assert_eq!(bucket(4095), 4095);
        assert_eq!(bucket(4097), 4096);
        assert_eq!(bucket(1_000_001) >> 8, 1_000_001 >> 8);
    }
}
