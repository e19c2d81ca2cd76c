//! The seed search's first filter: many seeds at once, no floating point.
//!
//! For a batch of consecutive seeds it runs MT19937's seeding only as far as the first
//! words of the stream need (`397 + words` of its 624 steps), twists and tempers those
//! words, and tests Box–Muller pairs against the printed values through their raw bits:
//! a pair `(r·cos θ, r·sin θ)` printed to 4 decimals pins `u1 = θ/2π` and
//! `u2 = 1 − exp(−r²/2)` to small intervals, and the top 21 bits of a double uniform
//! are the low 21 bits of its first word. The lanes of a batch are independent, so the
//! loops vectorise; AVX-512 and AVX2 versions are chosen at run time.

/// Seeds per batch: enough independent lanes to hide the multiply's latency.
pub const LANES: usize = 128;
/// The 21 bits of a word that are the top of a double uniform.
pub const TOP_BITS: u32 = (1 << 21) - 1;

/// A test on the pair of normals whose four words start at `at`: the first double's top
/// bits within `u1_low + [0, u1_width]` modulo 2²¹ (the angle wraps), the second's
/// within `u2_low + [0, u2_width]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairTest {
    /// The word where the pair's `u1` begins.
    pub at: usize,
    /// `u1`'s top 21 bits, the lowest admitted.
    pub u1_low: u32,
    /// How many more `u1` values are admitted (modulo 2²¹).
    pub u1_width: u32,
    /// `u2`'s top 21 bits, the lowest admitted.
    pub u2_low: u32,
    /// How many more `u2` values are admitted.
    pub u2_width: u32,
}

/// Reusable buffers for one thread's batches.
pub struct Scratch {
    /// The seeding's states `0..=words`, lane by lane.
    low: Vec<[u32; LANES]>,
    /// The seeding's states `397..397 + words`.
    high: Vec<[u32; LANES]>,
    /// The first `words` outputs of each lane's stream.
    words: Vec<[u32; LANES]>,
}

impl Scratch {
    /// Buffers for streams of `words` words (at most 227: the twist's first run).
    pub fn new(words: usize) -> Self {
        assert!(
            (1..=227).contains(&words),
            "the filter reads at most 227 words"
        );
        Self {
            low: vec![[0; LANES]; words + 1],
            high: vec![[0; LANES]; words],
            words: vec![[0; LANES]; words],
        }
    }
}

/// The seeds `base + lane` (lane < `LANES`) any of whose `tests` pass, as a bit per lane.
pub fn batch(base: u32, tests: &[PairTest], scratch: &mut Scratch) -> [u64; LANES / 64] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the feature the function is compiled for.
            return unsafe { batch_avx512(base, tests, scratch) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { batch_avx2(base, tests, scratch) };
        }
    }
    batch_portable(base, tests, scratch)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn batch_avx512(base: u32, tests: &[PairTest], scratch: &mut Scratch) -> [u64; LANES / 64] {
    batch_portable(base, tests, scratch)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn batch_avx2(base: u32, tests: &[PairTest], scratch: &mut Scratch) -> [u64; LANES / 64] {
    batch_portable(base, tests, scratch)
}

#[inline(always)]
fn batch_portable(base: u32, tests: &[PairTest], scratch: &mut Scratch) -> [u64; LANES / 64] {
    let words = scratch.words.len();
    let mut state = [0u32; LANES];
    for (lane, s) in state.iter_mut().enumerate() {
        *s = base.wrapping_add(lane as u32);
    }
    scratch.low[0] = state;
    for i in 1..397 + words {
        for s in state.iter_mut() {
            *s = 1_812_433_253u32
                .wrapping_mul(*s ^ (*s >> 30))
                .wrapping_add(i as u32);
        }
        if i <= words {
            scratch.low[i] = state;
        } else if i >= 397 {
            scratch.high[i - 397] = state;
        }
    }
    for j in 0..words {
        let (now, next, far) = (&scratch.low[j], &scratch.low[j + 1], &scratch.high[j]);
        let out = &mut scratch.words[j];
        for lane in 0..LANES {
            let y = (now[lane] & 0x8000_0000) | (next[lane] & 0x7fff_ffff);
            let mut w = far[lane] ^ (y >> 1) ^ (0x9908_b0df & (y & 1).wrapping_neg());
            w ^= w >> 11;
            w ^= (w << 7) & 0x9d2c_5680;
            w ^= (w << 15) & 0xefc6_0000;
            out[lane] = w ^ (w >> 18);
        }
    }
    let mut pass = [0u32; LANES];
    for test in tests {
        let (u1, u2) = (&scratch.words[test.at], &scratch.words[test.at + 2]);
        for lane in 0..LANES {
            let angle =
                ((u1[lane] & TOP_BITS).wrapping_sub(test.u1_low) & TOP_BITS) <= test.u1_width;
            let radius = (u2[lane] & TOP_BITS).wrapping_sub(test.u2_low) <= test.u2_width;
            pass[lane] |= u32::from(angle & radius);
        }
    }
    let mut bits = [0u64; LANES / 64];
    for (lane, &p) in pass.iter().enumerate() {
        bits[lane / 64] |= u64::from(p) << (lane % 64);
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Generator;

    #[test]
    fn the_batch_streams_are_the_generators() {
        let mut scratch = Scratch::new(12);
        let base = 4_000_000_000u32;
        batch(base, &[], &mut scratch);
        for lane in [0, 1, 77, LANES - 1] {
            let mut g = Generator::manual_seed(u64::from(base) + lane as u64);
            for j in 0..12 {
                assert_eq!(scratch.words[j][lane], g.random(), "lane {lane} word {j}");
            }
        }
    }

    #[test]
    fn every_instruction_set_passes_the_same_lanes() {
        let tests: Vec<PairTest> = (0..8)
            .map(|at| PairTest {
                at,
                u1_low: 1 << 20,
                u1_width: 1 << 18,
                u2_low: 1 << 19,
                u2_width: 1 << 18,
            })
            .collect();
        let mut scratch = Scratch::new(12);
        for base in [0u32, 123_456_789, u32::MAX - 200] {
            let portable = batch_portable(base, &tests, &mut scratch);
            let passing: u32 = portable.iter().map(|b| b.count_ones()).sum();
            assert!((1..LANES as u32).contains(&passing), "{passing} lanes pass");
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has the feature.
                    assert_eq!(unsafe { batch_avx2(base, &tests, &mut scratch) }, portable);
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: as above.
                    assert_eq!(
                        unsafe { batch_avx512(base, &tests, &mut scratch) },
                        portable
                    );
                }
            }
        }
    }

    #[test]
    fn a_test_passes_exactly_the_lanes_whose_bits_lie_inside() {
        let mut scratch = Scratch::new(8);
        let base = 1000;
        batch(base, &[], &mut scratch);
        let (u1, u2) = (
            scratch.words[3][5] & TOP_BITS,
            scratch.words[5][5] & TOP_BITS,
        );
        let test = PairTest {
            at: 3,
            u1_low: u1.wrapping_sub(2) & TOP_BITS,
            u1_width: 4,
            u2_low: u2 - 1,
            u2_width: 2,
        };
        let bits = batch(base, &[test], &mut scratch);
        assert_eq!(bits[0] >> 5 & 1, 1);
        let narrow = PairTest {
            u2_low: u2 + 1,
            ..test
        };
        let bits = batch(base, &[narrow], &mut scratch);
        assert_eq!(bits[0] >> 5 & 1, 0);
    }
}
