//! Reading a Jupyter notebook file, bounded and lenient as the wild needs: nbformat 4.0
//! to 4.5, sources as a string or a list of lines, `execution_count` null, 0 or a
//! number, cell ids at the top level (4.5), in Colab's `metadata.id`, or none. Every
//! output is kept, whatever its `execution_count` (a reader that drops `execute_result`s
//! whose count is null loses fastai's outputs). nbformat 3 is refused in one line with
//! the command that upgrades it.
//!
//! A file is refused by its length before it is read (see `MAX_BYTES`), must be UTF-8
//! JSON nested no deeper than serde_json's limit (128), and may hold at most
//! `MAX_CELLS` cells.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// The largest notebook file read: real ones, images included, are a few MB.
pub const MAX_BYTES: u64 = 32 << 20;
/// The most cells a notebook may have.
pub const MAX_CELLS: usize = 10_000;

/// What a notebook cell is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// A code cell.
    Code,
    /// A markdown cell.
    Markdown,
    /// A raw cell.
    Raw,
}

/// One cell of a notebook file, as the matching and the comparison need it.
#[derive(Clone, Debug)]
pub struct FileCell {
    /// Its position among all the file's cells, from 0.
    pub index: usize,
    /// Code, markdown or raw.
    pub kind: CellKind,
    /// The cell id: top-level (nbformat 4.5) or Colab's `metadata.id`.
    pub id: Option<String>,
    /// Its source, joined into one text.
    pub source: String,
    /// The text the cell printed: `stream` stdout text and the `text/plain` of
    /// `execute_result`/`display_data`, in order; `None` when it printed no text.
    pub printed: Option<String>,
    /// Base64 PNGs the cell displayed.
    pub images: Vec<String>,
}

/// A notebook file, read and checked.
#[derive(Clone, Debug)]
pub struct NotebookFile {
    /// The file's name (no folders: it goes into what we write).
    pub name: String,
    /// The sha256 of its bytes, in hex.
    pub sha256: String,
    /// The notebook as read, for writing it back with our outputs.
    pub json: Value,
    /// Every cell, in the file's order.
    pub cells: Vec<FileCell>,
}

/// Why a cell that no chapter cell reproduces is not one a chapter runs, from its source:
/// a help (`??`) cell, a shell command, an IPython magic, or none of these.
///
/// ```
/// use crossent::ipynb::read::why_not_reproduced;
/// assert!(why_not_reproduced("nn.Sequential??").starts_with("a help cell"));
/// assert!(why_not_reproduced("!python notebook2script.py x.ipynb").starts_with("a shell command"));
/// assert!(why_not_reproduced("import torch\ntorch.manual_seed(7)").starts_with("a seeding cell"));
/// assert_eq!(why_not_reproduced("x = 1"), "no cell of the chapter reproduces this cell");
/// ```
pub fn why_not_reproduced(source: &str) -> String {
    let lines: Vec<&str> = source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let all = |test: fn(&str) -> bool| !lines.is_empty() && lines.iter().all(|l| test(l));
    if all(|l| l.ends_with('?') || l.starts_with('?')) {
        "a help cell (`??`): Jupyter's pager shows the object's source or docstring, which \
         no chapter computes"
            .into()
    } else if all(|l| {
        l.starts_with("import ") || l.starts_with("from ") || l.starts_with("torch.manual_seed(")
    }) && lines.iter().any(|l| l.starts_with("torch.manual_seed("))
    {
        "a seeding cell: it displays the generator object, at an address of that run's \
         memory; the chapter takes its seed"
            .into()
    } else if all(|l| l.starts_with('!')) {
        "a shell command: its output is the machine's, not the notebook's computation".into()
    } else if all(|l| l.starts_with('%')) {
        "an IPython magic: its output is the kernel's, not the notebook's computation".into()
    } else {
        "no cell of the chapter reproduces this cell".into()
    }
}

