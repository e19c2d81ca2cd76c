//! Chapter 1 — Cross-entropy from scratch.
//!
//! Reproduces an untitled fastai notebook on cross-entropy from scratch (it names no
//! author or file), cell by cell: the MNIST listing, -log(p) and NLL curves, entropy +
//! KL, softmax in numpy, the log-sum-exp trick (`cross_soft`), a cross-entropy with
//! targets (`cross_soft2`), its analytic gradient against autograd, and the linear-layer
//! derivatives. Every `plt.plot` becomes a PNG in the output folder. The notebook's mistakes are reproduced where
//! possible, then shown and explained.

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var, D};
use clap::Parser;
use crossent::chapter::{self, Chapter};
use crossent::cli::{self, CommonArgs, NotebookArgs};
use crossent::loss::{self, CrossEntropyOptions, Reduction};
use crossent::notebook::Notebook;
use crossent::plot::{self, Figure, Line, Series};
use crossent::torchlike::{
    gradient, linspace, max_abs_diff, np_linspace, one_hot, pick_rows, repeat_rows, scalar,
};
use crossent::{mnist, np, pt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// This chapter: what it is and how to run it (the report reads it too).
pub const CHAPTER: Chapter = Chapter {
    number: 1,
    title: "Chapter 1 — Cross-entropy from scratch",
    origin:
        "an untitled fastai notebook on cross-entropy from scratch (it names no author or file)",
    original_file: None,
    takes_figures_and_data: true,
    run: |argv, device| run(chapter::parse_args(argv)?, device),
};

#[derive(Parser)]
#[command(
    name = "chapter-1",
    about = "Chapter 1 — Cross-entropy from scratch: the notebook again, cell by cell, \
             with its plots as PNG files"
)]
pub struct Args {
    #[command(flatten)]
    common: CommonArgs,

    #[command(flatten)]
    notebooks: NotebookArgs,

    /// Folder for the PNG figures [default: figures/chapter-1 in the build output]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// The MNIST folder to list [default: the first of $MNIST_DIR, data/mnist in the project,
    /// the user cache, ../shared/data/mnist that holds it; else fetched once into the cache]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
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
    let out = plot::prepare_out_dir(args.out.as_deref(), "chapter-1")?;
    let mut nb = CHAPTER.notebook(&args.notebooks)?;
    nb.on_device(device);
    nb.figures_in(&out);
    notebook(&mut nb, device, &out, args.data_dir.as_deref())?;
    Ok(nb)
}

/// Turns a figure into a harness record by writing it to `out`.
fn draw(nb: &mut Notebook, code: &str, out: &Path, figure: Figure) -> Result<()> {
    nb.figure(code, || figure.write_png(out))
}

fn to_f64(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?)
}

fn notebook(nb: &mut Notebook, device: &Device, out: &Path, data_dir: Option<&Path>) -> Result<()> {
    let listing_code =
        "from fastai.vision.all import *\n\npath = untar_data(URLs.MNIST)\n\npath.ls()";
    // `untar_data(URLs.MNIST)`: MNIST found where the chapters look, else fetched once.
    let files = match mnist::find_or_fetch(data_dir) {
        Ok(location) => mnist::present_files(&location.dir),
        Err(e) => {
            nb.warn(&format!(
                "chapter-1: {}",
                format!("{e:#}").replace('\n', " ")
            ));
            Vec::new()
        }
    };
    if files.is_empty() {
        nb.not_run(
            listing_code,
            &format!(
                "no MNIST files found or fetched (see stderr); {}",
                mnist::HOW_TO_GET
            ),
        );
    } else {
        let items: Vec<String> = files.iter().map(|f| format!("Path('{f}')")).collect();
        nb.show_incomparable(
            listing_code,
            // fastai's `L` prints its items on one line, whatever their width.
            &format!("(#{}) [{}]", items.len(), items.join(", ")),
            "(#2) [Path('/home/molly/data/mnist\\_png/testing'), Path('/home/molly/data/mnist\\_png/training')]",
            "fastai downloaded a PNG copy of MNIST to the author's home folder; the chapter \
             lists the IDX files of the local MNIST folder, by name only",
        );
    }

    nb.code("preds=np.linspace(0.001,1.)");
    let preds = np_linspace(0.001, 1.0, 50);

    nll_cells(nb, device, out, &preds)?;
    entropy_cells(nb, out, &preds)?;
    numpy_softmax_cells(nb, out)?;
    cross_soft_cells(nb, device, out)?;
    gradient_cells(nb, device)?;
    linear_layer_derivatives(nb, device)?;
    Ok(())
}

