//! Chapter 6 — Information theory (Dive into Deep Learning's appendix).
//!
//! Reproduces `information-theory.ipynb` of d2l-ai's PyTorch edition (the appendix
//! "Mathematics for Deep Learning"): self-information, entropy, joint and conditional
//! entropy, mutual information, two KL divergences between sorted samples of
//! `torch.normal`, and cross-entropy by hand and through `NLLLoss`.
//!
//! Every output is printed to its last digit as PyTorch prints it, the KL cells' Python
//! floats included. Those need PyTorch's draws (`crossent::random`), its float32 `log2`
//! (`crossent::pointwise`), its order of summation for a float32 `sum`
//! (`crossent::reduce`) and `x[~torch.isnan(x)]` (`torchlike::masked_select`). The KL
//! cells draw after `torch.manual_seed(1)`, as the notebook's code seeds them; a notebook
//! file's own seed cell, or `--seed`, gives another seed.
//!
//! The chapter reads top-down like the notebook: one function per `##` heading, in the
//! notebook's order, with its `###` sub-headings as comments inside them.

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use clap::Parser;
use crossent::chapter::{self, Chapter};
use crossent::cli::{self, CommonArgs, NotebookArgs};
use crossent::loss::{nll_loss, NllLossOptions};
use crossent::notebook::{Notebook, Tolerance};
use crossent::pointwise::log2_tensor;
use crossent::random::Generator;
use crossent::reduce::{mean_all, sum_all};
use crossent::torchlike::{masked_select, pick_rows, scalar};
use crossent::{np, pt};
use std::process::ExitCode;

/// This chapter: what it is and how to run it (the report reads it too).
pub const CHAPTER: Chapter = Chapter {
    number: 6,
    title: "Chapter 6 — Information theory (Dive into Deep Learning)",
    origin: "information-theory.ipynb, the appendix \"Mathematics for Deep Learning\" of \
             Dive into Deep Learning, PyTorch edition (d2l-ai/d2l-pytorch-colab)",
    original_file: Some("information-theory.ipynb"),
    takes_figures_and_data: false,
    run: |argv, device| run(chapter::parse_args(argv)?, device),
};

/// The seed the notebook's KL example gives PyTorch (`torch.manual_seed(1)`).
const NOTEBOOK_SEED: u64 = 1;

/// `tensor_len` in the KL example.
const TENSOR_LEN: usize = 10000;

#[derive(Parser)]
#[command(
    name = "chapter-6",
    about = "Chapter 6 — Information theory (Dive into Deep Learning): every output to its \
             last digit, the notebook's claims checked"
)]
pub struct Args {
    #[command(flatten)]
    common: CommonArgs,

    #[command(flatten)]
    notebooks: NotebookArgs,

    /// Run the KL example after `torch.manual_seed(SEED)` [default: the notebook file's
    /// seed, else the notebook's own, 1]
    #[arg(long, value_name = "SEED")]
    seed: Option<u64>,
}

fn main() -> ExitCode {
    cli::main(
        |args: &Args| args.common.device,
        |args, device| Ok(run(args, &device)?.finish()),
    )
}

/// The chapter, cell by cell, on `device`: its harness with every record (printed as it
/// goes unless the harness is quiet; the report runs chapters this way too).
pub fn run(args: Args, device: &Device) -> Result<Notebook> {
    let mut nb = CHAPTER.notebook(&args.notebooks)?;
    nb.on_device(device);
    let draws = kl_draws(&mut nb, args.seed)?;
    information(&mut nb, device)?;
    entropy(&mut nb, device)?;
    mutual_information(&mut nb, device)?;
    kullback_leibler_divergence(&mut nb, device, &draws)?;
    cross_entropy(&mut nb, device)?;
    Ok(nb)
}

/// The KL example's draws: their seed, and why their outputs are not compared when
/// they are not the notebook's.
struct KlDraws {
    seed: u64,
    not_compared_because: String,
}

