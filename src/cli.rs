//! The command line every chapter shares: flags, one-line errors and exit codes.

use crate::device::DeviceChoice;
use clap::Parser;
use std::process::ExitCode;

/// Flags common to every chapter.
#[derive(clap::Args, Clone, Debug)]
pub struct CommonArgs {
    /// Where to compute: cpu, cuda, cuda:N (GPU number N) or auto (CUDA when the build
    /// has it and a GPU answers, else cpu)
    #[arg(long, value_name = "DEVICE", default_value = "cpu")]
    pub device: DeviceChoice,
}

/// The flags that read and write Jupyter notebooks, on every chapter.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct NotebookArgs {
    /// Compare against this Jupyter notebook (the original .ipynb, or a re-run of it)
    /// instead of the outputs built into the chapter; random inputs the notebook printed
    /// are read from it too
    #[arg(long, value_name = "FILE.ipynb")]
    pub notebook: Option<std::path::PathBuf>,

    /// Also write the replication as a Jupyter notebook (nbformat 4.5): the original's
    /// cells with our outputs when --notebook is given, else the chapter's own cells
    #[arg(long, value_name = "FILE.ipynb")]
    pub write_notebook: Option<std::path::PathBuf>,
}

/// Parses the command line. `--help` prints the help and exits 0; a bad flag or value
/// prints one line naming it and exits 2. Also settles the thread count (see
/// `settle_thread_count`), before any thread starts.
pub fn parse<A: Parser>() -> Result<A, ExitCode> {
    settle_thread_count();
    keep_freed_memory();
    parse_from(std::env::args_os())
}

/// Lets glibc's malloc serve every allocation from its heap and keep freed memory,
/// instead of mapping fresh pages for each large one: candle allocates a new buffer for
/// every tensor, and each fresh page costs a fault and a clearing. The fused
/// cross-entropy's forward+backward takes 12–19 ms → 5–7 ms at 4096×1000 (the 32 MB
/// threshold) and 106–126 ms → 27–40 ms at 1024×32000 (no mapping at all). Elsewhere a
/// no-op.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any thread
    // starts and its return value (0 when a value is refused) needs no handling.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        // Above 32 MB glibc maps regardless of the threshold; allowing no mappings at
        // all keeps those on the heap too.
        libc::mallopt(libc::M_MMAP_MAX, 0);
    }
}

/// Sets `RAYON_NUM_THREADS=1` unless the user set it. Without it, candle looks up the
/// physical core count (reading /proc/cpuinfo) on every matmul, and the notebooks'
/// matmuls are too small to gain from more threads: one epoch of chapter 5 takes 0.30 s
/// with 1 thread, 0.47 s with 2 and 0.68 s unset on the 2-core reference machine. The
/// printed output is the same with any thread count.
pub fn settle_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // Called first thing in main, while the process has a single thread.
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
}

/// `parse` over given arguments (the first is the program name).
pub fn parse_from<A: Parser, I, T>(args: I) -> Result<A, ExitCode>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    A::try_parse_from(args).map_err(|err| {
        use clap::error::ErrorKind;
        match err.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                print!("{err}");
                ExitCode::SUCCESS
            }
            _ => {
                eprintln!("{}", one_line_usage_error(&err.to_string()));
                ExitCode::from(2)
            }
        }
    })
}

/// The first line of clap's error and the indented lines that complete it (the missing
/// arguments it lists), as one line with a pointer to `--help`.
fn one_line_usage_error(rendered: &str) -> String {
    let mut lines = rendered.lines();
    let first = lines.next().unwrap_or("error: bad arguments").trim_end();
    let details: Vec<&str> = lines
        .take_while(|l| l.starts_with(' '))
        .map(str::trim)
        .collect();
    let message = match details.is_empty() {
        true => first.to_string(),
        false => format!("{first} {}", details.join(", ")),
    };
    format!("{message} (run with --help for the flags)")
}

/// A chapter's `main`: parses the flags (see `parse`), opens the device they name and
/// runs the chapter; an error becomes one line on stderr and exit code 1.
pub fn main<A: Parser>(
    device_of: impl FnOnce(&A) -> crate::device::DeviceChoice,
    chapter: impl FnOnce(A, candle_core::Device) -> anyhow::Result<ExitCode>,
) -> ExitCode {
    let args = match parse::<A>() {
        Ok(args) => args,
        Err(code) => return code,
    };
    run(|| {
        let device = device_of(&args).open()?;
        chapter(args, device)
    })
}

/// Runs a chapter: an error becomes one line on stderr and exit code 1.
pub fn run(chapter: impl FnOnce() -> anyhow::Result<ExitCode>) -> ExitCode {
    match chapter() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", format!("{err:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_are_one_line() {
        let rendered = "error: unexpected argument '--x' found\n\nUsage: chapter-2\n";
        assert_eq!(
            one_line_usage_error(rendered),
            "error: unexpected argument '--x' found (run with --help for the flags)"
        );
        let missing = "error: the following required arguments were not provided:\n  \
                       --notebook <FILE.ipynb>\n\nUsage: chapter-2 --recover-seed\n";
        assert_eq!(
            one_line_usage_error(missing),
            "error: the following required arguments were not provided: --notebook \
             <FILE.ipynb> (run with --help for the flags)"
        );
    }
}
