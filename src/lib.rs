//! crossent: five notebooks on softmax, NLL, log_softmax, logsumexp and cross-entropy,
//! reproduced cell by cell on candle.
//!
//! Each chapter (`chapters/chapter-N.rs`) runs its notebook's cells through the cell
//! harness ([`notebook::Notebook`]), which prints every output as PyTorch prints it
//! ([`pt`]) and checks it against what the notebook printed; the harness's records are
//! what the terminal, the HTML report ([`report`]), `report.json` and a written Jupyter
//! notebook ([`ipynb`]) all render. `ARCHITECTURE.md` is the map.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use crossent::loss::{cross_entropy, CrossEntropyOptions};
//!
//! let logits = Tensor::new(&[[2.0f32, 1.0, 0.1]], &Device::Cpu)?;
//! let target = Tensor::new(&[0i64], &Device::Cpu)?;
//! let loss = cross_entropy(&logits, &target, &CrossEntropyOptions::default())?;
//! assert_eq!(crossent::pt::repr(&loss)?, "tensor(0.4170)");
//! # Ok::<(), anyhow::Error>(())
//! ```

#![warn(missing_docs)]

pub mod chapter;
pub mod cli;
pub mod device;
pub mod draws;
pub mod files;
pub mod ipynb;
pub mod lesson;
pub mod linear;
pub mod loss;
pub mod mnist;
pub mod notebook;
pub mod np;
pub mod optim;
pub mod plot;
pub mod pointwise;
pub mod printed;
pub mod pt;
pub mod random;
pub mod record;
pub mod reduce;
pub mod refine;
pub mod report;
pub mod torchlike;
