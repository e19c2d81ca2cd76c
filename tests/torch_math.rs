//! `crossent::reduce` (sum, mean) and `crossent::pointwise` (log2) against PyTorch's own
//! outputs, bit for bit: `tests/data/torch-reductions.json`, written by
//! `scripts/dump_torch_reductions.py` from inputs that `crossent::random::Generator`
//! draws again. An ignored test checks log2 on every positive float against a stream
//! from the same script.

use crossent::pointwise::log2;
use crossent::random::Generator;
use crossent::reduce::{mean, sum};
use serde_json::Value;

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/torch-reductions.json"
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn word(v: &Value) -> u32 {
    v.as_u64().unwrap() as u32
}

#[test]
fn sums_and_means_are_pytorchs_at_every_length_around_its_blocks() {
    let data = reference();
    let cases = data["sum"].as_array().unwrap();
    assert!(cases.len() > 60);
    let mut left_to_right_differs = 0;
    for case in cases {
        let n = case["n"].as_u64().unwrap() as usize;
        let x: Vec<f32> = Generator::manual_seed(n as u64)
            .normal_values(n, 0.0, 1.0)
            .into_iter()
            .map(|v| v * 10.0)
            .collect();
        assert_eq!(sum(&x).to_bits(), word(&case["sum"]), "sum of {n}");
        assert_eq!(mean(&x).to_bits(), word(&case["mean"]), "mean of {n}");
        let plain = x.iter().fold(0f32, |a, &v| a + v);
        left_to_right_differs += usize::from(plain.to_bits() != word(&case["sum"]));
    }
    // The order matters: a left-to-right loop misses many of them.
    assert!(left_to_right_differs > 20, "{left_to_right_differs}");
}

fn fnv(words: impl Iterator<Item = u32>) -> u64 {
    words.fold(0xcbf2_9ce4_8422_2325, |h, w| {
        (h ^ u64::from(w)).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn log2_is_pytorchs_on_a_million_values_of_each_kind() {
    let data = reference();
    for case in data["log2"].as_array().unwrap() {
        let n = case["n"].as_u64().unwrap() as usize;
        let mut g = Generator::manual_seed(case["seed"].as_u64().unwrap());
        let x: Vec<f32> = match case["kind"].as_str().unwrap() {
            "rand" => g.rand_values(n),
            "rand*100" => g.rand_values(n).into_iter().map(|v| v * 100.0).collect(),
            "randn.abs()*1e-30" => g
                .normal_values(n, 0.0, 1.0)
                .into_iter()
                .map(|v| v.abs() * 1e-30)
                .collect(),
            other => panic!("unknown kind {other}"),
        };
        let y: Vec<f32> = x.iter().map(|&v| log2(v)).collect();
        let differ = x
            .iter()
            .zip(&y)
            .filter(|(&a, &b)| (f64::from(a).log2() as f32).to_bits() != b.to_bits())
            .count();
        assert_eq!(
            differ as u64,
            case["not_correctly_rounded"].as_u64().unwrap()
        );
        assert_eq!(
            fnv(y.iter().map(|v| v.to_bits())),
            case["fnv"].as_u64().unwrap()
        );
    }
}

#[test]
fn log2_is_pytorchs_where_it_is_not_correctly_rounded() {
    let data = reference();
    let values = data["log2_values"].as_array().unwrap();
    let mut not_correctly_rounded = 0;
    for pair in values {
        let (x, y) = (f32::from_bits(word(&pair[0])), word(&pair[1]));
        let got = log2(x);
        let same = got.to_bits() == y || (got.is_nan() && f32::from_bits(y).is_nan());
        assert!(
            same,
            "log2({x:e}) = {got:e}, PyTorch {:e}",
            f32::from_bits(y)
        );
        not_correctly_rounded += usize::from((f64::from(x).log2() as f32).to_bits() != y);
    }
    assert!(not_correctly_rounded >= 150, "{not_correctly_rounded}");
}

/// Every positive finite float against `torch.log2`, streamed by
/// `scripts/dump_torch_reductions.py --log2-all` into the file or pipe named by
/// `CROSSENT_TORCH_LOG2_ALL` (about a minute).
#[test]
#[ignore = "needs PyTorch's 8.6 GB stream: CROSSENT_TORCH_LOG2_ALL"]
fn log2_is_pytorchs_on_every_positive_float() {
    use std::io::Read;
    let path = std::env::var("CROSSENT_TORCH_LOG2_ALL").expect("CROSSENT_TORCH_LOG2_ALL");
    let mut stream = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path).unwrap());
    let mut word = [0u8; 4];
    let mut mismatched = 0u64;
    for bits in 1u32..0x7f80_0000 {
        stream.read_exact(&mut word).unwrap();
        let torch = u32::from_le_bytes(word);
        mismatched += u64::from(log2(f32::from_bits(bits)).to_bits() != torch);
    }
    assert_eq!(mismatched, 0);
}
