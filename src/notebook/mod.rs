//! The cell harness: prints a chapter cell by cell and checks it against its notebook.
//!
//! Each cell prints its label, the notebook's code and what the chapter computed, then
//! compares that output with the text the notebook printed: verbatim, or within a
//! tolerance that the chapter states with its reason. Checks of the chapter's own
//! (the library agrees with the manual version, a gradient matches autograd) and
//! figures go through the same harness. `finish` prints the summary and gives the exit
//! code: non-zero when any output stopped matching or any check failed.
//!
//! The harness records every event as a `Record` (see `crate::record`) and prints it
//! at once through the terminal renderer (`terminal`); the same records become the HTML
//! report and `report.json` (see `crate::report`). With `CROSSENT_RECORD=FILE` set, `finish`
//! also writes the records to FILE as JSON.
//!
//! A silent harness prints nothing and only measures how far the outputs are from the
//! notebook's printed values; `refine` uses it to choose inputs.
//!
//! Given a notebook file (`--notebook`), the file is the oracle: each cell is matched to
//! the file's cell (see `crate::ipynb::matching`) and compared with what that cell
//! printed, instead of the text built into the chapter. Until the matcher has judged
//! that the file is the chapter's notebook, what the chapter prints is held back, so
//! that a wrong file ends in its one error line. With `--write-notebook`, `finish` also
//! writes the run as a Jupyter notebook (see `crate::ipynb::write`).
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use crossent::record::{Record, Status};
//! use crossent::notebook::Notebook;
//! let mut nb = Notebook::for_chapter(9, "Chapter 9 — Softmax", "a test", &Default::default())?;
//! nb.heading("Softmax");
//! let sm = candle_nn::ops::softmax(&Tensor::new(&[1f32, 2., 3.], &Device::Cpu)?, 0)?;
//! nb.tensor("torch.tensor([1., 2., 3.]).softmax(0)", &sm, "tensor([0.0900, 0.2447, 0.6652])")?;
//! let total = sm.sum_all()?.to_scalar::<f32>()?;
//! nb.check("softmax sums to 1", (total - 1.0).abs() < 1e-6, "");
//! assert!(nb.passed());
//! let records = nb.into_records()?;
//! assert!(records.iter().any(|r| matches!(r, Record::Output { status: Status::Verbatim, .. })));
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod terminal;

use crate::cli::NotebookArgs;
use crate::ipynb::{Matcher, NotebookFile};
use crate::printed::{self, PrintedNumber};
use crate::pt;
use crate::record::{CellMatch, Record, Status, Summary};
use anyhow::{bail, Result};
use candle_core::Tensor;
use std::borrow::Cow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// An agreed tolerance for an output that cannot match the notebook digit for digit.
#[derive(Clone, Debug)]
pub struct Tolerance {
    /// The largest absolute difference accepted, number by number.
    pub abs: f64,
    /// Why the output cannot match verbatim.
    pub reason: String,
}

/// A tolerance being measured on another thread, for an output shown with
/// `Notebook::show_within_later`: the tolerance, or why it could not be measured.
pub type LaterTolerance = std::sync::mpsc::Receiver<std::result::Result<Tolerance, String>>;

/// What the harness holds back from printing, in order: text rendered already, and
/// outputs whose tolerance is still being measured (each holds back all that follows).
enum Held {
    Text(String),
    Output {
        record: usize,
        tolerance: LaterTolerance,
    },
}

/// How far a run's outputs lie from the notebook's printed values (see `refine`).
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Misfit {
    /// Sum over printed numbers of the distance outside their rounding interval, in
    /// half units of the last digit: 0 means every number prints as the notebook's.
    pub outside: f64,
    /// The same against intervals shrunk to `MARGIN` of their width: 0 means no value
    /// sits near a rounding boundary, where one ulp could change its last digit.
    pub near_edge: f64,
    /// How many printed numbers would print differently from the notebook's.
    pub numbers_outside: usize,
}

/// The share of each rounding interval that `Misfit::near_edge` accepts.
const MARGIN: f64 = 0.8;

/// A penalty for an output whose shape of text differs from the notebook's.
const TEXT_MISMATCH: f64 = 1.0e6;

/// A figure drawn by a cell; the drawing itself is done by the chapter's plotting code,
/// which hands back where it wrote the file.
#[derive(Clone, Debug)]
pub struct FigureRecord {
    /// The path of the written image, relative to the chapter's output folder.
    pub relative_path: String,
    /// A short, deterministic description of what was plotted (series and rounded
    /// values) for the snapshot.
    pub summary: String,
}

/// The harness for one chapter run.
pub struct Notebook {
    silent: bool,
    cells: usize,
    records: Vec<Record>,
    /// Off the CPU, last-digit differences are reported as deviations, not failures.
    device_tolerance: Option<Tolerance>,
    device_name: String,
    misfit: Misfit,
    /// The chapter's number, which names its cells in the notebooks it writes.
    chapter: usize,
    /// The notebook file compared against, and the matching of its cells.
    matcher: Option<Arc<Matcher>>,
    /// Cells asked for so far, printed or not (the matching goes by it).
    position: usize,
    /// What is held back from printing: everything until the matcher accepts the file,
    /// and all that follows an output whose tolerance is still being measured.
    held: std::collections::VecDeque<Held>,
    /// Why a tolerance measured on another thread could not be: the run fails with it.
    failure: Option<String>,
    /// Lines for stderr held back the same way.
    pending_warnings: Vec<String>,
    /// Where `finish` writes the run as a notebook.
    write_to: Option<PathBuf>,
    /// The folder the chapter writes its figures into.
    figure_dir: Option<PathBuf>,
    /// Set once the run draws what the notebook drew (seeded as its file seeds): the
    /// outputs that depend on the draws are then compared, within this tolerance.
    draws_tolerance: Option<Tolerance>,
}

