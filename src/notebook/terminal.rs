//! The terminal renderer: what a chapter prints for each record and for its summary.

use crate::record::{Record, Status, Summary};

/// Every line of `text` after `prefix`.
pub fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| format!("{prefix}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text printed for one record.
pub fn render(record: &Record) -> String {
    match record {
        Record::Header { title, origin } => {
            let rule = "=".repeat(78);
            format!("{rule}\n{title}\nreproducing {origin}\n{rule}")
        }
        Record::Conventions {
            conventions,
            decided_by,
        } => format!(
            "display conventions: {} (read from the notebook file: {decided_by})",
            conventions.describe()
        ),
        Record::Heading { text } => format!("\n## {text}"),
        Record::Cell {
            cell,
            code,
            matched,
        } => {
            let matched = matched
                .as_ref()
                .map(|m| format!(" ({}, by {})", m.describe(), m.rule.name()))
                .unwrap_or_default();
            format!("\nIn [{cell}]:{matched}\n{}", indent(code, "    "))
        }
        Record::Output {
            cell,
            output,
            notebook,
            status,
            ..
        } => {
            let printed = indent(notebook, "    ");
            let verdict = match status {
                Status::Verbatim => "    -> matches the notebook verbatim".to_string(),
                Status::Mismatch => format!("    -> MISMATCH: the notebook printed:\n{printed}"),
                other => format!(
                    "    -> {}; the notebook printed:\n{printed}",
                    other.deviation().unwrap_or_default()
                ),
            };
            format!("Out[{cell}]:\n{output}\n{verdict}")
        }
        Record::NotRun { reason, .. } => format!("    -> not run: {reason}"),
        Record::Finding {
            title, explanation, ..
        } => format!(
            "  NOTEBOOK MISTAKE: {title}\n{}",
            indent(explanation, "    ")
        ),
        Record::Extra { label, text, .. } => format!("  [{label}]\n{}", indent(text, "    ")),
        Record::Check {
            claim,
            passed,
            detail,
            ..
        } => {
            let verdict = if *passed { "ok" } else { "FAILED" };
            let mut text = format!("  check: {claim}: {verdict}");
            if !detail.is_empty() {
                text.push('\n');
                text.push_str(&indent(detail, "    "));
            }
            text
        }
        Record::Deviation { what, .. } => format!("  deviation: {what}"),
        Record::Figure { file, summary, .. } => {
            format!("  [figure written: {file}]\n{}", indent(summary, "    "))
        }
        Record::NotebookFile {
            file,
            sha256,
            code_cells,
            matched_by,
            unmatched_chapter_cells,
            unmatched_file_cells,
            uncompared_outputs,
        } => notebook_file(
            file,
            sha256,
            *code_cells,
            matched_by,
            unmatched_chapter_cells,
            unmatched_file_cells,
            uncompared_outputs,
        ),
    }
}

/// How the chapter's cells matched the notebook file given.
fn notebook_file(
    file: &str,
    sha256: &str,
    code_cells: usize,
    matched_by: &[(crate::record::Rule, usize)],
    unmatched_chapter_cells: &[usize],
    unmatched_file_cells: &[(usize, Option<String>, String)],
    uncompared_outputs: &[(usize, String)],
) -> String {
    let matched: usize = matched_by.iter().map(|(_, n)| n).sum();
    let rules = matched_by
        .iter()
        .map(|(rule, n)| format!("{n} by {}", rule.name()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut lines = vec![
        String::new(),
        format!(
            "notebook file: {file} (sha256 {})",
            &sha256[..sha256.len().min(16)]
        ),
        format!("  chapter cells matched to its {code_cells} code cells: {matched} ({rules})"),
    ];
    if !unmatched_chapter_cells.is_empty() {
        let cells: Vec<String> = unmatched_chapter_cells
            .iter()
            .map(|c| c.to_string())
            .collect();
        lines.push(format!(
            "  chapter cells with no cell in the file: {}",
            cells.join(", ")
        ));
    }
    let unreproduced = unmatched_file_cells.iter().map(|(index, id, first_line)| {
        let id = id
            .as_deref()
            .map(|i| format!(" (id {i})"))
            .unwrap_or_default();
        format!("file cell {}{id}: {first_line}", index + 1)
    });
    list_file_cells(
        &mut lines,
        "code cells of the file not reproduced",
        unreproduced.collect(),
    );
    let uncompared = uncompared_outputs
        .iter()
        .map(|(index, why)| format!("file cell {}: {why}", index + 1));
    list_file_cells(
        &mut lines,
        "outputs of the file compared with none of the chapter's",
        uncompared.collect(),
    );
    lines.join("\n")
}

/// `title: none`, or `title: N` and the N rows beneath it.
fn list_file_cells(lines: &mut Vec<String>, title: &str, rows: Vec<String>) {
    if rows.is_empty() {
        lines.push(format!("  {title}: none"));
        return;
    }
    lines.push(format!("  {title}: {}", rows.len()));
    lines.extend(rows.into_iter().map(|row| format!("    {row}")));
}

/// The summary block that ends a chapter.
pub fn summary(s: &Summary) -> String {
    let rule = "=".repeat(78);
    let mut lines = vec![
        String::new(),
        rule.clone(),
        format!("Summary: {}", s.title),
        format!(
            "cells reproduced: {} of {}",
            s.cells - s.not_run.len(),
            s.cells
        ),
        format!("outputs compared with the notebook: {}", s.compared),
        format!("  verbatim: {}", s.verbatim),
        format!("  within a stated tolerance: {}", s.within_tolerance),
        format!("  mismatched: {}", s.mismatched.len()),
        format!("outputs that cannot match by design: {}", s.incomparable()),
    ];
    if s.not_in_notebook > 0 {
        lines.push(format!(
            "outputs the notebook file has nothing to compare with: {}",
            s.not_in_notebook
        ));
    }
    lines.extend([format!(
        "checks of the chapter's own: {} passed, {} failed",
        s.checks_passed,
        s.checks_failed.len()
    )]);
    if s.figures > 0 {
        lines.push(format!("figures written: {}", s.figures));
    }
    if s.deviations.is_empty() && s.not_run.is_empty() {
        lines.push("deviations: none".into());
    } else {
        lines.push("deviations:".into());
        for (cell, what) in &s.not_run {
            lines.push(format!("  cell {cell}: not run: {what}"));
        }
        for (cell, what) in &s.deviations {
            lines.push(format!("  cell {cell}: {what}"));
        }
    }
    if !s.findings.is_empty() {
        lines.push(format!("notebook mistakes found: {}", s.findings.len()));
        for (cell, title) in &s.findings {
            lines.push(format!("  cell {cell}: {title}"));
        }
    }
    for n in &s.mismatched {
        lines.push(format!(
            "MISMATCH in cell {n}: its output differs from the notebook"
        ));
    }
    for claim in &s.checks_failed {
        lines.push(format!("FAILED check: {claim}"));
    }
    lines.push(
        if s.passed() {
            "result: the chapter reproduces its notebook"
        } else {
            "result: FAILED, see above"
        }
        .into(),
    );
    lines.push(rule);
    lines.join("\n")
}
