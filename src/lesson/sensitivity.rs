//! How sensitive a training's printed output is to rounding: the training run again with
//! the noise of another summation order in every step (`Noise`), and how far the output
//! moves (`spread`, the runs on every core). Chapter 5 compares its training outputs
//! with a seeded PyTorch run of the lesson within a tolerance measured this way: the
//! weights and batches are PyTorch's bit for bit, but candle's matrix products round
//! otherwise than PyTorch's, and training amplifies rounding.

use anyhow::{anyhow, Result};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::random::Generator;

/// How far `printed`, the output of a training from the parameter values `initial`,
/// moves when `retrain` trains fresh copies of `initial` again, once with each of `runs`
/// noise patterns: the largest absolute difference of any printed number. The runs share
/// the cores, one run a thread: those of the rayon pool it is called in, else of a pool
/// of its own over every core. Each run's result depends on its pattern alone, so the
/// spread is the same on any thread count.
///
/// `retrain` gets the fresh parameters and the noise its optimizer steps must add
/// (`Noise::after_step`), and gives the printed output.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use crossent::lesson::sensitivity::spread;
///
/// let initial = vec![Tensor::new(&[1.0f32], &Device::Cpu)?];
/// // A "training" that prints its parameter: noise that never steps moves nothing.
/// let moved = spread(&initial, "tensor([1.])", 2, 0.5, |params, _noise| {
///     Ok(crossent::pt::repr(params[0].as_tensor())?)
/// })?;
/// assert_eq!(moved, 0.0);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn spread(
    initial: &[Tensor],
    printed: &str,
    runs: usize,
    lr: f64,
    retrain: impl Fn(&[Var], &Noise) -> Result<String> + Sync,
) -> Result<f64> {
    use rayon::prelude::*;
    // The printing conventions are the calling thread's; the runs print as it does.
    let conventions = crate::pt::conventions::current();
    let one = |pattern: usize| -> Result<f64> {
        crate::pt::conventions::set(conventions);
        let params = initial
            .iter()
            .map(Var::from_tensor)
            .collect::<candle_core::Result<Vec<_>>>()?;
        let moved = retrain(&params, &Noise::new(&params, pattern, lr)?)?;
        let (largest, _) = crate::printed::largest_differences(printed, &moved)
            .ok_or_else(|| anyhow!("a re-run printed another shape: {moved}"))?;
        Ok(largest)
    };
    let all = || -> Vec<Result<f64>> { (0..runs).into_par_iter().map(one).collect() };
    let moved = if rayon::current_thread_index().is_some() {
        all()
    } else {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, runs.max(1));
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| anyhow!("cannot start the threads of the sensitivity runs: {e}"))?
            .install(all)
    };
    moved
        .into_iter()
        .try_fold(0f64, |spread, m| Ok(spread.max(m?)))
}

/// Copies of the parameters' values.
pub fn snapshot(params: &[Var]) -> Result<Vec<Tensor>> {
    Ok(params
        .iter()
        .map(|p| p.as_tensor().copy())
        .collect::<candle_core::Result<_>>()?)
}

/// Rounding noise put into each optimizer step of a sensitivity re-run, of the two kinds
/// another summation order makes: in even patterns, into the gradients — each
/// parameter's step `lr · g` made longer or shorter by `2⁻²¹` of itself (a few ulps of
/// the gradient); in odd ones, into the parameters — each value moved one or two ulps
/// (multiplied by `1 ± 2⁻²²`). Which values move, and which way, is one of `NOISE_MASKS`
/// random masks drawn from the project's generator, a different one at each step.
pub struct Noise<'p> {
    params: &'p [Var],
    /// For each parameter, its masks of relative changes.
    masks: Vec<Vec<Tensor>>,
    pattern: usize,
    lr: f64,
    step: std::cell::Cell<usize>,
}

/// How many masks a `Noise` cycles through.
pub const NOISE_MASKS: usize = 16;

impl<'p> Noise<'p> {
    /// Noise pattern `pattern` for `params`, which an optimizer steps with learning rate
    /// `lr`.
    pub fn new(params: &'p [Var], pattern: usize, lr: f64) -> Result<Self> {
        let relative = if pattern.is_multiple_of(2) {
            [2f32.powi(-21), -(2f32.powi(-21)), 0.0]
        } else {
            [2f32.powi(-22), -(2f32.powi(-22)), 0.0]
        };
        let mut draws = Generator::manual_seed(pattern as u64);
        let masks = params
            .iter()
            .map(|p| {
                let t = p.as_tensor();
                (0..NOISE_MASKS)
                    .map(|_| {
                        let values: Vec<f32> = draws
                            .randint_values(0, 3, t.elem_count())?
                            .into_iter()
                            .map(|k| relative[k as usize])
                            .collect();
                        Ok(Tensor::from_vec(values, t.shape(), t.device())?)
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            params,
            masks,
            pattern,
            lr,
            step: Default::default(),
        })
    }

    /// After the step that `grads` made: the noise of its rounding.
    pub fn after_step(&self, grads: &GradStore) -> Result<()> {
        if self.params.is_empty() {
            return Ok(());
        }
        let step = self.step.get();
        self.step.set(step + 1);
        // A step's mask: a walk through the masks that differs from pattern to pattern.
        let mask = (step * 7 + self.pattern * 3 + step / NOISE_MASKS) % NOISE_MASKS;
        for (p, masks) in self.params.iter().zip(&self.masks) {
            let value = p.as_tensor();
            let noise = if self.pattern.is_multiple_of(2) {
                match grads.get(value) {
                    Some(g) => ((g * &masks[mask])? * -self.lr)?,
                    None => continue,
                }
            } else {
                (value * &masks[mask])?
            };
            p.set(&(value + noise)?)?;
        }
        Ok(())
    }
}

/// `x` rounded up to two significant digits (a tolerance stated as `1.5e-2`, not
/// `1.4800000000000008e-2`).
pub fn round_up_2_digits(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(x.log10().floor() as i32 - 1);
    let rounded = (x / scale).ceil() * scale;
    // The product may land a hair off the decimal; printing it shortest keeps two digits.
    format!("{rounded:.1e}").parse().unwrap_or(rounded)
}
