//! `replicate NOTEBOOK.ipynb`: runs a notebook's own Python cells on crossent's torch and
//! compares every output with the one the file holds.

use clap::Parser;
use crossent_replicate::run::{replicate, Options};
use crossent_replicate::supervisor::SERVE_ENV;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Runs a Jupyter notebook's own code cells on crossent's torch (candle underneath) in an
/// embedded Python, and compares every output with the one the notebook holds.
#[derive(Parser, Debug)]
#[command(name = "replicate")]
struct Args {
    /// The notebook to replicate (.ipynb)
    #[arg(value_name = "NOTEBOOK.ipynb")]
    notebook: PathBuf,

    /// Also write the replication as a Jupyter notebook (nbformat 4.5)
    #[arg(long, value_name = "FILE.ipynb")]
    out: Option<PathBuf>,

    /// The time one cell may take, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    cell_timeout: u64,

    /// For a notebook that set no seed: search all 2³² seeds for the one its printed draws
    /// came from (about a minute on two cores), then draw as it drew and compare
    #[arg(long)]
    recover_seed: bool,

    /// Print nothing and write the run's records as JSON into this file instead (the
    /// report reads them)
    #[arg(long, value_name = "FILE.json")]
    records: Option<PathBuf>,

    /// The cap on one tensor's memory, in GiB
    #[arg(long, value_name = "GiB", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    tensor_memory: u64,
}

fn main() -> ExitCode {
    if std::env::var_os(SERVE_ENV).is_some() {
        return match crossent_replicate::interpreter::serve() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let args: Args = match crossent::cli::parse() {
        Ok(args) => args,
        Err(code) => return code,
    };
    crossent::cli::run(|| {
        let options = Options {
            out: args.out,
            cell_timeout: Duration::from_secs(args.cell_timeout),
            tensor_cap_bytes: args.tensor_memory << 30,
            recover_seed: args.recover_seed,
            ..Options::new(args.notebook)
        };
        match &args.records {
            None => Ok(replicate(&options)?.finish()),
            Some(path) => {
                crossent::notebook::set_quiet(true);
                let nb = replicate(&options)?;
                let passed = nb.passed();
                let records = nb.into_records()?;
                let dir = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."));
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .ok_or_else(|| anyhow::anyhow!("--records needs a file name"))?;
                crossent::files::write_file(dir, name, &serde_json::to_vec(&records)?)?;
                Ok(if passed {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
        }
    })
}
