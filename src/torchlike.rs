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

/// The values of `torch.linspace(start, end, steps)` (float32).
pub fn linspace_values(start: f32, end: f32, steps: usize) -> Vec<f32> {
    if steps == 1 {
        return vec![start];
    }
    let step = (end - start) / (steps - 1) as f32;
    let halfway = steps / 2;
    (0..steps)
        .map(|i| {
            if i < halfway {
                start + step * i as f32
            } else {
                end - step * (steps - i - 1) as f32
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

    #[test]
    fn linspace_matches_pytorch_endpoints_and_symmetry() {
        let v = linspace_values(-2.0, 2.0, 50);
        assert_eq!((v[0], v[49]), (-2.0, 2.0));
        // Second half computed back from the end, as PyTorch does.
        assert_eq!(v[25], 2.0 - (4.0f32 / 49.0) * 24.0);
        let n = np_linspace(0.001, 1.0, 50);
        assert_eq!((n[0], n[49]), (0.001, 1.0));
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
