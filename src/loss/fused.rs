//! The fused CPU cross-entropy: a candle custom op whose forward reads each row of logits
//! from memory once (its maximum is taken in the loop that sums the previous row's
//! `exp(x - max)`, and its own sum then finds it in cache) and whose backward writes
//! `scale · (A · softmax - B)` in one more pass, where `A` and `B` follow from the target
//! kind, the class weights and the label smoothing. Rows run in parallel (rayon); each
//! row's shift and log-sum are kept from the forward pass for the backward one, so no
//! full-size temporary exists besides the gradient itself.

use super::kernels::Real;
use super::{CrossEntropyOptions, Geometry, Reduction, Targets};
use anyhow::Result;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex};

/// Everything the forward and backward passes share.
struct Inner {
    g: Geometry,
    targets: Targets,
    weight: Option<Vec<f64>>,
    ignore_index: i64,
    eps: f64,
    reduction: Reduction,
    out_shape: Vec<usize>,
    /// Filled by the forward pass: each position's shift and log of the shifted sum,
    /// and the mean's divisor.
    saved: Mutex<Saved>,
}

#[derive(Default)]
struct Saved {
    /// Per position: the row maximum `m` and `ln(sum(exp(x - m)))`.
    shift: Vec<(f64, f64)>,
    divisor: f64,
}

pub(crate) fn cross_entropy(
    input: &Tensor,
    targets: Targets,
    weight: Option<Vec<f64>>,
    g: Geometry,
    opts: &CrossEntropyOptions,
    out_shape: &[usize],
) -> Result<Tensor> {
    let inner = Arc::new(Inner {
        g,
        targets,
        weight,
        ignore_index: opts.ignore_index,
        eps: opts.label_smoothing,
        reduction: opts.reduction,
        out_shape: out_shape.to_vec(),
        saved: Mutex::new(Saved::default()),
    });
    Ok(input.apply_op1_arc(Arc::new(Box::new(Forward(inner))))?)
}

struct Forward(Arc<Inner>);
struct Backward(Arc<Inner>);

fn op_err(msg: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(msg.to_string())
}

/// The contiguous data of a CPU tensor as a slice, through a read guard.
fn with_cpu_slice<T: candle_core::WithDType, R>(
    t: &Tensor,
    f: impl FnOnce(&[T]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => {
            let data = cpu.as_slice::<T>()?;
            let (start, end) = layout
                .contiguous_offsets()
                .ok_or_else(|| op_err("cross_entropy needs contiguous targets"))?;
            f(&data[start..end])
        }
        _ => Err(op_err("the fused cross_entropy runs on the CPU")),
    }
}

fn input_slice<'a, T: candle_core::WithDType>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [T]> {
    let data = storage.as_slice::<T>()?;
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| op_err("cross_entropy needs a contiguous input"))?;
    Ok(&data[start..end])
}

/// Per-position terms of the loss for one row of logits `x` (with its probabilities
/// `y` in probability mode): the loss, the shift `(m, ln sum exp(x - m))`, and the weight
/// the mean divides by. Every log-probability is formed as `(x - m) - ln_sum`, so huge
/// logits keep their small differences.
fn row_forward<T: Real>(
    inner: &Inner,
    x: &[T],
    y: Option<&[T]>,
    position: usize,
    (m, sum_exp): (T, f64),
) -> (f64, (f64, f64), f64) {
    let c = inner.g.c;
    let eps = inner.eps;
    let ln_sum = sum_exp.ln();
    let mf = m.as_f64();
    // -log p_k = (m - x_k) + ln_sum
    let neg_logp = |v: T| (mf - v.as_f64()) + ln_sum;
    let w = |k: usize| inner.weight.as_ref().map_or(1.0, |w| w[k]);
    match (&inner.targets, y) {
        (Targets::Classes(t), _) => {
            let t = t[position];
            if t == inner.ignore_index {
                return (0.0, (mf, ln_sum), 0.0);
            }
            let t = t as usize;
            let w_t = w(t);
            let nll = w_t * neg_logp(x[t]);
            if eps == 0.0 {
                return (nll, (mf, ln_sum), w_t);
            }
            let smooth: f64 = x.iter().enumerate().map(|(k, &v)| w(k) * neg_logp(v)).sum();
            (
                (1.0 - eps) * nll + eps / c as f64 * smooth,
                (mf, ln_sum),
                w_t,
            )
        }
        (Targets::Probabilities(_), Some(y)) => {
            let loss = x
                .iter()
                .zip(y)
                .enumerate()
                .map(|(k, (&v, &p))| {
                    let yk = p.as_f64() * (1.0 - eps) + eps / c as f64;
                    w(k) * yk * neg_logp(v)
                })
                .sum();
            (loss, (mf, ln_sum), 1.0)
        }
        (Targets::Probabilities(_), None) => (f64::NAN, (mf, ln_sum), 1.0),
    }
}

