//! Chapter 5 — Minibatch training (fast.ai lesson 9, `03_minibatch_training`).
//!
//! Reproduces `03_minibatch_training` of fast.ai's 2019 course part 2 (lesson 9, `from
//! exp.nb_02 import *`) as far as its export printed it, then every later cell of the
//! lesson, on real MNIST: the 784-50-10 model, the naive and simplified `log_softmax`,
//! `nll`, logsumexp, the library losses, the training loops with hand-written updates,
//! modules and their printouts, a hand-written optimizer then an SGD optimizer,
//! Dataset / DataLoader / Sampler / collate, candle-datasets' Batcher, and `fit` with
//! validation.
//!
//! Initial weights and shuffles come from the project's seeded generator: the notebook's
//! seed is unknown, so those values differ from its prints; the chapter prints the
//! notebook's figures beside its own and checks the lesson's reference bounds instead.

use anyhow::{anyhow, Result};
use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var, D};
use candle_nn::{Module as _, Optimizer as _};
use clap::Parser;
use crossent::cli::{self, CommonArgs, NotebookArgs};
use crossent::lesson::{
    accuracy, collate, sampled_batches, Dataset, Linear, Module, Sampler, SeededRng,
};
use crossent::linear::Sgd;
use crossent::mnist::{self, LessonData};
use crossent::notebook::Notebook;
use crossent::plot::{self, Figure, Series};
use crossent::pt;
use crossent::torchlike::{max_abs_diff, pick_rows, scalar};
use crossent::train::{loss_func, slices, train_epoch, validate, Epoch};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const TITLE: &str = "Chapter 5 — Minibatch training (fast.ai lesson 9)";
const ORIGIN: &str =
    "03_minibatch_training, fast.ai's 2019 course part 2, lesson 9 (from exp.nb_02 import *)";
/// The seed of every random draw in this chapter (weights, shuffles).
const SEED: u64 = 2019;
const NH: usize = 50;
const BS: usize = 64;
const LR: f64 = 0.5;
const RANDOM: &str = "depends on the unrecorded random initialisation or shuffle";

#[derive(Parser)]
#[command(
    name = "chapter-5",
    about = "Chapter 5 — Minibatch training: the fast.ai lesson on real MNIST, cell by cell"
)]
pub struct Args {
    #[command(flatten)]
    common: CommonArgs,

    #[command(flatten)]
    notebooks: NotebookArgs,

    /// The MNIST folder [default: the first of $MNIST_DIR, data/mnist in the project, the
    /// user cache, ../shared/data/mnist that holds it; else fetched once from the Hugging
    /// Face hub (ylecun/mnist) into the user cache]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Also check the MNIST files' md5 sums against the published ones
    #[arg(long)]
    verify: bool,

    /// Folder for the PNG figures [default: figures/chapter-5 in the build output]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
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
    let location = mnist::find_or_fetch(args.data_dir.as_deref())?;
    let data = mnist::load_lesson(&location, args.verify, device)?;
    let out = plot::prepare_out_dir(args.out.as_deref(), "chapter-5")?;
    let mut nb = Notebook::for_chapter(5, TITLE, ORIGIN, &args.notebooks)?;
    nb.on_device(device);
    nb.figures_in(&out);
    let mut lesson = Lesson {
        nb: &mut nb,
        device,
        out: &out,
        rng: SeededRng::new(SEED),
    };
    lesson.run(&data)?;
    Ok(nb)
}

/// The model of the seed notebook: `self.layers = [Linear, ReLU, Linear]`.
struct LayersModel {
    layers: Vec<Layer>,
}

enum Layer {
    Linear(Linear),
    Relu,
}

impl LayersModel {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for l in &self.layers {
            x = match l {
                Layer::Linear(lin) => lin.forward(&x)?,
                Layer::Relu => x.relu()?,
            };
        }
        Ok(x)
    }

    fn linears(&self) -> impl Iterator<Item = &Linear> {
        self.layers.iter().filter_map(|l| match l {
            Layer::Linear(lin) => Some(lin),
            Layer::Relu => None,
        })
    }

    fn modules(&self) -> Vec<Module> {
        self.layers
            .iter()
            .map(|l| match l {
                Layer::Linear(lin) => lin.module(),
                Layer::Relu => Module::relu(),
            })
            .collect()
    }
}

/// `p -= p.grad * lr` for each parameter that has a gradient.
fn sgd_step(params: &[&Var], grads: &GradStore, lr: f64) -> Result<()> {
    for p in params {
        if let Some(g) = grads.get(p.as_tensor()) {
            p.set(&(p.as_tensor() - (g * lr)?)?)?;
        }
    }
    Ok(())
}

/// The hand-written `Optimizer(params, lr)` of the lesson.
struct Optimizer {
    params: Vec<Var>,
    lr: f64,
}

impl Optimizer {
    fn step(&self, grads: &GradStore) -> Result<()> {
        let params: Vec<&Var> = self.params.iter().collect();
        sgd_step(&params, grads, self.lr)
    }
}

struct Lesson<'a> {
    nb: &'a mut Notebook,
    device: &'a Device,
    out: &'a Path,
    rng: SeededRng,
}

fn n_batches(n: usize, bs: usize) -> usize {
    n.div_ceil(bs)
}

