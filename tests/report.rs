//! The replication report: written into a temporary folder and checked for structure
//! (every cell of every chapter, in order; the index's counts equal each chapter's
//! summary; every embedded image a PNG; nothing off the page; text escaped) and against
//! the chapters' own summaries; then rendered by headless Chromium.

mod common;

use base64::Engine as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const REPORT: &str = env!("CARGO_BIN_EXE_report");

fn scratch(name: &str) -> common::Scratch {
    common::scratch_path(&format!("report-{name}"))
}

/// Runs the report into `dir` with `--data-dir data` (never fetching).
fn write_report(dir: &Path, data: &Path) -> Output {
    Command::new(REPORT)
        .args([
            "--out",
            dir.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap()
}

/// The full report's scratch folder: a static is never dropped, so the process removes
/// it as it exits.
static FULL: OnceLock<Option<common::Scratch>> = OnceLock::new();

extern "C" fn remove_the_full_report() {
    if let Some(Some(dir)) = FULL.get() {
        let _ = std::fs::remove_dir_all(dir.root());
    }
}

/// One full report for the tests that read it; `None` (and a skip line) without MNIST.
fn full_report() -> Option<&'static Path> {
    FULL.get_or_init(|| {
        let mnist = common::mnist_or_skip("the full report (chapters 1 and 5 need MNIST)")?;
        let dir = scratch("full");
        // SAFETY: registers a function that only removes a folder, once.
        unsafe { libc::atexit(remove_the_full_report) };
        let out = write_report(&dir, &mnist);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert_eq!(
            err.lines()
                .filter(|l| l.starts_with("report: chapter"))
                .count(),
            common::CHAPTERS.len(),
            "a progress line per chapter: {err}"
        );
        Some(dir)
    })
    .as_deref()
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&read(dir, "report.json")).unwrap()
}

