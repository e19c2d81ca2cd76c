//! The pieces of the fast.ai minibatch-training lesson (chapter 5) that the chapter and
//! the benchmark share: seeded draws, PyTorch's default `nn.Linear` initialisation, the
//! hand-written linear layer, PyTorch-style module printing, accuracy, and the lesson's
//! data classes (Dataset, Sampler, collate, DataLoader).

use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor, Var, D};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The project's seeded generator: every random draw of chapter 5 comes from one of these.
pub struct SeededRng(ChaCha8Rng);

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// `n` draws uniform in `[-bound, bound)`.
    pub fn uniform(&mut self, n: usize, bound: f32) -> Vec<f32> {
        (0..n).map(|_| self.0.random_range(-bound..bound)).collect()
    }

    /// A random permutation of `0..n` (`torch.randperm`).
    pub fn permutation(&mut self, n: usize) -> Vec<u32> {
        let mut p: Vec<u32> = (0..n as u32).collect();
        p.shuffle(&mut self.0);
        p
    }
}

/// `nn.Linear(in_features, out_features)` as the lesson writes it by hand: `x @ w.T + b`,
/// with PyTorch's default initialisation (weight and bias uniform in ±1/sqrt(in_features))
/// drawn on the CPU from the project's generator, then moved to `device`. The weight has
/// PyTorch's shape and layout, `(out_features, in_features)`.
pub struct Linear {
    pub weight: Var,
    pub bias: Var,
}

impl Linear {
    pub fn new(
        rng: &mut SeededRng,
        in_features: usize,
        out_features: usize,
        device: &Device,
    ) -> Result<Self> {
        let bound = 1.0 / (in_features as f32).sqrt();
        let w = rng.uniform(in_features * out_features, bound);
        let b = rng.uniform(out_features, bound);
        Ok(Self {
            weight: Var::from_tensor(&Tensor::from_vec(w, (out_features, in_features), device)?)?,
            bias: Var::from_tensor(&Tensor::from_vec(b, out_features, device)?)?,
        })
    }

    /// `x @ w.T + b`, through the library's fused `Linear` (the same values as the
    /// composed formula, see `crate::linear`).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        use candle_nn::Module as _;
        Ok(self.to_candle().forward(x)?)
    }

    /// The same layer as a candle `Module` sharing the parameters: the library's fused
    /// `Linear` (candle-nn's formula; one op on the CPU, see `crate::linear`).
    pub fn to_candle(&self) -> crate::linear::Linear {
        crate::linear::Linear::new(
            self.weight.as_tensor().clone(),
            self.bias.as_tensor().clone(),
        )
    }

    pub fn in_features(&self) -> usize {
        self.weight.dims()[1]
    }

    pub fn out_features(&self) -> usize {
        self.weight.dims()[0]
    }

    /// How PyTorch prints it.
    pub fn module(&self) -> Module {
        Module::leaf(
            "Linear",
            &format!(
                "in_features={}, out_features={}, bias=True",
                self.in_features(),
                self.out_features()
            ),
        )
    }

    /// The parameters, in PyTorch's order: weight, bias.
    pub fn parameters(&self) -> [&Var; 2] {
        [&self.weight, &self.bias]
    }
}

/// `nn.Sequential(nn.Linear(n_in, nh), nn.ReLU(), nn.Linear(nh, n_out))` as candle-nn's
/// `Sequential` of the library's `Linear` and candle-nn's ReLU, freshly initialised: the model, its parameters (for an optimizer) and how
/// PyTorch prints it.
pub fn sequential(
    rng: &mut SeededRng,
    n_in: usize,
    nh: usize,
    n_out: usize,
    device: &Device,
) -> Result<(candle_nn::Sequential, Vec<Var>, Module)> {
    let l1 = Linear::new(rng, n_in, nh, device)?;
    let l2 = Linear::new(rng, nh, n_out, device)?;
    let printed = Module::with_children(
        "Sequential",
        vec![
            ("0".into(), l1.module()),
            ("1".into(), Module::relu()),
            ("2".into(), l2.module()),
        ],
    );
    let params = l1
        .parameters()
        .into_iter()
        .chain(l2.parameters())
        .cloned()
        .collect();
    let model = candle_nn::seq()
        .add(l1.to_candle())
        .add(candle_nn::Activation::Relu)
        .add(l2.to_candle());
    Ok((model, params, printed))
}

/// A module as PyTorch's `nn.Module.__repr__` prints it: `Name(extra)` for a leaf, else
/// `Name(` then each child as `  (key): child` and `)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    pub name: String,
    pub extra: String,
    pub children: Vec<(String, Module)>,
}

impl Module {
    pub fn leaf(name: &str, extra: &str) -> Self {
        Self {
            name: name.into(),
            extra: extra.into(),
            children: Vec::new(),
        }
    }

    pub fn relu() -> Self {
        Self::leaf("ReLU", "")
    }

    pub fn with_children(name: &str, children: Vec<(String, Module)>) -> Self {
        Self {
            name: name.into(),
            extra: String::new(),
            children,
        }
    }

