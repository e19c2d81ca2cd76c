//! The lesson's training: its loss and accuracy, and the training and evaluation loops
//! that chapter 5 and the epoch benchmark share. Each stage of the lesson passes its own
//! batches, forward pass and parameter update; the loop does the rest (loss, backward,
//! progress).

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, D};
use std::io::IsTerminal;

/// The lesson's loss: `F.cross_entropy` (mean over the batch), the project's fused one.
pub fn loss_func(out: &Tensor, yb: &Tensor) -> Result<Tensor> {
    crate::loss::cross_entropy(out, yb, &crate::loss::CrossEntropyOptions::default())
}

/// `accuracy(out, yb)`: the share of rows whose largest output is the target.
pub fn accuracy(out: &Tensor, yb: &Tensor) -> Result<Tensor> {
    let predicted = out.argmax(D::Minus1)?.to_dtype(DType::I64)?;
    Ok(predicted
        .eq(&yb.to_dtype(DType::I64)?)?
        .to_dtype(DType::F32)?
        .mean_all()?)
}

/// What one training epoch leaves behind.
pub struct Epoch {
    /// The loss of every batch, in order (for the training-loss plot).
    pub batch_losses: Vec<f32>,
    /// The last batch, which the lesson evaluates after the loop (`xb`, `yb`).
    pub last_xb: Tensor,
    /// The last batch's targets.
    pub last_yb: Tensor,
}

/// One epoch: for every batch, forward, loss, backward, then `update` with the gradients
/// (the stage's own: hand-written updates, an optimizer, SGD).
pub fn train_epoch<I>(
    batches: I,
    n_batches: usize,
    forward: impl Fn(&Tensor) -> Result<Tensor>,
    mut update: impl FnMut(&GradStore) -> Result<()>,
) -> Result<Epoch>
where
    I: Iterator<Item = Result<(Tensor, Tensor)>>,
{
    let progress = Progress::new(n_batches);
    let mut batch_losses = Vec::with_capacity(n_batches);
    let mut last = None;
    for batch in batches {
        let (xb, yb) = batch?;
        let loss = loss_func(&forward(&xb)?, &yb)?;
        let grads = loss.backward()?;
        update(&grads)?;
        batch_losses.push(loss.to_dtype(DType::F32)?.to_scalar::<f32>()?);
        last = Some((xb, yb));
        progress.tick();
    }
    progress.finish();
    let (last_xb, last_yb) =
        last.ok_or_else(|| anyhow::anyhow!("an epoch needs at least one batch"))?;
    Ok(Epoch {
        batch_losses,
        last_xb,
        last_yb,
    })
}

/// The validation pass of the lesson's `fit`: the batch losses and accuracies summed and
/// divided by the number of batches, and (beside it) the exact means over all samples.
pub struct Validation {
    /// The summed batch losses over the number of batches, as the lesson's `fit` prints.
    pub mean_of_batch_losses: f32,
    /// The summed batch accuracies over the number of batches.
    pub mean_of_batch_accuracies: f32,
    /// The loss over all samples.
    pub sample_loss: f32,
    /// The accuracy over all samples.
    pub sample_accuracy: f32,
}

/// The lesson's validation pass over `batches`, without gradients.
pub fn validate<I>(batches: I, forward: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Validation>
where
    I: Iterator<Item = Result<(Tensor, Tensor)>>,
{
    // The lesson's `tot_loss += loss_func(pred, yb)` adds float32 tensors, and
    // `tot_loss/nv` divides in float32: the same here, so the printed means round alike.
    let (mut tot_loss, mut tot_acc, mut n_batches) = (0f32, 0f32, 0usize);
    let (mut sum_loss, mut sum_hits, mut n_samples) = (0f64, 0f64, 0usize);
    for batch in batches {
        let (xb, yb) = batch?;
        let out = forward(&xb)?.detach();
        let n = yb.dim(0)?;
        let loss = loss_func(&out, &yb)?.to_scalar::<f32>()?;
        let acc = accuracy(&out, &yb)?.to_scalar::<f32>()?;
        tot_loss += loss;
        tot_acc += acc;
        n_batches += 1;
        sum_loss += f64::from(loss) * n as f64;
        sum_hits += f64::from(acc) * n as f64;
        n_samples += n;
    }
    let nb = n_batches.max(1) as f32;
    let ns = n_samples.max(1) as f64;
    Ok(Validation {
        mean_of_batch_losses: tot_loss / nb,
        mean_of_batch_accuracies: tot_acc / nb,
        sample_loss: (sum_loss / ns) as f32,
        sample_accuracy: (sum_hits / ns) as f32,
    })
}

/// Consecutive slices `[i*bs, i*bs+bs)` of `x` and `y` (the lesson's first loops).
pub fn slices<'a>(
    x: &'a Tensor,
    y: &'a Tensor,
    bs: usize,
) -> impl Iterator<Item = Result<(Tensor, Tensor)>> + 'a {
    let n = x.dims()[0];
    (0..n.div_ceil(bs)).map(move |i| {
        let start = i * bs;
        let len = bs.min(n - start);
        Ok((x.narrow(0, start, len)?, y.narrow(0, start, len)?))
    })
}

/// A progress bar on stderr, shown only when stderr is a terminal (so it never reaches
/// a snapshot or a log).
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(len: usize) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(len as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("  {bar:40} {pos}/{len} batches")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            Self(Some(bar))
        } else {
            Self(None)
        }
    }

    fn tick(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn accuracy_counts_argmax_hits() -> Result<()> {
        let out = Tensor::new(&[[0.1f32, 0.9], [0.8, 0.2]], &Device::Cpu)?;
        let y = Tensor::new(&[1i64, 1], &Device::Cpu)?;
        assert_eq!(accuracy(&out, &y)?.to_scalar::<f32>()?, 0.5);
        Ok(())
    }
}