impl NotebookFile {
    /// What `cells` (file indices, in order) displayed, one after the other; `None` when
    /// none of them printed.
    ///
    /// ```
    /// let json = r#"{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
    ///   {"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": []},
    ///   {"cell_type": "code", "metadata": {}, "source": "x", "outputs": [{"output_type":
    ///    "execute_result", "execution_count": 1, "metadata": {}, "data": {"text/plain": "1"}}]}]}"#;
    /// let file = crossent::ipynb::NotebookFile::from_bytes("t.ipynb", json.as_bytes())?;
    /// assert_eq!(file.printed_by([0, 1].into_iter()).as_deref(), Some("1"));
    /// assert_eq!(file.printed_by([0].into_iter()), None);
    /// # Ok::<(), anyhow::Error>(())
    /// ```
    pub fn printed_by(&self, cells: impl Iterator<Item = usize>) -> Option<String> {
        let printed: Vec<&str> = cells
            .filter_map(|i| self.cells.get(i)?.printed.as_deref())
            .collect();
        (!printed.is_empty()).then(|| printed.join("\n"))
    }

    /// Reads and checks `path`; every failure is one line naming the file and the fault.
    ///
    /// ```no_run
    /// let file = crossent::ipynb::NotebookFile::read("How_cross_entropy_works.ipynb".as_ref())?;
    /// println!("{} code cells", file.code_cells().count());
    /// # Ok::<(), anyhow::Error>(())
    /// ```
    pub fn read(path: &Path) -> Result<Self> {
        let shown = path.display();
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot read the notebook {shown}; check the path"))?;
        if meta.is_dir() {
            bail!("the notebook {shown} is a folder; give an .ipynb file");
        }
        if !meta.is_file() {
            bail!("the notebook {shown} is not a regular file (a FIFO or device?); give an .ipynb file");
        }
        if meta.len() > MAX_BYTES {
            bail!(
                "the notebook {shown} is {} bytes, over the {} MiB a notebook may have here; \
                 clear its outputs (jupyter nbconvert --clear-output) or give another",
                meta.len(),
                MAX_BYTES >> 20
            );
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut bytes))
            .with_context(|| format!("cannot read the notebook {shown}"))?;
        if bytes.len() as u64 > MAX_BYTES {
            bail!(
                "the notebook {shown} grew past {} MiB while it was read; give a finished file",
                MAX_BYTES >> 20
            );
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "notebook.ipynb".into());
        Self::from_bytes(&name, &bytes).with_context(|| format!("the notebook {shown}"))
    }

    /// Parses a notebook held in memory; `name` is what the errors and metadata call it.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Self> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            anyhow::anyhow!(
                "is not UTF-8 (byte {} is invalid); a notebook is UTF-8 JSON",
                e.valid_up_to()
            )
        })?;
        let json: Value = serde_json::from_str(text).map_err(|e| {
            let what = if e.is_eof() {
                "is cut short".to_string()
            } else if e.to_string().contains("recursion limit") {
                "nests deeper than the 128 levels a notebook may have".to_string()
            } else {
                format!("is not valid JSON ({e})")
            };
            anyhow::anyhow!("{what}; a notebook is the .ipynb file Jupyter saves")
        })?;
        let Some(top) = json.as_object() else {
            bail!("is JSON but not a notebook (no top-level object)");
        };
        match top.get("nbformat").and_then(Value::as_u64) {
            Some(4) => {}
            Some(3) => bail!(
                "is an nbformat 3 notebook; upgrade it with `jupyter nbconvert --to notebook \
                 --nbformat 4 FILE` and give the result"
            ),
            Some(v) => bail!("is nbformat {v}; only nbformat 4 (4.0 to 4.5) is read"),
            None => bail!("is JSON but not a notebook (no nbformat number)"),
        }
        let Some(cells_json) = top.get("cells").and_then(Value::as_array) else {
            bail!("is not a notebook: it has no list of cells");
        };
        if cells_json.len() > MAX_CELLS {
            bail!(
                "has {} cells, over the {MAX_CELLS} a notebook may have here",
                cells_json.len()
            );
        }
        let cells = cells_json
            .iter()
            .enumerate()
            .map(|(index, cell)| {
                read_cell(index, cell).with_context(|| format!("cell {} is malformed", index + 1))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            name: name.into(),
            sha256: hex(&Sha256::digest(bytes)),
            json,
            cells,
        })
    }

    /// The code cells, in order.
    pub fn code_cells(&self) -> impl Iterator<Item = &FileCell> {
        self.cells.iter().filter(|c| c.kind == CellKind::Code)
    }

    /// The seeds the file's code sets, in order: `torch.manual_seed(N)` (or
    /// `torch.random.manual_seed(N)`) seeds PyTorch's global generator,
    /// `….manual_seed(N)` on anything else a `torch.Generator` of the code's own. A
    /// negative `N` is its two's complement, as PyTorch takes it; a seed that is not an
    /// integer literal (a variable, an expression) is not read.
    ///
    /// ```
    /// let file = crossent::ipynb::NotebookFile::from_bytes("a.ipynb", br#"{"nbformat": 4,
    ///     "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "id": "a",
    ///     "metadata": {}, "outputs": [], "source": "import torch\ntorch.manual_seed(42)"}]}"#)?;
    /// let seed = &file.seeds()[0];
    /// assert_eq!((seed.cell, seed.seed, seed.global), (0, 42, true));
    /// # Ok::<(), anyhow::Error>(())
    /// ```
    pub fn seeds(&self) -> Vec<FileSeed> {
        let mut seeds = Vec::new();
        for cell in self.code_cells() {
            for line in cell.source.lines() {
                let code = line.split('#').next().unwrap_or("");
                let mut rest = code;
                while let Some(at) = rest.find(".manual_seed(") {
                    let before = &rest[..at];
                    let after = &rest[at + ".manual_seed(".len()..];
                    rest = after;
                    let Some(seed) = seed_literal(after) else {
                        continue;
                    };
                    let global = before.ends_with("torch") || before.ends_with("torch.random");
                    seeds.push(FileSeed {
                        cell: cell.index,
                        seed,
                        global,
                    });
                }
            }
        }
        seeds
    }
}

