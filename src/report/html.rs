//! The report's pages: one self-contained HTML file per chapter and an index. CSS is
//! inline, figures are PNGs embedded as data URIs, there is no script and nothing is
//! fetched from the network; light and dark follow `prefers-color-scheme`, and the
//! two-column output view folds to one column at a phone's width. Every piece of text
//! is escaped.

use super::{diff, ChapterRun};
use crate::record::cells::cells;
use crate::record::{Record, Status, Summary};
use base64::Engine as _;
use std::fmt::Write as _;

/// `&`, `<`, `>`, `"` and `'` as entities.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` escaped, with the characters `marked` wrapped in `<mark>`.
fn escape_marked(text: &str, marked: &[bool]) -> String {
    let mut out = String::new();
    let mut open = false;
    for (c, &m) in text.chars().zip(marked) {
        if m != open {
            out.push_str(if m { "<mark>" } else { "</mark>" });
            open = m;
        }
        out.push_str(&escape(&c.to_string()));
    }
    if open {
        out.push_str("</mark>");
    }
    out
}

const CSS: &str = r#"
:root { color-scheme: light dark; --bg: #fdfdfc; --fg: #1d1d1f; --muted: #5f6368;
  --panel: #f3f3f1; --line: #d9d9d6; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e;
  --info: #0969da; --mark: #ffe08a; --mistake: #fff4e5; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #121416; --fg: #e6e6e3; --muted: #a0a4a8; --panel: #1d2024;
    --line: #33373c; --ok: #3fb950; --warn: #d29922; --bad: #f85149; --info: #58a6ff;
    --mark: #6b5208; --mistake: #2e2412; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
a { color: var(--info); }
h1 { font-size: 1.6rem; margin: .5rem 0; }
h2 { font-size: 1.1rem; margin: 0 0 .5rem; }
h3 { font-size: .85rem; margin: .25rem 0; color: var(--muted); font-weight: 600; }
.origin, .meta { color: var(--muted); margin: 0 0 1rem; }
pre { margin: 0; padding: .6rem .75rem; background: var(--panel); border: 1px solid var(--line);
  border-radius: 6px; overflow-x: auto; font: 13px/1.45 ui-monospace, "SFMono-Regular",
  Menlo, Consolas, monospace; white-space: pre; }
.mistake pre, pre.extra, pre.detail { white-space: pre-wrap; }
mark { background: var(--mark); color: inherit; border-radius: 2px; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
.table { overflow-x: auto; }
th, td { border-bottom: 1px solid var(--line); padding: .35rem .5rem; text-align: right;
  vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
td { white-space: nowrap; } td:first-child { white-space: normal; }
tr.total td { font-weight: 600; }
.cell { border-top: 1px solid var(--line); padding: 1rem 0; }
.outputs { display: grid; grid-template-columns: 1fr 1fr; gap: .75rem; margin-top: .75rem; }
.outputs > div { min-width: 0; }
@media (max-width: 760px) { .outputs { grid-template-columns: 1fr; } main { padding: .6rem; } }
.badge { display: inline-block; margin: .5rem 0 0; padding: .1rem .55rem; border-radius: 1rem;
  font-size: .8rem; font-weight: 600; border: 1px solid currentColor; }
.verbatim, .ok { color: var(--ok); }
.within_tolerance, .number_for_number, .seeded, .not_comparable, .not_run { color: var(--warn); }
.mismatch, .failed { color: var(--bad); }
.mistake { background: var(--mistake); border-left: 4px solid var(--warn); padding: .5rem .75rem;
  margin: .75rem 0; border-radius: 4px; }
.mistake h3 { color: var(--warn); font-size: .95rem; }
.check { margin: .4rem 0 .2rem; font-size: .9rem; }
figure { margin: .75rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px;
  background: #fff; }
figcaption { color: var(--muted); font-size: .8rem; white-space: pre-wrap; }
.summary { margin: 1rem 0; }
.result { font-weight: 600; }
"#;

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}</main>\n\
         </body>\n</html>\n",
        escape(title)
    )
}

fn verdict(passed: bool, what: &str) -> String {
    if passed {
        format!("<span class=\"ok\">{what}</span>")
    } else {
        "<span class=\"failed\">FAILED</span>".into()
    }
}

/// The summary table of one chapter.
fn summary_table(run: &ChapterRun, s: &Summary) -> String {
    let mut rows = vec![
        (
            "cells reproduced",
            format!("{} of {}", s.cells - s.not_run.len(), s.cells),
        ),
        ("outputs compared with the notebook", s.compared.to_string()),
        ("verbatim", s.verbatim.to_string()),
        ("within a stated tolerance", s.within_tolerance.to_string()),
        ("mismatched", s.mismatched.len().to_string()),
        ("not comparable by design", s.incomparable().to_string()),
        (
            "checks of the chapter's own",
            format!(
                "{} passed, {} failed",
                s.checks_passed,
                s.checks_failed.len()
            ),
        ),
        ("notebook mistakes found", s.findings.len().to_string()),
        ("figures", s.figures.to_string()),
        ("run time", format!("{:.2} s", run.seconds)),
    ];
    if s.not_in_notebook > 0 {
        rows.insert(
            6,
            (
                "nothing to compare with in the notebook file",
                s.not_in_notebook.to_string(),
            ),
        );
    }
    let mut html = String::from("<section class=\"summary\"><div class=\"table\"><table>\n");
    for (label, value) in rows {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(label),
            escape(&value)
        );
    }
    let _ = writeln!(
        html,
        "</table></div><p class=\"result\">result: {}</p></section>",
        verdict(run.passed(), "the chapter reproduces its notebook")
    );
    html
}

