//! The replication report: runs every chapter (their own code, each from its file)
//! quietly, and writes `index.html`, one `chapter-N.html` per chapter and `report.json`
//! from their records (see `crossent::report`).
//!
//! The chapters are compiled into this binary as modules, so one `cargo run --bin
//! report` builds and runs everything; each chapter stays one file that reads like its
//! notebook, and the report renders what the chapter recorded rather than computing
//! anything again.

#[allow(dead_code)]
#[path = "chapter-1.rs"]
mod chapter_1;
#[allow(dead_code)]
#[path = "chapter-2.rs"]
mod chapter_2;
#[allow(dead_code)]
#[path = "chapter-3.rs"]
mod chapter_3;
#[allow(dead_code)]
#[path = "chapter-4.rs"]
mod chapter_4;
#[allow(dead_code)]
#[path = "chapter-5.rs"]
mod chapter_5;
#[allow(dead_code)]
#[path = "chapter-6.rs"]
mod chapter_6;

use anyhow::{Context, Result};
use candle_core::Device;
use clap::Parser;
use crossent::chapter::Chapter;
use crossent::cli::{self, CommonArgs};
use crossent::report::{self, ChapterRun};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "report",
    about = "The replication report: every chapter as a self-contained web page, the \
             notebook's output beside ours, plus report.json"
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    /// The folder to write index.html, chapter-N.html and report.json into
    #[arg(long, value_name = "DIR", default_value = "report")]
    out: PathBuf,

    /// The MNIST folder for chapters 1 and 5 [default: found or fetched as the chapters do]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// A folder of Jupyter notebooks to compare against: `chapter-N.ipynb`, or the
    /// original's own file name (How_cross_entropy_works.ipynb,
    /// 2021-08-07-Cross-Entropy-Loss-PyTorch.ipynb, 03_minibatch_training.ipynb,
    /// information-theory.ipynb), is
    /// chapter N's, and `replicate` runs it too; a chapter without one compares with its
    /// built-in outputs. Any other notebook there is run by `replicate` alone
    #[arg(long, value_name = "DIR")]
    notebooks: Option<PathBuf>,
}

/// The chapters, in order: each one's own description.
const CHAPTERS: &[&Chapter] = &[
    &chapter_1::CHAPTER,
    &chapter_2::CHAPTER,
    &chapter_3::CHAPTER,
    &chapter_4::CHAPTER,
    &chapter_5::CHAPTER,
    &chapter_6::CHAPTER,
];

/// The notebooks of a `--notebooks` folder: each chapter's, by chapter number, and the
/// others (for `replicate` alone).
struct Notebooks {
    chapters: Vec<(usize, PathBuf)>,
    others: Vec<PathBuf>,
}

/// The notebooks in `dir`, each chapter's and the others.
fn assign_notebooks(dir: &Path) -> Result<Notebooks> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the notebooks folder {}; give a folder of .ipynb files",
            dir.display()
        )
    })?;
    let mut assigned: Vec<(usize, PathBuf)> = Vec::new();
    let mut others = Vec::new();
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".ipynb"))
        .collect();
    names.sort();
    for name in names {
        match CHAPTERS.iter().find(|c| c.owns_notebook_named(&name)) {
            Some(c) if assigned.iter().any(|(m, _)| *m == c.number) => anyhow::bail!(
                "{} holds two notebooks for chapter {} (one is {name}); keep one",
                dir.display(),
                c.number
            ),
            Some(c) => assigned.push((c.number, dir.join(&name))),
            None => others.push(dir.join(&name)),
        }
    }
    Ok(Notebooks {
        chapters: assigned,
        others,
    })
}

fn main() -> ExitCode {
    cli::main(|args: &Args| args.common.device, report)
}

