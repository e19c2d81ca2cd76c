//! Chapter 2 — How cross-entropy works.
//!
//! Reproduces `How_cross_entropy_works.ipynb` (sdamadi/Today-I-learned on GitHub, as its
//! Colab badge names it) cell by cell:
//! softmax then NLL step by step on a 5×3 batch, `nn.LogSoftmax` on a 2×3 input, the
//! manual `log_softmax` + `nll`, the library versions (candle-nn's) and cross-entropy in
//! one call. The notebook's random inputs are recovered from their printed values (see
//! `crossent::refine`) so that every later output prints as the notebook's.

use anyhow::Result;
use candle_core::{Device, Tensor, D};
use clap::Parser;
use crossent::chapter::{self, Chapter};
use crossent::cli::{self, CommonArgs, NotebookArgs};
use crossent::draws::{self, Found};
use crossent::loss::{self, CrossEntropyOptions};
use crossent::notebook::Notebook;
use crossent::random::recover::history::{CacheUse, Gap, History};
use crossent::random::recover::PrintedDraw;
use crossent::random::Generator;
use crossent::refine::{refine, Refined};
use crossent::torchlike::{max_abs_diff, pick_rows, scalar};
use crossent::{np, printed, pt};
use std::process::ExitCode;

/// This chapter: what it is and how to run it (the report reads it too).
pub const CHAPTER: Chapter = Chapter {
    number: 2,
    title: "Chapter 2 — How cross-entropy works",
    origin: "How_cross_entropy_works.ipynb, sdamadi/Today-I-learned on GitHub (named by its Colab badge)",
    original_file: Some("How_cross_entropy_works.ipynb"),
    takes_figures_and_data: false,
    run: |argv, device| run(chapter::parse_args(argv)?, device),
};

/// `x = torch.randn(5, 3)` as the notebook printed it (4 decimals); with `--notebook`,
/// what that file's `x` printed instead.
const X_PRINTED: &str = "tensor([[ 1.3877, -1.2656, -0.9112],
        [ 0.6011,  0.0092, -0.0982],
        [-0.0674, -0.2059,  0.3410],
        [ 1.3918,  0.2355,  0.4159],
        [-0.6652, -1.6354, -0.9315]])";
/// `input = torch.randn(2, 3)` as the notebook printed it.
const INPUT_PRINTED: &str = "tensor([[-0.6471,  1.2743,  1.5036],
        [-0.6790,  0.3743, -0.1474]])";
/// `target = torch.randint(3, (5,))` as printed: integers, exact.
const TARGET_PRINTED: &str = "tensor([2, 0, 1, 0, 1])";
/// The cell that makes the notebook's first random draw.
const X_CELL: &str =
    "batch_size , n_classes  = 5, 3\nx = torch.randn(batch_size, n_classes)\nx.shape";
/// The seed the notebook's run drew from, recovered from its prints by searching all
/// 2^32 seeds (`cargo bench --bench seed_search` with `CROSSENT_BENCH_FULL=1` finds it
/// again; `tests/recover.rs` checks it in a range around it).
const RECOVERED_SEED: u32 = 3_254_881_943;
/// Where each printed draw lies in that seed's stream: `x` from its start, `target`
/// right after it, and `input` after 24 more words: two earlier runs of its cell (12
/// words each, the second leaving the normal the printed run begins with).
const RECOVERED_GAPS: [Gap; 3] = [
    Gap {
        words: 0,
        cache: CacheUse::Kept,
    },
    Gap {
        words: 0,
        cache: CacheUse::Kept,
    },
    Gap {
        words: 24,
        cache: CacheUse::FromPairAt(20),
    },
];
/// The shape of `x`: `batch_size, n_classes`.
const X_SHAPE: (usize, usize) = (5, 3);
/// Half a unit of the 4th decimal: the true inputs lay this close to the printed ones.
const ROUNDING: f64 = 0.00005;
/// Agreement expected between the manual and library versions of the same loss (f32).
const AGREEMENT: f64 = 1e-6;

#[derive(Parser)]
#[command(
    name = "chapter-2",
    about = "Chapter 2 — How cross-entropy works: the notebook again, cell by cell, \
             checked against what it printed"
)]
pub struct Args {
    #[command(flatten)]
    common: CommonArgs,

    #[command(flatten)]
    notebooks: NotebookArgs,

