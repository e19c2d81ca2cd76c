//! One notebook replicated: its cells in order through the interpreter process, each
//! output handed to the cell harness (`crossent::notebook::Notebook`) as a chapter hands
//! it, so that the summary, the written notebook and the report are a chapter's.

use crate::cells::{bound_names, prepare};
use crate::protocol::{CellReply, CellRequest, Recovered, RecoveredDraw, ShownDraw, Start};
use crate::supervisor::{Outcome, Worker};
use anyhow::Result;
use crossent::cli::NotebookArgs;
use crossent::draws::search_every_seed;
use crossent::ipynb::read::{CellKind, FileCell, NotebookFile};
use crossent::notebook::{Notebook, Tolerance};
use crossent::pt::Conventions;
use crossent::random::recover::history::CacheUse;
use crossent::random::recover::PrintedDraw;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where the run's title says it came from.
pub const ORIGIN: &str =
    "the notebook's own code cells, run by replicate on crossent's torch (RustPython embedded)";
/// Why an output of an unseeded draw is shown and not compared.
pub const UNSEEDED: &str = "it depends on random draws the notebook did not seed (PyTorch seeded itself from the \
                            machine's entropy); --recover-seed searches for the seed its prints came from";
/// Why an object shown at its address is not compared.
const ADDRESS: &str = "it shows an object at its address in that run's memory (hidden here, so that two runs print the same)";
/// How the sandbox words what the subset lacks.
const NOT_IN_SUBSET: &str = "is not in the subset";
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
    /// Whether to search every seed for the one the notebook's unseeded draws came from.
    pub recover_seed: bool,
}

impl Options {
    /// The defaults for `notebook`: 60 s a cell, 4 GiB a tensor, no file written.
    pub fn new(notebook: PathBuf) -> Self {
        Self {
            notebook,
            out: None,
            cell_timeout: Duration::from_secs(60),
            tensor_cap_bytes: 4 << 30,
            recover_seed: false,
        }
    }
}

/// Runs the notebook's code cells and compares each output; the harness holds the
/// records (`finish` prints the summary and gives the exit code).
pub fn replicate(options: &Options) -> Result<Notebook> {
    let file = NotebookFile::read(&options.notebook)?;
    let metadata = &file.json["metadata"];
    let language = metadata["kernelspec"]["language"]
        .as_str()
        .or(metadata["language_info"]["name"].as_str());
    if let Some(language) = language.filter(|l| !l.eq_ignore_ascii_case("python")) {
        anyhow::bail!(
            "{} is a notebook in {language}; replicate runs Python notebooks",
            file.name
        );
    }
    let printed = file.code_cells().filter_map(|c| c.printed.as_deref());
    let (conventions, _) = Conventions::from_printed(printed);
    let mut start = Start {
        conventions,
        recovered: None,
        tensor_cap_bytes: options.tensor_cap_bytes,
    };
    if options.recover_seed {
        start.recovered = recover(&file, &start, options)?;
    }
    let args = NotebookArgs {
        notebook: Some(options.notebook.clone()),
        write_notebook: options.out.clone(),
    };
    let title = format!("replicate — {}", file.name);
    let mut nb = Notebook::for_chapter(0, &title, ORIGIN, &args)?;
    if let Some(recovered) = &start.recovered {
        nb.warn(&format!(
            "note: the notebook's unseeded draws are drawn from seed {}, recovered from the {} draws it printed",
            recovered.seed,
            recovered.draws.len()
        ));
        nb.draws_as_the_notebook(Tolerance {
            abs: 0.0,
            reason: format!(
                "drawn from seed {}, recovered from the notebook's prints",
                recovered.seed
            ),
        });
    }
    run_cells(&file, &mut nb, start, options)?;
    Ok(nb)
}

/// Runs every cell of `file` into `nb`; gives the draws its cells displayed as drawn,
/// with what the notebook printed for each.
fn run_cells(
    file: &NotebookFile,
    nb: &mut Notebook,
    start: Start,
    options: &Options,
) -> Result<Vec<(ShownDraw, String)>> {
    let mut run = Run {
        start,
        worker: None,
        ran: Vec::new(),
        unavailable: BTreeMap::new(),
        restarts: 0,
        timeout: options.cell_timeout,
        cap: options.tensor_cap_bytes,
        shown_draws: Vec::new(),
        print_options_from: None,
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
                run.cell(nb, file, cell, number)?;
            }
            _ => {}
        }
    }
    Ok(run.shown_draws)
}