fn nll_cells(nb: &mut Notebook, device: &Device, out: &Path, preds: &[f64]) -> Result<()> {
    // The next cell defines `pt`; this one uses it first.
    let pt = repeat_rows(&linspace(0.001, 1.0, 50, device)?, 50)?;
    let ones = Tensor::ones(50, DType::I64, device)?;
    let nll_none = |input: &Tensor, target: &Tensor| -> Result<Tensor> {
        Ok(pick_rows(input, target)?.neg()?)
    };
    nb.show(
        "F.nll_loss(pt,torch.ones(50).long(),reduction='none').shape",
        &pt::size(nll_none(&pt, &ones)?.dims()),
        "torch.Size([50])",
    );
    nb.finding(
        "cells out of order: `pt` is used before it is defined",
        "This cell uses `pt`, which the notebook defines in the next cell; run in order in a \
         fresh kernel it raises NameError: name 'pt' is not defined. The chapter evaluates \
         it with the next cell's `pt`.",
    );

    let code = "pt = torch.linspace(0.001,1.,50)[None].repeat(50,1)\n\
                plt.plot(torch.linspace(0.001,1.,50),F.nll_loss(pt,torch.ones(50).long(),reduction='none')";
    let x = to_f64(&linspace(0.001, 1.0, 50, device)?)?;
    let as_written = to_f64(&nll_none(&pt, &ones)?)?;
    let arange = Tensor::arange(0i64, 50, device)?;
    let intended = to_f64(&nll_none(&pt.log()?, &arange)?)?;
    draw(
        nb,
        code,
        out,
        Figure {
            name: "1-nll-of-linspace".into(),
            title: "F.nll_loss(pt, ones, reduction='none')".into(),
            x_label: "prediction p".into(),
            y_label: "loss".into(),
            series: vec![
                Series::solid(
                    "as written: nll_loss(pt, ones)",
                    x.clone(),
                    as_written.clone(),
                ),
                Series {
                    label: "intended: nll_loss(log(pt), arange(50))".into(),
                    x,
                    y: intended.clone(),
                    line: Line::Dotted { width: 3 },
                },
            ],
        },
    )?;
    let flat = as_written.iter().all(|&v| v == as_written[0]);
    nb.finding(
        "the NLL plot is a flat line, and the cell does not parse",
        &format!(
            "The cell lacks the closing parenthesis of plt.plot (SyntaxError as written). Run \
             as meant, it still does not plot -log(p): F.nll_loss takes log-probabilities and \
             does not take the log itself, and target 1 picks column 1 of every identical row, \
             so all 50 losses are -pt[i, 1] = {} (flat: {flat}). The intended curve is \
             F.nll_loss(torch.log(pt), torch.arange(50), reduction='none') = -log(p): from {} \
             at p = 0.001 to {} at p = 1 (the dotted series).",
            np::float32(as_written[0] as f32),
            np::float32(intended[0] as f32),
            np::float32(intended[49] as f32),
        ),
    );
    nb.check(
        "nll_loss(pt, ones) is constant at -pt[0, 1]",
        flat && (as_written[0]
            + f64::from(crossent::torchlike::linspace_values(0.001, 1.0, 50)[1]))
        .abs()
            < 1e-12,
        "",
    );

    let neg_log: Vec<f64> = preds.iter().map(|p| -p.ln()).collect();
    draw(
        nb,
        "plt.plot(preds,-np.log(preds))",
        out,
        Figure {
            name: "2-neg-log".into(),
            title: "-log(p)".into(),
            x_label: "prediction p".into(),
            y_label: "-log(p)".into(),
            series: vec![Series::solid("-np.log(preds)", preds.to_vec(), neg_log)],
        },
    )?;
    Ok(())
}

