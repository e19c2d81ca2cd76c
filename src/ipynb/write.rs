//! Writing a chapter run as a Jupyter notebook (nbformat 4.5), byte for byte as
//! Python's `nbformat.write` lays it out (keys sorted, one space of indent, multi-line
//! text as lists of lines), so that git and nbdime diffs of it stay quiet; two runs
//! write the same bytes (no times, no paths).
//!
//! Without an original, the notebook is built from the records: a markdown cell for
//! the title and origin and one per heading, a code cell per chapter cell with the
//! notebook's code and our outputs (`execute_result` for values, `stream` for prints,
//! `display_data` PNGs for figures). With an original, its cells, order, markdown,
//! sources, ids and metadata are kept; only the outputs of the cells the chapter
//! reproduced are ours (left as they were where ours print the same text), and a code
//! cell not reproduced is left without outputs and says why in its metadata.
//!
//! Each reproduced cell carries `metadata.crossent` (status, reason, differences, the
//! notebook's output where ours differs, checks and mistakes). Checks and mistakes are
//! also shown to a reader in Jupyter as one last
//! `display_data` output of the cell (markdown), marked `"crossent": "annotations"` in
//! its metadata, after the outputs the notebook printed, which stay first and intact.

use super::matching::chapter_cell_id;
use super::read::{cell_id, is_annotation, NotebookFile};
use crate::record::cells::{cells, CellView, JsonCell, JsonSpan, JsonSummary};
use crate::record::{Record, Status, Summary};
use anyhow::Result;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// What a notebook is written from.
pub struct Replication<'a> {
    /// The chapter's number (it names the cell ids).
    pub chapter: usize,
    /// The chapter run's records.
    pub records: &'a [Record],
    /// The PNG bytes of a figure, by the file name its record gives.
    pub figure: &'a dyn Fn(&str) -> Option<Vec<u8>>,
    /// The device it ran on, as `crossent::device::name` gives it.
    pub device: &'a str,
    /// The notebook file it was compared against, if one was given.
    pub original: Option<&'a NotebookFile>,
}

/// The notebook's bytes.
///
/// ```
/// use crossent::ipynb::write::{notebook_bytes, Replication};
/// use crossent::record::{Record, Status};
/// let records = vec![
///     Record::Header { title: "Chapter 9".into(), origin: "a test".into() },
///     Record::Cell { cell: 1, code: "1 + 1".into(), matched: None },
///     Record::Output { cell: 1, output: "2".into(), notebook: "2".into(), status: Status::Verbatim, values: vec![] },
/// ];
/// let bytes = notebook_bytes(&Replication {
///     chapter: 9, records: &records, figure: &|_| None, device: "cpu", original: None,
/// })?;
/// assert!(String::from_utf8(bytes)?.contains("\"id\": \"crossent-9-1\""));
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn notebook_bytes(r: &Replication) -> Result<Vec<u8>> {
    let notebook = match r.original {
        Some(original) => with_original(r, original),
        None => from_records(r),
    };
    let mut text = String::new();
    emit(&split_lines(notebook), 0, &mut text);
    text.push('\n');
    Ok(text.into_bytes())
}

/// Writes the notebook to `path` whole or not at all.
pub fn write(path: &std::path::Path, r: &Replication) -> Result<()> {
    crate::files::write_at(path, &notebook_bytes(r)?, "--write-notebook")
}

