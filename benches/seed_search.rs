//! The seed search (`crossent::random::recover::search`) on chapter 2's printed `x`: its
//! time over the seeds on one thread and on every thread, against the plain way in the
//! same run (a `Generator` seeded and replayed for every seed, every start).
//!
//! Run: `cargo bench --bench seed_search`. By default it times 2²⁸ seeds (one 16th of
//! the space) and scales up; `CROSSENT_BENCH_FULL=1` searches all 2³² (several minutes)
//! and prints the seeds found for chapters 2 and 4. `CROSSENT_BENCH_WORDS` sets how many
//! words may come before the draw (8 by default). It also times what testing one seed
//! would cost for chapter 5, whose first printed random values need the whole first
//! model drawn and applied to an image (out of reach: days, not minutes).

use anyhow::Result;
use crossent::random::recover::{
    exact_starts, expected_survivors, search, PrintedDraw, Progress, SearchSpace, ALL_SEEDS,
};
use std::time::Instant;

/// Chapter 2's `x = torch.randn(5, 3)` as its notebook printed it.
const CHAPTER_2_X: &str = "tensor([[ 1.3877, -1.2656, -0.9112],
        [ 0.6011,  0.0092, -0.0982],
        [-0.0674, -0.2059,  0.3410],
        [ 1.3918,  0.2355,  0.4159],
        [-0.6652, -1.6354, -0.9315]])";
/// Chapter 4's `activations = torch.randn((6,2))*2` as its notebook printed it.
const CHAPTER_4_ACTIVATIONS: &str = "tensor([[-1.6453,  1.8893],
        [ 1.9800,  1.7681],
        [ 2.8183,  4.6643],
        [-0.3635, -0.0614],
        [ 0.4064, -0.4668],
        [-3.3801,  3.2484]])";

fn timed_search(draw: &PrintedDraw, space: &SearchSpace, threads: usize) -> Result<(f64, usize)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let clock = Instant::now();
    let found = pool.install(|| search(draw, space, &Progress::default()))?;
    Ok((clock.elapsed().as_secs_f64(), found.len()))
}

/// Seconds a seed for the plain way: every seed seeded in full and every start replayed.
fn plain_per_seed(draw: &PrintedDraw, words: usize) -> Result<f64> {
    let seeds = 1u32 << 12;
    let clock = Instant::now();
    for seed in 0..seeds {
        std::hint::black_box(exact_starts(draw, seed, words)?);
    }
    Ok(clock.elapsed().as_secs_f64() / f64::from(seeds))
}

/// Seconds a seed for chapter 5's first printed draw-dependent value, `preds[0]` of the
/// lesson's model on one image: `nn.Linear(784, 50)` and `nn.Linear(50, 10)` drawn from
/// the seed (39,760 words), then the product with the image. The image's values do not
/// change the cost; a fixed pattern stands for MNIST's first.
fn lesson_per_seed() -> f64 {
    use crossent::random::{nn::linear_bounds, Generator};
    let image: Vec<f32> = (0..784).map(|i| ((i * 37) % 256) as f32 / 256.0).collect();
    let seeds = 2000u64;
    let clock = Instant::now();
    for seed in 0..seeds {
        let mut g = Generator::manual_seed(seed);
        let (w1_bound, b1_bound) = linear_bounds(784);
        let w1 = g.uniform_values(784 * 50, -w1_bound, w1_bound);
        let b1 = g.uniform_values(50, -b1_bound, b1_bound);
        let (w2_bound, b2_bound) = linear_bounds(50);
        let w2 = g.uniform_values(50 * 10, -w2_bound, w2_bound);
        let b2 = g.uniform_values(10, -b2_bound, b2_bound);
        let hidden: Vec<f32> = w1
            .chunks(784)
            .zip(&b1)
            .map(|(row, b)| (row.iter().zip(&image).map(|(w, x)| w * x).sum::<f32>() + b).max(0.0))
            .collect();
        let preds: Vec<f32> = w2
            .chunks(50)
            .zip(&b2)
            .map(|(row, b)| row.iter().zip(&hidden).map(|(w, h)| w * h).sum::<f32>() + b)
            .collect();
        std::hint::black_box(preds);
    }
    clock.elapsed().as_secs_f64() / seeds as f64
}

fn main() -> Result<()> {
    let words: usize = std::env::var("CROSSENT_BENCH_WORDS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(8);
    let full = std::env::var("CROSSENT_BENCH_FULL").is_ok_and(|v| v == "1");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let x = PrintedDraw::normal("x", CHAPTER_2_X, 1.0);
    let seeds = if full { ALL_SEEDS } else { 0..1 << 28 };
    let share = (ALL_SEEDS.end as f64) / (seeds.end - seeds.start) as f64;
    let space = SearchSpace {
        seeds,
        words_before: words,
    };
    println!(
        "seed search, chapter 2's x, {} words allowed before it, {} seeds{}",
        words,
        space.seeds.end - space.seeds.start,
        if full { "" } else { " (scaled to 2^32)" }
    );
    println!(
        "seeds the first filter passes by chance, expected over 2^32: {:.0}",
        expected_survivors(
            &x,
            &SearchSpace {
                seeds: ALL_SEEDS,
                words_before: words
            }
        )?
    );
    let plain = plain_per_seed(&x, words)? * ALL_SEEDS.end as f64;
    println!(
        "plain replay of every seed (1 thread, scaled): {:.0} s",
        plain
    );
    for round in 1..=if full { 1 } else { 3 } {
        for t in [1, threads] {
            let (seconds, found) = timed_search(&x, &space, t)?;
            let whole = seconds * share;
            println!(
                "round {round}: {t} thread(s): {whole:.1} s for 2^32 seeds ({:.2} of the 240 s budget; plain/search {:.0}x), {found} found",
                whole / 240.0,
                plain / whole
            );
        }
    }
    let lesson = lesson_per_seed();
    println!(
        "chapter 5, one seed (the model's 39,760 draws and preds[0] of one image, 1 thread): \
         {:.1} us; all 2^32 seeds: {:.1} days on one core, {:.1} on {threads}",
        lesson * 1e6,
        lesson * ALL_SEEDS.end as f64 / 86_400.0,
        lesson * ALL_SEEDS.end as f64 / 86_400.0 / threads as f64
    );
    if full {
        let activations = PrintedDraw::normal("activations", CHAPTER_4_ACTIVATIONS, 2.0);
        for draw in [&x, &activations] {
            let found = search(draw, &space, &Progress::default())?;
            println!("{}: {:?}", draw.name, found);
        }
    }
    Ok(())
}
