//! What a chapter run records: one `Record` per event of the notebook (a cell, its
//! output and how it compares, a check, a finding, a figure), in order. The terminal
//! output, the HTML report and `report.json` are all rendered from these records, so no
//! value is computed or formatted twice. `Summary` counts them.

use crate::ipynb::matching::{CellMatch, Rule};
use serde::{Deserialize, Serialize};

/// One event of a chapter run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Header {
        title: String,
        origin: String,
    },
    /// A markdown heading of the notebook.
    Heading {
        text: String,
    },
    /// A code cell, numbered from 1; with a notebook file given, the file cell it
    /// reproduces and by which rule it was matched.
    Cell {
        cell: usize,
        code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        matched: Option<CellMatch>,
    },
    /// The output computed here, the notebook's printed output, and how they compare;
    /// with the unrounded values behind a printed tensor, where the chapter keeps them
    /// (the CUDA parity test compares them).
    Output {
        cell: usize,
        output: String,
        notebook: String,
        status: Status,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        values: Vec<f64>,
    },
    /// A cell that could not run here.
    NotRun {
        cell: usize,
        reason: String,
    },
    /// A mistake of the notebook, shown and explained.
    Finding {
        cell: usize,
        title: String,
        explanation: String,
    },
    /// Output of the chapter's own that the notebook did not print.
    Extra {
        cell: usize,
        label: String,
        text: String,
    },
    /// A check of the chapter's own.
    Check {
        cell: usize,
        claim: String,
        passed: bool,
        detail: String,
    },
    /// A known difference from the notebook that is not a failure.
    Deviation {
        cell: usize,
        what: String,
    },
    /// A figure the cell drew: its file, relative to the chapter's output folder.
    Figure {
        cell: usize,
        file: String,
        summary: String,
        /// The base64 PNGs the notebook file's cell displayed, for the report to show
        /// beside ours (not serialised: the file holds them).
        #[serde(skip)]
        original_images: Vec<String>,
    },
    /// The notebook file compared against, and how the chapter's cells matched its cells.
    NotebookFile {
        file: String,
        sha256: String,
        code_cells: usize,
        /// How many chapter cells matched by each rule, in rule order.
        matched_by: Vec<(Rule, usize)>,
        /// Chapter cells that matched no cell of the file.
        unmatched_chapter_cells: Vec<usize>,
        /// The file's code cells that no chapter cell reproduces: (index from 0, id, the
        /// first line of its source).
        unmatched_file_cells: Vec<(usize, Option<String>, String)>,
    },
}

/// How an output compares with the notebook's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Verbatim,
    /// Every number within `tolerance` of the notebook's.
    WithinTolerance {
        tolerance: f64,
        largest_absolute: f64,
        largest_relative: f64,
        reason: String,
    },
    /// The notebook's export damaged the text; the numbers match as printed.
    NumberForNumber {
        damage: String,
    },
    Mismatch,
    /// Depends on a random draw the notebook did not record.
    Seeded {
        reason: String,
    },
    /// Cannot match by design (a path on the author's machine, another copy of data).
    NotComparable {
        reason: String,
    },
    /// The notebook file given has no output to compare with (no cell of it matches, or
    /// the matching cell printed nothing).
    NotInNotebook {
        reason: String,
    },
}

impl Status {
    /// Whether the output was compared with the notebook's.
    pub fn compared(&self) -> bool {
        matches!(
            self,
            Status::Verbatim
                | Status::WithinTolerance { .. }
                | Status::NumberForNumber { .. }
                | Status::Mismatch
        )
    }

    /// A short name, as `report.json` and the page's badges give it.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Verbatim => "verbatim",
            Status::WithinTolerance { .. } => "within_tolerance",
            Status::NumberForNumber { .. } => "number_for_number",
            Status::Mismatch => "mismatch",
            Status::Seeded { .. } => "seeded",
            Status::NotComparable { .. } => "not_comparable",
            Status::NotInNotebook { .. } => "not_in_notebook",
        }
    }

    /// The deviation this status is, as the summary lists it; `None` when it is none.
    pub fn deviation(&self) -> Option<String> {
        match self {
            Status::WithinTolerance {
                tolerance,
                largest_absolute,
                reason,
                ..
            } => Some(format!(
                "matches within {tolerance:e} (largest difference {largest_absolute:.1e}): {reason}"
            )),
            Status::NumberForNumber { damage } => {
                Some(format!("matches the notebook number for number; {damage}"))
            }
            Status::Seeded { reason } | Status::NotComparable { reason } => {
                Some(format!("not comparable: {reason}"))
            }
            Status::NotInNotebook { reason } => Some(format!("not compared: {reason}")),
            Status::Verbatim | Status::Mismatch => None,
        }
    }
}

/// The counts of a chapter run, taken from its records.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub title: String,
    pub origin: String,
    pub cells: usize,
    pub not_run: Vec<(usize, String)>,
    pub compared: usize,
    pub verbatim: usize,
    /// Within a stated tolerance, or number for number where the export is damaged.
    pub within_tolerance: usize,
    pub mismatched: Vec<usize>,
    pub seeded: usize,
    pub not_comparable: usize,
    /// Outputs the notebook file given had nothing to compare with.
    #[serde(default)]
    pub not_in_notebook: usize,
    pub checks_passed: usize,
    pub checks_failed: Vec<String>,
    pub figures: usize,
    /// Every deviation, in order: (cell, what).
    pub deviations: Vec<(usize, String)>,
    /// Every notebook mistake found: (cell, title).
    pub findings: Vec<(usize, String)>,
}

impl Summary {
    pub fn of(records: &[Record]) -> Self {
        let mut s = Summary::default();
        for record in records {
            match record {
                Record::Header { title, origin } => {
                    s.title = title.clone();
                    s.origin = origin.clone();
                }
                Record::Heading { .. } | Record::Extra { .. } | Record::NotebookFile { .. } => {}
                Record::Cell { .. } => s.cells += 1,
                Record::Output { cell, status, .. } => {
                    s.compared += usize::from(status.compared());
                    match status {
                        Status::Verbatim => s.verbatim += 1,
                        Status::WithinTolerance { .. } | Status::NumberForNumber { .. } => {
                            s.within_tolerance += 1
                        }
                        Status::Mismatch => s.mismatched.push(*cell),
                        Status::Seeded { .. } => s.seeded += 1,
                        Status::NotComparable { .. } => s.not_comparable += 1,
                        Status::NotInNotebook { .. } => s.not_in_notebook += 1,
                    }
                    if let Some(what) = status.deviation() {
                        s.deviations.push((*cell, what));
                    }
                }
                Record::NotRun { cell, reason } => s.not_run.push((*cell, reason.clone())),
                Record::Finding { cell, title, .. } => s.findings.push((*cell, title.clone())),
                Record::Check { claim, passed, .. } => {
                    if *passed {
                        s.checks_passed += 1
                    } else {
                        s.checks_failed.push(claim.clone())
                    }
                }
                Record::Deviation { cell, what } => s.deviations.push((*cell, what.clone())),
                Record::Figure { .. } => s.figures += 1,
            }
        }
        s
    }

    /// Whether every compared output matched and every check passed.
    pub fn passed(&self) -> bool {
        self.mismatched.is_empty() && self.checks_failed.is_empty()
    }

    /// Outputs that cannot match by design, of either kind.
    pub fn incomparable(&self) -> usize {
        self.seeded + self.not_comparable
    }
}
