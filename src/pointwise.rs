//! PyTorch's CPU float32 elementwise functions where they are not correctly rounded, bit
//! for bit, so that a notebook's sums over them print to their last digit.
//!
//! `torch.log2` on float32 CPU tensors is MKL's vector log2 in its high-accuracy mode
//! (`vsLog2`, through ATen's `vml`), whatever the tensor's layout or the CPU's vector
//! width. Its algorithm is not published. Its result is the correctly rounded log2 at
//! all but 112,079 of the 2,139,095,040 positive finite floats, and one unit in the last
//! place away at those. The crate computes the correctly rounded value and corrects it at
//! those floats, from a table taken from `torch.log2` itself over every positive float
//! (PyTorch 2.15, `scripts/dump_torch_reductions.py --log2-all` and the ignored test
//! `log2_is_pytorchs_on_every_positive_float`, which checks every float and can write
//! the table again). Zero, negatives, infinity and NaN follow IEEE.

use crate::torchlike::f32_values;
use anyhow::Result;
use candle_core::Tensor;
use std::sync::OnceLock;

/// The floats where PyTorch's log2 is not the correctly rounded one: zlib-compressed
/// little-endian words, each the gap from the previous float's bits, with bit 31 set
/// where PyTorch's result is one below the correctly rounded one (else one above).
const EXCEPTIONS: &[u8] = include_bytes!("pointwise/log2-exceptions.zlib");

/// Each exceptional float's bits, with bit 31 set where PyTorch rounds down.
fn exceptions() -> &'static [u32] {
    static TABLE: OnceLock<Vec<u32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        use std::io::Read;
        let mut bytes = Vec::new();
        flate2::read::ZlibDecoder::new(EXCEPTIONS)
            .read_to_end(&mut bytes)
            .expect("the log2 table built into the crate inflates");
        let mut bits = 0u32;
        bytes
            .chunks_exact(4)
            .map(|w| {
                let word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                bits += word & 0x7fff_ffff;
                bits | (word & 0x8000_0000)
            })
            .collect()
    })
}

/// The correctly rounded float32 log2 (through f64, whose error is far below half a
/// float32 unit).
pub fn log2_correctly_rounded(x: f32) -> f32 {
    f64::from(x).log2() as f32
}

/// `torch.log2(x)` for a float32 `x` on the CPU, bit for bit.
///
/// ```
/// use crossent::pointwise::{log2, log2_correctly_rounded};
///
/// assert_eq!(log2(1.0 / 64.0), -6.0);
/// assert_eq!(log2(0.0), f32::NEG_INFINITY);
/// assert!(log2(-1.0).is_nan());
/// // 0.99994242 is one of the floats where PyTorch does not round correctly.
/// let x = f32::from_bits(0x3f7f_fc3a);
/// assert_eq!(log2(x).to_bits(), log2_correctly_rounded(x).to_bits() + 1);
/// ```
pub fn log2(x: f32) -> f32 {
    let rounded = log2_correctly_rounded(x);
    if !(x > 0.0 && x.is_finite()) {
        return rounded;
    }
    let table = exceptions();
    match table.binary_search_by_key(&x.to_bits(), |w| w & 0x7fff_ffff) {
        Ok(i) if table[i] & 0x8000_0000 != 0 => f32::from_bits(rounded.to_bits() - 1),
        Ok(_) => f32::from_bits(rounded.to_bits() + 1),
        Err(_) => rounded,
    }
}

/// `torch.log2(x)` of a float32 tensor: `log2` of every element, on `x`'s device
/// (another dtype is an error).
///
/// ```
/// use candle_core::{Device, Tensor};
///
/// let x = Tensor::new(&[0.5f32, 4.0], &Device::Cpu)?;
/// assert_eq!(crossent::pointwise::log2_tensor(&x)?.to_vec1::<f32>()?, [-1.0, 2.0]);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn log2_tensor(x: &Tensor) -> Result<Tensor> {
    let values: Vec<f32> = f32_values(x, "torch.log2")?.into_iter().map(log2).collect();
    Ok(Tensor::from_vec(values, x.shape(), x.device())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_whole() {
        let table = exceptions();
        assert_eq!(table.len(), 112_079);
        assert!(table
            .windows(2)
            .all(|w| (w[0] & 0x7fff_ffff) < (w[1] & 0x7fff_ffff)));
        let down = table.iter().filter(|w| *w & 0x8000_0000 != 0).count();
        assert_eq!((down, table.len() - down), (56_823, 55_256));
    }

    #[test]
    fn powers_of_two_are_exact_and_the_edges_are_ieees() {
        for k in -149..128 {
            let x = match k {
                -149..=-127 => f32::from_bits(1 << (k + 149)),
                _ => 2f32.powi(k),
            };
            assert_eq!(log2(x), k as f32, "2^{k}");
        }
        assert_eq!(log2(f32::INFINITY), f32::INFINITY);
        assert!(log2(f32::NAN).is_nan());
        assert_eq!(log2(-0.0), f32::NEG_INFINITY);
    }
}