/// A seed the file's code sets (see `NotebookFile::seeds`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSeed {
    /// The cell that sets it (its index among all cells, from 0).
    pub cell: usize,
    /// The seed, as PyTorch takes it.
    pub seed: u64,
    /// Whether it seeds PyTorch's global generator (else a `torch.Generator` of its own).
    pub global: bool,
}

/// The integer literal at the start of `text` that a `)` closes: `42)`, ` -1 )`.
fn seed_literal(text: &str) -> Option<u64> {
    let (literal, _) = text.split_once(')')?;
    let literal = literal.trim().replace('_', "");
    let (negative, digits) = match literal.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, literal.as_str()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Python's manual_seed takes any int that fits in 64 bits, signed or not.
    let value: u64 = digits.parse().ok()?;
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A string, or a list of strings joined (how notebooks store multi-line text).
pub fn joined_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(lines) => lines
            .iter()
            .map(|l| l.as_str())
            .collect::<Option<Vec<_>>>()
            .map(|l| l.concat()),
        _ => None,
    }
}

/// Whether an output is our own annotations (checks, mistakes) in a notebook we wrote:
/// not part of what the cell printed.
pub fn is_annotation(output: &Value) -> bool {
    output
        .get("metadata")
        .and_then(|m| m.get("crossent"))
        .and_then(Value::as_str)
        == Some("annotations")
}

