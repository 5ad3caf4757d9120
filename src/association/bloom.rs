//! Which edits are already associated, approximately: a Bloom filter over `(wiki, revision)`
//! keys, loaded at warm-up and kept current from the change stream's contribution notices.
//! "No" is certain and saves the association route a query; "maybe" asks Postgres, whose
//! unique index stays the final word. Brand-new edits — nearly every association — are "no".

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Bits per expected key: 16 bits and 7 hashes give about 0.05% false positives.
const BITS_PER_KEY: u64 = 16;
const HASHES: u64 = 7;

pub struct AssociatedEdits {
    bits: Box<[AtomicU64]>,
    /// False until the stored keys are loaded: until then every check goes to Postgres.
    loaded: AtomicBool,
}

impl AssociatedEdits {
    /// Sized for `expected` keys (at least a million; it degrades gracefully past that, with
    /// more "maybe" answers, never a wrong "no").
    pub fn with_capacity(expected: u64) -> Self {
        let bits = (expected.max(1_000_000) * BITS_PER_KEY).next_power_of_two();
        Self {
            bits: (0..bits / 64).map(|_| AtomicU64::new(0)).collect(),
            loaded: AtomicBool::new(false),
        }
    }

    fn positions(&self, wiki: &str, revision: u64) -> impl Iterator<Item = u64> {
        // Double hashing (Kirsch–Mitzenmacher): two hashes make all seven.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (wiki, revision).hash(&mut h);
        let a = h.finish();
        let b = a.rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15 | 1;
        let mask = self.bits.len() as u64 * 64 - 1;
        (0..HASHES).map(move |i| a.wrapping_add(i.wrapping_mul(b)) & mask)
    }

    pub fn insert(&self, wiki: &str, revision: u64) {
        for p in self.positions(wiki, revision) {
            self.bits[(p / 64) as usize].fetch_or(1 << (p % 64), Ordering::Relaxed);
        }
    }

    /// `false`: certainly not associated. `true`: maybe (or not loaded yet): ask Postgres.
    pub fn maybe_contains(&self, wiki: &str, revision: u64) -> bool {
        if !self.loaded.load(Ordering::Acquire) {
            return true;
        }
        self.positions(wiki, revision)
            .all(|p| self.bits[(p / 64) as usize].load(Ordering::Relaxed) & (1 << (p % 64)) != 0)
    }

    pub fn set_loaded(&self) {
        self.loaded.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let f = AssociatedEdits::with_capacity(10_000);
        assert!(f.maybe_contains("ptwiki", 1), "not loaded: always maybe");
        f.set_loaded();
        for r in 0..10_000 {
            f.insert("ptwiki", r);
        }
        assert!((0..10_000).all(|r| f.maybe_contains("ptwiki", r)));
        let fp = (10_000..110_000)
            .filter(|r| f.maybe_contains("ptwiki", *r))
            .count();
        assert!(fp < 100, "{fp} false positives in 100k");
    }
}
