//! Chapter 4 — Likelihood and the gradient of cross-entropy.
//!
//! Reproduces the notebook "Maximizing the likelihood of the labels of the data" (its
//! images link to nasheqlbrm/blog on GitHub) cell by cell:
//! maximum likelihood as NLL, softmax / log / `log_softmax` / `CrossEntropyLoss` on a 6×2
//! batch, the derivation's string cell, and the gradient o − y checked against autograd.
//! The random activations are recovered from their printed values (`crossent::refine`).

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var, D};
use clap::Parser;
use crossent::chapter::{self, Chapter};
use crossent::cli::{self, CommonArgs, NotebookArgs};
use crossent::draws::{self, Found};
use crossent::loss::{self, CrossEntropyOptions, Reduction};
use crossent::notebook::Notebook;
use crossent::random::recover::history::{CacheUse, Gap, History};
use crossent::random::recover::PrintedDraw;
use crossent::refine::{refine, Refined};
use crossent::torchlike::{gradient, max_abs_diff, one_hot, pick_rows};
use crossent::{np, printed, pt};
use std::process::ExitCode;

/// This chapter: what it is and how to run it (the report reads it too).
pub const CHAPTER: Chapter = Chapter {
    number: 4,
    title: "Chapter 4 — Likelihood and the gradient of cross-entropy",
    origin: "\"Maximizing the likelihood of the labels of the data\" (its images link to nasheqlbrm/blog on GitHub)",
    original_file: Some("2021-08-07-Cross-Entropy-Loss-PyTorch.ipynb"),
    takes_figures_and_data: false,
    run: |argv, device| run(chapter::parse_args(argv)?, device),
};

/// The cell that draws the activations and prints them.
const ACTIVATIONS_CELL: &str = "activations = torch.randn((6,2))*2\nactivations";
/// `activations = torch.randn((6,2))*2` as the notebook printed it (4 decimals); with
/// `--notebook`, what that file printed instead.
const ACTIVATIONS_PRINTED: &str = "tensor([[-1.6453,  1.8893],
        [ 1.9800,  1.7681],
        [ 2.8183,  4.6643],
        [-0.3635, -0.0614],
        [ 0.4064, -0.4668],
        [-3.3801,  3.2484]])";
/// The seed the notebook's run drew from, recovered from its prints by searching all
/// 2^32 seeds (`cargo bench --bench seed_search` with `CROSSENT_BENCH_FULL=1` finds it
/// again; `tests/recover.rs` checks it in a range around it).
const RECOVERED_SEED: u32 = 1_508_572_025;
/// Where the printed draw lies in that seed's stream: at its start (nothing, not even
/// the fastai import, drew before it).
const RECOVERED_GAPS: [Gap; 1] = [Gap {
    words: 0,
    cache: CacheUse::Kept,
}];
const TARGETS: [i64; 6] = [0, 1, 0, 1, 1, 0];
const ROUNDING: f64 = 0.00005;

