//! PyTorch idioms the notebooks use that candle spells differently.

use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor, D};

/// `input[range(target.shape[0]), target]`: from row `i` of a 2-D tensor, the element in
/// column `target[i]`. Targets are checked first, with PyTorch's wording for a bad index.
pub fn pick_rows(input: &Tensor, target: &Tensor) -> Result<Tensor> {
    let (rows, columns) = input.dims2()?;
    let n = target.dims1()?;
    if n != rows {
        bail!("shape mismatch: indexing {rows} rows with {n} targets");
    }
    for (i, &t) in target
        .to_dtype(DType::I64)?
        .to_vec1::<i64>()?
        .iter()
        .enumerate()
    {
        if t < 0 || t as usize >= columns {
            bail!("index {t} (target {i}) is out of bounds for dimension 1 with size {columns}");
        }
    }
    Ok(input.gather(&target.unsqueeze(1)?, 1)?.squeeze(1)?)
}

/// `torch.linspace(start, end, steps)` in float32, value for value: PyTorch computes the
/// first half forward from `start` and the second half backward from `end`.
pub fn linspace(start: f32, end: f32, steps: usize, device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_vec(
        linspace_values(start, end, steps),
        steps,
        device,
    )?)
}

/// The values of `torch.linspace(start, end, steps)` (float32), bit for bit as PyTorch
/// 2.x computes them on the CPU: the step rounded to f32, then each value from the
/// nearer end, `start + step·i` (or `end − step·(steps−1−i)` for the second half)
/// evaluated in f64 and rounded once.
pub fn linspace_values(start: f32, end: f32, steps: usize) -> Vec<f32> {
    if steps == 1 {
        return vec![start];
    }
    let step = f64::from((end - start) / (steps - 1) as f32);
    let halfway = steps / 2;
    (0..steps)
        .map(|i| {
            if i < halfway {
                (f64::from(start) + step * i as f64) as f32
            } else {
                (f64::from(end) - step * (steps - i - 1) as f64) as f32
            }
        })
        .collect()
}

/// `np.linspace(start, stop, num)` in float64: `start + i * step`, the last value `stop`.
pub fn np_linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    v[num - 1] = stop;
    v
}

/// `t[None].repeat(n, 1)`: a 1-D tensor as `n` identical rows.
pub fn repeat_rows(t: &Tensor, n: usize) -> Result<Tensor> {
    Ok(t.unsqueeze(0)?.repeat((n, 1))?)
}

/// `F.one_hot(targets, classes)` as float32.
pub fn one_hot(targets: &Tensor, classes: usize) -> Result<Tensor> {
    let n = targets.dims1()?;
    let classes_row = Tensor::arange(0u32, classes as u32, targets.device())?;
    let targets = targets.to_dtype(DType::U32)?;
    Ok(targets
        .unsqueeze(1)?
        .broadcast_as((n, classes))?
        .eq(&classes_row.unsqueeze(0)?.broadcast_as((n, classes))?)?
        .to_dtype(DType::F32)?)
}

/// The largest absolute difference between two tensors of the same shape, as `f64`.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    let diff = (a.to_dtype(DType::F64)? - b.to_dtype(DType::F64)?)?.abs()?;
    Ok(diff.flatten_all()?.max(D::Minus1)?.to_scalar::<f64>()?)
}

/// The gradient autograd computed for `var`; an error if it computed none.
pub fn gradient(
    grads: &candle_core::backprop::GradStore,
    var: &candle_core::Var,
) -> Result<Tensor> {
    grads
        .get(var.as_tensor())
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("autograd gave no gradient for a {:?} variable", var.dims()))
}

/// A scalar tensor's value as `f64`.
pub fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// The values of a float32 tensor in memory order, for the ops that compute on them as
/// PyTorch does on the CPU (`op` names the op in the error): any other dtype is refused
/// rather than converted, since its sum or log2 would not be the float32 one PyTorch
/// prints.
///
/// ```
/// use candle_core::{Device, Tensor};
///
/// use crossent::torchlike::f32_values;
///
/// let x = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu)?;
/// assert_eq!(f32_values(&x, "torch.sum")?, [1.0, 2.0, 3.0, 4.0]);
/// let wide = x.to_dtype(candle_core::DType::F64)?;
/// assert!(f32_values(&wide, "torch.sum").is_err());
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn f32_values(x: &Tensor, op: &str) -> Result<Vec<f32>> {
    if x.dtype() != DType::F32 {
        bail!("{op} here takes a float32 tensor, got {:?}", x.dtype());
    }
    Ok(x.flatten_all()?.to_vec1::<f32>()?)
}

