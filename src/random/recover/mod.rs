//! Recovering the seed of a run that set none, from the random values it printed.
//!
//! PyTorch seeds its default generator at start-up from 8 bytes of `/dev/urandom`, and
//! MT19937 keeps the low 32 bits: an unseeded CPU run drew from one of 2³² streams. A
//! dozen normals printed to 4 decimals single that stream out. `search` tries every seed
//! of a range: the first filter (`filter`) tests Box–Muller pairs through their raw bits,
//! many seeds at once and on every core; the few seeds that pass are replayed with
//! `Generator` and kept when every printed value of the draw comes out as printed.
//! `history` then finds where the notebook's later printed draws lie in the stream, and
//! `interactive` runs a search from the command line (an estimate first, a progress bar,
//! Ctrl-C).
//!
//! ```
//! use crossent::random::recover::{search, PrintedDraw, Progress, SearchSpace};
//! use crossent::random::Generator;
//!
//! // A run seeded with 123456 printed torch.randn(6) to 4 decimals.
//! let mut g = Generator::manual_seed(123_456);
//! let text = crossent::pt::repr(&g.randn(6)?)?;
//! let draw = PrintedDraw::normal("x", &text, 1.0);
//! let space = SearchSpace { seeds: 123_000..124_000, words_before: 8 };
//! let found = search(&draw, &space, &Progress::default())?;
//! assert_eq!(found.len(), 1);
//! assert_eq!((found[0].seed, found[0].words_before), (123_456, 0));
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod filter;
pub mod history;
pub mod interactive;

use crate::printed::{self, PrintedNumber};
use crate::random::Generator;
use anyhow::{bail, Result};
use rayon::prelude::*;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use filter::{PairTest, Scratch, LANES, TOP_BITS};

/// Every seed PyTorch's generator can hold: its low 32 bits.
pub const ALL_SEEDS: Range<u64> = 0..1 << 32;
/// Seeds a task of the search takes at a time (the unit of progress and of Ctrl-C).
const CHUNK: u64 = 1 << 20;
/// Seeds the first filter may pass, expected or counted, before the search gives up: each
/// is replayed exactly, which costs microseconds to milliseconds.
const MAX_SURVIVORS: f64 = 20_000.0;

/// What a cell drew, as far as the search needs to replay it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DrawKind {
    /// `torch.randn(...)` times `scale` (float32), fewer than 16 values: one double
    /// Box–Muller per pair, the second normal cached in the generator.
    Normal {
        /// The factor the cell multiplied the normals by (`torch.randn(6, 2) * 2`).
        scale: f32,
    },
    /// `torch.randint(high, ...)`: one word per value below 2²⁸, `word % high`.
    Randint {
        /// The exclusive upper bound.
        high: u32,
    },
}

/// A random draw a notebook printed: what kind of draw, and the numbers it printed.
#[derive(Clone, Debug)]
pub struct PrintedDraw {
    /// The name the chapter gives it (`x`, `target`).
    pub name: String,
    /// How it was drawn.
    pub kind: DrawKind,
    /// The printed numbers, in memory order, with their rounding.
    pub values: Vec<PrintedNumber>,
}

impl PrintedDraw {
    /// A `torch.randn` draw times `scale`, read from its printed tensor.
    pub fn normal(name: &str, printed: &str, scale: f32) -> Self {
        Self {
            name: name.into(),
            kind: DrawKind::Normal { scale },
            values: printed::numbers(printed),
        }
    }

    /// A `torch.randint(high, ...)` draw, read from its printed tensor.
    pub fn randint(name: &str, printed: &str, high: u32) -> Self {
        Self {
            name: name.into(),
            kind: DrawKind::Randint { high },
            values: printed::numbers(printed),
        }
    }

    /// Whether `values` print as this draw printed.
    pub fn matches(&self, values: &[f64]) -> bool {
        values.len() == self.values.len()
            && self
                .values
                .iter()
                .zip(values)
                .all(|(p, &v)| p.miss(v, 1.0) == 0.0)
    }

    /// Words of the stream one run of the draw takes, given whether a normal was cached
    /// before it; and whether one is cached after it.
    pub fn words_per_run(&self, cached_before: bool) -> (u64, bool) {
        let n = self.values.len() as u64;
        match self.kind {
            DrawKind::Randint { .. } => (n, cached_before),
            DrawKind::Normal { .. } => {
                let fresh = n - u64::from(cached_before && n > 0);
                (
                    fresh.div_ceil(2) * 4,
                    fresh % 2 == 1 || (cached_before && n == 0),
                )
            }
        }
    }