fn badge(class: &str, text: &str) -> String {
    format!("<p class=\"badge {class}\">{}</p>\n", escape(text))
}

/// The badge of an output's status.
fn status_badge(status: &Status) -> String {
    let text = match status {
        Status::Verbatim => "verbatim".to_string(),
        Status::WithinTolerance {
            tolerance,
            largest_absolute,
            largest_relative,
            reason,
        } => format!(
            "within tolerance {tolerance:e}: largest absolute difference {largest_absolute:.1e}, \
             relative {largest_relative:.1e} ({reason})"
        ),
        Status::NumberForNumber { damage } => format!("number for number ({damage})"),
        Status::Mismatch => "differs from the notebook".to_string(),
        Status::Seeded { reason } => format!("depends on the unrecorded seed ({reason})"),
        Status::NotComparable { reason } => format!("not comparable ({reason})"),
        Status::NotInNotebook { reason } => format!("not compared ({reason})"),
    };
    badge(status.name(), &text)
}

fn output_view(output: &str, notebook: &str, status: &Status) -> String {
    let (ours, theirs) = if matches!(status, Status::Verbatim) {
        (escape(output), escape(notebook))
    } else {
        let (a, b) = diff::marks(output, notebook);
        (escape_marked(output, &a), escape_marked(notebook, &b))
    };
    format!(
        "<div class=\"outputs\">\n<div><h3>computed here</h3><pre class=\"ours\">{ours}</pre></div>\n\
         <div><h3>the notebook printed</h3><pre class=\"notebook\">{theirs}</pre></div>\n</div>\n{}",
        status_badge(status)
    )
}

fn figure(run: &ChapterRun, file: &str, summary: &str, original_images: &[String]) -> String {
    let mut html = String::new();
    for png in original_images {
        // Base64 from the notebook file: kept only if it is base64, so it cannot leave the
        // attribute.
        if png
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        {
            let _ = writeln!(
                html,
                "<figure class=\"original\"><img src=\"data:image/png;base64,{png}\" \
                 alt=\"the notebook's figure\"><figcaption>the notebook's figure</figcaption></figure>"
            );
        }
    }
    html + &match run.figures.iter().find(|(name, _)| name == file) {
        Some((_, png)) => format!(
            "<figure><img src=\"data:image/png;base64,{}\" alt=\"{}\">\
             <figcaption>{}</figcaption></figure>\n",
            base64::engine::general_purpose::STANDARD.encode(png),
            escape(file),
            escape(summary)
        ),
        None => format!(
            "<p class=\"badge failed\">figure {} was not written</p>\n",
            escape(file)
        ),
    }
}