fn report(args: Args, device: Device) -> Result<ExitCode> {
    std::fs::create_dir_all(&args.out).with_context(|| {
        format!(
            "cannot create the report folder {}; choose another with --out",
            args.out.display()
        )
    })?;
    let device_name = crossent::device::name(&device);
    let scratch = tempfile::tempdir().context("cannot create a temporary folder for figures")?;
    let Notebooks {
        chapters: notebooks,
        others,
    } = match &args.notebooks {
        Some(dir) => assign_notebooks(dir)?,
        None => Notebooks {
            chapters: Vec::new(),
            others: Vec::new(),
        },
    };
    crossent::notebook::set_quiet(true);
    let mut runs = Vec::new();
    for chapter in CHAPTERS {
        let number = chapter.number;
        let figures = scratch.path().join(chapter.binary());
        let notebook = notebooks
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, p)| p.as_path());
        let argv = chapter.argv(
            &args.common.device.to_string(),
            notebook,
            Some(&figures),
            args.data_dir.as_deref(),
        );
        let start = Instant::now();
        let result = (chapter.run)(&argv, &device).and_then(|nb| {
            let original = nb.notebook_file().cloned();
            Ok((nb.into_records()?, original))
        });
        let seconds = start.elapsed().as_secs_f64();
        let run = match result {
            Ok((records, original)) => {
                let mut run = ChapterRun {
                    number,
                    title: chapter.title.to_string(),
                    records,
                    error: None,
                    seconds,
                    figures: read_figures(&figures),
                    notebook: None,
                    replicated: None,
                    alone: notebook.map(|file| Box::new(replicated(file, scratch.path()))),
                };
                run.notebook = Some(write_notebook(
                    &args.out,
                    &run,
                    original.as_deref(),
                    &device_name,
                )?);
                run
            }
            Err(e) => ChapterRun {
                number,
                title: chapter.title.to_string(),
                records: Vec::new(),
                error: Some(format!("{e:#}").replace('\n', " ")),
                seconds,
                figures: Vec::new(),
                notebook: None,
                replicated: None,
                alone: None,
            },
        };
        let s = run.summary();
        match &run.error {
            None => eprintln!(
                "report: chapter {number}: {} cells, {} verbatim, {} mismatched, {:.2} s",
                s.cells,
                s.verbatim,
                s.mismatched.len(),
                seconds
            ),
            Some(e) => eprintln!("report: chapter {number} could not run: {e}"),
        }
        crossent::files::write_file(
            &args.out,
            &run.page_name(),
            report::html::chapter_page(&run).as_bytes(),
        )?;
        if let (Some(alone), Some(file)) = (&run.alone, notebook) {
            write_replicated(&args.out, alone, file, &device_name)?;
        }
        runs.push(run);
    }
    for file in &others {
        let run = replicated(file, scratch.path());
        write_replicated(&args.out, &run, file, &device_name)?;
        runs.push(run);
    }
    crossent::files::write_file(
        &args.out,
        "index.html",
        report::html::index_page(&runs, &device_name).as_bytes(),
    )?;
    let json = serde_json::to_vec_pretty(&report::json(&runs, &device_name))?;
    crossent::files::write_file(&args.out, "report.json", &json)?;
    eprintln!(
        "report: wrote index.html, {} chapter pages and report.json into {}",
        runs.len(),
        args.out.display()
    );
    Ok(if runs.iter().all(ChapterRun::passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A notebook run by the `replicate` binary beside this one, its records read back.
fn replicated(file: &Path, scratch: &Path) -> ChapterRun {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let records_file = scratch.join(format!("{name}.records.json"));
    let start = Instant::now();
    let result = (|| -> Result<Vec<crossent::record::Record>> {
        let exe = std::env::current_exe()?.with_file_name("replicate");
        let out = std::process::Command::new(&exe)
            .arg(file)
            .arg("--records")
            .arg(&records_file)
            .output()
            .with_context(|| {
                format!(
                    "cannot run {} (build it with cargo build --release)",
                    exe.display()
                )
            })?;
        let bytes = std::fs::read(&records_file).map_err(|_| {
            let err = String::from_utf8_lossy(&out.stderr);
            anyhow::anyhow!(
                "{}",
                err.lines().last().unwrap_or("replicate wrote no records")
            )
        })?;
        Ok(serde_json::from_slice(&bytes)?)
    })();
    let seconds = start.elapsed().as_secs_f64();
    let (records, error) = match result {
        Ok(records) => (records, None),
        Err(e) => (Vec::new(), Some(format!("{e:#}").replace('\n', " "))),
    };
    let run = ChapterRun {
        number: 0,
        title: format!("replicate — {name}"),
        records,
        error,
        seconds,
        figures: Vec::new(),
        notebook: None,
        replicated: Some(name.clone()),
        alone: None,
    };
    let s = run.summary();
    match &run.error {
        None => eprintln!(
            "report: replicate {name}: {} cells, {} verbatim, {} mismatched, {} not run, {seconds:.2} s",
            s.cells,
            s.verbatim,
            s.mismatched.len(),
            s.not_run.len()
        ),
        Some(e) => eprintln!("report: replicate {name} could not run: {e}"),
    }
    run
}

/// Writes a `replicate` run's page and its notebook (the original's cells with the
/// run's outputs).
fn write_replicated(out: &Path, run: &ChapterRun, file: &Path, device: &str) -> Result<()> {
    let mut run = run.clone();
    if run.error.is_none() {
        let name = run.page_name().replace(".html", ".ipynb");
        let original = crossent::ipynb::NotebookFile::read(file).ok();
        crossent::ipynb::write::write(
            &out.join(&name),
            &crossent::ipynb::write::Replication {
                chapter: 0,
                records: &run.records,
                figure: &|_: &str| None,
                device,
                original: original.as_ref(),
            },
        )?;
        run.notebook = Some(name);
    }
    crossent::files::write_file(
        out,
        &run.page_name(),
        report::html::chapter_page(&run).as_bytes(),
    )
}

/// Writes `chapter-N.ipynb` beside the chapter's page; gives its file name.
fn write_notebook(
    out: &Path,
    run: &ChapterRun,
    original: Option<&crossent::ipynb::NotebookFile>,
    device: &str,
) -> Result<String> {
    let name = format!("chapter-{}.ipynb", run.number);
    let figure = |file: &str| {
        run.figures
            .iter()
            .find(|(n, _)| n == file)
            .map(|(_, png)| png.clone())
    };
    crossent::ipynb::write::write(
        &out.join(&name),
        &crossent::ipynb::write::Replication {
            chapter: run.number,
            records: &run.records,
            figure: &figure,
            device,
            original,
        },
    )?;
    Ok(name)
}

/// The PNG files in a chapter's figure folder, by name.
fn read_figures(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut figures: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.ends_with(".png")
                .then(|| std::fs::read(entry.path()).ok().map(|bytes| (name, bytes)))
                .flatten()
        })
        .collect();
    figures.sort();
    figures
}
