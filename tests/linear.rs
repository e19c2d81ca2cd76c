//! The library's `FusedLinear` and in-place `Sgd` against candle's composed ops
//! (`matmul` of `x` by `w.t()`, `broadcast_add`, candle-nn's `SGD`).
//!
//! Tolerance: the forward, the input's and the bias's gradients call the same kernels
//! on the same operands as the composed path, so they must agree bit for bit; the
//! weight's gradient is computed as gᵀ·x instead of (xᵀ·g)ᵀ, the same sums over the
//! batch in the same order, and is held to 1e-6 relative (it has been equal bit for
//! bit on every shape tried).

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Module, Optimizer};
use crossent::linear::{composed, FusedLinear};
use crossent::optim::Sgd;
use crossent::random::Generator;

fn random(rng: &mut Generator, dims: (usize, usize)) -> Tensor {
    Tensor::from_vec(
        rng.uniform_values(dims.0 * dims.1, -1.0, 1.0),
        dims,
        &Device::Cpu,
    )
    .unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

fn max_relative(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1e-3))
        .fold(0.0, f32::max)
}

const SHAPES: [(usize, usize, usize); 7] = [
    (64, 784, 50),
    (64, 50, 10),
    (16, 784, 50),
    (1, 3, 2),
    (7, 13, 5),
    (33, 1, 9),
    (100, 40, 1),
];

#[test]
fn forward_and_gradients_match_the_composed_ops_on_random_shapes() {
    let mut rng = Generator::manual_seed(12);
    for (batch, n_in, n_out) in SHAPES {
        let x = Var::from_tensor(&random(&mut rng, (batch, n_in))).unwrap();
        let w = Var::from_tensor(&random(&mut rng, (n_out, n_in))).unwrap();
        let b = Var::from_tensor(&random(&mut rng, (1, n_out)).squeeze(0).unwrap()).unwrap();
        let upstream = random(&mut rng, (batch, n_out));
        let before = crossent::linear::fused_forwards();
        let fused = FusedLinear::new(w.as_tensor().clone(), b.as_tensor().clone())
            .forward(x.as_tensor())
            .unwrap();
        assert_eq!(
            crossent::linear::fused_forwards(),
            before + 1,
            "the fused op ran"
        );
        let reference = composed(x.as_tensor(), w.as_tensor(), b.as_tensor()).unwrap();
        let shape = format!("{batch}x{n_in} -> {n_out}");
        assert_eq!(values(&fused), values(&reference), "{shape}: forward");
        let grads = (fused * &upstream)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let want = (reference * &upstream)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (name, var) in [("input", &x), ("bias", &b)] {
            assert_eq!(
                values(grads.get(var.as_tensor()).unwrap()),
                values(want.get(var.as_tensor()).unwrap()),
                "{shape}: {name} gradient"
            );
        }
        let (gw, ww) = (
            values(grads.get(w.as_tensor()).unwrap()),
            values(want.get(w.as_tensor()).unwrap()),
        );
        let off = max_relative(&gw, &ww);
        assert!(off <= 1e-6, "{shape}: weight gradient off by {off}");
        assert_eq!(
            grads.get(w.as_tensor()).unwrap().dims(),
            [n_out, n_in],
            "{shape}: in the weight's layout"
        );
    }
}

#[test]
fn an_input_that_tracks_no_gradient_gets_none() {
    let mut rng = Generator::manual_seed(3);
    let x = random(&mut rng, (64, 784));
    let w = Var::from_tensor(&random(&mut rng, (50, 784))).unwrap();
    let b = Var::from_tensor(&random(&mut rng, (1, 50)).squeeze(0).unwrap()).unwrap();
    let layer = FusedLinear::new(w.as_tensor().clone(), b.as_tensor().clone());
    let grads = layer
        .forward(&x)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert!(grads.get(&x).is_none(), "no gradient for the images");
    assert!(grads.get(w.as_tensor()).is_some() && grads.get(b.as_tensor()).is_some());
}

