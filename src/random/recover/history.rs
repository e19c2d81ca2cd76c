//! Where a notebook's printed draws lie in a seed's stream, and what the gaps mean.
//!
//! A saved notebook shows each cell's last run. A cell run twice drew twice, so a later
//! printed draw need not follow the one before it: `locate` scans the stream forward
//! from the end of each printed draw until the next one prints as it printed, allowing
//! for the normal `randn` caches between calls, and `History::replay` draws them all
//! again with `Generator`. A gap that equals whole runs of the same cell says so
//! ("it ran 3 times").
//!
//! ```
//! use crossent::random::recover::history::{locate, Gap};
//! use crossent::random::recover::{PrintedDraw, Start};
//! use crossent::random::Generator;
//!
//! // torch.manual_seed(9); x = torch.randn(3); t = torch.randint(3, (5,)), run twice.
//! let mut g = Generator::manual_seed(9);
//! let x = crossent::pt::repr(&g.randn(3)?)?;
//! g.randint(0, 3, 5)?;
//! let t = crossent::pt::repr(&g.randint(0, 3, 5)?)?;
//! let draws = [PrintedDraw::normal("x", &x, 1.0), PrintedDraw::randint("t", &t, 3)];
//! let start = Start { seed: 9, words_before: 0, cached_from: None };
//! let history = locate(start, &draws, 4096)?;
//! assert_eq!(history.gaps[1], Gap { words: 5, cache: crossent::random::recover::history::CacheUse::Kept });
//! assert_eq!(history.replay(&draws)?.len(), 2);
//! # Ok::<(), anyhow::Error>(())
//! ```

use super::{DrawKind, PrintedDraw, Start};
use crate::random::Generator;
use anyhow::{bail, Result};

/// What happened to the cached normal in a gap before a draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheUse {
    /// Untouched: the gap's words came from draws that do not use it (`randint`), or
    /// there was none.
    Kept,
    /// Taken by a draw in the gap; none is cached when the draw begins.
    Dropped,
    /// Left by a `randn` in the gap whose last pair began this many words into it.
    FromPairAt(u64),
}

/// The words drawn between one printed draw and the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Words drawn in the gap (a pair that left the cache included).
    pub words: u64,
    /// The cached normal's fate in it.
    pub cache: CacheUse,
}

impl Gap {
    /// Moves `g` across the gap.
    pub fn apply(&self, g: &mut Generator) {
        match self.cache {
            CacheUse::Kept => g.skip(self.words),
            CacheUse::Dropped => {
                g.take_cached_normal();
                g.skip(self.words);
            }
            CacheUse::FromPairAt(at) => {
                g.take_cached_normal();
                g.skip(at);
                g.normal_f64(0.0, 1.0);
                g.skip(self.words - at - 4);
            }
        }
    }
}

/// A seed and the gaps before each printed draw: the notebook's random history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    /// The seed.
    pub seed: u32,
    /// The gap before each draw, the first counted from the seed.
    pub gaps: Vec<Gap>,
}

impl History {
    /// A history written down as a fact (a chapter's recovered seed).
    pub fn new(seed: u32, gaps: &[Gap]) -> Self {
        Self {
            seed,
            gaps: gaps.to_vec(),
        }
    }

    /// Draws every printed draw again from the seed, crossing each gap; the values come
    /// in the order of `draws`.
    pub fn replay(&self, draws: &[PrintedDraw]) -> Result<Vec<Vec<f64>>> {
        if draws.len() != self.gaps.len() {
            bail!(
                "the history has {} gaps for {} draws",
                self.gaps.len(),
                draws.len()
            );
        }
        let mut g = Generator::manual_seed(u64::from(self.seed));
        draws
            .iter()
            .zip(&self.gaps)
            .map(|(draw, gap)| {
                gap.apply(&mut g);
                draw.draw(&mut g)
            })
            .collect()
    }

    /// The draws that do not print as printed when replayed (empty: the seed is proven).
    pub fn mismatches(&self, draws: &[PrintedDraw]) -> Result<Vec<String>> {
        let values = self.replay(draws)?;
        Ok(draws
            .iter()
            .zip(&values)
            .filter(|(d, v)| !d.matches(v))
            .map(|(d, _)| d.name.clone())
            .collect())
    }