    /// Draws it from `g` as the notebook's cell did (the values as the printed numbers).
    pub fn draw(&self, g: &mut Generator) -> Result<Vec<f64>> {
        let n = self.values.len();
        Ok(match self.kind {
            DrawKind::Normal { scale } => {
                if n >= 16 {
                    bail!(
                        "{} holds {n} normals; the seed search replays draws of fewer than 16 \
                         (PyTorch's element-by-element path)",
                        self.name
                    );
                }
                (0..n)
                    .map(|_| f64::from(g.normal_f64(0.0, 1.0) as f32 * scale))
                    .collect()
            }
            DrawKind::Randint { high } => g
                .randint_values(0, i64::from(high), n)?
                .into_iter()
                .map(|v| v as f64)
                .collect(),
        })
    }
}

/// Which seeds to try, and how many words of the stream may have been drawn before the
/// printed draw.
#[derive(Clone, Debug)]
pub struct SearchSpace {
    /// Seeds to try, within `ALL_SEEDS`.
    pub seeds: Range<u64>,
    /// Words drawn before the draw's first fresh Box–Muller pair, at most (a `randn` of
    /// fewer than 16 values takes 4 words a pair).
    pub words_before: usize,
}

/// Where a printed draw begins in a seed's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start {
    /// The seed (the low 32 bits PyTorch keeps).
    pub seed: u32,
    /// Words drawn before the draw's first fresh pair.
    pub words_before: usize,
    /// When the draw's first value was a normal cached by an earlier `randn`: the word
    /// where that earlier pair began.
    pub cached_from: Option<usize>,
}

impl Start {
    /// A generator in the state the notebook's was in just before the draw.
    pub fn generator(&self) -> Generator {
        let mut g = Generator::manual_seed(u64::from(self.seed));
        match self.cached_from {
            None => g.skip(self.words_before as u64),
            Some(at) => {
                g.skip(at as u64);
                g.normal_f64(0.0, 1.0);
                g.skip((self.words_before - at - 4) as u64);
            }
        }
        g
    }
}

/// How far a search has gone, shared with whoever watches it; `cancel` stops it.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    cancelled: AtomicBool,
}

