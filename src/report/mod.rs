//! The replication report: every chapter's records as a self-contained web page beside
//! the notebook's output, an index, and `report.json` for other tools.
//!
//! The pages are rendered from the same `Record`s the terminal renderer prints (see
//! `crate::notebook`), grouped here by cell; nothing is computed or formatted again but
//! the markup. `html` writes the pages, `diff` marks the characters where an output
//! differs from the notebook's.

pub mod diff;
pub mod html;

use crate::notebook::record::{Record, Status, Summary};
use serde::Serialize;

/// One chapter's run, as the report shows it.
#[derive(Clone, Debug)]
pub struct ChapterRun {
    pub number: usize,
    /// The chapter's title when it could not run (its records give it otherwise).
    pub title: String,
    pub records: Vec<Record>,
    /// Why the chapter could not run, if it could not.
    pub error: Option<String>,
    pub seconds: f64,
    /// The PNG files its figures were written to, by file name.
    pub figures: Vec<(String, Vec<u8>)>,
    /// The Jupyter notebook written beside the page, if one was.
    pub notebook: Option<String>,
}

impl ChapterRun {
    pub fn summary(&self) -> Summary {
        Summary::of(&self.records)
    }

    pub fn title(&self) -> String {
        let s = self.summary();
        if s.title.is_empty() {
            self.title.clone()
        } else {
            s.title
        }
    }

    /// Whether it ran and reproduced its notebook.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.summary().passed()
    }

    pub fn page_name(&self) -> String {
        format!("chapter-{}.html", self.number)
    }
}

/// A cell with everything recorded for it, in order.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CellView {
    /// 0 for what comes before the first cell.
    pub cell: usize,
    /// The notebook's markdown headings just before it.
    pub headings: Vec<String>,
    pub code: Option<String>,
    /// The notebook file's cell it reproduces, when a file was given.
    pub matched: Option<crate::ipynb::matching::CellMatch>,
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
            Record::Header { .. } => {}
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

/// `report.json`: one record per chapter and per cell.
#[derive(Serialize)]
pub struct JsonReport {
    pub crate_version: &'static str,
    pub device: String,
    pub chapters: Vec<JsonChapter>,
}

#[derive(Serialize)]
pub struct JsonChapter {
    pub chapter: usize,
    pub title: String,
    pub origin: String,
    pub page: String,
    pub ran: bool,
    pub error: Option<String>,
    pub seconds: f64,
    pub passed: bool,
    pub summary: JsonSummary,
    /// The notebook file compared against and how its cells matched, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notebook_file: Option<JsonNotebookFile>,
    pub cells: Vec<JsonCell>,
}

/// The notebook file a chapter was compared against.
#[derive(Serialize)]
pub struct JsonNotebookFile {
    pub file: String,
    pub sha256: String,
    pub code_cells: usize,
    /// How many chapter cells matched by each rule.
    pub matched_by: std::collections::BTreeMap<String, usize>,
    pub unmatched_chapter_cells: Vec<usize>,
    /// The file's code cells (numbered from 1) that no chapter cell reproduces.
    pub unmatched_file_cells: Vec<JsonFileCell>,
}

/// A cell of the notebook file.
#[derive(Serialize)]
pub struct JsonFileCell {
    pub cell: usize,
    pub id: Option<String>,
    pub first_line: String,
}

impl JsonNotebookFile {
    fn of(records: &[Record]) -> Option<Self> {
        records.iter().find_map(|r| match r {
            Record::NotebookFile {
                file,
                sha256,
                code_cells,
                matched_by,
                unmatched_chapter_cells,
                unmatched_file_cells,
            } => Some(Self {
                file: file.clone(),
                sha256: sha256.clone(),
                code_cells: *code_cells,
                matched_by: matched_by
                    .iter()
                    .map(|(rule, n)| (rule.name().to_string(), *n))
                    .collect(),
                unmatched_chapter_cells: unmatched_chapter_cells.clone(),
                unmatched_file_cells: unmatched_file_cells
                    .iter()
                    .map(|(index, id, first_line)| JsonFileCell {
                        cell: index + 1,
                        id: id.clone(),
                        first_line: first_line.clone(),
                    })
                    .collect(),
            }),
            _ => None,
        })
    }
}

#[derive(Serialize)]
pub struct JsonSummary {
    pub cells: usize,
    pub cells_not_run: usize,
    pub outputs_compared: usize,
    pub verbatim: usize,
    pub within_tolerance: usize,
    pub mismatched: usize,
    pub not_comparable_by_design: usize,
    /// Outputs the notebook file given had nothing to compare with.
    pub nothing_to_compare_with: usize,
    pub checks_passed: usize,
    pub checks_failed: usize,
    pub notebook_mistakes: usize,
    pub figures: usize,
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
        }
    }
}

#[derive(Serialize)]
pub struct JsonCell {
    pub cell: usize,
    pub headings: Vec<String>,
    pub code: Option<String>,
    /// The output computed here, if the cell printed one.
    pub output: Option<String>,
    /// What the notebook printed for it, if it printed anything.
    pub notebook_output: Option<String>,
    /// `verbatim`, `within_tolerance`, `number_for_number`, `mismatch`, `seeded`,
    /// `not_comparable`, `not_run`, or `no_output`.
    pub status: String,
    pub reason: Option<String>,
    pub largest_absolute_difference: Option<f64>,
    pub largest_relative_difference: Option<f64>,
    pub figures: Vec<String>,
    pub checks: Vec<JsonCheck>,
    pub notebook_mistakes: Vec<String>,
    /// The notebook file's cell it matched (numbered from 1) and by which rule, when a
    /// file was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<JsonMatch>,
}

/// How a chapter cell matched a cell of the notebook file.
#[derive(Serialize)]
pub struct JsonMatch {
    pub file_cell: usize,
    pub id: Option<String>,
    pub rule: &'static str,
}

#[derive(Serialize)]
pub struct JsonCheck {
    pub claim: String,
    pub passed: bool,
    pub detail: String,
}

impl JsonCell {
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

/// The whole report as JSON.
pub fn json(runs: &[ChapterRun], device: &str) -> JsonReport {
    JsonReport {
        crate_version: env!("CARGO_PKG_VERSION"),
        device: device.into(),
        chapters: runs
            .iter()
            .map(|run| {
                let s = run.summary();
                JsonChapter {
                    chapter: run.number,
                    title: run.title(),
                    origin: s.origin.clone(),
                    page: run.page_name(),
                    ran: run.error.is_none(),
                    error: run.error.clone(),
                    seconds: run.seconds,
                    passed: run.passed(),
                    summary: JsonSummary::from(&s),
                    notebook_file: JsonNotebookFile::of(&run.records),
                    cells: cells(&run.records).iter().map(JsonCell::of).collect(),
                }
            })
            .collect(),
    }
}