/// The string cell as the notebook wrote it (a LaTeX derivation in a non-raw string).
const DERIVATION_CELL: &str = r#"#| include: false
# The following renders fine as a markdown cell in Jupyter but not when said notebook is rendered by fastpages
# So I used https://latexeditor.lagrida.com to render the equation take a screenshot and then put it in the page :(
'''
\begin{eqnarray*}
\frac{\partial E}{\partial z^{[i]}} &=&- \sum_{l=1}^{K} y^{[l]}\cdot  \frac{\partial}{\partial z^{[i]}}ln(o^{[l]})
=- \sum_{j \neq i} y^{[j]}\cdot  \frac{\partial}{\partial z^{[i]}}ln(o^{[j]}) - y^{[i]}\cdot  \frac{\partial}{\partial z^{[i]}}ln(o^{[i]})\\
&=&- \sum_{j \neq i} y^{[j]}\cdot \frac{1}{o^{[j]}} \cdot \frac{\partial}{\partial z^{[i]}}o^{[j]} - y^{[i]}\cdot \frac{1}{o^{[i]}} \cdot \frac{\partial}{\partial z^{[i]}}o^{[i]} \\
&=& - \sum_{j \neq i} y^{[j]}\cdot \frac{1}{o^{[j]}} \cdot (-o^{[j]} \cdot o^{[i]}) - y^{[i]}\cdot \frac{1}{o^{[i]}} \cdot o^{[i]} \cdot (1 - o^{[i]}) \\
&=& - \sum_{j \neq i} y^{[j]} (-o^{[i]}) - y^{[i]} (1 - o^{[i]}) \\
&=& - \sum_{j \neq i} y^{[j]} (-o^{[i]}) + y^{[i]} o^{[i]} - y^{[i]} \\
&=& o^{[i]} \sum_{j} y^{[j]}  - y^{[i]} \\
&=& o^{[i]} - y^{[i]}
\end{eqnarray*}
'''"#;
/// What the notebook printed for it.
const DERIVATION_OUTPUT: &str = r#"'\n\x08egin{eqnarray*}\n\x0crac{\\partial E}{\\partial z^{[i]}} &=&- \\sum_{l=1}^{K} y^{[l]}\\cdot  \x0crac{\\partial}{\\partial z^{[i]}}ln(o^{[l]})\n=- \\sum_{j \neq i} y^{[j]}\\cdot  \x0crac{\\partial}{\\partial z^{[i]}}ln(o^{[j]}) - y^{[i]}\\cdot  \x0crac{\\partial}{\\partial z^{[i]}}ln(o^{[i]})\\\n&=&- \\sum_{j \neq i} y^{[j]}\\cdot \x0crac{1}{o^{[j]}} \\cdot \x0crac{\\partial}{\\partial z^{[i]}}o^{[j]} - y^{[i]}\\cdot \x0crac{1}{o^{[i]}} \\cdot \x0crac{\\partial}{\\partial z^{[i]}}o^{[i]} \\\n&=& - \\sum_{j \neq i} y^{[j]}\\cdot \x0crac{1}{o^{[j]}} \\cdot (-o^{[j]} \\cdot o^{[i]}) - y^{[i]}\\cdot \x0crac{1}{o^{[i]}} \\cdot o^{[i]} \\cdot (1 - o^{[i]}) \\\n&=& - \\sum_{j \neq i} y^{[j]} (-o^{[i]}) - y^{[i]} (1 - o^{[i]}) \\\n&=& - \\sum_{j \neq i} y^{[j]} (-o^{[i]}) + y^{[i]} o^{[i]} - y^{[i]} \\\n&=& o^{[i]} \\sum_{j} y^{[j]}  - y^{[i]} \\\n&=& o^{[i]} - y^{[i]}\n\\end{eqnarray*}\n'"#;

#[derive(Parser)]
#[command(
    name = "chapter-4",
    about = "Chapter 4 — Likelihood and the gradient of cross-entropy: the notebook again, \
             cell by cell, checked against what it printed"
)]
pub struct Args {
    #[command(flatten)]
    common: CommonArgs,

    #[command(flatten)]
    notebooks: NotebookArgs,

    /// Run on the activations exactly as the notebook printed them (4 decimals) instead
    /// of refining them: shows the last-digit differences that rounding causes
    #[arg(long)]
    as_printed: bool,

    /// With --notebook: when the file sets no seed and its draws are not the recorded
    /// seed's, search all 2^32 seeds for the one its run drew from (minutes), and replay
    /// its draws exactly; without it, the activations are refined from the prints
    #[arg(long, requires = "notebook")]
    recover_seed: bool,
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
    let text = nb.printed_input(ACTIVATIONS_CELL, ACTIVATIONS_PRINTED)?;
    let printed = printed::input_values(&text, 12, "activations")?;
    if args.as_printed {
        notebook(&mut nb, device, &printed, &Origin::AsPrinted)?;
        return Ok(nb);
    }
    let draws = [PrintedDraw::normal("activations", &text, 2.0)];
    let recorded = History::new(RECOVERED_SEED, &RECOVERED_GAPS);
    let found = draws::notebook_draws(
        &mut nb,
        &draws,
        ACTIVATIONS_CELL,
        &recorded,
        args.recover_seed,
    )?;
    let refined = refine(&printed, ROUNDING, |values| {
        let mut silent = nb.silent_twin();
        notebook(&mut silent, device, values, &Origin::AsPrinted)?;
        Ok(silent.misfit())
    })?;
    match found {
        Some(found) => {
            let values = found.values[0].clone();
            let origin = Origin::Drawn {
                found,
                draws,
                refined,
            };
            notebook(&mut nb, device, &values, &origin)?;
        }
        None => {
            let values = refined.values.clone();
            notebook(&mut nb, device, &values, &Origin::Refined(refined))?;
        }
    }
    Ok(nb)
}

/// How the activations were obtained.
enum Origin {
    /// Drawn from the notebook's seed; `refined` is what `refine` would have chosen.
    Drawn {
        found: Found,
        draws: [PrintedDraw; 1],
        refined: Refined,
    },
    /// Chosen by `refine` inside the printed rounding.
    Refined(Refined),
    /// As printed (`--as-printed`), or while `refine` itself runs the cells.
    AsPrinted,
}

