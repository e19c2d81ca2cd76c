//! Losses with PyTorch's semantics: `cross_entropy`, `nll_loss`, and the max-shifted
//! `softmax`, `log_softmax` and `logsumexp` over any dimension.
//!
//! `cross_entropy` takes logits `(C)`, `(N, C)` or `(N, C, d1, …, dk)` and targets of class
//! indices (u8, u32 or i64; ignored where equal to `ignore_index`) or of class
//! probabilities (a float tensor shaped like the input), with optional class weights,
//! label smoothing and a reduction, exactly as `torch.nn.functional.cross_entropy`
//! defines them. On the CPU it is one fused operation (see `fused`): one pass over each
//! row of logits forward, one pass backward, rows in parallel, with the analytic
//! gradient registered in candle's autograd. On other devices it is composed from
//! candle ops, with the same semantics.

mod fused;
mod kernels;

use anyhow::{bail, Result};
use candle_core::{DType, Tensor};

/// How per-element losses are combined (`reduction=` in PyTorch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// `'none'`: one loss per element.
    None,
    /// `'mean'` (the default): the weighted mean.
    #[default]
    Mean,
    /// `'sum'`: the sum.
    Sum,
}

/// The options of `torch.nn.functional.cross_entropy`.
#[derive(Clone, Debug)]
pub struct CrossEntropyOptions {
    /// A weight per class, shape `(C)`.
    pub weight: Option<Tensor>,
    /// Class-index targets equal to this contribute nothing (default -100).
    pub ignore_index: i64,
    /// In `[0, 1]`: the target becomes `(1 - ε)·target + ε/C`.
    pub label_smoothing: f64,
    /// How the per-element losses are reduced (default the mean).
    pub reduction: Reduction,
}

impl Default for CrossEntropyOptions {
    fn default() -> Self {
        Self {
            weight: None,
            ignore_index: -100,
            label_smoothing: 0.0,
            reduction: Reduction::Mean,
        }
    }
}

/// The options of `torch.nn.functional.nll_loss`.
#[derive(Clone, Debug)]
pub struct NllLossOptions {
    /// A weight per class, shape `(C)`.
    pub weight: Option<Tensor>,
    /// Targets equal to this contribute nothing (default -100).
    pub ignore_index: i64,
    /// How the per-element losses are reduced (default the mean).
    pub reduction: Reduction,
}

impl Default for NllLossOptions {
    fn default() -> Self {
        Self {
            weight: None,
            ignore_index: -100,
            reduction: Reduction::Mean,
        }
    }
}

/// The geometry of a loss call: `n` batch entries, `c` classes, `s` spatial positions
/// per entry (1 without spatial dimensions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub n: usize,
    pub c: usize,
    pub s: usize,
}

/// Targets, as `cross_entropy` reads them.
#[derive(Clone, Debug)]
pub(crate) enum Targets {
    /// One class index per position (`n * s` of them).
    Classes(Vec<i64>),
    /// Class probabilities, shaped like the input.
    Probabilities(Tensor),
}

/// What PyTorch's dtype rule makes of a target tensor: integers are class indices.
fn is_class_index(t: &Tensor) -> bool {
    matches!(
        t.dtype(),
        DType::U8 | DType::U32 | DType::I64 | DType::I16 | DType::I32
    )
}

