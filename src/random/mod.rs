//! PyTorch's CPU random generator, bit for bit: `torch.manual_seed(s)` then the same ops
//! draw the same numbers here as in PyTorch 2.x on an x86-64 CPU (see
//! `scripts/dump_torch_random.py` and `tests/random.rs`, which hold the two against each
//! other). Every random draw of the project comes from a `Generator`.
//!
//! The engine is MT19937 seeded with the seed's low 32 bits. On top of it, each op
//! consumes and transforms its 32-bit words as PyTorch's kernels do:
//! - uniforms: 24 bits a float (`rand`, `uniform_`), 53 bits from two words a double;
//! - normals: fewer than 16 values one double Box–Muller each, with the second value of
//!   a pair cached in the generator; 16 or more, PyTorch's AVX2 kernel (`mathfun`):
//!   all uniforms first, then blocks of 16, the last block redrawn when 16 does not
//!   divide the count;
//! - `randint`, `randperm`, `multinomial`, `bernoulli`, and the initialisations and data
//!   loading of `torch.nn` (`nn`).
//!
//! The ops return candle tensors on the CPU; a chapter moves them to its device.

pub mod mathfun;
pub mod nn;
pub mod recover;

use anyhow::{bail, Result};
use candle_core::{Device, Shape, Tensor};

const N: usize = 624;
const M: usize = 397;
/// The seed of a `torch.Generator()` that was never seeded.
pub const DEFAULT_SEED: u64 = 67_280_421_310_721;
/// Below this many elements `randperm` swaps forward with 32-bit words; from it on it
/// shuffles inside-out with 64-bit ones (`u32::MAX / 20`).
pub const RANDPERM_SMALL_LIMIT: usize = (u32::MAX / 20) as usize;

/// A PyTorch CPU generator: MT19937 and the cached normal.
///
/// ```
/// use crossent::random::Generator;
///
/// // torch.manual_seed(0); torch.rand(2)  ->  tensor([0.4963, 0.7682])
/// let mut g = Generator::manual_seed(0);
/// let x = g.rand(2)?;
/// assert_eq!(crossent::pt::repr(&x)?, "tensor([0.4963, 0.7682])");
/// # Ok::<(), anyhow::Error>(())
/// ```
#[derive(Clone)]
pub struct Generator {
    state: [u32; N],
    next: usize,
    seed: u64,
    cached_normal: Option<f64>,
}

impl Default for Generator {
    /// `torch.Generator()`: seeded with PyTorch's default seed.
    fn default() -> Self {
        Self::manual_seed(DEFAULT_SEED)
    }
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("seed", &self.seed)
            .field("cached_normal", &self.cached_normal)
            .finish_non_exhaustive()
    }
}