impl Lesson<'_> {
    fn linear(&mut self, i: usize, o: usize) -> Result<Linear> {
        Linear::new(&mut self.rng, i, o, self.device)
    }

    /// `[nn.Linear(m, nh), nn.ReLU(), nn.Linear(nh, 10)]`, freshly initialised.
    fn layers_model(&mut self, m: usize) -> Result<LayersModel> {
        Ok(LayersModel {
            layers: vec![
                Layer::Linear(self.linear(m, NH)?),
                Layer::Relu,
                Layer::Linear(self.linear(NH, 10)?),
            ],
        })
    }

    /// A fresh `nn.Sequential(Linear(784,50), ReLU(), Linear(50,10))`.
    fn sequential(&mut self, m: usize) -> Result<(candle_nn::Sequential, Vec<Var>, Module)> {
        crossent::lesson::sequential(&mut self.rng, m, NH, 10, self.device)
    }

    /// `loss_func(model(xb), yb), accuracy(model(xb), yb)` on the last batch, printed as
    /// the lesson prints it, beside the notebook's figures.
    fn last_batch(
        &mut self,
        code: &str,
        epoch: &Epoch,
        forward: impl Fn(&Tensor) -> Result<Tensor>,
        notebook: &str,
    ) -> Result<f32> {
        let out = forward(&epoch.last_xb)?;
        let loss = loss_func(&out, &epoch.last_yb)?;
        let acc = accuracy(&out, &epoch.last_yb)?;
        let printed = pt::tuple(&[
            pt::repr_with_grad_fn(&loss, "NllLossBackward")?,
            pt::repr(&acc)?,
        ]);
        self.nb.show_seeded(code, &printed, notebook, RANDOM);
        self.nb.record_values(&[&loss, &acc])?;
        Ok(acc.to_scalar::<f32>()?)
    }

    fn run(&mut self, data: &LessonData) -> Result<()> {
        let LessonData {
            x_train,
            y_train,
            x_valid,
            y_valid,
        } = data;
        let model = self.seed_cells(x_train, y_train)?;
        self.training_loop_cells(&model, x_train, y_train)?;
        self.module_cells(x_train, y_train)?;
        self.optimizer_cells(x_train, y_train)?;
        let (train_ds, valid_ds) = self.dataset_cells(x_train, y_train, x_valid, y_valid)?;
        self.validation_cells(&train_ds, &valid_ds)?;
        Ok(())
    }

    fn seed_cells(&mut self, x_train: &Tensor, y_train: &Tensor) -> Result<LayersModel> {
        let nb = &mut *self.nb;
        nb.code("%load_ext autoreload\n%autoreload 2\n\n%matplotlib inline");
        nb.code("#export \nfrom exp.nb_02 import * \nimport torch.nn.functional as F");
        nb.heading("Initial Setup");
        nb.code("mpl.rcParams['image.cmap'] = 'gray'");
        nb.code("x_train,y_train,x_valid,y_valid = get_data()");
        let (n, m) = x_train.dims2()?;
        let c = (y_train.max(0)? + 1.0)?;
        nb.code("n,m = x_train.shape\nc = y_train.max()+1\nnh = 50");
        nb.extra(
            "the values the cell leaves (the notebook prints none)",
            &format!("n, m = {n}, {m}\nc = {}\nnh = {NH}", pt::repr(&c)?),
        );
        nb.check(
            "the lesson's split: 50000 training images of 784 pixels, 10 classes",
            (n, m) == (50_000, 784) && scalar(&c)? == 10.0,
            "",
        );

        nb.code(
            "class Model(nn.Module):\n    def __init__(self, n_ih, nh, n_out):\n        \
             super().__init__()\n        self.layers = [nn.Linear(n_ih, nh), nn.ReLU(), \
             nn.Linear(nh, n_out)]\n    \n    def __call__(self, x):\n        for l in \
             self.layers: x = l(x)\n        return x",
        );
        let model = self.layers_model(m)?;
        let nb = &mut *self.nb;
        nb.code("model = Model(m, nh, 10)");
        nb.extra(
            "initial weights",
            &format!(
                "PyTorch's default nn.Linear initialisation (uniform in ±1/sqrt(fan_in)), \
                 drawn from the project's generator with seed {SEED}; the notebook's seed is \
                 unknown, so every value that depends on them differs from its prints"
            ),
        );
        let pred = model.forward(x_train)?;
        nb.code("pred = model(x_train)");

        nb.heading("Cross Entropy Loss");
        fn log_softmax_naive(x: &Tensor) -> Result<Tensor> {
            Ok(x.exp()?
                .broadcast_div(&x.exp()?.sum_keepdim(D::Minus1)?)?
                .log()?)
        }
        nb.code("def log_softmax(x): return (x.exp()/(x.exp().sum(-1, keepdim=True))).log()");
        let sm_pred = log_softmax_naive(&pred)?;
        nb.code("sm_pred = log_softmax(pred)");
        nb.tensor(
            "y_train[:3]",
            &y_train.narrow(0, 0, 3)?,
            "tensor([5, 0, 4])",
        )?;
        let rows = Tensor::new(&[0i64, 1, 2], self.device)?;
        let cols = Tensor::new(&[5i64, 0, 4], self.device)?;
        let picked = pick_rows(&sm_pred.index_select(&rows, 0)?, &cols)?;
        nb.show_seeded(
            "sm_pred[[0,1,2], [5, 0,4]]",
            &pt::repr_with_grad_fn(&picked, "IndexBackward")?,
            "tensor([-2.2603, -2.3796, -2.3349], grad_fn=<IndexBackward>)",
            RANDOM,
        );
        nb.show("y_train.shape[0]", &y_train.dim(0)?.to_string(), "50000");

        fn nll(input: &Tensor, target: &Tensor) -> Result<Tensor> {
            Ok(pick_rows(input, target)?.mean_all()?.neg()?)
        }
        nb.code("def nll(input, target): return -input[range(target.shape[0]), target].mean()");
        let loss = nll(&sm_pred, y_train)?;
        nb.code("loss = nll(sm_pred, y_train)");
        nb.show_seeded(
            "loss",
            &pt::repr_with_grad_fn(&loss, "NegBackward")?,
            "tensor(2.3048, grad_fn=<NegBackward>)",
            RANDOM,
        );
        let loss_value = scalar(&loss)?;
        nb.check(
            "the untrained loss is near ln 10 = 2.3026 (the notebook: 2.3048)",
            (loss_value - 10f64.ln()).abs() < 0.1,
            &format!("loss {}", pt::py_fixed(loss_value, 4)),
        );

        fn log_softmax(x: &Tensor) -> Result<Tensor> {
            Ok(x.broadcast_sub(&x.exp()?.sum_keepdim(D::Minus1)?.log()?)?)
        }
        nb.code("def log_softmax(x): return x - x.exp().sum(-1, keepdim=True).log()");
        test_near(
            nb,
            "test_near(nll(log_softmax(pred), y_train), loss)",
            &nll(&log_softmax(&pred)?, y_train)?,
            &loss,
        )?;

        // The continuation: LogSumExp and the library versions.
        fn logsumexp(x: &Tensor) -> Result<Tensor> {
            let m = x.max_keepdim(D::Minus1)?;
            Ok((m.squeeze(D::Minus1)? + x.broadcast_sub(&m)?.exp()?.sum(D::Minus1)?.log()?)?)
        }
        nb.heading("LogSumExp and the library versions");
        nb.code(
            "def logsumexp(x):\n    m = x.max(-1)[0]\n    \
             return m + (x-m[:,None]).exp().sum(-1).log()",
        );
        test_near(
            nb,
            "test_near(logsumexp(pred), pred.logsumexp(-1))",
            &logsumexp(&pred)?,
            &pred.log_sum_exp(D::Minus1)?,
        )?;
        let log_softmax_lse = |x: &Tensor| -> Result<Tensor> {
            Ok(x.broadcast_sub(&logsumexp(x)?.unsqueeze(D::Minus1)?)?)
        };
        nb.code("def log_softmax(x): return x - x.logsumexp(-1,keepdim=True)");
        test_near(
            nb,
            "test_near(nll(log_softmax(pred), y_train), loss)",
            &nll(&log_softmax_lse(&pred)?, y_train)?,
            &loss,
        )?;
        test_near(
            nb,
            "test_near(F.nll_loss(F.log_softmax(pred, -1), y_train), loss)",
            &candle_nn::loss::nll(&candle_nn::ops::log_softmax(&pred, D::Minus1)?, y_train)?,
            &loss,
        )?;
        test_near(
            nb,
            "test_near(F.cross_entropy(pred, y_train), loss)",
            &candle_nn::loss::cross_entropy(&pred, y_train)?,
            &loss,
        )?;

        // Basic training loop.
        nb.heading("Basic training loop");
        nb.code(
            "loss_func = F.cross_entropy\n\n#export\n\
             def accuracy(out, yb): return (torch.argmax(out, dim=1)==yb).float().mean()",
        );
        nb.code("bs=64                  # batch size");
        let xb = x_train.narrow(0, 0, BS)?;
        let preds = model.forward(&xb)?;
        nb.show_seeded(
            "xb = x_train[0:bs]     # a mini-batch from x\npreds = model(xb)      # predictions\n\
             preds[0], preds.shape",
            &pt::tuple(&[
                pt::repr_with_grad_fn(&preds.get(0)?, "SelectBackward")?,
                pt::size(preds.dims()),
            ]),
            "(tensor([ 0.0154,  0.2477, -0.0076, -0.1921, -0.0089,  0.0422,  0.0218, -0.0388,\n         \
             -0.0303, -0.0328], grad_fn=<SelectBackward>), torch.Size([64, 10]))",
            RANDOM,
        );
        nb.check(
            "preds.shape is torch.Size([64, 10])",
            preds.dims() == [BS, 10],
            "",
        );
        let yb = y_train.narrow(0, 0, BS)?;
        let first_loss = loss_func(&preds, &yb)?;
        nb.show_seeded(
            "yb = y_train[0:bs]\nloss_func(preds, yb)",
            &pt::repr_with_grad_fn(&first_loss, "NllLossBackward")?,
            "tensor(2.3076, grad_fn=<NllLossBackward>)",
            RANDOM,
        );
        nb.show_seeded(
            "accuracy(preds, yb)",
            &pt::repr(&accuracy(&preds, &yb)?)?,
            "tensor(0.1719)",
            RANDOM,
        );
        Ok(model)
    }
}

