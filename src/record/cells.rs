//! A run's records grouped by cell (`cells`), and each cell's entry as JSON (`JsonCell`,
//! `JsonSummary`): what `report.json` holds per chapter and a written notebook's
//! `metadata.crossent` holds per cell, so that the two say the same by construction.

use super::{CellMatch, Record, Status, Summary};
use serde::Serialize;

/// A cell with everything recorded for it, in order.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CellView {
    /// 0 for what comes before the first cell.
    pub cell: usize,
    /// The notebook's markdown headings just before it.
    pub headings: Vec<String>,
    /// The notebook's code of the cell (none before the first).
    pub code: Option<String>,
    /// The notebook file's cell it reproduces, when a file was given.
    pub matched: Option<CellMatch>,
    /// The records after the cell's code, in order.
    #[serde(skip)]
    pub items: Vec<Record>,
}

/// The records grouped by cell, in order.
pub fn cells(records: &[Record]) -> Vec<CellView> {
    let mut views = vec![CellView::default()];
    let mut headings = Vec::new();
    for record in records {
        match record {
            Record::Header { .. } | Record::Conventions { .. } => {}
            Record::Heading { text } => headings.push(text.clone()),
            Record::Cell {
                cell,
                code,
                matched,
            } => views.push(CellView {
                cell: *cell,
                headings: std::mem::take(&mut headings),
                code: Some(code.clone()),
                matched: matched.clone(),
                items: Vec::new(),
            }),
            other => views
                .last_mut()
                .expect("there is always a group")
                .items
                .push(other.clone()),
        }
    }
    views.retain(|v| v.code.is_some() || !v.items.is_empty());
    views
}

/// A chapter's counts in `report.json` (see `Summary`).
#[derive(Serialize)]
pub struct JsonSummary {
    /// Cells run.
    pub cells: usize,
    /// Cells not run.
    pub cells_not_run: usize,
    /// Outputs compared with the notebook.
    pub outputs_compared: usize,
    /// Outputs printed exactly as the notebook printed them.
    pub verbatim: usize,
    /// Outputs within a stated tolerance.
    pub within_tolerance: usize,
    /// Outputs that differ.
    pub mismatched: usize,
    /// Outputs not comparable by design (seeded, or with a stated reason).
    pub not_comparable_by_design: usize,
    /// Outputs the notebook file given had nothing to compare with.
    pub nothing_to_compare_with: usize,
    /// The chapter's own checks that passed.
    pub checks_passed: usize,
    /// Those that failed.
    pub checks_failed: usize,
    /// Notebook mistakes found.
    pub notebook_mistakes: usize,
    /// Figures written.
    pub figures: usize,
    /// The display conventions the run printed by.
    pub display_conventions: JsonConventions,
}

/// The display conventions of a run (see `crate::pt::conventions`).
#[derive(Serialize)]
pub struct JsonConventions {
    /// `grad_fn` names with their number (`NllLossBackward0`, PyTorch 1.10 and later).
    pub grad_fn_number: bool,
    /// IPython 8's layout of sequences with a multi-line item.
    pub ipython8_sequences: bool,
    /// The figure size in pixels matplotlib reports.
    pub figure_size: [u32; 2],
    /// Where they come from: the notebook file's outputs (and which showed them), or
    /// the original notebooks'.
    pub decided_by: String,
}

impl From<&Summary> for JsonSummary {
    fn from(s: &Summary) -> Self {
        Self {
            cells: s.cells,
            cells_not_run: s.not_run.len(),
            outputs_compared: s.compared,
            verbatim: s.verbatim,
            within_tolerance: s.within_tolerance,
            mismatched: s.mismatched.len(),
            not_comparable_by_design: s.incomparable(),
            nothing_to_compare_with: s.not_in_notebook,
            checks_passed: s.checks_passed,
            checks_failed: s.checks_failed.len(),
            notebook_mistakes: s.findings.len(),
            figures: s.figures,
            display_conventions: JsonConventions {
                grad_fn_number: s.conventions.grad_fn_number,
                ipython8_sequences: s.conventions.ipython8_sequences,
                figure_size: [s.conventions.figure_size.0, s.conventions.figure_size.1],
                decided_by: s
                    .conventions_decided_by
                    .clone()
                    .unwrap_or_else(|| "the original notebooks' (no notebook file given)".into()),
            },
        }
    }
}

