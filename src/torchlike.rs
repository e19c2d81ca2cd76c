//! PyTorch idioms the notebooks use that candle spells differently.

use anyhow::{bail, Result};
use candle_core::{DType, Tensor, D};

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

/// The largest absolute difference between two tensors of the same shape, as `f64`.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    let diff = (a.to_dtype(DType::F64)? - b.to_dtype(DType::F64)?)?.abs()?;
    Ok(diff.flatten_all()?.max(D::Minus1)?.to_scalar::<f64>()?)
}

/// A scalar tensor's value as `f64`.
pub fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn picks_one_element_per_row() -> Result<()> {
        let x = Tensor::new(&[[0f32, 1., 2.], [3., 4., 5.]], &Device::Cpu)?;
        let t = Tensor::new(&[2i64, 0], &Device::Cpu)?;
        assert_eq!(pick_rows(&x, &t)?.to_vec1::<f32>()?, vec![2., 3.]);
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