/// The notebook's random history, from the draws it printed as drawn: a silent run finds
/// them, every seed is searched for the first (as a chapter's `--recover-seed` does), and
/// the later ones are located in its stream. `None`, said on stderr, when no seed holds
/// them all.
fn recover(file: &NotebookFile, start: &Start, options: &Options) -> Result<Option<Recovered>> {
    let mut silent = Notebook::silent();
    let shown = run_cells(file, &mut silent, start.clone(), options)?;
    // The draws the search can read, with what the run knows of each.
    let mut usable: Vec<(&ShownDraw, &String)> = Vec::new();
    let mut draws = Vec::new();
    for (draw, printed) in &shown {
        let name = format!("draw {}", draw.call);
        let printed_draw = match draw.randint_high {
            Some(high) => match u32::try_from(high) {
                Ok(high) => PrintedDraw::randint(&name, printed, high),
                Err(_) => continue,
            },
            None => PrintedDraw::normal(&name, printed, draw.scale),
        };
        // The search reads a first randn of 3 to 15 values; smaller or larger ones follow.
        let readable = match draw.randint_high {
            None => (if draws.is_empty() { 3 } else { 1 }..16).contains(&printed_draw.values.len()),
            Some(_) => !draws.is_empty(),
        };
        if readable {
            usable.push((draw, printed));
            draws.push(printed_draw);
        }
    }
    if draws.is_empty() {
        eprintln!("note: --recover-seed: the notebook displays no randn of 3 to 15 values as drawn, which the seed search needs; its draws are shown, not compared");
        return Ok(None);
    }
    let Ok(history) = search_every_seed(&draws)? else {
        eprintln!("note: --recover-seed: no seed's stream holds every draw the notebook printed; its draws are shown, not compared");
        return Ok(None);
    };
    let recovered = usable
        .iter()
        .zip(&history.gaps)
        .map(|(&(draw, printed), gap)| RecoveredDraw {
            call: draw.call,
            randint_high: draw.randint_high.map(|high| high as u32),
            scale: draw.scale,
            printed: printed.clone(),
            gap_words: gap.words,
            gap_cache: match gap.cache {
                CacheUse::Kept => None,
                CacheUse::Dropped => Some(None),
                CacheUse::FromPairAt(at) => Some(Some(at)),
            },
        })
        .collect();
    Ok(Some(Recovered {
        seed: history.seed,
        draws: recovered,
    }))
}

struct Run {
    start: Start,
    worker: Option<Worker>,
    ran: Vec<CellRequest>,
    unavailable: BTreeMap<String, usize>,
    restarts: usize,
    timeout: Duration,
    cap: u64,
    shown_draws: Vec<(ShownDraw, String)>,
    /// The cell that changed PyTorch's print options, which the subset notes but does
    /// not follow: tensors printed from it on are not compared.
    print_options_from: Option<usize>,
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
            Outcome::Replied(reply) => *reply,
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
                let cap = self.cap >> 30;
                let process = (self.cap + crate::interpreter::ADDRESS_SPACE_MARGIN) >> 30;
                nb.not_run(source, &format!("the interpreter {why}; a tensor may take {cap} GiB and the interpreter {process} GiB in all"));
                return Ok(());
            }
        };
        self.show(nb, file, cell, number, &request, &reply);
        notes(nb, &prepared.skipped, &reply);
        Ok(())
    }

    fn show(
        &mut self,
        nb: &mut Notebook,
        file: &NotebookFile,
        cell: &FileCell,
        number: usize,
        request: &CellRequest,
        reply: &CellReply,
    ) {
        let source = cell.source.as_str();
        // Whatever answered is replayed into a replacement interpreter: a failing cell
        // fails again at the same point, leaving the same names behind.
        self.ran.push(request.clone());
        let failed = reply.not_run.is_some()
            || (reply.error.is_some() && original_error(file, cell).is_none());
        for name in &reply.stores {
            // A cell's imports that took place stay usable, the cell run or not.
            let imported = reply.imported.contains(name);
            if failed && !imported {
                self.unavailable.insert(name.clone(), number);
            } else {
                self.unavailable.remove(name);
            }
        }
        if let Some(reason) = &reply.not_run {
            nb.not_run(source, reason);
            return;
        }
        if let (Some(error), None) = (&reply.error, original_error(file, cell)) {
            let reason = match error.split_once(": ") {
                Some((_, what)) if what.contains(NOT_IN_SUBSET) => what.to_string(),
                _ => format!("it raised {error}, which the notebook's run did not"),
            };
            nb.not_run(source, &reason);
            return;
        }
        if let (Some(draw), Some(printed)) = (reply.shown_draw, &cell.printed) {
            self.shown_draws.push((draw, printed.clone()));
        }
        if reply.changed_print_options {
            self.print_options_from.get_or_insert(number);
        }
        let printed = reply.printed();
        let notebook = cell.printed.clone().unwrap_or_default();
        if printed.is_empty() && cell.printed.is_none() {
            nb.code(source);
        } else if printed.contains(" at 0x…") {
            nb.show_incomparable(source, &printed, &notebook, ADDRESS);
        } else if reply.read_unseeded_draws {
            nb.show_seeded(source, &printed, &notebook, UNSEEDED);
        } else if let Some(from) = self
            .print_options_from
            .filter(|_| printed.contains("tensor("))
        {
            let reason = format!(
                "cell {from} changed PyTorch's print options (torch.set_printoptions), which the subset does not follow"
            );
            nb.show_incomparable(source, &printed, &notebook, &reason);
        } else {
            nb.show(source, &printed, &notebook);
        }
        // The notebook's run raised here too: the error's last line, as Jupyter shows it.
        if let (Some(ours), Some(theirs)) = (&reply.error, original_error(file, cell)) {
            nb.extra("error", ours);
            nb.check(
                "the cell raises the error the notebook's run raised",
                *ours == theirs,
                &format!("the notebook's: {theirs}"),
            );
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

/// What a cell's output does not say: the lines not run, the modules outside the subset
/// it imports, what it printed on stderr.
fn notes(nb: &mut Notebook, skipped: &[String], reply: &CellReply) {
    if !skipped.is_empty() {
        let lines: Vec<String> = skipped.iter().map(|l| format!("`{l}`")).collect();
        nb.extra(
            "not run",
            &format!(
                "{}: IPython magics, shell and help lines are not Python and are not run here",
                lines.join(", ")
            ),
        );
    }
    if !reply.absent_imports.is_empty() && reply.not_run.is_none() {
        nb.extra(
            "not in the subset",
            &format!(
                "{}: imported as a stand-in, so that the rest of the cell runs; the cells that use it are not run",
                reply.absent_imports.join(", ")
            ),
        );
    }
    if !reply.stderr.trim().is_empty() {
        nb.extra("stderr", reply.stderr.trim_end());
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