/// One cell in `report.json`.
#[derive(Serialize)]
pub struct JsonCell {
    /// The cell's number in the chapter.
    pub cell: usize,
    /// The notebook's headings just before it.
    pub headings: Vec<String>,
    /// The notebook's code.
    pub code: Option<String>,
    /// The output computed here, if the cell printed one.
    pub output: Option<String>,
    /// What the notebook printed for it, if it printed anything.
    pub notebook_output: Option<String>,
    /// `verbatim`, `within_tolerance`, `number_for_number`, `mismatch`, `seeded`,
    /// `not_comparable`, `not_run`, or `no_output`.
    pub status: String,
    /// Why it is not verbatim, where it is not.
    pub reason: Option<String>,
    /// The largest absolute difference between its numbers and the notebook's.
    pub largest_absolute_difference: Option<f64>,
    /// The largest relative difference.
    pub largest_relative_difference: Option<f64>,
    /// The file names of the figures it drew.
    pub figures: Vec<String>,
    /// The chapter's own checks made in it.
    pub checks: Vec<JsonCheck>,
    /// The notebook mistakes found in it.
    pub notebook_mistakes: Vec<String>,
    /// The notebook file's cell it matched (numbered from 1) and by which rule, when a
    /// file was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<JsonMatch>,
}

/// How a chapter cell matched a cell of the notebook file.
#[derive(Serialize)]
pub struct JsonMatch {
    /// The file cell's number, from 1.
    pub file_cell: usize,
    /// Its id, if it has one.
    pub id: Option<String>,
    /// The rule that matched: `id`, `source`, `similarity` or `order`.
    pub rule: &'static str,
    /// Every file cell it reproduces, numbered from 1, where it spans several or is a
    /// part of one (`notebook cells 44–46`, `notebook cell 28, lines 2–4 of 4`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spans: Option<JsonSpan>,
}

/// The file cells a chapter cell spans, or the part of one it is.
#[derive(Serialize)]
pub struct JsonSpan {
    /// The file cells, numbered from 1.
    pub file_cells: Vec<usize>,
    /// As the chapter's header says it.
    pub described: String,
    /// Whether the output the file cells displayed is this chapter cell's.
    pub holds_output: bool,
}

impl JsonSpan {
    /// The span of `m`, where it spans several file cells or is a part of one.
    pub fn of(m: &CellMatch) -> Option<Self> {
        (!m.continued_in.is_empty() || m.part.is_some()).then(|| JsonSpan {
            file_cells: m.cells().map(|i| i + 1).collect(),
            described: m.describe(),
            holds_output: m.holds_output(),
        })
    }
}

/// A check of the chapter's own.
#[derive(Serialize)]
pub struct JsonCheck {
    /// What it claims.
    pub claim: String,
    /// Whether it held.
    pub passed: bool,
    /// The figures behind it.
    pub detail: String,
}

impl JsonCell {
    /// The cell's entry, from what was recorded for it.
    pub fn of(view: &CellView) -> Self {
        let mut cell = JsonCell {
            cell: view.cell,
            headings: view.headings.clone(),
            code: view.code.clone(),
            output: None,
            notebook_output: None,
            status: "no_output".into(),
            reason: None,
            largest_absolute_difference: None,
            largest_relative_difference: None,
            figures: Vec::new(),
            checks: Vec::new(),
            notebook_mistakes: Vec::new(),
            matched: view.matched.as_ref().map(|m| JsonMatch {
                file_cell: m.index + 1,
                id: m.id.clone(),
                rule: m.rule.name(),
                spans: JsonSpan::of(m),
            }),
        };
        for item in &view.items {
            match item {
                Record::Output {
                    output,
                    notebook,
                    status,
                    ..
                } => {
                    cell.output = Some(output.clone());
                    cell.notebook_output = Some(notebook.clone());
                    cell.status = status.name().into();
                    match status {
                        Status::WithinTolerance {
                            largest_absolute,
                            largest_relative,
                            reason,
                            ..
                        } => {
                            cell.largest_absolute_difference = Some(*largest_absolute);
                            cell.largest_relative_difference = Some(*largest_relative);
                            cell.reason = Some(reason.clone());
                        }
                        Status::NumberForNumber { damage: reason }
                        | Status::Seeded { reason }
                        | Status::NotComparable { reason }
                        | Status::NotInNotebook { reason } => cell.reason = Some(reason.clone()),
                        Status::Verbatim | Status::Mismatch => {}
                    }
                }
                Record::NotRun { reason, .. } => {
                    cell.status = "not_run".into();
                    cell.reason = Some(reason.clone());
                }
                Record::Figure { file, .. } => cell.figures.push(file.clone()),
                Record::Check {
                    claim,
                    passed,
                    detail,
                    ..
                } => cell.checks.push(JsonCheck {
                    claim: claim.clone(),
                    passed: *passed,
                    detail: detail.clone(),
                }),
                Record::Finding { title, .. } => cell.notebook_mistakes.push(title.clone()),
                _ => {}
            }
        }
        cell
    }
}