/// One chapter's page.
pub fn chapter_page(run: &ChapterRun) -> String {
    let s = run.summary();
    let title = run.title();
    let mut body = String::from("<p><a href=\"index.html\">all chapters</a></p>\n");
    let _ = writeln!(body, "<h1>{}</h1>", escape(&title));
    if !s.origin.is_empty() {
        let _ = writeln!(
            body,
            "<p class=\"origin\">reproducing {}</p>",
            escape(&s.origin)
        );
    }
    if let Some(error) = &run.error {
        let _ = writeln!(
            body,
            "<section class=\"summary\"><p class=\"result failed\">This chapter could not run \
             here: {}</p></section>",
            escape(error)
        );
        return page(&title, &body);
    }
    if let Some(notebook) = &run.notebook {
        let _ = writeln!(
            body,
            "<p class=\"origin\">as a Jupyter notebook: <a href=\"{0}\">{0}</a></p>",
            escape(notebook)
        );
    }
    body.push_str(&summary_table(run, &s));
    for view in cells(&run.records) {
        let id = if view.cell == 0 {
            "before".to_string()
        } else {
            format!("cell-{}", view.cell)
        };
        let _ = writeln!(body, "<section class=\"cell\" id=\"{id}\">");
        for heading in &view.headings {
            let _ = writeln!(body, "<h3>## {}</h3>", escape(heading));
        }
        if let Some(code) = &view.code {
            let _ = writeln!(
                body,
                "<h2>In [{}]</h2>\n<pre class=\"code\">{}</pre>",
                view.cell,
                escape(code)
            );
        }
        for item in &view.items {
            body.push_str(&match item {
                Record::Output {
                    output,
                    notebook,
                    status,
                    ..
                } => output_view(output, notebook, status),
                Record::NotRun { reason, .. } => badge("not_run", &format!("not run: {reason}")),
                Record::Finding {
                    title, explanation, ..
                } => format!(
                    "<aside class=\"mistake\"><h3>NOTEBOOK MISTAKE: {}</h3><pre>{}</pre></aside>\n",
                    escape(title),
                    escape(explanation)
                ),
                Record::Extra { label, text, .. } => format!(
                    "<h3>{}</h3><pre class=\"extra\">{}</pre>\n",
                    escape(label),
                    escape(text)
                ),
                Record::Check {
                    claim,
                    passed,
                    detail,
                    ..
                } => {
                    let (class, word) = if *passed {
                        ("ok", "ok")
                    } else {
                        ("failed", "FAILED")
                    };
                    let mut html = format!(
                        "<p class=\"check\">check: {}: <span class=\"{class}\">{word}</span></p>\n",
                        escape(claim)
                    );
                    if !detail.is_empty() {
                        let _ = writeln!(html, "<pre class=\"detail\">{}</pre>", escape(detail));
                    }
                    html
                }
                Record::Deviation { what, .. } => {
                    format!("<p class=\"check\">deviation: {}</p>\n", escape(what))
                }
                Record::Figure {
                    file,
                    summary,
                    original_images,
                    ..
                } => figure(run, file, summary, original_images),
                Record::NotebookFile { .. } => format!(
                    "<pre class=\"detail\">{}</pre>\n",
                    escape(super::super::notebook::terminal::render(item).trim_start())
                ),
                Record::Conventions { .. } => format!(
                    "<p class=\"check\">{}</p>\n",
                    escape(&super::super::notebook::terminal::render(item))
                ),
                Record::Header { .. } | Record::Heading { .. } | Record::Cell { .. } => {
                    String::new()
                }
            });
        }
        body.push_str("</section>\n");
    }
    page(&title, &body)
}

/// A `replicate` run in one table cell: its counts, linked to its page.
fn replicate_cell(run: &ChapterRun) -> String {
    if let Some(error) = &run.error {
        return format!(
            "<span class=\"failed\">could not run: {}</span>",
            escape(error)
        );
    }
    let s = run.summary();
    let compared = s.verbatim + s.within_tolerance + s.mismatched.len();
    format!(
        "<a href=\"{}\">{} of {} compared verbatim, {} mismatched; {} of {} cells run</a>",
        run.page_name(),
        s.verbatim,
        compared,
        s.mismatched.len(),
        s.cells - s.not_run.len(),
        s.cells
    )
}