fn from_records(r: &Replication) -> Value {
    let summary = Summary::of(r.records);
    let mut cells_out = vec![markdown(
        &chapter_cell_id(r.chapter, 0),
        &format!(
            "# {}\n\nReplicated cell by cell by crossent {} (Rust, candle) from {}.",
            summary.title,
            env!("CARGO_PKG_VERSION"),
            summary.origin
        ),
    )];
    for view in cells(r.records) {
        for (k, heading) in view.headings.iter().enumerate() {
            let id = format!("{}-h{}", chapter_cell_id(r.chapter, view.cell), k + 1);
            cells_out.push(markdown(&id, &format!("## {heading}")));
        }
        let Some(code) = &view.code else { continue };
        let outputs = our_outputs(r, &view, code, None);
        cells_out.push(json!({
            "cell_type": "code",
            "execution_count": view.cell,
            "id": chapter_cell_id(r.chapter, view.cell),
            "metadata": {"crossent": cell_metadata(&view)},
            "outputs": outputs,
            "source": code,
        }));
    }
    json!({
        "cells": cells_out,
        "metadata": {
            "crossent": notebook_metadata(r, &summary),
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "pygments_lexer": "ipython3"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    })
}

fn with_original(r: &Replication, original: &NotebookFile) -> Value {
    let summary = Summary::of(r.records);
    let mut notebook = original.json.clone();
    let views = cells(r.records);
    // The chapter cell that holds a file cell's output, and whether the output goes into
    // this file cell: of a span, the last cell that displayed something (else the last).
    let view_of = |index: usize| {
        let covering = |v: &&CellView| {
            v.matched
                .as_ref()
                .is_some_and(|m| m.cells().any(|i| i == index))
        };
        let view = views
            .iter()
            .filter(covering)
            .find(|v| v.matched.as_ref().is_some_and(|m| m.holds_output()))
            .or_else(|| views.iter().find(covering))?;
        let m = view.matched.as_ref()?;
        let shown_in = m
            .cells()
            .filter(|&i| original.cells.get(i).is_some_and(|c| c.printed.is_some()))
            .last()
            .unwrap_or(m.last());
        Some((view, m.holds_output() && shown_in == index))
    };
    let mut ids = HashSet::new();
    if let Some(list) = notebook.get_mut("cells").and_then(Value::as_array_mut) {
        for (index, cell) in list.iter_mut().enumerate() {
            let id = valid_unique_id(cell_id(cell), &mut ids)
                .unwrap_or_else(|| format!("{}-file-{}", chapter_cell_id(r.chapter, 0), index));
            ids.insert(id.clone());
            let Some(obj) = cell.as_object_mut() else {
                continue;
            };
            obj.insert("id".into(), id.into());
            if obj.get("cell_type").and_then(Value::as_str) != Some("code") {
                continue;
            }
            let metadata = obj
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            match view_of(index) {
                Some((view, false)) => {
                    if let Some(m) = metadata.as_object_mut() {
                        m.insert(
                            "crossent".into(),
                            json!({"status": "part_of_chapter_cell", "chapter_cell": view.cell}),
                        );
                    }
                    obj.insert("outputs".into(), json!([]));
                }
                Some((view, true)) => {
                    if let Some(m) = metadata.as_object_mut() {
                        m.insert("crossent".into(), cell_metadata(view));
                    }
                    let theirs = obj.get("outputs").cloned();
                    let code = view.code.clone().unwrap_or_default();
                    let outputs = our_outputs(r, view, &code, theirs.as_ref());
                    obj.insert("outputs".into(), outputs);
                }
                None => {
                    if let Some(m) = metadata.as_object_mut() {
                        m.insert(
                            "crossent".into(),
                            json!({"status": "not_reproduced",
                                   "reason": "no cell of the chapter reproduces this cell"}),
                        );
                    }
                    obj.insert("outputs".into(), json!([]));
                }
            }
            obj.entry("execution_count").or_insert(Value::Null);
        }
    }
    if let Some(top) = notebook.as_object_mut() {
        top.insert("nbformat_minor".into(), 5.into());
        let metadata = top
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(m) = metadata.as_object_mut() {
            m.insert("crossent".into(), notebook_metadata(r, &summary));
        }
    }
    notebook
}

/// A cell id nbformat 4.5 accepts (1–64 of `[A-Za-z0-9_-]`) and not used before.
fn valid_unique_id(id: Option<String>, used: &mut HashSet<String>) -> Option<String> {
    id.filter(|id| {
        (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !used.contains(id)
    })
}

fn markdown(id: &str, text: &str) -> Value {
    json!({"cell_type": "markdown", "id": id, "metadata": {}, "source": text})
}

/// The outputs of a reproduced cell: the notebook's own where ours print the same text,
/// else ours, with our figures and the annotations after them.
fn our_outputs(r: &Replication, view: &CellView, code: &str, theirs: Option<&Value>) -> Value {
    let theirs: &[Value] = theirs.and_then(Value::as_array).map_or(&[], Vec::as_slice);
    let is_image = |o: &Value| o.get("data").and_then(|d| d.get("image/png")).is_some();
    let mut outputs = Vec::new();
    let mut figures = Vec::new();
    for item in &view.items {
        match item {
            Record::Output { output, status, .. } => {
                if matches!(status, Status::Verbatim) && !theirs.is_empty() {
                    // An earlier run's annotations give way to this run's, below.
                    outputs.extend(
                        theirs
                            .iter()
                            .filter(|o| !is_image(o) && !is_annotation(o))
                            .cloned(),
                    );
                } else {
                    outputs.push(text_output(view.cell, code, output, theirs));
                }
            }
            Record::Figure { file, summary, .. } => {
                if let Some(png) = (r.figure)(file) {
                    figures.push(json!({
                        "data": {
                            "image/png": base64::engine::general_purpose::STANDARD.encode(png),
                            "text/plain": format!("<Figure: {}>", summary.lines().next().unwrap_or(file)),
                        },
                        "metadata": {},
                        "output_type": "display_data",
                    }));
                }
            }
            _ => {}
        }
    }
    outputs.extend(figures);
    if let Some(notes) = annotations(view) {
        outputs.push(json!({
            "data": {"text/markdown": notes.0, "text/plain": notes.1},
            "metadata": {"crossent": "annotations"},
            "output_type": "display_data",
        }));
    }
    Value::Array(outputs)
}

/// Our text as the kind of output the notebook printed it as: a `stream` where the
/// original printed (or, without one, where the code ends in a print), else an
/// `execute_result` with the original's execution count.
fn text_output(cell: usize, code: &str, output: &str, theirs: &[Value]) -> Value {
    let kind = |o: &&Value| {
        o.get("output_type")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let original_kind = theirs
        .iter()
        .find(|o| {
            let k = kind(o);
            k.as_deref() == Some("execute_result")
                || (k.as_deref() == Some("stream")
                    && o.get("name").and_then(Value::as_str) == Some("stdout"))
        })
        .map(|o| (kind(&o), o.get("execution_count").cloned()));
    let last_line = code.lines().last().unwrap_or("").trim_start();
    let is_stream = match &original_kind {
        Some((k, _)) => k.as_deref() == Some("stream"),
        None => last_line.starts_with("print(") || code.trim_start().starts_with("for "),
    };
    if is_stream {
        json!({"name": "stdout", "output_type": "stream", "text": format!("{output}\n")})
    } else {
        let count = original_kind
            .and_then(|(_, c)| c)
            .unwrap_or_else(|| cell.into());
        json!({
            "data": {"text/plain": output},
            "execution_count": count,
            "metadata": {},
            "output_type": "execute_result",
        })
    }
}

/// The cell's checks and the notebook's mistakes found in it (and why it did not run
/// here): (markdown, plain text), if it has any. The chapter's extra notes stay in the
/// terminal and the report, so that they do not crowd a diff of the outputs.
fn annotations(view: &CellView) -> Option<(String, String)> {
    let mut md = Vec::new();
    let mut plain = Vec::new();
    for item in &view.items {
        let (m, p) = match item {
            Record::Check {
                claim,
                passed,
                detail,
                ..
            } => {
                let verdict = if *passed { "passed" } else { "FAILED" };
                (
                    format!("- **check {verdict}**: {claim} ({detail})"),
                    format!("check {verdict}: {claim} ({detail})"),
                )
            }
            Record::Finding {
                title, explanation, ..
            } => (
                format!("- **notebook mistake**: {title}. {explanation}"),
                format!("notebook mistake: {title}. {explanation}"),
            ),
            Record::NotRun { reason, .. } => (
                format!("- **not run here**: {reason}"),
                format!("not run here: {reason}"),
            ),
            _ => continue,
        };
        md.push(m);
        plain.push(p);
    }
    (!md.is_empty()).then(|| {
        (
            format!("**crossent**\n\n{}", md.join("\n")),
            format!("crossent\n{}", plain.join("\n")),
        )
    })
}

fn cell_metadata(view: &CellView) -> Value {
    let cell = JsonCell::of(view);
    let mut m = Map::new();
    m.insert("cell".into(), view.cell.into());
    m.insert("status".into(), cell.status.clone().into());
    if let Some(reason) = &cell.reason {
        m.insert("reason".into(), reason.clone().into());
    }
    let (mut abs, mut rel) = (
        cell.largest_absolute_difference,
        cell.largest_relative_difference,
    );
    if let (Some(ours), Some(theirs)) = (&cell.output, &cell.notebook_output) {
        if ours != theirs {
            if abs.is_none() {
                if let Some((a, r)) = crate::printed::largest_differences(ours, theirs) {
                    (abs, rel) = (Some(a), Some(r));
                }
            }
            m.insert("notebook_output".into(), theirs.clone().into());
        }
    }
    if let Some(abs) = abs {
        m.insert("largest_absolute_difference".into(), json!(abs));
    }
    if let Some(rel) = rel {
        m.insert("largest_relative_difference".into(), json!(rel));
    }
    if let Some(matched) = &view.matched {
        m.insert(
            "matched".into(),
            json!({"file_cell": matched.index + 1, "rule": matched.rule.name()}),
        );
        if let Some(spans) = JsonSpan::of(matched) {
            m["matched"]["spans"] = json!(spans);
        }
    }
    if !cell.checks.is_empty() {
        m.insert("checks".into(), json!(cell.checks));
    }
    if !cell.notebook_mistakes.is_empty() {
        m.insert("notebook_mistakes".into(), json!(cell.notebook_mistakes));
    }
    Value::Object(m)
}

fn notebook_metadata(r: &Replication, summary: &Summary) -> Value {
    let mut m = json!({
        "crate_version": env!("CARGO_PKG_VERSION"),
        "chapter": r.chapter,
        "title": summary.title,
        "device": r.device,
        "summary": JsonSummary::from(summary),
        "passed": summary.passed(),
    });
    if let Some(original) = r.original {
        m["source"] = json!({"file": original.name, "sha256": original.sha256});
    }
    for record in r.records {
        if let Record::NotebookFile {
            matched_by,
            unmatched_chapter_cells,
            unmatched_file_cells,
            uncompared_outputs,
            ..
        } = record
        {
            let by: Map<String, Value> = matched_by
                .iter()
                .map(|(rule, n)| (rule.name().to_string(), json!(n)))
                .collect();
            m["matching"] = json!({
                "matched_by": by,
                "unmatched_chapter_cells": unmatched_chapter_cells,
                "unmatched_file_cells": unmatched_file_cells
                    .iter()
                    .map(|(i, _, _)| i + 1)
                    .collect::<Vec<_>>(),
                "uncompared_outputs": uncompared_outputs
                    .iter()
                    .map(|(i, why)| json!({"file_cell": i + 1, "reason": why}))
                    .collect::<Vec<_>>(),
            });
        }
    }
    m
}

/// Multi-line text as lists of lines, where Python's nbformat splits it: sources,
/// stream text, and `text/*` (and SVG, JavaScript) output data.
fn split_lines(mut notebook: Value) -> Value {
    // A list of lines is joined first, so that it splits as Python's nbformat splits it
    // (`[""]` becomes `[]`).
    fn split(v: &mut Value) {
        if let Some(text) = super::read::joined_text(v) {
            let lines: Vec<Value> = text.split_inclusive('\n').map(|l| l.into()).collect();
            *v = Value::Array(lines);
        }
    }
    if let Some(list) = notebook.get_mut("cells").and_then(Value::as_array_mut) {
        for cell in list {
            if let Some(source) = cell.get_mut("source") {
                split(source);
            }
            let Some(outputs) = cell.get_mut("outputs").and_then(Value::as_array_mut) else {
                continue;
            };
            for output in outputs {
                if let Some(text) = output.get_mut("text") {
                    split(text);
                }
                if let Some(data) = output.get_mut("data").and_then(Value::as_object_mut) {
                    for (key, value) in data.iter_mut() {
                        if key.starts_with("text/")
                            || key == "image/svg+xml"
                            || key == "application/javascript"
                        {
                            split(value);
                        }
                    }
                }
            }
        }
    }
    notebook
}

/// JSON as Python's `json.dumps(sort_keys=True, indent=1, ensure_ascii=False)` writes it.
fn emit(value: &Value, depth: usize, out: &mut String) {
    let pad = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', depth));
    };
    match value {
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Array(items) => {
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                pad(out, depth + 1);
                emit(item, depth + 1, out);
            }
            pad(out, depth);
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (k, key) in keys.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                pad(out, depth + 1);
                string(key, out);
                out.push_str(": ");
                emit(&map[*key], depth + 1, out);
            }
            pad(out, depth);
            out.push('}');
        }
        Value::String(s) => string(s, out),
        // Python's json writes a float as its repr (`8.677542519957391e-05`, `0.0002`).
        Value::Number(n) if n.is_f64() => {
            out.push_str(&crate::np::float64(n.as_f64().unwrap_or_default()))
        }
        other => out.push_str(&other.to_string()),
    }
}

fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lays_out_json_as_python_nbformat() {
        let v = json!({"b": [1, "x\ny"], "a": {}, "c": [], "d": {"z": null, "e": "\u{1b}\"é"}});
        let mut out = String::new();
        emit(&v, 0, &mut out);
        assert_eq!(
            out,
            "{\n \"a\": {},\n \"b\": [\n  1,\n  \"x\\ny\"\n ],\n \"c\": [],\n \"d\": {\n  \
             \"e\": \"\\u001b\\\"é\",\n  \"z\": null\n }\n}"
        );
    }

    #[test]
    fn floats_are_written_as_pythons_json_writes_them() {
        // What json.dumps gives for each: float repr, never Rust's positional digits.
        for (x, python) in [
            (8.677542519957391e-05, "8.677542519957391e-05"),
            (0.00019999999999997797, "0.00019999999999997797"),
            (2e-4, "0.0002"),
            (1.0, "1.0"),
            (1e16, "1e+16"),
            (-3.5e-7, "-3.5e-07"),
        ] {
            let mut out = String::new();
            emit(&json!(x), 0, &mut out);
            assert_eq!(out, python, "{x}");
        }
        let mut out = String::new();
        emit(&json!(7), 0, &mut out);
        assert_eq!(out, "7", "integers stay integers");
    }
}