/// `nn.CrossEntropyLoss(reduction='none')` / `F.cross_entropy(..., reduction='none')`
/// with candle-nn's pieces: the per-example loss.
fn cross_entropy_none(x: &Tensor, targets: &Tensor) -> Result<Tensor> {
    Ok(pick_rows(&candle_nn::ops::log_softmax(x, D::Minus1)?, targets)?.neg()?)
}

fn notebook(
    nb: &mut Notebook,
    device: &Device,
    activations: &[f64],
    origin: &Origin,
) -> Result<()> {
    nb.not_run(
        "#| include: false\n!pip install git+https://github.com/fastai/fastai\n\
         !pip install git+https://github.com/fastai/fastcore",
        "installs fastai and fastcore with pip; nothing to compute",
    );
    nb.code("from fastai.vision.all import *");

    let used: Vec<f32> = activations.iter().map(|&v| v as f32).collect();
    let activations = Tensor::from_slice(&used, (6, 2), device)?;
    nb.tensor(ACTIVATIONS_CELL, &activations, ACTIVATIONS_PRINTED)?;
    if let Origin::Drawn {
        found,
        draws,
        refined,
    } = origin
    {
        found.describe_in(nb, draws);
        nb.extra(
            "activations drawn, at full precision (float32, shortest round-trip digits), \
             beside the value refine chose inside each printed interval",
            &draws::beside_refined(
                "activations",
                &found.values[0],
                &refined.values,
                &draws[0].values,
                2,
            ),
        );
    }
    if let Origin::Refined(refined) = origin {
        let rows: Vec<String> = used
            .chunks(2)
            .map(|r| format!("[{}, {}]", np::float32(r[0]), np::float32(r[1])))
            .collect();
        nb.extra(
            "activations used, at full precision (float32, shortest round-trip digits)",
            &format!(
                "{}\nFed back as printed (4 decimals), they make {} of the notebook's later \
                 printed numbers differ in the last digit.\ncrossent::refine chose them \
                 inside ±{ROUNDING} of the printed values ({} evaluations); with the values \
                 used, {} differ.",
                rows.join("\n"),
                refined.misfit_as_printed.numbers_outside,
                refined.evaluations,
                refined.misfit.numbers_outside,
            ),
        );
    }

    let targets = Tensor::from_slice(&TARGETS, 6, device)?;
    nb.tensor(
        "targets = tensor([0,1,0,1,1,0])\ntargets",
        &targets,
        "tensor([0, 1, 0, 1, 1, 0])",
    )?;

    let sm_acts = candle_nn::ops::softmax(&activations, 1)?;
    nb.tensor(
        "sm_acts = torch.softmax(activations, dim=1)\nsm_acts",
        &sm_acts,
        "tensor([[0.0283, 0.9717],
        [0.5528, 0.4472],
        [0.1363, 0.8637],
        [0.4250, 0.5750],
        [0.7054, 0.2946],
        [0.0013, 0.9987]])",
    )?;

    let idx: Vec<String> = (0..6).map(|i| i.to_string()).collect();
    nb.show(
        "idx = range(6)\nlist(idx)",
        &pt::list(&idx),
        "[0, 1, 2, 3, 4, 5]",
    );

    let p_correct_class = pick_rows(&sm_acts, &targets)?;
    nb.tensor(
        "p_correct_class = sm_acts[idx, targets]\np_correct_class",
        &p_correct_class,
        "tensor([0.0283, 0.4472, 0.1363, 0.5750, 0.2946, 0.0013])",
    )?;

    let log_probs = "tensor([[-3.5634e+00, -2.8753e-02],
        [-5.9281e-01, -8.0469e-01],
        [-1.9925e+00, -1.4659e-01],
        [-8.5559e-01, -5.5344e-01],
        [-3.4895e-01, -1.2222e+00],
        [-6.6298e+00, -1.3213e-03]])";
    let log_of_softmax = sm_acts.log()?;
    nb.tensor("torch.log(sm_acts)", &log_of_softmax, log_probs)?;
    let log_softmax = candle_nn::ops::log_softmax(&activations, 1)?;
    nb.tensor(
        "torch.log_softmax(activations, dim=1)",
        &log_softmax,
        log_probs,
    )?;
    if !nb.is_silent() {
        let diff = max_abs_diff(&log_of_softmax, &log_softmax)?;
        nb.check_difference(
            "log(softmax) equals log_softmax on these activations",
            diff,
            1e-6,
        );
        more_accurate(nb, device)?;
    }

    let losses = pick_rows(&sm_acts, &targets)?.log()?.neg()?;
    let per_example = "(tensor([3.5634, 0.8047, 1.9925, 0.5534, 1.2222, 6.6298]), tensor(2.4610))";
    nb.tensor_tuple(
        "-1*torch.log(p_correct_class), (-1*torch.log(p_correct_class)).mean()",
        &[&losses, &losses.mean_all()?],
        per_example,
    )?;

    // nn.CrossEntropyLoss: the project's fused loss; F.cross_entropy: candle-nn's pieces.
    let fused = |reduction| {
        let opts = CrossEntropyOptions {
            reduction,
            ..Default::default()
        };
        loss::cross_entropy(&activations, &targets, &opts)
    };
    let (fused_none, fused_mean) = (fused(Reduction::None)?, fused(Reduction::Mean)?);
    nb.tensor_tuple(
        "nn.CrossEntropyLoss(reduction='none')(activations, targets), \
         nn.CrossEntropyLoss()(activations, targets)",
        &[&fused_none, &fused_mean],
        per_example,
    )?;
    let none = cross_entropy_none(&activations, &targets)?;
    let mean = candle_nn::loss::cross_entropy(&activations, &targets)?;
    nb.tensor_tuple(
        "F.cross_entropy(activations, targets, reduction='none'), \
         F.cross_entropy(activations, targets)",
        &[&none, &mean],
        per_example,
    )?;
    if !nb.is_silent() {
        let diff = max_abs_diff(&fused_none, &none)?
            .max(max_abs_diff(&fused_none, &losses)?)
            .max(max_abs_diff(&fused_mean, &mean)?);
        nb.check(
            "the fused crossent::loss::cross_entropy (nn.CrossEntropyLoss above) agrees with \
             candle-nn's log_softmax + nll and with -log(p_correct_class) within 1e-6",
            diff <= 1e-6,
            "",
        );
    }

    nb.heading("Gradient of Cross Entropy");
    let body = DERIVATION_CELL
        .split("'''")
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("the derivation cell has no ''' string"))?;
    nb.show(
        DERIVATION_CELL,
        &np::python_str_repr(&np::python_unescape(body)),
        DERIVATION_OUTPUT,
    );
    if !nb.is_silent() {
        nb.finding(
            "the derivation string is not a raw string, so Python mangled its LaTeX",
            "In '''...''' the backslash escapes are live: \\b in \\begin became a backspace \
             (\\x08egin), \\f in \\frac a form feed (\\x0crac), and \\n in \\neq a newline; \
             r'''...''' keeps the LaTeX as written. The chapter reproduces the mangled value.",
        );
        gradient_check(nb, &activations, &targets)?;
    }
    Ok(())
}

