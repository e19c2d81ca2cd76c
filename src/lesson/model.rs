//! The lesson's models: `nn.Linear` with PyTorch's default initialisation, drawn as
//! PyTorch draws it (`crate::random::nn::linear`), and `nn.Sequential(Linear, ReLU, Linear)`, each with how
//! PyTorch prints it.

use crate::linear::FusedLinear;
use crate::pt::ModuleRepr;
use crate::random::Generator;
use anyhow::Result;
use candle_core::{Device, Tensor, Var};

/// `nn.Linear(in_features, out_features)` as the lesson writes it by hand: `x @ w.T + b`,
/// with PyTorch's default initialisation (weight and bias uniform in ±1/sqrt(in_features))
/// drawn on the CPU as `torch.manual_seed` then `nn.Linear` draws it, then moved to
/// `device`. The weight has
/// PyTorch's shape and layout, `(out_features, in_features)`.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use candle_nn::Module;
/// use crossent::lesson::model::Linear;
///
/// let layer = Linear::new(&mut crossent::random::Generator::manual_seed(0), 784, 50, &Device::Cpu)?;
/// assert_eq!(layer.module().repr(), "Linear(in_features=784, out_features=50, bias=True)");
/// let out = layer.forward(&Tensor::zeros((64, 784), candle_core::DType::F32, &Device::Cpu)?)?;
/// assert_eq!(out.dims(), [64, 50]);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub struct Linear {
    /// `weight`, `(out_features, in_features)`.
    pub weight: Var,
    /// `bias`, `(out_features,)`.
    pub bias: Var,
}

impl candle_nn::Module for Linear {
    /// `x @ w.T + b`, through the library's `FusedLinear` (the same values as the
    /// composed formula, see `crate::linear`).
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::Module::forward(&self.to_fused(), x)
    }
}

impl Linear {
    /// A freshly initialised layer, drawn from `generator`: weight first, then bias.
    pub fn new(
        generator: &mut Generator,
        in_features: usize,
        out_features: usize,
        device: &Device,
    ) -> Result<Self> {
        let (w, b) = crate::random::nn::linear(generator, in_features, out_features)?;
        Ok(Self {
            weight: Var::from_tensor(&w.to_device(device)?)?,
            bias: Var::from_tensor(&b.to_device(device)?)?,
        })
    }

    /// The same layer as the library's `FusedLinear`, sharing the parameters (candle-nn's
    /// formula; one op on the CPU, see `crate::linear`).
    pub fn to_fused(&self) -> FusedLinear {
        FusedLinear::new(
            self.weight.as_tensor().clone(),
            self.bias.as_tensor().clone(),
        )
    }

    /// `in_features`: the width of an input row.
    pub fn in_features(&self) -> usize {
        self.weight.dims()[1]
    }

    /// `out_features`: the width of an output row.
    pub fn out_features(&self) -> usize {
        self.weight.dims()[0]
    }

    /// How PyTorch prints it.
    pub fn module(&self) -> ModuleRepr {
        ModuleRepr::leaf(
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

/// `Linear → ReLU → Linear` over `params` in PyTorch's order (weight and bias of the
/// first layer, then of the second), sharing them: every model of the lesson is this one
/// whatever its class (`Model`, `SequentialModel`, `nn.Sequential`), so a sensitivity
/// re-run trains it on fresh copies of a model's parameters.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// use candle_nn::Module;
/// let (model, params, _) = crossent::lesson::model::sequential(
///     &mut crossent::random::Generator::manual_seed(0), 784, 50, 10, &Device::Cpu)?;
/// let x = Tensor::ones((2, 784), DType::F32, &Device::Cpu)?;
/// let again = crossent::lesson::model::mlp(&params)?;
/// let diff = (model.forward(&x)? - again.forward(&x)?)?.abs()?.max_all()?.to_scalar::<f32>()?;
/// assert_eq!(diff, 0.0);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn mlp(params: &[Var]) -> Result<candle_nn::Sequential> {
    let [w1, b1, w2, b2] = params else {
        anyhow::bail!("the lesson's model has 4 parameters, not {}", params.len());
    };
    let layer = |w: &Var, b: &Var| FusedLinear::new(w.as_tensor().clone(), b.as_tensor().clone());
    Ok(candle_nn::seq()
        .add(layer(w1, b1))
        .add(candle_nn::Activation::Relu)
        .add(layer(w2, b2)))
}

/// `nn.Sequential(nn.Linear(n_in, nh), nn.ReLU(), nn.Linear(nh, n_out))` as candle-nn's
/// `Sequential` of the library's `FusedLinear` and candle-nn's ReLU, freshly initialised:
/// the model, its parameters (for an optimizer) and how PyTorch prints it.
pub fn sequential(
    rng: &mut Generator,
    n_in: usize,
    nh: usize,
    n_out: usize,
    device: &Device,
) -> Result<(candle_nn::Sequential, Vec<Var>, ModuleRepr)> {
    let l1 = Linear::new(rng, n_in, nh, device)?;
    let l2 = Linear::new(rng, nh, n_out, device)?;
    let printed = ModuleRepr::with_children(
        "Sequential",
        vec![
            ("0".into(), l1.module()),
            ("1".into(), ModuleRepr::relu()),
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
        .add(l1.to_fused())
        .add(candle_nn::Activation::Relu)
        .add(l2.to_fused());
    Ok((model, params, printed))
}
