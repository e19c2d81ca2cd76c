//! The pieces of fast.ai's minibatch-training lesson (chapter 5) that the chapter and
//! the epoch benchmark share, by concept: the data classes (`data`), the models
//! (`model`), the training and evaluation loops (`training`), and how sensitive a
//! training's output is to rounding (`sensitivity`).
//!
//! The generator they draw from is `crate::random::Generator`, the optimiser
//! `crate::optim::Sgd`, and a model prints itself through `crate::pt::ModuleRepr`.

pub mod data;
pub mod model;
pub mod sensitivity;
pub mod training;