#[test]
fn a_training_step_equals_the_composed_one() {
    let mut rng = Generator::manual_seed(5);
    let x = random(&mut rng, (64, 784));
    let y = Tensor::from_vec(
        (0..64u32).map(|i| i64::from(i % 10)).collect::<Vec<_>>(),
        64,
        &Device::Cpu,
    )
    .unwrap();
    let mut vector =
        |n: usize| Tensor::from_vec(rng.uniform_values(n, -1.0, 1.0), n, &Device::Cpu).unwrap();
    let (b1, b2) = (vector(50), vector(10));
    let init = [
        random(&mut Generator::manual_seed(6), (50, 784)),
        b1,
        random(&mut Generator::manual_seed(7), (10, 50)),
        b2,
    ];
    let vars = |ts: &[Tensor]| -> Vec<Var> {
        ts.iter()
            .map(|t| Var::from_tensor(&t.copy().unwrap()).unwrap())
            .collect()
    };
    let (ours, theirs) = (vars(&init), vars(&init));
    let ours_model = candle_nn::seq()
        .add(FusedLinear::new(
            ours[0].as_tensor().clone(),
            ours[1].as_tensor().clone(),
        ))
        .add(candle_nn::Activation::Relu)
        .add(FusedLinear::new(
            ours[2].as_tensor().clone(),
            ours[3].as_tensor().clone(),
        ));
    let their_model = candle_nn::seq()
        .add(candle_nn::Linear::new(
            theirs[0].as_tensor().clone(),
            Some(theirs[1].as_tensor().clone()),
        ))
        .add(candle_nn::Activation::Relu)
        .add(candle_nn::Linear::new(
            theirs[2].as_tensor().clone(),
            Some(theirs[3].as_tensor().clone()),
        ));
    let mut our_sgd = Sgd::new(ours.clone(), 0.5).unwrap();
    let mut their_sgd = candle_nn::SGD::new(theirs.clone(), 0.5).unwrap();
    for _ in 0..3 {
        let loss =
            crossent::lesson::training::loss_func(&ours_model.forward(&x).unwrap(), &y).unwrap();
        our_sgd.backward_step(&loss).unwrap();
        let loss =
            crossent::lesson::training::loss_func(&their_model.forward(&x).unwrap(), &y).unwrap();
        their_sgd.backward_step(&loss).unwrap();
    }
    for (k, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        let off = max_relative(&values(a.as_tensor()), &values(b.as_tensor()));
        assert!(off <= 1e-6, "parameter {k} off by {off} after three steps");
    }
    assert_eq!(ours[0].dtype(), DType::F32);
}

/// Inputs the fused op does not cover go to candle's composed ops, with their results:
/// a 3-D batch, f64, f16 (and f32 parameters with an f64 input would be a dtype error
/// in both).
#[test]
fn inputs_the_fused_op_does_not_cover_take_the_composed_path() {
    let mut rng = Generator::manual_seed(5);
    let w = random(&mut rng, (4, 3));
    let b = random(&mut rng, (1, 4)).squeeze(0).unwrap();
    let three_d = random(&mut rng, (10, 3)).reshape((2, 5, 3)).unwrap();
    let cases: Vec<(&str, Tensor, Tensor, Tensor)> = vec![
        ("3-D input", three_d, w.clone(), b.clone()),
        (
            "f64",
            random(&mut rng, (5, 3))
                .to_dtype(candle_core::DType::F64)
                .unwrap(),
            w.to_dtype(candle_core::DType::F64).unwrap(),
            b.to_dtype(candle_core::DType::F64).unwrap(),
        ),
        (
            "f16",
            random(&mut rng, (5, 3))
                .to_dtype(candle_core::DType::F16)
                .unwrap(),
            w.to_dtype(candle_core::DType::F16).unwrap(),
            b.to_dtype(candle_core::DType::F16).unwrap(),
        ),
    ];
    for (what, x, w, b) in cases {
        let before = crossent::linear::fused_forwards();
        let out = FusedLinear::new(w.clone(), b.clone()).forward(&x).unwrap();
        assert_eq!(
            crossent::linear::fused_forwards(),
            before,
            "{what}: the fused op must not run"
        );
        let reference = x
            .broadcast_matmul(&w.t().unwrap())
            .unwrap()
            .broadcast_add(&b)
            .unwrap();
        assert_eq!(out.dims(), reference.dims(), "{what}");
        assert_eq!(
            values(&out.to_dtype(candle_core::DType::F32).unwrap()),
            values(&reference.to_dtype(candle_core::DType::F32).unwrap()),
            "{what}"
        );
    }
}