/// The index: a row per chapter (beside it, what `replicate` alone achieved on the
/// chapter's file), a total row, the notebooks run by `replicate`, the device and the
/// crate's version.
pub fn index_page(runs: &[ChapterRun], device: &str) -> String {
    let mut body = String::from("<h1>crossent: the replication report</h1>\n");
    let _ = writeln!(
        body,
        "<p class=\"meta\">crossent {} · device {} · five notebooks on softmax, NLL, \
         log_softmax, logsumexp and cross-entropy, reproduced cell by cell on candle</p>",
        escape(env!("CARGO_PKG_VERSION")),
        escape(device)
    );
    body.push_str(
        "<div class=\"table\"><table>\n<tr><th>chapter</th><th>cells</th><th>verbatim</th>\
         <th>within tolerance</th><th>mismatched</th><th>not comparable by design</th>\
         <th>checks passed</th><th>checks failed</th><th>notebook mistakes</th>\
         <th>run time</th><th>replicate alone on its file</th></tr>\n",
    );
    let mut total = [0usize; 8];
    let mut seconds = 0.0;
    let (chapters, replicated): (Vec<&ChapterRun>, Vec<&ChapterRun>) =
        runs.iter().partition(|r| r.replicated.is_none());
    for run in chapters {
        let s = run.summary();
        let numbers = [
            s.cells,
            s.verbatim,
            s.within_tolerance,
            s.mismatched.len(),
            s.incomparable(),
            s.checks_passed,
            s.checks_failed.len(),
            s.findings.len(),
        ];
        for (t, n) in total.iter_mut().zip(numbers) {
            *t += n;
        }
        seconds += run.seconds;
        let mut title = format!(
            "<a href=\"{}\">{}</a>",
            run.page_name(),
            escape(&run.title())
        );
        if !s.origin.is_empty() {
            let _ = write!(title, "<br><small>{}</small>", escape(&s.origin));
        }
        if let Some(notebook) = &run.notebook {
            let _ = write!(
                title,
                "<br><small><a href=\"{0}\">{0}</a></small>",
                escape(notebook)
            );
        }
        if let Some(error) = &run.error {
            let _ = write!(
                title,
                "<br><small class=\"failed\">could not run: {}</small>",
                escape(error)
            );
        }
        let _ = write!(body, "<tr class=\"chapter\"><td>{title}</td>");
        for n in numbers {
            let _ = write!(body, "<td>{n}</td>");
        }
        let _ = writeln!(
            body,
            "<td>{:.2} s</td><td>{}</td></tr>",
            run.seconds,
            run.alone
                .as_deref()
                .map_or_else(|| "—".to_string(), replicate_cell)
        );
    }
    let _ = write!(body, "<tr class=\"total\"><td>total</td>");
    for n in total {
        let _ = write!(body, "<td>{n}</td>");
    }
    let _ = writeln!(
        body,
        "<td>{seconds:.2} s</td><td></td></tr>\n</table></div>"
    );
    if !replicated.is_empty() {
        body.push_str(
            "<h2>Notebooks run by <code>replicate</code></h2>\n<p class=\"meta\">Their own \
             Python cells, run on crossent's torch in the embedded interpreter, no chapter \
             written for them.</p>\n<div class=\"table\"><table>\n<tr><th>notebook</th>\
             <th>result</th><th>run time</th></tr>\n",
        );
        for run in replicated {
            let _ = writeln!(
                body,
                "<tr class=\"chapter\"><td>{}</td><td>{}</td><td>{:.2} s</td></tr>",
                escape(run.replicated.as_deref().unwrap_or("")),
                replicate_cell(run),
                run.seconds
            );
        }
        body.push_str("</table></div>\n");
    }
    let passed = runs.iter().all(ChapterRun::passed);
    let _ = writeln!(
        body,
        "<p class=\"result\">result: {}</p>",
        verdict(passed, "every chapter reproduces its notebook")
    );
    body.push_str(
        "<p class=\"meta\">Each chapter page shows every cell: the notebook's code, the output \
         computed here beside the notebook's printed output with the differing characters \
         marked, the figures, the notebook's mistakes and the chapter's own checks. \
         <code>report.json</code> holds the same per cell.</p>\n",
    );
    page("crossent: the replication report", &body)
}