fn entropy_cells(nb: &mut Notebook, out: &Path, preds: &[f64]) -> Result<()> {
    fn entropy_plus_kl(p: f64, q: f64) -> f64 {
        p * p.ln() + p * (p / q).ln()
    }
    let neg_log: Vec<f64> = preds.iter().map(|p| -p.ln()).collect();
    let ekl: Vec<f64> = preds.iter().map(|&q| entropy_plus_kl(1.0, q)).collect();
    draw(
        nb,
        "def entropy_plus_kl(p,q):\n    return p*np.log(p)+p*np.log(p/q)\n\n\
         plt.plot(preds,-np.log(preds))\n\
         plt.plot(preds,entropy_plus_kl(1,preds),linewidth=6,linestyle=':')",
        out,
        Figure {
            name: "3-entropy-plus-kl".into(),
            title: "-log(p) and entropy_plus_kl(1, p)".into(),
            x_label: "prediction p".into(),
            y_label: "value".into(),
            series: vec![
                Series::solid("-np.log(preds)", preds.to_vec(), neg_log.clone()),
                Series {
                    label: "entropy_plus_kl(1, preds)".into(),
                    x: preds.to_vec(),
                    y: ekl.clone(),
                    line: Line::Dotted { width: 6 },
                },
            ],
        },
    )?;
    let same = neg_log
        .iter()
        .zip(&ekl)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    nb.check(
        "entropy_plus_kl(1, p) equals -log(p) on preds",
        same < 1e-12,
        &format!("largest difference {}", pt::py_sci(same, 1)),
    );
    // A two-class example where p is not one-hot.
    let p: [f64; 2] = [0.5, 0.5];
    let q: [f64; 2] = [0.25, 0.75];
    let cross_entropy: f64 = -p.iter().zip(&q).map(|(p, q)| p * q.ln()).sum::<f64>();
    let notebook_formula: f64 = p.iter().zip(&q).map(|(&p, &q)| entropy_plus_kl(p, q)).sum();
    let entropy: f64 = -p.iter().map(|p| p * p.ln()).sum::<f64>();
    let kl: f64 = p.iter().zip(&q).map(|(p, q)| p * (p / q).ln()).sum();
    nb.finding(
        "entropy_plus_kl agrees with cross-entropy only because p = 1",
        &format!(
            "H(p,q) = H(p) + D_KL(p||q) with H(p) = -sum p log p, but entropy_plus_kl (and the \
             markdown above it) uses +p log p. With p = 1, p log p = 0, so the two curves \
             coincide. For p = [0.5, 0.5], q = [0.25, 0.75]: H(p,q) = {}, H(p) + D_KL = {}, \
             the notebook's formula gives {}.",
            np::float64(round(cross_entropy, 4)),
            np::float64(round(entropy + kl, 4)),
            np::float64(round(notebook_formula, 4)),
        ),
    );
    nb.check(
        "H(p,q) = H(p) + D_KL(p||q) for a non-one-hot p, and the notebook's formula differs",
        (cross_entropy - (entropy + kl)).abs() < 1e-12
            && (notebook_formula - cross_entropy).abs() > 0.1,
        "",
    );
    Ok(())
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

fn numpy_softmax_cells(nb: &mut Notebook, out: &Path) -> Result<()> {
    let xss: [i64; 5] = [100, 0, 0, 0, 0];
    let exps: Vec<f64> = xss.iter().map(|&v| (v as f64).exp()).collect();
    let first = exps[0] / exps.iter().sum::<f64>();
    nb.show(
        "xss=array([100,0,0,0,0])\nnp.exp(xss[0])/np.exp(xss).sum()",
        &np::float64(first),
        "1.0",
    );
    let exps32: Vec<f32> = xss.iter().map(|&v| (v as f32).exp()).collect();
    let naive32 = exps32[0] / exps32.iter().sum::<f32>();
    let max = xss.iter().copied().max().unwrap_or(0) as f32;
    let shifted: Vec<f32> = xss.iter().map(|&v| (v as f32 - max).exp()).collect();
    let shifted32 = shifted[0] / shifted.iter().sum::<f32>();
    nb.extra(
        "beside it: the same softmax in float32",
        &format!(
            "naive  np.float32: exp(100) = {} overflows, so exp(100)/sum = {}\n\
             max-shifted (exp(x - max)):  {}",
            np::float32(exps32[0]),
            np::float32(naive32),
            np::float32(shifted32)
        ),
    );
    nb.check(
        "float32 naive softmax overflows (nan) and the max-shifted one gives 1.0",
        naive32.is_nan() && shifted32 == 1.0,
        "",
    );

    fn relu(xss: &[i64]) -> Vec<i64> {
        xss.iter().map(|&v| v * i64::from(v > 0)).collect()
    }
    // The printed output fits an xss of [-2, -1, 0, 1, 2], not the one defined above.
    let inferred: [i64; 5] = [-2, -1, 0, 1, 2];
    nb.show(
        "def relu(xss): return xss*(xss>0)\n relu(xss)",
        &np::int_array(&relu(&inferred)),
        "array([0, 0, 0, 1, 2])",
    );
    nb.finding(
        "relu's output does not come from the xss the notebook defines",
        &format!(
            "With xss = array([100,0,0,0,0]) as defined above, relu(xss) is {}. The printed \
             array([0, 0, 0, 1, 2]) fits an xss redefined in a cell the export lost, such as \
             array([-2,-1,0,1,2]), which the chapter uses to reproduce it. The second line is \
             also indented by one space (IndentationError as written).",
            np::int_array(&relu(&xss))
        ),
    );
    nb.deviation(
        "the notebook shows an output `3` with no cell that produces it; nothing to reproduce",
    );

    fn softmax(x: &[f64]) -> Vec<f64> {
        let e: Vec<f64> = x.iter().map(|v| v.exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }
    let xss_f: Vec<f64> = xss.iter().map(|&v| v as f64).collect();
    nb.show(
        "softmax(xss).sum()",
        &np::float64(softmax(&xss_f).iter().sum()),
        "1.0",
    );
    nb.finding(
        "softmax is used before it is defined",
        "softmax(xss).sum() comes before `def softmax` (next cell); in order, a fresh kernel \
         raises NameError. The chapter evaluates it with the next cell's softmax on \
         xss = array([100,0,0,0,0]).",
    );
    let xs = np_linspace(-5.0, 5.0, 50);
    let ys = softmax(&xs);
    draw(
        nb,
        "def softmax(x): return np.exp(x)/np.exp(x).sum()\n\n\
         plt.plot(np.linspace(-5,5),softmax(np.linspace(-5,5)))",
        out,
        Figure {
            name: "4-softmax".into(),
            title: "softmax(np.linspace(-5, 5))".into(),
            x_label: "x".into(),
            y_label: "softmax(x)".into(),
            series: vec![Series::solid("softmax", xs, ys)],
        },
    )?;
    Ok(())
}

/// `cross_soft`: the per-element cross-entropy of a 1-D tensor, max-shifted.
fn cross_soft(x: &Tensor) -> Result<Tensor> {
    let a = x.max_all()?;
    Ok(x.neg()?
        .broadcast_add(&a)?
        .broadcast_add(&x.broadcast_sub(&a)?.exp()?.sum_all()?.log()?)?)
}

/// `cross_soft2` as the notebook writes it: pick the target logits, then the log-sum-exp
/// over the picked logits (not over each row's classes), with the shift fixed at 2.
fn cross_soft2(x: &Tensor, targ: &Tensor) -> Result<Tensor> {
    let x = pick_rows(x, targ)?;
    let a = 2.0;
    let lse = ((&x - a)?.exp()?.sum_all()?.log()? + a)?;
    Ok(x.neg()?.broadcast_add(&lse)?.mean_all()?)
}

/// `cross_soft2_grad` as the notebook writes it: `.sum(1)` without keepdim broadcasts
/// row sums along columns.
fn cross_soft2_grad(x: &Tensor, targ: &Tensor) -> Result<Tensor> {
    let a = x.max_all()?;
    let e = x.broadcast_sub(&a)?.exp()?;
    let n = targ.dim(0)?;
    let classes = x.dim(1)?;
    let onehot = one_hot(targ, classes)?.to_dtype(x.dtype())?;
    Ok((e.broadcast_div(&e.sum(1)?)? - onehot)?.affine(1.0 / n as f64, 0.0)?)
}

/// The per-row cross-entropy with candle-nn's pieces: `F.cross_entropy(x, t, reduction='none')`.
fn cross_entropy_none(x: &Tensor, targ: &Tensor) -> Result<Tensor> {
    Ok(pick_rows(&candle_nn::ops::log_softmax(x, D::Minus1)?, targ)?.neg()?)
}

fn cross_soft_cells(nb: &mut Notebook, device: &Device, out: &Path) -> Result<()> {
    let x = linspace(-2.0, 2.0, 50, device)?;
    let xv = to_f64(&x)?;
    let per_element = cross_soft(&x)?;
    draw(
        nb,
        "def cross_soft(x):\n    a=x.max()\n    return -x+a+torch.log(torch.exp(x-a).sum())\n\n\
         plt.plot(torch.linspace(-2,2,50),cross_soft(torch.linspace(-2,2,50)))",
        out,
        Figure {
            name: "5-cross-soft".into(),
            title: "cross_soft(torch.linspace(-2, 2, 50))".into(),
            x_label: "logit x".into(),
            y_label: "cross-entropy".into(),
            series: vec![Series::solid(
                "cross_soft",
                xv.clone(),
                to_f64(&per_element)?,
            )],
        },
    )?;

    let rows = repeat_rows(&x, 50)?;
    let targets = Tensor::arange(0i64, 50, device)?;
    let none = CrossEntropyOptions {
        reduction: Reduction::None,
        ..Default::default()
    };
    let library = loss::cross_entropy(&rows, &targets, &none)?;
    draw(
        nb,
        "plt.plot(torch.linspace(-2,2,50),F.cross_entropy(torch.linspace(-2,2,50)[None].repeat(50,1))",
        out,
        Figure {
            name: "6-library-cross-entropy".into(),
            title: "F.cross_entropy(rows, arange(50), reduction='none')".into(),
            x_label: "logit x".into(),
            y_label: "cross-entropy".into(),
            series: vec![Series::solid("F.cross_entropy per row", xv, to_f64(&library)?)],
        },
    )?;
    nb.finding(
        "the library cross-entropy plot has no target and does not parse",
        "The cell (left as markdown) lacks the closing parenthesis, and F.cross_entropy is \
         called without a target (TypeError: missing 'target'). The chapter plots the intended \
         F.cross_entropy(rows, torch.arange(50), reduction='none'): row i's loss for class i.",
    );
    let diff = max_abs_diff(&library, &per_element)?.max(max_abs_diff(
        &library,
        &cross_entropy_none(&rows, &targets)?,
    )?);
    nb.check(
        "the per-row cross-entropy (crossent's fused, reduction='none') equals cross_soft \
         and candle-nn's log_softmax + nll within 1e-6",
        diff <= 1e-6,
        "",
    );

    let loss = cross_soft2(&rows, &targets)?;
    nb.tensor(
        "def cross_soft2(x,targ,reduction='mean'):\n    x=x[range(targ.shape[0]),targ]\n    a=2\n\
         \x20   if(reduction=='mean'):\n        return (-x+a+torch.log(torch.exp(x-a).sum())).mean()\n\
         \x20   else:\n        return -x+a+torch.log(torch.exp(x-a).sum())\n\n\
         cross_soft2(torch.linspace(-2,2,50)[None].repeat(50,1),torch.arange(50))",
        &loss,
        "tensor(4.5290)",
    )?;
    let library_loss = candle_nn::loss::cross_entropy(&rows, &targets)?;
    nb.tensor(
        "F.cross_entropy(torch.linspace(-2,2,50)[None].repeat(50,1),torch.arange(50),)",
        &library_loss,
        "tensor(4.5290)",
    )?;
    let fused = loss::cross_entropy(&rows, &targets, &CrossEntropyOptions::default())?;
    let diff = max_abs_diff(&fused, &library_loss)?.max(max_abs_diff(&fused, &loss)?);
    nb.check(
        "crossent's fused cross-entropy agrees with candle-nn's and with cross_soft2 here, \
         within 1e-6",
        diff <= 1e-6,
        "",
    );
    let zeros = Tensor::zeros(50, DType::I64, device)?;
    let mine = scalar(&cross_soft2(&rows, &zeros)?)?;
    let theirs = scalar(&candle_nn::loss::cross_entropy(&rows, &zeros)?)?;
    nb.finding(
        "cross_soft2 agrees with F.cross_entropy only by coincidence",
        &format!(
            "It takes the log-sum-exp over the picked target logits of the whole batch, not \
             over each row's classes. Here every row is the same linspace and the targets \
             0..49 pick each class once, so the picked logits are exactly one row and the sums \
             coincide. With targets all 0 on the same rows: cross_soft2 = {}, \
             F.cross_entropy = {}.",
            pt::repr(&Tensor::new(mine as f32, &Device::Cpu)?)?,
            pt::repr(&Tensor::new(theirs as f32, &Device::Cpu)?)?,
        ),
    );
    nb.check(
        "cross_soft2 differs from F.cross_entropy when the targets are all 0",
        (mine - theirs).abs() > 0.1,
        "",
    );
    Ok(())
}

fn gradient_cells(nb: &mut Notebook, device: &Device) -> Result<()> {
    let rows = repeat_rows(&linspace(-2.0, 2.0, 50, device)?, 50)?;
    let targets = Tensor::arange(0i64, 50, device)?;
    let manual = cross_soft2_grad(&rows, &targets)?;
    nb.tensor_damaged(
        "def cross_soft2_grad(x,targ,reduction='mean'):\n    a=x.max()\n\
         \x20   return ((torch.exp(x-a)/(torch.exp(x-a).sum(1)))-F.one_hot(targ))/targ.shape[0]\n\n\
         cross_soft2_grad(torch.linspace(-2,2,50)[None].repeat(50,1),torch.arange(50))",
        &manual,
        "tensor([[-1.9971e-02, 3.1692e-05, 3.4388e-05, ..., 1.3545e-03,
1.4697e-03, 1.5947e-03],
     [ 2.9208e-05, -1.9968e-02, 3.4388e-05, ..., 1.3545e-03,
       1.4697e-03, 1.5947e-03],
     [ 2.9208e-05, 3.1692e-05, -1.9966e-02, ..., 1.3545e-03,
       1.4697e-03, 1.5947e-03],
     . . . ,
     [ 2.9208e-05, 3.1692e-05, 3.4388e-05, ..., -1.8646e-02,
       1.4697e-03, 1.5947e-03],
     [ 2.9208e-05, 3.1692e-05, 3.4388e-05, ..., 1.3545e-03,
      -1.8530e-02, 1.5947e-03],
     [ 2.9208e-05, 3.1692e-05, 3.4388e-05, ..., 1.3545e-03,
       1.4697e-03, -1.8405e-02]])",
        "the export cut the first line (it appears after the next cell), collapsed the \
         column padding and spelled '...' as '. . .'",
    )?;

    let xs = Var::from_tensor(&rows)?;
    let loss = candle_nn::loss::cross_entropy(xs.as_tensor(), &targets)?;
    let grads = loss.backward()?;
    let autograd = &gradient(&grads, &xs)?;
    let close = (autograd - &manual)?
        .abs()?
        .lt(1e-6)?
        .flatten_all()?
        .min(0)?;
    nb.show(
        "xs=torch.linspace(-2,2,50)[None].repeat(50,1).requires_grad_()\n\
         loss=F.cross_entropy(xs,torch.arange(50),reduction='mean')\nloss.backward()\n\
         ((xs.grad-cross_soft2_grad(torch.linspace(-2,2,50)[None].repeat(50,1),torch.arange(50))).a",
        &pt::repr_bool(&close)?,
        "tensor(True)",
    );
    let diff = max_abs_diff(autograd, &manual)?;
    nb.extra(
        "the truncated line completed as ((xs.grad - cross_soft2_grad(...)).abs() < 1e-6).all()",
        &format!(
            "candle autograd (Var + backward) of candle_nn::loss::cross_entropy against the \
             manual gradient: largest absolute difference {}",
            pt::py_sci(diff, 1)
        ),
    );
    finite_difference_check(nb, device)?;

    // The `.sum(1)` broadcast: rows that differ expose it.
    let scaled = rows.broadcast_mul(
        &Tensor::arange(1u32, 51, device)?
            .to_dtype(DType::F32)?
            .affine(1.0 / 25.0, 0.0)?
            .unsqueeze(1)?,
    )?;
    let xs2 = Var::from_tensor(&scaled)?;
    let grads2 = candle_nn::loss::cross_entropy(xs2.as_tensor(), &targets)?.backward()?;
    let true_grad = &gradient(&grads2, &xs2)?;
    let wrong = max_abs_diff(&cross_soft2_grad(&scaled, &targets)?, true_grad)?;
    nb.finding(
        "cross_soft2_grad divides by the wrong row sums",
        &format!(
            "torch.exp(x-a).sum(1) has shape (50,) and broadcasts along the last dimension, so \
             element [i, j] is divided by the sum of row j, not row i (keepdim=True is \
             missing). With identical rows all row sums are equal and the result is right by \
             coincidence. Scaling row i by (i+1)/25, the largest difference from autograd is \
             {} (it should be ~1e-9). The notebook's last line is also cut off after `.a`.",
            pt::py_sci(wrong, 1)
        ),
    );
    nb.check(
        "cross_soft2_grad is wrong once the rows differ",
        wrong > 1e-4,
        "",
    );
    Ok(())
}

