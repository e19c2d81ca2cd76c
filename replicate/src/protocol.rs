//! What the supervisor and the interpreter process say to each other, one JSON document
//! a line: how to start, a cell to run, and what the cell did.

use crossent::pt::Conventions;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The first line the interpreter reads: how to set itself up.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Start {
    /// The display conventions the notebook file shows.
    pub conventions: Conventions,
    /// The notebook's random history recovered from its prints: its unseeded draws are
    /// then drawn as it drew them.
    pub recovered: Option<Recovered>,
    /// The cap on one tensor's bytes.
    pub tensor_cap_bytes: u64,
}

/// A seed recovered from a notebook's printed draws, and where each of them lay in its
/// stream.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recovered {
    /// The seed PyTorch drew it from.
    pub seed: u32,
    /// Each printed draw, in order.
    pub draws: Vec<RecoveredDraw>,
}

/// One printed draw of a recovered history.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecoveredDraw {
    /// The run's draw call that made it.
    pub call: usize,
    /// For a `randint(high, …)`, `high`; else a `randn`.
    pub randint_high: Option<u32>,
    /// For a `randn`, the factor it was multiplied by before it was printed.
    pub scale: f32,
    /// What the notebook printed for it.
    pub printed: String,
    /// Words drawn between the previous printed draw and this one.
    pub gap_words: u64,
    /// The cached normal in the gap: `None` kept, `Some(None)` taken, `Some(Some(at))`
    /// left by a pair `at` words into the gap.
    pub gap_cache: Option<Option<u64>>,
}

/// A tensor a cell displayed just as it was drawn: the seed search can read it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShownDraw {
    /// The run's draw call that made it.
    pub call: usize,
    /// For a `randint(high, …)`, `high`; else a `randn`.
    pub randint_high: Option<i64>,
    /// For a `randn`, the factor it was multiplied by.
    pub scale: f32,
}

/// One cell to run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CellRequest {
    /// The cell's name in tracebacks, `<cell N>`.
    pub name: String,
    /// Its Python source, magics and shell lines already blanked.
    pub source: String,
    /// Names that cells which did not run would have bound, and which cell that was.
    pub unavailable: BTreeMap<String, usize>,
    /// Whether the display of the cell's value is suppressed (a trailing `;`).
    pub quiet: bool,
}

/// What one cell did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CellReply {
    /// What it printed to stdout.
    pub stdout: String,
    /// What it printed to stderr (warnings).
    pub stderr: String,
    /// The text Jupyter shows for its value, when it has one.
    pub value: Option<String>,
    /// The last line of the error it raised (`NameError: name 'x' is not defined`).
    pub error: Option<String>,
    /// Why it was not run: what it needs outside the subset, or a cell it depends on.
    pub not_run: Option<String>,
    /// The names it binds.
    pub stores: Vec<String>,
    /// The names its imports bound, as far as it ran.
    pub imported: Vec<String>,
    /// The modules outside the subset it imports (bound to stand-ins).
    pub absent_imports: Vec<String>,
    /// Whether it read values drawn from a generator the notebook never seeded.
    pub read_unseeded_draws: bool,
    /// Whether it called `torch.set_printoptions` (noted, not followed).
    pub changed_print_options: bool,
    /// The tensor it displayed, when that was a draw as drawn.
    pub shown_draw: Option<ShownDraw>,
}

impl CellReply {
    /// The text the cell printed as a notebook file holds it: stdout, then the value on
    /// a line of its own, without the final newline.
    pub fn printed(&self) -> String {
        let mut text = self.stdout.clone();
        if let Some(value) = &self.value {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(value);
        }
        text.trim_end_matches('\n').to_string()
    }
}
