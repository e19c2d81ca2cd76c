//! PyTorch- and numpy-style printing, rule by rule. Every expected string is what
//! PyTorch 2.x (default print options) or numpy prints for the input named beside it.

use candle_core::{DType, Device, Tensor};
use crossent::np;
use crossent::pt::{self, HostTensor, Values};

fn f32_tensor(shape: &[usize], values: &[f32]) -> String {
    let t = Tensor::from_slice(values, shape, &Device::Cpu).unwrap();
    pt::repr(&t).unwrap()
}

fn host_f32(shape: &[usize], values: Vec<f32>) -> String {
    pt::repr_host(&HostTensor::float32(
        shape,
        values.into_iter().map(f64::from).collect(),
    ))
}

#[test]
fn fixed_point_with_four_decimals_and_sign_padding() {
    // torch.tensor([[1.3877, -1.2656, -0.9112], [0.6011, 0.0092, -0.0982]])
    assert_eq!(
        f32_tensor(
            &[2, 3],
            &[1.3877, -1.2656, -0.9112, 0.6011, 0.0092, -0.0982]
        ),
        "tensor([[ 1.3877, -1.2656, -0.9112],\n        [ 0.6011,  0.0092, -0.0982]])"
    );
}

#[test]
fn scalars() {
    // torch.tensor(1.3577), torch.tensor(2.), torch.tensor(float('nan')), torch.tensor(5)
    assert_eq!(host_f32(&[], vec![1.3577]), "tensor(1.3577)");
    assert_eq!(host_f32(&[], vec![2.0]), "tensor(2.)");
    assert_eq!(host_f32(&[], vec![f32::NAN]), "tensor(nan)");
    assert_eq!(host_f32(&[], vec![f32::NEG_INFINITY]), "tensor(-inf)");
    assert_eq!(host_f32(&[], vec![1.0e-5]), "tensor(1.0000e-05)");
    assert_eq!(pt::repr_host(&HostTensor::int64(&[], vec![5])), "tensor(5)");
}

#[test]
fn integer_valued_floats_print_with_a_trailing_point() {
    // torch.tensor([1., 0., 2.]); torch.tensor([-1., 2.]); torch.zeros(3)
    assert_eq!(host_f32(&[3], vec![1.0, 0.0, 2.0]), "tensor([1., 0., 2.])");
    assert_eq!(host_f32(&[2], vec![-1.0, 2.0]), "tensor([-1.,  2.])");
    assert_eq!(host_f32(&[3], vec![0.0; 3]), "tensor([0., 0., 0.])");
    // torch.tensor([float('inf'), 1.])
    assert_eq!(
        host_f32(&[2], vec![f32::INFINITY, 1.0]),
        "tensor([inf, 1.])"
    );
}

#[test]
fn scientific_notation_by_pytorchs_rule() {
    // Range above 1000: torch.tensor([1e-5, 1.])
    assert_eq!(
        host_f32(&[2], vec![1.0e-5, 1.0]),
        "tensor([1.0000e-05, 1.0000e+00])"
    );
    // Above 1e8, even when integer valued: torch.tensor([1e9])
    assert_eq!(host_f32(&[1], vec![1.0e9]), "tensor([1.0000e+09])");
    // Integer valued, range at most 1000: stays in integer mode: torch.tensor([1., 1000.])
    assert_eq!(host_f32(&[2], vec![1.0, 1000.0]), "tensor([   1., 1000.])");
    // The log-probabilities of chapter 4 (torch.log(sm_acts)), as its notebook printed them.
    let values = vec![
        -3.5634,
        -2.8753e-02,
        -5.9281e-01,
        -8.0469e-01,
        -1.9925,
        -1.4659e-01,
        -8.5559e-01,
        -5.5344e-01,
        -3.4895e-01,
        -1.2222,
        -6.6298,
        -1.3213e-03,
    ];
    assert_eq!(
        host_f32(&[6, 2], values),
        "tensor([[-3.5634e+00, -2.8753e-02],
        [-5.9281e-01, -8.0469e-01],
        [-1.9925e+00, -1.4659e-01],
        [-8.5559e-01, -5.5344e-01],
        [-3.4895e-01, -1.2222e+00],
        [-6.6298e+00, -1.3213e-03]])"
    );
}

#[test]
fn nan_takes_the_width_of_the_finite_values() {
    // torch.tensor([float('nan'), 1.5])
    assert_eq!(
        host_f32(&[2], vec![f32::NAN, 1.5]),
        "tensor([   nan, 1.5000])"
    );
}