    /// Run on the inputs exactly as the notebook printed them (4 decimals) instead of
    /// refining them: shows the last-digit differences that rounding causes
    #[arg(long)]
    as_printed: bool,

    /// With --notebook: when the file sets no seed and its draws are not the recorded
    /// seed's, search all 2^32 seeds for the one its run drew from (minutes), and replay
    /// its draws exactly; without it, the inputs are refined from the prints
    #[arg(long, requires = "notebook")]
    recover_seed: bool,

    /// Also time the naive, composed and fused losses (printed to stderr)
    #[arg(long)]
    timings: bool,
}

/// The inputs the chapter runs on.
struct Inputs {
    x: Vec<f32>,
    input: Vec<f32>,
    target: Vec<i64>,
}

impl Inputs {
    /// `values` holds `x` then `input`.
    fn from_values(values: &[f64], target: &[i64]) -> Self {
        let (x, input) = values.split_at(X_SHAPE.0 * X_SHAPE.1);
        Self {
            x: x.iter().map(|&v| v as f32).collect(),
            input: input.iter().map(|&v| v as f32).collect(),
            target: target.to_vec(),
        }
    }
}

/// The random draws as the notebook printed them: the chapter's own copy, or what the
/// notebook file given printed. In the order they were drawn: `x`, `target`, `input`.
fn printed_draws(nb: &Notebook) -> Result<[PrintedDraw; 3]> {
    let (rows, classes) = X_SHAPE;
    let x = nb.printed_input("x", X_PRINTED)?;
    let input = nb.printed_input("input", INPUT_PRINTED)?;
    let target = nb.printed_input("target", TARGET_PRINTED)?;
    printed::input_values(&x, rows * classes, "x")?;
    printed::input_values(&input, 6, "input")?;
    for t in printed::input_values(&target, rows, "target")? {
        if !(t.fract() == 0.0 && (0.0..classes as f64).contains(&t)) {
            anyhow::bail!(
                "the notebook's target holds {t}, not a class of 0..{classes}; is it chapter \
                 2's notebook?"
            );
        }
    }
    Ok([
        PrintedDraw::normal("x", &x, 1.0),
        PrintedDraw::randint("target", &target, classes as u32),
        PrintedDraw::normal("input", &input, 1.0),
    ])
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
    let draws = printed_draws(&nb)?;
    let values_of =
        |draw: &PrintedDraw| -> Vec<f64> { draw.values.iter().map(|n| n.value).collect() };
    let printed = [values_of(&draws[0]), values_of(&draws[2])].concat();
    let target: Vec<i64> = values_of(&draws[1]).iter().map(|&t| t as i64).collect();
    if args.as_printed {
        let inputs = Inputs::from_values(&printed, &target);
        notebook(&mut nb, device, &inputs, &Origin::AsPrinted, false)?;
        return Ok(nb);
    }
    let recorded = History::new(RECOVERED_SEED, &RECOVERED_GAPS);
    let found = draws::notebook_draws(&mut nb, &draws, X_CELL, &recorded, args.recover_seed)?;
    let refined = refine(&printed, ROUNDING, |values| {
        let mut silent = nb.silent_twin();
        notebook(
            &mut silent,
            device,
            &Inputs::from_values(values, &target),
            &Origin::AsPrinted,
            false,
        )?;
        Ok(silent.misfit())
    })?;
    let (inputs, origin) = match found {
        Some(found) => {
            let drawn = [found.values[0].clone(), found.values[2].clone()].concat();
            let target: Vec<i64> = found.values[1].iter().map(|&t| t as i64).collect();
            let inputs = Inputs::from_values(&drawn, &target);
            (
                inputs,
                Origin::Drawn {
                    found,
                    draws: draws.to_vec(),
                    refined,
                },
            )
        }
        None => (
            Inputs::from_values(&refined.values, &target),
            Origin::Refined(refined),
        ),
    };
    notebook(&mut nb, device, &inputs, &origin, args.timings)?;
    Ok(nb)
}

/// How the inputs were obtained.
enum Origin {
    /// Drawn from the notebook's seed; `refined` is what `refine` would have chosen.
    Drawn {
        found: Found,
        draws: Vec<PrintedDraw>,
        refined: Refined,
    },
    /// Chosen by `refine` inside the printed rounding.
    Refined(Refined),
    /// As printed (`--as-printed`), or while `refine` itself runs the cells.
    AsPrinted,
}