/// The seed of the KL example: the file's seed cell, else `--seed`, else the notebook's.
/// The KL outputs are compared when the draws are the file's (or, without a file, the
/// notebook's own).
fn kl_draws(nb: &mut Notebook, flag: Option<u64>) -> Result<KlDraws> {
    let file_seed = nb.notebook_seed(&seed_cell(NOTEBOOK_SEED));
    let has_file = nb.notebook_file().is_some();
    let seed = match (file_seed, flag) {
        (Some(file), Some(flag)) if file != flag => anyhow::bail!(
            "--seed {flag} contradicts the notebook file, which seeds PyTorch with {file}; \
             leave --seed out to use the file's"
        ),
        (Some(file), _) => file,
        (None, flag) => flag.unwrap_or(NOTEBOOK_SEED),
    };
    let (compared, because) = match (file_seed.is_some(), has_file) {
        (true, _) => (true, "the notebook file's seed cell".to_string()),
        (false, true) => (
            false,
            "the notebook file seeds nothing before these draws".to_string(),
        ),
        (false, false) if seed == NOTEBOOK_SEED => {
            (true, "the notebook's own seed cell".to_string())
        }
        (false, false) => (
            false,
            format!("--seed {seed}, not the notebook's seed {NOTEBOOK_SEED}"),
        ),
    };
    if compared {
        nb.draws_as_the_notebook(Tolerance {
            abs: 0.0,
            reason: "the notebook's own draws: every digit must match".into(),
        });
    }
    nb.extra(
        "random draws",
        &format!(
            "PyTorch's generator, bit for bit, after torch.manual_seed({seed}) ({because}: \
             the KL outputs are {})",
            if compared {
                "compared"
            } else {
                "shown beside the notebook's, not compared"
            }
        ),
    );
    Ok(KlDraws {
        seed,
        not_compared_because: because,
    })
}

const IMPORTS_AND_SELF_INFORMATION: &str = r#"import torch
from torch.nn import NLLLoss


def nansum(x):
    # Define nansum, as pytorch does not offer it inbuilt.
    return x[~torch.isnan(x)].sum()

def self_information(p):
    return -torch.log2(torch.tensor(p)).item()

self_information(1 / 64)"#;

/// `nansum(x)`: the sum of the elements that are not NaN, in PyTorch's order.
fn nansum(x: &Tensor) -> Result<Tensor> {
    sum_all(&masked_select(x, &x.eq(x)?)?)
}

/// `-torch.log2(torch.tensor(p)).item()`: `p` becomes a float32 tensor.
fn self_information(p: f64, device: &Device) -> Result<f64> {
    let p = Tensor::new(p as f32, device)?;
    scalar(&log2_tensor(&p)?.neg()?)
}

fn information(nb: &mut Notebook, device: &Device) -> Result<()> {
    nb.heading("Information");
    // ### Self-information
    let bits = self_information(1.0 / 64.0, device)?;
    nb.show(IMPORTS_AND_SELF_INFORMATION, &np::float64(bits), "6.0");
    nb.check(
        "an event of probability 1/64 carries exactly 6 bits",
        bits == 6.0,
        &np::float64(bits),
    );
    Ok(())
}

const ENTROPY: &str = r#"def entropy(p):
    entropy = - p * torch.log2(p)
    # Operator `nansum` will sum up the non-nan number
    out = nansum(entropy)
    return out

entropy(torch.tensor([0.1, 0.5, 0.1, 0.3]))"#;

/// `entropy(p)`: `nansum(- p * torch.log2(p))`, in bits.
fn entropy_of(p: &Tensor) -> Result<Tensor> {
    nansum(&(p.neg()? * log2_tensor(p)?)?)
}

fn entropy(nb: &mut Notebook, device: &Device) -> Result<()> {
    nb.heading("Entropy");
    // ### Motivating Entropy
    // ### Definition
    let p = Tensor::new(&[0.1f32, 0.5, 0.1, 0.3], device)?;
    nb.tensor(ENTROPY, &entropy_of(&p)?, "tensor(1.6855)")?;
    // ### Interpretations
    // ### Properties of Entropy
    Ok(())
}