    /// Python that replays the history in PyTorch and prints each draw flattened: gaps
    /// become `randint` draws of one word a value, and the cached normal is taken or
    /// left by a `randn(1)`, so that `torch` itself can confirm the seed.
    pub fn pytorch_code(&self, draws: &[PrintedDraw]) -> String {
        let mut lines = vec![
            "import torch".to_string(),
            format!("torch.manual_seed({})", self.seed),
        ];
        let mut cached = false;
        let skip = |lines: &mut Vec<String>, words: u64| {
            if words > 0 {
                lines.push(format!("torch.randint(2, ({words},))"));
            }
        };
        for (draw, gap) in draws.iter().zip(&self.gaps) {
            match gap.cache {
                CacheUse::Kept => skip(&mut lines, gap.words),
                CacheUse::Dropped | CacheUse::FromPairAt(_) if cached => {
                    lines.push("torch.randn(1)  # takes the cached normal".into());
                }
                _ => {}
            }
            match gap.cache {
                CacheUse::Kept => {}
                CacheUse::Dropped => skip(&mut lines, gap.words),
                CacheUse::FromPairAt(at) => {
                    skip(&mut lines, at);
                    lines.push("torch.randn(1)  # a fresh pair; its second is cached".into());
                    skip(&mut lines, gap.words - at - 4);
                }
            }
            let n = draw.values.len();
            let call = match draw.kind {
                DrawKind::Normal { scale: 1.0 } => format!("torch.randn({n})"),
                DrawKind::Normal { scale } => format!("torch.randn({n}) * {scale}"),
                DrawKind::Randint { high } => format!("torch.randint({high}, ({n},))"),
            };
            lines.push(format!("print({call})  # {}", draw.name));
            cached = cached_after(draw, effective(gap, cached).0);
        }
        lines.join("\n")
    }

    /// One line a draw: where it lies in the stream and what the gap before it means.
    pub fn describe(&self, draws: &[PrintedDraw]) -> Vec<String> {
        let mut cached = false;
        let mut position = 0u64;
        let mut lines = Vec::new();
        for (i, (draw, gap)) in draws.iter().zip(&self.gaps).enumerate() {
            let after = match i {
                0 => "the seed".to_string(),
                _ => draws[i - 1].name.clone(),
            };
            let meaning = match runs_explaining(draw, cached, gap) {
                Some(0) if i == 0 => "the run's first draw".to_string(),
                Some(0) => format!("drawn right after {after}"),
                Some(runs) => format!(
                    "{} words were drawn after {after}: the cell ran {} times, and the notebook \
                     shows its last run",
                    gap.words,
                    runs + 1
                ),
                None => format!(
                    "{} words were drawn after {after} by code the notebook does not show",
                    gap.words
                ),
            };
            let pair_before = position;
            position += gap.words;
            let (cached_at_start, pair) = effective(gap, cached);
            let cache = match pair {
                Some(at) => format!(
                    " (its first value cached by the pair at word {})",
                    pair_before + at
                ),
                None if cached_at_start && matches!(draw.kind, DrawKind::Normal { .. }) => {
                    " (its first value the normal cached before it)".to_string()
                }
                None => String::new(),
            };
            lines.push(format!(
                "{}: from word {position} of the stream{cache}; {meaning}",
                draw.name
            ));
            position += draw.words_per_run(cached_at_start).0;
            cached = cached_after(draw, cached_at_start);
        }
        lines
    }
}

/// Whether a normal is cached after `draw`, given whether one was before it.
fn cached_after(draw: &PrintedDraw, cached_before: bool) -> bool {
    draw.words_per_run(cached_before).1
}

/// Whether a normal is cached when the draw after `gap` begins, and where in the gap its
/// pair began (when a draw in the gap left it).
fn effective(gap: &Gap, cached_before: bool) -> (bool, Option<u64>) {
    match gap.cache {
        CacheUse::Kept => (cached_before, None),
        CacheUse::Dropped => (false, None),
        CacheUse::FromPairAt(at) => (true, Some(at)),
    }
}

/// How many earlier runs of `draw` itself fill `gap` exactly, if whole runs do.
fn runs_explaining(draw: &PrintedDraw, cached_before: bool, gap: &Gap) -> Option<u64> {
    let target = effective(gap, cached_before);
    let (mut words, mut cached, mut pair) = (0u64, cached_before, None);
    for runs in 0.. {
        if words == gap.words && (cached, pair) == target {
            return Some(runs);
        }
        let (w, after) = draw.words_per_run(cached);
        if w == 0 || words + w > gap.words {
            return None;
        }
        if matches!(draw.kind, DrawKind::Normal { .. }) {
            pair = after.then(|| words + w - 4);
            cached = after;
        }
        words += w;
    }
    None
}

/// The history from `start` (where `draws[0]` begins) in which every later draw lies at
/// the first place, at most `max_gap` words after the draw before it, from which it and
/// every draw after it print as printed. Fails, saying which draw, when none does.
pub fn locate(start: Start, draws: &[PrintedDraw], max_gap: u64) -> Result<History> {
    let Some(first) = draws.first() else {
        bail!("no printed draws to locate");
    };
    let mut gaps = vec![Gap {
        words: start.words_before as u64,
        cache: start
            .cached_from
            .map_or(CacheUse::Kept, |at| CacheUse::FromPairAt(at as u64)),
    }];
    let mut g = start.generator();
    if !first.matches(&first.draw(&mut g)?) {
        bail!(
            "{} does not print as printed from seed {}",
            first.name,
            start.seed
        );
    }
    let mut deepest = 1;
    if !extend(draws, 1, &g, &mut gaps, max_gap, &mut deepest)? {
        bail!(
            "{} does not lie within {max_gap} words after {} in the stream of seed {}: \
             drawn on another generator or device, or the cells ran out of order",
            draws[deepest].name,
            draws[deepest - 1].name,
            start.seed
        );
    }
    Ok(History {
        seed: start.seed,
        gaps,
    })
}

