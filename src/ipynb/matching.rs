//! Which cell of a notebook file each chapter cell reproduces, decided as nbdime and
//! jupytext align cells: by cell id first, then by the source with its whitespace
//! normalised, then by similarity, then by order.
//!
//! The chapter's cells arrive one at a time, numbered by their position in the chapter
//! (the same numbers in a silent run that `refine` makes as in the printing run). The
//! first time a position is asked for, its match is chosen greedily against the file
//! cells not yet taken, preferring those after the last match; the answer is kept, so
//! that the thousands of silent runs of a refinement see the same match and pay nothing.
//!
//! The file may lay the same code out in other cells than the chapter: a chapter cell
//! whose code is several consecutive file cells (their sources one after the other) is
//! matched to all of them, and one whose code is a run of lines of a file cell (the
//! chapter splits that cell) to that part; the part that ends the cell holds its output.
//!
//! After the first `DECIDE_AFTER` positions the matcher judges whether the file is this
//! chapter's notebook at all: fewer than half of them matched by id, source or
//! similarity, and the file is refused in one line naming the counts.

use super::read::{CellKind, NotebookFile};
use crate::record::{CellMatch, Part, Rule};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// How many chapter cells decide whether the file is the chapter's notebook.
pub const DECIDE_AFTER: usize = 8;
/// The least similarity that matches two sources on its own.
const SIMILAR: f64 = 0.6;
/// The least similarity for the next cell in order to be taken as the match.
const IN_ORDER: f64 = 0.3;
/// The most consecutive file cells one chapter cell may span.
const MAX_SPAN: usize = 12;
/// How many open cells after the last match a span may start at.
const SPAN_WINDOW: usize = 16;

/// The judgement on whether the file is the chapter's notebook.
#[derive(Clone, Debug, PartialEq)]
enum Verdict {
    Pending,
    Accepted,
    Refused(String),
}

#[derive(Debug)]
struct State {
    /// Per chapter position (from 1): the code asked for and its match.
    by_position: HashMap<usize, (String, Option<CellMatch>)>,
    taken: Vec<bool>,
    /// Per file cell, how many of its non-blank lines chapter cells have reproduced as
    /// parts so far (a cell begun in parts is open to its next part only).
    consumed: Vec<usize>,
    /// The file index of the latest match, in the order positions were first asked.
    last: Option<usize>,
    verdict: Verdict,
}

/// The matching of one chapter against one notebook file, shared by every harness of a
/// chapter run (the printing one and the silent ones of a refinement).
#[derive(Debug)]
pub struct Matcher {
    file: Arc<NotebookFile>,
    chapter: usize,
    normalised: Vec<String>,
    /// Each file cell's non-blank lines, normalised.
    lines: Vec<Vec<String>>,
    state: Mutex<State>,
}

/// The id a chapter gives its cell at `position` in the notebooks it writes.
pub fn chapter_cell_id(chapter: usize, position: usize) -> String {
    format!("crossent-{chapter}-{position}")
}

impl Matcher {
    /// A matcher of chapter `chapter`'s cells against `file`.
    pub fn new(file: Arc<NotebookFile>, chapter: usize) -> Self {
        let normalised = file.cells.iter().map(|c| normalise(&c.source)).collect();
        let lines = file
            .cells
            .iter()
            .map(|c| normalised_lines(&c.source))
            .collect();
        let taken = vec![false; file.cells.len()];
        let consumed = vec![0; file.cells.len()];
        Self {
            file,
            chapter,
            normalised,
            lines,
            state: Mutex::new(State {
                by_position: HashMap::new(),
                taken,
                consumed,
                last: None,
                verdict: Verdict::Pending,
            }),
        }
    }