const JOINT_ENTROPY: &str = r#"def joint_entropy(p_xy):
    joint_ent = -p_xy * torch.log2(p_xy)
    # Operator `nansum` will sum up the non-nan number
    out = nansum(joint_ent)
    return out

joint_entropy(torch.tensor([[0.1, 0.5], [0.1, 0.3]]))"#;

const CONDITIONAL_ENTROPY: &str = r#"def conditional_entropy(p_xy, p_x):
    p_y_given_x = p_xy/p_x
    cond_ent = -p_xy * torch.log2(p_y_given_x)
    # Operator `nansum` will sum up the non-nan number
    out = nansum(cond_ent)
    return out

conditional_entropy(torch.tensor([[0.1, 0.5], [0.2, 0.3]]),
                    torch.tensor([0.2, 0.8]))"#;

const MUTUAL_INFORMATION: &str = r#"def mutual_information(p_xy, p_x, p_y):
    p = p_xy / (p_x * p_y)
    mutual = p_xy * torch.log2(p)
    # Operator `nansum` will sum up the non-nan number
    out = nansum(mutual)
    return out

mutual_information(torch.tensor([[0.1, 0.5], [0.1, 0.3]]),
                   torch.tensor([0.2, 0.8]), torch.tensor([[0.75, 0.25]]))"#;

fn conditional_entropy_of(p_xy: &Tensor, p_x: &Tensor) -> Result<Tensor> {
    let p_y_given_x = p_xy.broadcast_div(p_x)?;
    nansum(&(p_xy.neg()? * log2_tensor(&p_y_given_x)?)?)
}

fn mutual_information_of(p_xy: &Tensor, p_x: &Tensor, p_y: &Tensor) -> Result<Tensor> {
    let p = p_xy.broadcast_div(&p_x.broadcast_mul(p_y)?)?;
    nansum(&(p_xy * log2_tensor(&p)?)?)
}

fn mutual_information(nb: &mut Notebook, device: &Device) -> Result<()> {
    nb.heading("Mutual Information");
    // ### Joint Entropy
    let p_xy = Tensor::new(&[[0.1f32, 0.5], [0.1, 0.3]], device)?;
    let joint = entropy_of(&p_xy)?;
    nb.tensor(JOINT_ENTROPY, &joint, "tensor(1.6855)")?;
    let four = entropy_of(&p_xy.flatten_all()?)?;
    nb.check(
        "the joint entropy of the table is the entropy of its four cells, to the bit",
        joint.to_scalar::<f32>()?.to_bits() == four.to_scalar::<f32>()?.to_bits(),
        &format!("{} and {}", pt::repr(&joint)?, pt::repr(&four)?),
    );

    // ### Conditional Entropy
    let q_xy = Tensor::new(&[[0.1f32, 0.5], [0.2, 0.3]], device)?;
    let p_x = Tensor::new(&[0.2f32, 0.8], device)?;
    nb.tensor(
        CONDITIONAL_ENTROPY,
        &conditional_entropy_of(&q_xy, &p_x)?,
        "tensor(0.8635)",
    )?;
    let total = q_xy.sum_all()?;
    nb.finding(
        "conditional_entropy's example is not a joint distribution",
        &format!(
            "Its p_xy sums to {}, not 1, and p_x = [0.2, 0.8] is none of its marginals: its \
             column sums are {} and its row sums {}. The 0.8635 printed is the formula applied \
             to numbers that are not a distribution.",
            pt::repr(&total)?,
            pt::repr(&q_xy.sum(0)?)?,
            pt::repr(&q_xy.sum(1)?)?
        ),
    );

    // ### Mutual Information
    let p_y = Tensor::new(&[[0.75f32, 0.25]], device)?;
    let printed = mutual_information_of(&p_xy, &p_x, &p_y)?;
    nb.tensor(MUTUAL_INFORMATION, &printed, "tensor(0.7195)")?;
    let (rows, columns) = (p_xy.sum(1)?, p_xy.sum(0)?);
    let from_marginals = mutual_information_of(&p_xy, &rows.unsqueeze(1)?, &columns)?;
    let by_entropies = (entropy_of(&rows)? + entropy_of(&columns)?)?.sub(&joint)?;
    nb.finding(
        "mutual_information's example is not the joint's mutual information",
        &format!(
            "p_xy is the joint of the cell above (joint entropy {}). Its marginals are {} \
             (rows) and {} (columns); the p_x given is the column marginal, and p_y = [[0.75, \
             0.25]] is neither. Both are laid along the columns, so p_x * p_y is one row. \
             With the true marginals the same code gives {}, and H(X) + H(Y) - H(X, Y) \
             from entropy() gives {}: the variables are nearly independent, not the {} \
             printed.",
            pt::repr(&joint)?,
            pt::repr(&rows)?,
            pt::repr(&columns)?,
            pt::repr(&from_marginals)?,
            pt::repr(&by_entropies)?,
            pt::repr(&printed)?
        ),
    );
    // ### Properties of Mutual Information
    // ### Pointwise Mutual Information
    // ### Applications of Mutual Information
    Ok(())
}