fn dims_text(d: &[usize]) -> String {
    let items: Vec<String> = d.iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// Checks input and target shapes as PyTorch does and returns the geometry and the
/// shape of the unreduced loss.
fn geometry(
    input: &Tensor,
    target: &Tensor,
    class_indices: bool,
) -> Result<(Geometry, Vec<usize>)> {
    let dims = input.dims();
    let tdims = target.dims();
    if dims.is_empty() {
        bail!(
            "cross_entropy expects an input of shape (C), (N, C) or (N, C, d1, ...), got a scalar"
        );
    }
    if !class_indices && dims != tdims {
        bail!(
                "Expected input and target (class probabilities) to have the same shape, got input {} and target {}",
                dims_text(dims),
                dims_text(tdims)
            );
    }
    if dims.len() == 1 {
        if class_indices && !tdims.is_empty() {
            bail!(
                "Expected a scalar target for an input of shape {}, got target {}",
                dims_text(dims),
                dims_text(tdims)
            );
        }
        return Ok((
            Geometry {
                n: 1,
                c: dims[0],
                s: 1,
            },
            vec![],
        ));
    }
    let (n, c) = (dims[0], dims[1]);
    let s: usize = dims[2..].iter().product();
    let mut out_shape = vec![n];
    out_shape.extend_from_slice(&dims[2..]);
    if class_indices {
        if tdims.first() != Some(&n) {
            bail!(
                "Expected input batch_size ({n}) to match target batch_size ({}).",
                tdims
                    .first()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "a scalar".into())
            );
        }
        if tdims != out_shape.as_slice() {
            bail!(
                "size mismatch (got input: {} , target: {})",
                dims_text(dims),
                dims_text(tdims)
            );
        }
    }
    Ok((Geometry { n, c, s }, out_shape))
}

fn check_weight(weight: &Option<Tensor>, c: usize) -> Result<Option<Vec<f64>>> {
    match weight {
        None => Ok(None),
        Some(w) => {
            if w.dims() != [c] {
                bail!(
                    "weight tensor should be defined either for all {c} classes or no classes but got weight tensor of shape: {}",
                    dims_text(w.dims())
                );
            }
            Ok(Some(w.to_dtype(DType::F64)?.to_vec1::<f64>()?))
        }
    }
}

fn class_targets(target: &Tensor, c: usize, ignore_index: i64) -> Result<Vec<i64>> {
    let values = target
        .flatten_all()?
        .to_dtype(DType::I64)?
        .to_vec1::<i64>()?;
    if let Some(&bad) = values
        .iter()
        .find(|&&t| t != ignore_index && (t < 0 || t as usize >= c))
    {
        bail!("Target {bad} is out of bounds.");
    }
    Ok(values)
}

/// `torch.nn.functional.cross_entropy(input, target, weight, ignore_index=…,
/// reduction=…, label_smoothing=…)`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use crossent::loss::{cross_entropy, CrossEntropyOptions, Reduction};
///
/// let logits = Tensor::new(&[[1.0f32, 2.0, 3.0], [1.0, 0.0, -1.0]], &Device::Cpu)?;
/// let target = Tensor::new(&[2i64, 0], &Device::Cpu)?;
/// // Class indices, mean over the batch: PyTorch prints tensor(0.4076).
/// let mean = cross_entropy(&logits, &target, &CrossEntropyOptions::default())?;
/// assert_eq!(crossent::pt::repr(&mean)?, "tensor(0.4076)");
/// // One loss per row, with label smoothing.
/// let options = CrossEntropyOptions {
///     reduction: Reduction::None,
///     label_smoothing: 0.1,
///     ..Default::default()
/// };
/// let per_row = cross_entropy(&logits, &target, &options)?;
/// assert_eq!(per_row.dims(), [2]);
/// // An out-of-range label is an error worded as PyTorch words it.
/// let bad = Tensor::new(&[3i64, 0], &Device::Cpu)?;
/// let err = cross_entropy(&logits, &bad, &CrossEntropyOptions::default()).unwrap_err();
/// assert_eq!(err.to_string(), "Target 3 is out of bounds.");
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn cross_entropy(
    input: &Tensor,
    target: &Tensor,
    opts: &CrossEntropyOptions,
) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&opts.label_smoothing) {
        bail!(
            "label_smoothing must be between 0.0 and 1.0. Got: {}",
            opts.label_smoothing
        );
    }
    let class_indices = is_class_index(target);
    if !class_indices && !target.dtype().is_float() {
        bail!("cross_entropy targets must be class indices (integers) or class probabilities (floats), got {:?}", target.dtype());
    }
    let (geometry, out_shape) = geometry(input, target, class_indices)?;
    let weight = check_weight(&opts.weight, geometry.c)?;
    let original = input.dtype();
    let compute = match original {
        DType::F32 | DType::F64 => original,
        DType::F16 | DType::BF16 => DType::F32,
        other => {
            bail!("cross_entropy needs a floating-point input ({FLOAT_DTYPES}), got {other:?}")
        }
    };
    let input_c = input.to_dtype(compute)?.contiguous()?;
    let targets = if class_indices {
        Targets::Classes(class_targets(target, geometry.c, opts.ignore_index)?)
    } else {
        Targets::Probabilities(target.to_dtype(compute)?.contiguous()?)
    };
    let loss = if input.device().is_cpu() {
        fused::cross_entropy(&input_c, targets, weight, geometry, opts, &out_shape)?
    } else {
        composed_cross_entropy(&input_c, &targets, geometry, opts, &out_shape)?
    };
    Ok(loss.to_dtype(original)?)
}

