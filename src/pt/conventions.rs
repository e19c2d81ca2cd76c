//! The display conventions that changed between the notebooks' years and today, and how
//! a run decides which to print by:
//! - PyTorch's `grad_fn` names: `<NllLossBackward>` in PyTorch 1.9 and earlier,
//!   `<NllLossBackward0>` from 1.10 (late 2021) on, when the generated autograd nodes
//!   gained a number;
//! - IPython's layout of a sequence holding a multi-line item: IPython 5–7 lets the next
//!   item follow on the same line (`…]]), tensor([5]))`), IPython 8 and later puts every
//!   item on a line of its own;
//! - matplotlib's figure text: `<Figure size 432x288 with 1 Axes>` (6×4 inches at 72 dpi,
//!   before matplotlib 3.3's inline backend default changed), `640x480` since.
//!
//! A run with a notebook file reads them from what the file printed, per file
//! (`from_printed`): each convention the outputs show decides itself; one they do not
//! show follows the others' era (a file that prints today's `grad_fn` was made in today's
//! Jupyter). Without a file, or with a file that shows none of them, the original
//! notebooks' conventions hold. The chosen ones are set for the thread that prints
//! (`set`), so every printer of this module follows them.

use serde::{Deserialize, Serialize};
use std::cell::Cell;

/// Which way each changed convention goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conventions {
    /// `grad_fn=<NegBackward0>` (PyTorch 1.10 and later) rather than `<NegBackward>`.
    pub grad_fn_number: bool,
    /// IPython 8's layout: a sequence with a multi-line item puts each item on a line.
    pub ipython8_sequences: bool,
    /// The size matplotlib reports for a default figure, in pixels.
    pub figure_size: (u32, u32),
}

impl Conventions {
    /// The original notebooks' (2019–2021): PyTorch 1.x, IPython 7, matplotlib 3.1.
    pub const ORIGINAL: Conventions = Conventions {
        grad_fn_number: false,
        ipython8_sequences: false,
        figure_size: (432, 288),
    };

    /// Today's Jupyter: PyTorch 2.x, IPython 8–9, matplotlib 3.3 and later.
    pub const TODAY: Conventions = Conventions {
        grad_fn_number: true,
        ipython8_sequences: true,
        figure_size: (640, 480),
    };

    /// The conventions the printed outputs `texts` show (see the module doc), and in
    /// words which ones they showed.
    ///
    /// ```
    /// use crossent::pt::Conventions;
    ///
    /// let (c, _) = Conventions::from_printed(["tensor(2.3, grad_fn=<NegBackward0>)"]);
    /// assert_eq!(c, Conventions::TODAY);
    /// let (c, _) = Conventions::from_printed(["<Figure size 432x288 with 1 Axes>"]);
    /// assert_eq!(c, Conventions::ORIGINAL);
    /// ```
    pub fn from_printed<'a>(texts: impl IntoIterator<Item = &'a str>) -> (Self, String) {
        let (mut grad_fn, mut layout, mut figure) = (None, None, None);
        for text in texts {
            grad_fn = grad_fn.or_else(|| grad_fn_numbered(text));
            layout = layout.or_else(|| ipython8_layout(text));
            figure = figure.or_else(|| figure_size(text));
        }
        let shown = [grad_fn, layout, figure.map(|f| f == (640, 480))];
        // A convention the file does not show follows the era of those it does.
        let era = if shown.iter().flatten().any(|&today| today) {
            Conventions::TODAY
        } else {
            Conventions::ORIGINAL
        };
        let chosen = Conventions {
            grad_fn_number: grad_fn.unwrap_or(era.grad_fn_number),
            ipython8_sequences: layout.unwrap_or(era.ipython8_sequences),
            figure_size: figure.unwrap_or(era.figure_size),
        };
        let said = |shown: bool| if shown { "shown" } else { "by era" };
        let why = format!(
            "grad_fn {}, sequences {}, figure size {}",
            said(grad_fn.is_some()),
            said(layout.is_some()),
            said(figure.is_some())
        );
        (chosen, why)
    }

    /// In a few words, for the summary: `grad_fn=<…Backward0>, IPython 8 sequences,
    /// figures 640x480`.
    pub fn describe(&self) -> String {
        format!(
            "grad_fn=<…Backward{}>, IPython {} sequences, figures {}x{}",
            if self.grad_fn_number { "0" } else { "" },
            if self.ipython8_sequences { "8+" } else { "5-7" },
            self.figure_size.0,
            self.figure_size.1
        )
    }
}