/// `test_near(a, b)`: equal within 1e-3, as fastai's helper checks.
fn test_near(nb: &mut Notebook, code: &str, a: &Tensor, b: &Tensor) -> Result<()> {
    nb.code(code);
    let diff = max_abs_diff(a, b)?;
    nb.check_difference("test_near: equal within 1e-3", diff, 1e-3);
    Ok(())
}

/// The lesson's `Model` with registered children `l1` and `l2`: `l2(relu(l1(x)))`.
struct TwoLayer {
    l1: Linear,
    l2: Linear,
}

impl TwoLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.l2.forward(&self.l1.forward(x)?.relu()?)
    }

    fn parameters(&self) -> Vec<&Var> {
        self.l1
            .parameters()
            .into_iter()
            .chain(self.l2.parameters())
            .collect()
    }
}

/// The lesson's epoch with an optimizer, then the last batch's loss and accuracy.
const OPTIMIZER_LOOP: &str =
    "for epoch in range(epochs):\n    for i in range((n-1)//bs + 1):\n        \
     start_i = i*bs\n        end_i = start_i+bs\n        xb = x_train[start_i:end_i]\n        \
     yb = y_train[start_i:end_i]\n        pred = model(xb)\n        \
     loss = loss_func(pred, yb)\n\n        loss.backward()\n        opt.step()\n        \
     opt.zero_grad()\n\nloss,acc = loss_func(model(xb), yb), accuracy(model(xb), yb)\nloss,acc";

const LINEAR_1: &str = "Linear(in_features=784, out_features=50, bias=True)";
const LINEAR_2: &str = "Linear(in_features=50, out_features=10, bias=True)";