/// The id of a cell: nbformat 4.5's, else Colab's.
pub fn cell_id(cell: &Value) -> Option<String> {
    cell.get("id")
        .or_else(|| cell.get("metadata").and_then(|m| m.get("id")))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn read_cell(index: usize, cell: &Value) -> Result<FileCell> {
    let kind = match cell.get("cell_type").and_then(Value::as_str) {
        Some("code") => CellKind::Code,
        Some("markdown") => CellKind::Markdown,
        Some("raw") => CellKind::Raw,
        Some(other) => bail!("unknown cell_type {other:?}"),
        None => bail!("no cell_type"),
    };
    let source = match cell.get("source") {
        None => String::new(),
        Some(s) => joined_text(s).context("source is neither text nor a list of lines")?,
    };
    let mut printed: Option<String> = None;
    let mut images = Vec::new();
    if kind == CellKind::Code {
        let outputs = match cell.get("outputs") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(outputs)) => outputs.as_slice(),
            Some(_) => bail!("outputs is not a list"),
        };
        for output in outputs {
            if is_annotation(output) {
                continue;
            }
            let text = match output.get("output_type").and_then(Value::as_str) {
                // stderr carries warnings, which the chapters do not reproduce.
                Some("stream") if output.get("name").and_then(Value::as_str) != Some("stderr") => {
                    output.get("text").and_then(joined_text)
                }
                Some("execute_result" | "display_data") => {
                    let data = output.get("data");
                    if let Some(png) = data.and_then(|d| d.get("image/png")).and_then(joined_text) {
                        images.push(png.split_whitespace().collect());
                    }
                    data.and_then(|d| d.get("text/plain"))
                        .and_then(joined_text)
                        .map(|t| t + "\n")
                }
                _ => None,
            };
            if let Some(text) = text {
                let so_far = printed.get_or_insert_with(String::new);
                let is_stream = output.get("output_type").and_then(Value::as_str) == Some("stream");
                // Separate outputs print on lines of their own; a stream may be cut mid-line.
                if !is_stream && !so_far.is_empty() && !so_far.ends_with('\n') {
                    so_far.push('\n');
                }
                so_far.push_str(&text);
            }
        }
    }
    let printed = printed.map(|p| p.trim_end_matches('\n').to_string());
    Ok(FileCell {
        index,
        kind,
        id: cell_id(cell),
        source,
        printed,
        images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_variants_of_the_wild() {
        let nb = br##"{"nbformat": 4, "nbformat_minor": 0, "metadata": {}, "cells": [
          {"cell_type": "markdown", "metadata": {}, "source": "# T"},
          {"cell_type": "code", "metadata": {"id": "colab1"}, "execution_count": 0,
           "source": ["x = 1\n", "x"],
           "outputs": [{"output_type": "stream", "name": "stderr", "text": ["warn\n"]},
                       {"output_type": "stream", "name": "stdout", "text": "hi\n"},
                       {"output_type": "execute_result", "execution_count": null,
                        "metadata": {}, "data": {"text/plain": ["tensor([1,\n", " 2])"]}}]},
          {"cell_type": "code", "id": "top", "metadata": {}, "execution_count": null,
           "source": "y", "outputs": []}]}"##;
        let file = NotebookFile::from_bytes("t.ipynb", nb).unwrap();
        assert_eq!(file.cells.len(), 3);
        let c = &file.cells[1];
        assert_eq!(c.id.as_deref(), Some("colab1"));
        assert_eq!(c.source, "x = 1\nx");
        assert_eq!(c.printed.as_deref(), Some("hi\ntensor([1,\n 2])"));
        assert_eq!(file.cells[2].id.as_deref(), Some("top"));
        assert_eq!(file.cells[2].printed, None);
        assert_eq!(file.code_cells().count(), 2);
    }

    #[test]
    fn refuses_what_is_not_a_notebook_in_one_line() {
        for (bytes, says) in [
            (&b"not json"[..], "not valid JSON"),
            (b"{\"nbformat\": 4, \"cells\": [", "cut short"),
            (b"[1, 2]", "not a notebook"),
            (b"{\"nbformat\": 3, \"worksheets\": []}", "nbformat 3"),
            (b"{\"nbformat\": 4}", "no list of cells"),
            (b"\xff\xfe{}", "not UTF-8"),
            (
                b"{\"nbformat\": 4, \"cells\": [{\"source\": \"x\"}]}",
                "no cell_type",
            ),
        ] {
            let err = format!("{:#}", NotebookFile::from_bytes("t", bytes).unwrap_err());
            assert!(err.contains(says), "{err:?} should say {says:?}");
            assert!(!err.contains('\n'), "{err:?}");
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = format!(
            "{:#}",
            NotebookFile::from_bytes("t", deep.as_bytes()).unwrap_err()
        );
        assert!(err.contains("nests deeper"), "{err}");
    }
}
