//! The fused linear layer: `x · wᵀ + b` as one op on the CPU, for speed.
//!
//! `FusedLinear` computes `x · wᵀ + b` as candle-nn's `Linear` does, but as one custom op on
//! the CPU: its forward calls the same gemm candle's matmul calls (same kernel, same
//! strides, so the same bits) and adds the bias in the same pass; its backward computes
//! the input's gradient only when the input tracks one (the images of a batch do not),
//! writes the weight's gradient directly in the weight's `(out, in)` layout (candle's
//! composed path computes `xᵀ·g` and accumulates its transpose through a strided add) and
//! sums the bias's. Off the CPU, or for shapes it does not cover, it is the composed
//! formula. (The optimiser that updates its parameters in place is `crate::optim::Sgd`.)

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};
use std::sync::Arc;

/// `nn.Linear` with parameters `weight (out, in)` and `bias (out)`.
#[derive(Clone, Debug)]
pub struct FusedLinear {
    weight: Tensor,
    bias: Tensor,
}

impl FusedLinear {
    /// The layer with these parameters: `weight (out, in)`, `bias (out)`.
    pub fn new(weight: Tensor, bias: Tensor) -> Self {
        Self { weight, bias }
    }

    /// The weight, `(out, in)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `(out)`.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// Whether the fused op covers this call: f32 on the CPU, a 2-D input.
    fn fused(&self, x: &Tensor) -> bool {
        x.device().is_cpu()
            && x.rank() == 2
            && [x.dtype(), self.weight.dtype(), self.bias.dtype()] == [DType::F32; 3]
    }
}

/// The composed formula, as candle-nn's `Linear` computes it: for a batch of 3 or 4
/// dimensions the weight is broadcast over the leading ones.
pub fn composed(x: &Tensor, weight: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
    let w = match *x.dims() {
        [b1, b2, _, _] => weight.broadcast_left((b1, b2))?.t()?,
        [b, _, _] => weight.broadcast_left(b)?.t()?,
        _ => weight.t()?,
    };
    x.matmul(&w)?.broadcast_add(bias)
}

impl candle_nn::Module for FusedLinear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.fused(x) {
            x.apply_op3_arc(&self.weight, &self.bias, Arc::new(Box::new(LinearOp)))
        } else {
            composed(x, &self.weight, &self.bias)
        }
    }
}

struct LinearOp;

thread_local! {
    /// Forward passes of the fused op made on this thread (candle runs a CPU op's forward
    /// on the calling thread), so that a test can see which path a call took.
    static FUSED_FORWARDS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many forward passes of the fused op this thread has made.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candle_nn::Module;
/// let layer = crossent::linear::FusedLinear::new(
///     Tensor::ones((2, 3), candle_core::DType::F32, &Device::Cpu)?,
///     Tensor::zeros(2, candle_core::DType::F32, &Device::Cpu)?,
/// );
/// let before = crossent::linear::fused_forwards();
/// layer.forward(&Tensor::ones((4, 3), candle_core::DType::F32, &Device::Cpu)?)?;
/// assert_eq!(crossent::linear::fused_forwards(), before + 1);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn fused_forwards() -> usize {
    FUSED_FORWARDS.with(|n| n.get())
}

/// A 2-D strided view of an f32 storage: the slice from its start, row and column
/// strides, rows and columns.
fn matrix<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<(&'a [f32], isize, isize, usize, usize)> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("crossent-linear computes in f32");
    };
    let (dims, stride) = (layout.dims(), layout.stride());
    if dims.len() != 2 {
        candle_core::bail!("crossent-linear expects 2-D operands, got {dims:?}");
    }
    Ok((
        &data[layout.start_offset()..],
        stride[0] as isize,
        stride[1] as isize,
        dims[0],
        dims[1],
    ))
}

/// Multiply-adds below which one thread is faster than two: the lesson's 64×784×50
/// products take ~50 µs, about what splitting them over threads costs in
/// synchronisation, so they run on the calling thread.
const PARALLEL_WORK: usize = 1 << 24;

fn parallelism(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    let threads = candle_core::utils::get_num_threads();
    if threads > 1 && m * n * k >= PARALLEL_WORK {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    }
}

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "crossent-linear"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        FUSED_FORWARDS.with(|n| n.set(n.get() + 1));
        let (x, x_rs, x_cs, m, k) = matrix(xs, xl)?;
        let (w, w_rs, w_cs, n, k_w) = matrix(ws, wl)?;
        let CpuStorage::F32(b) = bs else {
            candle_core::bail!("crossent-linear computes in f32");
        };
        if k_w != k || bl.dims() != [n] {
            candle_core::bail!(
                "crossent-linear: input {:?}, weight {:?} and bias {:?} do not fit",
                xl.dims(),
                wl.dims(),
                bl.dims()
            );
        }
        let b: Vec<f32> = match bl.contiguous_offsets() {
            Some((start, end)) => b[start..end].to_vec(),
            None => (0..n)
                .map(|j| b[bl.start_offset() + j * bl.stride()[0]])
                .collect(),
        };
        let mut y = vec![0f32; m * n];
        if m > 0 && n > 0 {
            // SAFETY: `y` holds m×n values written with row stride n; `x` and `w` are
            // read within their layouts (m×k with strides x_rs, x_cs; the weight (n, k)
            // read as its transpose (k, n), i.e. row stride w_cs and column stride w_rs),
            // exactly as candle's matmul of `x` by `w.t()` reads them.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    y.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    x.as_ptr(),
                    x_cs,
                    x_rs,
                    w.as_ptr(),
                    w_rs,
                    w_cs,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    parallelism(m, n, k),
                );
            }
            for row in y.chunks_exact_mut(n) {
                for (v, bias) in row.iter_mut().zip(&b) {
                    *v += bias;
                }
            }
        }
        Ok((CpuStorage::F32(y), Shape::from((m, n))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // The input's gradient only when something upstream asks for it.
        let grad_x = if x.track_op() {
            Some(grad.matmul(w)?)
        } else {
            None
        };
        // gᵀ·x is (out, in): the weight's own layout, no transpose to accumulate.
        let grad_w = if w.track_op() {
            Some(grad.t()?.matmul(x)?)
        } else {
            None
        };
        let grad_b = if b.track_op() {
            Some(grad.sum(0)?)
        } else {
            None
        };
        Ok((grad_x, grad_w, grad_b))
    }
}