#[test]
fn lines_wrap_at_80_columns() {
    // torch.linspace(0, 1, 20)
    let values: Vec<f32> = (0..20).map(|i| i as f32 / 19.0).collect();
    assert_eq!(
        host_f32(&[20], values),
        "tensor([0.0000, 0.0526, 0.1053, 0.1579, 0.2105, 0.2632, 0.3158, 0.3684, 0.4211,
        0.4737, 0.5263, 0.5789, 0.6316, 0.6842, 0.7368, 0.7895, 0.8421, 0.8947,
        0.9474, 1.0000])"
    );
}

#[test]
fn summarised_above_1000_elements() {
    // torch.arange(2000.)
    let values: Vec<f32> = (0..2000).map(|i| i as f32).collect();
    assert_eq!(
        host_f32(&[2000], values),
        "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,
        1.9990e+03])"
    );
    // torch.arange(1001)
    let ints: Vec<i64> = (0..1001).collect();
    assert_eq!(
        pt::repr_host(&HostTensor::int64(&[1001], ints)),
        "tensor([   0,    1,    2,  ...,  998,  999, 1000])"
    );
    // torch.zeros(100, 100)
    assert_eq!(
        host_f32(&[100, 100], vec![0.0; 10_000]),
        "tensor([[0., 0., 0.,  ..., 0., 0., 0.],
        [0., 0., 0.,  ..., 0., 0., 0.],
        [0., 0., 0.,  ..., 0., 0., 0.],
        ...,
        [0., 0., 0.,  ..., 0., 0., 0.],
        [0., 0., 0.,  ..., 0., 0., 0.],
        [0., 0., 0.,  ..., 0., 0., 0.]])"
    );
}

#[test]
fn a_summarised_tensor_is_formatted_from_its_edges_only() {
    // torch.cat([torch.ones(3), torch.full((1000,), 1e-6), torch.ones(3)]): the tiny middle
    // values are not printed, so they do not switch the tensor to scientific notation.
    let mut values = vec![1.5f32; 3];
    values.extend(std::iter::repeat_n(1.0e-6, 1000));
    values.extend([2.5f32; 3]);
    assert_eq!(
        host_f32(&[1006], values),
        "tensor([1.5000, 1.5000, 1.5000,  ..., 2.5000, 2.5000, 2.5000])"
    );
}

#[test]
fn three_dimensions_separate_blocks_by_a_blank_line() {
    // torch.arange(8.).reshape(2, 2, 2)
    let values: Vec<f32> = (0..8).map(|i| i as f32).collect();
    assert_eq!(
        host_f32(&[2, 2, 2], values),
        "tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]])"
    );
}

#[test]
fn ints_and_bools() {
    // torch.tensor([2, 0, 1, 0, 1]); torch.tensor([-10, 5])
    let t = Tensor::new(&[2i64, 0, 1, 0, 1], &Device::Cpu).unwrap();
    assert_eq!(pt::repr(&t).unwrap(), "tensor([2, 0, 1, 0, 1])");
    assert_eq!(
        pt::repr_host(&HostTensor::int64(&[2], vec![-10, 5])),
        "tensor([-10,   5])"
    );
    // torch.tensor(True); torch.tensor([True, False])
    let yes = Tensor::new(1u8, &Device::Cpu).unwrap();
    assert_eq!(pt::repr_bool(&yes).unwrap(), "tensor(True)");
    let mask = Tensor::new(&[1u8, 0], &Device::Cpu).unwrap();
    assert_eq!(pt::repr_bool(&mask).unwrap(), "tensor([ True, False])");
}

#[test]
fn non_default_dtypes_are_named() {
    // torch.tensor([1., 2.], dtype=torch.float64); torch.tensor([1, 2], dtype=torch.uint8)
    let t = Tensor::new(&[1f64, 2.], &Device::Cpu).unwrap();
    assert_eq!(
        pt::repr(&t).unwrap(),
        "tensor([1., 2.], dtype=torch.float64)"
    );
    let t = Tensor::new(&[1u8, 2], &Device::Cpu).unwrap();
    assert_eq!(pt::repr(&t).unwrap(), "tensor([1, 2], dtype=torch.uint8)");
    let t = Tensor::new(&[0.5f32, 2.], &Device::Cpu)
        .unwrap()
        .to_dtype(DType::F16)
        .unwrap();
    assert_eq!(
        pt::repr(&t).unwrap(),
        "tensor([0.5000, 2.0000], dtype=torch.float16)"
    );
    // torch.linspace(0, 1, 9, dtype=torch.float64): the suffix moves to its own line.
    let t = Tensor::new(
        &[0f64, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0],
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(
        pt::repr(&t).unwrap(),
        "tensor([0.0000, 0.1250, 0.2500, 0.3750, 0.5000, 0.6250, 0.7500, 0.8750, 1.0000],
       dtype=torch.float64)"
    );
}

