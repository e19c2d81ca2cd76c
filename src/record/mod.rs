//! What a chapter run records: one `Record` per event of the notebook (a cell, its
//! output and how it compares, a check, a finding, a figure), in order. The terminal
//! output, the HTML report and `report.json` are all rendered from these records, so no
//! value is computed or formatted twice. `Summary` counts them.

pub mod cells;
pub mod matched;

use crate::pt::Conventions;
pub use matched::{CellMatch, Part, Rule};
use serde::{Deserialize, Serialize};

/// One event of a chapter run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// The chapter's header: its title and where its notebook comes from.
    Header {
        /// The chapter's title.
        title: String,
        /// Where its notebook comes from.
        origin: String,
    },
    /// The display conventions read from the notebook file given (recorded only with a
    /// file: without one, the original notebooks' hold).
    Conventions {
        /// The conventions chosen.
        conventions: Conventions,
        /// Which of them the file's outputs showed, and which followed their era.
        decided_by: String,
    },
    /// A markdown heading of the notebook.
    Heading {
        /// The heading's text.
        text: String,
    },
    /// A code cell, numbered from 1; with a notebook file given, the file cell it
    /// reproduces and by which rule it was matched.
    Cell {
        /// The cell's number.
        cell: usize,
        /// The notebook's code.
        code: String,
        /// The notebook file's cell it reproduces, when a file was given and one matched.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        matched: Option<CellMatch>,
    },
    /// The output computed here, the notebook's printed output, and how they compare;
    /// with the unrounded values behind a printed tensor, where the chapter keeps them
    /// (the CUDA parity test compares them).
    Output {
        /// The cell it belongs to.
        cell: usize,
        /// What the chapter printed.
        output: String,
        /// What the notebook printed.
        notebook: String,
        /// How the two compare.
        status: Status,
        /// The unrounded values behind the printed output, where the chapter keeps them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        values: Vec<f64>,
    },
    /// A cell that could not run here.
    NotRun {
        /// The cell.
        cell: usize,
        /// Why it could not run.
        reason: String,
    },
    /// A mistake of the notebook, shown and explained.
    Finding {
        /// The cell it was found in.
        cell: usize,
        /// The mistake, in a line.
        title: String,
        /// What is wrong, and the demonstration.
        explanation: String,
    },
    /// Output of the chapter's own that the notebook did not print.
    Extra {
        /// The cell it belongs to.
        cell: usize,
        /// What it is.
        label: String,
        /// The text.
        text: String,
    },
    /// A check of the chapter's own.
    Check {
        /// The cell it belongs to.
        cell: usize,
        /// What it claims.
        claim: String,
        /// Whether it held.
        passed: bool,
        /// The figures behind it.
        detail: String,
    },
    /// A known difference from the notebook that is not a failure.
    Deviation {
        /// The cell it belongs to.
        cell: usize,
        /// The difference, in words.
        what: String,
    },
    /// A figure the cell drew: its file, relative to the chapter's output folder.
    Figure {
        /// The cell that drew it.
        cell: usize,
        /// Its file name, relative to the chapter's output folder.
        file: String,
        /// The plotted series in rounded numbers (what the snapshot holds).
        summary: String,
        /// The base64 PNGs the notebook file's cell displayed, for the report to show
        /// beside ours (not serialised: the file holds them).
        #[serde(skip)]
        original_images: Vec<String>,
    },
    /// The notebook file compared against, and how the chapter's cells matched its cells.
    NotebookFile {
        /// The file's name.
        file: String,
        /// The sha256 of its bytes, in hex.
        sha256: String,
        /// How many code cells it has.
        code_cells: usize,
        /// How many chapter cells matched by each rule, in rule order.
        matched_by: Vec<(Rule, usize)>,
        /// Chapter cells that matched no cell of the file.
        unmatched_chapter_cells: Vec<usize>,
        /// The file's code cells that no chapter cell reproduces: (index from 0, id, the
        /// first line of its source).
        unmatched_file_cells: Vec<(usize, Option<String>, String)>,
        /// The outputs the file holds that no output of the chapter was compared with:
        /// (the file cell's index from 0, why).
        #[serde(default)]
        uncompared_outputs: Vec<(usize, String)>,
    },
}

/// How an output compares with the notebook's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Printed exactly as the notebook printed it.
    Verbatim,
    /// Every number within `tolerance` of the notebook's.
    WithinTolerance {
        /// The tolerance the chapter states.
        tolerance: f64,
        /// The largest absolute difference found.
        largest_absolute: f64,
        /// The largest relative difference found.
        largest_relative: f64,
        /// Why a tolerance is needed.
        reason: String,
    },
    /// The notebook's export damaged the text; the numbers match as printed.
    NumberForNumber {
        /// What the export damaged.
        damage: String,
    },
    /// Differs from the notebook's: a failure.
    Mismatch,
    /// Depends on a random draw the notebook did not record.
    Seeded {
        /// Which draw.
        reason: String,
    },
    /// Cannot match by design (a path on the author's machine, another copy of data).
    NotComparable {
        /// Why.
        reason: String,
    },
    /// The notebook file given has no output to compare with (no cell of it matches, or
    /// the matching cell printed nothing).
    NotInNotebook {
        /// Which of the two.
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
    /// The chapter's title.
    pub title: String,
    /// Where its notebook comes from.
    pub origin: String,
    /// Cells run.
    pub cells: usize,
    /// Cells not run: (cell, why).
    pub not_run: Vec<(usize, String)>,
    /// Outputs compared with the notebook.
    pub compared: usize,
    /// Outputs printed exactly as the notebook printed them.
    pub verbatim: usize,
    /// Within a stated tolerance, or number for number where the export is damaged.
    pub within_tolerance: usize,
    /// The cells whose output differs from the notebook's.
    pub mismatched: Vec<usize>,
    /// Outputs that depend on the notebook's unrecorded random draws.
    pub seeded: usize,
    /// Outputs not comparable by design, each with its reason.
    pub not_comparable: usize,
    /// Outputs the notebook file given had nothing to compare with.
    #[serde(default)]
    pub not_in_notebook: usize,
    /// The chapter's own checks that passed.
    pub checks_passed: usize,
    /// The claims of those that failed.
    pub checks_failed: Vec<String>,
    /// Figures written.
    pub figures: usize,
    /// Every deviation, in order: (cell, what).
    pub deviations: Vec<(usize, String)>,
    /// Every notebook mistake found: (cell, title).
    pub findings: Vec<(usize, String)>,
    /// The display conventions the run printed by.
    #[serde(default)]
    pub conventions: Conventions,
    /// How they were read from the notebook file given; `None`: the originals'.
    #[serde(default)]
    pub conventions_decided_by: Option<String>,
}

impl Summary {
    /// The counts of these records.
    pub fn of(records: &[Record]) -> Self {
        let mut s = Summary::default();
        for record in records {
            match record {
                Record::Header { title, origin } => {
                    s.title = title.clone();
                    s.origin = origin.clone();
                }
                Record::Conventions {
                    conventions,
                    decided_by,
                } => {
                    s.conventions = *conventions;
                    s.conventions_decided_by = Some(decided_by.clone());
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
