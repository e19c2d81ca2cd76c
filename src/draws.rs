//! Where a chapter's random inputs come from: the notebook's own draws when its seed is
//! known, else `refine`'s choice inside the printed rounding.
//!
//! The seed is known when the file seeds PyTorch before its first draw
//! (`torch.manual_seed`), when the chapter's recorded seed (recovered once from the
//! original's prints, a fact with its proof) reproduces what the notebook printed, or
//! when `--recover-seed` searches all 2³² seeds for it (`random::recover`). Then every
//! printed draw is located in the stream and replayed, and the chapter computes from the
//! values the notebook drew.
//!
//! ```
//! use crossent::draws::{notebook_draws, Source};
//! use crossent::notebook::Notebook;
//! use crossent::random::recover::history::{CacheUse, Gap, History};
//! use crossent::random::recover::PrintedDraw;
//! use crossent::random::Generator;
//!
//! let mut g = Generator::manual_seed(41);
//! let printed = crossent::pt::repr(&g.randn(6)?)?;
//! let draws = [PrintedDraw::normal("x", &printed, 1.0)];
//! let recorded = History::new(41, &[Gap { words: 0, cache: CacheUse::Kept }]);
//! let mut nb = Notebook::silent();
//! let found = notebook_draws(&mut nb, &draws, "x = torch.randn(6)", &recorded, false)?;
//! let found = found.expect("the recorded seed reproduces the print");
//! assert_eq!(found.source, Source::Recorded);
//! assert_eq!(found.values[0].len(), 6);
//! # Ok::<(), anyhow::Error>(())
//! ```

use crate::notebook::Notebook;
use crate::np;
use crate::printed::PrintedNumber;
use crate::random::recover::history::{locate, History};
use crate::random::recover::{exact_starts, interactive, PrintedDraw, SearchSpace, ALL_SEEDS};
use anyhow::Result;

/// Words the quick search allows before the first printed draw (most runs draw nothing
/// before it).
pub const QUICK_WORDS_BEFORE: usize = 8;
/// Words the second search allows, when the quick one finds nothing (a cell run a few
/// times, or an import that draws).
pub const WORDS_BEFORE: usize = 64;
/// Words a later printed draw may lie after the one before it.
pub const MAX_GAP: u64 = 4096;

/// How the seed became known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The notebook file sets it with `torch.manual_seed` before its first draw.
    FileSeed,
    /// The chapter's recorded seed, recovered from the original's prints.
    Recorded,
    /// Found now by searching every seed (`--recover-seed`).
    Searched,
}

/// The notebook's draws, replayed from its seed.
#[derive(Clone, Debug)]
pub struct Found {
    /// The seed and where each draw lies.
    pub history: History,
    /// How the seed became known.
    pub source: Source,
    /// Each printed draw's values, in the order given.
    pub values: Vec<Vec<f64>>,
}

/// The notebook's draws when its seed is known (see the module doc); `None` when it is
/// not, after saying why in `nb` and what finds it. `first_cell` is the code
/// of the cell that makes the first draw; `recorded` the chapter's recovered seed;
/// `recover` whether to search every seed when neither the file nor the record gives one.
pub fn notebook_draws(
    nb: &mut Notebook,
    draws: &[PrintedDraw],
    first_cell: &str,
    recorded: &History,
    recover: bool,
) -> Result<Option<Found>> {
    if let Some(seed) = nb.notebook_seed(first_cell) {
        let starts = exact_starts(&draws[0], seed as u32, WORDS_BEFORE)?;
        let history = starts
            .into_iter()
            .find_map(|start| locate(start, draws, MAX_GAP).ok());
        return match history {
            Some(history) => found(draws, history, Source::FileSeed).map(Some),
            None => {
                nb.warn(&format!(
                    "note: the file seeds PyTorch with {seed}, but its printed {} does not come \
                     from that seed's stream; the inputs are refined from the prints instead",
                    draws[0].name
                ));
                Ok(None)
            }
        };
    }
    if recorded.mismatches(draws)?.is_empty() {
        return found(draws, recorded.clone(), Source::Recorded).map(Some);
    }
    if !recover {
        nb.warn(
            "note: this run's random draws are not the recorded seed's; --recover-seed finds \
             its seed (a few minutes), and without it the inputs are refined from the prints",
        );
        return Ok(None);
    }
    let held_first = match search_every_seed(draws)? {
        Ok(history) => return found(draws, history, Source::Searched).map(Some),
        Err(held_first) => held_first,
    };
    nb.warn(&format!(
        "note: no seed's stream holds every printed draw ({} seeds hold {}); the draws were \
         made on a GPU or another generator, or more than {WORDS_BEFORE} words were drawn \
         before {}: the inputs are refined from the prints instead",
        held_first, draws[0].name, draws[0].name
    ));
    Ok(None)
}