/// "faster and more accurate": where log(softmax) loses to log_softmax.
fn more_accurate(nb: &mut Notebook, device: &Device) -> Result<()> {
    let extreme = Tensor::new(&[[-60f32, 60.]], device)?;
    let naive = candle_nn::ops::softmax(&extreme, 1)?.log()?;
    let fused = candle_nn::ops::log_softmax(&extreme, 1)?;
    nb.extra(
        "beyond the notebook: activations [[-60., 60.]] in float32",
        &format!(
            "torch.log(torch.softmax(a, dim=1)): {}\ntorch.log_softmax(a, dim=1):        {}",
            pt::repr(&naive)?,
            pt::repr(&fused)?
        ),
    );
    let naive_first = naive.flatten_all()?.to_vec1::<f32>()?[0];
    let fused_first = fused.flatten_all()?.to_vec1::<f32>()?[0];
    nb.check(
        "log(softmax) underflows to -inf where log_softmax gives -120",
        naive_first == f32::NEG_INFINITY && (fused_first + 120.0).abs() < 1e-3,
        "",
    );
    Ok(())
}

/// The derived gradient dE/dz = o - y (per example; divided by N for the mean loss)
/// against candle autograd of the mean cross-entropy.
fn gradient_check(nb: &mut Notebook, activations: &Tensor, targets: &Tensor) -> Result<()> {
    let z = Var::from_tensor(activations)?;
    let loss = candle_nn::loss::cross_entropy(z.as_tensor(), targets)?;
    let grads = loss.backward()?;
    let autograd = &gradient(&grads, &z)?;
    let o = candle_nn::ops::softmax(activations, 1)?;
    let y = one_hot(targets, 2)?.to_dtype(DType::F32)?;
    let derived = ((o - y)? / 6.0)?;
    let diff = max_abs_diff(autograd, &derived)?;
    nb.extra(
        "beyond the notebook: the gradient of the mean loss, (o - y) / N",
        &pt::repr(&derived)?,
    );
    nb.check_difference(
        "(softmax(z) - one_hot(targets)) / N equals candle autograd of the mean cross-entropy",
        diff,
        1e-6,
    );
    Ok(())
}
