//! The optimiser: stochastic gradient descent updating each parameter in place, as
//! candle-nn's `SGD` computes it but without a new tensor per parameter and step.

use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Var};

/// Stochastic gradient descent, `p ← p − lr·∇p`, updating each parameter in place on
/// the CPU (elsewhere through `Var::set`). The update is rounded as candle-nn's `SGD`
/// rounds it (`lr·g` rounded, then subtracted), so both train to the same bits.
pub struct Sgd {
    vars: Vec<Var>,
    learning_rate: f64,
}

impl candle_nn::Optimizer for Sgd {
    type Config = f64;

    fn new(vars: Vec<Var>, learning_rate: f64) -> candle_core::Result<Self> {
        let vars = vars.into_iter().filter(|v| v.dtype().is_float()).collect();
        Ok(Self {
            vars,
            learning_rate,
        })
    }

    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.learning_rate = lr;
    }

    fn step(&mut self, grads: &candle_core::backprop::GradStore) -> candle_core::Result<()> {
        for var in &self.vars {
            let Some(grad) = grads.get(var) else {
                continue;
            };
            let in_place = var.device().is_cpu()
                && var.dtype() == DType::F32
                && grad.dtype() == DType::F32
                && var.dims() == grad.dims()
                && var.is_contiguous()
                && grad.is_contiguous();
            if in_place {
                var.as_tensor()
                    .inplace_op2(grad, &SgdStep(self.learning_rate as f32))?;
            } else {
                var.set(&var.sub(&(grad * self.learning_rate)?)?)?;
            }
        }
        Ok(())
    }
}

struct SgdStep(f32);

impl InplaceOp2 for SgdStep {
    fn name(&self) -> &'static str {
        "crossent-sgd-step"
    }

    fn cpu_fwd(
        &self,
        ps: &mut CpuStorage,
        pl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<()> {
        let (CpuStorage::F32(p), CpuStorage::F32(g)) = (ps, gs) else {
            candle_core::bail!("crossent-sgd-step computes in f32");
        };
        let Some((p_start, p_end)) = pl.contiguous_offsets() else {
            candle_core::bail!("crossent-sgd-step needs a contiguous parameter");
        };
        let p = &mut p[p_start..p_end];
        let Some((g_start, g_end)) = gl.contiguous_offsets() else {
            candle_core::bail!("crossent-sgd-step needs a contiguous gradient");
        };
        let lr = self.0;
        for (value, grad) in p.iter_mut().zip(&g[g_start..g_end]) {
            // `+ 0.0` as candle's affine computes `g * lr + 0`: the same rounding.
            *value -= grad * lr + 0.0;
        }
        Ok(())
    }
}