impl Notebook {
    /// A harness that prints nothing and only measures the misfit.
    pub fn silent() -> Self {
        Self::with_mode(true)
    }

    /// The harness of chapter number `chapter`, with the notebook flags: a notebook file
    /// to compare against (read and checked here: a bad file is one error) and one to
    /// write. Its first record is the chapter's header (title and origin). A chapter
    /// makes its harness through its description, `crate::chapter::Chapter::notebook`.
    ///
    /// ```
    /// use crossent::cli::NotebookArgs;
    /// use crossent::notebook::Notebook;
    ///
    /// let mut nb = Notebook::for_chapter(9, "Chapter 9 — Arithmetic", "a test", &NotebookArgs::default())?;
    /// nb.show("1 + 1", "2", "2");
    /// nb.show("2 + 2", "4", "5");
    /// assert!(!nb.passed());
    /// assert_eq!(nb.summary().mismatched.len(), 1);
    /// # Ok::<(), anyhow::Error>(())
    /// ```
    pub fn for_chapter(
        chapter: usize,
        title: &str,
        origin: &str,
        args: &NotebookArgs,
    ) -> Result<Self> {
        let mut nb = Self::with_mode(false);
        nb.chapter = chapter;
        if let Some(path) = &args.notebook {
            let file = NotebookFile::read(path)?;
            nb.matcher = Some(Arc::new(Matcher::new(Arc::new(file), chapter)));
        }
        if let Some(path) = &args.write_notebook {
            nb.write_to = Some(checked_destination(path)?);
        }
        nb.record(Record::Header {
            title: title.into(),
            origin: origin.into(),
        });
        // What the run prints by: the file's conventions, else the original notebooks'.
        match nb.notebook_file() {
            Some(file) => {
                let printed = file.code_cells().filter_map(|c| c.printed.as_deref());
                let (conventions, decided_by) = pt::Conventions::from_printed(printed);
                pt::conventions::set(conventions);
                nb.record(Record::Conventions {
                    conventions,
                    decided_by,
                });
            }
            None => pt::conventions::set(pt::Conventions::ORIGINAL),
        }
        Ok(nb)
    }

    /// The seed the notebook file gives PyTorch's global generator before its first
    /// random draw, the cell whose code is `first_draw` (`torch.manual_seed(N)` in that
    /// cell or an earlier one); `None` without a file, or when the file sets no such seed.
    /// A seed set only after the first draw cannot replay the draws before it: it is
    /// said on stderr and not used.
    pub fn notebook_seed(&mut self, first_draw: &str) -> Option<u64> {
        let matcher = self.matcher.clone()?;
        let first = matcher.find(first_draw).map_or(usize::MAX, |m| m.last());
        let seeds: Vec<_> = matcher
            .file()
            .seeds()
            .into_iter()
            .filter(|s| s.global)
            .collect();
        match seeds.iter().rfind(|s| s.cell <= first) {
            Some(seed) => Some(seed.seed),
            None => {
                if let Some(late) = seeds.first() {
                    self.warn(&format!(
                        "note: {} seeds PyTorch only in cell {}, after its first random draw; \
                         the outputs that depend on the draws are not compared",
                        matcher.file().name,
                        late.cell + 1
                    ));
                }
                None
            }
        }
    }

    /// Declares that this run draws what the notebook drew (its generator seeded as the
    /// notebook's file seeds PyTorch's): from here on, `show_seeded` compares the outputs
    /// that depend on the draws, within `tolerance` where they are not verbatim.
    pub fn draws_as_the_notebook(&mut self, tolerance: Tolerance) {
        self.draws_tolerance = Some(tolerance);
    }

    /// Whether the run's random draws are the notebook's (see `draws_as_the_notebook`).
    pub fn draws_match(&self) -> bool {
        self.draws_tolerance.is_some()
    }

    /// A silent harness that compares against the same notebook file as this one, for
    /// `refine`'s runs.
    pub fn silent_twin(&self) -> Self {
        let mut twin = Self::with_mode(true);
        twin.chapter = self.chapter;
        twin.matcher = self.matcher.clone();
        twin.device_tolerance = self.device_tolerance.clone();
        twin
    }

    fn with_mode(silent: bool) -> Self {
        Self {
            silent,
            cells: 0,
            records: Vec::new(),
            device_tolerance: None,
            device_name: "cpu".into(),
            misfit: Misfit::default(),
            chapter: 0,
            matcher: None,
            position: 0,
            held: std::collections::VecDeque::new(),
            failure: None,
            pending_warnings: Vec::new(),
            write_to: None,
            figure_dir: None,
            draws_tolerance: None,
        }
    }

    /// Tells the harness where the chapter writes its figures, so that a notebook written
    /// from the run can hold them.
    pub fn figures_in(&mut self, dir: &std::path::Path) {
        self.figure_dir = Some(dir.to_path_buf());
    }

    /// The notebook file compared against, if one was given.
    pub fn notebook_file(&self) -> Option<&Arc<NotebookFile>> {
        self.matcher.as_ref().map(|m| m.file())
    }

    /// The records, for a renderer that keeps them (the report); fails as `finish` does
    /// when the notebook file given turned out not to be the chapter's.
    pub fn into_records(mut self) -> Result<Vec<Record>> {
        self.close()?;
        Ok(self.records)
    }

