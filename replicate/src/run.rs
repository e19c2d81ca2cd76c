//! One notebook replicated: its cells in order through the interpreter process, each
//! output handed to the cell harness (`crossent::notebook::Notebook`) as a chapter hands
//! it, so that the summary, the written notebook and the report are a chapter's.

use crate::cells::{bound_names, prepare};
use crate::protocol::{CellReply, CellRequest, Start};
use crate::supervisor::{Outcome, Worker};
use anyhow::Result;
use crossent::cli::NotebookArgs;
use crossent::ipynb::read::{CellKind, FileCell, NotebookFile};
use crossent::notebook::{Notebook, Tolerance};
use crossent::pt::Conventions;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where the run's title says it came from.
pub const ORIGIN: &str =
    "the notebook's own code cells, run by replicate on crossent's torch (RustPython embedded)";
/// Why an output of an unseeded draw is shown and not compared.
pub const UNSEEDED: &str = "it depends on random draws the notebook did not seed (PyTorch seeded itself from the \
                            machine's entropy); --recover-seed searches for the seed its prints came from";
/// How many times the interpreter may be stopped (time limit, memory) before the rest of
/// the notebook is given up.
const MAX_RESTARTS: usize = 3;

/// How to replicate a notebook.
#[derive(Clone, Debug)]
pub struct Options {
    /// The notebook file.
    pub notebook: PathBuf,
    /// Where to write the replication as a notebook.
    pub out: Option<PathBuf>,
    /// The time one cell may take.
    pub cell_timeout: Duration,
    /// The cap on one tensor's memory, in bytes.
    pub tensor_cap_bytes: u64,
    /// A seed for the notebook's unseeded draws, recovered from its prints.
    pub recovered_seed: Option<u64>,
}

impl Options {
    /// The defaults for `notebook`: 60 s a cell, 4 GiB a tensor, no file written.
    pub fn new(notebook: PathBuf) -> Self {
        Self {
            notebook,
            out: None,
            cell_timeout: Duration::from_secs(60),
            tensor_cap_bytes: 4 << 30,
            recovered_seed: None,
        }
    }
}

/// Runs the notebook's code cells and compares each output; the harness holds the
/// records (`finish` prints the summary and gives the exit code).
pub fn replicate(options: &Options) -> Result<Notebook> {
    let file = NotebookFile::read(&options.notebook)?;
    let args = NotebookArgs {
        notebook: Some(options.notebook.clone()),
        write_notebook: options.out.clone(),
    };
    let title = format!("replicate — {}", file.name);
    let mut nb = Notebook::for_chapter(0, &title, ORIGIN, &args)?;
    if let Some(seed) = options.recovered_seed {
        nb.draws_as_the_notebook(Tolerance {
            abs: 0.0,
            reason: format!("drawn from seed {seed}, recovered from the notebook's prints"),
        });
    }
    let printed = file.code_cells().filter_map(|c| c.printed.as_deref());
    let (conventions, _) = Conventions::from_printed(printed);
    let start = Start {
        conventions,
        recovered_seed: options.recovered_seed,
        tensor_cap_bytes: options.tensor_cap_bytes,
    };
    let mut run = Run {
        start,
        worker: None,
        ran: Vec::new(),
        unavailable: BTreeMap::new(),
        restarts: 0,
        timeout: options.cell_timeout,
        cap: options.tensor_cap_bytes,
    };
    let mut number = 0;
    for cell in &file.cells {
        match cell.kind {
            CellKind::Markdown => {
                if let Some(heading) = cell.source.lines().find(|l| l.starts_with('#')) {
                    nb.heading(heading.trim_start_matches('#').trim());
                }
            }
            CellKind::Code if !cell.source.trim().is_empty() => {
                number += 1;
                run.cell(&mut nb, &file, cell, number)?;
            }
            _ => {}
        }
    }
    Ok(nb)
}

struct Run {
    start: Start,
    worker: Option<Worker>,
    ran: Vec<CellRequest>,
    unavailable: BTreeMap<String, usize>,
    restarts: usize,
    timeout: Duration,
    cap: u64,
}