/// The notebook, cell by cell. `refined` describes how the inputs were chosen (absent
/// while the search itself runs this function silently).
fn notebook(
    nb: &mut Notebook,
    device: &Device,
    inputs: &Inputs,
    origin: &Origin,
    timings: bool,
) -> Result<()> {
    nb.code("import torch\nimport torch.nn as nn\nimport torch.nn.functional as F");

    let (batch_size, n_classes) = X_SHAPE;
    let x = Tensor::from_slice(&inputs.x, (batch_size, n_classes), device)?;
    nb.show(X_CELL, &pt::size(x.dims()), "torch.Size([5, 3])");

    nb.tensor("x", &x, X_PRINTED)?;
    match origin {
        Origin::Drawn {
            found,
            draws,
            refined,
        } => {
            found.describe_in(nb, draws);
            nb.extra(
                "x drawn, at full precision (float32, shortest round-trip digits), beside \
                 the value refine chose inside each printed interval",
                &draws::beside_refined(
                    "x",
                    &found.values[0],
                    &refined.values,
                    &draws[0].values,
                    n_classes,
                ),
            );
        }
        Origin::Refined(refined) => {
            describe_refinement(nb, refined);
            nb.extra(
                "x used, at full precision (float32, shortest round-trip digits)",
                &full_precision(&inputs.x, n_classes),
            );
        }
        Origin::AsPrinted => {}
    }

    let target = Tensor::from_slice(&inputs.target, batch_size, device)?;
    nb.code("target = torch.randint(n_classes, size = (batch_size,), dtype = torch.long)");
    nb.tensor("target", &target, TARGET_PRINTED)?;

    nb.tensor(
        "x.exp()",
        &x.exp()?,
        "tensor([[4.0058, 0.2821, 0.4020],
        [1.8241, 1.0093, 0.9065],
        [0.9349, 0.8139, 1.4064],
        [4.0222, 1.2656, 1.5157],
        [0.5142, 0.1949, 0.3940]])",
    )?;

    nb.tensor(
        "x.exp().sum(-1).unsqueeze(-1)",
        &x.exp()?.sum(D::Minus1)?.unsqueeze(D::Minus1)?,
        "tensor([[4.6899],
        [3.7398],
        [3.1551],
        [6.8035],
        [1.1030]])",
    )?;

    nb.tensor(
        "x.exp()/x.exp().sum(-1).unsqueeze(-1)",
        &x.exp()?
            .broadcast_div(&x.exp()?.sum(D::Minus1)?.unsqueeze(D::Minus1)?)?,
        "tensor([[0.8541, 0.0601, 0.0857],
        [0.4877, 0.2699, 0.2424],
        [0.2963, 0.2580, 0.4457],
        [0.5912, 0.1860, 0.2228],
        [0.4662, 0.1767, 0.3572]])",
    )?;

    nb.heading("Building the loss function applying softmax and then negative log likelihood");
    nb.code(
        "def softmax(x):\n  return x.exp() / (x.exp().sum(-1)).unsqueeze(-1)\n\
         def nl(input, target):\n  return -input[range(target.shape[0]), target].log().mean()",
    );
    fn softmax(x: &Tensor) -> Result<Tensor> {
        Ok(x.exp()?
            .broadcast_div(&x.exp()?.sum(D::Minus1)?.unsqueeze(D::Minus1)?)?)
    }
    fn nl(input: &Tensor, target: &Tensor) -> Result<Tensor> {
        Ok(pick_rows(input, target)?.log()?.mean_all()?.neg()?)
    }

    let n = target.dim(0)?;
    nb.show("target.shape[0]", &n.to_string(), "5");
    nb.show(
        "range(target.shape[0])",
        &format!("range(0, {n})"),
        "range(0, 5)",
    );

    let pred = softmax(&x)?;
    nb.tensor(
        "pred = softmax(x)\npred",
        &pred,
        "tensor([[0.8541, 0.0601, 0.0857],
        [0.4877, 0.2699, 0.2424],
        [0.2963, 0.2580, 0.4457],
        [0.5912, 0.1860, 0.2228],
        [0.4662, 0.1767, 0.3572]])",
    )?;
    if !nb.is_silent() {
        let library = candle_nn::ops::softmax(&x, D::Minus1)?;
        let diff = max_abs_diff(&pred, &library)?;
        nb.check(
            "the manual softmax agrees with candle_nn::ops::softmax (max-shifted)",
            diff <= AGREEMENT,
            &format!(
                "largest difference {} (tolerance {AGREEMENT:e})",
                pt::py_sci(diff, 1)
            ),
        );
    }

    nb.tensor(
        "pred[range(target.shape[0]), target]",
        &pick_rows(&pred, &target)?,
        "tensor([0.0857, 0.4877, 0.2580, 0.5912, 0.1767])",
    )?;
    nb.tensor(
        "-pred[range(target.shape[0]), target].log()",
        &pick_rows(&pred, &target)?.log()?.neg()?,
        "tensor([2.4566, 0.7180, 1.3550, 0.5256, 1.7335])",
    )?;
    nb.tensor(
        "-pred[range(target.shape[0]), target].log().mean()",
        &pick_rows(&pred, &target)?.log()?.mean_all()?.neg()?,
        "tensor(1.3577)",
    )?;

    let pred = softmax(&x)?;
    let loss_softmax_nl = nl(&pred, &target)?;
    nb.tensor(
        "pred = softmax(x)\nloss=nl(pred, target)\nloss",
        &loss_softmax_nl,
        "tensor(1.3577)",
    )?;

    nb.heading("Building the loss function by applying log and then calculating softmax");
    nb.code("m = nn.LogSoftmax()");
    let input = Tensor::from_slice(&inputs.input, (2, 3), device)?;
    nb.code("input = torch.randn(2, 3)");
    // nn.LogSoftmax() without `dim` picks dim=1 for a 2-D input (with a UserWarning).
    let m = |t: &Tensor| candle_nn::ops::log_softmax(t, 1);
    let m_input = m(&input)?;
    nb.tensor(
        "m(input)",
        &m_input,
        "tensor([[-2.7986, -0.8772, -0.6479],
        [-1.7172, -0.6639, -1.1855]])",
    )?;
    if !nb.is_silent() {
        nb.extra(
            "note",
            "The notebook also shows a UserWarning here (\"Implicit dimension choice for \
             log_softmax has been deprecated\"):\nnn.LogSoftmax() without dim chooses \
             dim=1 for a 2-D input; the chapter passes dim=1 to candle_nn::ops::log_softmax.",
        );
    }
    nb.tensor("input", &input, INPUT_PRINTED)?;
    match origin {
        Origin::Drawn { .. } => nb.extra(
            "input drawn, at full precision",
            &full_precision(&inputs.input, 3),
        ),
        Origin::Refined(_) => nb.extra(
            "input used, at full precision (refined together with x)",
            &full_precision(&inputs.input, 3),
        ),
        Origin::AsPrinted => {}
    }
    nb.tensor(
        "input.exp()",
        &input.exp()?,
        "tensor([[0.5236, 3.5764, 4.4981],
        [0.5071, 1.4539, 0.8630]])",
    )?;
    nb.tensor(
        "input.exp().sum(-1).unsqueeze(-1)",
        &input.exp()?.sum(D::Minus1)?.unsqueeze(D::Minus1)?,
        "tensor([[8.5980],
        [2.8240]])",
    )?;
    let input_softmax = input
        .exp()?
        .broadcast_div(&input.exp()?.sum(D::Minus1)?.unsqueeze(D::Minus1)?)?;
    nb.tensor(
        "input.exp()/input.exp().sum(-1).unsqueeze(-1)",
        &input_softmax,
        "tensor([[0.0609, 0.4160, 0.5232],
        [0.1796, 0.5148, 0.3056]])",
    )?;
    let log_of_softmax = input_softmax.log()?;
    nb.tensor(
        "(input.exp()/input.exp().sum(-1).unsqueeze(-1)).log()",
        &log_of_softmax,
        "tensor([[-2.7986, -0.8772, -0.6479],
        [-1.7172, -0.6639, -1.1855]])",
    )?;
    if !nb.is_silent() {
        let diff = max_abs_diff(&log_of_softmax, &m_input)?;
        nb.check(
            "log(softmax(input)) computed in steps equals nn.LogSoftmax (m(input))",
            diff <= AGREEMENT,
            &format!(
                "largest difference {} (tolerance {AGREEMENT:e})",
                pt::py_sci(diff, 1)
            ),
        );
    }

    fn log_softmax(x: &Tensor) -> Result<Tensor> {
        Ok(x.broadcast_sub(&x.exp()?.sum(D::Minus1)?.log()?.unsqueeze(D::Minus1)?)?)
    }
    fn nll(input: &Tensor, target: &Tensor) -> Result<Tensor> {
        Ok(pick_rows(input, target)?.mean_all()?.neg()?)
    }
    let pred = log_softmax(&x)?;
    let loss_manual = nll(&pred, &target)?;
    nb.tensor(
        "def log_softmax(x): \n  return x - x.exp().sum(-1).log().unsqueeze(-1)\n\
         def nll(input, target): \n  return -input[range(target.shape[0]), target].mean()\n\n\
         pred = log_softmax(x)\nloss = nll(pred, target)\nloss",
        &loss_manual,
        "tensor(1.3577)",
    )?;

    nb.heading("Using pytorch functional module to calculate the loss");
    let pred = candle_nn::ops::log_softmax(&x, D::Minus1)?;
    let loss_library = candle_nn::loss::nll(&pred, &target)?;
    nb.tensor(
        "pred = F.log_softmax(x, dim=-1)\nloss = F.nll_loss(pred, target)\nloss",
        &loss_library,
        "tensor(1.3577)",
    )?;

    nb.heading("Finding the loss in one shot using cross entropy loss");
    let loss_one_shot = candle_nn::loss::cross_entropy(&x, &target)?;
    nb.tensor(
        "F.cross_entropy(x, target)",
        &loss_one_shot,
        "tensor(1.3577)",
    )?;

    if !nb.is_silent() {
        let fused = loss::cross_entropy(&x, &target, &CrossEntropyOptions::default())?;
        agreement_of_losses(
            nb,
            &[
                ("nl(softmax(x), target)", &loss_softmax_nl),
                ("nll(log_softmax(x), target)", &loss_manual),
                ("candle_nn: nll(log_softmax(x))", &loss_library),
                ("candle_nn: cross_entropy(x)", &loss_one_shot),
                ("crossent::loss::cross_entropy (fused)", &fused),
            ],
        )?;
        overflow_of_manual_log_softmax(nb, device, log_softmax)?;
        naive_composed_fused(nb, device, log_softmax, nll, timings)?;
    }
    Ok(())
}

