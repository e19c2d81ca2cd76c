//! The replication report: every chapter's records as a self-contained web page beside
//! the notebook's output, an index, and `report.json` for other tools.
//!
//! The pages are rendered from the same `Record`s the terminal renderer prints (see
//! `crate::notebook`), grouped here by cell; nothing is computed or formatted again but
//! the markup. `html` writes the pages, `diff` marks the characters where an output
//! differs from the notebook's.

pub mod diff;
pub mod html;

use crate::record::cells::{cells, JsonCell, JsonSummary};
use crate::record::{Record, Summary};
use serde::Serialize;

/// One chapter's run, as the report shows it.
#[derive(Clone, Debug)]
pub struct ChapterRun {
    /// The chapter's number.
    pub number: usize,
    /// The chapter's title when it could not run (its records give it otherwise).
    pub title: String,
    /// What the run recorded, in order.
    pub records: Vec<Record>,
    /// Why the chapter could not run, if it could not.
    pub error: Option<String>,
    /// How long it ran.
    pub seconds: f64,
    /// The PNG files its figures were written to, by file name.
    pub figures: Vec<(String, Vec<u8>)>,
    /// The Jupyter notebook written beside the page, if one was.
    pub notebook: Option<String>,
    /// For a run of `replicate` rather than a chapter: the notebook file it ran.
    pub replicated: Option<String>,
    /// What `replicate` alone achieved on the chapter's own file, when it was given one.
    pub alone: Option<Box<ChapterRun>>,
}

impl ChapterRun {
    /// The counts of its records.
    pub fn summary(&self) -> Summary {
        Summary::of(&self.records)
    }

    /// Its title: the one recorded, else the one it was given.
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

    /// Its page's file name: `chapter-N.html`, or for `replicate`'s run of a notebook
    /// `replicate-NAME.html` (the file's name without `.ipynb`).
    pub fn page_name(&self) -> String {
        match &self.replicated {
            Some(file) => format!("replicate-{}.html", file.trim_end_matches(".ipynb")),
            None => format!("chapter-{}.html", self.number),
        }
    }
}

/// `report.json`: one record per chapter and per cell.
#[derive(Serialize)]
pub struct JsonReport {
    /// This crate's version.
    pub crate_version: &'static str,
    /// The device the chapters ran on.
    pub device: String,
    /// The chapters, in order.
    pub chapters: Vec<JsonChapter>,
}

/// One chapter in `report.json`.
#[derive(Serialize)]
pub struct JsonChapter {
    /// The chapter's number (0 for a notebook run by `replicate`).
    pub chapter: usize,
    /// For a notebook run by `replicate`: its file name.
    pub replicated: Option<String>,
    /// What `replicate` alone achieved on the chapter's file, when it was given one.
    pub replicate_alone: Option<Box<JsonChapter>>,
    /// Its title.
    pub title: String,
    /// Where its notebook comes from.
    pub origin: String,
    /// Its page's file name.
    pub page: String,
    /// Whether it ran.
    pub ran: bool,
    /// Why it could not run, if it could not.
    pub error: Option<String>,
    /// How long it ran.
    pub seconds: f64,
    /// Whether it ran and reproduced its notebook.
    pub passed: bool,
    /// Its counts.
    pub summary: JsonSummary,
    /// The notebook file compared against and how its cells matched, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notebook_file: Option<JsonNotebookFile>,
    /// Its cells, in order.
    pub cells: Vec<JsonCell>,
}

/// The notebook file a chapter was compared against.
#[derive(Serialize)]
pub struct JsonNotebookFile {
    /// The file's name.
    pub file: String,
    /// The sha256 of its bytes, in hex.
    pub sha256: String,
    /// How many code cells it has.
    pub code_cells: usize,
    /// How many chapter cells matched by each rule.
    pub matched_by: std::collections::BTreeMap<String, usize>,
    /// The chapter cells no file cell matched.
    pub unmatched_chapter_cells: Vec<usize>,
    /// The file's code cells (numbered from 1) that no chapter cell reproduces.
    pub unmatched_file_cells: Vec<JsonFileCell>,
    /// The file's outputs that no output of the chapter was compared with.
    pub uncompared_outputs: Vec<JsonUncompared>,
}

/// An output of the notebook file that no output of the chapter was compared with.
#[derive(Serialize)]
pub struct JsonUncompared {
    /// The file cell that displayed it, numbered from 1.
    pub cell: usize,
    /// Why it was not compared.
    pub reason: String,
}

/// A cell of the notebook file.
#[derive(Serialize)]
pub struct JsonFileCell {
    /// The cell's number.
    pub cell: usize,
    /// Its id, if it has one.
    pub id: Option<String>,
    /// The first line of its source.
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
                uncompared_outputs,
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
                uncompared_outputs: uncompared_outputs
                    .iter()
                    .map(|(index, reason)| JsonUncompared {
                        cell: index + 1,
                        reason: reason.clone(),
                    })
                    .collect(),
            }),
            _ => None,
        })
    }
}

/// The whole report as JSON.
pub fn json(runs: &[ChapterRun], device: &str) -> JsonReport {
    JsonReport {
        crate_version: env!("CARGO_PKG_VERSION"),
        device: device.into(),
        chapters: runs.iter().map(json_chapter).collect(),
    }
}

fn json_chapter(run: &ChapterRun) -> JsonChapter {
    let s = run.summary();
    JsonChapter {
        chapter: run.number,
        replicated: run.replicated.clone(),
        replicate_alone: run.alone.as_deref().map(|a| Box::new(json_chapter(a))),
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
}
