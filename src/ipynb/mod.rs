//! Notebooks in and out: a Jupyter `.ipynb` file read as the oracle a chapter compares
//! against (`read`), its cells matched to the chapter's (`matching`), and a chapter run
//! written back as a notebook (`write`).
//!
//! The Rust `nbformat` crate was weighed and not taken: its reader drops
//! `execute_result` outputs whose `execution_count` is null (fastai's notebooks are full
//! of them) and its typed cells would not give an original's unknown fields back
//! exactly; reading through `serde_json::Value` keeps everything, and the writer lays
//! the JSON out as Python's nbformat does.

pub mod matching;
pub mod read;
pub mod write;

pub use matching::Matcher;
pub use read::{FileSeed, NotebookFile};
