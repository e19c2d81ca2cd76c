//! The project's seeded random generator: every random draw of the chapters, tests and
//! benchmarks comes from one, so two runs print the same bytes on any machine.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A ChaCha8 generator from a seed: the same draws on every machine and thread count.
pub struct SeededRng(ChaCha8Rng);

impl SeededRng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// `n` draws uniform in `[-bound, bound)`.
    pub fn uniform(&mut self, n: usize, bound: f32) -> Vec<f32> {
        (0..n).map(|_| self.0.random_range(-bound..bound)).collect()
    }

    /// A random permutation of `0..n` (`torch.randperm`).
    pub fn permutation(&mut self, n: usize) -> Vec<u32> {
        let mut p: Vec<u32> = (0..n as u32).collect();
        p.shuffle(&mut self.0);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_draws_repeat_and_stay_in_bounds() {
        let a = SeededRng::new(7).uniform(1000, 0.25);
        let b = SeededRng::new(7).uniform(1000, 0.25);
        assert_eq!(a, b);
        assert!(a.iter().all(|v| (-0.25..0.25).contains(v)));
        let mut p = SeededRng::new(7).permutation(10);
        p.sort();
        assert_eq!(p, (0..10).collect::<Vec<u32>>());
    }
}