/// For class-index targets over `(n, c, s)` data: each position's `weight[target]`
/// (0 where the target is ignored), the index tensor `(n, 1, s)` to gather the target's
/// entry with (ignored positions point at class 0, weighted 0), and the 0/1 mask of the
/// positions not ignored.
fn target_weights_and_index(
    targets: &[i64],
    g: Geometry,
    weight: &Option<Tensor>,
    ignore_index: i64,
    dtype: DType,
    device: &candle_core::Device,
) -> Result<(Tensor, Tensor, Tensor)> {
    let keep: Vec<f32> = targets
        .iter()
        .map(|&v| f32::from(u8::from(v != ignore_index)))
        .collect();
    let safe: Vec<u32> = targets
        .iter()
        .map(|&v| if v == ignore_index { 0 } else { v as u32 })
        .collect();
    let keep = Tensor::from_vec(keep, (g.n, g.s), device)?.to_dtype(dtype)?;
    let idx = Tensor::from_vec(safe, (g.n, 1, g.s), device)?;
    let weight = match weight {
        Some(w) => w.to_dtype(dtype)?.to_device(device)?,
        None => Tensor::ones(g.c, dtype, device)?,
    };
    let w_t = weight
        .index_select(&idx.flatten_all()?, 0)?
        .reshape((g.n, g.s))?
        .mul(&keep)?;
    Ok((w_t, idx, keep))
}

/// Combines per-position losses `(n, s)` as `reduction` says; the mean divides by
/// `divisor`. `kept` marks (1/0) the positions whose targets are not ignored.
fn reduce(
    per: Tensor,
    reduction: Reduction,
    divisor: &Tensor,
    kept: Option<&Tensor>,
    out_shape: &[usize],
) -> Result<Tensor> {
    Ok(match reduction {
        Reduction::None => per.reshape(out_shape)?,
        Reduction::Sum => per.sum_all()?,
        Reduction::Mean => {
            let total_weight = divisor.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            match kept {
                // A zero total weight (every target ignored or weighted 0) gives nan, as
                // in PyTorch, and PyTorch's gradient: nan at the positions that count, 0
                // at the ignored ones.
                Some(kept) if total_weight == 0.0 => {
                    let nan_or_zero = kept
                        .ne(0.0)?
                        .where_cond(&(kept.zeros_like()? + f64::NAN)?, &kept.zeros_like()?)?;
                    ((per * nan_or_zero)?.sum_all()? + f64::NAN)?
                }
                _ => per.sum_all()?.broadcast_div(divisor)?,
            }
        }
    })
}

/// The floating-point dtypes the losses accept, for error messages.
const FLOAT_DTYPES: &str = "f16, bf16, f32 or f64";

