//! A seed search run from the command line: it says how long it will take before it
//! starts, shows a progress bar with the time left (on a terminal), and stops at Ctrl-C
//! with one line. It writes nothing, so an interrupted search leaves nothing behind.

use super::{search, PrintedDraw, Progress, SearchSpace, Start};
use anyhow::{bail, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Seeds timed before the search to estimate its length.
const CALIBRATION: u64 = 1 << 18;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Catches Ctrl-C while alive; the default handling comes back when dropped.
struct InterruptGuard {
    previous: libc::sighandler_t,
}

impl InterruptGuard {
    fn install() -> Self {
        INTERRUPTED.store(false, Ordering::Relaxed);
        let handler: extern "C" fn(libc::c_int) = on_interrupt;
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let previous = unsafe { libc::signal(libc::SIGINT, handler as libc::sighandler_t) };
        Self { previous }
    }
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        // SAFETY: restores the handler that was there before.
        unsafe { libc::signal(libc::SIGINT, self.previous) };
    }
}

/// How long searching `space` will take on this machine's rayon threads, from timing a
/// small slice of it.
pub fn estimate(draw: &PrintedDraw, space: &SearchSpace) -> Result<Duration> {
    let start = space.seeds.start;
    let slice = SearchSpace {
        seeds: start..(start + CALIBRATION).min(space.seeds.end),
        words_before: space.words_before,
    };
    let clock = Instant::now();
    search(draw, &slice, &Progress::default())?;
    let per_seed =
        clock.elapsed().as_secs_f64() / (slice.seeds.end - slice.seeds.start).max(1) as f64;
    Ok(Duration::from_secs_f64(
        per_seed * (space.seeds.end - space.seeds.start) as f64,
    ))
}

/// Runs `search` on every core (the chapters keep rayon to one thread for their small
/// tensors), with an estimate on stderr first, a progress bar, and Ctrl-C.
pub fn search_with_progress(draw: &PrintedDraw, space: &SearchSpace) -> Result<Vec<Start>> {
    let total = space.seeds.end.saturating_sub(space.seeds.start);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let estimate = pool.install(|| estimate(draw, space))?;
    eprintln!(
        "searching {total} seeds for the run's seed ({} words allowed before {}): about {} on {} threads",
        space.words_before,
        draw.name,
        minutes(estimate),
        threads
    );
    let progress = Progress::default();
    let guard = InterruptGuard::install();
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template("  seeds {bar:40} {percent:>3}%  {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let found = std::thread::scope(|scope| {
        let worker = scope.spawn(|| pool.install(|| search(draw, space, &progress)));
        while !worker.is_finished() {
            if INTERRUPTED.load(Ordering::Relaxed) {
                progress.cancel();
            }
            bar.set_position(progress.done());
            std::thread::sleep(Duration::from_millis(100));
        }
        worker.join()
    });
    bar.finish_and_clear();
    drop(guard);
    if INTERRUPTED.swap(false, Ordering::Relaxed) {
        bail!(
            "the seed search was stopped by Ctrl-C after {:.0}% of the seeds; nothing was written",
            100.0 * progress.done() as f64 / total.max(1) as f64
        );
    }
    match found {
        Ok(result) => result,
        Err(_) => bail!("the seed search failed inside a worker thread"),
    }
}

/// "about 3 minutes", "under a minute".
fn minutes(d: Duration) -> String {
    let m = d.as_secs_f64() / 60.0;
    if m < 1.0 {
        "under a minute".into()
    } else if m <= 1.5 {
        "a minute".into()
    } else {
        format!("{:.0} minutes", m.round())
    }
}