/// Writes one row's gradient `scale · (A · softmax - B)` into `out`.
fn row_backward<T: Real>(
    inner: &Inner,
    x: &[T],
    y: Option<&[T]>,
    position: usize,
    (m, ln_sum): (f64, f64),
    scale: f64,
    out: &mut [MaybeUninit<T>],
) {
    debug_assert_eq!(x.len(), out.len());
    let c = inner.g.c;
    let eps = inner.eps;
    let w = |k: usize| inner.weight.as_ref().map_or(1.0, |w| w[k]);
    match (&inner.targets, y) {
        (Targets::Classes(t), _) => {
            let t = t[position];
            if t == inner.ignore_index {
                out.iter_mut().for_each(|o| {
                    o.write(T::of_f64(0.0));
                });
                return;
            }
            let t = t as usize;
            let w_t = w(t);
            let sum_w = match &inner.weight {
                Some(ws) => ws.iter().sum(),
                None => c as f64,
            };
            let a = (1.0 - eps) * w_t + eps / c as f64 * sum_w;
            T::write_scaled_exp(x, T::of_f64(m), ln_sum, scale * a, out);
            // SAFETY: write_scaled_exp wrote every element.
            let out = unsafe { assume_written(out) };
            out[t] = T::of_f64(out[t].as_f64() - scale * (1.0 - eps) * w_t);
            if eps > 0.0 {
                for (k, o) in out.iter_mut().enumerate() {
                    *o = T::of_f64(o.as_f64() - scale * eps / c as f64 * w(k));
                }
            }
        }
        (Targets::Probabilities(_), Some(y)) => {
            let smoothed = |p: T| p.as_f64() * (1.0 - eps) + eps / c as f64;
            let a: f64 = y.iter().enumerate().map(|(k, &p)| w(k) * smoothed(p)).sum();
            T::write_scaled_exp(x, T::of_f64(m), ln_sum, scale * a, out);
            // SAFETY: write_scaled_exp wrote every element.
            let out = unsafe { assume_written(out) };
            for (k, (o, &p)) in out.iter_mut().zip(y).enumerate() {
                *o = T::of_f64(o.as_f64() - scale * w(k) * smoothed(p));
            }
        }
        // Not reached: probability targets always come with their rows.
        (Targets::Probabilities(_), None) => out.iter_mut().for_each(|o| {
            o.write(T::of_f64(f64::NAN));
        }),
    }
}

