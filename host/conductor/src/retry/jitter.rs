//! [`Jitter`]: the randomness behind full-jitter backoff — SplitMix64, seedable so tests are
//! deterministic, lock-free so one retrier can serve many callers. Not for anything that needs
//! unpredictability: it only spreads retries out in time.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// SplitMix64's increment (the golden ratio in 64-bit fixed point).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// A SplitMix64 generator. Its state only ever advances by a constant, so an atomic add makes
/// it shareable without a lock; draws from one thread follow the reference sequence exactly.
#[derive(Debug)]
pub struct Jitter {
    state: AtomicU64,
}

impl Jitter {
    /// A generator that yields the same sequence for the same seed.
    #[must_use]
    pub fn from_seed(seed: u64) -> Self {
        Self { state: AtomicU64::new(seed) }
    }

    /// A generator seeded differently in every process (from std's per-process random hasher
    /// keys), so hosts restarted together do not retry in lockstep.
    #[must_use]
    pub fn from_entropy() -> Self {
        Self::from_seed(std::collections::hash_map::RandomState::new().hash_one(GAMMA))
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        let mut z = self.state.fetch_add(GAMMA, Ordering::Relaxed).wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw from `0..=max` (multiply-shift; the bias is below `max / 2^64`).
    pub fn uniform_inclusive(&self, max: u64) -> u64 {
        let Some(span) = max.checked_add(1) else {
            return self.next_u64();
        };
        let scaled = (u128::from(self.next_u64()) * u128::from(span)) >> 64;
        u64::try_from(scaled).unwrap_or(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_splitmix64_reference_sequence() {
        let jitter = Jitter::from_seed(1_234_567);
        let drawn: Vec<u64> = (0..3).map(|_| jitter.next_u64()).collect();
        assert_eq!(drawn, [6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423]);
        assert_eq!(Jitter::from_seed(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn uniform_draws_stay_in_range_and_cover_it() {
        let jitter = Jitter::from_seed(7);
        assert!((0..100).all(|_| jitter.uniform_inclusive(0) == 0));
        let draws: Vec<u64> = (0..10_000).map(|_| jitter.uniform_inclusive(9)).collect();
        assert!(draws.iter().all(|&d| d <= 9));
        for value in 0..=9 {
            assert!(draws.contains(&value), "{value} never drawn");
        }
        let _ = jitter.uniform_inclusive(u64::MAX);
    }

    #[test]
    fn entropy_seeds_differ_between_generators() {
        assert_ne!(Jitter::from_entropy().next_u64(), Jitter::from_entropy().next_u64());
    }
}