impl Lesson<'_> {
    fn training_loop_cells(
        &mut self,
        model: &LayersModel,
        x_train: &Tensor,
        y_train: &Tensor,
    ) -> Result<()> {
        let n = x_train.dim(0)?;
        self.nb
            .code("lr = 0.5   # learning rate\nepochs = 1 # how many epochs to train for");
        self.nb.code(
            "for epoch in range(epochs):\n    for i in range((n-1)//bs + 1):\n        \
             start_i = i*bs\n        end_i = start_i+bs\n        xb = x_train[start_i:end_i]\n        \
             yb = y_train[start_i:end_i]\n        loss = loss_func(model(xb), yb)\n\n        \
             loss.backward()\n        with torch.no_grad():\n            for l in model.layers:\n                \
             if hasattr(l, 'weight'):\n                    l.weight -= l.weight.grad * lr\n                    \
             l.bias   -= l.bias.grad   * lr\n                    l.weight.grad.zero_()\n                    \
             l.bias  .grad.zero_()",
        );
        let epoch = train_epoch(
            slices(x_train, y_train, BS),
            n_batches(n, BS),
            |xb| model.forward(xb),
            |grads| {
                for l in model.linears() {
                    sgd_step(&l.parameters(), grads, LR)?;
                }
                Ok(())
            },
        )?;
        let acc = self.last_batch(
            "loss_func(model(xb), yb), accuracy(model(xb), yb)",
            &epoch,
            |xb| model.forward(xb),
            "(tensor(0.3465, grad_fn=<NllLossBackward>), tensor(0.9375))",
        )?;
        self.nb.check(
            "after one epoch the last batch's accuracy is above 0.7 (the notebook: 0.9375)",
            acc > 0.7,
            "",
        );
        Ok(())
    }

    fn module_cells(&mut self, x_train: &Tensor, y_train: &Tensor) -> Result<()> {
        let (n, m) = x_train.dims2()?;
        self.nb.heading("Using parameters and optim");
        self.nb.code(
            "class Model(nn.Module):\n    def __init__(self, n_in, nh, n_out):\n        \
             super().__init__()\n        self.l1 = nn.Linear(n_in,nh)\n        \
             self.l2 = nn.Linear(nh,n_out)\n        \n    def __call__(self, x): \
             return self.l2(F.relu(self.l1(x)))",
        );
        let model = TwoLayer {
            l1: self.linear(m, NH)?,
            l2: self.linear(NH, 10)?,
        };
        self.nb.code("model = Model(m, nh, 10)");
        let children = [("l1", &model.l1), ("l2", &model.l2)];
        let listing: Vec<String> = children
            .iter()
            .map(|(name, l)| format!("{name}: {}", l.module().repr()))
            .collect();
        self.nb.show(
            "for name,l in model.named_children(): print(f\"{name}: {l}\")",
            &listing.join("\n"),
            &format!("l1: {LINEAR_1}\nl2: {LINEAR_2}"),
        );
        let printed = Module::with_children(
            "Model",
            vec![
                ("l1".into(), model.l1.module()),
                ("l2".into(), model.l2.module()),
            ],
        );
        self.nb.show(
            "model",
            &printed.repr(),
            &format!("Model(\n  (l1): {LINEAR_1}\n  (l2): {LINEAR_2}\n)"),
        );
        self.nb
            .show("model.l1", &model.l1.module().repr(), LINEAR_1);

        self.nb.code(
            "def fit():\n    for epoch in range(epochs):\n        for i in range((n-1)//bs + 1):\n            \
             start_i = i*bs\n            end_i = start_i+bs\n            xb = x_train[start_i:end_i]\n            \
             yb = y_train[start_i:end_i]\n            loss = loss_func(model(xb), yb)\n\n            \
             loss.backward()\n            with torch.no_grad():\n                \
             for p in model.parameters(): p -= p.grad * lr\n                model.zero_grad()",
        );
        let fit = |model: &TwoLayer| {
            train_epoch(
                slices(x_train, y_train, BS),
                n_batches(n, BS),
                |xb| model.forward(xb),
                |grads| sgd_step(&model.parameters(), grads, LR),
            )
        };
        let epoch = fit(&model)?;
        self.last_batch(
            "fit()\nloss_func(model(xb), yb), accuracy(model(xb), yb)",
            &epoch,
            |xb| model.forward(xb),
            "(tensor(0.1094, grad_fn=<NllLossBackward>), tensor(0.9375))",
        )?;

        // A hand-made registry of sub-modules.
        self.nb.code(
            "class DummyModule():\n    def __init__(self, n_in, nh, n_out):\n        \
             self._modules = {}\n        self.l1 = nn.Linear(n_in,nh)\n        \
             self.l2 = nn.Linear(nh,n_out)\n        \n    def __setattr__(self,k,v):\n        \
             if not k.startswith(\"_\"): self._modules[k] = v\n        \
             super().__setattr__(k,v)\n        \n    def __repr__(self): return \
             f'{self._modules}'\n    \n    def parameters(self):\n        \
             for l in self._modules.values():\n            for p in l.parameters(): yield p",
        );
        let dummy = TwoLayer {
            l1: self.linear(m, NH)?,
            l2: self.linear(NH, 10)?,
        };
        let registry = [("l1", &dummy.l1), ("l2", &dummy.l2)];
        let dict: Vec<String> = registry
            .iter()
            .map(|(k, l)| format!("'{k}': {}", l.module().repr()))
            .collect();
        self.nb.show(
            "mdl = DummyModule(m,nh,10)\nmdl",
            &format!("{{{}}}", dict.join(", ")),
            &format!("{{'l1': {LINEAR_1}, 'l2': {LINEAR_2}}}"),
        );
        let shapes: Vec<String> = dummy
            .parameters()
            .iter()
            .map(|p| pt::size(p.dims()))
            .collect();
        self.nb.show(
            "[o.shape for o in mdl.parameters()]",
            &pt::list(&shapes),
            "[torch.Size([50, 784]),\n torch.Size([50]),\n torch.Size([10, 50]),\n torch.Size([10])]",
        );

        // Registering modules by name, then with a ModuleList.
        let layers = self.layers_model(m)?;
        let registered: Vec<(String, Module)> = layers
            .modules()
            .into_iter()
            .enumerate()
            .map(|(i, l)| (format!("layer_{i}"), l))
            .collect();
        self.nb.show(
            "layers = [nn.Linear(m,nh), nn.ReLU(), nn.Linear(nh,10)]\n\n\
             class Model(nn.Module):\n    def __init__(self, layers):\n        \
             super().__init__()\n        self.layers = layers\n        \
             for i,l in enumerate(self.layers): self.add_module(f'layer_{i}', l)\n        \n    \
             def __call__(self, x):\n        for l in self.layers: x = l(x)\n        return x\n\n\
             model = Model(layers)\nmodel",
            &Module::with_children("Model", registered).repr(),
            &format!(
                "Model(\n  (layer_0): {LINEAR_1}\n  (layer_1): ReLU()\n  (layer_2): {LINEAR_2}\n)"
            ),
        );

        let model = self.layers_model(m)?;
        let listed: Vec<(String, Module)> = model
            .modules()
            .into_iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), l))
            .collect();
        self.nb.show(
            "class SequentialModel(nn.Module):\n    def __init__(self, layers):\n        \
             super().__init__()\n        self.layers = nn.ModuleList(layers)\n        \n    \
             def __call__(self, x):\n        for l in self.layers: x = l(x)\n        return x\n\n\
             model = SequentialModel(layers)\nmodel",
            &Module::with_children(
                "SequentialModel",
                vec![("layers".into(), Module::with_children("ModuleList", listed))],
            )
            .repr(),
            &format!(
                "SequentialModel(\n  (layers): ModuleList(\n    (0): {LINEAR_1}\n    \
                 (1): ReLU()\n    (2): {LINEAR_2}\n  )\n)"
            ),
        );
        let params: Vec<&Var> = model.linears().flat_map(|l| l.parameters()).collect();
        let epoch = train_epoch(
            slices(x_train, y_train, BS),
            n_batches(n, BS),
            |xb| model.forward(xb),
            |grads| sgd_step(&params, grads, LR),
        )?;
        self.last_batch(
            "fit()\nloss_func(model(xb), yb), accuracy(model(xb), yb)",
            &epoch,
            |xb| model.forward(xb),
            "(tensor(0.2131, grad_fn=<NllLossBackward>), tensor(0.9375))",
        )?;

        let (model, params, printed) = self.sequential(m)?;
        let epoch = train_epoch(
            slices(x_train, y_train, BS),
            n_batches(n, BS),
            |xb| Ok(model.forward(xb)?),
            |grads| sgd_step(&params.iter().collect::<Vec<_>>(), grads, LR),
        )?;
        self.last_batch(
            "model = nn.Sequential(nn.Linear(m,nh), nn.ReLU(), nn.Linear(nh,10))\n\n\
             fit()\nloss_func(model(xb), yb), accuracy(model(xb), yb)",
            &epoch,
            |xb| Ok(model.forward(xb)?),
            "(tensor(0.2167, grad_fn=<NllLossBackward>), tensor(0.9375))",
        )?;
        self.nb.show(
            "model",
            &printed.repr(),
            &format!("Sequential(\n  (0): {LINEAR_1}\n  (1): ReLU()\n  (2): {LINEAR_2}\n)"),
        );
        Ok(())
    }

    fn optimizer_cells(&mut self, x_train: &Tensor, y_train: &Tensor) -> Result<()> {
        let (n, m) = x_train.dims2()?;
        self.nb.heading("optim");
        self.nb.code(
            "class Optimizer():\n    def __init__(self, params, lr=0.5): \
             self.params,self.lr=list(params),lr\n        \n    def step(self):\n        \
             with torch.no_grad():\n            for p in self.params: p -= p.grad * lr\n\n    \
             def zero_grad(self):\n        for p in self.params: p.grad.data.zero_()",
        );
        self.nb.finding(
            "Optimizer.step uses the global lr, not self.lr",
            "`p -= p.grad * lr` reads the notebook's global lr = 0.5, so Optimizer(params, \
             lr=0.1) would still step with 0.5; it works here only because the default equals \
             the global. The chapter's Optimizer steps with its own lr (the same 0.5).",
        );
        let (model, params, _) = self.sequential(m)?;
        let opt = Optimizer { params, lr: LR };
        let epoch = train_epoch(
            slices(x_train, y_train, BS),
            n_batches(n, BS),
            |xb| Ok(model.forward(xb)?),
            |grads| opt.step(grads),
        )?;
        self.last_batch(
            &format!(
                "model = nn.Sequential(nn.Linear(m,nh), nn.ReLU(), nn.Linear(nh,10))\n\
                 opt = Optimizer(model.parameters())\n\n{OPTIMIZER_LOOP}"
            ),
            &epoch,
            |xb| Ok(model.forward(xb)?),
            "(tensor(0.0797, grad_fn=<NllLossBackward>), tensor(0.9375))",
        )?;

        // The library's SGD.
        self.nb.code(
            "#export\nfrom torch import optim\n\n\
             def get_model():\n    model = nn.Sequential(nn.Linear(m,nh), nn.ReLU(), \
             nn.Linear(nh,10))\n    return model, optim.SGD(model.parameters(), lr=lr)",
        );
        let (model, params, _) = self.sequential(m)?;
        let mut opt = Sgd::new(params, LR)?;
        let first_xb = x_train.narrow(0, 0, BS)?;
        let first_yb = y_train.narrow(0, 0, BS)?;
        let before = loss_func(&model.forward(&first_xb)?, &first_yb)?;
        self.nb.show_seeded(
            "model,opt = get_model()\nloss_func(model(xb), yb)",
            &pt::repr_with_grad_fn(&before, "NllLossBackward")?,
            "tensor(2.3222, grad_fn=<NllLossBackward>)",
            RANDOM,
        );
        let epoch = train_epoch(
            slices(x_train, y_train, BS),
            n_batches(n, BS),
            |xb| Ok(model.forward(xb)?),
            |grads| Ok(opt.step(grads)?),
        )?;
        let acc = self.last_batch(
            OPTIMIZER_LOOP,
            &epoch,
            |xb| Ok(model.forward(xb)?),
            "(tensor(0.0436, grad_fn=<NllLossBackward>), tensor(1.))",
        )?;
        self.nb.check("assert acc>0.7", acc > 0.7, "");
        Ok(())
    }
}