/// Searches all 2³² seeds, with a progress bar, for the stream that holds every one of
/// `draws` (the first a `randn` the search can read): the quick search first, since most
/// runs draw nothing before their first printed draw, then one allowing
/// `WORDS_BEFORE` words. Gives the history found, or else how many seeds' streams hold
/// the first draw alone.
///
/// ```no_run
/// use crossent::random::recover::PrintedDraw;
/// let x = PrintedDraw::normal("x", "tensor([[ 1.3877, -1.2656, -0.9112]])", 1.0);
/// match crossent::draws::search_every_seed(&[x])? {
///     Ok(history) => println!("seed {}", history.seed),
///     Err(held_first) => println!("no stream holds them all ({held_first} hold the first)"),
/// }
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn search_every_seed(draws: &[PrintedDraw]) -> Result<std::result::Result<History, usize>> {
    let mut held_first = 0;
    for words_before in [QUICK_WORDS_BEFORE, WORDS_BEFORE] {
        let space = SearchSpace {
            seeds: ALL_SEEDS,
            words_before,
        };
        let starts = interactive::search_with_progress(&draws[0], &space)?;
        if let Some(history) = starts
            .iter()
            .find_map(|&start| locate(start, draws, MAX_GAP).ok())
        {
            return Ok(Ok(history));
        }
        held_first = starts.len();
    }
    Ok(Err(held_first))
}

/// Replays `history` and proves it: every draw prints as printed.
fn found(draws: &[PrintedDraw], history: History, source: Source) -> Result<Found> {
    let values = history.replay(draws)?;
    let mismatched = history.mismatches(draws)?;
    anyhow::ensure!(
        mismatched.is_empty(),
        "seed {} does not reproduce the printed {}",
        history.seed,
        mismatched.join(", ")
    );
    Ok(Found {
        history,
        source,
        values,
    })
}

impl Found {
    /// Says in `nb` which seed and which draw history the run uses, and, when the
    /// notebook set no seed, reports the recovered one as a finding.
    pub fn describe_in(&self, nb: &mut Notebook, draws: &[PrintedDraw]) {
        let (history, source) = (&self.history, self.source);
        let how = match source {
            Source::FileSeed => "set by torch.manual_seed in the file",
            Source::Recorded => "recovered from the notebook's prints, recorded in the chapter",
            Source::Searched => "recovered now from the notebook's prints (--recover-seed)",
        };
        nb.extra(
            &format!("random draws: seed {} ({how})", history.seed),
            &history.describe(draws).join("\n"),
        );
        nb.extra(
            "the same draws in PyTorch (each printed flat; the gaps drawn as randint)",
            &history.pytorch_code(draws),
        );
        if source != Source::FileSeed {
            let names: Vec<&str> = draws.iter().map(|d| d.name.as_str()).collect();
            nb.finding(
                &format!(
                    "the notebook set no seed, and its draws come from seed {}",
                    history.seed
                ),
                &format!(
                    "torch.manual_seed({}) reproduces every random value it printed ({}): \
                     its outputs can be replicated exactly, not only within their rounding",
                    history.seed,
                    names.join(", ")
                ),
            );
        }
    }
}

/// The values drawn beside the ones `refine` chose and the printed rounding intervals,
/// one line a value (`x[0, 1]` names it with `columns` values a row).
pub fn beside_refined(
    name: &str,
    drawn: &[f64],
    refined: &[f64],
    printed: &[PrintedNumber],
    columns: usize,
) -> String {
    let label = |i: usize| format!("{name}[{}, {}]", i / columns, i % columns);
    let width = (0..drawn.len()).map(|i| label(i).len()).max().unwrap_or(0);
    let mut lines = vec![format!(
        "{:<width$} {:>13} {:>13}  printed, ± half a unit",
        "", "drawn", "refine"
    )];
    for (i, ((d, r), p)) in drawn.iter().zip(refined).zip(printed).enumerate() {
        lines.push(format!(
            "{:<width$} {:>13} {:>13}  {} ± {}",
            label(i),
            np::float32(*d as f32),
            np::float32(*r as f32),
            p.literal,
            np::float64(p.half_unit)
        ));
    }
    lines.join("\n")
}
