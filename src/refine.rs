//! Choosing inputs inside their printed rounding intervals.
//!
//! A notebook printed its random inputs rounded to 4 decimals, so the true inputs lay
//! within ±0.00005 of what it shows. Fed back as printed, they give last-digit
//! differences further down (4.0056 where the notebook printed 4.0058). `refine`
//! searches the box of rounding intervals for inputs whose later outputs print exactly
//! as the notebook's, using the notebook's own later printed values as constraints.
//!
//! The search is coordinate descent on a grid: for each input in turn it tries evenly
//! spaced points across that input's interval (then, in later rounds, across a shrinking
//! neighbourhood of the best point so far) and keeps the point with the smallest misfit;
//! when no single input can move, it tries moves of all inputs at once, drawn from a
//! fixed-seed generator.
//! Misfits compare first by how far outputs fall outside the printed intervals, then by
//! how close they sit to an interval's edge, so that the chosen inputs are not one ulp
//! away from printing differently. It is deterministic.

use crate::notebook::Misfit;
use anyhow::{bail, Result};

/// Grid points tried per input and round.
const GRID: usize = 11;
/// Rounds of shrinking the neighbourhood searched around each input.
const ROUNDS: usize = 4;
/// Sweeps over all inputs per round, at most.
const SWEEPS: usize = 6;
/// Moves of all inputs at once per round, when sweeps alone do not fit.
const JOINT_TRIALS: usize = 300;

/// The outcome of a search.
#[derive(Clone, Debug)]
pub struct Refined {
    /// The chosen inputs, each inside its interval.
    pub values: Vec<f64>,
    /// The misfit at the chosen inputs; `outside == 0` means every constrained output
    /// prints as the notebook printed it.
    pub misfit: Misfit,
    /// The misfit of the printed (rounded) inputs, for comparison.
    pub misfit_as_printed: Misfit,
    /// How many times the objective was evaluated.
    pub evaluations: usize,
}

/// Searches `printed[i] ± half_width` for inputs minimising `misfit`.
///
/// `misfit` runs the computation on candidate inputs and measures its outputs against
/// the notebook's printed values (a silent `Notebook` does that). The search stops as
/// soon as no output is outside or near the edge of its interval. It fails only if
/// `misfit` fails; whether every output could be matched is in `Refined::misfit`.
pub fn refine(
    printed: &[f64],
    half_width: f64,
    mut misfit: impl FnMut(&[f64]) -> Result<Misfit>,
) -> Result<Refined> {
    if !(half_width > 0.0 && half_width.is_finite()) {
        bail!("the rounding half width must be a positive number, got {half_width}");
    }
    let mut evaluations = 0;
    let mut eval = |values: &[f64]| -> Result<Misfit> {
        evaluations += 1;
        misfit(values)
    };
    let mut current = printed.to_vec();
    let misfit_as_printed = eval(&current)?;
    let mut best = misfit_as_printed;
    // Keep strictly inside the interval: its edges print ambiguously.
    let reach = half_width * 0.999;
    let mut radius = reach;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    'rounds: for _ in 0..ROUNDS {
        for _ in 0..SWEEPS {
            if is_exact(best) {
                break 'rounds;
            }
            let mut improved = false;
            for i in 0..current.len() {
                let lo = (current[i] - radius).max(printed[i] - reach);
                let hi = (current[i] + radius).min(printed[i] + reach);
                for k in 0..GRID {
                    let candidate = lo + (hi - lo) * k as f64 / (GRID - 1) as f64;
                    if candidate == current[i] {
                        continue;
                    }
                    let kept = current[i];
                    current[i] = candidate;
                    let m = eval(&current)?;
                    if better(m, best) {
                        best = m;
                        improved = true;
                    } else {
                        current[i] = kept;
                    }
                }
            }
            if !improved {
                break;
            }
        }
        // Constraints that couple inputs (a product, a row sum) can leave no single
        // input free to move: try moving all of them at once.
        for _ in 0..JOINT_TRIALS {
            if is_exact(best) {
                break 'rounds;
            }
            let candidate: Vec<f64> = current
                .iter()
                .zip(printed)
                .map(|(&c, &p)| (c + radius * (2.0 * rng.unit() - 1.0)).clamp(p - reach, p + reach))
                .collect();
            let m = eval(&candidate)?;
            if better(m, best) {
                best = m;
                current = candidate;
            }
        }
        radius /= (GRID - 1) as f64 / 4.0;
    }
    Ok(Refined {
        values: current,
        misfit: best,
        misfit_as_printed,
        evaluations,
    })
}

/// A small fixed-seed generator (xorshift64*), so that the search is deterministic.
struct XorShift(u64);

impl XorShift {
    /// A uniform draw in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        bits as f64 / (1u64 << 53) as f64
    }
}

fn is_exact(m: Misfit) -> bool {
    m.outside == 0.0 && m.near_edge == 0.0
}

fn better(a: Misfit, b: Misfit) -> bool {
    a.outside < b.outside || (a.outside == b.outside && a.near_edge < b.near_edge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printed::numbers;

    /// The misfit of outputs against printed texts, as a silent notebook measures it.
    fn misfit_of(outputs: &[(f64, &str)]) -> Misfit {
        let mut m = Misfit::default();
        for (value, text) in outputs {
            let n = &numbers(text)[0];
            let miss = n.miss(*value, 1.0);
            m.outside += miss;
            m.numbers_outside += usize::from(miss > 0.0);
            m.near_edge += n.miss(*value, 0.8);
        }
        m
    }

    #[test]
    fn finds_inputs_that_reproduce_later_prints() {
        // True inputs, printed rounded to 4 decimals; later outputs printed from the
        // true inputs constrain them further.
        let truth = [1.387_74_f64, -1.265_63, -0.911_16];
        let printed = [1.3877, -1.2656, -0.9112];
        let outputs = |x: &[f64]| {
            let exps: Vec<f64> = x.iter().map(|v| v.exp()).collect();
            let sum: f64 = exps.iter().sum();
            vec![
                exps[0],
                exps[1],
                exps[2],
                sum,
                x[0] * 10.0,
                x[1] * x[2] * 10.0,
            ]
        };
        let expected: Vec<String> = outputs(&truth).iter().map(|v| format!("{v:.4}")).collect();
        let objective = |x: &[f64]| -> Result<Misfit> {
            let got = outputs(x);
            let pairs: Vec<(f64, &str)> = got
                .iter()
                .zip(&expected)
                .map(|(v, s)| (*v, s.as_str()))
                .collect();
            Ok(misfit_of(&pairs))
        };
        let refined = refine(&printed, 0.00005, objective).unwrap();
        assert!(
            refined.misfit_as_printed.outside > 0.0,
            "the rounded inputs must not fit"
        );
        assert_eq!(refined.misfit.outside, 0.0);
        for (v, p) in refined.values.iter().zip(printed) {
            assert!((v - p).abs() < 0.00005);
        }
        let got: Vec<String> = outputs(&refined.values)
            .iter()
            .map(|v| format!("{v:.4}"))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn reports_constraints_it_cannot_meet() {
        // Nothing in 1.0 ± 0.00005 doubles to 3.
        let refined = refine(&[1.0], 0.00005, |x| {
            Ok(misfit_of(&[(2.0 * x[0], "3.0000")]))
        })
        .unwrap();
        assert!(refined.misfit.outside > 0.0);
        assert!((refined.values[0] - 1.0).abs() < 0.00005);
    }

    #[test]
    fn rejects_a_bad_half_width() {
        assert!(refine(&[1.0], 0.0, |_| Ok(Misfit::default())).is_err());
    }
}
