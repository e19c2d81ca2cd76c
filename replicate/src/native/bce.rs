//! PyTorch's CPU binary cross-entropy to the bit, element by element in float32 as its
//! kernels compute it, then reduced by PyTorch's own sum or mean (`crossent::reduce`):
//! - on probabilities, `(y - 1)·max(log1p(-x), -100) - y·max(log x, -100)`;
//! - on logits, `(1 - y)·x - w·log_sigmoid(x)`, with `log_sigmoid(x) = min(x, 0) -
//!   log1p(exp(-|x|))` and `w = (pos_weight - 1)·y + 1` (1 without `pos_weight`).
//!
//! Both then multiply by `weight`. The library's composed loss gives the same to four
//! decimals, but not for a loss that cancels (`-10 - log_sigmoid(-10)`).

/// How the per-element losses are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    /// One loss per element.
    None,
    /// PyTorch's sum.
    Sum,
    /// PyTorch's mean.
    Mean,
}

/// The loss of `x` against `y` (same length), `weight` and `pos_weight` already broadcast
/// to it; `None` for a probability outside [0, 1] (PyTorch refuses it).
pub fn loss(
    x: &[f32],
    y: &[f32],
    weight: Option<&[f32]>,
    pos_weight: Option<&[f32]>,
    logits: bool,
    reduce: Reduce,
) -> Option<Vec<f32>> {
    let mut per = Vec::with_capacity(x.len());
    for i in 0..x.len() {
        let (xi, yi) = (x[i], y[i]);
        let mut l = if logits {
            let mut log_sigmoid = xi.min(0.0) - (-xi.abs()).exp().ln_1p();
            if let Some(pw) = pos_weight {
                log_sigmoid *= (pw[i] - 1.0) * yi + 1.0;
            }
            (1.0 - yi) * xi - log_sigmoid
        } else {
            if !(0.0..=1.0).contains(&xi) {
                return None;
            }
            (yi - 1.0) * (-xi).ln_1p().max(-100.0) - yi * xi.ln().max(-100.0)
        };
        if let Some(w) = weight {
            l *= w[i];
        }
        per.push(l);
    }
    Some(match reduce {
        Reduce::None => per,
        Reduce::Sum => vec![crossent::reduce::sum(&per)],
        Reduce::Mean => vec![crossent::reduce::mean(&per)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelling_logit_loss_keeps_pytorchs_rounding() {
        // PyTorch 2: tensor(4.5588e-05) for logits [-10, 10] and targets [0, 1].
        let out = loss(&[-10.0, 10.0], &[0.0, 1.0], None, None, true, Reduce::Mean).unwrap();
        assert_eq!(format!("{:.4e}", out[0]), "4.5588e-5");
        assert!(loss(&[1.5], &[1.0], None, None, false, Reduce::Sum).is_none());
    }
}