/// Central finite differences of the mean cross-entropy (float64) against the manual
/// gradient, at a few entries.
fn finite_difference_check(nb: &mut Notebook, device: &Device) -> Result<()> {
    let base: Vec<f64> = np_linspace(-2.0, 2.0, 50);
    let rows = Tensor::from_vec(base.repeat(50), (50, 50), device)?;
    let targets = Tensor::arange(0i64, 50, device)?;
    let manual = cross_soft2_grad(&rows, &targets)?.to_vec2::<f64>()?;
    let h = 1e-5;
    let mut worst: f64 = 0.0;
    let entries = [(0, 0), (0, 49), (7, 7), (13, 30), (49, 0), (49, 49)];
    for (i, j) in entries {
        let mut plus = base.repeat(50);
        let mut minus = base.repeat(50);
        plus[i * 50 + j] += h;
        minus[i * 50 + j] -= h;
        let f = |v: Vec<f64>| -> Result<f64> {
            let t = Tensor::from_vec(v, (50, 50), device)?;
            scalar(&candle_nn::loss::cross_entropy(&t, &targets)?)
        };
        let numeric = (f(plus)? - f(minus)?) / (2.0 * h);
        worst = worst.max((numeric - manual[i][j]).abs());
    }
    nb.check(
        "central finite differences (float64, h = 1e-5) match the manual gradient",
        worst < 1e-8,
        &format!(
            "at {} entries, largest difference {}",
            entries.len(),
            pt::py_sci(worst, 1)
        ),
    );
    Ok(())
}