const KL_DIVERGENCE: &str = r#"def kl_divergence(p, q):
    kl = p * torch.log2(p / q)
    out = nansum(kl)
    return out.abs().item()"#;

fn seed_cell(seed: u64) -> String {
    format!(
        r#"torch.manual_seed({seed})

tensor_len = 10000
p = torch.normal(0, 1, (tensor_len, ))
q1 = torch.normal(-1, 1, (tensor_len, ))
q2 = torch.normal(1, 1, (tensor_len, ))

p = torch.sort(p)[0]
q1 = torch.sort(q1)[0]
q2 = torch.sort(q2)[0]"#
    )
}

const KL_P_Q: &str = r#"kl_pq1 = kl_divergence(p, q1)
kl_pq2 = kl_divergence(p, q2)
similar_percentage = abs(kl_pq1 - kl_pq2) / ((kl_pq1 + kl_pq2) / 2) * 100

kl_pq1, kl_pq2, similar_percentage"#;

const KL_Q_P: &str = r#"kl_q2p = kl_divergence(q2, p)
differ_percentage = abs(kl_q2p - kl_pq2) / ((kl_q2p + kl_pq2) / 2) * 100

kl_q2p, differ_percentage"#;

/// `p * torch.log2(p / q)` term by term (NaN where `p / q` is negative).
fn kl_terms(p: &Tensor, q: &Tensor) -> Result<Tensor> {
    Ok((p * log2_tensor(&(p / q)?)?)?)
}

/// `kl_divergence(p, q)`: the NaN-free sum of the terms, its absolute value as a
/// Python float.
fn kl_divergence(p: &Tensor, q: &Tensor) -> Result<f64> {
    scalar(&nansum(&kl_terms(p, q)?)?.abs()?)
}

/// Python's `abs(a - b) / ((a + b) / 2) * 100`.
fn percentage_apart(a: f64, b: f64) -> f64 {
    (a - b).abs() / ((a + b) / 2.0) * 100.0
}

/// `torch.normal(mean, 1, (TENSOR_LEN,))` sorted ascending (`torch.sort(x)[0]`).
fn sorted_normal(rng: &mut Generator, mean: f64, device: &Device) -> Result<Tensor> {
    let x = Tensor::from_vec(rng.normal_values(TENSOR_LEN, mean, 1.0), TENSOR_LEN, device)?;
    Ok(x.sort_last_dim(true)?.0)
}