/// Depth-first: places `draws[index]` after the state `g`, then the rest.
fn extend(
    draws: &[PrintedDraw],
    index: usize,
    g: &Generator,
    gaps: &mut Vec<Gap>,
    max_gap: u64,
    deepest: &mut usize,
) -> Result<bool> {
    let Some(draw) = draws.get(index) else {
        return Ok(true);
    };
    *deepest = (*deepest).max(index);
    let mut cursor = g.clone();
    cursor.take_cached_normal();
    for words in 0..=max_gap {
        for gap in candidates(draw, g.has_cached_normal(), &cursor, words) {
            let mut h = g.clone();
            gap.apply(&mut h);
            if draw.matches(&draw.draw(&mut h)?) {
                gaps.push(gap);
                if extend(draws, index + 1, &h, gaps, max_gap, deepest)? {
                    return Ok(true);
                }
                gaps.pop();
            }
        }
        cursor.skip(1);
    }
    Ok(false)
}

/// The gaps of `words` words worth replaying for `draw`: `cursor` is the stream at the
/// gap's end with no cached normal. A normal draw is tried only where the pair there
/// prints as its first two values (fresh) or its second and third (after a cached one).
fn candidates(draw: &PrintedDraw, cached: bool, cursor: &Generator, words: u64) -> Vec<Gap> {
    let gap = |cache| Gap { words, cache };
    let DrawKind::Normal { scale } = draw.kind else {
        return vec![gap(CacheUse::Kept)];
    };
    let from_pairs = || {
        (0..=words.saturating_sub(4))
            .filter(|_| words >= 4)
            .map(|at| gap(CacheUse::FromPairAt(at)))
    };
    let v = &draw.values;
    if v.len() < 3 {
        let mut all = vec![gap(if cached {
            CacheUse::Dropped
        } else {
            CacheUse::Kept
        })];
        all.extend(cached.then(|| gap(CacheUse::Kept)));
        all.extend(from_pairs());
        return all;
    }
    let mut pair = cursor.clone();
    let cos = f64::from(pair.normal_f64(0.0, 1.0) as f32 * scale);
    let sin = f64::from(pair.take_cached_normal().unwrap_or(f64::NAN) as f32 * scale);
    let prints = |i: usize, x: f64| v[i].miss(x, 1.0) == 0.0;
    let mut all = Vec::new();
    if prints(0, cos) && prints(1, sin) {
        all.push(gap(if cached {
            CacheUse::Dropped
        } else {
            CacheUse::Kept
        }));
    }
    if prints(1, cos) && prints(2, sin) {
        all.extend(cached.then(|| gap(CacheUse::Kept)));
        all.extend(from_pairs());
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pt;

    fn repr(t: candle_core::Tensor) -> String {
        pt::repr(&t).unwrap()
    }

    /// Chapter 2's cells, with `x` run twice and `target` three times.
    #[test]
    fn reruns_are_found_and_explained() {
        let mut g = Generator::manual_seed(2024);
        g.randn((5, 3)).unwrap();
        let x = repr(g.randn((5, 3)).unwrap());
        g.randint(0, 3, 5).unwrap();
        g.randint(0, 3, 5).unwrap();
        let t = repr(g.randint(0, 3, 5).unwrap());
        let input = repr(g.randn((2, 3)).unwrap());
        let draws = [
            PrintedDraw::normal("x", &x, 1.0),
            PrintedDraw::randint("target", &t, 3),
            PrintedDraw::normal("input", &input, 1.0),
        ];
        let found = super::super::exact_starts(&draws[0], 2024, 64).unwrap();
        assert_eq!(found.len(), 1);
        let history = locate(found[0], &draws, 4096).unwrap();
        assert!(history.mismatches(&draws).unwrap().is_empty());
        let lines = history.describe(&draws);
        assert!(lines[0].contains("the cell ran 2 times"), "{lines:?}");
        assert!(lines[1].contains("the cell ran 3 times"), "{lines:?}");
        assert!(lines[2].contains("drawn right after target"), "{lines:?}");
        assert_eq!(
            history.gaps,
            vec![
                Gap {
                    words: 32,
                    cache: CacheUse::FromPairAt(28)
                },
                Gap {
                    words: 10,
                    cache: CacheUse::Kept
                },
                Gap {
                    words: 0,
                    cache: CacheUse::Kept
                },
            ]
        );
    }

    #[test]
    fn a_draw_from_elsewhere_is_named() {
        let mut g = Generator::manual_seed(1);
        let x = repr(g.randn(6).unwrap());
        let mut other = Generator::manual_seed(2);
        let y = repr(other.randn(6).unwrap());
        let draws = [
            PrintedDraw::normal("x", &x, 1.0),
            PrintedDraw::normal("y", &y, 1.0),
        ];
        let start = Start {
            seed: 1,
            words_before: 0,
            cached_from: None,
        };
        let err = locate(start, &draws, 256).unwrap_err().to_string();
        assert!(
            err.starts_with("y does not lie within 256 words after x"),
            "{err}"
        );
    }
}
