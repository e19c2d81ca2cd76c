//! Chapter 3 — Cross-entropy theory.
//!
//! Reproduces the notebook "Cross-Entropy: Theoretical Basics": its one computed
//! cell (`print(loss.sum(), my_cross_entropy(...))`), then computes the theory the
//! notebook states: Shannon entropy, KL divergence and cross-entropy in bits, the identity
//! D_KL(p‖q) = H(p,q) − H(p), the softmax Jacobian against autograd, and the gradient of
//! softmax followed by cross-entropy, softmax − y.

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var};
use clap::Parser;
use crossent::chapter::{self, Chapter};
use crossent::cli::{self, CommonArgs, NotebookArgs};
use crossent::notebook::Notebook;
use crossent::torchlike::{gradient, max_abs_diff, one_hot, scalar};
use crossent::{np, pt};
use std::process::ExitCode;

/// This chapter: what it is and how to run it (the report reads it too).
pub const CHAPTER: Chapter = Chapter {
    number: 3,
    title: "Chapter 3 — Cross-entropy theory",
    origin: "\"Cross-Entropy: Theoretical Basics\", a notebook that names no author or file",
    original_file: None,
    takes_figures_and_data: false,
    run: |argv, device| run(chapter::parse_args(argv)?, device),
};

#[derive(Parser)]
#[command(
    name = "chapter-3",
    about = "Chapter 3 — Cross-entropy theory: the notebook's computed cell, then its theory \
             computed and checked"
)]
pub struct Args {
    #[command(flatten)]
    common: CommonArgs,

    #[command(flatten)]
    notebooks: NotebookArgs,
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
    implementation_cell(&mut nb, device)?;
    theory(&mut nb, device)?;
    Ok(nb)
}

/// `my_cross_entropy` as the notebook writes it, in numpy's float32: the rescaled copy is
/// computed and then not used.
fn my_cross_entropy(input_arr: &[f32], labels: &[bool]) -> f32 {
    let mut rescaled_input_arr: Vec<f32> = input_arr.iter().map(|v| v + 1e-6).collect();
    let total: f32 = rescaled_input_arr.iter().sum();
    rescaled_input_arr.iter_mut().for_each(|v| *v /= total);
    -input_arr
        .iter()
        .zip(labels)
        .map(|(v, &l)| v.ln() * f32::from(u8::from(l)))
        .sum::<f32>()
}

const CELL: &str = "import numpy as np
import torch
from torch import nn

def my_cross_entropy(input_arr: np.ndarray, labels: np.ndarray) -> float:
    rescaled_input_arr = input_arr + 1e-6
    rescaled_input_arr /= np.sum(rescaled_input_arr)
    
    return -np.sum(np.log(input_arr) * labels)

logits = torch.tensor([[0.25, 0.35, 0.4]], dtype=torch.float32)  
labels = torch.tensor([2]) #index of positive label

loss_fn = nn.CrossEntropyLoss()
loss = -(labels == torch.arange(3)).float() * torch.log(logits)

print(loss.sum(), my_cross_entropy(logits.numpy(), (labels==torch.arange(3)).numpy()))";