fn kullback_leibler_divergence(nb: &mut Notebook, device: &Device, draws: &KlDraws) -> Result<()> {
    nb.heading("Kullback–Leibler Divergence");
    // ### Definition
    nb.code(KL_DIVERGENCE);
    // ### KL Divergence Properties
    // ### Example
    let mut rng = Generator::manual_seed(draws.seed);
    let p = sorted_normal(&mut rng, 0.0, device)?;
    let q1 = sorted_normal(&mut rng, -1.0, device)?;
    let q2 = sorted_normal(&mut rng, 1.0, device)?;
    nb.code(&seed_cell(draws.seed));

    let unseeded = &draws.not_compared_because;
    let kl_pq1 = kl_divergence(&p, &q1)?;
    let kl_pq2 = kl_divergence(&p, &q2)?;
    let similar_percentage = percentage_apart(kl_pq1, kl_pq2);
    let floats = |xs: &[f64]| pt::tuple(&xs.iter().map(|&x| np::float64(x)).collect::<Vec<_>>());
    nb.show_seeded(
        KL_P_Q,
        &floats(&[kl_pq1, kl_pq2, similar_percentage]),
        "(8582.0341796875, 8828.3095703125, 2.8290698237936858)",
        unseeded,
    );
    let kl_q2p = kl_divergence(&q2, &p)?;
    let differ_percentage = percentage_apart(kl_q2p, kl_pq2);
    nb.show_seeded(
        KL_Q_P,
        &floats(&[kl_q2p, differ_percentage]),
        "(14130.125, 46.18621024399691)",
        unseeded,
    );
    why_every_digit(nb, &[(&p, &q1), (&p, &q2), (&q2, &p)])?;
    samples_are_not_probabilities(nb, &p, &q1, &q2, differ_percentage)
}

/// The three KL sums in other orders of summation, and how many of their terms meet a
/// float where PyTorch's `log2` is not the correctly rounded one: what printing every
/// digit takes.
fn why_every_digit(nb: &mut Notebook, pairs: &[(&Tensor, &Tensor)]) -> Result<()> {
    let mut lines =
        vec!["kl_pq1, kl_pq2, kl_q2p summed in PyTorch's order, and otherwise:".to_string()];
    let (mut cascade, mut left_to_right, mut in_f64, mut rounded_log2) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut not_correctly_rounded = 0;
    for (p, q) in pairs {
        let terms = kl_terms(p, q)?;
        let kept = masked_select(&terms, &terms.eq(&terms)?)?.to_vec1::<f32>()?;
        cascade.push(crossent::reduce::sum(&kept).abs());
        left_to_right.push(kept.iter().fold(0f32, |acc, &t| acc + t).abs());
        in_f64.push((kept.iter().map(|&t| f64::from(t)).sum::<f64>() as f32).abs());
        let ratios = (*p / *q)?.to_vec1::<f32>()?;
        let with_rounded_log2: Vec<f32> = p
            .to_vec1::<f32>()?
            .iter()
            .zip(&ratios)
            .map(|(&p, &r)| p * crossent::pointwise::log2_correctly_rounded(r))
            .filter(|t| !t.is_nan())
            .collect();
        rounded_log2.push(crossent::reduce::sum(&with_rounded_log2).abs());
        not_correctly_rounded += ratios
            .iter()
            .filter(|&&r| {
                let (ours, exact) = (
                    crossent::pointwise::log2(r),
                    crossent::pointwise::log2_correctly_rounded(r),
                );
                ours.to_bits() != exact.to_bits() && !ours.is_nan()
            })
            .count();
    }
    let floats = |xs: &[f32]| {
        pt::tuple(
            &xs.iter()
                .map(|&x| np::float64(f64::from(x)))
                .collect::<Vec<_>>(),
        )
    };
    for (label, sums) in [
        ("PyTorch's cascade over 8 lanes", &cascade),
        ("float32, left to right", &left_to_right),
        ("float64, rounded to float32", &in_f64),
        ("PyTorch's order, correctly rounded log2", &rounded_log2),
    ] {
        lines.push(format!("  {label:<41}{}", floats(sums)));
    }
    lines.push(format!(
        "terms where PyTorch's log2 is not the correctly rounded one: {not_correctly_rounded}"
    ));
    nb.extra(
        "why every digit takes PyTorch's order of summation",
        &lines.join("\n"),
    );
    Ok(())
}