    /// Ends the matching: judges the file if it is still undecided, prints what was held
    /// back, and records how the cells matched.
    fn close(&mut self) -> Result<()> {
        let Some(matcher) = self.matcher.clone() else {
            self.release(true);
            return self.failed();
        };
        if let Err(why) = matcher.decide_now() {
            bail!(why);
        }
        self.release(true);
        self.failed()?;
        let file = matcher.file();
        let mut matched_by: Vec<(crate::record::Rule, usize)> = Vec::new();
        let mut unmatched_chapter_cells = Vec::new();
        for record in &self.records {
            if let Record::Cell { cell, matched, .. } = record {
                match matched {
                    Some(m) => match matched_by.iter_mut().find(|(r, _)| *r == m.rule) {
                        Some((_, n)) => *n += 1,
                        None => matched_by.push((m.rule, 1)),
                    },
                    None => unmatched_chapter_cells.push(*cell),
                }
            }
        }
        matched_by.sort_by_key(|(rule, _)| *rule as u8);
        let unmatched_file_cells = matcher
            .unmatched_file_cells()
            .into_iter()
            .map(|i| {
                let cell = &file.cells[i];
                let first = cell.source.trim().lines().next().unwrap_or("");
                let first: String = first.chars().take(70).collect();
                (i, cell.id.clone(), first)
            })
            .collect();
        let uncompared_outputs = uncompared_outputs(&self.records, file);
        self.record(Record::NotebookFile {
            file: file.name.clone(),
            sha256: file.sha256.clone(),
            code_cells: file.code_cells().count(),
            matched_by,
            unmatched_chapter_cells,
            unmatched_file_cells,
            uncompared_outputs,
        });
        Ok(())
    }

    /// An error when a tolerance measured on another thread could not be.
    fn failed(&self) -> Result<()> {
        match &self.failure {
            Some(why) => bail!("a tolerance could not be measured: {why}"),
            None => Ok(()),
        }
    }

    /// Prints what is held back, in order, as far as it can: nothing while the file is
    /// being judged, and up to the first output whose tolerance has not arrived (with
    /// `wait`, waiting for each). A file refused drops it all.
    fn release(&mut self, wait: bool) {
        match self.matcher.as_ref().map(|m| m.verdict()) {
            Some(None) if !wait => return,
            Some(Some(Err(_))) => {
                self.held.clear();
                self.pending_warnings.clear();
                return;
            }
            _ => {}
        }
        while let Some(held) = self.held.pop_front() {
            match held {
                Held::Text(text) => emit(&text),
                Held::Output { record, tolerance } => {
                    let measured = if wait {
                        tolerance.recv().map_err(|_| "its thread ended".to_string())
                    } else {
                        match tolerance.try_recv() {
                            Ok(measured) => Ok(measured),
                            Err(std::sync::mpsc::TryRecvError::Empty) => {
                                self.held.push_front(Held::Output { record, tolerance });
                                break;
                            }
                            Err(_) => Err("its thread ended".to_string()),
                        }
                    };
                    self.resolve(record, measured.and_then(|m| m));
                    if !self.silent {
                        emit(&terminal::render(&self.records[record]));
                    }
                }
            }
        }
        for line in self.pending_warnings.drain(..) {
            eprintln!("{line}");
        }
    }

    /// Compares the output of `record`, held back, now that its tolerance has arrived.
    fn resolve(&mut self, record: usize, measured: std::result::Result<Tolerance, String>) {
        let Some(Record::Output {
            output, notebook, ..
        }) = self.records.get(record)
        else {
            return;
        };
        let status = match measured {
            Ok(tolerance) => self.status_of(output, notebook, Some(&tolerance)),
            Err(why) => {
                self.failure.get_or_insert(why);
                Status::Mismatch
            }
        };
        if let Some(Record::Output { status: s, .. }) = self.records.get_mut(record) {
            *s = status;
        }
    }

    /// A line for stderr (a note on the run, not an output): printed at once, or, while a
    /// `--notebook` file is being judged, held back with the chapter's output, so that a
    /// file refused as not the chapter's leaves its one error line alone. A silent
    /// harness prints nothing.
    ///
    /// ```
    /// let mut nb = crossent::notebook::Notebook::silent();
    /// nb.warn("chapter-9: MNIST is nowhere; its listing is not run");
    /// assert!(nb.passed());
    /// ```
    pub fn warn(&mut self, line: &str) {
        if self.silent {
            return;
        }
        match self.matcher.as_ref().map(|m| m.verdict()) {
            Some(None) => self.pending_warnings.push(line.to_string()),
            Some(Some(Err(_))) => {}
            _ => eprintln!("{line}"),
        }
    }

    /// An error once the notebook file given has been judged not to be the chapter's.
    fn fail_if_refused(&self) -> Result<()> {
        if let Some(Some(Err(why))) = self.matcher.as_ref().map(|m| m.verdict()) {
            bail!(why);
        }
        Ok(())
    }

    /// The next cell's match in the notebook file, if a file was given and it matched.
    fn locate(&mut self, code: &str) -> Option<CellMatch> {
        self.position += 1;
        self.matcher.as_ref()?.lookup(self.position, code)
    }