fn implementation_cell(nb: &mut Notebook, device: &Device) -> Result<()> {
    nb.heading("Implementation");
    let logits = Tensor::new(&[[0.25f32, 0.35, 0.4]], device)?;
    let labels = Tensor::new(&[2i64], device)?;
    let classes = Tensor::arange(0i64, 3, device)?;
    let mask = labels.broadcast_eq(&classes)?;
    let loss = mask
        .to_dtype(DType::F32)?
        .neg()?
        .broadcast_mul(&logits.log()?)?;
    let logits_host = logits.flatten_all()?.to_vec1::<f32>()?;
    let mask_host: Vec<bool> = mask.to_vec1::<u8>()?.iter().map(|&m| m != 0).collect();
    let mine = my_cross_entropy(&logits_host, &mask_host);
    nb.show(
        CELL,
        &format!("{} {}", pt::repr(&loss.sum_all()?)?, np::float32(mine)),
        "tensor(0.9163) 0.9162907",
    );

    let with_rescaled: f32 = {
        let shifted: Vec<f32> = logits_host.iter().map(|v| v + 1e-6).collect();
        let total: f32 = shifted.iter().sum();
        -(shifted[2] / total).ln()
    };
    nb.finding(
        "my_cross_entropy computes a rescaled copy of its input and never uses it",
        &format!(
            "rescaled_input_arr (input + 1e-6, renormalised) is dead code; the return uses \
             input_arr. Used as intended it would give {} instead of {}.",
            np::float32(with_rescaled),
            np::float32(mine)
        ),
    );
    let library = candle_nn::loss::cross_entropy(&logits, &labels.to_dtype(DType::U32)?)?;
    nb.finding(
        "the 'logits' are used as probabilities, and loss_fn is never called",
        &format!(
            "Both printed numbers take log(logits) directly, which is cross-entropy only \
             because 0.25 + 0.35 + 0.4 happens to be 1. nn.CrossEntropyLoss, defined as \
             loss_fn and never used, treats its input as logits and applies softmax first: \
             loss_fn(logits, labels) = {}.",
            pt::repr(&library)?
        ),
    );
    let bits = f64::from(mine) / std::f64::consts::LN_2;
    nb.finding(
        "the theory is in bits, the code in nats",
        &format!(
            "The theory defines entropy and cross-entropy with log2; my_cross_entropy and \
             PyTorch use the natural log. In bits the same loss is {} (= {} / ln 2).",
            np::float64(round(bits, 7)),
            np::float32(mine)
        ),
    );
    Ok(())
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// The notebook's theory, computed on a small pair of distributions and checked.
fn theory(nb: &mut Notebook, device: &Device) -> Result<()> {
    nb.heading("The theory, computed (beyond the notebook's one cell)");
    let p = Tensor::new(&[0.1f64, 0.6, 0.3], device)?;
    let q = Tensor::new(&[0.2f64, 0.5, 0.3], device)?;
    let log2 = |t: &Tensor| -> Result<Tensor> { Ok((t.log()? / std::f64::consts::LN_2)?) };
    let entropy = scalar(&(&p * log2(&p)?)?.sum_all()?.neg()?)?;
    let cross_entropy = scalar(&(&p * log2(&q)?)?.sum_all()?.neg()?)?;
    let kl = scalar(&(&p * log2(&(&p / &q)?)?)?.sum_all()?)?;
    nb.extra(
        "p = [0.1, 0.6, 0.3], q = [0.2, 0.5, 0.3], in bits (float64)",
        &format!(
            "H(p)         = {}\nH(p, q)      = {}\nD_KL(p || q) = {}",
            np::float64(round(entropy, 6)),
            np::float64(round(cross_entropy, 6)),
            np::float64(round(kl, 6))
        ),
    );
    nb.check(
        "D_KL(p || q) = H(p, q) - H(p), and D_KL >= 0",
        (kl - (cross_entropy - entropy)).abs() < 1e-12 && kl >= 0.0,
        &format!(
            "difference {}",
            pt::py_sci((kl - (cross_entropy - entropy)).abs(), 1)
        ),
    );

    // The softmax Jacobian, analytic against autograd, row by row.
    let z = Tensor::new(&[0.25f32, 0.35, 0.4], device)?;
    let x = candle_nn::ops::softmax(&z, 0)?;
    let xs = x.to_vec1::<f32>()?;
    let n = xs.len();
    let mut analytic = vec![0f32; n * n];
    for i in 0..n {
        for j in 0..n {
            analytic[i * n + j] = if i == j {
                xs[i] * (1.0 - xs[i])
            } else {
                -xs[i] * xs[j]
            };
        }
    }
    let analytic = Tensor::from_vec(analytic, (n, n), device)?;
    let mut rows = Vec::new();
    for i in 0..n {
        let zv = Var::from_tensor(&z)?;
        let xi = candle_nn::ops::softmax(zv.as_tensor(), 0)?.get(i)?;
        let grads = xi.backward()?;
        let row = gradient(&grads, &zv)?;
        rows.push(row);
    }
    let autograd = Tensor::stack(&rows, 0)?;
    let diff = max_abs_diff(&autograd, &analytic)?;
    nb.extra(
        "the softmax Jacobian dx_i/dz_j at z = [0.25, 0.35, 0.4]: x_i(1 - x_i) on the diagonal, -x_i x_j off it",
        &pt::repr(&analytic)?,
    );
    nb.check_difference(
        "the analytic softmax Jacobian equals autograd's, row by row",
        diff,
        1e-6,
    );

    // Softmax then cross-entropy: the gradient with respect to z is softmax - y.
    let logits = z.unsqueeze(0)?;
    let label = Tensor::new(&[2u32], device)?;
    let zv = Var::from_tensor(&logits)?;
    let grads = candle_nn::loss::cross_entropy(zv.as_tensor(), &label)?.backward()?;
    let autograd = &gradient(&grads, &zv)?;
    let derived = (candle_nn::ops::softmax(&logits, 1)? - one_hot(&label, 3)?)?;
    let diff = max_abs_diff(autograd, &derived)?;
    nb.extra(
        "dL/dz for softmax followed by cross-entropy, label 2: softmax(z) - y",
        &pt::repr(&derived)?,
    );
    nb.check_difference(
        "softmax(z) - y equals autograd of cross-entropy through softmax",
        diff,
        1e-6,
    );
    Ok(())
}
