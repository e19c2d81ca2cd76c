//! The draws `torch.nn` and `torch.utils.data` make: the default initialisations of
//! `nn.Linear` and `nn.Embedding`, and the seeds and permutation of a shuffling
//! `DataLoader` (`RandomSampler`), each in PyTorch's order and number.

use super::Generator;
use anyhow::Result;
use candle_core::Tensor;

/// The bounds of `nn.Linear(in_features, _)`'s default initialisation: the weight's
/// `kaiming_uniform_(a=√5)` and the bias's `1/√in_features`, computed in doubles in the
/// order `torch.nn.init` computes them.
pub fn linear_bounds(in_features: usize) -> (f64, f64) {
    let a = 5f64.sqrt();
    let gain = (2.0 / (1.0 + a.powi(2))).sqrt();
    let std = gain / (in_features as f64).sqrt();
    let weight = 3f64.sqrt() * std;
    let bias = if in_features > 0 {
        1.0 / (in_features as f64).sqrt()
    } else {
        0.0
    };
    (weight, bias)
}

/// `nn.Linear(in_features, out_features)`'s parameters as PyTorch draws them: the weight
/// `(out_features, in_features)` row by row, then the bias `(out_features,)`.
///
/// ```
/// use crossent::random::{nn, Generator};
///
/// // torch.manual_seed(0); nn.Linear(2, 1).bias  ->  tensor([-0.5820])
/// let (_, bias) = nn::linear(&mut Generator::manual_seed(0), 2, 1)?;
/// assert_eq!(crossent::pt::repr(&bias)?, "tensor([-0.5820])");
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn linear(
    generator: &mut Generator,
    in_features: usize,
    out_features: usize,
) -> Result<(Tensor, Tensor)> {
    let (w, b) = linear_bounds(in_features);
    let weight = generator.uniform((out_features, in_features), -w, w)?;
    let bias = generator.uniform(out_features, -b, b)?;
    Ok((weight, bias))
}

/// `nn.Embedding(num_embeddings, embedding_dim)`'s weight: `normal_(0, 1)` over all of it.
pub fn embedding(
    generator: &mut Generator,
    num_embeddings: usize,
    embedding_dim: usize,
) -> Result<Tensor> {
    generator.randn((num_embeddings, embedding_dim))
}

/// The order in which one pass of `DataLoader(ds, shuffle=True)` (or
/// `sampler=RandomSampler(ds)`), with no workers and no generator of its own, visits
/// `n` samples: creating the iterator draws its `_base_seed` (an int64) from the
/// global generator; its first batch makes the sampler draw a seed (another int64) and
/// shuffle with `randperm(n)` on a private generator seeded with it. Four words of the
/// global generator per pass.
///
/// ```
/// use crossent::random::{nn, Generator};
///
/// let mut g = Generator::manual_seed(0);
/// let order = nn::random_sampler_pass(&mut g, 10);
/// let mut sorted = order.clone();
/// sorted.sort();
/// assert_eq!(sorted, (0..10).collect::<Vec<i64>>());
/// ```
pub fn random_sampler_pass(global: &mut Generator, n: usize) -> Vec<i64> {
    let _base_seed = global.random_i64();
    let seed = global.random_i64();
    Generator::manual_seed(seed as u64).randperm_values(n)
}

/// One pass of a `DataLoader` that does not shuffle: creating its iterator draws its
/// `_base_seed` all the same (two words of the global generator).
pub fn sequential_sampler_pass(global: &mut Generator) {
    let _base_seed = global.random_i64();
}

/// `random_sampler_pass` for a `DataLoader` given `generator=g`: both seeds come from
/// `g`, and the permutation is drawn from `g` itself.
pub fn random_sampler_pass_with(generator: &mut Generator, n: usize) -> Vec<i64> {
    let _base_seed = generator.random_i64();
    generator.randperm_values(n)
}
