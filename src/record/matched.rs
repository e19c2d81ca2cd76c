//! Which cell of a notebook file a chapter cell reproduces, and by which rule: what the
//! matching decides (`crate::ipynb::matching`) and every record and renderer carries.

use serde::{Deserialize, Serialize};

/// By which rule a chapter cell was matched to a file cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The file cell has the id this chapter gives the cell (a notebook we wrote).
    Id,
    /// The same source, whitespace aside.
    Source,
    /// A similar source (at least 60 % of character pairs in common).
    Similarity,
    /// The next code cell of the file, somewhat similar (at least 30 %).
    Order,
}

impl Rule {
    /// The rule's name, as the summary prints it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Id => "id",
            Rule::Source => "source",
            Rule::Similarity => "similarity",
            Rule::Order => "order",
        }
    }
}

/// The file cell a chapter cell reproduces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellMatch {
    /// The file cell's position among all its cells, from 0.
    pub index: usize,
    /// Its id, if it has one.
    pub id: Option<String>,
    /// Which rule matched them.
    pub rule: Rule,
    /// The similarity of the two normalised sources, from 0 to 1.
    pub similarity: f64,
}