/// Beyond the notebook: the notebook's manual loss (naive), candle-nn's composed one and
/// the project's fused one, for accuracy against float64 (printed) and speed (printed to
/// stderr with `--timings`, so that the output stays the same from run to run).
fn naive_composed_fused(
    nb: &mut Notebook,
    device: &Device,
    log_softmax: fn(&Tensor) -> Result<Tensor>,
    nll: fn(&Tensor, &Tensor) -> Result<Tensor>,
    timings: bool,
) -> Result<()> {
    nb.heading("Beyond the notebook: naive, composed and fused cross-entropy");
    let (n, c) = (512, 1000);
    let mut rng = Generator::manual_seed(2);
    let targets: Vec<u32> = (0..n).map(|i| (i * 7919 % c) as u32).collect();
    let target = Tensor::from_vec(targets.clone(), n, device)?;
    let mut lines = Vec::new();
    for (regime, scale) in [("logits in ±8", 8.0f32), ("logits in ±100", 100.0)] {
        let values = rng.uniform_values(n * c, -f64::from(scale), f64::from(scale));
        let reference = {
            let mut total = 0f64;
            for (row, &t) in values.chunks(c).zip(&targets) {
                let m = row
                    .iter()
                    .map(|&v| f64::from(v))
                    .fold(f64::NEG_INFINITY, f64::max);
                let lse = m + row
                    .iter()
                    .map(|&v| (f64::from(v) - m).exp())
                    .sum::<f64>()
                    .ln();
                total += lse - f64::from(row[t as usize]);
            }
            total / n as f64
        };
        let x = Tensor::from_vec(values, (n, c), device)?;
        let naive = || nll(&log_softmax(&x)?, &target);
        let composed = || Ok(candle_nn::loss::cross_entropy(&x, &target)?);
        let fused = || loss::cross_entropy(&x, &target, &CrossEntropyOptions::default());
        let versions: [(&str, &dyn Fn() -> Result<Tensor>); 3] = [
            ("naive (the notebook's log_softmax + nll)", &naive),
            ("composed (candle_nn::loss::cross_entropy)", &composed),
            ("fused (crossent::loss::cross_entropy)", &fused),
        ];
        lines.push(format!("{regime}, {n}x{c}, float32 against float64:"));
        for (name, f) in versions {
            let got = scalar(&f()?)?;
            let error = (got - reference).abs() / reference.abs();
            let verdict = if !got.is_finite() {
                format!("{} (overflow)", np::float64(got))
            } else if error < 1e-6 {
                "relative error below 1e-6".to_string()
            } else {
                "relative error above 1e-6".to_string()
            };
            lines.push(format!("  {name:<44} {verdict}"));
            if timings {
                let start = std::time::Instant::now();
                for _ in 0..20 {
                    std::hint::black_box(f()?);
                }
                eprintln!(
                    "timing: {regime}: {name}: {:.3} ms",
                    start.elapsed().as_secs_f64() * 1e3 / 20.0
                );
            }
        }
    }
    nb.extra("accuracy", &lines.join("\n"));
    let text = lines.join("\n");
    nb.check(
        "the naive loss overflows on large logits; composed and fused stay within 1e-6 of float64",
        text.matches("relative error below 1e-6").count() == 5 && text.contains("(overflow)"),
        "",
    );
    Ok(())
}

