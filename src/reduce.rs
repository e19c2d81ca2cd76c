//! PyTorch's CPU float32 `sum` and `mean` in its own order of summation, bit for bit, so
//! that a sum a notebook printed to its last digit (`.item()` gives all of them) comes
//! out the same.
//!
//! PyTorch does not add left to right. A contiguous float32 sum of n ≥ 8 values (one
//! thread: below 32,768 values) is its cascade sum over 8-float vectors, the AVX2 width,
//! which it also uses on AVX-512 machines:
//! - the n / 8 whole vectors are read four at a time into four vector accumulators, each
//!   a cascade of 4 levels: level 0 takes `2^p` groups (p = max(4, ⌈log2(groups)⌉ / 4)),
//!   then is added into level 1 and cleared, level 1 into level 2 every `2^p` times
//!   level 0 was, and so on; the groups left over go into level 0, and the levels are
//!   added up;
//! - the vectors past the last group of four are added to the first accumulator, then
//!   the other three are added to it in order;
//! - the n mod 8 last values are summed left to right from zero, and then the first
//!   accumulator's 8 lanes in order.
//!
//! Fewer than 8 values are one such accumulator over single floats (4 interleaved
//! partial sums). `mean` is that sum divided by n in float32.

use crate::torchlike::f32_values;
use anyhow::Result;
use candle_core::Tensor;

/// The AVX2 float vector's width.
const LANES: usize = 8;
/// Partial sums interleaved (`ilp_factor`).
const ROWS: usize = 4;
/// Cascade levels.
const LEVELS: usize = 4;

/// `torch.sum` of a contiguous float32 tensor on the CPU, bit for bit (up to 32,767
/// values; PyTorch splits longer sums between threads).
///
/// ```
/// use crossent::reduce::sum;
///
/// let values: Vec<f32> = (1..=10).map(|i| 1.0 / i as f32).collect();
/// assert_eq!(sum(&values), 2.9289682);
/// assert_eq!(sum(&[]), 0.0);
/// ```
pub fn sum(values: &[f32]) -> f32 {
    if values.len() < LANES {
        return row_sum::<1>(values.len(), |i| [values[i]])[0];
    }
    let vectors = values.len() / LANES;
    let lanes = row_sum::<LANES>(vectors, |i| {
        let mut v = [0f32; LANES];
        v.copy_from_slice(&values[i * LANES..(i + 1) * LANES]);
        v
    });
    let tail = values[vectors * LANES..]
        .iter()
        .fold(0f32, |acc, &v| acc + v);
    lanes.iter().fold(tail, |acc, &v| acc + v)
}

/// `torch.mean` of a contiguous float32 tensor on the CPU: `sum` divided by the count.
///
/// ```
/// assert_eq!(crossent::reduce::mean(&[1.0, 2.0, 4.0]), 7.0 / 3.0);
/// ```
pub fn mean(values: &[f32]) -> f32 {
    sum(values) / values.len() as f32
}

/// `torch.sum(x)` of a float32 tensor, as a 0-d tensor on its device: `sum` of its
/// values in memory order (another dtype is an error).
///
/// ```
/// use candle_core::{Device, Tensor};
///
/// let x = Tensor::new(&[[0.5f32, 0.25], [0.125, 0.125]], &Device::Cpu)?;
/// assert_eq!(crossent::reduce::sum_all(&x)?.to_scalar::<f32>()?, 1.0);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn sum_all(x: &Tensor) -> Result<Tensor> {
    Ok(Tensor::new(sum(&f32_values(x, "torch.sum")?), x.device())?)
}

/// `torch.mean(x)` of a float32 tensor, as a 0-d tensor on its device.
///
/// ```
/// use candle_core::{Device, Tensor};
///
/// let x = Tensor::new(&[1f32, 2.0, 4.0], &Device::Cpu)?;
/// assert_eq!(crossent::reduce::mean_all(&x)?.to_scalar::<f32>()?, 7.0 / 3.0);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn mean_all(x: &Tensor) -> Result<Tensor> {
    Ok(Tensor::new(
        mean(&f32_values(x, "torch.mean")?),
        x.device(),
    )?)
}

/// PyTorch's `row_sum`: `n` items of `W` lanes, four interleaved cascades.
fn row_sum<const W: usize>(n: usize, item: impl Fn(usize) -> [f32; W]) -> [f32; W] {
    let groups = n / ROWS;
    let mut partial = multi_row_sum::<W>(groups, |g, k| item(g * ROWS + k));
    for i in groups * ROWS..n {
        add(&mut partial[0], &item(i));
    }
    let [mut first, rest @ ..] = partial;
    for p in &rest {
        add(&mut first, p);
    }
    first
}

/// PyTorch's `multi_row_sum` with four rows: the cascade over `groups` groups.
fn multi_row_sum<const W: usize>(
    groups: usize,
    item: impl Fn(usize, usize) -> [f32; W],
) -> [[f32; W]; ROWS] {
    let power = 4.max(ceil_log2(groups) / LEVELS as u32);
    let step = 1usize << power;
    let mask = step - 1;
    let mut acc = [[[0f32; W]; ROWS]; LEVELS];
    let mut i = 0;
    while i + step <= groups {
        for _ in 0..step {
            for (k, a) in acc[0].iter_mut().enumerate() {
                add(a, &item(i, k));
            }
            i += 1;
        }
        for j in 1..LEVELS {
            let (below, above) = acc.split_at_mut(j);
            for (upper, lower) in above[0].iter_mut().zip(below[j - 1].iter_mut()) {
                add(upper, &std::mem::replace(lower, [0f32; W]));
            }
            if i & (mask << (j as u32 * power)) != 0 {
                break;
            }
        }
    }
    for g in i..groups {
        for (k, a) in acc[0].iter_mut().enumerate() {
            add(a, &item(g, k));
        }
    }
    let [mut total, higher @ ..] = acc;
    for level in &higher {
        for (t, l) in total.iter_mut().zip(level) {
            add(t, l);
        }
    }
    total
}

fn add<const W: usize>(acc: &mut [f32; W], v: &[f32; W]) {
    for (a, b) in acc.iter_mut().zip(v) {
        *a += b;
    }
}

/// ⌈log2 x⌉ as PyTorch's `CeilLog2` computes it (1 for x ≤ 2).
fn ceil_log2(x: usize) -> u32 {
    if x <= 2 {
        1
    } else {
        usize::BITS - (x - 1).leading_zeros()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_log2_is_pytorchs() {
        let cases = [
            (0, 1),
            (1, 1),
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 3),
            (8, 3),
            (9, 4),
            (1024, 10),
            (1025, 11),
        ];
        for (x, want) in cases {
            assert_eq!(ceil_log2(x), want, "{x}");
        }
    }

    #[test]
    fn the_order_is_not_left_to_right() {
        // 2^24 + 1 + 1 + …: left to right every 1 vanishes; PyTorch's lanes keep most.
        let mut values = vec![1f32; 64];
        values[0] = 16_777_216.0;
        let left_to_right = values.iter().fold(0f32, |a, &v| a + v);
        assert_eq!(left_to_right, 16_777_216.0);
        assert_eq!(sum(&values), 16_777_278.0);
    }
}