impl Run {
    fn cell(
        &mut self,
        nb: &mut Notebook,
        file: &NotebookFile,
        cell: &FileCell,
        number: usize,
    ) -> Result<()> {
        let source = cell.source.as_str();
        let prepared = prepare(source);
        if let Some(reason) = prepared.not_run {
            nb.not_run(source, &reason);
            return Ok(());
        }
        if self.restarts >= MAX_RESTARTS {
            self.give_up(source, number);
            nb.not_run(source, &format!("the interpreter was stopped {MAX_RESTARTS} times; the rest of the notebook is not run"));
            return Ok(());
        }
        let request = CellRequest {
            name: format!("<cell {number}>"),
            source: prepared.source.clone(),
            unavailable: self.unavailable.clone(),
            quiet: prepared.quiet,
        };
        let timeout = self.timeout;
        let outcome = match self.worker()? {
            Some(worker) => worker.run(&request, timeout),
            None => Outcome::Died("could not be brought back to this cell".into()),
        };
        let reply = match outcome {
            Outcome::Replied(reply) => reply,
            Outcome::TimedOut => {
                self.lost(source, number);
                nb.not_run(
                    source,
                    &format!(
                        "stopped at the cell time limit ({} s)",
                        self.timeout.as_secs()
                    ),
                );
                return Ok(());
            }
            Outcome::Died(why) => {
                self.lost(source, number);
                let cap = self.cap as f64 / f64::from(1u32 << 30);
                nb.not_run(source, &format!("the interpreter {why} (tensors are capped at {cap} GiB, the process at {} GiB more)", 3));
                return Ok(());
            }
        };
        if !prepared.skipped.is_empty() {
            let lines: Vec<String> = prepared.skipped.iter().map(|l| format!("`{l}`")).collect();
            nb.extra(
                "not run",
                &format!(
                    "{}: IPython magics, shell and help lines are not Python and are not run here",
                    lines.join(", ")
                ),
            );
        }
        self.show(nb, file, cell, number, &request, reply);
        Ok(())
    }

    fn show(
        &mut self,
        nb: &mut Notebook,
        file: &NotebookFile,
        cell: &FileCell,
        number: usize,
        request: &CellRequest,
        reply: CellReply,
    ) {
        let source = cell.source.as_str();
        let failed = reply.not_run.is_some()
            || (reply.error.is_some() && original_error(file, cell).is_none());
        for name in &reply.stores {
            if failed {
                self.unavailable.insert(name.clone(), number);
            } else {
                self.unavailable.remove(name);
            }
        }
        if !reply.stderr.trim().is_empty() {
            nb.extra("stderr", reply.stderr.trim_end());
        }
        if let Some(reason) = &reply.not_run {
            nb.not_run(source, reason);
            return;
        }
        if let (Some(error), None) = (&reply.error, original_error(file, cell)) {
            nb.not_run(
                source,
                &format!("it raised {error}, which the notebook's run did not"),
            );
            return;
        }
        self.ran.push(request.clone());
        let printed = reply.printed();
        let notebook = cell.printed.clone().unwrap_or_default();
        if printed.is_empty() && cell.printed.is_none() {
            nb.code(source);
        } else if reply.read_unseeded_draws {
            nb.show_seeded(source, &printed, &notebook, UNSEEDED);
        } else {
            nb.show(source, &printed, &notebook);
        }
    }

    /// The interpreter, started (and brought back to where the notebook is) if needed.
    fn worker(&mut self) -> Result<Option<&mut Worker>> {
        if self.worker.is_none() {
            let mut worker = Worker::start(&self.start)?;
            for request in &self.ran {
                let quiet = CellRequest {
                    quiet: true,
                    ..request.clone()
                };
                if !matches!(worker.run(&quiet, self.timeout), Outcome::Replied(_)) {
                    return Ok(None);
                }
            }
            self.worker = Some(worker);
        }
        Ok(self.worker.as_mut())
    }

    /// The interpreter was stopped in cell `number`: its names are unavailable, and the
    /// next cell starts a new interpreter.
    fn lost(&mut self, source: &str, number: usize) {
        self.worker = None;
        self.restarts += 1;
        self.give_up(source, number);
    }

    fn give_up(&mut self, source: &str, number: usize) {
        for name in bound_names(source) {
            self.unavailable.insert(name, number);
        }
    }
}

/// The last line of the error a file cell's run raised, if it raised one.
fn original_error(file: &NotebookFile, cell: &FileCell) -> Option<String> {
    let outputs = file
        .json
        .get("cells")?
        .get(cell.index)?
        .get("outputs")?
        .as_array()?;
    outputs.iter().find_map(|o| {
        (o.get("output_type")?.as_str()? == "error").then(|| {
            let name = o.get("ename").and_then(|v| v.as_str()).unwrap_or("");
            let value = o.get("evalue").and_then(|v| v.as_str()).unwrap_or("");
            format!("{name}: {value}")
        })
    })
}
