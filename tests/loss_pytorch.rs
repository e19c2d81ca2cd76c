//! The loss module against PyTorch: every case's loss and input gradient were computed by
//! PyTorch 2.x (`scripts/expected_cross_entropy.py`) and are written here.

use candle_core::{DType, Device, Tensor, Var};
use crossent::loss::{self, CrossEntropyOptions, NllLossOptions, Reduction};

const X: [[f32; 4]; 3] = [
    [0.5, -1.25, 2.0, 0.75],
    [1.5, 0.25, -0.5, 3.0],
    [-2.0, 0.0, 1.0, -0.25],
];
const W: [f32; 4] = [0.5, 1.0, 2.0, 1.5];
const P: [[f32; 4]; 3] = [
    [0.1, 0.2, 0.3, 0.4],
    [0.7, 0.1, 0.1, 0.1],
    [0.0, 0.0, 1.0, 0.0],
];
const XS: [[[f32; 2]; 3]; 2] = [
    [[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]],
    [[0.0, 1.0], [-1.5, 0.5], [2.5, -2.0]],
];

#[rustfmt::skip]
const CASES: &[(&str, &[f64], &[f64])] = &[
    ("mean", &[2.498619318008423], &[0.04803428053855896, -0.3249862492084503, 0.21527472138404846, 0.0616772398352623, 0.05646340176463127, 0.016177035868167877, 0.007641490548849106, -0.08028191328048706, -0.3235950767993927, 0.07195666432380676, 0.19559848308563232, 0.056039899587631226]),
    ("none", &[3.687228202819824, 0.27555030584335327, 3.533079147338867], &[0.14410284161567688, -0.9749586582183838, 0.645824134349823, 0.1850317120552063, 0.16939020156860352, 0.04853110387921333, 0.022924471646547318, -0.24084573984146118, -0.9707852005958557, 0.2158699780702591, 0.586795449256897, 0.16811969876289368]),
    ("sum", &[7.4958577156066895], &[0.14410284161567688, -0.9749586582183838, 0.645824134349823, 0.1850317120552063, 0.16939020156860352, 0.04853110387921333, 0.022924471646547318, -0.24084573984146118, -0.9707852005958557, 0.2158699780702591, 0.586795449256897, 0.16811969876289368]),
    ("weight_mean", &[1.9556976556777954], &[0.04803428053855896, -0.3249862492084503, 0.21527472138404846, 0.0616772398352623, 0.08469510078430176, 0.024265551939606667, 0.011462235823273659, -0.12042286992073059, -0.16179753839969635, 0.03597833216190338, 0.09779924154281616, 0.028019949793815613]),
    ("weight_none", &[3.687228202819824, 0.4133254587650299, 1.7665395736694336], &[0.14410284161567688, -0.9749586582183838, 0.645824134349823, 0.1850317120552063, 0.2540853023529053, 0.07279665768146515, 0.034386709332466125, -0.3612686097621918, -0.48539260029792786, 0.10793498903512955, 0.2933977246284485, 0.08405984938144684]),
    ("weight_sum", &[5.867093086242676], &[0.14410284161567688, -0.9749586582183838, 0.645824134349823, 0.1850317120552063, 0.2540853023529053, 0.07279665768146515, 0.034386709332466125, -0.3612686097621918, -0.48539260029792786, 0.10793498903512955, 0.2933977246284485, 0.08405984938144684]),
    ("ignore_default", &[3.6101536750793457], &[0.07205142080783844, -0.4874793291091919, 0.3229120671749115, 0.09251585602760315, 0.0, 0.0, 0.0, 0.0, -0.48539260029792786, 0.10793498903512955, 0.2933977246284485, 0.08405984938144684]),
    ("ignore_3", &[3.6101536750793457], &[0.07205142080783844, -0.4874793291091919, 0.3229120671749115, 0.09251585602760315, 0.0, 0.0, 0.0, 0.0, -0.48539260029792786, 0.10793498903512955, 0.2933977246284485, 0.08405984938144684]),
    ("ignore_weight", &[1.5844621658325195], &[0.04803428053855896, -0.3249862492084503, 0.21527472138404846, 0.0616772398352623, 0.0, 0.0, 0.0, 0.0, 0.019476547837257385, 0.14391332864761353, -0.27546972036361694, 0.11207979917526245]),
    ("smooth_mean", &[2.4486193656921387], &[0.0397009402513504, -0.29998621344566345, 0.20694135129451752, 0.05334389582276344, 0.04813006520271301, 0.007843700237572193, -0.0006918436847627163, -0.055281903594732285, -0.29859504103660583, 0.06362331658601761, 0.18726511299610138, 0.04770655930042267]),
    ("smooth_none", &[3.249728202819824, 0.7599252462387085, 3.111204147338867], &[0.08160284161567688, -0.7874586582183838, 0.583324134349823, 0.1225317120552063, 0.10689020156860352, -0.013968896120786667, -0.03957552835345268, -0.05334573984146118, -0.7832852005958557, 0.1533699780702591, 0.524295449256897, 0.10561969876289368]),
    ("smooth_weight", &[1.9849553108215332], &[0.045068465173244476, -0.2997775375843048, 0.2039898931980133, 0.050719160586595535, 0.07911684364080429, 0.01552779134362936, -0.005395469255745411, -0.0892491489648819, -0.14856714010238647, 0.03304174542427063, 0.09580245614051819, 0.019722940400242805]),
    ("smooth_weight_ignore", &[1.5192620754241943], &[0.042102664709091187, -0.2745688855648041, 0.19270512461662292, 0.039761099964380264, 0.0, 0.0, 0.0, 0.0, 0.009682471863925457, 0.116453155875206, -0.2048095166683197, 0.07867380976676941]),
    ("smooth_weight_ignore_sum", &[4.557785987854004], &[0.12630799412727356, -0.8237066268920898, 0.5781154036521912, 0.11928331106901169, 0.0, 0.0, 0.0, 0.0, 0.029047420248389244, 0.3493594825267792, -0.6144284009933472, 0.23602145910263062]),
    ("prob_mean", &[1.4069523811340332], &[0.014700951054692268, -0.058319564908742905, 0.11527472734451294, -0.07165609300136566, -0.1768699288368225, -0.017156299203634262, -0.025691844522953033, 0.2197180986404419, 0.009738273918628693, 0.07195666432380676, -0.13773486018180847, 0.056039899587631226]),
    ("prob_none", &[1.7372281551361084, 1.9505503177642822, 0.5330790281295776], &[0.04410284012556076, -0.17495869100093842, 0.34582412242889404, -0.21496829390525818, -0.5306097865104675, -0.051468897610902786, -0.0770755261182785, 0.6591542363166809, 0.02921481989324093, 0.2158699780702591, -0.413204550743103, 0.16811969876289368]),
    ("prob_weight_sum", &[4.895578861236572], &[0.1589491218328476, -0.16369009017944336, 0.33644500374794006, -0.3317040205001831, -0.21448783576488495, -0.06117511913180351, -0.18166042864322662, 0.4573233723640442, 0.05842963978648186, 0.4317399561405182, -0.826409101486206, 0.33623939752578735]),
    ("prob_smooth_weight", &[1.8167840242385864], &[0.04260098561644554, -0.06006419658660889, 0.1092318445444107, -0.09176864475011826, -0.04137338325381279, -0.033207811415195465, -0.08952188491821289, 0.16410309076309204, 0.0047854348085820675, 0.10272307693958282, -0.16947932541370392, 0.061970826238393784]),
    ("spatial_mean", &[2.73488187789917], &[0.06242530047893524, -0.23982742428779602, 0.16968956589698792, 0.03550577536225319, -0.23211485147476196, 0.20432163774967194, 0.018648890778422356, 0.15093722939491272, -0.24583886563777924, -0.15845194458961487, 0.22718997299671173, 0.007514721713960171]),
    ("spatial_none_ignore", &[2.6374902725219727, 0.0, 2.5956742763519287, 1.0045969486236572], &[0.24970120191574097, 0.0, 0.6787582635879517, 0.0, -0.9284594058990479, 0.0, -0.92540442943573, 0.6037489175796509, 0.016644515097141266, -0.6338077783584595, 0.9087598919868469, 0.030058886855840683]),
    ("spatial_weight_smooth", &[2.565192222595215], &[0.01966618187725544, -0.16217541694641113, 0.05781145021319389, 0.014131540432572365, -0.07747762650251389, 0.14804387092590332, 0.019934814423322678, 0.2043367177248001, -0.33359354734420776, -0.21178150177001953, 0.3136587142944336, 0.007444762624800205]),
    ("one_dim", &[0.43722808361053467], &[0.14410284161567688, 0.02504131570458412, -0.354175865650177, 0.1850317120552063]),
    ("f64_weight_smooth", &[1.9703264894690442], &[0.04655137560541154, -0.31238188817248297, 0.20963231015651254, 0.05619820241055891, 0.08190597555265887, 0.01989667321414229, 0.003033383573599773, -0.1048360323404009, -0.15518234365636915, 0.034510039696345064, 0.09680085475788779, 0.02387144920213632]),
    ("all_ignored", &[f64::NAN], &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    ("masked_logit", &[2.4076058864593506], &[-0.9099694490432739, 0.0, 0.24472849071025848, 0.665241003036499]),
    ("masked_target", &[f64::INFINITY], &[0.09003058075904846, -1.0, 0.24472849071025848, 0.665241003036499]),
    ("nll_weight_ignore", &[-0.25], &[0.0, -0.3333333432674408, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.6666666865348816, 0.0]),
    ("nll_spatial_sum", &[2.75], &[0.0, -1.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0, -1.0, 0.0, 0.0]),
    ("nll_all_ignored", &[f64::NAN], &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    ("nll_weight_zero", &[f64::NAN], &[0.0, f64::NAN, 0.0, 0.0, 0.0, f64::NAN, 0.0, 0.0, 0.0, f64::NAN, 0.0, 0.0]),
    ("smooth_weight_zero", &[f64::NAN], &[f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN, f64::NAN]),
    ("smooth_all_ignored", &[f64::NAN], &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    ("prob_no_classes", &[f64::NAN], &[]),
    ("prob_no_classes_sum", &[-0.0], &[]),
];

fn cpu() -> Device {
    Device::Cpu
}

fn t(v: &[i64]) -> Tensor {
    Tensor::new(v, &cpu()).unwrap()
}

/// The input, target and options of a named case, as the generator script sets them.
fn setup(name: &str) -> (Tensor, Tensor, CrossEntropyOptions, bool) {
    let x = Tensor::new(&X, &cpu()).unwrap();
    let xs = Tensor::new(&XS, &cpu()).unwrap();
    let w = Some(Tensor::new(&W, &cpu()).unwrap());
    let w0 = Some(Tensor::new(&[1f32, 0.0, 2.0, 1.5], &cpu()).unwrap());
    let probs = Tensor::new(&P, &cpu()).unwrap();
    let base = t(&[1, 3, 0]);
    let d = CrossEntropyOptions::default();
    let with = |f: &dyn Fn(&mut CrossEntropyOptions)| {
        let mut o = CrossEntropyOptions::default();
        f(&mut o);
        o
    };
    let masked = Tensor::new(&[[0f32, f32::NEG_INFINITY, 1.0, 2.0]], &cpu()).unwrap();
    match name {
        "mean" => (x, base, d, false),
        "none" => (x, base, with(&|o| o.reduction = Reduction::None), false),
        "sum" => (x, base, with(&|o| o.reduction = Reduction::Sum), false),
        "weight_mean" => (x, base, with(&|o| o.weight = w.clone()), false),
        "weight_none" => (
            x,
            base,
            with(&|o| {
                o.weight = w.clone();
                o.reduction = Reduction::None
            }),
            false,
        ),
        "weight_sum" => (
            x,
            base,
            with(&|o| {
                o.weight = w.clone();
                o.reduction = Reduction::Sum
            }),
            false,
        ),
        "ignore_default" => (x, t(&[1, -100, 0]), d, false),
        "ignore_3" => (x, base, with(&|o| o.ignore_index = 3), false),
        "ignore_weight" => (x, t(&[1, -100, 2]), with(&|o| o.weight = w.clone()), false),
        "smooth_mean" => (x, base, with(&|o| o.label_smoothing = 0.1), false),
        "smooth_none" => (
            x,
            base,
            with(&|o| {
                o.label_smoothing = 0.25;
                o.reduction = Reduction::None
            }),
            false,
        ),
        "smooth_weight" => (
            x,
            base,
            with(&|o| {
                o.label_smoothing = 0.1;
                o.weight = w.clone()
            }),
            false,
        ),
        "smooth_weight_ignore" => (
            x,
            t(&[1, -100, 2]),
            with(&|o| {
                o.label_smoothing = 0.2;
                o.weight = w.clone()
            }),
            false,
        ),
        "smooth_weight_ignore_sum" => (
            x,
            t(&[1, -100, 2]),
            with(&|o| {
                o.label_smoothing = 0.2;
                o.weight = w.clone();
                o.reduction = Reduction::Sum
            }),
            false,
        ),
        "prob_mean" => (x, probs, d, false),
        "prob_none" => (x, probs, with(&|o| o.reduction = Reduction::None), false),
        "prob_weight_sum" => (
            x,
            probs,
            with(&|o| {
                o.weight = w.clone();
                o.reduction = Reduction::Sum
            }),
            false,
        ),
        "prob_smooth_weight" => (
            x,
            probs,
            with(&|o| {
                o.weight = w.clone();
                o.label_smoothing = 0.3
            }),
            false,
        ),
        "spatial_mean" => (
            xs,
            Tensor::new(&[[2i64, 0], [1, 1]], &cpu()).unwrap(),
            d,
            false,
        ),
        "spatial_none_ignore" => (
            xs,
            Tensor::new(&[[2i64, -100], [0, 1]], &cpu()).unwrap(),
            with(&|o| o.reduction = Reduction::None),
            false,
        ),
        "spatial_weight_smooth" => (
            xs,
            Tensor::new(&[[2i64, 0], [1, 1]], &cpu()).unwrap(),
            with(&|o| {
                o.weight = Some(Tensor::new(&[1f32, 2.0, 0.5], &cpu()).unwrap());
                o.label_smoothing = 0.1
            }),
            false,
        ),
        "one_dim" => (
            x.get(0).unwrap(),
            Tensor::new(2i64, &cpu()).unwrap(),
            d,
            false,
        ),
        "f64_weight_smooth" => (
            x.to_dtype(DType::F64).unwrap(),
            base,
            with(&|o| {
                o.weight = Some(
                    Tensor::new(&W, &cpu())
                        .unwrap()
                        .to_dtype(DType::F64)
                        .unwrap(),
                );
                o.label_smoothing = 0.05
            }),
            false,
        ),
        "all_ignored" => (x, t(&[-100, -100, -100]), d, false),
        "masked_logit" => (masked, t(&[0]), d, false),
        "masked_target" => (
            masked,
            t(&[1]),
            with(&|o| o.reduction = Reduction::None),
            false,
        ),
        "nll_weight_ignore" => (x, t(&[1, -100, 2]), with(&|o| o.weight = w.clone()), true),
        "nll_spatial_sum" => (
            xs,
            Tensor::new(&[[2i64, 0], [1, 1]], &cpu()).unwrap(),
            with(&|o| o.reduction = Reduction::Sum),
            true,
        ),
        "nll_all_ignored" => (x, t(&[-100, -100, -100]), d, true),
        "nll_weight_zero" => (x, t(&[1, 1, 1]), with(&|o| o.weight = w0.clone()), true),
        "smooth_weight_zero" => (
            x,
            t(&[1, 1, 1]),
            with(&|o| {
                o.weight = w0.clone();
                o.label_smoothing = 0.4
            }),
            false,
        ),
        "smooth_all_ignored" => (
            x,
            t(&[-100, -100, -100]),
            with(&|o| o.label_smoothing = 0.4),
            false,
        ),
        "prob_no_classes" => (
            Tensor::zeros((3, 0), DType::F32, &cpu()).unwrap(),
            Tensor::zeros((3, 0), DType::F32, &cpu()).unwrap(),
            d,
            false,
        ),
        "prob_no_classes_sum" => (
            Tensor::zeros((3, 0), DType::F32, &cpu()).unwrap(),
            Tensor::zeros((3, 0), DType::F32, &cpu()).unwrap(),
            with(&|o| o.reduction = Reduction::Sum),
            false,
        ),
        other => panic!("unknown case {other}"),
    }
}

fn close(got: f64, want: f64) -> bool {
    if want.is_nan() {
        return got.is_nan();
    }
    if want.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= 2e-6 + 2e-6 * want.abs()
}

#[test]
fn losses_and_gradients_match_pytorch() {
    for &(name, want_loss, want_grad) in CASES {
        let (input, target, opts, is_nll) = setup(name);
        let x = Var::from_tensor(&input).unwrap();
        let loss = if is_nll {
            let nll = NllLossOptions {
                weight: opts.weight.clone(),
                ignore_index: opts.ignore_index,
                reduction: opts.reduction,
            };
            loss::nll_loss(x.as_tensor(), &target, &nll).unwrap()
        } else {
            loss::cross_entropy(x.as_tensor(), &target, &opts).unwrap()
        };
        assert_eq!(loss.dtype(), input.dtype(), "{name}: dtype");
        let got: Vec<f64> = loss
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(got.len(), want_loss.len(), "{name}: loss shape");
        for (g, w) in got.iter().zip(want_loss) {
            assert!(close(*g, *w), "{name}: loss {g} vs PyTorch {w}");
        }
        let grads = loss.sum_all().unwrap().backward().unwrap();
        let grad: Vec<f64> = grads
            .get(x.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient"))
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(grad.len(), want_grad.len(), "{name}: gradient shape");
        for (k, (g, w)) in grad.iter().zip(want_grad).enumerate() {
            assert!(close(*g, *w), "{name}: gradient[{k}] {g} vs PyTorch {w}");
        }
    }
}
