//! PyTorch's CPU `nll_loss` reduction to the bit: the negated target entries summed in
//! float32 through its cascade of 8 partial sums (`nll_loss_out_frame`), then divided by
//! the total weight for the mean. The library's loss accumulates in float64, which prints
//! the same to four decimals but not always to the last bit `.item()` shows.

/// The reduced loss of `(n, c)` log-probabilities `logp` (row-major) at `targets`;
/// `None` when a target is out of range (the library's error is then the one to give).
pub fn reduced(
    logp: &[f32],
    c: usize,
    targets: &[i64],
    weight: Option<&[f32]>,
    ignore_index: i64,
    mean: bool,
) -> Option<f32> {
    const LEVELS: usize = 8;
    let n = targets.len();
    let ceil_log2 = if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    } as usize;
    let level_power = (ceil_log2 / LEVELS).max(4);
    let level_mask = (1usize << level_power) - 1;
    let mut weights = [0f32; LEVELS];
    let mut losses = [0f32; LEVELS];
    let mut ignored = 0usize;
    for (b, &t) in targets.iter().enumerate() {
        if t == ignore_index {
            ignored += 1;
            continue;
        }
        let t = usize::try_from(t).ok().filter(|&t| t < c)?;
        let data = logp[b * c + t];
        match weight {
            Some(w) => {
                losses[0] -= data * w[t];
                weights[0] += w[t];
            }
            None => losses[0] -= data,
        }
        for j in 0..LEVELS - 1 {
            if b & (level_mask << (j * level_power)) != 0 {
                break;
            }
            weights[j + 1] += weights[j];
            losses[j + 1] += losses[j];
            weights[j] = 0.0;
            losses[j] = 0.0;
        }
    }
    let total_weight = match weight {
        None => (n - ignored) as f32,
        Some(_) => weights.iter().fold(0.0, |a, &w| a + w),
    };
    let total = losses.iter().fold(0.0, |a, &l| a + l);
    Some(if mean { total / total_weight } else { total })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_small_batch_sums_in_order() {
        let logp = [-1.0f32, -2.0, -0.5, -3.0];
        assert_eq!(
            super::reduced(&logp, 2, &[1, 0], None, -100, false),
            Some(2.5)
        );
        assert_eq!(
            super::reduced(&logp, 2, &[1, -100], None, -100, true),
            Some(2.0)
        );
        assert_eq!(super::reduced(&logp, 2, &[2, 0], None, -100, true), None);
    }
}