/// The KL example feeds samples to a function of probabilities: what that computes, and
/// what the divergences of the sampled distributions are, estimated from the same draws.
fn samples_are_not_probabilities(
    nb: &mut Notebook,
    p: &Tensor,
    q1: &Tensor,
    q2: &Tensor,
    differ_percentage: f64,
) -> Result<()> {
    let terms = kl_terms(p, q1)?;
    let kept = masked_select(&terms, &terms.eq(&terms)?)?;
    let dropped = TENSOR_LEN - kept.elem_count();
    let signed = scalar(&sum_all(&kept)?)?;
    // KL(N(a, 1) || N(b, 1)) estimated as the mean over x ~ N(a, 1) of
    // log2 of the density ratio, ((x - b)^2 - (x - a)^2) / 2 / ln 2.
    let estimate = |samples: &Tensor, a: f64, b: f64| -> Result<f64> {
        let xs = samples.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let total: f64 = xs
            .iter()
            .map(|x| ((x - b).powi(2) - (x - a).powi(2)) / 2.0)
            .sum();
        Ok(total / xs.len() as f64 / std::f64::consts::LN_2)
    };
    let (pq1, pq2, q2p) = (
        estimate(p, 0.0, -1.0)?,
        estimate(p, 0.0, 1.0)?,
        estimate(q2, 1.0, 0.0)?,
    );
    let round4 = |x: f64| np::float64((x * 1e4).round() / 1e4);
    nb.finding(
        "kl_divergence is given samples, not probabilities",
        &format!(
            "p, q1 and q2 are sorted draws of N(0, 1), N(-1, 1) and N(1, 1), negative about \
             half the time, so p * log2(p / q1) is NaN in {dropped} of {TENSOR_LEN} terms, \
             which nansum drops; the rest sum to {} before .abs(). The divergences of the \
             sampled distributions, estimated from the same draws as the mean of log2 of \
             the density ratio, are D(p || q1) = {}, D(p || q2) = {} and D(q2 || p) = {} \
             bits; each is exactly 1 / (2 ln 2) = {} bits. Between two normals of equal \
             variance the divergence is symmetric, so the {}% asymmetry printed comes from \
             the misuse, not from KL.",
            np::float64(signed),
            round4(pq1),
            round4(pq2),
            round4(q2p),
            round4(0.5 / std::f64::consts::LN_2),
            differ_percentage.round(),
        ),
    );
    Ok(())
}

const CROSS_ENTROPY_DEF: &str = r#"def cross_entropy(y_hat, y):
    ce = -torch.log(y_hat[range(len(y_hat)), y])
    return ce.mean()"#;

const CROSS_ENTROPY: &str = r#"labels = torch.tensor([0, 2])
preds = torch.tensor([[0.3, 0.6, 0.1], [0.2, 0.3, 0.5]])

cross_entropy(preds, labels)"#;

const NLL_LOSS: &str = r#"# Implementation of cross-entropy loss in PyTorch combines `nn.LogSoftmax()`
# and `nn.NLLLoss()`
nll_loss = NLLLoss()
loss = nll_loss(torch.log(preds), labels)
loss"#;

fn cross_entropy(nb: &mut Notebook, device: &Device) -> Result<()> {
    nb.heading("Cross-Entropy");
    // ### Formal Definition
    nb.code(CROSS_ENTROPY_DEF);
    let labels = Tensor::new(&[0i64, 2], device)?;
    let preds = Tensor::new(&[[0.3f32, 0.6, 0.1], [0.2, 0.3, 0.5]], device)?;
    let by_hand = mean_all(&pick_rows(&preds, &labels)?.log()?.neg()?)?;
    nb.tensor(CROSS_ENTROPY, &by_hand, "tensor(0.9486)")?;
    // ### Properties
    // ### Cross-Entropy as An Objective Function of Multi-class Classification
    let loss = nll_loss(&preds.log()?, &labels, &NllLossOptions::default())?;
    nb.tensor(NLL_LOSS, &loss, "tensor(0.9486)")?;
    nb.check(
        "cross_entropy by hand equals NLLLoss on log(preds), to the bit",
        by_hand.to_scalar::<f32>()?.to_bits() == loss.to_scalar::<f32>()?.to_bits(),
        &format!("{} and {}", pt::repr(&by_hand)?, pt::repr(&loss)?),
    );
    Ok(())
}