impl Lesson<'_> {
    fn picture(&mut self, code: &str, name: &str, image: &Tensor) -> Result<()> {
        let pixels = image
            .to_device(&Device::Cpu)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let out = self.out.to_path_buf();
        self.nb.figure(code, || {
            plot::write_gray_image(&out, name, &pixels, (28, 28), 10)
        })
    }

    fn dataset_cells(
        &mut self,
        x_train: &Tensor,
        y_train: &Tensor,
        x_valid: &Tensor,
        y_valid: &Tensor,
    ) -> Result<(Dataset, Dataset)> {
        let (n, m) = x_train.dims2()?;
        self.nb.heading("Dataset and DataLoader");
        self.nb.code(
            "#export\nclass Dataset():\n    def __init__(self, x, y): self.x,self.y = x,y\n    \
             def __len__(self): return len(self.x)\n    \
             def __getitem__(self, i): return self.x[i],self.y[i]",
        );
        let train_ds = Dataset::new(x_train.clone(), y_train.clone())?;
        let valid_ds = Dataset::new(x_valid.clone(), y_valid.clone())?;
        self.nb.code(
            "train_ds,valid_ds = Dataset(x_train, y_train),Dataset(x_valid, y_valid)\n\
                      assert len(train_ds)==len(x_train)\nassert len(valid_ds)==len(x_valid)",
        );
        self.nb.check(
            "len(train_ds) == len(x_train) and len(valid_ds) == len(x_valid)",
            train_ds.len() == n && valid_ds.len() == x_valid.dim(0)?,
            "",
        );
        let (xb, yb) = train_ds.slice(0, 5)?;
        let row = "[0., 0., 0.,  ..., 0., 0., 0.]";
        self.nb.tensor_tuple(
            "xb,yb = train_ds[0:5]\nassert xb.shape==(5,28*28)\nassert yb.shape==(5,)\nxb,yb",
            &[&xb, &yb],
            &format!(
                "(tensor([{row},\n         {row},\n         {row},\n         {row},\n         {row}]), \
                 tensor([5, 0, 4, 1, 9]))"
            ),
        )?;
        self.nb.check(
            "xb.shape == (5, 784) and yb.shape == (5,)",
            xb.dims() == [5, 28 * 28] && yb.dims() == [5],
            "",
        );

        let (model, params, _) = self.sequential(m)?;
        let mut opt = Sgd::new(params, LR)?;
        let batches = (0..n_batches(n, BS)).map(|i| train_ds.slice(i * BS, i * BS + BS));
        let epoch = train_epoch(
            batches,
            n_batches(n, BS),
            |xb| Ok(model.forward(xb)?),
            |grads| Ok(opt.step(grads)?),
        )?;
        self.last_batch(
            "model,opt = get_model()\n\nfor epoch in range(epochs):\n    \
             for i in range((n-1)//bs + 1):\n        xb,yb = train_ds[i*bs : i*bs+bs]\n        \
             pred = model(xb)\n        loss = loss_func(pred, yb)\n\n        loss.backward()\n        \
             opt.step()\n        opt.zero_grad()\n\nloss,acc = loss_func(model(xb), yb), \
             accuracy(model(xb), yb)\nloss,acc",
            &epoch,
            |xb| Ok(model.forward(xb)?),
            "(tensor(0.4507, grad_fn=<NllLossBackward>), tensor(0.8750))",
        )?;

        // DataLoader of consecutive slices.
        self.nb.code(
            "class DataLoader():\n    def __init__(self, ds, bs): self.ds,self.bs = ds,bs\n    \
             def __iter__(self):\n        for i in range(0, len(self.ds), self.bs): \
             yield self.ds[i:i+self.bs]\n\n\
             train_dl = DataLoader(train_ds, bs)\nvalid_dl = DataLoader(valid_ds, bs)",
        );
        let (xb, yb) = valid_ds.slice(0, BS)?;
        self.nb.code(
            "xb,yb = next(iter(valid_dl))\nassert xb.shape==(bs,28*28)\nassert yb.shape==(bs,)",
        );
        self.nb.check(
            "xb.shape == (64, 784) and yb.shape == (64,)",
            xb.dims() == [BS, 784] && yb.dims() == [BS],
            "",
        );
        self.picture("plt.imshow(xb[0].view(28,28))", "valid-0", &xb.get(0)?)?;
        self.nb.tensor("yb[0]", &yb.get(0)?, "tensor(3)")?;

        let (model, params, _) = self.sequential(m)?;
        let mut opt = Sgd::new(params, LR)?;
        let epoch = train_epoch(
            (0..n).step_by(BS).map(|i| train_ds.slice(i, i + BS)),
            n_batches(n, BS),
            |xb| Ok(model.forward(xb)?),
            |grads| Ok(opt.step(grads)?),
        )?;
        self.last_batch(
            "model,opt = get_model()\n\ndef fit():\n    for epoch in range(epochs):\n        \
             for xb,yb in train_dl:\n            pred = model(xb)\n            \
             loss = loss_func(pred, yb)\n            loss.backward()\n            opt.step()\n            \
             opt.zero_grad()\n\nfit()\n\nloss,acc = loss_func(model(xb), yb), \
             accuracy(model(xb), yb)\nloss,acc",
            &epoch,
            |xb| Ok(model.forward(xb)?),
            "(tensor(0.0762, grad_fn=<NllLossBackward>), tensor(0.9844))",
        )?;

        self.sampler_cells(&train_ds, &valid_ds, m)?;
        Ok((train_ds, valid_ds))
    }

    fn sampler_cells(&mut self, train_ds: &Dataset, valid_ds: &Dataset, m: usize) -> Result<()> {
        let n = train_ds.len();
        self.nb.heading("Random sampling");
        self.nb.code(
            "class Sampler():\n    def __init__(self, ds, bs, shuffle=False):\n        \
             self.n,self.bs,self.shuffle = len(ds),bs,shuffle\n        \n    \
             def __iter__(self):\n        self.idxs = torch.randperm(self.n) if self.shuffle \
             else torch.arange(self.n)\n        for i in range(0, self.n, self.bs): \
             yield self.idxs[i:i+self.bs]",
        );
        let (x10, y10) = train_ds.slice(0, 10)?;
        let small_ds = Dataset::new(x10, y10)?;
        self.nb.code("small_ds = Dataset(*train_ds[:10])");
        let show = |batches: Vec<Vec<u32>>| -> String {
            let items: Vec<String> = batches
                .iter()
                .map(|b| {
                    let v: Vec<i64> = b.iter().map(|&i| i64::from(i)).collect();
                    pt::repr_host(&pt::HostTensor::int64(&[v.len()], v))
                })
                .collect();
            pt::list(&items)
        };
        let unshuffled = Sampler {
            n: small_ds.len(),
            bs: 3,
            shuffle: false,
        };
        self.nb.show(
            "s = Sampler(small_ds,3,False)\n[o for o in s]",
            &show(unshuffled.batches(&mut self.rng)),
            "[tensor([0, 1, 2]), tensor([3, 4, 5]), tensor([6, 7, 8]), tensor([9])]",
        );
        let shuffled = Sampler {
            n: small_ds.len(),
            bs: 3,
            shuffle: true,
        };
        self.nb.show_seeded(
            "s = Sampler(small_ds,3,True)\n[o for o in s]",
            &show(shuffled.batches(&mut self.rng)),
            "[tensor([8, 0, 3]), tensor([5, 1, 2]), tensor([7, 6, 4]), tensor([9])]",
            RANDOM,
        );

        self.nb.code(
            "def collate(b):\n    xs,ys = zip(*b)\n    return torch.stack(xs),torch.stack(ys)\n\n\
             class DataLoader():\n    def __init__(self, ds, sampler, collate_fn=collate):\n        \
             self.ds,self.sampler,self.collate_fn = ds,sampler,collate_fn\n        \n    \
             def __iter__(self):\n        for s in self.sampler: \
             yield self.collate_fn([self.ds[i] for i in s])\n\n\
             train_samp = Sampler(train_ds, bs, shuffle=True)\n\
             valid_samp = Sampler(valid_ds, bs, shuffle=False)\n\n\
             train_dl = DataLoader(train_ds, sampler=train_samp, collate_fn=collate)\n\
             valid_dl = DataLoader(valid_ds, sampler=valid_samp, collate_fn=collate)",
        );
        let train_samp = Sampler {
            n,
            bs: BS,
            shuffle: true,
        };
        let valid_samp = Sampler {
            n: valid_ds.len(),
            bs: BS,
            shuffle: false,
        };
        let first_valid = valid_samp.batches(&mut self.rng).remove(0);
        let (xb, yb) = collate(
            first_valid
                .iter()
                .map(|&i| valid_ds.get(i as usize))
                .collect::<Result<Vec<_>>>()?,
        )?;
        self.picture(
            "xb,yb = next(iter(valid_dl))\nplt.imshow(xb[0].view(28,28))",
            "valid-0-sampled",
            &xb.get(0)?,
        )?;
        self.nb.tensor("yb[0]", &yb.get(0)?, "tensor(3)")?;
        let mut firsts = Vec::new();
        for (k, reference) in [(1, "tensor(1)"), (2, "tensor(9)")] {
            let first_batch = train_samp.batches(&mut self.rng).remove(0);
            firsts.push(first_batch[0]);
            let (xb, yb) = collate(
                first_batch
                    .iter()
                    .map(|&i| train_ds.get(i as usize))
                    .collect::<Result<Vec<_>>>()?,
            )?;
            self.picture(
                "xb,yb = next(iter(train_dl))\nplt.imshow(xb[0].view(28,28))",
                &format!("train-shuffled-{k}"),
                &xb.get(0)?,
            )?;
            self.nb
                .show_seeded("yb[0]", &pt::repr(&yb.get(0)?)?, reference, RANDOM);
        }
        self.nb.check(
            "two passes over the shuffled loader start with different images",
            firsts[0] != firsts[1],
            &format!("training images {} and {}", firsts[0], firsts[1]),
        );

        let (model, params, _) = self.sequential(m)?;
        let mut opt = Sgd::new(params, LR)?;
        let batches = train_samp.batches(&mut self.rng);
        let epoch = train_epoch(
            sampled_batches(train_ds, batches),
            n_batches(n, BS),
            |xb| Ok(model.forward(xb)?),
            |grads| Ok(opt.step(grads)?),
        )?;
        self.last_batch(
            "model,opt = get_model()\nfit()\n\nloss,acc = loss_func(model(xb), yb), \
             accuracy(model(xb), yb)\nloss,acc",
            &epoch,
            |xb| Ok(model.forward(xb)?),
            "(tensor(0.2939, grad_fn=<NllLossBackward>), tensor(0.9375))",
        )?;

        // The library's loader: candle-datasets' Batcher over the samples in sampled order.
        self.nb.heading("PyTorch DataLoader");
        for (drop_last, code, reference) in [
            (
                false,
                "#export\nfrom torch.utils.data import DataLoader, SequentialSampler, RandomSampler\n\n\
                 train_dl = DataLoader(train_ds, bs, sampler=RandomSampler(train_ds), \
                 collate_fn=collate)\nvalid_dl = DataLoader(valid_ds, bs, \
                 sampler=SequentialSampler(valid_ds), collate_fn=collate)\n\n\
                 model,opt = get_model()\nfit()\nloss_func(model(xb), yb), accuracy(model(xb), yb)",
                "(tensor(0.2196, grad_fn=<NllLossBackward>), tensor(0.9375))",
            ),
            (
                true,
                "train_dl = DataLoader(train_ds, bs, shuffle=True, drop_last=True)\n\
                 valid_dl = DataLoader(valid_ds, bs, shuffle=False)\n\n\
                 model,opt = get_model()\nfit()\n\n\
                 loss,acc = loss_func(model(xb), yb), accuracy(model(xb), yb)\nloss,acc",
                "(tensor(0.1029, grad_fn=<NllLossBackward>), tensor(0.9688))",
            ),
        ] {
            let (model, params, _) = self.sequential(m)?;
            let mut opt = Sgd::new(params, LR)?;
            let order = self.rng.permutation(n);
            let samples = order.into_iter().map(|i| train_ds.get(i as usize));
            let batcher = candle_datasets::Batcher::new_r2(samples.map(|r| {
                r.map_err(|e| candle_core::Error::Msg(e.to_string()))
            }))
            .batch_size(BS)
            .return_last_incomplete_batch(!drop_last);
            let count = if drop_last { n / BS } else { n_batches(n, BS) };
            let epoch = train_epoch(
                batcher.map(|b| b.map_err(anyhow::Error::from)),
                count,
                |xb| Ok(model.forward(xb)?),
                |grads| Ok(opt.step(grads)?),
            )?;
            self.last_batch(code, &epoch, |xb| Ok(model.forward(xb)?), reference)?;
        }
        Ok(())
    }

    fn validation_cells(&mut self, train_ds: &Dataset, valid_ds: &Dataset) -> Result<()> {
        let (n, m) = train_ds.x.dims2()?;
        self.nb.heading("Validation");
        let code = "def fit(epochs, model, loss_func, opt, train_dl, valid_dl):\n    \
                    for epoch in range(epochs):\n        # Handle batchnorm / dropout\n        \
                    model.train()\n        for xb,yb in train_dl:\n            \
                    loss = loss_func(model(xb), yb)\n            loss.backward()\n            \
                    opt.step()\n            opt.zero_grad()\n\n        model.eval()\n        \
                    with torch.no_grad():\n            tot_loss,tot_acc = 0.,0.\n            \
                    for xb,yb in valid_dl:\n                pred = model(xb)\n                \
                    tot_loss += loss_func(pred, yb)\n                \
                    tot_acc  += accuracy (pred,yb)\n        nv = len(valid_dl)\n        \
                    print(epoch, tot_loss/nv, tot_acc/nv)\n    return tot_loss/nv, tot_acc/nv\n\n\
                    #export\ndef get_dls(train_ds, valid_ds, bs, **kwargs):\n    \
                    return (DataLoader(train_ds, batch_size=bs, shuffle=True, **kwargs),\n            \
                    DataLoader(valid_ds, batch_size=bs*2, **kwargs))\n\n\
                    train_dl,valid_dl = get_dls(train_ds, valid_ds, bs)\n\
                    model,opt = get_model()\nloss,acc = fit(5, model, loss_func, opt, train_dl, valid_dl)";
        let (model, params, _) = self.sequential(m)?;
        let mut opt = Sgd::new(params, LR)?;
        let mut lines = Vec::new();
        let mut train_losses = Vec::new();
        let mut per_epoch = Vec::new();
        let mut last = None;
        for epoch in 0..5 {
            let batches = Sampler {
                n,
                bs: BS,
                shuffle: true,
            }
            .batches(&mut self.rng);
            let trained = train_epoch(
                sampled_batches(train_ds, batches),
                n_batches(n, BS),
                |xb| Ok(model.forward(xb)?),
                |grads| Ok(opt.step(grads)?),
            )?;
            train_losses.extend(trained.batch_losses);
            let v = validate(
                (0..valid_ds.len())
                    .step_by(2 * BS)
                    .map(|i| valid_ds.slice(i, i + 2 * BS)),
                |xb| Ok(model.forward(xb)?),
            )?;
            lines.push(format!(
                "{epoch} {} {}",
                pt::repr(&Tensor::new(v.mean_of_batch_losses, &Device::Cpu)?)?,
                pt::repr(&Tensor::new(v.mean_of_batch_accuracies, &Device::Cpu)?)?
            ));
            per_epoch.push((v.mean_of_batch_losses, v.mean_of_batch_accuracies));
            last = Some(v);
        }
        let v = last.ok_or_else(|| anyhow!("fit ran no epoch"))?;
        self.nb.show_seeded(
            code,
            &lines.join("\n"),
            "0 tensor(0.1573) tensor(0.9533)\n1 tensor(0.5863) tensor(0.8684)\n\
             2 tensor(0.1299) tensor(0.9609)\n3 tensor(0.1178) tensor(0.9664)\n\
             4 tensor(0.1283) tensor(0.9625)",
            RANDOM,
        );
        self.nb.check(
            "assert acc>0.9",
            v.mean_of_batch_accuracies > 0.9,
            &format!(
                "acc {}",
                pt::py_fixed(f64::from(v.mean_of_batch_accuracies), 4)
            ),
        );
        self.nb.check(
            "after five epochs the validation accuracy is above 0.96 (the notebook's last: 0.9625)",
            v.mean_of_batch_accuracies > 0.96,
            "",
        );

        let out = self.out.to_path_buf();
        let steps: Vec<f64> = (0..train_losses.len()).map(|i| i as f64).collect();
        let losses: Vec<f64> = train_losses.iter().map(|&l| f64::from(l)).collect();
        self.nb
            .figure("# the training loss of fit(5, ...), batch by batch", || {
                Figure {
                    name: "training-loss".into(),
                    title: "Training loss per batch (5 epochs, bs 64, lr 0.5)".into(),
                    x_label: "batch".into(),
                    y_label: "cross-entropy".into(),
                    series: vec![Series::solid("training loss", steps, losses)],
                }
                .write_png(&out)
            })?;
        let epochs: Vec<f64> = (0..per_epoch.len()).map(|e| e as f64).collect();
        self.nb.figure(
            "# validation loss and accuracy of fit(5, ...), epoch by epoch",
            || {
                Figure {
                    name: "validation".into(),
                    title: "Validation loss and accuracy per epoch".into(),
                    x_label: "epoch".into(),
                    y_label: "value".into(),
                    series: vec![
                        Series::solid(
                            "validation loss",
                            epochs.clone(),
                            per_epoch.iter().map(|p| f64::from(p.0)).collect(),
                        ),
                        Series::solid(
                            "validation accuracy",
                            epochs.clone(),
                            per_epoch.iter().map(|p| f64::from(p.1)).collect(),
                        ),
                    ],
                }
                .write_png(&out)
            },
        )?;

        let last_batch = valid_ds.len() % (2 * BS);
        self.nb.finding(
            "the validation means weight the short last batch too much (the lesson's own question)",
            &format!(
                "fit divides the summed batch means by the number of batches. The validation \
                 set is {} batches of {} and one of {last_batch}, so each of those {last_batch} \
                 images counts {:.1} times as much as the others. Over all {} images the last \
                 epoch's loss is {} and accuracy {}, against the printed {} and {}.",
                valid_ds.len() / (2 * BS),
                2 * BS,
                (2 * BS) as f64 / last_batch as f64,
                valid_ds.len(),
                pt::py_fixed(f64::from(v.sample_loss), 4),
                pt::py_fixed(f64::from(v.sample_accuracy), 4),
                pt::py_fixed(f64::from(v.mean_of_batch_losses), 4),
                pt::py_fixed(f64::from(v.mean_of_batch_accuracies), 4),
            ),
        );
        Ok(())
    }
}
