//! `replicate`: a notebook's own Python cells run on crossent's `torch`, in RustPython
//! embedded in the binary, and every output compared with the one the file holds, by
//! the chapters' cell harness.
//!
//! The supervisor (`run`) reads the notebook, prepares each cell (`cells`) and hands it
//! to an interpreter process (`supervisor`, `interpreter`), which answers with what the
//! cell printed (`protocol`); `native` is the `_torch` module under the embedded Python
//! (`python/`). A notebook's code is untrusted: the interpreter has no file, process or
//! socket capability, each cell has a time limit, and tensors a memory cap.
//!
//! ```no_run
//! use crossent_replicate::run::{replicate, Options};
//! let nb = replicate(&Options::new("information-theory.ipynb".into()))?;
//! println!("{} verbatim", nb.summary().verbatim);
//! # Ok::<(), anyhow::Error>(())
//! ```

#![warn(missing_docs)]

pub mod cells;
pub mod interpreter;
pub mod native;
pub mod protocol;
pub mod run;
pub mod supervisor;
