//! Which cell of a notebook file a chapter cell reproduces, and by which rule: what the
//! matching decides (`crate::ipynb::matching`) and every record and renderer carries.
//!
//! A chapter cell may reproduce several consecutive file cells (the chapter shows as one
//! cell what the file splits: `class Model…`, `model = Model(layers)`, `model`), or one
//! part of a file cell (the chapter splits what the file keeps as one). A match says
//! which, so that each output is compared with the file cell that displayed it.

use serde::{Deserialize, Serialize};

/// By which rule a chapter cell was matched to a file cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The file cell has the id this chapter gives the cell (a notebook we wrote).
    Id,
    /// The same source, whitespace aside (for a span, the cells' sources one after the
    /// other; for a part, the part's lines).
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

/// The part of one file cell that a chapter cell reproduces, by the cell's non-blank
/// lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The part's first non-blank line among the cell's, from 0.
    pub first_line: usize,
    /// How many non-blank lines it has.
    pub lines: usize,
    /// How many non-blank lines the whole cell has.
    pub of: usize,
}

impl Part {
    /// Whether this part ends its cell: the cell's displayed value is this part's.
    pub fn ends_cell(&self) -> bool {
        self.first_line + self.lines >= self.of
    }
}

/// The file cell (or cells) a chapter cell reproduces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellMatch {
    /// The (first) file cell's position among all its cells, from 0.
    pub index: usize,
    /// Its id, if it has one.
    pub id: Option<String>,
    /// Which rule matched them.
    pub rule: Rule,
    /// The similarity of the two normalised sources, from 0 to 1.
    pub similarity: f64,
    /// The further file code cells, in order, that the chapter cell's code continues
    /// into: it shows as one cell what the file runs as several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub continued_in: Vec<usize>,
    /// Set when the chapter cell is only a part of the file cell at `index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<Part>,
}

impl CellMatch {
    /// A match of one whole file cell.
    ///
    /// ```
    /// use crossent::record::{CellMatch, Rule};
    /// let m = CellMatch::whole(43, None, Rule::Source, 1.0);
    /// assert_eq!(m.describe(), "notebook cell 44");
    /// assert!(m.holds_output());
    /// ```
    pub fn whole(index: usize, id: Option<String>, rule: Rule, similarity: f64) -> Self {
        Self {
            index,
            id,
            rule,
            similarity,
            continued_in: Vec::new(),
            part: None,
        }
    }

    /// Every file cell the chapter cell reproduces (all or part of), in order.
    pub fn cells(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(self.index).chain(self.continued_in.iter().copied())
    }

    /// The last of them.
    pub fn last(&self) -> usize {
        self.continued_in.last().copied().unwrap_or(self.index)
    }

    /// Whether the outputs its file cells displayed are this chapter cell's: always, but
    /// for a part that does not end its cell (the cell displays its value after its last
    /// line, which a later chapter cell reproduces).
    pub fn holds_output(&self) -> bool {
        self.part.is_none_or(|p| p.ends_cell())
    }

    /// The file cells, numbered from 1, as a header names them: `notebook cell 44`,
    /// `notebook cells 44–46`, `notebook cell 44, lines 1–2 of 5`.
    ///
    /// ```
    /// use crossent::record::{CellMatch, Part, Rule};
    /// let mut m = CellMatch::whole(43, None, Rule::Source, 1.0);
    /// m.continued_in = vec![44, 45];
    /// assert_eq!(m.describe(), "notebook cells 44–46");
    /// let mut p = CellMatch::whole(43, None, Rule::Source, 1.0);
    /// p.part = Some(Part { first_line: 0, lines: 1, of: 4 });
    /// assert_eq!(p.describe(), "notebook cell 44, line 1 of 4");
    /// assert!(!p.holds_output());
    /// ```
    pub fn describe(&self) -> String {
        let first = self.index + 1;
        if !self.continued_in.is_empty() {
            return format!("notebook cells {first}–{}", self.last() + 1);
        }
        match self.part {
            None => format!("notebook cell {first}"),
            Some(p) if p.lines == 1 => {
                format!(
                    "notebook cell {first}, line {} of {}",
                    p.first_line + 1,
                    p.of
                )
            }
            Some(p) => format!(
                "notebook cell {first}, lines {}–{} of {}",
                p.first_line + 1,
                p.first_line + p.lines,
                p.of
            ),
        }
    }
}