/// The row as initialised values.
///
/// # Safety
/// Every element of `out` must have been written.
unsafe fn assume_written<T>(out: &mut [MaybeUninit<T>]) -> &mut [T] {
    // SAFETY: MaybeUninit<T> has T's layout, and the caller vouches for initialisation.
    unsafe { &mut *(out as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// Below this many logits a call runs on the calling thread: spreading a 64×10 batch
/// over threads costs more than it saves.
const PARALLEL_MIN: usize = 1 << 15;

/// Rows per parallel task of the forward pass; within a task each row's maximum is
/// found while the previous row's exponentials are summed.
const ROWS_PER_TASK: usize = 16;

/// Runs `row_forward` for every position: directly on each row when there are no
/// spatial dimensions, else on a gathered copy of the strided row; batch entries in
/// parallel for large inputs.
fn forward_positions<T: Real>(
    inner: &Inner,
    x: &[T],
    y: Option<&[T]>,
) -> Vec<(f64, (f64, f64), f64)> {
    let g = inner.g;
    let parallel = x.len() >= PARALLEL_MIN;
    if g.s == 1 {
        let c = g.c;
        let task = |t: usize| {
            let rows = t * ROWS_PER_TASK..((t + 1) * ROWS_PER_TASK).min(g.n);
            let mut m = T::row_max(&x[rows.start * c..(rows.start + 1) * c]);
            let last = rows.end - 1;
            rows.map(move |n| {
                let xs = &x[n * c..(n + 1) * c];
                let next = if n < last {
                    &x[(n + 1) * c..(n + 2) * c]
                } else {
                    &[]
                };
                let (sum_exp, next_m) = T::row_sum_exp_then_max(xs, m, next);
                let this_m = std::mem::replace(&mut m, next_m);
                let ys = y.map(|y| &y[n * c..(n + 1) * c]);
                row_forward(inner, xs, ys, n, (this_m, sum_exp))
            })
        };
        let tasks = g.n.div_ceil(ROWS_PER_TASK);
        return if parallel {
            (0..tasks).into_par_iter().flat_map_iter(task).collect()
        } else {
            (0..tasks).flat_map(task).collect()
        };
    }
    let block = g.c * g.s;
    let entry = |n: usize| {
        let xs = &x[n * block..(n + 1) * block];
        let ys = y.map(|y| &y[n * block..(n + 1) * block]);
        (0..g.s).map(move |k| {
            let gx: Vec<T> = (0..g.c).map(|c| xs[c * g.s + k]).collect();
            let gy: Option<Vec<T>> = ys.map(|ys| (0..g.c).map(|c| ys[c * g.s + k]).collect());
            let m = T::row_max(&gx);
            let stats = (m, T::row_sum_exp(&gx, m));
            row_forward(inner, &gx, gy.as_deref(), n * g.s + k, stats)
        })
    };
    if parallel {
        (0..g.n).into_par_iter().flat_map_iter(entry).collect()
    } else {
        (0..g.n).flat_map(entry).collect()
    }
}

impl Forward {
    fn run<T: Real + candle_core::WithDType>(
        &self,
        x: &[T],
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let inner = &self.0;
        let run = |y: Option<&[T]>| forward_positions(inner, x, y);
        let rows = match &inner.targets {
            Targets::Probabilities(t) => with_cpu_slice::<T, _>(t, |y| Ok(run(Some(y))))?,
            Targets::Classes(_) => run(None),
        };
        let total: f64 = rows.iter().map(|r| r.0).sum();
        let divisor = match (&inner.targets, inner.reduction) {
            (_, Reduction::None | Reduction::Sum) => 1.0,
            (Targets::Classes(_), Reduction::Mean) => rows.iter().map(|r| r.2).sum(),
            // PyTorch divides by numel / C: nan when there are no classes.
            (Targets::Probabilities(_), Reduction::Mean) if inner.g.c == 0 => f64::NAN,
            (Targets::Probabilities(_), Reduction::Mean) => (inner.g.n * inner.g.s) as f64,
        };
        let mut saved = inner
            .saved
            .lock()
            .map_err(|_| op_err("cross_entropy state poisoned"))?;
        saved.shift = rows.iter().map(|r| r.1).collect();
        saved.divisor = divisor;
        let (values, shape): (Vec<T>, Shape) = match inner.reduction {
            Reduction::None => (
                rows.iter().map(|r| T::of_f64(r.0)).collect(),
                Shape::from(inner.out_shape.clone()),
            ),
            Reduction::Sum => (vec![T::of_f64(total)], Shape::from(())),
            // A zero total weight makes PyTorch's mean nan even where label smoothing
            // gives a non-zero sum: its NLL term alone is 0/0.
            Reduction::Mean if divisor == 0.0 => (vec![T::of_f64(f64::NAN)], Shape::from(())),
            Reduction::Mean => (vec![T::of_f64(total / divisor)], Shape::from(())),
        };
        Ok((T::to_cpu_storage_owned(values), shape))
    }
}

impl CustomOp1 for Forward {
    fn name(&self) -> &'static str {
        "crossent-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        match storage {
            CpuStorage::F32(_) => self.run::<f32>(input_slice(storage, layout)?),
            CpuStorage::F64(_) => self.run::<f64>(input_slice(storage, layout)?),
            _ => Err(op_err("the fused cross_entropy computes in f32 or f64")),
        }
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let grad = arg.apply_op2_no_bwd(&grad_res.contiguous()?, &Backward(self.0.clone()))?;
        Ok(Some(grad))
    }
}

impl Backward {
    fn run<T: Real + candle_core::WithDType>(
        &self,
        x: &[T],
        upstream: &[T],
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let inner = &self.0;
        let g = inner.g;
        let saved = inner
            .saved
            .lock()
            .map_err(|_| op_err("cross_entropy state poisoned"))?;
        let scale_of = |position: usize| match inner.reduction {
            Reduction::None => upstream[position].as_f64(),
            Reduction::Sum => upstream[0].as_f64(),
            // PyTorch's gradient of a mean over zero total weight: nan for the positions
            // that count, 0 for the ignored ones.
            Reduction::Mean if saved.divisor == 0.0 => match &inner.targets {
                Targets::Classes(t) if t[position] == inner.ignore_index => 0.0,
                _ => f64::NAN,
            },
            Reduction::Mean => upstream[0].as_f64() / saved.divisor,
        };
        // Left uninitialised: every element is written below (each row of each entry
        // either by `row_backward` or through the gathered row), which saves clearing a
        // gradient-sized buffer first.
        let mut grad: Vec<T> = Vec::with_capacity(x.len());
        let block = g.c * g.s;
        let fill = |y: Option<&[T]>, grad: &mut [MaybeUninit<T>]| {
            let entry = |(n, gout): (usize, &mut [MaybeUninit<T>])| {
                let xs = &x[n * block..(n + 1) * block];
                let ys = y.map(|y| &y[n * block..(n + 1) * block]);
                for k in 0..g.s {
                    let position = n * g.s + k;
                    let (shift, scale) = (saved.shift[position], scale_of(position));
                    if g.s == 1 {
                        row_backward(inner, xs, ys, position, shift, scale, gout);
                    } else {
                        let gx: Vec<T> = (0..g.c).map(|c| xs[c * g.s + k]).collect();
                        let gy: Option<Vec<T>> =
                            ys.map(|ys| (0..g.c).map(|c| ys[c * g.s + k]).collect());
                        let mut row = vec![MaybeUninit::new(T::of_f64(0.0)); g.c];
                        row_backward(inner, &gx, gy.as_deref(), position, shift, scale, &mut row);
                        for (c, v) in row.into_iter().enumerate() {
                            gout[c * g.s + k] = v;
                        }
                    }
                }
            };
            if grad.len() < PARALLEL_MIN {
                grad.chunks_mut(block).enumerate().for_each(entry);
            } else {
                grad.par_chunks_mut(block).enumerate().for_each(entry);
            }
        };
        let spare = &mut grad.spare_capacity_mut()[..x.len()];
        match &inner.targets {
            // Nothing to write (and no rows to cut it into) when a dimension is 0.
            _ if spare.is_empty() => {}
            Targets::Probabilities(t) => with_cpu_slice::<T, _>(t, |y| {
                fill(Some(y), spare);
                Ok(())
            })?,
            Targets::Classes(_) => fill(None, spare),
        }
        // SAFETY: `fill` wrote all x.len() elements (n entries of c·s each), within the
        // capacity reserved above.
        unsafe { grad.set_len(x.len()) };
        let mut dims = vec![g.n, g.c];
        if inner.out_shape.is_empty() {
            dims = vec![g.c];
        } else {
            dims.extend_from_slice(&inner.out_shape[1..]);
        }
        Ok((T::to_cpu_storage_owned(grad), Shape::from(dims)))
    }
}

impl CustomOp2 for Backward {
    fn name(&self) -> &'static str {
        "crossent-cross-entropy-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        match s1 {
            CpuStorage::F32(_) => self.run::<f32>(input_slice(s1, l1)?, input_slice(s2, l2)?),
            CpuStorage::F64(_) => self.run::<f64>(input_slice(s1, l1)?, input_slice(s2, l2)?),
            _ => Err(op_err("the fused cross_entropy computes in f32 or f64")),
        }
    }
}
