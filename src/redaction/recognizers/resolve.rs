//! Turning overlapping candidates into one non-overlapping answer.

use super::Found;
use super::entity::Precedence;
use std::cmp::Reverse;
use std::collections::BTreeMap;

/// Keeps the candidates that survive, in text order: longest first, then by
/// [`Entity`](super::Entity) priority, then leftmost; each one is kept unless
/// it overlaps one already kept.
///
/// Longest-first means the most complete reading of a string wins (a phone
/// number's digits inside an IBAN lose to the IBAN); priority only breaks
/// ties between readings of exactly the same length.
pub(super) fn non_overlapping(mut candidates: Vec<Found>) -> Vec<Found> {
    candidates.sort_unstable_by_key(|f| (f.start, f.end, f.entity.priority()));
    let mut found = Vec::with_capacity(candidates.len());
    // Candidates that overlap only each other, directly or through a chain,
    // form a cluster; clusters are resolved on their own, and most
    // candidates are a cluster of one.
    let mut rest = candidates.as_mut_slice();
    while let Some(first) = rest.first() {
        let mut reach = first.end;
        let size = 1 + rest[1..]
            .iter()
            .take_while(|f| {
                let overlaps = f.start < reach;
                reach = reach.max(f.end);
                overlaps
            })
            .count();
        let (cluster, tail) = rest.split_at_mut(size);
        resolve_cluster(cluster, &mut found);
        rest = tail;
    }
    found
}

/// Appends the survivors of one cluster, in text order.
fn resolve_cluster(cluster: &mut [Found], found: &mut Vec<Found>) {
    if let [single] = cluster {
        found.push(*single);
        return;
    }
    cluster.sort_unstable_by_key(|f| {
        (
            Reverse(f.end - f.start),
            Reverse(f.entity.priority()),
            f.start,
        )
    });
    // Kept ranges, start -> end; they never overlap, so the one starting
    // last before a candidate's end is the only one it can touch.
    let mut kept: BTreeMap<usize, usize> = BTreeMap::new();
    let first_kept = found.len();
    for f in cluster.iter() {
        let overlaps = kept
            .range(..f.end)
            .next_back()
            .is_some_and(|(_, &end)| end > f.start);
        if !overlaps {
            kept.insert(f.start, f.end);
            found.push(*f);
        }
    }
    found[first_kept..].sort_unstable_by_key(|f| f.start);
}

#[cfg(test)]
mod tests {
    use super::super::Entity::{self, *};
    use super::*;

    fn f(start: usize, end: usize, entity: Entity) -> Found {
        Found { start, end, entity }
    }

    #[test]
    fn disjoint_candidates_all_survive_in_order() {
        let got = non_overlapping(vec![
            f(10, 12, Secret),
            f(0, 5, PhoneNumber),
            f(5, 10, IpAddress),
        ]);
        assert_eq!(
            got,
            [f(0, 5, PhoneNumber), f(5, 10, IpAddress), f(10, 12, Secret)]
        );
    }

    #[test]
    fn longer_match_wins_whatever_its_priority() {
        let got = non_overlapping(vec![f(2, 6, Secret), f(0, 10, PhoneNumber)]);
        assert_eq!(got, [f(0, 10, PhoneNumber)]);
    }

    #[test]
    fn equal_length_resolves_by_priority() {
        let order = [
            Secret,
            EmailAddress,
            IbanCode,
            CreditCard,
            IpAddress,
            PhoneNumber,
        ];
        for (i, &high) in order.iter().enumerate() {
            for &low in &order[i + 1..] {
                let got = non_overlapping(vec![f(1, 9, low), f(0, 8, high)]);
                assert_eq!(got, [f(0, 8, high)], "{high:?} over {low:?}");
            }
        }
    }

    #[test]
    fn equal_length_and_priority_keeps_the_leftmost() {
        let got = non_overlapping(vec![f(3, 8, PhoneNumber), f(0, 5, PhoneNumber)]);
        assert_eq!(got, [f(0, 5, PhoneNumber)]);
    }

    #[test]
    fn a_loser_does_not_block_others() {
        // The long match knocks out the middle one, which then cannot knock
        // out the one after it.
        let got = non_overlapping(vec![
            f(0, 10, Secret),
            f(8, 14, EmailAddress),
            f(12, 20, PhoneNumber),
        ]);
        assert_eq!(got, [f(0, 10, Secret), f(12, 20, PhoneNumber)]);
    }

    #[test]
    fn touching_ranges_do_not_overlap_and_duplicates_collapse() {
        let got = non_overlapping(vec![
            f(0, 4, IpAddress),
            f(4, 8, IpAddress),
            f(0, 4, IpAddress),
        ]);
        assert_eq!(got, [f(0, 4, IpAddress), f(4, 8, IpAddress)]);
    }

    #[test]
    fn clusters_resolve_independently() {
        let got = non_overlapping(vec![
            f(30, 34, IpAddress),
            f(0, 3, PhoneNumber),
            f(2, 9, Secret),
            f(20, 24, EmailAddress),
            f(22, 25, CreditCard),
            f(12, 14, IbanCode),
        ]);
        assert_eq!(
            got,
            [
                f(2, 9, Secret),
                f(12, 14, IbanCode),
                f(20, 24, EmailAddress),
                f(30, 34, IpAddress)
            ]
        );
    }

    #[test]
    fn long_chains_stay_fast() {
        // a@b.co@b.co@...: every candidate overlaps the next.
        let chain: Vec<Found> = (0..200_000)
            .map(|i| f(i * 5, i * 5 + 9, EmailAddress))
            .collect();
        let got = non_overlapping(chain);
        assert_eq!(got.len(), 100_000);
        assert!(got.windows(2).all(|p| p[0].end <= p[1].start));
    }

    #[test]
    fn nothing_in_nothing_out() {
        assert!(non_overlapping(Vec::new()).is_empty());
    }
}
