//! The supervisor's side of the interpreter process: starts it (this same binary, told
//! by an environment variable to serve), hands it one cell at a time, and ends it when a
//! cell outlives its time limit or the process dies (out of memory). A replacement is
//! brought back to the same state by running again, silently, the cells that ran.

use crate::protocol::{CellReply, CellRequest, Start};
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The environment variable that makes the binary the interpreter process.
pub const SERVE_ENV: &str = "CROSSENT_REPLICATE_SERVE";
/// The most a reply line may hold (a cell's output is capped at 1 MiB inside).
const REPLY_LIMIT: u64 = 8 << 20;
/// The time the interpreter may take to set up `torch`.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);

/// What became of a cell.
#[derive(Debug)]
pub enum Outcome {
    /// It ran (or was refused) and said what it did.
    Replied(Box<CellReply>),
    /// It was still running at the limit; the process was ended.
    TimedOut,
    /// The process died while running it; why, as far as its stderr says.
    Died(String),
}

/// A running interpreter process.
pub struct Worker {
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<Option<String>>,
    stderr_tail: Arc<Mutex<String>>,
}

impl Worker {
    /// Starts an interpreter process and sends it `start`.
    pub fn start(start: &Start) -> Result<Self> {
        let exe =
            std::env::current_exe().context("finding this program to start its interpreter")?;
        let mut child = Command::new(exe)
            .env(SERVE_ENV, "1")
            .env("RAYON_NUM_THREADS", "1")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the interpreter process")?;
        let mut stdin = child.stdin.take().context("the interpreter's stdin")?;
        let stdout = child.stdout.take().context("the interpreter's stdout")?;
        let stderr = child.stderr.take().context("the interpreter's stderr")?;
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                let read = (&mut reader).take(REPLY_LIMIT).read_line(&mut line);
                match read {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(None);
                        return;
                    }
                    Ok(_) => {
                        if tx.send(Some(line)).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let stderr_tail = Arc::new(Mutex::new(String::new()));
        let tail = stderr_tail.clone();
        std::thread::spawn(move || {
            // The first line that says why it ended: an allocation refused, a panic, an error.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut t) = tail.lock() {
                    let telling = ["memory allocation of", "panicked at", "error:"]
                        .iter()
                        .any(|w| line.contains(w));
                    if t.is_empty() && telling {
                        *t = line.chars().take(300).collect();
                    }
                }
            }
        });
        serde_json::to_writer(&mut stdin, start)?;
        stdin.write_all(b"\n")?;
        stdin.flush()?;
        let mut worker = Self {
            child,
            stdin,
            replies,
            stderr_tail,
        };
        match worker.replies.recv_timeout(STARTUP_LIMIT) {
            Ok(Some(_)) => Ok(worker),
            Ok(None) | Err(_) => {
                let why = match worker.died() {
                    Outcome::Died(why) => why,
                    _ => "did not start".into(),
                };
                anyhow::bail!("the interpreter {why}")
            }
        }
    }

    /// Runs one cell within `limit`.
    pub fn run(&mut self, request: &CellRequest, limit: Duration) -> Outcome {
        let sent = serde_json::to_writer(&mut self.stdin, request)
            .map_err(std::io::Error::from)
            .and_then(|_| self.stdin.write_all(b"\n"))
            .and_then(|_| self.stdin.flush());
        if sent.is_err() {
            return self.died();
        }
        let deadline = Instant::now() + limit;
        match self
            .replies
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(Some(line)) => match serde_json::from_str(&line) {
                Ok(reply) => Outcome::Replied(Box::new(reply)),
                Err(e) => Outcome::Died(format!("the interpreter answered nonsense ({e})")),
            },
            Ok(None) | Err(RecvTimeoutError::Disconnected) => self.died(),
            Err(RecvTimeoutError::Timeout) => {
                self.end();
                Outcome::TimedOut
            }
        }
    }

    fn died(&mut self) -> Outcome {
        let status = self.child.wait().ok();
        // Give the stderr reader a moment to take the last line.
        std::thread::sleep(Duration::from_millis(50));
        let tail = self
            .stderr_tail
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default();
        let why = if tail.contains("memory allocation") {
            format!("ran out of memory ({tail})")
        } else if tail.is_empty() {
            match status {
                Some(s) => format!("ended ({s})"),
                None => "ended".into(),
            }
        } else {
            format!("ended: {tail}")
        };
        Outcome::Died(why)
    }

    fn end(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.end();
    }
}