impl Generator {
    /// `torch.manual_seed(seed)`: a generator in the state PyTorch's is in after it (a
    /// negative Python seed is its two's complement, `seed as u64`).
    pub fn manual_seed(seed: u64) -> Self {
        let mut state = [0u32; N];
        state[0] = seed as u32;
        for i in 1..N {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Self {
            state,
            next: N,
            seed,
            cached_normal: None,
        }
    }

    /// `initial_seed()`: the seed given.
    pub fn initial_seed(&self) -> u64 {
        self.seed
    }

    fn twist(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        let mix = |s: &[u32; N], i: usize, next: usize, far: usize| {
            let y = (s[i] & UPPER) | (s[next] & LOWER);
            s[far] ^ (y >> 1) ^ (MATRIX_A & (y & 1).wrapping_neg())
        };
        // The standard twist, its index wrap-around split into three loops.
        for i in 0..N - M {
            self.state[i] = mix(&self.state, i, i + 1, i + M);
        }
        for i in N - M..N - 1 {
            self.state[i] = mix(&self.state, i, i + 1, i + M - N);
        }
        self.state[N - 1] = mix(&self.state, N - 1, 0, M - 1);
        self.next = 0;
    }

    /// `random()`: one 32-bit word of the engine.
    pub fn random(&mut self) -> u32 {
        if self.next >= N {
            self.twist();
        }
        let mut y = self.state[self.next];
        self.next += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// Draws and discards `words` words, as draws a notebook did not print would.
    pub fn skip(&mut self, words: u64) {
        for _ in 0..words {
            self.random();
        }
    }

    /// Whether a normal is cached: the second of a pair whose first a draw of fewer than
    /// 16 normals returned.
    pub fn has_cached_normal(&self) -> bool {
        self.cached_normal.is_some()
    }

    /// Takes the cached normal, as the next draw of fewer than 16 normals would.
    pub fn take_cached_normal(&mut self) -> Option<f64> {
        self.cached_normal.take()
    }

    /// `random64()`: two words, the first in the high half.
    pub fn random64(&mut self) -> u64 {
        let high = u64::from(self.random());
        (high << 32) | u64::from(self.random())
    }

    /// One float uniform in `[0, 1)`: 24 bits of one word.
    pub fn uniform_f32(&mut self) -> f32 {
        (self.random() & 0x00ff_ffff) as f32 * (1.0 / 16_777_216.0)
    }

    /// One double uniform in `[0, 1)`: 53 bits of two words.
    pub fn uniform_f64(&mut self) -> f64 {
        (self.random64() & ((1 << 53) - 1)) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `n` float uniforms in `[0, 1)`, in memory order.
    pub fn rand_values(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.uniform_f32()).collect()
    }

    /// `torch.rand(shape)`.
    pub fn rand<S: Into<Shape>>(&mut self, shape: S) -> Result<Tensor> {
        let shape = shape.into();
        let values = self.rand_values(shape.elem_count());
        Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
    }

    /// `Tensor.uniform_(from, to)` on `n` float32 elements: `fma(u, to − from, from)`
    /// in float, with `from` and `to` first rounded to float.
    pub fn uniform_values(&mut self, n: usize, from: f64, to: f64) -> Vec<f32> {
        let (from, to) = (from as f32, to as f32);
        (0..n)
            .map(|_| self.uniform_f32().mul_add(to - from, from))
            .collect()
    }

    /// `torch.empty(shape).uniform_(from, to)`.
    pub fn uniform<S: Into<Shape>>(&mut self, shape: S, from: f64, to: f64) -> Result<Tensor> {
        let shape = shape.into();
        let values = self.uniform_values(shape.elem_count(), from, to);
        Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
    }

    /// One double normal as `at::normal_distribution<double>` draws it: the cached
    /// second value of the last pair if there is one, else a fresh Box–Muller pair
    /// (`u1` then `u2`, radius from `log1p(−u2)`) whose sine is cached.
    pub fn normal_f64(&mut self, mean: f64, std: f64) -> f64 {
        if let Some(cached) = self.cached_normal.take() {
            return cached * std + mean;
        }
        let u1 = self.uniform_f64();
        let u2 = self.uniform_f64();
        let radius = (-2.0 * (-u2).ln_1p()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u1;
        self.cached_normal = Some(radius * theta.sin());
        radius * theta.cos() * std + mean
    }

    /// `normal_(mean, std)` on `n` contiguous float32 elements: PyTorch's two paths
    /// (see the module doc).
    pub fn normal_values(&mut self, n: usize, mean: f64, std: f64) -> Vec<f32> {
        if n < 16 {
            return (0..n).map(|_| self.normal_f64(mean, std) as f32).collect();
        }
        let mut data = self.rand_values(n);
        for block in data.chunks_exact_mut(16) {
            mathfun::box_muller_16(block.try_into().expect("a block of 16"));
        }
        if !n.is_multiple_of(16) {
            let mut block = [0f32; 16];
            for v in block.iter_mut() {
                *v = self.uniform_f32();
            }
            mathfun::box_muller_16(&mut block);
            data[n - 16..].copy_from_slice(&block);
        }
        if (mean, std) != (0.0, 1.0) {
            let (mean, std) = (mean as f32, std as f32);
            for v in &mut data {
                *v = v.mul_add(std, mean);
            }
        }
        data
    }

    /// `torch.randn(shape)`.
    pub fn randn<S: Into<Shape>>(&mut self, shape: S) -> Result<Tensor> {
        self.normal(0.0, 1.0, shape)
    }

    /// `torch.normal(mean, std, shape)`, float32.
    pub fn normal<S: Into<Shape>>(&mut self, mean: f64, std: f64, shape: S) -> Result<Tensor> {
        let shape = shape.into();
        let values = self.normal_values(shape.elem_count(), mean, std);
        Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
    }

    /// `n` draws of `torch.randint(low, high)`.
    pub fn randint_values(&mut self, low: i64, high: i64, n: usize) -> Result<Vec<i64>> {
        if high <= low {
            bail!("randint needs low < high, got low={low} and high={high}");
        }
        let range = high.wrapping_sub(low) as u64;
        Ok((0..n)
            .map(|_| {
                let r = if range < 1 << 28 {
                    u64::from(self.random()) % range
                } else {
                    self.random64() % range
                };
                low.wrapping_add(r as i64)
            })
            .collect())
    }

    /// `torch.randint(low, high, shape)`, int64.
    pub fn randint<S: Into<Shape>>(&mut self, low: i64, high: i64, shape: S) -> Result<Tensor> {
        let shape = shape.into();
        let values = self.randint_values(low, high, shape.elem_count())?;
        Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
    }

    /// The permutation `torch.randperm(n)` draws, as indices.
    pub fn randperm_values(&mut self, n: usize) -> Vec<i64> {
        if n < RANDPERM_SMALL_LIMIT {
            let mut perm: Vec<i64> = (0..n as i64).collect();
            for i in 0..n.saturating_sub(1) {
                let z = self.random() as usize % (n - i);
                perm.swap(i, i + z);
            }
            perm
        } else {
            let mut perm = vec![0i64; n];
            for i in 0..n {
                let z = (self.random64() % (i as u64 + 1)) as usize;
                perm[i] = perm[z];
                perm[z] = i as i64;
            }
            perm
        }
    }

    /// `torch.randperm(n)`, int64.
    pub fn randperm(&mut self, n: usize) -> Result<Tensor> {
        Ok(Tensor::from_vec(self.randperm_values(n), n, &Device::Cpu)?)
    }

    /// `exponential_(1)` on `n` float32 elements: `−log1p(−u)` of a double uniform.
    pub fn exponential_values(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| (-(-self.uniform_f64()).ln_1p()) as f32)
            .collect()
    }

    /// `torch.multinomial(weights, k, replacement)` over the rows of `weights` (one row
    /// of `categories` weights, or several one after the other): `k` category indices
    /// per row. Without replacement, or with `k = 1`, PyTorch divides each weight by an
    /// exponential draw and takes the largest; with replacement and `k ≥ 2` it searches
    /// a double uniform in the float cumulative sums.
    pub fn multinomial_values(
        &mut self,
        weights: &[f32],
        categories: usize,
        k: usize,
        replacement: bool,
    ) -> Result<Vec<i64>> {
        if categories == 0 || !weights.len().is_multiple_of(categories) {
            bail!(
                "multinomial needs rows of {categories} weights, got {} values",
                weights.len()
            );
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            bail!("invalid multinomial distribution: a weight is negative, infinite or NaN");
        }
        if !replacement && k > categories {
            bail!("cannot draw {k} of {categories} categories without replacement");
        }
        if !replacement || k == 1 {
            let q = self.exponential_values(weights.len());
            let mut out = Vec::with_capacity(weights.len() / categories * k);
            for (row, q) in weights.chunks(categories).zip(q.chunks(categories)) {
                let keys: Vec<f32> = row.iter().zip(q).map(|(p, q)| p / q).collect();
                let mut order: Vec<usize> = (0..categories).collect();
                // Largest first; the first of equal keys first, as argmax takes it.
                order.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]).then(a.cmp(&b)));
                out.extend(order[..k].iter().map(|&i| i as i64));
            }
            return Ok(out);
        }
        let mut out = Vec::with_capacity(weights.len() / categories * k);
        for row in weights.chunks(categories) {
            let mut cumulative = Vec::with_capacity(categories);
            let mut sum = 0f32;
            for &w in row {
                sum += w;
                cumulative.push(sum);
            }
            if sum <= 0.0 {
                bail!("invalid multinomial distribution: the weights sum to {sum}");
            }
            for c in &mut cumulative {
                *c /= sum;
            }
            cumulative[categories - 1] = 1.0;
            for _ in 0..k {
                let u = self.uniform_f64();
                let slot = cumulative.partition_point(|&c| f64::from(c) < u);
                out.push(slot as i64);
            }
        }
        Ok(out)
    }

    /// `torch.multinomial(weights, k, replacement)` for a 1-D or 2-D float32 tensor.
    pub fn multinomial(&mut self, weights: &Tensor, k: usize, replacement: bool) -> Result<Tensor> {
        let categories = *weights.dims().last().unwrap_or(&0);
        let values = weights
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let drawn = self.multinomial_values(&values, categories, k, replacement)?;
        let shape: Vec<usize> = match weights.rank() {
            1 => vec![k],
            2 => vec![weights.dims()[0], k],
            r => bail!("multinomial takes 1-D or 2-D weights, got {r}-D"),
        };
        Ok(Tensor::from_vec(drawn, shape, &Device::Cpu)?)
    }

    /// `bernoulli_(p)` on `n` float32 elements: 1 where a double uniform is below `p`.
    pub fn bernoulli_values(&mut self, n: usize, p: f64) -> Vec<f32> {
        (0..n)
            .map(|_| if self.uniform_f64() < p { 1.0 } else { 0.0 })
            .collect()
    }

    /// `torch.empty(shape).bernoulli_(p)`.
    pub fn bernoulli<S: Into<Shape>>(&mut self, shape: S, p: f64) -> Result<Tensor> {
        let shape = shape.into();
        let values = self.bernoulli_values(shape.elem_count(), p);
        Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
    }

    /// `random_()` on one int64 element without bounds: `random64 % 2⁶³`.
    pub fn random_i64(&mut self) -> i64 {
        (self.random64() % (1 << 63)) as i64
    }
}