#[test]
fn empty_tensors() {
    // torch.tensor([]); torch.zeros(0, 3); torch.tensor([], dtype=torch.long)
    assert_eq!(host_f32(&[0], vec![]), "tensor([])");
    assert_eq!(host_f32(&[0, 3], vec![]), "tensor([], size=(0, 3))");
    assert_eq!(
        pt::repr_host(&HostTensor::new(&[0], Values::Int(vec![]), "torch.int64")),
        "tensor([], dtype=torch.int64)"
    );
}

/// Today's conventions, as IPython 9 and PyTorch 2.15 printed them in a re-run of the
/// lesson: a tuple holding a multi-line tensor puts each item on a line of its own, and
/// `grad_fn` names carry their number. Each test runs on a thread of its own, so the
/// conventions set here reach no other test.
#[test]
fn todays_ipython_and_pytorch_conventions() {
    pt::conventions::set(pt::Conventions::TODAY);
    let zeros = Tensor::zeros((5, 784), DType::F32, &Device::Cpu).unwrap();
    let labels = Tensor::new(&[5i64, 0, 4, 1, 9], &Device::Cpu).unwrap();
    let shown = pt::tuple(&[pt::repr(&zeros).unwrap(), pt::repr(&labels).unwrap()]);
    let row = "[0., 0., 0.,  ..., 0., 0., 0.]";
    assert_eq!(
        shown,
        format!(
            "(tensor([{row},\n         {row},\n         {row},\n         {row},\n         \
             {row}]),\n tensor([5, 0, 4, 1, 9]))"
        )
    );
    let loss = Tensor::new(2.3050f32, &Device::Cpu).unwrap();
    assert_eq!(
        pt::repr_with_grad_fn(&loss, "NegBackward").unwrap(),
        "tensor(2.3050, grad_fn=<NegBackward0>)"
    );
    assert_eq!(
        pt::conventions::figure_text(),
        "<Figure size 640x480 with 1 Axes>"
    );
    // A short flat tuple stays on one line under either convention.
    let a = Tensor::new(0.3465f32, &Device::Cpu).unwrap();
    assert_eq!(
        pt::tuple(&[pt::repr(&a).unwrap(), pt::repr(&a).unwrap()]),
        "(tensor(0.3465), tensor(0.3465))"
    );
    pt::conventions::set(pt::Conventions::ORIGINAL);
}

#[test]
fn sizes_tuples_and_lists() {
    assert_eq!(pt::size(&[5, 3]), "torch.Size([5, 3])");
    assert_eq!(pt::size(&[]), "torch.Size([])");
    let a = host_f32(&[], vec![1.3577]);
    let b = host_f32(&[], vec![2.0]);
    assert_eq!(pt::tuple(&[&a, &b]), "(tensor(1.3577), tensor(2.))");
    assert_eq!(pt::tuple(&[&a]), "(tensor(1.3577),)");
    assert_eq!(pt::list(&[&a, &b]), "[tensor(1.3577), tensor(2.)]");
    // A multi-line tensor displayed inside a tuple: IPython's pretty printer (5-7, the
    // notebooks' own) indents its later lines by the bracket, and what follows stays on
    // the line while it fits. As fastai's 03_minibatch_training printed `xb,yb`.
    let m = host_f32(&[2, 1], vec![1.0, 2.0]);
    assert_eq!(
        pt::tuple(&[&m, &b]),
        "(tensor([[1.],\n         [2.]]), tensor(2.))"
    );
    // A sequence wider than 79 columns is displayed one item a line, as that notebook
    // printed `[o.shape for o in mdl.parameters()]`.
    let shapes = [
        pt::size(&[50, 784]),
        pt::size(&[50]),
        pt::size(&[10, 50]),
        pt::size(&[10]),
    ];
    assert_eq!(
        pt::list(&shapes),
        "[torch.Size([50, 784]),\n torch.Size([50]),\n torch.Size([10, 50]),\n torch.Size([10])]"
    );
    // 79 columns still fit on one line; 80 do not.
    let fits = ["x".repeat(77)];
    assert_eq!(pt::list(&fits).len(), 79);
    assert!(!pt::list(&fits).contains('\n'));
    let two = ["y".repeat(38), "z".repeat(38)];
    assert_eq!(pt::list(&two), format!("[{},\n {}]", two[0], two[1]));
}

#[test]
fn numpy_scalars_and_arrays() {
    // print(np.exp(100)/np.sum(np.exp([100., 1.]))) style float64 results
    assert_eq!(np::float64(1.0), "1.0");
    assert_eq!(np::float64(0.000_045_4), "4.54e-05");
    // print(np.float32(0.9162907))
    assert_eq!(np::float32(0.916_290_7), "0.9162907");
    // np.array([0, 0, 0, 1, 2])
    assert_eq!(np::int_array(&[0, 0, 0, 1, 2]), "array([0, 0, 0, 1, 2])");
}