    /// What the notebook printed for the cell: the chapter's built-in text, or with a
    /// file, what the matched cell printed; `Err` says why there is nothing to compare.
    fn expected<'a>(
        &self,
        matched: &Option<CellMatch>,
        builtin: &'a str,
    ) -> std::result::Result<Cow<'a, str>, String> {
        let Some(matcher) = &self.matcher else {
            return Ok(Cow::Borrowed(builtin));
        };
        let file = matcher.file();
        let Some(m) = matched else {
            return Err(format!("no code cell of {} has this code", file.name));
        };
        if !m.holds_output() {
            return Err(format!(
                "it is a part of {} in {}, which displays its output after its last line",
                m.describe(),
                file.name
            ));
        }
        file.printed_by(m.cells()).map(Cow::Owned).ok_or_else(|| {
            if m.continued_in.is_empty() {
                format!("its cell in {} printed nothing", file.name)
            } else {
                format!("none of its {} in {} printed", m.describe(), file.name)
            }
        })
    }

    /// The text a notebook cell printed, for reading a random input from it: the
    /// chapter's built-in text, or with a notebook file, what its cell whose code is
    /// `code` printed (a re-run of the notebook brings its own draws this way).
    pub fn printed_input(&self, code: &str, builtin: &str) -> Result<String> {
        self.fail_if_refused()?;
        let Some(matcher) = &self.matcher else {
            return Ok(builtin.to_string());
        };
        let file = matcher.file();
        matcher
            .find(code)
            .and_then(|m| file.printed_by(m.cells()))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{} has no code cell `{code}` with a printed output, and chapter {} reads \
                     its random input from it; give chapter {}'s notebook",
                    file.name,
                    self.chapter,
                    self.chapter
                )
            })
    }

    /// The text the next cell's output will be compared with, if the cell's code is
    /// `code`: with a notebook file, what its matched cells displayed; without one,
    /// `builtin`; `None` where there is nothing to compare with. A chapter asks it to skip
    /// work that only an output that is not verbatim needs (chapter 5 measures a
    /// training's sensitivity only then).
    ///
    /// ```
    /// let mut nb = crossent::notebook::Notebook::silent();
    /// assert_eq!(nb.next_comparison("1 + 1", "2").as_deref(), Some("2"));
    /// ```
    pub fn next_comparison(&mut self, code: &str, builtin: &str) -> Option<String> {
        let matched = self
            .matcher
            .as_ref()
            .and_then(|m| m.lookup(self.position + 1, code));
        self.expected(&matched, builtin).ok().map(Cow::into_owned)
    }

    /// Keeps a record and, unless silent, prints it. A silent harness, which `refine`
    /// runs thousands of times, keeps only what decides `passed` (outputs and checks).
    fn record(&mut self, record: Record) {
        if !self.silent {
            self.held.push_back(Held::Text(terminal::render(&record)));
            self.release(false);
        } else if !matches!(record, Record::Output { .. } | Record::Check { .. }) {
            return;
        }
        self.records.push(record);
    }

    /// Declares the device the chapter computes on. Off the CPU, an output that differs
    /// from the notebook only in its last printed digits (up to 2e-4) counts as a
    /// deviation within tolerance, with the device as its reason, instead of a mismatch:
    /// GPU kernels round differently from the CPU ones the notebook ran.
    pub fn on_device(&mut self, device: &candle_core::Device) {
        self.device_name = crate::device::name(device);
        self.device_tolerance = (!device.is_cpu()).then(|| Tolerance {
            abs: 2e-4,
            reason: format!(
                "computed on {}, whose kernels round differently in the last digit",
                crate::device::name(device)
            ),
        });
    }

    /// Whether this run prints; chapters skip work that only serves the reader.
    pub fn is_silent(&self) -> bool {
        self.silent
    }

    /// How far the outputs so far lie from the notebook's printed values (what `refine` minimises).
    pub fn misfit(&self) -> Misfit {
        self.misfit
    }

    /// A markdown heading of the notebook, to keep the reader oriented.
    pub fn heading(&mut self, text: &str) {
        self.record(Record::Heading { text: text.into() });
    }

    fn open_cell(&mut self, code: &str, matched: Option<CellMatch>) -> usize {
        self.cells += 1;
        let cell = self.cells;
        self.record(Record::Cell {
            cell,
            code: code.into(),
            matched,
        });
        cell
    }

    /// A cell that prints nothing (imports, definitions, assignments).
    pub fn code(&mut self, code: &str) {
        let matched = self.locate(code);
        self.open_cell(code, matched);
    }

    /// A cell whose output is text (a shape, an int, a Python object): compared verbatim.
    pub fn show(&mut self, code: &str, output: &str, notebook: &str) {
        self.show_compared(code, output, notebook, None);
    }

    fn show_compared(
        &mut self,
        code: &str,
        output: &str,
        notebook: &str,
        tolerance: Option<&Tolerance>,
    ) {
        let matched = self.locate(code);
        let expected = self.expected(&matched, notebook);
        let n = self.open_cell(code, matched);
        if let Some(notebook) = self.compared_with(n, output, expected) {
            self.add_misfit_of_text(output, &notebook);
            self.compare(n, output, &notebook, tolerance);
        }
    }

    fn not_in_notebook(&mut self, cell: usize, output: &str, reason: String) {
        self.output(cell, output, "", Status::NotInNotebook { reason });
    }

    /// The notebook's text to compare cell `cell`'s output with; where there is none,
    /// records the output as having nothing to compare with and gives `None`.
    fn compared_with<'a>(
        &mut self,
        cell: usize,
        output: &str,
        expected: std::result::Result<Cow<'a, str>, String>,
    ) -> Option<Cow<'a, str>> {
        match expected {
            Ok(notebook) => Some(notebook),
            Err(reason) => {
                self.not_in_notebook(cell, output, reason);
                None
            }
        }
    }

    /// A cell whose output is a tensor, printed as PyTorch prints it and compared verbatim.
    pub fn tensor(&mut self, code: &str, t: &Tensor, notebook: &str) -> Result<()> {
        self.tensor_output(code, t, notebook, None)
    }

    /// A tensor cell that may only match within `tolerance`; the reason goes to the summary.
    pub fn tensor_within(
        &mut self,
        code: &str,
        t: &Tensor,
        notebook: &str,
        tolerance: Tolerance,
    ) -> Result<()> {
        self.tensor_output(code, t, notebook, Some(tolerance))
    }

    /// A cell whose output is a Python tuple of tensors, printed as Python prints it.
    pub fn tensor_tuple(&mut self, code: &str, ts: &[&Tensor], notebook: &str) -> Result<()> {
        let hosts = ts
            .iter()
            .map(|t| pt::HostTensor::from_tensor(t))
            .collect::<Result<Vec<_>>>()?;
        self.host_output(code, &hosts, true, notebook, None)
    }

    fn tensor_output(
        &mut self,
        code: &str,
        t: &Tensor,
        notebook: &str,
        tolerance: Option<Tolerance>,
    ) -> Result<()> {
        let host = pt::HostTensor::from_tensor(t)?;
        self.host_output(code, &[host], false, notebook, tolerance.as_ref())
    }

    fn host_output(
        &mut self,
        code: &str,
        hosts: &[pt::HostTensor],
        as_tuple: bool,
        notebook: &str,
        tolerance: Option<&Tolerance>,
    ) -> Result<()> {
        self.fail_if_refused()?;
        let matched = self.locate(code);
        let expected = self.expected(&matched, notebook);
        let mut floats = Vec::new();
        let mut all_float = true;
        for host in hosts {
            match &host.values {
                pt::Values::Float(values) => floats.extend_from_slice(values),
                _ => all_float = false,
            }
        }
        if self.silent && all_float {
            // Only the misfit is wanted: measure the values, skip the formatting.
            if let Ok(notebook) = &expected {
                self.add_misfit_of_values(&floats, notebook);
            }
            return Ok(());
        }
        let reprs: Vec<String> = hosts.iter().map(pt::repr_host).collect();
        let output = if as_tuple {
            pt::tuple(&reprs)
        } else {
            reprs.concat()
        };
        let n = self.open_cell(code, matched);
        let Some(notebook) = self.compared_with(n, &output, expected) else {
            return Ok(());
        };
        if all_float {
            self.add_misfit_of_values(&floats, &notebook);
        } else {
            self.add_misfit_of_text(&output, &notebook);
        }
        self.compare(n, &output, &notebook, tolerance);
        if all_float {
            self.keep_values(floats);
        }
        Ok(())
    }

    fn add_misfit_of_values(&mut self, values: &[f64], notebook: &str) {
        let expected = printed::numbers(notebook);
        if expected.len() != values.len() {
            self.misfit.outside += TEXT_MISMATCH;
            self.misfit.numbers_outside += 1;
            return;
        }
        self.add_misses(values, &expected);
    }

    fn add_misfit_of_text(&mut self, output: &str, notebook: &str) {
        if output == notebook {
            return;
        }
        let got = printed::split(output);
        let expected = printed::split(notebook);
        if got.skeleton != expected.skeleton || got.numbers.len() != expected.numbers.len() {
            self.misfit.outside += TEXT_MISMATCH;
            self.misfit.numbers_outside += 1;
            return;
        }
        let values: Vec<f64> = got.numbers.iter().map(|n| n.value).collect();
        self.add_misses(&values, &expected.numbers);
    }

    fn add_misses(&mut self, values: &[f64], expected: &[PrintedNumber]) {
        for (value, number) in values.iter().zip(expected) {
            let miss = number.miss(*value, 1.0);
            self.misfit.outside += miss;
            self.misfit.numbers_outside += usize::from(miss > 0.0);
            self.misfit.near_edge += number.miss(*value, MARGIN);
        }
    }

    fn compare(&mut self, n: usize, output: &str, notebook: &str, tolerance: Option<&Tolerance>) {
        let status = self.status_of(output, notebook, tolerance);
        self.output(n, output, notebook, status);
    }

    /// How `output` compares with the notebook's text: verbatim, within `tolerance` (or
    /// the device's), or a mismatch.
    fn status_of(&self, output: &str, notebook: &str, tolerance: Option<&Tolerance>) -> Status {
        if output == notebook {
            Status::Verbatim
        } else {
            tolerance
                .or(self.device_tolerance.as_ref())
                .and_then(|tol| {
                    let (abs, rel) = printed::largest_differences(output, notebook)?;
                    (abs <= tol.abs).then(|| Status::WithinTolerance {
                        tolerance: tol.abs,
                        largest_absolute: abs,
                        largest_relative: rel,
                        reason: tol.reason.clone(),
                    })
                })
                .unwrap_or(Status::Mismatch)
        }
    }

    fn output(&mut self, cell: usize, output: &str, notebook: &str, status: Status) {
        self.record(Record::Output {
            cell,
            output: output.into(),
            notebook: notebook.into(),
            status,
            values: Vec::new(),
        });
    }

    /// Keeps the unrounded values of `tensors` with the last output recorded (its
    /// printed text shows them rounded), for comparisons finer than the print: the CUDA
    /// parity test reads them from `CROSSENT_RECORD`.
    pub fn record_values(&mut self, tensors: &[&Tensor]) -> Result<()> {
        if self.silent {
            return Ok(());
        }
        let mut all = Vec::new();
        for t in tensors {
            if let pt::Values::Float(values) = pt::HostTensor::from_tensor(t)?.values {
                all.extend(values);
            }
        }
        self.keep_values(all);
        Ok(())
    }

    /// Puts `values` into the last output recorded.
    fn keep_values(&mut self, kept: Vec<f64>) {
        if let Some(Record::Output { values, .. }) = self
            .records
            .iter_mut()
            .rev()
            .find(|r| matches!(r, Record::Output { .. }))
        {
            *values = kept;
        }
    }

    /// A tensor cell whose printed text the notebook's export damaged (lines cut or
    /// moved, spaces collapsed): compared number for number, as printed, with the
    /// damage named in the summary.
    pub fn tensor_damaged(
        &mut self,
        code: &str,
        t: &Tensor,
        notebook: &str,
        damage: &str,
    ) -> Result<()> {
        self.fail_if_refused()?;
        let matched = self.locate(code);
        let host = pt::HostTensor::from_tensor(t)?;
        if self.silent {
            return Ok(());
        }
        let expected = self.expected(&matched, notebook);
        let output = pt::repr_host(&host);
        let n = self.open_cell(code, matched);
        let Some(notebook) = self.compared_with(n, &output, expected) else {
            return Ok(());
        };
        let theirs = printed_tokens(&notebook);
        // A notebook file holds the text undamaged: it may match verbatim.
        let status = if output == notebook {
            Status::Verbatim
        } else if !theirs.is_empty() && printed_tokens(&output) == theirs {
            Status::NumberForNumber {
                damage: damage.into(),
            }
        } else {
            Status::Mismatch
        };
        self.output(n, &output, &notebook, status);
        Ok(())
    }

    /// A cell whose output cannot match the notebook by design (it printed a path on
    /// the author's machine, or a different copy of the data): printed beside the
    /// notebook's text and listed as a deviation with its reason.
    pub fn show_incomparable(&mut self, code: &str, output: &str, notebook: &str, reason: &str) {
        let (n, notebook) = self.open_uncompared(code, notebook);
        let reason = reason.into();
        self.output(n, output, &notebook, Status::NotComparable { reason });
    }

    /// Opens a cell whose output is shown beside the notebook's without comparing them;
    /// gives the cell's number and the notebook's text (empty when a file given has none).
    fn open_uncompared(&mut self, code: &str, builtin: &str) -> (usize, String) {
        let matched = self.locate(code);
        let notebook = self
            .expected(&matched, builtin)
            .map(Cow::into_owned)
            .unwrap_or_default();
        (self.open_cell(code, matched), notebook)
    }

    /// A cell whose output depends on the random draws. Where the run draws what the
    /// notebook drew (`draws_as_the_notebook`), it is compared, within the tolerance
    /// declared there; otherwise the notebook did not record its seed, and the output is
    /// printed beside the notebook's text, not compared, with `reason`.
    pub fn show_seeded(&mut self, code: &str, output: &str, notebook: &str, reason: &str) {
        if let Some(tolerance) = self.draws_tolerance.clone() {
            self.show_within(code, output, notebook, &tolerance);
            return;
        }
        let (n, notebook) = self.open_uncompared(code, notebook);
        let reason = reason.into();
        self.output(n, output, &notebook, Status::Seeded { reason });
    }

    /// A cell whose notebook output may be stale: printed by an earlier version of its
    /// code, in which the name `now` was `then` (a class renamed after the cell last ran).
    /// Compared verbatim; where the notebook's text is the output with `now` made `then`
    /// and nothing else, it matches number for number, the stale name is said, and the
    /// notebook's mistake is recorded; any other difference is a mismatch.
    ///
    /// ```
    /// let mut nb = crossent::notebook::Notebook::silent();
    /// nb.show_maybe_stale("SequentialModel()", "SequentialModel()", "Model()", ("SequentialModel(", "Model("));
    /// assert!(nb.passed());
    /// nb.show_maybe_stale("SequentialModel()", "SequentialModel(1)", "Model(2)", ("SequentialModel(", "Model("));
    /// assert!(!nb.passed());
    /// ```
    pub fn show_maybe_stale(
        &mut self,
        code: &str,
        output: &str,
        notebook: &str,
        (now, then): (&str, &str),
    ) {
        let matched = self.locate(code);
        let expected = self.expected(&matched, notebook);
        let n = self.open_cell(code, matched);
        let Some(theirs) = self.compared_with(n, output, expected) else {
            return;
        };
        if output != theirs && output.replace(now, then) == *theirs {
            let damage = format!(
                "the notebook's output is stale: it reads `{then}` where the cell's code, run \
                 today, prints `{now}`"
            );
            self.output(n, output, &theirs, Status::NumberForNumber { damage });
            self.finding(
                "an output printed by an earlier version of its cell",
                &format!(
                    "The notebook shows `{then}…` under code that prints `{now}…`: the cell ran \
                     before its code was changed and was not run again. Its other text is \
                     the chapter's, verbatim."
                ),
            );
        } else {
            self.add_misfit_of_text(output, &theirs);
            self.compare(n, output, &theirs, None);
        }
    }

    /// A cell whose text output may only match within a tolerance that another thread is
    /// still measuring: verbatim needs none and is printed at once; otherwise the output
    /// is compared when `tolerance` arrives, and it and all that follows it are held back
    /// until then (the run's printing keeps its order; `finish` waits for every one). A
    /// tolerance that could not be measured fails the run with its reason.
    ///
    /// ```
    /// use crossent::notebook::{Notebook, Tolerance};
    /// let mut nb = Notebook::for_chapter(9, "Chapter 9", "a test", &Default::default())?;
    /// let (send, tolerance) = std::sync::mpsc::channel();
    /// nb.show_within_later("train()", "tensor(0.1040)", "tensor(0.1000)", tolerance);
    /// nb.check("printed after the output above", true, "");
    /// std::thread::spawn(move || send.send(Ok(Tolerance { abs: 0.01, reason: "noise".into() })));
    /// let records = nb.into_records()?;
    /// assert_eq!(crossent::record::Summary::of(&records).within_tolerance, 1);
    /// # Ok::<(), anyhow::Error>(())
    /// ```
    pub fn show_within_later(
        &mut self,
        code: &str,
        output: &str,
        notebook: &str,
        tolerance: LaterTolerance,
    ) {
        let matched = self.locate(code);
        let expected = self.expected(&matched, notebook);
        let n = self.open_cell(code, matched);
        let Some(theirs) = self.compared_with(n, output, expected) else {
            return;
        };
        self.add_misfit_of_text(output, &theirs);
        if output == theirs {
            self.compare(n, output, &theirs, None);
            return;
        }
        self.records.push(Record::Output {
            cell: n,
            output: output.into(),
            notebook: theirs.into_owned(),
            status: Status::Mismatch,
            values: Vec::new(),
        });
        let record = self.records.len() - 1;
        self.held.push_back(Held::Output { record, tolerance });
        self.release(self.silent);
    }

    /// A cell whose text output may only match within `tolerance`.
    pub fn show_within(&mut self, code: &str, output: &str, notebook: &str, tolerance: &Tolerance) {
        self.show_compared(code, output, notebook, Some(tolerance));
    }

    /// A mistake of the notebook: what is wrong, shown and explained. Listed in the
    /// summary; not a failure of the chapter.
    pub fn finding(&mut self, title: &str, explanation: &str) {
        self.record(Record::Finding {
            cell: self.cells,
            title: title.into(),
            explanation: explanation.into(),
        });
    }

    /// Output of the chapter's own that the notebook did not print (the inputs used at
    /// full precision, a value the notebook left implicit).
    pub fn extra(&mut self, label: &str, text: &str) {
        self.record(Record::Extra {
            cell: self.cells,
            label: label.into(),
            text: text.into(),
        });
    }

    /// A check of the chapter's own; a failed one makes the run fail.
    pub fn check(&mut self, claim: &str, ok: bool, detail: &str) {
        self.record(Record::Check {
            cell: self.cells,
            claim: claim.into(),
            passed: ok,
            detail: detail.into(),
        });
    }

    /// A check that two computations agree: passes when their largest absolute
    /// difference is at most `tolerance`, and prints that difference.
    pub fn check_difference(&mut self, claim: &str, difference: f64, tolerance: f64) {
        let detail = format!("largest difference {}", pt::py_sci(difference, 1));
        self.check(claim, difference <= tolerance, &detail);
    }

    /// A cell that could not run here (data absent); counted and named in the summary.
    pub fn not_run(&mut self, code: &str, reason: &str) {
        let matched = self.locate(code);
        let cell = self.open_cell(code, matched);
        self.record(Record::NotRun {
            cell,
            reason: reason.into(),
        });
    }

    /// A known difference from the notebook that is not a failure (an output that
    /// depends on an unrecorded seed, a notebook mistake reproduced and explained).
    pub fn deviation(&mut self, what: &str) {
        self.record(Record::Deviation {
            cell: self.cells,
            what: what.into(),
        });
    }

    /// A cell that draws a figure: `draw` writes it and describes it.
    pub fn figure(
        &mut self,
        code: &str,
        draw: impl FnOnce() -> Result<FigureRecord>,
    ) -> Result<()> {
        self.fail_if_refused()?;
        let matched = self.locate(code);
        let file_cell = matched.clone();
        let cell = self.open_cell(code, matched);
        self.record_figure(cell, file_cell, draw)
    }

    /// A figure that the cell just shown also draws (a cell that displays a value and
    /// shows a plot, such as `plt.imshow(x)` then `y`): its text is part of the cell's
    /// output (`crate::pt::conventions::figure_text`), its image is recorded here.
    pub fn figure_here(&mut self, draw: impl FnOnce() -> Result<FigureRecord>) -> Result<()> {
        let file_cell = self.records.iter().rev().find_map(|r| match r {
            Record::Cell { cell, matched, .. } if *cell == self.cells => Some(matched.clone()),
            _ => None,
        });
        self.record_figure(self.cells, file_cell.flatten(), draw)
    }

    fn record_figure(
        &mut self,
        cell: usize,
        file_cell: Option<CellMatch>,
        draw: impl FnOnce() -> Result<FigureRecord>,
    ) -> Result<()> {
        if self.silent {
            return Ok(());
        }
        let original_images = match (file_cell, &self.matcher) {
            (Some(m), Some(matcher)) if m.holds_output() => m
                .cells()
                .flat_map(|i| matcher.file().cells[i].images.iter().cloned())
                .collect(),
            _ => Vec::new(),
        };
        let drawn = draw()?;
        self.record(Record::Figure {
            cell,
            file: drawn.relative_path,
            summary: drawn.summary,
            original_images,
        });
        Ok(())
    }

    /// The counts of the run so far (an output whose tolerance is still being measured
    /// counts as mismatched until it arrives).
    pub fn summary(&self) -> Summary {
        Summary::of(&self.records)
    }

    /// Whether every compared output matched and every check passed.
    pub fn passed(&self) -> bool {
        self.summary().passed()
    }

    /// Prints the summary, writes the records where `CROSSENT_RECORD` asks, and returns
    /// the exit code for the chapter.
    pub fn finish(mut self) -> ExitCode {
        if let Err(e) = self.close() {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
        let summary = self.summary();
        emit(&terminal::summary(&summary));
        if let Some(path) = std::env::var_os("CROSSENT_RECORD") {
            if let Err(e) = write_records(std::path::Path::new(&path), &self.records) {
                eprintln!("error: {e:#}");
                return ExitCode::FAILURE;
            }
        }
        if let Some(path) = &self.write_to {
            if let Err(e) = self.write_notebook(path) {
                eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
                return ExitCode::FAILURE;
            }
        }
        if summary.passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    /// Writes the run as a Jupyter notebook (see `crate::ipynb::write`).
    fn write_notebook(&self, path: &std::path::Path) -> Result<()> {
        let figure_dir = self.figure_dir.clone();
        let figure = move |file: &str| -> Option<Vec<u8>> {
            let path = figure_dir.as_ref()?.join(file);
            read_figure(&path)
        };
        let original = self.notebook_file().map(|f| f.as_ref());
        crate::ipynb::write::write(
            path,
            &crate::ipynb::write::Replication {
                chapter: self.chapter,
                records: &self.records,
                figure: &figure,
                device: &self.device_name,
                original,
            },
        )
    }
}

/// The outputs `file` holds that no output of the chapter was compared with, by file cell
/// (index from 0), each with why: every output of the file is accounted for, compared,
/// shown beside the chapter's with a stated reason, or listed here.
fn uncompared_outputs(records: &[Record], file: &NotebookFile) -> Vec<(usize, String)> {
    use std::collections::{HashMap, HashSet};
    let with_output: HashSet<usize> = records
        .iter()
        .filter_map(|r| match r {
            Record::Output { cell, .. } => Some(*cell),
            _ => None,
        })
        .collect();
    let not_run: HashMap<usize, &str> = records
        .iter()
        .filter_map(|r| match r {
            Record::NotRun { cell, reason } => Some((*cell, reason.as_str())),
            _ => None,
        })
        .collect();
    // Which chapter cell holds each file cell's output, and which reproduce a part only.
    let mut holder: HashMap<usize, usize> = HashMap::new();
    let mut in_part: HashMap<usize, usize> = HashMap::new();
    for r in records {
        if let Record::Cell {
            cell,
            matched: Some(m),
            ..
        } = r
        {
            for i in m.cells() {
                if m.holds_output() {
                    holder.insert(i, *cell);
                } else {
                    in_part.entry(i).or_insert(*cell);
                }
            }
        }
    }
    file.code_cells()
        .filter(|c| c.printed.is_some() || !c.images.is_empty())
        .filter_map(|c| {
            let why = match (holder.get(&c.index), in_part.get(&c.index)) {
                (Some(cell), _) if with_output.contains(cell) => return None,
                (Some(cell), _) => match not_run.get(cell) {
                    Some(why) => format!("chapter cell {cell} is not run: {why}"),
                    None => format!("chapter cell {cell} reproduces it and prints no output"),
                },
                (None, Some(cell)) => format!(
                    "chapter cell {cell} reproduces its first lines only, not the line that \
                     displays its output"
                ),
                (None, None) => crate::ipynb::read::why_not_reproduced(&c.source),
            };
            Some((c.index, why))
        })
        .collect()
}

/// A figure the chapter wrote, read back for a notebook (bounded: figures are small).
fn read_figure(path: &std::path::Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(64 << 20)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

/// The path `--write-notebook` names, checked before the chapter runs: its folder must
/// exist, and it must not be a folder itself.
fn checked_destination(path: &std::path::Path) -> Result<PathBuf> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if !dir.is_dir() {
        bail!(
            "cannot write the notebook {}: the folder {} does not exist; create it or choose another",
            path.display(),
            dir.display()
        );
    }
    if path.is_dir() {
        bail!(
            "cannot write the notebook {}: it is a folder; name a file (FILE.ipynb)",
            path.display()
        );
    }
    Ok(path.to_path_buf())
}

/// Writes the records as JSON, through a temporary file renamed when complete.
fn write_records(path: &std::path::Path, records: &[Record]) -> Result<()> {
    crate::files::write_at(path, &serde_json::to_vec(records)?, "CROSSENT_RECORD")
}

/// The numbers of a printed text as spelled (`-1.9971e-02`), ignoring layout.
fn printed_tokens(text: &str) -> Vec<String> {
    printed::split(text)
        .numbers
        .into_iter()
        .map(|n| n.literal)
        .collect()
}

/// Whether chapters in this process print (the report runs them quietly).
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Stops (or restarts) every harness of this process from printing; the records are kept
/// all the same. The report sets it to render the chapters as pages instead.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// Prints one block of the chapter. A reader that closed the pipe (`| head`) ends the
/// run quietly, as a shell tool does (exit 141, SIGPIPE's code); any other write error
/// (a full disk, `>/dev/full`) is one line on stderr and exit 1.
fn emit(text: &str) {
    use std::io::Write;
    if QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("error: cannot write the chapter to standard output: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_harness_measures_misfit() {
        let mut nb = Notebook::silent();
        nb.show("x", "tensor([4.0056])", "tensor([4.0058])");
        let misfit = nb.misfit();
        assert!(misfit.outside > 0.0);
        assert!(!nb.passed());
        let mut nb = Notebook::silent();
        nb.show("x", "tensor([4.0058])", "tensor([4.0058])");
        assert_eq!(nb.misfit(), Misfit::default());
        assert!(nb.passed());
    }

    #[test]
    fn off_the_cpu_last_digit_differences_are_deviations() {
        let mut nb = Notebook::silent();
        nb.device_tolerance = Some(Tolerance {
            abs: 2e-4,
            reason: "computed on cuda:0".into(),
        });
        nb.compare(1, "tensor([4.0057])", "tensor([4.0058])", None);
        assert!(nb.passed());
        assert_eq!(nb.summary().within_tolerance, 1);
        nb.compare(2, "tensor([4.0050])", "tensor([4.0058])", None);
        assert!(!nb.passed());
    }
}