impl Default for Conventions {
    fn default() -> Self {
        Self::ORIGINAL
    }
}

thread_local! {
    static CURRENT: Cell<Conventions> = const { Cell::new(Conventions::ORIGINAL) };
}

/// Makes `conventions` the ones this thread prints by (a chapter's harness sets them).
pub fn set(conventions: Conventions) {
    CURRENT.with(|c| c.set(conventions));
}

/// The conventions this thread prints by.
pub fn current() -> Conventions {
    CURRENT.with(Cell::get)
}

/// A `grad_fn` name as the current PyTorch prints it: `NllLossBackward` or
/// `NllLossBackward0`.
pub fn grad_fn_name(name: &str) -> String {
    let bare = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if current().grad_fn_number {
        format!("{bare}0")
    } else {
        bare.to_string()
    }
}

/// The text Jupyter shows for a figure of one set of axes.
pub fn figure_text() -> String {
    let (w, h) = current().figure_size;
    format!("<Figure size {w}x{h} with 1 Axes>")
}

/// Whether `text` shows `grad_fn` names with their number.
fn grad_fn_numbered(text: &str) -> Option<bool> {
    let start = text.find("grad_fn=<")? + "grad_fn=<".len();
    let name = &text[start..start + text[start..].find('>')?];
    Some(name.ends_with(|c: char| c.is_ascii_digit()))
}

/// Whether `text`, a sequence with a multi-line item followed by another, lays the next
/// item on its own line (IPython 8) or on the item's last line (IPython 5–7).
fn ipython8_layout(text: &str) -> Option<bool> {
    if !(text.starts_with('(') || text.starts_with('[')) {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate().skip(1) {
        // A later line of a multi-line item (indented past the bracket's one column).
        if !line.starts_with("  ") {
            continue;
        }
        if line.ends_with("),") || line.ends_with("],") {
            let next = lines.get(i + 1)?;
            let one_space = next.starts_with(' ') && !next.starts_with("  ");
            return one_space.then_some(true);
        }
        if line.contains("), ") && !line.trim_end().ends_with(',') {
            return Some(false);
        }
    }
    None
}

/// The figure size a `<Figure size WxH with N Axes>` line in `text` reports.
fn figure_size(text: &str) -> Option<(u32, u32)> {
    let start = text.find("<Figure size ")? + "<Figure size ".len();
    let rest = &text[start..];
    let (size, _) = rest.split_once(' ')?;
    let (w, h) = size.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_convention_is_read_from_what_shows_it() {
        let old_tuple = "(tensor([[0., 0.],\n         [0., 0.]]), tensor([5, 0]))";
        let new_tuple = "(tensor([[0., 0.],\n         [0., 0.]]),\n tensor([5, 0]))";
        assert_eq!(ipython8_layout(old_tuple), Some(false));
        assert_eq!(ipython8_layout(new_tuple), Some(true));
        assert_eq!(
            ipython8_layout("[torch.Size([50]),\n torch.Size([10])]"),
            None
        );
        assert_eq!(
            grad_fn_numbered("tensor(1., grad_fn=<NegBackward>)"),
            Some(false)
        );
        assert_eq!(
            figure_size("<Figure size 640x480 with 1 Axes>"),
            Some((640, 480))
        );
        let (c, why) = Conventions::from_printed([old_tuple, "grad_fn=<MulBackward0>"]);
        assert!(c.grad_fn_number && !c.ipython8_sequences, "{c:?}");
        assert_eq!(c.figure_size, (640, 480), "by era: {why}");
        let (c, _) = Conventions::from_printed(["tensor([1, 2])"]);
        assert_eq!(c, Conventions::ORIGINAL);
    }

    #[test]
    fn names_and_figures_follow_the_current_conventions() {
        set(Conventions::TODAY);
        assert_eq!(grad_fn_name("NllLossBackward"), "NllLossBackward0");
        assert_eq!(figure_text(), "<Figure size 640x480 with 1 Axes>");
        set(Conventions::ORIGINAL);
        assert_eq!(grad_fn_name("NllLossBackward0"), "NllLossBackward");
        assert_eq!(figure_text(), "<Figure size 432x288 with 1 Axes>");
    }
}