/// The closing formulas, dY/dX = W^T, dY/dW = X, dY/dB = 1, checked on a small layer:
/// for L = sum(G * Y) with Y = X W + b, autograd against G W^T, X^T G and G summed over rows.
fn linear_layer_derivatives(nb: &mut Notebook, device: &Device) -> Result<()> {
    nb.heading("The linear-layer derivatives at the end of the notebook, checked numerically");
    let values = |n: usize, phase: f32| -> Vec<f32> {
        (0..n)
            .map(|k| ((k as f32 + 1.0) * 0.7 + phase).sin())
            .collect()
    };
    let x = Var::from_tensor(&Tensor::from_vec(values(12, 0.0), (4, 3), device)?)?;
    let w = Var::from_tensor(&Tensor::from_vec(values(6, 1.0), (3, 2), device)?)?;
    let b = Var::from_tensor(&Tensor::from_vec(values(2, 2.0), 2, device)?)?;
    let g = Tensor::from_vec(values(8, 3.0), (4, 2), device)?;
    let y = x
        .as_tensor()
        .matmul(w.as_tensor())?
        .broadcast_add(b.as_tensor())?;
    let grads = (y * &g)?.sum_all()?.backward()?;
    let get = |v: &Var| gradient(&grads, v);
    let dx = max_abs_diff(&get(&x)?, &g.matmul(&w.as_tensor().t()?)?)?;
    let dw = max_abs_diff(&get(&w)?, &x.as_tensor().t()?.matmul(&g)?)?;
    let db = max_abs_diff(&get(&b)?, &g.sum(0)?)?;
    nb.check(
        "dL/dX = G W^T, dL/dW = X^T G, dL/db = sum of G over rows (autograd, 4x3 layer to 2)",
        dx < 1e-6 && dw < 1e-6 && db < 1e-6,
        &format!(
            "largest differences: X {}, W {}, b {}",
            pt::py_sci(dx, 1),
            pt::py_sci(dw, 1),
            pt::py_sci(db, 1)
        ),
    );
    nb.finding(
        "the derivative formulas are loose about order and transposes",
        "dY/dW = X only holds as X^T G, with X^T on the left; dY/dX = W^T only as G W^T, on \
         the right. The last two lines switch to y_ik = sum_j w_ij x_jk and differentiate with \
         respect to x_ij while summing over j, reusing the summation index.",
    );
    Ok(())
}
