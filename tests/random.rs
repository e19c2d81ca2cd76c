//! The generator against PyTorch, bit for bit: every call of `tests/data/torch-random.json`
//! (written by `scripts/dump_torch_random.py` from `torch` itself) replayed on
//! `crossent::random::Generator`, in the same order on one generator per case.

use crossent::random::{nn, Generator};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn dump() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/torch-random.json"
    ))
    .expect("tests/data/torch-random.json");
    serde_json::from_str(&text).expect("valid JSON")
}

fn shape(args: &Value) -> Vec<usize> {
    args["shape"]
        .as_array()
        .expect("a shape")
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

fn f(args: &Value, key: &str) -> f64 {
    args[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} in {args}"))
}

fn i(args: &Value, key: &str) -> i64 {
    args[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} in {args}"))
}

/// A result: float32 bits or int64 values.
enum Drawn {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// Replays one call of the dump, giving its results in the dump's order.
fn replay(g: &mut Generator, op: &str, args: &Value) -> Vec<Drawn> {
    let count = |a: &Value| shape(a).iter().product::<usize>();
    match op {
        "rand" => vec![Drawn::F32(g.rand_values(count(args)))],
        "randn" => vec![Drawn::F32(g.normal_values(count(args), 0.0, 1.0))],
        "normal" => vec![Drawn::F32(g.normal_values(
            count(args),
            f(args, "mean"),
            f(args, "std"),
        ))],
        "uniform" => vec![Drawn::F32(g.uniform_values(
            count(args),
            f(args, "from"),
            f(args, "to"),
        ))],
        "randint" => vec![Drawn::I64(
            g.randint_values(i(args, "low"), i(args, "high"), count(args))
                .unwrap(),
        )],
        "randperm" => vec![Drawn::I64(g.randperm_values(i(args, "n") as usize))],
        "multinomial" => {
            let w = &args["weights"];
            let rows: Vec<Vec<f32>> = match w[0].as_array() {
                Some(_) => w.as_array().unwrap().iter().map(row).collect(),
                None => vec![row(w)],
            };
            let categories = rows[0].len();
            let flat: Vec<f32> = rows.concat();
            let k = i(args, "k") as usize;
            let replacement = args["replacement"].as_bool().unwrap();
            vec![Drawn::I64(
                g.multinomial_values(&flat, categories, k, replacement)
                    .unwrap(),
            )]
        }
        "bernoulli" => vec![Drawn::F32(g.bernoulli_values(count(args), f(args, "p")))],
        "linear" => {
            let (w, b) = nn::linear(g, i(args, "in") as usize, i(args, "out") as usize).unwrap();
            vec![
                Drawn::F32(w.flatten_all().unwrap().to_vec1().unwrap()),
                Drawn::F32(b.to_vec1().unwrap()),
            ]
        }
        "embedding" => {
            let e = nn::embedding(g, i(args, "n") as usize, i(args, "d") as usize).unwrap();
            vec![Drawn::F32(e.flatten_all().unwrap().to_vec1().unwrap())]
        }
        "dataloader" => {
            let n = i(args, "n") as usize;
            let order = match args.get("own_generator").and_then(Value::as_u64) {
                Some(seed) => nn::random_sampler_pass_with(&mut Generator::manual_seed(seed), n),
                None => nn::random_sampler_pass(g, n),
            };
            vec![Drawn::I64(order), Drawn::F32(g.rand_values(2))]
        }
        other => panic!("no replay for {other}"),
    }
}

fn row(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Whether `drawn` is what the dump's `expected` holds; `Err` says how it differs.
fn compare(drawn: &Drawn, expected: &Value) -> Result<(), String> {
    let (words, bytes): (Vec<i64>, Vec<u8>) = match drawn {
        Drawn::F32(v) => (
            v.iter().map(|x| i64::from(x.to_bits())).collect(),
            v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect(),
        ),
        Drawn::I64(v) => (v.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect()),
    };
    let want_count: usize = expected["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .product();
    if words.len() != want_count {
        return Err(format!("{} values, not {want_count}", words.len()));
    }
    let as_i64 = |v: &Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect()
    };
    if let Some(values) = expected.get("values") {
        let want = as_i64(values);
        if let Some(at) = (0..want.len()).find(|&k| want[k] != words[k]) {
            return Err(format!(
                "first difference at {at}: {:#x} here, {:#x} in PyTorch",
                words[at], want[at]
            ));
        }
        return Ok(());
    }
    let head = as_i64(&expected["head"]);
    if words[..head.len()] != head[..] {
        return Err(format!(
            "first values {:x?}, PyTorch's {head:x?}",
            &words[..head.len()]
        ));
    }
    let digest = format!("{:x}", Sha256::digest(&bytes));
    if digest != expected["sha256"].as_str().unwrap() {
        return Err("the first values agree, a later one differs (sha256)".into());
    }
    Ok(())
}

/// Replays every case whose description passes `select`; panics listing the failures.
fn replay_cases(select: impl Fn(&str) -> bool) {
    let dump = dump();
    let mut failures = Vec::new();
    let mut compared = 0;
    for case in dump["cases"].as_array().unwrap() {
        let what = case["what"].as_str().unwrap();
        if !select(what) {
            continue;
        }
        let seed = case["seed"].as_i64().unwrap();
        let mut g = Generator::manual_seed(seed as u64);
        let mut results = case["results"].as_array().unwrap().iter();
        for call in case["calls"].as_array().unwrap() {
            let (op, args) = (call[0].as_str().unwrap(), &call[1]);
            for drawn in replay(&mut g, op, args) {
                let expected = results.next().expect("as many results as calls give");
                compared += 1;
                if let Err(why) = compare(&drawn, expected) {
                    failures.push(format!(
                        "seed {seed}, {what}: {} {args}: {why}",
                        expected["op"]
                    ));
                }
            }
        }
    }
    assert!(compared > 0, "no case selected");
    assert!(
        failures.is_empty(),
        "{} of {compared} results differ from PyTorch's:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
    eprintln!("{compared} results bit for bit as PyTorch drew them");
}

#[test]
fn uniforms_match_pytorch_bit_for_bit() {
    replay_cases(|what| what.contains("rand of") || what.contains(": rand") || what == "uniform_");
}

#[test]
fn normals_of_every_size_match_pytorch_bit_for_bit() {
    replay_cases(|what| what.contains("randn") || what.contains("normal with"));
}

#[test]
fn a_million_values_match_pytorch_bit_for_bit() {
    replay_cases(|what| what == "a million values");
}

#[test]
fn two_dimensional_shapes_match_pytorch_bit_for_bit() {
    replay_cases(|what| what == "2-D shapes");
}

#[test]
fn integers_and_permutations_match_pytorch_bit_for_bit() {
    replay_cases(|what| what == "randint" || what == "randperm");
}

#[test]
fn multinomial_and_bernoulli_match_pytorch_bit_for_bit() {
    replay_cases(|what| what == "multinomial" || what == "bernoulli");
}

#[test]
fn nn_initialisations_and_data_loading_match_pytorch_bit_for_bit() {
    replay_cases(|what| what.starts_with("nn:") || what.starts_with("DataLoader"));
}

#[test]
fn mixed_calls_on_one_generator_match_pytorch_bit_for_bit() {
    replay_cases(|what| what.starts_with("mixed"));
}

/// The permutation of 214,748,364 values (1.7 GB as int64) has a test of its own.
const LARGE: &str = "randperm above the small limit";

#[test]
fn every_case_of_the_dump_is_replayed() {
    replay_cases(|what| what != LARGE);
}

#[test]
fn a_permutation_above_the_small_limit_matches_pytorch_bit_for_bit() {
    assert_eq!(
        crossent::random::RANDPERM_SMALL_LIMIT,
        214_748_364,
        "the dump's case starts the inside-out path"
    );
    replay_cases(|what| what == LARGE);
}

#[test]
fn an_unseeded_torch_generator_matches_pytorch_bit_for_bit() {
    let dump = dump();
    let expected = &dump["unseeded_generator"][0];
    let drawn = Drawn::F32(Generator::default().normal_values(20, 0.0, 1.0));
    compare(&drawn, expected).unwrap();
}

#[test]
fn seeds_keep_only_their_low_32_bits() {
    let mut a = Generator::manual_seed(5);
    let mut b = Generator::manual_seed((1 << 32) + 5);
    assert_eq!(a.rand_values(10), b.rand_values(10));
    let mut c = Generator::manual_seed(6);
    assert_ne!(
        Generator::manual_seed(5).rand_values(10),
        c.rand_values(10),
        "a control: another seed draws otherwise"
    );
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    let mut g = Generator::manual_seed(0);
    assert!(g.randint_values(5, 5, 3).is_err());
    assert!(g.multinomial_values(&[0.5, -0.1], 2, 1, true).is_err());
    assert!(g.multinomial_values(&[0.5, 0.5], 2, 3, false).is_err());
    assert!(g.multinomial_values(&[0.0, 0.0], 2, 2, true).is_err());
    assert!(g.multinomial_values(&[0.5, 0.5, 0.5], 2, 1, true).is_err());
}
