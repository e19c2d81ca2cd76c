//! The terminal renderer: what a chapter prints for each record and for its summary.

use super::record::{Record, Status, Summary};

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
        Record::Heading { text } => format!("\n## {text}"),
        Record::Cell { cell, code } => format!("\nIn [{cell}]:\n{}", indent(code, "    ")),
        Record::Output {
            cell,
            output,
            notebook,
            status,
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
    }
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
        format!(
            "checks of the chapter's own: {} passed, {} failed",
            s.checks_passed,
            s.checks_failed.len()
        ),
    ];
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
