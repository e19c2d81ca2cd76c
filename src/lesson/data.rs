//! The lesson's data classes: `Dataset`, `Sampler`, `collate` and the `DataLoader` of
//! sampled batches.

use crate::random::Generator;
use anyhow::{bail, Result};
use candle_core::Tensor;

/// The lesson's `Dataset(x, y)`: a length, and indexing that returns `(x[i], y[i])`.
pub struct Dataset {
    /// The inputs, one row per sample.
    pub x: Tensor,
    /// The targets, one per sample.
    pub y: Tensor,
}

impl Dataset {
    /// `Dataset(x, y)`: as many inputs as targets, or an error saying so.
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

    /// `len(ds)`: the number of samples.
    pub fn len(&self) -> usize {
        self.x.dims()[0]
    }

    /// Whether it holds no sample.
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
    /// The number of samples to draw from.
    pub n: usize,
    /// The batch size.
    pub bs: usize,
    /// Whether each pass is a fresh permutation (`torch.randperm`) or in order.
    pub shuffle: bool,
}

impl Sampler {
    /// One pass (`__iter__`): the indices cut into batches of `bs`, a
    /// `torch.randperm(n)` drawn from `generator` when `shuffle`.
    pub fn batches(&self, generator: &mut Generator) -> Vec<Vec<u32>> {
        let order: Vec<u32> = if self.shuffle {
            generator
                .randperm_values(self.n)
                .into_iter()
                .map(|i| i as u32)
                .collect()
        } else {
            (0..self.n as u32).collect()
        };
        batches_of(&order, self.bs)
    }
}

/// `order` cut into batches of `bs`, the last one shorter.
pub fn batches_of(order: &[u32], bs: usize) -> Vec<Vec<u32>> {
    order.chunks(bs).map(|c| c.to_vec()).collect()
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
    fn unshuffled_sampler_cuts_in_order() {
        let s = Sampler {
            n: 10,
            bs: 3,
            shuffle: false,
        };
        assert_eq!(
            s.batches(&mut Generator::manual_seed(0)),
            vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]
        );
    }
}
