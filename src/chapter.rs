//! One description per chapter — its number, title, where its notebook comes from, the
//! flags it takes and how to run it — that the chapter's own binary and the report both
//! read, so that nothing about a chapter is written twice.

use crate::cli::NotebookArgs;
use crate::notebook::Notebook;
use anyhow::Result;
use candle_core::Device;
use std::path::Path;

/// What a chapter is and how to run it. Each chapter file defines one as `CHAPTER`.
///
/// ```
/// use crossent::chapter::Chapter;
/// use crossent::notebook::Notebook;
///
/// #[derive(clap::Parser)]
/// struct Args {
///     #[command(flatten)]
///     common: crossent::cli::CommonArgs,
///     #[command(flatten)]
///     notebooks: crossent::cli::NotebookArgs,
/// }
///
/// fn run(args: Args, _device: &candle_core::Device) -> anyhow::Result<Notebook> {
///     let mut nb = CHAPTER.notebook(&args.notebooks)?;
///     nb.show("1 + 1", "2", "2");
///     Ok(nb)
/// }
///
/// const CHAPTER: Chapter = Chapter {
///     number: 9,
///     title: "Chapter 9 — Arithmetic",
///     origin: "a notebook of one cell",
///     original_file: None,
///     takes_figures_and_data: false,
///     run: |argv, device| run(crossent::chapter::parse_args(argv)?, device),
/// };
///
/// let nb = (CHAPTER.run)(&CHAPTER.argv("cpu", None, None, None), &candle_core::Device::Cpu)?;
/// assert_eq!(nb.summary().verbatim, 1);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub struct Chapter {
    /// The chapter's number: its binary is `chapter-N`.
    pub number: usize,
    /// The title its header prints.
    pub title: &'static str,
    /// Where its notebook comes from, as far as the notebook says.
    pub origin: &'static str,
    /// The original notebook's file name where it is public: the report's `--notebooks`
    /// folder may hold the file under this name as well as `chapter-N.ipynb`.
    pub original_file: Option<&'static str>,
    /// Whether the chapter takes `--out DIR` (its figures) and `--data-dir DIR` (MNIST).
    pub takes_figures_and_data: bool,
    /// Parses the chapter's flags (the first item is the program name) and runs it on a
    /// device: its harness, holding every record.
    pub run: fn(&[String], &Device) -> Result<Notebook>,
}

impl Chapter {
    /// The chapter's cell harness, with the notebook flags (`--notebook`,
    /// `--write-notebook`); its first record is this chapter's header.
    pub fn notebook(&self, args: &NotebookArgs) -> Result<Notebook> {
        Notebook::for_chapter(self.number, self.title, self.origin, args)
    }

    /// The binary's name, `chapter-N`.
    pub fn binary(&self) -> String {
        format!("chapter-{}", self.number)
    }

    /// Whether a notebook file's name says it is this chapter's: `chapter-N.ipynb` or
    /// the original's own name.
    pub fn owns_notebook_named(&self, file_name: &str) -> bool {
        file_name == format!("{}.ipynb", self.binary()) || Some(file_name) == self.original_file
    }

    /// The command line that runs this chapter on `device` (as `--device` spells it),
    /// comparing against `notebook` when given and, for a chapter that takes them,
    /// writing figures into `figures` and reading MNIST from `data_dir`.
    pub fn argv(
        &self,
        device: &str,
        notebook: Option<&Path>,
        figures: Option<&Path>,
        data_dir: Option<&Path>,
    ) -> Vec<String> {
        let mut argv = vec![self.binary(), "--device".into(), device.into()];
        let mut flag = |name: &str, value: Option<&Path>| {
            if let Some(value) = value {
                argv.push(name.into());
                argv.push(value.display().to_string());
            }
        };
        flag("--notebook", notebook);
        if self.takes_figures_and_data {
            flag("--out", figures);
            flag("--data-dir", data_dir);
        }
        argv
    }
}

/// A chapter's flags parsed from `argv` (the first item is the program name); a bad one
/// is an error of one line.
pub fn parse_args<A: clap::Parser>(argv: &[String]) -> Result<A> {
    A::try_parse_from(argv).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never_run(_: &[String], _: &Device) -> Result<Notebook> {
        anyhow::bail!("not run in this test")
    }

    const WITH_DATA: Chapter = Chapter {
        number: 5,
        title: "Chapter 5",
        origin: "a test",
        original_file: Some("03_minibatch_training.ipynb"),
        takes_figures_and_data: true,
        run: never_run,
    };

    #[test]
    fn a_notebook_is_the_chapters_by_number_or_by_the_originals_name() {
        assert!(WITH_DATA.owns_notebook_named("chapter-5.ipynb"));
        assert!(WITH_DATA.owns_notebook_named("03_minibatch_training.ipynb"));
        assert!(!WITH_DATA.owns_notebook_named("chapter-4.ipynb"));
        assert!(!WITH_DATA.owns_notebook_named("chapter-5.ipynb.bak"));
        let no_original = Chapter {
            original_file: None,
            ..WITH_DATA
        };
        assert!(!no_original.owns_notebook_named("03_minibatch_training.ipynb"));
    }

    #[test]
    fn figures_and_data_reach_only_the_chapters_that_take_them() {
        let (nb, figures, data) = (Path::new("n.ipynb"), Path::new("f"), Path::new("d"));
        assert_eq!(
            WITH_DATA.argv("cuda:1", Some(nb), Some(figures), Some(data)),
            [
                "chapter-5",
                "--device",
                "cuda:1",
                "--notebook",
                "n.ipynb",
                "--out",
                "f",
                "--data-dir",
                "d"
            ]
        );
        let without = Chapter {
            takes_figures_and_data: false,
            ..WITH_DATA
        };
        assert_eq!(
            without.argv("cpu", None, Some(figures), Some(data)),
            ["chapter-5", "--device", "cpu"]
        );
    }
}
