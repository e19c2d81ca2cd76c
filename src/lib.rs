//! crossent: five notebooks on softmax, NLL, log_softmax, logsumexp and cross-entropy,
//! reproduced cell by cell on candle.
//!
//! The chapters (`chapters/chapter-N.rs`) share what is here: PyTorch- and numpy-style
//! printing, the cell harness that checks each output against the notebook, the search
//! that recovers inputs from their rounded prints, tensor helpers, plots, MNIST, the
//! minibatch lesson's pieces and training loops, the device choice and the command line.

pub mod cli;
pub mod device;
pub mod files;
pub mod ipynb;
pub mod lesson;
pub mod linear;
pub mod loss;
pub mod mnist;
pub mod notebook;
pub mod np;
pub mod plot;
pub mod printed;
pub mod pt;
pub mod refine;
pub mod report;
pub mod torchlike;
pub mod train;