/// Every value of `attribute="…"` in `html`.
fn attributes<'a>(html: &'a str, attribute: &str) -> Vec<&'a str> {
    let needle = format!("{attribute}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

fn html_escape(text: &str) -> String {
    crossent::report::html::escape(text)
}

#[test]
fn every_cell_of_every_chapter_is_on_its_page_in_order() {
    let Some(dir) = full_report() else { return };
    let report = json(dir);
    let chapters = report["chapters"].as_array().unwrap();
    assert_eq!(chapters.len(), common::CHAPTERS.len());
    for chapter in chapters {
        let page = read(dir, chapter["page"].as_str().unwrap());
        let cells = chapter["summary"]["cells"].as_u64().unwrap() as usize;
        let ids: Vec<&str> = attributes(&page, "id")
            .into_iter()
            .filter(|id| id.starts_with("cell-"))
            .collect();
        let expected: Vec<String> = (1..=cells).map(|n| format!("cell-{n}")).collect();
        assert_eq!(ids, expected, "{}: every cell, in order", chapter["page"]);
        for cell in chapter["cells"].as_array().unwrap() {
            if let Some(code) = cell["code"].as_str() {
                assert!(
                    page.contains(&html_escape(code)),
                    "cell {} code",
                    cell["cell"]
                );
            }
            // Every output the notebook printed that matched verbatim appears as text.
            if cell["status"] == "verbatim" {
                for line in cell["notebook_output"].as_str().unwrap().lines() {
                    assert!(page.contains(&html_escape(line)), "{line}");
                }
            }
        }
        assert!(page.contains("class=\"ours\"") || cells == 0);
    }
}

#[test]
fn the_index_and_report_json_agree_with_the_chapters_own_summaries() {
    let Some(dir) = full_report() else { return };
    let mnist = common::mnist_or_skip("report summaries").unwrap();
    let report = json(dir);
    let index = read(dir, "index.html");
    let rows: Vec<&str> = index.split("<tr class=\"chapter\">").skip(1).collect();
    assert_eq!(rows.len(), common::CHAPTERS.len());
    for (chapter, row) in report["chapters"].as_array().unwrap().iter().zip(rows) {
        let n = chapter["chapter"].as_u64().unwrap();
        let binary = PathBuf::from(REPORT).with_file_name(format!("chapter-{n}"));
        let figures = scratch(&format!("figures-{n}"));
        let mut cmd = Command::new(binary);
        if n == 1 || n == 5 {
            cmd.args([
                "--data-dir",
                mnist.to_str().unwrap(),
                "--out",
                figures.to_str().unwrap(),
            ]);
        }
        let out: Output = cmd.env("HF_HUB_OFFLINE", "1").output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let s = &chapter["summary"];
        let printed = |label: &str| common::summary_count(&text, label);
        assert_eq!(s["verbatim"], printed("verbatim:"), "chapter {n}");
        assert_eq!(s["within_tolerance"], printed("within a stated tolerance:"));
        assert_eq!(s["mismatched"], printed("mismatched:"));
        assert_eq!(
            s["not_comparable_by_design"],
            printed("outputs that cannot match by design:")
        );
        assert_eq!(
            s["outputs_compared"],
            printed("outputs compared with the notebook:")
        );
        let cells_line = format!(
            "cells reproduced: {} of {}",
            s["cells"].as_u64().unwrap() - s["cells_not_run"].as_u64().unwrap(),
            s["cells"]
        );
        assert!(text.contains(&cells_line), "chapter {n}: {cells_line}");
        let checks = format!(
            "checks of the chapter's own: {} passed, {} failed",
            s["checks_passed"], s["checks_failed"]
        );
        assert!(text.contains(&checks), "chapter {n}: {checks}");
        // Without a notebook file, the original notebooks' display conventions.
        let conventions = &s["display_conventions"];
        assert_eq!(conventions["grad_fn_number"], false, "chapter {n}");
        assert_eq!(conventions["ipython8_sequences"], false, "chapter {n}");
        assert_eq!(conventions["figure_size"], serde_json::json!([432, 288]));
        assert!(conventions["decided_by"]
            .as_str()
            .unwrap()
            .contains("the original notebooks'"));
        // The index row: cells, verbatim, within, mismatched, incomparable, checks
        // passed, failed, mistakes.
        let cells: Vec<&str> = row
            .split("<td>")
            .skip(2)
            .map(|c| c.split("</td>").next().unwrap())
            .collect();
        let want: Vec<String> = [
            "cells",
            "verbatim",
            "within_tolerance",
            "mismatched",
            "not_comparable_by_design",
            "checks_passed",
            "checks_failed",
            "notebook_mistakes",
        ]
        .iter()
        .map(|k| s[*k].to_string())
        .collect();
        assert_eq!(&cells[..8], want.as_slice(), "chapter {n}: index row");
        let _ = std::fs::remove_dir_all(&figures);
    }
}

#[test]
fn pages_are_self_contained_with_at_least_twelve_pngs() {
    let Some(dir) = full_report() else { return };
    let mut pngs = 0;
    for name in [
        "index.html",
        "chapter-1.html",
        "chapter-2.html",
        "chapter-3.html",
        "chapter-4.html",
        "chapter-5.html",
        "chapter-6.html",
    ] {
        let page = read(dir, name);
        assert!(!page.contains("<script"), "{name}: no script");
        assert!(!page.contains("<link"), "{name}: no stylesheet link");
        assert!(
            page.contains("prefers-color-scheme: dark"),
            "{name}: dark mode"
        );
        assert!(page.contains("name=\"viewport\""), "{name}: phone width");
        for src in attributes(&page, "src") {
            let data = src
                .strip_prefix("data:image/png;base64,")
                .unwrap_or_else(|| panic!("{name}: an image from off the page: {src}"));
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap();
            image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
                .unwrap_or_else(|e| panic!("{name}: an embedded image is not a PNG: {e}"));
            pngs += 1;
        }
        for href in attributes(&page, "href") {
            let local = href.starts_with('#')
                || ((href.ends_with(".html") || href.ends_with(".ipynb"))
                    && !href.contains(':')
                    && !href.contains('/'));
            assert!(local, "{name}: a link off the page: {href}");
        }
    }
    assert!(pngs >= 12, "{pngs} embedded PNGs");
}

#[test]
fn text_is_escaped() {
    use crossent::record::{Record, Status};
    use crossent::report::{html, ChapterRun};
    let run = ChapterRun {
        number: 9,
        title: "Chapter 9 — <b>bold</b> & co".into(),
        records: vec![
            Record::Header {
                title: "Chapter 9 — <b>bold</b> & co".into(),
                origin: "a <script>alert(1)</script> notebook".into(),
            },
            Record::Cell {
                cell: 1,
                code: "if a < b && c > d: print('<x>')".into(),
                matched: None,
            },
            Record::Output {
                cell: 1,
                output: "tensor(<1 & 2>)".into(),
                notebook: "tensor(<1 & 3>)".into(),
                status: Status::Mismatch,
                values: vec![],
            },
        ],
        error: None,
        seconds: 0.0,
        figures: Vec::new(),
        notebook: Some("chapter-9.ipynb".into()),
        replicated: None,
        alone: None,
    };
    let page = html::chapter_page(&run);
    assert!(page.contains("if a &lt; b &amp;&amp; c &gt; d: print(&#39;&lt;x&gt;&#39;)"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<script"));
    assert!(!page.contains("<b>"));
    // The differing character is marked, the rest escaped around it.
    assert!(
        page.contains("tensor(&lt;1 &amp; <mark>2</mark>&gt;)"),
        "{page}"
    );
}

#[test]
fn a_chapter_that_cannot_run_gets_a_page_saying_why_and_the_run_fails() {
    let dir = scratch("no-mnist");
    let empty = scratch("no-mnist-data");
    std::fs::create_dir_all(&empty).unwrap();
    let out = write_report(&dir, &empty);
    assert!(!out.status.success());
    let page = read(&dir, "chapter-5.html");
    assert!(page.contains("could not run here"), "{page}");
    assert!(
        page.contains("train-images-idx3-ubyte is missing"),
        "{page}"
    );
    for n in common::WITHOUT_MNIST {
        assert!(dir.join(format!("chapter-{n}.html")).is_file());
    }
    let report = json(&dir);
    assert_eq!(report["chapters"][4]["ran"], false);
    assert_eq!(report["chapters"][1]["ran"], true);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&empty);
}

/// A screenshot of `page` (a file) at `width`×`height`, taken by headless Chromium.
fn screenshot(
    browser: &Path,
    profile: &Path,
    page: &Path,
    (width, height): (u32, u32),
) -> image::RgbImage {
    let shot = page.with_extension("png");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--window-size={width},{height}"),
            &format!("--screenshot={}", shot.display()),
            &format!("file://{}", page.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        page.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let image = image::open(&shot)
        .unwrap_or_else(|e| panic!("{}: no screenshot: {e}", shot.display()))
        .to_rgb8();
    let _ = std::fs::remove_file(&shot);
    image
}

/// The share of a region's pixels that differ from `background`.
fn ink(image: &image::RgbImage, (x0, y0, w, h): (u32, u32, u32, u32), background: [u8; 3]) -> f64 {
    let mut inked = 0;
    for y in y0..(y0 + h).min(image.height()) {
        for x in x0..(x0 + w).min(image.width()) {
            let p = image.get_pixel(x, y).0;
            inked += usize::from(p.iter().zip(background).any(|(a, b)| a.abs_diff(b) > 24));
        }
    }
    inked as f64 / f64::from(w * h)
}

/// Renders every page of a report folder: each page's screenshot is not blank, and
/// every figure embedded in it, drawn alone in a grid cell of its own as a background
/// image (so that an image that does not decode leaves its cell empty), puts ink in its
/// cell.
/// Gives the number of figures seen.
fn render_every_page(browser: &Path, dir: &Path) -> usize {
    let profile = dir.join(".chromium-profile");
    let mut figures = 0;
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".html") && !n.starts_with("probe-"))
        .collect();
    names.sort();
    assert!(names.len() >= 6, "{names:?}");
    for name in &names {
        let page = dir.join(name);
        let shot = screenshot(browser, &profile, &page, (1000, 1400));
        let background = shot.get_pixel(shot.width() - 1, shot.height() - 1).0;
        let covered = ink(&shot, (0, 0, shot.width(), shot.height()), background);
        assert!(
            covered > 0.005,
            "{name}: the rendered page is blank ({covered:.4} inked)"
        );
        let html = read(dir, name);
        let images: Vec<&str> = attributes(&html, "src");
        if images.is_empty() {
            continue;
        }
        const CELL: (u32, u32) = (240, 180);
        let columns = 4u32;
        let rows = (images.len() as u32).div_ceil(columns);
        let mut probe = String::from(
            "<!doctype html><html><body style=\"margin:0;background:#fff\">\
             <div style=\"display:grid;grid-template-columns:repeat(4,240px);\
             grid-auto-rows:180px\">",
        );
        for src in &images {
            // A background image: one that does not decode draws nothing at all (an
            // <img> would still draw a broken-image frame).
            probe.push_str(&format!(
                "<div style=\"margin:15px 20px;width:200px;height:150px;\
                 background:url('{src}') center/contain no-repeat\"></div>"
            ));
        }
        probe.push_str("</div></body></html>");
        let probe_page = dir.join(format!("probe-{name}"));
        std::fs::write(&probe_page, probe).unwrap();
        let shot = screenshot(
            browser,
            &profile,
            &probe_page,
            (columns * CELL.0, rows * CELL.1),
        );
        let _ = std::fs::remove_file(&probe_page);
        for k in 0..images.len() as u32 {
            let cell = (
                (k % columns) * CELL.0,
                (k / columns) * CELL.1,
                CELL.0,
                CELL.1,
            );
            let covered = ink(&shot, cell, [255, 255, 255]);
            assert!(
                covered > 0.003,
                "{name}: embedded figure {} draws nothing ({covered:.4} inked): it does not decode",
                k + 1
            );
        }
        figures += images.len();
    }
    let _ = std::fs::remove_dir_all(&profile);
    figures
}

#[test]
fn headless_chromium_renders_every_page_and_every_figure() {
    let Some(browser) = common::chromium() else {
        return;
    };
    // Without MNIST: chapter 1 still draws its six figures, chapter 5's page says why it
    // could not run. Always rendered, whatever this machine holds.
    let without = scratch("render-without-mnist");
    let empty = scratch("render-empty-data");
    std::fs::create_dir_all(&empty).unwrap();
    write_report(&without, &empty);
    let figures = render_every_page(&browser, &without);
    assert!(figures >= 6, "{figures} figures rendered without MNIST");
    let _ = std::fs::remove_dir_all(&without);
    let _ = std::fs::remove_dir_all(&empty);
    if let Some(dir) = full_report() {
        let figures = render_every_page(&browser, dir);
        assert!(
            figures >= 12,
            "{figures} figures rendered in the full report"
        );
    }
}

#[test]
fn a_notebook_naming_no_chapter_is_run_by_replicate_and_gets_its_page() {
    let Some(mnist) =
        common::mnist_or_skip("the report with replicate (chapters 1 and 5 need MNIST)")
    else {
        return;
    };
    let notebooks = common::scratch_dir("report-replicate-notebooks");
    let losses = Path::new(env!("CARGO_MANIFEST_DIR")).join("replicate/tests/data/losses.ipynb");
    std::fs::copy(&losses, notebooks.join("losses.ipynb")).unwrap();
    let dir = scratch("replicate");
    let out = Command::new(REPORT)
        .args([
            "--out",
            dir.to_str().unwrap(),
            "--data-dir",
            mnist.to_str().unwrap(),
        ])
        .args(["--notebooks", notebooks.to_str().unwrap()])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(
            "report: replicate losses.ipynb: 50 cells, 49 verbatim, 0 mismatched, 0 not run"
        ),
        "{err}"
    );
    let index = read(&dir, "index.html");
    assert!(
        index.contains("49 of 49 compared verbatim, 0 mismatched; 50 of 50 cells run"),
        "{index}"
    );
    let page = read(&dir, "replicate-losses.html");
    assert!(
        page.contains("7.896927833557129"),
        "the run's own output is on its page"
    );
    let report = json(&dir);
    let entry = report["chapters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["replicated"] == "losses.ipynb")
        .expect("the replicate run is in report.json");
    assert_eq!(entry["summary"]["verbatim"], 49);
    let written: serde_json::Value =
        serde_json::from_str(&read(&dir, "replicate-losses.ipynb")).unwrap();
    assert_eq!(
        written["cells"].as_array().unwrap().len(),
        57,
        "the file's own cells"
    );
}