/// Prints the inputs actually used and how the search chose them.
fn describe_refinement(nb: &mut Notebook, refined: &Refined) {
    nb.extra(
        "inputs: x and input (below) as the notebook printed them, refined",
        &format!(
            "Fed back as printed (4 decimals), they make {} of the notebook's later printed \
             numbers differ in the last digit.\ncrossent::refine chose them inside \
             ±{ROUNDING} of the printed values ({} evaluations); with the values used, \
             {} differ.",
            refined.misfit_as_printed.numbers_outside,
            refined.evaluations,
            refined.misfit.numbers_outside,
        ),
    );
}

fn full_precision(values: &[f32], columns: usize) -> String {
    let rows: Vec<String> = values
        .chunks(columns)
        .map(|row| {
            let items: Vec<String> = row.iter().map(|&v| np::float32(v)).collect();
            format!("[{}]", items.join(", "))
        })
        .collect();
    rows.join("\n")
}

/// The four routes to the loss give one value.
fn agreement_of_losses(nb: &mut Notebook, losses: &[(&str, &Tensor)]) -> Result<()> {
    let mut lines = Vec::new();
    let mut values = Vec::new();
    for (name, loss) in losses {
        let v = scalar(loss)?;
        lines.push(format!("{name:<38} {}", np::float32(v as f32)));
        values.push(v);
    }
    let spread = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
        - values.iter().cloned().fold(f64::INFINITY, f64::min);
    lines.push(format!(
        "largest difference {} (tolerance {AGREEMENT:e})",
        pt::py_sci(spread, 1)
    ));
    nb.check(
        "the manual and library losses agree",
        spread <= AGREEMENT,
        &lines.join("\n"),
    );
    Ok(())
}

/// The notebook's manual `log_softmax` takes `exp` of the raw logits; in float32 that
/// overflows for logits above ~88.7 while candle-nn's max-shifted version does not.
fn overflow_of_manual_log_softmax(
    nb: &mut Notebook,
    device: &Device,
    manual: fn(&Tensor) -> Result<Tensor>,
) -> Result<()> {
    let large = Tensor::new(&[[100f32, 99., 98.]], device)?;
    let manual_out = pt::repr(&manual(&large)?)?;
    let library_out = pt::repr(&candle_nn::ops::log_softmax(&large, D::Minus1)?)?;
    nb.extra(
        "beyond the notebook: logits [[100., 99., 98.]] in float32",
        &format!(
            "manual log_softmax (x - x.exp().sum(-1).log()): {manual_out}\n\
             candle_nn::ops::log_softmax (max-shifted):     {library_out}"
        ),
    );
    let manual_broken = manual_out.contains("inf") || manual_out.contains("nan");
    let library_finite = !(library_out.contains("inf") || library_out.contains("nan"));
    nb.check(
        "the manual log_softmax overflows on large logits and the max-shifted one does not",
        manual_broken && library_finite,
        "",
    );
    Ok(())
}