    /// The file matched against.
    pub fn file(&self) -> &Arc<NotebookFile> {
        &self.file
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the state half-updated: each update is whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The match of the chapter cell at `position` (from 1) whose code is `code`.
    pub fn lookup(&self, position: usize, code: &str) -> Option<CellMatch> {
        let mut state = self.state();
        if let Some((known, found)) = state.by_position.get(&position) {
            if known == code {
                return found.clone();
            }
        }
        let found = self.choose(&state, position, code);
        if let Some(m) = &found {
            match m.part {
                Some(part) => {
                    state.consumed[m.index] = part.first_line + part.lines;
                    state.taken[m.index] = part.ends_cell();
                }
                None => m.cells().for_each(|i| state.taken[i] = true),
            }
            state.last = Some(m.last());
        }
        state
            .by_position
            .insert(position, (code.to_string(), found.clone()));
        if state.verdict == Verdict::Pending && state.by_position.len() >= DECIDE_AFTER {
            state.verdict = self.judge(&state);
        }
        found
    }

    fn choose(&self, state: &State, position: usize, code: &str) -> Option<CellMatch> {
        let wanted = normalise(code);
        // Whole cells open to a match: code, not taken, not begun in parts.
        let open: Vec<usize> = self
            .file
            .cells
            .iter()
            .filter(|c| {
                c.kind == CellKind::Code && !state.taken[c.index] && state.consumed[c.index] == 0
            })
            .map(|c| c.index)
            .collect();
        // Cells after the last match first, then the rest, each in file order.
        let after = |i: &usize| state.last.is_none_or(|last| *i > last);
        let ordered: Vec<usize> = open
            .iter()
            .copied()
            .filter(after)
            .chain(open.iter().copied().filter(|i| !after(i)))
            .collect();
        let make = |index: usize, rule: Rule| {
            CellMatch::whole(
                index,
                self.file.cells[index].id.clone(),
                rule,
                similarity(&wanted, &self.normalised[index]),
            )
        };
        let id = chapter_cell_id(self.chapter, position);
        if let Some(&i) = ordered
            .iter()
            .find(|&&i| self.file.cells[i].id.as_deref() == Some(&id))
        {
            return Some(make(i, Rule::Id));
        }
        if let Some(&i) = ordered.iter().find(|&&i| self.normalised[i] == wanted) {
            return Some(make(i, Rule::Source));
        }
        if let Some(part) = self.part(state, &ordered, code) {
            return Some(part);
        }
        // Spans start among the first open cells after the last match: the chapter goes
        // through the file in order, and a file of many cells costs no more per cell.
        let spans: Vec<Vec<usize>> = ordered
            .iter()
            .take(SPAN_WINDOW)
            .map(|&i| self.span_from(state, i, wanted.len()))
            .collect();
        let spanned = |span: &[usize]| {
            let mut m = make(span[0], Rule::Source);
            m.continued_in = span[1..].to_vec();
            m.similarity = similarity(&wanted, &self.joined(span));
            m
        };
        for span in &spans {
            for end in 2..=span.len() {
                if self.joined(&span[..end]) == wanted {
                    return Some(spanned(&span[..end]));
                }
            }
        }
        let mut best: Option<(Vec<usize>, f64)> = None;
        let pairs = |text: &str| text.chars().count().saturating_sub(1) as f64;
        let wanted_pairs = pairs(&wanted);
        let mut consider = |cells: &[usize], text: &str| {
            // Dice cannot exceed 2·min/(sum) of the two counts of character pairs: skip
            // what cannot reach SIMILAR.
            let (a, b) = (wanted_pairs, pairs(text));
            if 2.0 * a.min(b) < SIMILAR * (a + b) {
                return;
            }
            let s = similarity(&wanted, text);
            if s >= SIMILAR && best.as_ref().is_none_or(|(_, b)| s > *b) {
                best = Some((cells.to_vec(), s));
            }
        };
        for &i in &ordered {
            consider(&[i], &self.normalised[i]);
        }
        for span in &spans {
            for end in 2..=span.len() {
                consider(&span[..end], &self.joined(&span[..end]));
            }
        }
        if let Some((span, _)) = best {
            let mut m = spanned(&span);
            m.rule = Rule::Similarity;
            return Some(m);
        }
        let next = ordered.first().copied().filter(after)?;
        (similarity(&wanted, &self.normalised[next]) >= IN_ORDER).then(|| make(next, Rule::Order))
    }

    /// The part of a file cell whose next non-blank lines are `code`'s: a cell already
    /// begun in parts first, else the first lines of an open cell that has more.
    fn part(&self, state: &State, ordered: &[usize], code: &str) -> Option<CellMatch> {
        let wanted = normalised_lines(code);
        if wanted.is_empty() {
            return None;
        }
        let begun = (0..self.file.cells.len())
            .filter(|&i| !state.taken[i] && state.consumed[i] > 0)
            .map(|i| (i, state.consumed[i]));
        let fresh = ordered.iter().map(|&i| (i, 0));
        let (index, first_line) = begun.chain(fresh).find(|&(i, from)| {
            let lines = &self.lines[i];
            lines.len() > from
                && lines[from..].starts_with(&wanted)
                && (from > 0 || wanted.len() < lines.len())
        })?;
        let cell = &self.file.cells[index];
        Some(CellMatch {
            part: Some(Part {
                first_line,
                lines: wanted.len(),
                of: self.lines[index].len(),
            }),
            ..CellMatch::whole(index, cell.id.clone(), Rule::Source, 1.0)
        })
    }

    /// The open code cells from `first` on, consecutive among the file's code cells (a
    /// markdown cell between them does not part them), as far as a chapter cell of
    /// `wanted_len` normalised characters could reach.
    fn span_from(&self, state: &State, first: usize, wanted_len: usize) -> Vec<usize> {
        let mut span = Vec::new();
        let mut length = 0;
        for cell in self.file.cells[first..].iter() {
            if cell.kind != CellKind::Code {
                continue;
            }
            let i = cell.index;
            if state.taken[i] || state.consumed[i] > 0 || span.len() == MAX_SPAN {
                break;
            }
            if self.normalised[i].is_empty() {
                continue;
            }
            if !span.is_empty() && length > 2 * wanted_len {
                break;
            }
            length += self.normalised[i].len() + 1;
            span.push(i);
        }
        span
    }

    /// The normalised sources of `cells`, one after the other.
    fn joined(&self, cells: &[usize]) -> String {
        let parts: Vec<&str> = cells.iter().map(|&i| self.normalised[i].as_str()).collect();
        parts.join(" ")
    }

    fn judge(&self, state: &State) -> Verdict {
        let asked = state.by_position.len();
        let matched = state
            .by_position
            .values()
            .filter(|(_, m)| m.as_ref().is_some_and(|m| m.rule != Rule::Order))
            .count();
        if matched * 2 >= asked {
            Verdict::Accepted
        } else {
            Verdict::Refused(format!(
                "{} does not look like chapter {}'s notebook: only {matched} of the chapter's \
                 first {asked} cells match one of its {} code cells; give chapter {}'s notebook",
                self.file.name,
                self.chapter,
                self.file.code_cells().count(),
                self.chapter
            ))
        }
    }

    /// `None` while undecided, `Some(Ok)` once the file is accepted, `Some(Err(why))` once
    /// refused.
    pub fn verdict(&self) -> Option<Result<(), String>> {
        match &self.state().verdict {
            Verdict::Pending => None,
            Verdict::Accepted => Some(Ok(())),
            Verdict::Refused(why) => Some(Err(why.clone())),
        }
    }

    /// Decides with the positions asked so far (a chapter shorter than `DECIDE_AFTER`).
    pub fn decide_now(&self) -> Result<(), String> {
        let mut state = self.state();
        if state.verdict == Verdict::Pending {
            state.verdict = self.judge(&state);
        }
        match &state.verdict {
            Verdict::Refused(why) => Err(why.clone()),
            _ => Ok(()),
        }
    }

    /// The file's code cells that no chapter cell matched, by file index.
    pub fn unmatched_file_cells(&self) -> Vec<usize> {
        let state = self.state();
        self.file
            .code_cells()
            .filter(|c| {
                !state.taken[c.index] && state.consumed[c.index] == 0 && !c.source.trim().is_empty()
            })
            .map(|c| c.index)
            .collect()
    }

    /// The file cell (or cells, or part of a cell) whose output belongs to `code`, for
    /// reading an input the notebook printed: the same source (one cell, consecutive
    /// cells, or the last lines of one), or else the most similar; nothing is taken.
    pub fn find(&self, code: &str) -> Option<CellMatch> {
        let cells = self.file.cells.len();
        let untouched = State {
            by_position: HashMap::new(),
            taken: vec![false; cells],
            consumed: vec![0; cells],
            last: None,
            verdict: Verdict::Pending,
        };
        let wanted = normalised_lines(code);
        let ending = self.file.code_cells().find_map(|c| {
            let lines = &self.lines[c.index];
            (!wanted.is_empty() && wanted.len() < lines.len() && lines.ends_with(&wanted)).then(
                || CellMatch {
                    part: Some(Part {
                        first_line: lines.len() - wanted.len(),
                        lines: wanted.len(),
                        of: lines.len(),
                    }),
                    ..CellMatch::whole(c.index, c.id.clone(), Rule::Source, 1.0)
                },
            )
        });
        // With nothing taken, `choose` gives the first cell of the same source, else a
        // span or part of the same source, else the most similar.
        let chosen = self
            .choose(&untouched, usize::MAX, code)
            .filter(|m| m.rule != Rule::Order && m.holds_output());
        match (chosen, ending) {
            (Some(m), _) if m.rule == Rule::Source => Some(m),
            (_, Some(part)) => Some(part),
            (chosen, None) => chosen,
        }
    }
}

/// A source with every run of whitespace made one space, and none at either end.
pub fn normalise(source: &str) -> String {
    source.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A source's non-blank lines, each with its runs of whitespace made one space.
fn normalised_lines(source: &str) -> Vec<String> {
    source
        .lines()
        .map(normalise)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The Dice coefficient of the two texts' character bigrams (with multiplicity): 1 for
/// equal texts, 0 for texts with no pair of adjacent characters in common. Linear in
/// the texts' lengths, so a file of many long cells costs little.
pub fn similarity(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    let bigrams = |s: &str| {
        let chars: Vec<char> = s.chars().collect();
        let mut counts: HashMap<(char, char), usize> = HashMap::new();
        for w in chars.windows(2) {
            *counts.entry((w[0], w[1])).or_default() += 1;
        }
        (counts, chars.len().saturating_sub(1))
    };
    let (ca, na) = bigrams(a);
    let (cb, nb) = bigrams(b);
    if na + nb == 0 {
        return 0.0;
    }
    let common: usize = ca
        .iter()
        .map(|(k, &n)| n.min(cb.get(k).copied().unwrap_or(0)))
        .sum();
    2.0 * common as f64 / (na + nb) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(cells: &[(&str, Option<&str>)]) -> Arc<NotebookFile> {
        let cells: Vec<serde_json::Value> = cells
            .iter()
            .map(|(source, id)| {
                let mut c = serde_json::json!({"cell_type": "code", "metadata": {},
                    "source": source, "outputs": []});
                if let Some(id) = id {
                    c["id"] = (*id).into();
                }
                c
            })
            .collect();
        let nb = serde_json::json!({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": cells});
        Arc::new(NotebookFile::from_bytes("t.ipynb", nb.to_string().as_bytes()).unwrap())
    }

    #[test]
    fn each_rule_in_turn() {
        let f = file(&[
            ("import torch", None),
            ("x  =  torch.randn(5,\n 3)", None),
            ("anything", Some("crossent-2-3")),
            ("loss = nll(log_softmax(pred), y_train)", None),
            ("model", None),
            ("y", None),
        ]);
        let m = Matcher::new(f, 2);
        assert_eq!(m.lookup(1, "import torch").unwrap().rule, Rule::Source);
        assert_eq!(
            m.lookup(2, "x = torch.randn(5, 3)").unwrap().rule,
            Rule::Source
        );
        let by_id = m.lookup(3, "something else").unwrap();
        assert_eq!((by_id.rule, by_id.index), (Rule::Id, 2));
        let similar = m
            .lookup(4, "loss = nll(log_softmax(pred), y_valid)")
            .unwrap();
        assert_eq!((similar.rule, similar.index), (Rule::Similarity, 3));
        let in_order = m.lookup(5, "print(model)").unwrap();
        assert_eq!((in_order.rule, in_order.index), (Rule::Order, 4));
        assert_eq!(m.unmatched_file_cells(), vec![5]);
        // Asking again returns the same answer, whatever was taken since.
        assert_eq!(m.lookup(1, "import torch").unwrap().index, 0);
    }

    #[test]
    fn a_chapter_cell_spans_the_file_cells_it_merges() {
        let f = file(&[
            ("layers = [nn.Linear(m,nh), nn.ReLU()]", None),
            ("class Model(nn.Module):\n    pass", None),
            ("model = Model(layers)", None),
            ("model", None),
            ("fit()", None),
        ]);
        let m = Matcher::new(f, 5);
        let merged = m
            .lookup(
                1,
                "layers = [nn.Linear(m,nh), nn.ReLU()]\n\nclass Model(nn.Module):\n    pass\n\n\
                 model = Model(layers)\nmodel",
            )
            .unwrap();
        assert_eq!((merged.rule, merged.index), (Rule::Source, 0));
        assert_eq!(merged.continued_in, vec![1, 2, 3]);
        assert_eq!(merged.describe(), "notebook cells 1–4");
        // An edited merge (a comment line the file does not have) spans by similarity.
        let f = file(&[
            ("model = get_model()", None),
            ("for xb in dl:\n    step(xb)", None),
            ("loss,acc = evaluate()\nassert acc>0.7\nloss,acc", None),
            ("other_cell()", None),
        ]);
        let m = Matcher::new(f, 5);
        let similar = m
            .lookup(
                1,
                "model = get_model()\n\nfor xb in dl:\n    step(xb)\n\nloss,acc = evaluate()\nloss,acc",
            )
            .unwrap();
        assert_eq!(similar.rule, Rule::Similarity);
        assert_eq!(
            (similar.index, similar.continued_in.clone()),
            (0, vec![1, 2])
        );
        assert_eq!(m.unmatched_file_cells(), vec![3]);
    }

    #[test]
    fn chapter_cells_split_a_file_cell_into_parts() {
        let f = file(&[
            (
                "bs=64   # batch size\n\nxb = x[0:bs]\npreds = model(xb)\npreds[0]",
                None,
            ),
            ("y", None),
        ]);
        let m = Matcher::new(f, 5);
        let first = m.lookup(1, "bs=64 # batch size").unwrap();
        assert_eq!(
            first.part,
            Some(Part {
                first_line: 0,
                lines: 1,
                of: 4
            })
        );
        assert!(!first.holds_output());
        let rest = m
            .lookup(2, "xb = x[0:bs]\npreds = model(xb)\npreds[0]")
            .unwrap();
        assert_eq!(rest.index, 0);
        assert_eq!(
            rest.part,
            Some(Part {
                first_line: 1,
                lines: 3,
                of: 4
            })
        );
        assert!(rest.holds_output());
        assert_eq!(rest.describe(), "notebook cell 1, lines 2–4 of 4");
        assert_eq!(m.unmatched_file_cells(), vec![1]);
        // A line that only begins a file line is no part of it.
        let f = file(&[("model = Model()\nmodel", None)]);
        let found = Matcher::new(f, 5).lookup(1, "model");
        assert!(found.as_ref().is_none_or(|m| m.part.is_none()), "{found:?}");
    }

    #[test]
    fn a_wrong_notebook_is_refused_with_counts() {
        let f = file(&[("from fastai.vision.all import *", None); 10]);
        let m = Matcher::new(f, 2);
        for (k, code) in ["x", "target", "x.exp()", "softmax(x)", "a", "b", "c", "d"]
            .iter()
            .enumerate()
        {
            m.lookup(k + 1, code);
        }
        let why = m.verdict().unwrap().unwrap_err();
        assert!(
            why.contains("only 0 of the chapter's first 8 cells"),
            "{why}"
        );
    }

    #[test]
    fn similarity_is_dice_of_bigrams() {
        assert_eq!(similarity("abc", "abc"), 1.0);
        assert_eq!(similarity("ab", "cd"), 0.0);
        assert!((similarity("night", "nacht") - 0.25).abs() < 1e-12);
    }
}