impl Progress {
    /// Seeds tried so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Asks the search to stop at its next chunk of seeds.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// Every `Start` in `space` from which `draw` prints as printed, in seed order. Runs on
/// rayon's threads; fails when cancelled through `progress`, or when the draw cannot
/// single a stream out (not a `randn` of 3 to 15 values, or `words_before` past 200).
pub fn search(draw: &PrintedDraw, space: &SearchSpace, progress: &Progress) -> Result<Vec<Start>> {
    let tests = pair_tests(draw, space)?;
    if space.seeds.end > ALL_SEEDS.end || space.seeds.start > space.seeds.end {
        bail!(
            "seeds {}..{} are not within PyTorch's 0..2^32",
            space.seeds.start,
            space.seeds.end
        );
    }
    let expected = expected_survivors(draw, space)?;
    if expected > MAX_SURVIVORS {
        bail!(
            "{} is printed too coarsely to single out a seed (about {expected:.0} of the seeds \
             would fit its first values); the seed search needs normals printed to 4 decimals",
            draw.name
        );
    }
    let words = space.words_before + 4;
    let first_batch = space.seeds.start / LANES as u64;
    let end_batch = space.seeds.end.div_ceil(LANES as u64);
    let batches_per_chunk = CHUNK / LANES as u64;
    let chunks = (end_batch - first_batch).div_ceil(batches_per_chunk);
    let survivors = Mutex::new(Vec::new());
    (0..chunks).into_par_iter().for_each_init(
        || Scratch::new(words),
        |scratch, chunk| {
            if progress.is_cancelled() {
                return;
            }
            let from = first_batch + chunk * batches_per_chunk;
            let to = (from + batches_per_chunk).min(end_batch);
            let mut found = Vec::new();
            for b in from..to {
                let base = b * LANES as u64;
                let bits = filter::batch(base as u32, &tests, scratch);
                for (word, &mask) in bits.iter().enumerate() {
                    let mut mask = mask;
                    while mask != 0 {
                        let lane = mask.trailing_zeros() as u64;
                        mask &= mask - 1;
                        let seed = base + word as u64 * 64 + lane;
                        if space.seeds.contains(&seed) {
                            found.push(seed as u32);
                        }
                    }
                }
            }
            let counted = (to * LANES as u64).min(space.seeds.end)
                - (from * LANES as u64).max(space.seeds.start);
            progress.done.fetch_add(counted, Ordering::Relaxed);
            if !found.is_empty() {
                survivors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(found);
            }
        },
    );
    let mut survivors = survivors.into_inner().unwrap_or_else(|e| e.into_inner());
    if survivors.len() as f64 > MAX_SURVIVORS {
        bail!(
            "more than {MAX_SURVIVORS} seeds fit {}'s first values: too many to replay",
            draw.name
        );
    }
    if progress.is_cancelled() {
        bail!("the seed search was cancelled");
    }
    survivors.sort_unstable();
    survivors.dedup();
    let mut starts = Vec::new();
    for seed in survivors {
        starts.extend(exact_starts(draw, seed, space.words_before)?);
    }
    Ok(starts)
}

/// How many seeds of `space` the first filter is expected to pass for `draw` (by chance:
/// each pass is replayed exactly). About 50 for chapter 2's `x` over all seeds, 8 words
/// allowed before it.
pub fn expected_survivors(draw: &PrintedDraw, space: &SearchSpace) -> Result<f64> {
    let share = |width: u32| f64::from(width + 1) / f64::from(1u32 << 21);
    Ok(pair_tests(draw, space)?
        .iter()
        .map(|t| share(t.u1_width) * share(t.u2_width))
        .sum::<f64>()
        * space.seeds.end.saturating_sub(space.seeds.start) as f64)
}

/// Every start of `seed` with at most `words_before` words before it from which `draw`
/// prints exactly as printed: replayed with `Generator`.
pub fn exact_starts(draw: &PrintedDraw, seed: u32, words_before: usize) -> Result<Vec<Start>> {
    let mut starts = Vec::new();
    for at in 0..=words_before {
        let mut candidates = vec![Start {
            seed,
            words_before: at,
            cached_from: None,
        }];
        candidates.extend(
            (0..=at.saturating_sub(4))
                .filter(|_| at >= 4)
                .map(|c| Start {
                    seed,
                    words_before: at,
                    cached_from: Some(c),
                }),
        );
        for start in candidates {
            if draw.matches(&draw.draw(&mut start.generator())?) {
                starts.push(start);
            }
        }
    }
    Ok(starts)
}

/// The first filter's tests for `draw`: its first pair fresh at each word up to
/// `words_before`, or its first value cached and its second and third a fresh pair.
fn pair_tests(draw: &PrintedDraw, space: &SearchSpace) -> Result<Vec<PairTest>> {
    let DrawKind::Normal { scale } = draw.kind else {
        bail!(
            "the seed search starts from a printed torch.randn, and {} is not one",
            draw.name
        );
    };
    if !(3..16).contains(&draw.values.len()) {
        bail!(
            "{} prints {} normals; the seed search needs 3 to 15 (PyTorch's element-by-element path)",
            draw.name,
            draw.values.len()
        );
    }
    if space.words_before > 200 {
        bail!(
            "the seed search allows at most 200 words before the draw, not {}",
            space.words_before
        );
    }
    let v = &draw.values;
    let fresh = pair_bits(&v[0], &v[1], scale);
    let cached = pair_bits(&v[1], &v[2], scale);
    let mut tests: Vec<PairTest> = (0..=space.words_before)
        .map(|at| PairTest { at, ..fresh })
        .collect();
    tests.extend((4..=space.words_before).map(|at| PairTest { at, ..cached }));
    Ok(tests)
}

/// The bit ranges of `u1` and `u2` for a pair `(r·cos θ, r·sin θ)` printed as `cos`,
/// `sin` after a multiplication by `scale`, with room for the float32 roundings.
fn pair_bits(cos: &PrintedNumber, sin: &PrintedNumber, scale: f32) -> PairTest {
    let interval = |p: &PrintedNumber| {
        let a = (p.value - p.half_unit) / f64::from(scale);
        let b = (p.value + p.half_unit) / f64::from(scale);
        let margin = a.abs().max(b.abs()) * 1e-6 + 1e-12;
        (a.min(b) - margin, a.max(b) + margin)
    };
    let (x, y) = (interval(cos), interval(sin));
    let nearest = |(a, b): (f64, f64)| {
        if a > 0.0 {
            a
        } else if b < 0.0 {
            -b
        } else {
            0.0
        }
    };
    let farthest = |(a, b): (f64, f64)| f64::max(a * a, b * b);
    let r2_min = nearest(x).powi(2) + nearest(y).powi(2);
    let r2_max = farthest(x) + farthest(y);
    let top = |u: f64| (u * f64::from(1u32 << 21)).floor();
    let u2_low = (top(-(-r2_min / 2.0).exp_m1()) - 1.0).max(0.0);
    let u2_high = top(-(-r2_max / 2.0).exp_m1()) + 1.0;
    let (u1_low, u1_width) = if nearest(x) == 0.0 && nearest(y) == 0.0 {
        (0, TOP_BITS)
    } else {
        let center = ((y.0 + y.1) / 2.0).atan2((x.0 + x.1) / 2.0);
        let offsets = [(x.0, y.0), (x.0, y.1), (x.1, y.0), (x.1, y.1)].map(|(cx, cy)| {
            let d = cy.atan2(cx) - center;
            (d + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI
        });
        let low = center + offsets.iter().cloned().fold(f64::INFINITY, f64::min);
        let extent = offsets.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            - offsets.iter().cloned().fold(f64::INFINITY, f64::min);
        let low_u = (low / std::f64::consts::TAU).rem_euclid(1.0);
        let width = (extent / std::f64::consts::TAU * f64::from(1u32 << 21)).ceil() + 4.0;
        let low_bits = (top(low_u) as i64 - 2).rem_euclid(1 << 21) as u32;
        (low_bits, (width as u32).min(TOP_BITS))
    };
    PairTest {
        at: 0,
        u1_low,
        u1_width,
        u2_low: u2_low as u32,
        u2_width: (u2_high - u2_low) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed_randn(seed: u64, skip: u64, n: usize, scale: f32) -> String {
        let mut g = Generator::manual_seed(seed);
        g.skip(skip);
        let values: Vec<f32> = g
            .normal_values(n, 0.0, 1.0)
            .into_iter()
            .map(|v| v * scale)
            .collect();
        let t = candle_core::Tensor::from_vec(values, n, &candle_core::Device::Cpu).unwrap();
        crate::pt::repr(&t).unwrap()
    }

    #[test]
    fn a_seed_is_found_after_earlier_words() {
        let text = printed_randn(3_000_000_017, 6, 12, 2.0);
        let draw = PrintedDraw::normal("a", &text, 2.0);
        let space = SearchSpace {
            seeds: 3_000_000_000..3_000_001_000,
            words_before: 8,
        };
        let found = search(&draw, &space, &Progress::default()).unwrap();
        assert_eq!(
            found,
            vec![Start {
                seed: 3_000_000_017,
                words_before: 6,
                cached_from: None
            }]
        );
    }

    #[test]
    fn a_first_value_from_the_cache_is_found() {
        let mut g = Generator::manual_seed(77);
        g.skip(1);
        g.normal_f64(0.0, 1.0);
        g.skip(3);
        let values: Vec<f32> = g.normal_values(15, 0.0, 1.0);
        let t = candle_core::Tensor::from_vec(values, 15, &candle_core::Device::Cpu).unwrap();
        let draw = PrintedDraw::normal("x", &crate::pt::repr(&t).unwrap(), 1.0);
        let space = SearchSpace {
            seeds: 0..300,
            words_before: 8,
        };
        let found = search(&draw, &space, &Progress::default()).unwrap();
        assert_eq!(
            found,
            vec![Start {
                seed: 77,
                words_before: 8,
                cached_from: Some(1)
            }]
        );
    }

    #[test]
    fn the_bit_ranges_hold_every_pair_that_prints_so() {
        // Many pairs of one stream: each must pass the test built from its own print.
        let mut g = Generator::manual_seed(5);
        for _ in 0..2000 {
            let (w0, w1, w2, w3) = (g.random(), g.random(), g.random(), g.random());
            let u1 = (((u64::from(w0) << 32) | u64::from(w1)) & ((1 << 53) - 1)) as f64
                / 9_007_199_254_740_992.0;
            let u2 = (((u64::from(w2) << 32) | u64::from(w3)) & ((1 << 53) - 1)) as f64
                / 9_007_199_254_740_992.0;
            let r = (-2.0 * (-u2).ln_1p()).sqrt();
            let theta = std::f64::consts::TAU * u1;
            let (c, s) = ((r * theta.cos()) as f32, (r * theta.sin()) as f32);
            let text = format!("tensor([{c:.4}, {s:.4}])");
            let numbers = printed::numbers(&text);
            let test = pair_bits(&numbers[0], &numbers[1], 1.0);
            let angle = ((w0 & TOP_BITS).wrapping_sub(test.u1_low) & TOP_BITS) <= test.u1_width;
            let radius = (w2 & TOP_BITS).wrapping_sub(test.u2_low) <= test.u2_width;
            assert!(angle && radius, "{text}: {test:?}");
        }
    }

    #[test]
    fn a_draw_the_search_cannot_use_is_refused() {
        let space = SearchSpace {
            seeds: 0..10,
            words_before: 8,
        };
        let ints = PrintedDraw::randint("t", "tensor([2, 0, 1])", 3);
        assert!(search(&ints, &space, &Progress::default()).is_err());
        let two = PrintedDraw::normal("x", "tensor([0.1000, 0.2000])", 1.0);
        assert!(search(&two, &space, &Progress::default()).is_err());
        let coarse = PrintedDraw::normal("x", "tensor([1.e+00, 2.e+00, 1.e+00])", 1.0);
        let err = search(
            &coarse,
            &SearchSpace {
                seeds: ALL_SEEDS,
                ..space
            },
            &Progress::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("x is printed too coarsely"), "{err}");
    }
}