/// Fails unless `x` holds floating-point numbers, naming `what` and the accepted dtypes
/// (as PyTorch refuses integer inputs).
fn require_float(what: &str, x: &Tensor) -> Result<()> {
    if !x.dtype().is_float() {
        bail!(
            "{what} needs a floating-point input ({FLOAT_DTYPES}), got {:?}",
            x.dtype()
        );
    }
    Ok(())
}

/// Runs `f` in f32 for f16/bf16 input (forward and gradient), converting back after, as
/// PyTorch's CPU kernels accumulate half-precision softmax in float.
fn in_f32(x: &Tensor, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    match x.dtype() {
        DType::F16 | DType::BF16 => Ok(f(&x.to_dtype(DType::F32)?)?.to_dtype(x.dtype())?),
        _ => f(x),
    }
}

/// The same loss from candle ops (any device): log_softmax, then the weighted, smoothed
/// and reduced negative log-likelihood.
fn composed_cross_entropy(
    input: &Tensor,
    targets: &Targets,
    g: Geometry,
    opts: &CrossEntropyOptions,
    out_shape: &[usize],
) -> Result<Tensor> {
    let device = input.device();
    let dtype = input.dtype();
    let logp = log_softmax(&input.reshape((g.n, g.c, g.s))?, 1)?;
    let eps = opts.label_smoothing;
    let weight = match &opts.weight {
        Some(w) => w.to_dtype(dtype)?.to_device(device)?,
        None => Tensor::ones(g.c, dtype, device)?,
    };
    let w3 = weight.reshape((1, g.c, 1))?;
    match targets {
        Targets::Probabilities(y) => {
            let y = y.reshape((g.n, g.c, g.s))?;
            let y = ((y * (1.0 - eps))? + eps / g.c as f64)?;
            let per = (logp * y)?.broadcast_mul(&w3)?.sum(1)?.neg()?;
            // PyTorch divides by numel / C, which is nan when there are no classes.
            let positions = if g.c == 0 {
                f64::NAN
            } else {
                (g.n * g.s) as f64
            };
            let positions = Tensor::new(positions, device)?.to_dtype(dtype)?;
            reduce(per, opts.reduction, &positions, None, out_shape)
        }
        Targets::Classes(t) => {
            let (w_t, idx, keep) =
                target_weights_and_index(t, g, &opts.weight, opts.ignore_index, dtype, device)?;
            let nll = (logp.gather(&idx, 1)?.squeeze(1)? * &w_t)?.neg()?;
            let smooth = logp.broadcast_mul(&w3)?.sum(1)?.neg()?.mul(&keep)?;
            let per = ((nll * (1.0 - eps))? + (smooth * (eps / g.c as f64))?)?;
            reduce(per, opts.reduction, &w_t.sum_all()?, Some(&keep), out_shape)
        }
    }
}

/// `torch.nn.functional.nll_loss(input, target, weight, ignore_index=…, reduction=…)`
/// for log-probabilities `(C)`, `(N, C)` or `(N, C, d1, …)` and class-index targets.
pub fn nll_loss(input: &Tensor, target: &Tensor, opts: &NllLossOptions) -> Result<Tensor> {
    if !is_class_index(target) {
        bail!(
            "nll_loss expects class-index targets (integers), got {:?}",
            target.dtype()
        );
    }
    require_float("nll_loss", input)?;
    let (g, out_shape) = geometry(input, target, true)?;
    check_weight(&opts.weight, g.c)?;
    let targets = class_targets(target, g.c, opts.ignore_index)?;
    let (w_t, idx, keep) = target_weights_and_index(
        &targets,
        g,
        &opts.weight,
        opts.ignore_index,
        input.dtype(),
        input.device(),
    )?;
    let x = input.reshape((g.n, g.c, g.s))?;
    let per = (x.gather(&idx, 1)?.squeeze(1)? * &w_t)?.neg()?;
    reduce(
        per,
        opts.reduction,
        &w_t.sum_all()?,
        Some(&keep),
        &out_shape,
    )
}