    /// `repr(module)`.
    pub fn repr(&self) -> String {
        if self.children.is_empty() {
            return format!("{}({})", self.name, self.extra);
        }
        let mut lines = vec![format!("{}(", self.name)];
        for (key, child) in &self.children {
            // PyTorch's _addindent: lines after the first of a child move in by 2.
            let child = child.repr().replace('\n', "\n  ");
            lines.push(format!("  ({key}): {child}"));
        }
        lines.push(")".into());
        lines.join("\n")
    }
}

/// `accuracy(out, yb)`: the share of rows whose largest output is the target.
pub fn accuracy(out: &Tensor, yb: &Tensor) -> Result<Tensor> {
    let predicted = out.argmax(D::Minus1)?.to_dtype(DType::I64)?;
    Ok(predicted
        .eq(&yb.to_dtype(DType::I64)?)?
        .to_dtype(DType::F32)?
        .mean_all()?)
}

/// The lesson's `Dataset(x, y)`: a length, and indexing that returns `(x[i], y[i])`.
pub struct Dataset {
    pub x: Tensor,
    pub y: Tensor,
}

impl Dataset {
    pub fn new(x: Tensor, y: Tensor) -> Result<Self> {
        if x.dim(0)? != y.dim(0)? {
            bail!(
                "a dataset needs as many inputs as targets: {} and {}",
                x.dim(0)?,
                y.dim(0)?
            );
        }
        Ok(Self { x, y })
    }

    pub fn len(&self) -> usize {
        self.x.dims()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `ds[start:end]`.
    pub fn slice(&self, start: usize, end: usize) -> Result<(Tensor, Tensor)> {
        let end = end.min(self.len());
        Ok((
            self.x.narrow(0, start, end - start)?,
            self.y.narrow(0, start, end - start)?,
        ))
    }

    /// `ds[i]`.
    pub fn get(&self, i: usize) -> Result<(Tensor, Tensor)> {
        Ok((self.x.get(i)?, self.y.get(i)?))
    }
}

/// The lesson's `Sampler(ds, bs, shuffle)`: the indices (a permutation when shuffling)
/// cut into batches of `bs`, the last one shorter.
pub struct Sampler {
    pub n: usize,
    pub bs: usize,
    pub shuffle: bool,
}

impl Sampler {
    pub fn batches(&self, rng: &mut SeededRng) -> Vec<Vec<u32>> {
        let order: Vec<u32> = if self.shuffle {
            rng.permutation(self.n)
        } else {
            (0..self.n as u32).collect()
        };
        order.chunks(self.bs).map(|c| c.to_vec()).collect()
    }
}

/// `collate(b)`: stacks the samples' inputs and targets.
pub fn collate(samples: Vec<(Tensor, Tensor)>) -> Result<(Tensor, Tensor)> {
    let (xs, ys): (Vec<Tensor>, Vec<Tensor>) = samples.into_iter().unzip();
    Ok((Tensor::stack(&xs, 0)?, Tensor::stack(&ys, 0)?))
}

/// `DataLoader(ds, sampler, collate)`: one collated batch per sampled list of indices.
pub fn sampled_batches<'a>(
    ds: &'a Dataset,
    batches: Vec<Vec<u32>>,
) -> impl Iterator<Item = Result<(Tensor, Tensor)>> + 'a {
    batches.into_iter().map(move |indices| {
        let samples = indices
            .iter()
            .map(|&i| ds.get(i as usize))
            .collect::<Result<Vec<_>>>()?;
        collate(samples)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_printing_follows_pytorch() {
        let lin = |i: usize, o: usize| {
            Module::leaf(
                "Linear",
                &format!("in_features={i}, out_features={o}, bias=True"),
            )
        };
        let list = Module::with_children(
            "ModuleList",
            vec![
                ("0".into(), lin(784, 50)),
                ("1".into(), Module::relu()),
                ("2".into(), lin(50, 10)),
            ],
        );
        let model = Module::with_children("Model", vec![("layers".into(), list)]);
        assert_eq!(
            model.repr(),
            "Model(
  (layers): ModuleList(
    (0): Linear(in_features=784, out_features=50, bias=True)
    (1): ReLU()
    (2): Linear(in_features=50, out_features=10, bias=True)
  )
)"
        );
    }

    #[test]
    fn seeded_draws_repeat_and_stay_in_bounds() {
        let a = SeededRng::new(7).uniform(1000, 0.25);
        let b = SeededRng::new(7).uniform(1000, 0.25);
        assert_eq!(a, b);
        assert!(a.iter().all(|v| (-0.25..0.25).contains(v)));
        let mut p = SeededRng::new(7).permutation(10);
        p.sort();
        assert_eq!(p, (0..10).collect::<Vec<u32>>());
    }

    #[test]
    fn unshuffled_sampler_cuts_in_order() {
        let s = Sampler {
            n: 10,
            bs: 3,
            shuffle: false,
        };
        assert_eq!(
            s.batches(&mut SeededRng::new(0)),
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]
        );
    }

    #[test]
    fn accuracy_counts_argmax_hits() -> Result<()> {
        let out = Tensor::new(&[[0.1f32, 0.9], [0.8, 0.2]], &Device::Cpu)?;
        let y = Tensor::new(&[1i64, 1], &Device::Cpu)?;
        assert_eq!(accuracy(&out, &y)?.to_scalar::<f32>()?, 0.5);
        Ok(())
    }
}