/// `x[mask]` with a boolean mask of `x`'s shape (candle's `u8`): the selected elements
/// in memory order, as a 1-D tensor on `x`'s device (`x[~torch.isnan(x)]` is
/// `masked_select(&x, &x.eq(&x)?)`).
///
/// ```
/// use candle_core::{Device, Tensor};
///
/// let x = Tensor::new(&[1f32, f32::NAN, 3.0], &Device::Cpu)?;
/// let kept = crossent::torchlike::masked_select(&x, &x.eq(&x)?)?;
/// assert_eq!(kept.to_vec1::<f32>()?, [1.0, 3.0]);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn masked_select(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    if x.dims() != mask.dims() {
        anyhow::bail!(
            "masked_select needs a mask of the tensor's shape {:?}, got {:?}",
            x.dims(),
            mask.dims()
        );
    }
    let keep = mask
        .flatten_all()?
        .to_dtype(candle_core::DType::U8)?
        .to_vec1::<u8>()?;
    let indices: Vec<u32> = (0u32..)
        .zip(&keep)
        .filter(|(_, &k)| k != 0)
        .map(|(i, _)| i)
        .collect();
    let count = indices.len();
    let indices = Tensor::from_vec(indices, count, x.device())?;
    Ok(x.flatten_all()?.index_select(&indices, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_one_element_per_row() -> Result<()> {
        let x = Tensor::new(&[[0f32, 1., 2.], [3., 4., 5.]], &Device::Cpu)?;
        let t = Tensor::new(&[2i64, 0], &Device::Cpu)?;
        assert_eq!(pick_rows(&x, &t)?.to_vec1::<f32>()?, vec![2., 3.]);
        Ok(())
    }

    /// The bits PyTorch 2.x gives for `torch.linspace(-2, 2, 50)` (float32) and numpy for
    /// `np.linspace(0.001, 1.0, 50)` (float64), printed by
    /// `t.numpy().view(np.uint32)` and `a.view(np.uint64)`.
    const TORCH_LINSPACE_BITS: [u32; 50] = [
        0xc0000000, 0xbff58d10, 0xbfeb1a1f, 0xbfe0a72f, 0xbfd6343f, 0xbfcbc14e, 0xbfc14e5e,
        0xbfb6db6e, 0xbfac687e, 0xbfa1f58d, 0xbf97829d, 0xbf8d0fad, 0xbf829cbc, 0xbf705398,
        0xbf5b6db7, 0xbf4687d7, 0xbf31a1f6, 0xbf1cbc15, 0xbf07d635, 0xbee5e0a8, 0xbebc14e7,
        0xbe924926, 0xbe50fac9, 0xbdfac68d, 0xbd272f10, 0x3d272f10, 0x3dfac68d, 0x3e50fac9,
        0x3e924926, 0x3ebc14e7, 0x3ee5e0a8, 0x3f07d635, 0x3f1cbc15, 0x3f31a1f6, 0x3f4687d7,
        0x3f5b6db7, 0x3f705398, 0x3f829cbc, 0x3f8d0fad, 0x3f97829d, 0x3fa1f58d, 0x3fac687e,
        0x3fb6db6e, 0x3fc14e5e, 0x3fcbc14e, 0x3fd6343f, 0x3fe0a72f, 0x3feb1a1f, 0x3ff58d10,
        0x40000000,
    ];
    const NUMPY_LINSPACE_BITS: [u64; 50] = [
        0x3f50624dd2f1a9fc,
        0x3f95e6abf2cae09d,
        0x3fa563998433534d,
        0x3fafd3dd0f01364c,
        0x3fb522104ce78ca5,
        0x3fba5a32124e7e24,
        0x3fbf9253d7b56fa4,
        0x3fc2653ace8e3091,
        0x3fc5014bb141a951,
        0x3fc79d5c93f52211,
        0x3fca396d76a89ad0,
        0x3fccd57e595c1390,
        0x3fcf718f3c0f8c50,
        0x3fd106d00f618288,
        0x3fd254d880bb3ee7,
        0x3fd3a2e0f214fb47,
        0x3fd4f0e9636eb7a7,
        0x3fd63ef1d4c87407,
        0x3fd78cfa46223067,
        0x3fd8db02b77becc6,
        0x3fda290b28d5a926,
        0x3fdb77139a2f6586,
        0x3fdcc51c0b8921e6,
        0x3fde13247ce2de46,
        0x3fdf612cee3c9aa6,
        0x3fe0579aafcb2b83,
        0x3fe0fe9ee87809b3,
        0x3fe1a5a32124e7e2,
        0x3fe24ca759d1c612,
        0x3fe2f3ab927ea442,
        0x3fe39aafcb2b8272,
        0x3fe441b403d860a2,
        0x3fe4e8b83c853ed2,
        0x3fe58fbc75321d02,
        0x3fe636c0addefb32,
        0x3fe6ddc4e68bd962,
        0x3fe784c91f38b792,
        0x3fe82bcd57e595c2,
        0x3fe8d2d1909273f1,
        0x3fe979d5c93f5221,
        0x3fea20da01ec3051,
        0x3feac7de3a990e81,
        0x3feb6ee27345ecb1,
        0x3fec15e6abf2cae1,
        0x3fecbceae49fa911,
        0x3fed63ef1d4c8741,
        0x3fee0af355f96571,
        0x3feeb1f78ea643a1,
        0x3fef58fbc75321d1,
        0x3ff0000000000000,
    ];

    #[test]
    fn linspace_gives_pytorchs_and_numpys_bits() {
        let ours: Vec<u32> = linspace_values(-2.0, 2.0, 50)
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(ours, TORCH_LINSPACE_BITS);
        let ours: Vec<u64> = np_linspace(0.001, 1.0, 50)
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(ours, NUMPY_LINSPACE_BITS);
    }

    #[test]
    fn one_hot_rows() -> Result<()> {
        let t = Tensor::new(&[2i64, 0], &Device::Cpu)?;
        assert_eq!(
            one_hot(&t, 3)?.to_vec2::<f32>()?,
            vec![vec![0., 0., 1.], vec![1., 0., 0.]]
        );
        Ok(())
    }

    #[test]
    fn rejects_out_of_range_targets() -> Result<()> {
        let x = Tensor::zeros((2, 3), DType::F32, &Device::Cpu)?;
        let t = Tensor::new(&[3i64, 0], &Device::Cpu)?;
        let err = pick_rows(&x, &t).unwrap_err().to_string();
        assert_eq!(
            err,
            "index 3 (target 0) is out of bounds for dimension 1 with size 3"
        );
        let t = Tensor::new(&[0i64], &Device::Cpu)?;
        assert!(pick_rows(&x, &t).is_err());
        Ok(())
    }
}