/// `torch.logsumexp(x, dim)`: max-shifted; an infinite maximum is not subtracted, so a
/// row of `-inf` gives `-inf` and a `+inf` entry gives `+inf`, as in PyTorch. Over an empty
/// dimension it is `-inf` (the log of an empty sum); f16/bf16 are computed in f32.
pub fn logsumexp(x: &Tensor, dim: usize) -> Result<Tensor> {
    require_float("logsumexp", x)?;
    if x.elem_count() == 0 {
        let mut dims = x.dims().to_vec();
        dims.remove(dim);
        return Ok((Tensor::zeros(dims, x.dtype(), x.device())? + f64::NEG_INFINITY)?);
    }
    in_f32(x, |x| {
        let max = x.max_keepdim(dim)?;
        let finite = max.abs()?.lt(f64::INFINITY)?;
        let shift = finite.where_cond(&max, &max.zeros_like()?)?;
        let sum = x.broadcast_sub(&shift)?.exp()?.sum_keepdim(dim)?;
        Ok((sum.log()? + shift)?.squeeze(dim)?)
    })
}

/// `torch.log_softmax(x, dim)`, max-shifted; f16/bf16 computed in f32; an empty input
/// gives an empty result.
pub fn log_softmax(x: &Tensor, dim: usize) -> Result<Tensor> {
    require_float("log_softmax", x)?;
    if x.elem_count() == 0 {
        return Ok(x.clone());
    }
    in_f32(x, |x| {
        let max = x.max_keepdim(dim)?.detach();
        let shifted = x.broadcast_sub(&max)?;
        let lse = shifted.exp()?.sum_keepdim(dim)?.log()?;
        Ok(shifted.broadcast_sub(&lse)?)
    })
}

/// `torch.softmax(x, dim)`, max-shifted; f16/bf16 computed in f32; an empty input gives
/// an empty result.
pub fn softmax(x: &Tensor, dim: usize) -> Result<Tensor> {
    require_float("softmax", x)?;
    if x.elem_count() == 0 {
        return Ok(x.clone());
    }
    in_f32(x, |x| {
        let max = x.max_keepdim(dim)?.detach();
        let e = x.broadcast_sub(&max)?.exp()?;
        Ok(e.broadcast_div(&e.sum_keepdim(dim)?)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The composed path (used off the CPU) gives the fused path's values.
    #[test]
    fn composed_and_fused_agree() -> Result<()> {
        let cpu = Device::Cpu;
        let x = Tensor::new(
            &[
                [[0.5f32, -1.0], [1.5, 0.25], [-0.75, 2.0]],
                [[0.0, 1.0], [-1.5, 0.5], [2.5, -2.0]],
            ],
            &cpu,
        )?;
        let classes = Tensor::new(&[[2i64, -100], [0, 1]], &cpu)?;
        let probs = softmax(&(&x * 0.5)?, 1)?;
        for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
            for target in [&classes, &probs] {
                let opts = CrossEntropyOptions {
                    weight: Some(Tensor::new(&[1f32, 2.0, 0.5], &cpu)?),
                    label_smoothing: 0.15,
                    reduction,
                    ..Default::default()
                };
                let class_indices = is_class_index(target);
                let (g, out_shape) = geometry(&x, target, class_indices)?;
                let targets = if class_indices {
                    Targets::Classes(class_targets(target, g.c, opts.ignore_index)?)
                } else {
                    Targets::Probabilities(target.clone())
                };
                let fused = cross_entropy(&x, target, &opts)?;
                let composed = composed_cross_entropy(&x, &targets, g, &opts, &out_shape)?;
                assert_eq!(fused.dims(), composed.dims());
                let diff = (fused - composed)?
                    .abs()?
                    .flatten_all()?
                    .max(0)?
                    .to_scalar::<f32>()?;
                assert!(diff < 1e-5, "{reduction:?}: {diff}");
            }
        }
        Ok(())
    }
}
