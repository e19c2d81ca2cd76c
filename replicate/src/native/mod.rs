//! `_torch`, the native module under the embedded `torch`: a tensor handle over a candle
//! tensor, and the operations the Python layer (`python/torch.py`) calls. Values are
//! computed by crossent's library (`pt` prints, `random::Generator` draws, `reduce`,
//! `pointwise` and `loss` compute); every result is checked against the tensor memory cap
//! before it is allocated.

mod bce;
mod indexing;
mod nll;
mod state;

pub(crate) use _torch::module_def;
pub use state::{recover, set_memory_cap, take_cell_flags, CellFlags};

#[rustpython_vm::pymodule]
mod _torch {
    use super::indexing::{self, IndexItem};
    use super::state::{self, check_elements};
    use candle_core::{DType, Device, Tensor, Var};
    use crossent::loss::{self, CrossEntropyOptions, NllLossOptions, Reduction};
    use crossent::pt::{self, HostTensor, Values};
    use rustpython_vm::builtins::PyBaseExceptionRef;
    use rustpython_vm::{pyclass, PyObjectRef, PyPayload, PyRef, PyResult, VirtualMachine};

    /// What PyTorch would call the tensor's dtype; candle holds bools as `u8`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Kind {
        Float,
        Long,
        Bool,
    }

    impl Kind {
        fn name(self) -> &'static str {
            match self {
                Kind::Float => "float32",
                Kind::Long => "int64",
                Kind::Bool => "bool",
            }
        }

        fn parse(name: &str, vm: &VirtualMachine) -> PyResult<Kind> {
            match name {
                "float32" => Ok(Kind::Float),
                "int64" => Ok(Kind::Long),
                "bool" => Ok(Kind::Bool),
                other => {
                    Err(vm.new_type_error(format!("dtype torch.{other} is not in the subset")))
                }
            }
        }

        fn dtype(self) -> DType {
            match self {
                Kind::Float => DType::F32,
                Kind::Long => DType::I64,
                Kind::Bool => DType::U8,
            }
        }
    }

    /// One tensor: its candle tensor, its PyTorch dtype, and whether its values come from
    /// a draw of a generator the notebook never seeded.
    #[pyattr]
    #[pyclass(name = "Handle")]
    #[derive(Debug, PyPayload)]
    pub(crate) struct Handle {
        pub(crate) t: Tensor,
        pub(crate) kind: Kind,
        pub(crate) unseeded: bool,
        /// Made by draw call number `.0` of the run (`randn` times `.2`, or `randint`
        /// below `.1`), as drawn: a printed draw the seed search can read.
        pub(crate) draw: Option<(usize, Option<i64>, f32)>,
    }

    #[pyclass]
    impl Handle {}

    /// The candle gradients of one `backward`.
    #[pyattr]
    #[pyclass(name = "Grads")]
    #[derive(Debug, PyPayload)]
    pub(crate) struct Grads {
        store: std::sync::Mutex<candle_core::backprop::GradStore>,
    }

    #[pyclass]
    impl Grads {}

    pub(crate) fn err(vm: &VirtualMachine, e: impl std::fmt::Display) -> PyBaseExceptionRef {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or("").to_string();
        vm.new_runtime_error(first)
    }

    fn handle(t: Tensor, kind: Kind, unseeded: bool) -> Handle {
        Handle {
            t,
            kind,
            unseeded,
            draw: None,
        }
    }

    fn read(h: &Handle) {
        if h.unseeded {
            state::note_unseeded_read();
        }
    }

    fn cpu() -> Device {
        Device::Cpu
    }

    // ---- creation ----------------------------------------------------------------------

    #[pyfunction]
    fn from_values(
        values: Vec<PyObjectRef>,
        shape: Vec<usize>,
        dtype: String,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        let kind = Kind::parse(&dtype, vm)?;
        let n: usize = shape.iter().product();
        check_elements(&shape, 8, vm)?;
        if n != values.len() {
            return Err(vm.new_value_error("the values do not fill the shape"));
        }
        let t = match kind {
            Kind::Float => {
                let v: PyResult<Vec<f32>> = values
                    .into_iter()
                    .map(|o| Ok(float_of(&o, vm)? as f32))
                    .collect();
                Tensor::from_vec(v?, shape, &cpu())
            }
            Kind::Long => {
                let v: PyResult<Vec<i64>> = values.into_iter().map(|o| int_of(&o, vm)).collect();
                Tensor::from_vec(v?, shape, &cpu())
            }
            Kind::Bool => {
                let v: PyResult<Vec<u8>> = values
                    .into_iter()
                    .map(|o| Ok(o.try_to_bool(vm)? as u8))
                    .collect();
                Tensor::from_vec(v?, shape, &cpu())
            }
        }
        .map_err(|e| err(vm, e))?;
        Ok(handle(t, kind, false))
    }

    fn float_of(o: &PyObjectRef, vm: &VirtualMachine) -> PyResult<f64> {
        rustpython_vm::function::ArgIntoFloat::try_from_object(vm, o.clone())
            .map(|f| f.into_float())
    }

    fn int_of(o: &PyObjectRef, vm: &VirtualMachine) -> PyResult<i64> {
        use rustpython_vm::convert::TryFromObject;
        i64::try_from_object(vm, o.clone())
    }

    use rustpython_vm::convert::TryFromObject;

    #[pyfunction]
    fn full(shape: Vec<usize>, value: f64, dtype: String, vm: &VirtualMachine) -> PyResult<Handle> {
        let kind = Kind::parse(&dtype, vm)?;
        check_elements(&shape, 8, vm)?;
        let t = match kind {
            Kind::Float => Tensor::full(value as f32, shape, &cpu()),
            Kind::Long => Tensor::full(value as i64, shape, &cpu()),
            Kind::Bool => Tensor::full((value != 0.0) as u8, shape, &cpu()),
        }
        .map_err(|e| err(vm, e))?;
        Ok(handle(t, kind, false))
    }

    #[pyfunction]
    fn arange(
        start: f64,
        end: f64,
        step: f64,
        dtype: String,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        let kind = Kind::parse(&dtype, vm)?;
        if step == 0.0 {
            return Err(vm.new_runtime_error("step must be nonzero"));
        }
        let n = ((end - start) / step).ceil().max(0.0);
        if n > 1e12 {
            return Err(vm.new_memory_error(format!(
                "arange of {n} elements is over the tensor memory cap"
            )));
        }
        let n = n as usize;
        check_elements(&[n], 8, vm)?;
        let t = match kind {
            Kind::Long => Tensor::from_vec(
                (0..n)
                    .map(|i| (start + step * i as f64) as i64)
                    .collect::<Vec<_>>(),
                n,
                &cpu(),
            ),
            _ => Tensor::from_vec(
                (0..n)
                    .map(|i| (start + step * i as f64) as f32)
                    .collect::<Vec<_>>(),
                n,
                &cpu(),
            ),
        }
        .map_err(|e| err(vm, e))?;
        Ok(handle(
            t,
            if kind == Kind::Long {
                Kind::Long
            } else {
                Kind::Float
            },
            false,
        ))
    }

    #[pyfunction]
    fn linspace(start: f64, end: f64, steps: usize, vm: &VirtualMachine) -> PyResult<Handle> {
        check_elements(&[steps], 4, vm)?;
        let t = crossent::torchlike::linspace(start as f32, end as f32, steps, &cpu())
            .map_err(|e| err(vm, e))?;
        Ok(handle(t, Kind::Float, false))
    }

    // ---- the generator -----------------------------------------------------------------

    #[pyfunction]
    fn manual_seed(seed: i64) {
        state::manual_seed(seed as u64);
    }

    #[pyfunction]
    fn initial_seed() -> u64 {
        state::with_generator(|g, _| g.initial_seed())
    }

    /// A draw from the global generator; `randint_high` says it is a `randint(high, …)`.
    fn drawn(
        shape: &[usize],
        randint_high: Option<i64>,
        generator: Option<usize>,
        vm: &VirtualMachine,
        draw: impl FnOnce(&mut crossent::random::Generator) -> anyhow::Result<Tensor>,
    ) -> PyResult<Handle> {
        check_elements(shape, 4, vm)?;
        let (t, seeded, call) = match generator {
            // A notebook's own generator starts from PyTorch's fixed default seed.
            Some(id) => {
                let t = state::with_user_generator(id, draw)
                    .ok_or_else(|| vm.new_value_error("an unknown generator"))?;
                (t, true, None)
            }
            None => {
                let (t, seeded) = state::with_generator(|g, seeded| (draw(g), seeded));
                (t, seeded, Some(state::last_draw_call()))
            }
        };
        let t = t.map_err(|e| err(vm, e))?;
        let kind = if t.dtype() == DType::I64 {
            Kind::Long
        } else {
            Kind::Float
        };
        Ok(Handle {
            draw: call.map(|call| (call, randint_high, 1.0)),
            ..handle(t, kind, !seeded)
        })
    }

    #[pyfunction]
    fn generator_new() -> usize {
        state::new_generator()
    }

    #[pyfunction]
    fn generator_seed(id: usize, seed: i64) {
        state::with_user_generator(id, |g| {
            *g = crossent::random::Generator::manual_seed(seed as u64)
        });
    }

    #[pyfunction]
    fn generator_initial_seed(id: usize) -> Option<u64> {
        state::with_user_generator(id, |g| g.initial_seed())
    }

    /// For a tensor displayed as drawn: its draw call and, for a `randint`, its bound.
    #[pyfunction]
    fn draw_of(h: PyRef<Handle>) -> Option<(usize, Option<i64>, f32)> {
        h.draw
    }

    /// A `randn` draw times a number is still a printed draw the search can read.
    fn scaled_draw(a: &Handle, b: &Handle) -> Option<(usize, Option<i64>, f32)> {
        let (draw, factor) = match (a.draw, b.draw) {
            (Some(d), None) => (d, b),
            (None, Some(d)) => (d, a),
            _ => return None,
        };
        let (call, None, scale) = draw else {
            return None;
        };
        if factor.t.rank() != 0 || factor.kind == Kind::Bool {
            return None;
        }
        let s = factor
            .t
            .to_dtype(DType::F32)
            .ok()?
            .to_scalar::<f32>()
            .ok()?;
        Some((call, None, scale * s))
    }

    #[pyfunction]
    fn randn(shape: Vec<usize>, generator: Option<usize>, vm: &VirtualMachine) -> PyResult<Handle> {
        drawn(&shape.clone(), None, generator, vm, |g| g.randn(shape))
    }

    #[pyfunction]
    fn rand(shape: Vec<usize>, generator: Option<usize>, vm: &VirtualMachine) -> PyResult<Handle> {
        drawn(&shape.clone(), None, generator, vm, |g| g.rand(shape))
    }

    #[pyfunction]
    fn normal(
        mean: f64,
        std: f64,
        shape: Vec<usize>,
        generator: Option<usize>,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        drawn(&shape.clone(), None, generator, vm, |g| {
            g.normal(mean, std, shape)
        })
    }

    #[pyfunction]
    fn uniform(
        shape: Vec<usize>,
        from: f64,
        to: f64,
        generator: Option<usize>,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        drawn(&shape.clone(), None, generator, vm, |g| {
            g.uniform(shape, from, to)
        })
    }

    #[pyfunction]
    fn randint(
        low: i64,
        high: i64,
        shape: Vec<usize>,
        generator: Option<usize>,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        if low >= high {
            return Err(vm.new_runtime_error(format!(
                "random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
            )));
        }
        drawn(
            &shape.clone(),
            (low == 0).then_some(high),
            generator,
            vm,
            |g| g.randint(low, high, shape),
        )
    }

    #[pyfunction]
    fn randperm(n: usize, generator: Option<usize>, vm: &VirtualMachine) -> PyResult<Handle> {
        drawn(&[n], None, generator, vm, |g| g.randperm(n))
    }

    /// `nn.Linear(in, out)`'s weight and bias, drawn as PyTorch initialises them.
    #[pyfunction]
    fn linear_init(
        in_features: usize,
        out_features: usize,
        vm: &VirtualMachine,
    ) -> PyResult<(Handle, Handle)> {
        check_elements(&[in_features, out_features], 4, vm)?;
        let (drawn, seeded) = state::with_generator(|g, seeded| {
            (
                crossent::random::nn::linear(g, in_features, out_features),
                seeded,
            )
        });
        state::last_draw_call();
        let (w, b) = drawn.map_err(|e| err(vm, e))?;
        Ok((
            handle(w, Kind::Float, !seeded),
            handle(b, Kind::Float, !seeded),
        ))
    }

    // ---- reading -----------------------------------------------------------------------

    #[pyfunction]
    fn repr(h: PyRef<Handle>, suffixes: Vec<String>, vm: &VirtualMachine) -> PyResult<String> {
        read(&h);
        let mut host = HostTensor::from_tensor(&h.t).map_err(|e| err(vm, e))?;
        if h.kind == Kind::Bool {
            if let Values::Int(v) = &host.values {
                host = HostTensor::bool(&host.shape, v.iter().map(|&x| x != 0).collect());
            }
        }
        Ok(pt::repr_host_with(&host, &suffixes))
    }

    /// `torch.set_printoptions`: noted, not followed (tensors print as PyTorch's defaults).
    #[pyfunction]
    fn set_printoptions(_args: rustpython_vm::function::FuncArgs) {
        state::note_print_options_changed();
    }

    /// A `grad_fn` name as the file's conventions print it (`NllLossBackward0`).
    #[pyfunction]
    fn grad_fn_name(name: String) -> String {
        pt::conventions::grad_fn_name(&name)
    }

    /// A tuple or list of already displayed items, laid out as IPython lays it out.
    #[pyfunction]
    fn displayed_sequence(kind: String, items: Vec<String>) -> String {
        if kind == "tuple" {
            pt::tuple(&items)
        } else {
            pt::list(&items)
        }
    }

    #[pyfunction]
    fn shape(h: PyRef<Handle>, vm: &VirtualMachine) -> PyObjectRef {
        vm.ctx
            .new_tuple(
                h.t.dims()
                    .iter()
                    .map(|&d| vm.ctx.new_int(d).into())
                    .collect(),
            )
            .into()
    }

    #[pyfunction]
    fn dtype(h: PyRef<Handle>) -> &'static str {
        h.kind.name()
    }

    #[pyfunction]
    fn unseeded(h: PyRef<Handle>) -> bool {
        h.unseeded
    }

    /// The values, flat, as Python floats, ints or bools.
    #[pyfunction]
    fn values(h: PyRef<Handle>, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
        read(&h);
        let flat = h.t.flatten_all().map_err(|e| err(vm, e))?;
        let items: Vec<PyObjectRef> = match h.kind {
            Kind::Float => flat
                .to_vec1::<f32>()
                .map_err(|e| err(vm, e))?
                .into_iter()
                .map(|x| vm.ctx.new_float(x as f64).into())
                .collect(),
            Kind::Long => flat
                .to_vec1::<i64>()
                .map_err(|e| err(vm, e))?
                .into_iter()
                .map(|x| vm.ctx.new_int(x).into())
                .collect(),
            Kind::Bool => flat
                .to_vec1::<u8>()
                .map_err(|e| err(vm, e))?
                .into_iter()
                .map(|x| vm.ctx.new_bool(x != 0).into())
                .collect(),
        };
        Ok(vm.ctx.new_list(items).into())
    }

    // ---- conversion and autograd ----------------------------------------------------------

    #[pyfunction]
    fn to_dtype(h: PyRef<Handle>, dtype: String, vm: &VirtualMachine) -> PyResult<Handle> {
        let kind = Kind::parse(&dtype, vm)?;
        Ok(handle(convert(&h, kind, vm)?, kind, h.unseeded))
    }

    fn convert(h: &Handle, kind: Kind, vm: &VirtualMachine) -> PyResult<Tensor> {
        if h.kind == kind {
            return Ok(h.t.clone());
        }
        let t = match kind {
            Kind::Bool => h.t.to_dtype(DType::F32).and_then(|t| t.ne(0f64)),
            Kind::Long if h.kind == Kind::Float => h.t.to_dtype(DType::F64).and_then(|t| {
                // PyTorch truncates towards zero.
                let v: Vec<i64> = t
                    .flatten_all()?
                    .to_vec1::<f64>()?
                    .into_iter()
                    .map(|x| x.trunc() as i64)
                    .collect();
                Tensor::from_vec(v, h.t.dims(), &cpu())
            }),
            _ => h.t.to_dtype(kind.dtype()),
        };
        t.map_err(|e| err(vm, e))
    }

    #[pyfunction]
    fn detach(h: PyRef<Handle>) -> Handle {
        handle(h.t.detach(), h.kind, h.unseeded)
    }

    /// A leaf that gradients flow to.
    #[pyfunction]
    fn leaf(h: PyRef<Handle>, vm: &VirtualMachine) -> PyResult<Handle> {
        if h.kind != Kind::Float {
            return Err(
                vm.new_runtime_error("only Tensors of floating point dtype can require gradients")
            );
        }
        let var = Var::from_tensor(&h.t.detach()).map_err(|e| err(vm, e))?;
        Ok(handle(var.as_tensor().clone(), h.kind, h.unseeded))
    }

    #[pyfunction]
    fn backward(h: PyRef<Handle>, vm: &VirtualMachine) -> PyResult<Grads> {
        let store = h.t.backward().map_err(|e| err(vm, e))?;
        Ok(Grads {
            store: std::sync::Mutex::new(store),
        })
    }

    #[pyfunction]
    fn grad_of(grads: PyRef<Grads>, h: PyRef<Handle>) -> Option<Handle> {
        let store = grads.store.lock().ok()?;
        store
            .get(&h.t)
            .map(|g| handle(g.detach(), Kind::Float, h.unseeded))
    }

    // ---- arithmetic --------------------------------------------------------------------------

    fn promoted(a: Kind, b: Kind) -> Kind {
        match (a, b) {
            (Kind::Float, _) | (_, Kind::Float) => Kind::Float,
            (Kind::Long, _) | (_, Kind::Long) => Kind::Long,
            _ => Kind::Bool,
        }
    }

    fn broadcast_shape(a: &[usize], b: &[usize], vm: &VirtualMachine) -> PyResult<Vec<usize>> {
        let n = a.len().max(b.len());
        let mut out = vec![0; n];
        for i in 0..n {
            let x = if i + a.len() >= n {
                a[i + a.len() - n]
            } else {
                1
            };
            let y = if i + b.len() >= n {
                b[i + b.len() - n]
            } else {
                1
            };
            out[i] = if x == y || y == 1 {
                x
            } else if x == 1 {
                y
            } else {
                return Err(vm.new_runtime_error(format!(
                    "The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton dimension {i}"
                )));
            };
        }
        Ok(out)
    }

    #[pyfunction]
    fn binary(
        op: String,
        a: PyRef<Handle>,
        b: PyRef<Handle>,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        read(&a);
        read(&b);
        if op == "matmul" {
            return matmul(&a, &b, vm);
        }
        let unseeded = a.unseeded || b.unseeded;
        let shape = broadcast_shape(a.t.dims(), b.t.dims(), vm)?;
        check_elements(&shape, 8, vm)?;
        let mut kind = promoted(a.kind, b.kind);
        if op == "div" || op == "pow" && kind != Kind::Long {
            kind = Kind::Float;
        }
        if matches!(op.as_str(), "and" | "or" | "xor") {
            let x = convert(&a, Kind::Bool, vm)?
                .broadcast_as(shape.as_slice())
                .map_err(|e| err(vm, e))?;
            let y = convert(&b, Kind::Bool, vm)?
                .broadcast_as(shape.as_slice())
                .map_err(|e| err(vm, e))?;
            let t = match op.as_str() {
                "and" => x.mul(&y),
                "or" => x.maximum(&y),
                _ => x.ne(&y),
            }
            .map_err(|e| err(vm, e))?;
            return Ok(handle(t, Kind::Bool, unseeded));
        }
        let compute = if kind == Kind::Bool { Kind::Long } else { kind };
        let x = convert(&a, compute, vm)?;
        let y = convert(&b, compute, vm)?;
        let r = match op.as_str() {
            "add" => x.broadcast_add(&y),
            "sub" => x.broadcast_sub(&y),
            "mul" => x.broadcast_mul(&y),
            "div" => x.broadcast_div(&y),
            "pow" => pow(&x, &y, &shape),
            "rem" | "floordiv" => modular(&op, &x, &y, &shape),
            "eq" => x.broadcast_eq(&y),
            "ne" => x.broadcast_ne(&y),
            "lt" => x.broadcast_lt(&y),
            "le" => x.broadcast_le(&y),
            "gt" => x.broadcast_gt(&y),
            "ge" => x.broadcast_ge(&y),
            "maximum" => x.broadcast_maximum(&y),
            "minimum" => x.broadcast_minimum(&y),
            "matmul" => return matmul(&a, &b, vm),
            other => {
                return Err(vm.new_type_error(format!("operator {other} is not in the subset")))
            }
        }
        .map_err(|e| err(vm, e))?;
        let kind = if matches!(op.as_str(), "eq" | "ne" | "lt" | "le" | "gt" | "ge") {
            Kind::Bool
        } else if kind == Kind::Bool {
            Kind::Long
        } else {
            kind
        };
        let draw = if op == "mul" {
            scaled_draw(&a, &b)
        } else {
            None
        };
        Ok(Handle {
            draw,
            ..handle(r, kind, unseeded)
        })
    }

    fn pow(x: &Tensor, y: &Tensor, shape: &[usize]) -> candle_core::Result<Tensor> {
        // A scalar exponent keeps the graph (x² in a loss); others are computed per element.
        if y.rank() == 0 && x.dtype() == DType::F32 {
            let e = y.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            if e == 2.0 {
                return x.sqr();
            }
            return x.powf(e);
        }
        let xs = x
            .broadcast_as(shape)?
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()?;
        let ys = y
            .broadcast_as(shape)?
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()?;
        if x.dtype() == DType::I64 {
            let v: Vec<i64> = xs
                .iter()
                .zip(&ys)
                .map(|(a, b)| (*a as i64).pow(*b as u32))
                .collect();
            return Tensor::from_vec(v, shape, &Device::Cpu);
        }
        let v: Vec<f32> = xs
            .iter()
            .zip(&ys)
            .map(|(a, b)| (*a as f32).powf(*b as f32))
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
    }

    /// `a % b` (the sign of `b`, as Python's) and `a // b`, element by element.
    fn modular(op: &str, x: &Tensor, y: &Tensor, shape: &[usize]) -> candle_core::Result<Tensor> {
        let x = x.broadcast_as(shape)?.contiguous()?;
        let y = y.broadcast_as(shape)?.contiguous()?;
        if x.dtype() == DType::I64 {
            let (a, b) = (
                x.flatten_all()?.to_vec1::<i64>()?,
                y.flatten_all()?.to_vec1::<i64>()?,
            );
            if b.contains(&0) {
                return Err(candle_core::Error::Msg("ZeroDivisionError".into()));
            }
            let v: Vec<i64> = a
                .iter()
                .zip(&b)
                .map(|(&a, &b)| {
                    let (q, r) = (a / b, a % b);
                    let floors = r != 0 && ((r < 0) != (b < 0));
                    match (op == "rem", floors) {
                        (true, true) => r + b,
                        (true, false) => r,
                        (false, true) => q - 1,
                        (false, false) => q,
                    }
                })
                .collect();
            return Tensor::from_vec(v, shape, &Device::Cpu);
        }
        let (a, b) = (
            x.flatten_all()?.to_vec1::<f32>()?,
            y.flatten_all()?.to_vec1::<f32>()?,
        );
        let v: Vec<f32> = a
            .iter()
            .zip(&b)
            .map(|(&a, &b)| {
                if op == "rem" {
                    let m = a % b;
                    if m != 0.0 && (b < 0.0) != (m < 0.0) {
                        m + b
                    } else {
                        m
                    }
                } else {
                    (a / b).floor()
                }
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
    }

    fn matmul(a: &Handle, b: &Handle, vm: &VirtualMachine) -> PyResult<Handle> {
        let (x, y) = (convert(a, Kind::Float, vm)?, convert(b, Kind::Float, vm)?);
        let r = match (x.rank(), y.rank()) {
            (1, 1) => x
                .unsqueeze(0)
                .and_then(|x| x.matmul(&y.unsqueeze(1)?))
                .and_then(|r| r.reshape(())),
            (2, 1) => x
                .matmul(&y.unsqueeze(1).map_err(|e| err(vm, e))?)
                .and_then(|r| r.squeeze(1)),
            (1, 2) => x
                .unsqueeze(0)
                .and_then(|x| x.matmul(&y))
                .and_then(|r| r.squeeze(0)),
            _ => x.broadcast_matmul(&y),
        }
        .map_err(|e| err(vm, e))?;
        check_elements(r.dims(), 4, vm)?;
        Ok(handle(r, Kind::Float, a.unseeded || b.unseeded))
    }

    #[pyfunction]
    fn unary(op: String, h: PyRef<Handle>, vm: &VirtualMachine) -> PyResult<Handle> {
        read(&h);
        let float_ops = ["exp", "log", "log2", "sigmoid", "sqrt", "tanh", "log1p"];
        let kind = if float_ops.contains(&op.as_str()) {
            Kind::Float
        } else {
            h.kind
        };
        let x = convert(&h, if kind == Kind::Bool { Kind::Bool } else { kind }, vm)?;
        let tracked = x.track_op();
        let r = match op.as_str() {
            "exp" => x.exp(),
            "log" => x.log(),
            "log2" if !tracked => crossent::pointwise::log2_tensor(&x)
                .map_err(|e| candle_core::Error::Msg(e.to_string())),
            "log2" => x
                .log()
                .and_then(|l| l.affine(std::f64::consts::LOG2_E, 0.0)),
            "log1p" if !tracked => host_map(&x, f32::ln_1p),
            "log1p" => x.affine(1.0, 1.0).and_then(|x| x.log()),
            "sigmoid" => candle_nn::ops::sigmoid(&x),
            "sqrt" => x.sqrt(),
            "tanh" => x.tanh(),
            "relu" => x.relu(),
            "neg" => x.neg(),
            "abs" => x.abs(),
            "isnan" => x.ne(&x),
            "not" => x.eq(0u8).or_else(|_| x.eq(0i64)),
            "clone" => Ok(x.clone()),
            "contiguous" => x.contiguous(),
            other => return Err(vm.new_type_error(format!("{other} is not in the subset"))),
        }
        .map_err(|e| err(vm, e))?;
        let kind = if matches!(op.as_str(), "isnan" | "not") {
            Kind::Bool
        } else {
            kind
        };
        Ok(handle(r, kind, h.unseeded))
    }

    /// `f` on every element of a float32 tensor, on the host.
    fn host_map(x: &Tensor, f: fn(f32) -> f32) -> candle_core::Result<Tensor> {
        let values: Vec<f32> = x
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(f)
            .collect();
        Tensor::from_vec(values, x.dims(), &Device::Cpu)
    }

    #[pyfunction]
    fn clamp(
        h: PyRef<Handle>,
        low: Option<f64>,
        high: Option<f64>,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        read(&h);
        let mut t = h.t.clone();
        if let Some(low) = low {
            t = t.maximum(low).map_err(|e| err(vm, e))?;
        }
        if let Some(high) = high {
            t = t.minimum(high).map_err(|e| err(vm, e))?;
        }
        Ok(handle(t, h.kind, h.unseeded))
    }

    // ---- reductions ----------------------------------------------------------------------------

    /// `sum`/`mean` over every element or over `dims`; float32 sums of every element are
    /// PyTorch's own cascade (`crossent::reduce`) where no gradient is tracked.
    #[pyfunction]
    fn sum_mean(
        op: String,
        h: PyRef<Handle>,
        dims: Option<Vec<usize>>,
        keepdim: bool,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        read(&h);
        let kind = if op == "mean" || h.kind == Kind::Float {
            Kind::Float
        } else {
            Kind::Long
        };
        if op == "mean" && h.kind != Kind::Float {
            return Err(vm.new_runtime_error(format!(
                "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {}",
                if h.kind == Kind::Long { "Long" } else { "Bool" }
            )));
        }
        let x = convert(&h, kind, vm)?;
        let all: Vec<usize> = (0..x.rank()).collect();
        let dims = dims.unwrap_or_else(|| all.clone());
        let r = if dims.len() == x.rank() && kind == Kind::Float && !x.track_op() && !keepdim {
            if op == "mean" {
                crossent::reduce::mean_all(&x)
            } else {
                crossent::reduce::sum_all(&x)
            }
            .map_err(|e| candle_core::Error::Msg(e.to_string()))
        } else if dims.len() == 1 && kind == Kind::Float && !x.track_op() && dims[0] + 1 == x.rank()
        {
            exact_rows(&x, &op, keepdim)
        } else {
            let r = if op == "mean" {
                x.mean_keepdim(dims.clone())
            } else {
                x.sum_keepdim(dims.clone())
            };
            r.and_then(|r| {
                if keepdim {
                    Ok(r)
                } else {
                    dims.iter().rev().try_fold(r, |r, &d| r.squeeze(d))
                }
            })
        }
        .map_err(|e| err(vm, e))?;
        Ok(handle(r, kind, h.unseeded))
    }

    /// Sums or means along the last dimension, each row with PyTorch's cascade.
    fn exact_rows(x: &Tensor, op: &str, keepdim: bool) -> candle_core::Result<Tensor> {
        let dims = x.dims().to_vec();
        let n = *dims.last().unwrap_or(&1);
        let values = x.flatten_all()?.to_vec1::<f32>()?;
        let rows: Vec<f32> = if n == 0 {
            vec![0.0; values.len().max(1)]
        } else {
            values
                .chunks(n)
                .map(|row| {
                    if op == "mean" {
                        crossent::reduce::mean(row)
                    } else {
                        crossent::reduce::sum(row)
                    }
                })
                .collect()
        };
        let mut shape = dims[..dims.len() - 1].to_vec();
        if keepdim {
            shape.push(1);
        }
        Tensor::from_vec(rows, shape, &Device::Cpu)
    }

    /// `max`/`min` with a dimension: values and indices; `argmax`/`argmin`; or over all.
    #[pyfunction]
    fn extreme(
        op: String,
        h: PyRef<Handle>,
        dim: Option<usize>,
        keepdim: bool,
        vm: &VirtualMachine,
    ) -> PyResult<(Handle, Handle)> {
        read(&h);
        let x = h.t.clone();
        let (x, dim) = match dim {
            Some(d) => (x, d),
            None => (x.flatten_all().map_err(|e| err(vm, e))?, 0),
        };
        if x.dim(dim).map_err(|e| err(vm, e))? == 0 {
            return Err(vm.new_index_error(
                "max(): Expected reduction dim to be specified for input.numel() == 0.",
            ));
        }
        let r = if op == "max" {
            x.max_keepdim(dim)
                .and_then(|v| Ok((v, x.argmax_keepdim(dim)?)))
        } else {
            x.min_keepdim(dim)
                .and_then(|v| Ok((v, x.argmin_keepdim(dim)?)))
        };
        let (mut v, mut i) = r.map_err(|e| err(vm, e))?;
        if !keepdim {
            v = v.squeeze(dim).map_err(|e| err(vm, e))?;
            i = i.squeeze(dim).map_err(|e| err(vm, e))?;
        }
        let i = i.to_dtype(DType::I64).map_err(|e| err(vm, e))?;
        Ok((
            handle(v, h.kind, h.unseeded),
            handle(i, Kind::Long, h.unseeded),
        ))
    }

    #[pyfunction]
    fn softmax(op: String, h: PyRef<Handle>, dim: usize, vm: &VirtualMachine) -> PyResult<Handle> {
        read(&h);
        let x = convert(&h, Kind::Float, vm)?;
        if op == "softmax" && !x.track_op() && dim + 1 == x.rank() {
            let t = softmax_rows(&x).map_err(|e| err(vm, e))?;
            return Ok(handle(t, Kind::Float, h.unseeded));
        }
        let r = match op.as_str() {
            "softmax" => loss::softmax(&x, dim),
            "log_softmax" => loss::log_softmax(&x, dim),
            _ => loss::logsumexp(&x, dim),
        }
        .map_err(|e| err(vm, e))?;
        Ok(handle(r, Kind::Float, h.unseeded))
    }

    /// Softmax along the last dimension as PyTorch's CPU kernel computes it: the exps of
    /// the max-shifted row summed in order, then multiplied by the sum's reciprocal
    /// (rows shorter than a vector register sum exactly so on every machine).
    fn softmax_rows(x: &Tensor) -> candle_core::Result<Tensor> {
        let n = x.dims().last().copied().unwrap_or(1).max(1);
        let values = x.flatten_all()?.to_vec1::<f32>()?;
        let mut out = Vec::with_capacity(values.len());
        for row in values.chunks(n) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exps: Vec<f32> = row.iter().map(|&v| (v - max).exp()).collect();
            let sum = exps.iter().fold(0.0f32, |a, &e| a + e);
            let reciprocal = 1.0 / sum;
            out.extend(exps.iter().map(|&e| e * reciprocal));
        }
        Tensor::from_vec(out, x.dims(), &Device::Cpu)
    }

    #[pyfunction]
    fn sort(
        h: PyRef<Handle>,
        dim: usize,
        descending: bool,
        vm: &VirtualMachine,
    ) -> PyResult<(Handle, Handle)> {
        read(&h);
        let x = convert(&h, Kind::Float, vm)?;
        let last = x.rank().saturating_sub(1);
        let moved = x
            .transpose(dim, last)
            .and_then(|t| t.contiguous())
            .map_err(|e| err(vm, e))?;
        let dims = moved.dims().to_vec();
        let n = *dims.last().unwrap_or(&1);
        let values = moved
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| err(vm, e))?;
        let (mut sorted, mut indices) = (
            Vec::with_capacity(values.len()),
            Vec::with_capacity(values.len()),
        );
        for row in values.chunks(n.max(1)) {
            let mut order: Vec<usize> = (0..row.len()).collect();
            // NaN sorts last, as in PyTorch; the sort is stable.
            order.sort_by(|&i, &j| {
                let (a, b) = (row[i], row[j]);
                let o = match (a.is_nan(), b.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
                };
                if descending {
                    o.reverse()
                } else {
                    o
                }
            });
            sorted.extend(order.iter().map(|&i| row[i]));
            indices.extend(order.iter().map(|&i| i as i64));
        }
        let back = |t: Tensor| t.transpose(dim, last);
        let v = Tensor::from_vec(sorted, dims.clone(), &cpu())
            .and_then(back)
            .map_err(|e| err(vm, e))?;
        let i = Tensor::from_vec(indices, dims, &cpu())
            .and_then(back)
            .map_err(|e| err(vm, e))?;
        let v = convert(&handle(v, Kind::Float, false), h.kind, vm)?;
        Ok((
            handle(v, h.kind, h.unseeded),
            handle(i, Kind::Long, h.unseeded),
        ))
    }

    // ---- shapes and indexing ----------------------------------------------------------------

    #[pyfunction]
    fn reshape(h: PyRef<Handle>, shape: Vec<usize>, vm: &VirtualMachine) -> PyResult<Handle> {
        let t = h.t.reshape(shape).map_err(|e| err(vm, e))?;
        Ok(handle(t, h.kind, h.unseeded))
    }

    #[pyfunction]
    fn permute(h: PyRef<Handle>, dims: Vec<usize>, vm: &VirtualMachine) -> PyResult<Handle> {
        let t = h.t.permute(dims).map_err(|e| err(vm, e))?;
        Ok(handle(t, h.kind, h.unseeded))
    }

    #[pyfunction]
    fn join(
        op: String,
        hs: Vec<PyRef<Handle>>,
        dim: usize,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        if hs.is_empty() {
            return Err(
                vm.new_runtime_error(format!("{op}(): expected a non-empty list of Tensors"))
            );
        }
        let kind = hs
            .iter()
            .map(|h| h.kind)
            .reduce(promoted)
            .unwrap_or(Kind::Float);
        let ts: PyResult<Vec<Tensor>> = hs.iter().map(|h| convert(h, kind, vm)).collect();
        let ts = ts?;
        let t = if op == "stack" {
            Tensor::stack(&ts, dim)
        } else {
            Tensor::cat(&ts, dim)
        }
        .map_err(|e| err(vm, e))?;
        Ok(handle(t, kind, hs.iter().any(|h| h.unseeded)))
    }

    /// `x[key]`: the key normalised by the Python layer into items.
    #[pyfunction]
    fn index(h: PyRef<Handle>, items: Vec<PyObjectRef>, vm: &VirtualMachine) -> PyResult<Handle> {
        let items = parse_items(items, vm)?;
        let (flat, shape, unseeded_index) =
            indexing::flat_indices(h.t.dims(), &items).map_err(|e| vm.new_index_error(e))?;
        check_elements(&shape, 8, vm)?;
        let idx = Tensor::from_vec(
            flat.iter().map(|&i| i as i64).collect::<Vec<_>>(),
            flat.len(),
            &cpu(),
        )
        .map_err(|e| err(vm, e))?;
        let t =
            h.t.flatten_all()
                .and_then(|t| t.index_select(&idx, 0))
                .and_then(|t| t.reshape(shape))
                .map_err(|e| err(vm, e))?;
        Ok(handle(t, h.kind, h.unseeded || unseeded_index))
    }

    /// `x[key] = value`: a new tensor with the indexed elements replaced.
    #[pyfunction]
    fn index_put(
        h: PyRef<Handle>,
        items: Vec<PyObjectRef>,
        value: PyRef<Handle>,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        let items = parse_items(items, vm)?;
        let (flat, shape, _) =
            indexing::flat_indices(h.t.dims(), &items).map_err(|e| vm.new_index_error(e))?;
        let v = convert(&value, h.kind, vm)?;
        let v = v.broadcast_as(shape.as_slice()).map_err(|_| {
            vm.new_runtime_error(format!("shape mismatch: value tensor of shape {:?} cannot be broadcast to indexing result of shape {:?}", value.t.dims(), shape))
        })?;
        let t = put(&h.t, &flat, &v).map_err(|e| err(vm, e))?;
        Ok(handle(t, h.kind, h.unseeded || value.unseeded))
    }

    fn put(t: &Tensor, flat: &[usize], v: &Tensor) -> candle_core::Result<Tensor> {
        let v = v.flatten_all()?;
        macro_rules! put_as {
            ($ty:ty) => {{
                let mut all = t.flatten_all()?.to_vec1::<$ty>()?;
                let new = v.to_vec1::<$ty>()?;
                for (&i, x) in flat.iter().zip(new) {
                    all[i] = x;
                }
                Tensor::from_vec(all, t.dims(), &Device::Cpu)
            }};
        }
        match t.dtype() {
            DType::F32 => put_as!(f32),
            DType::I64 => put_as!(i64),
            _ => put_as!(u8),
        }
    }

    fn parse_items(items: Vec<PyObjectRef>, vm: &VirtualMachine) -> PyResult<Vec<IndexItem>> {
        items
            .into_iter()
            .map(|item| {
                let parts = vm.extract_elements_with(&item, Ok)?;
                let [kind, a, b, c, t]: [PyObjectRef; 5] = parts
                    .try_into()
                    .map_err(|_| vm.new_type_error("a bad index item"))?;
                let kind = String::try_from_object(vm, kind)?;
                let (a, b, c) = (int_of(&a, vm)?, int_of(&b, vm)?, int_of(&c, vm)?);
                Ok(match kind.as_str() {
                    "int" => IndexItem::Int(a),
                    "slice" => IndexItem::Slice {
                        start: a,
                        stop: b,
                        step: c,
                    },
                    "new" => IndexItem::NewAxis,
                    _ => {
                        let h = t
                            .downcast::<Handle>()
                            .map_err(|_| vm.new_type_error("an index tensor was expected"))?;
                        let dims = h.t.dims().to_vec();
                        match h.kind {
                            Kind::Bool => IndexItem::Mask {
                                dims,
                                values: h
                                    .t
                                    .flatten_all()
                                    .and_then(|t| t.to_vec1::<u8>())
                                    .map_err(|e| err(vm, e))?
                                    .into_iter()
                                    .map(|x| x != 0)
                                    .collect(),
                                unseeded: h.unseeded,
                            },
                            Kind::Long => IndexItem::Tensor {
                                dims,
                                values: h
                                    .t
                                    .flatten_all()
                                    .and_then(|t| t.to_vec1::<i64>())
                                    .map_err(|e| err(vm, e))?,
                                unseeded: h.unseeded,
                            },
                            Kind::Float => return Err(vm.new_index_error(
                                "tensors used as indices must be long, int, byte or bool tensors",
                            )),
                        }
                    }
                })
            })
            .collect()
    }

    #[pyfunction]
    fn where_(
        cond: PyRef<Handle>,
        a: PyRef<Handle>,
        b: PyRef<Handle>,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        let kind = promoted(a.kind, b.kind);
        let shape = broadcast_shape(
            &broadcast_shape(cond.t.dims(), a.t.dims(), vm)?,
            b.t.dims(),
            vm,
        )?;
        check_elements(&shape, 8, vm)?;
        let c = convert(&cond, Kind::Bool, vm)?
            .broadcast_as(shape.as_slice())
            .map_err(|e| err(vm, e))?;
        let x = convert(&a, kind, vm)?
            .broadcast_as(shape.as_slice())
            .map_err(|e| err(vm, e))?;
        let y = convert(&b, kind, vm)?
            .broadcast_as(shape.as_slice())
            .map_err(|e| err(vm, e))?;
        let t = c.where_cond(&x, &y).map_err(|e| err(vm, e))?;
        Ok(handle(t, kind, cond.unseeded || a.unseeded || b.unseeded))
    }

    #[pyfunction]
    fn gather(
        h: PyRef<Handle>,
        dim: usize,
        index: PyRef<Handle>,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        let idx = index.t.contiguous().map_err(|e| err(vm, e))?;
        let t =
            h.t.contiguous()
                .and_then(|t| t.gather(&idx, dim))
                .map_err(|e| err(vm, e))?;
        Ok(handle(t, h.kind, h.unseeded || index.unseeded))
    }

    #[pyfunction]
    fn scatter(
        h: PyRef<Handle>,
        dim: usize,
        index: PyRef<Handle>,
        src: PyRef<Handle>,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        let src = convert(&src, h.kind, vm)?
            .broadcast_as(index.t.dims())
            .and_then(|s| s.contiguous())
            .map_err(|e| err(vm, e))?;
        let t =
            h.t.scatter(&index.t.contiguous().map_err(|e| err(vm, e))?, &src, dim)
                .map_err(|e| err(vm, e))?;
        Ok(handle(t, h.kind, h.unseeded || index.unseeded))
    }

    // ---- losses -------------------------------------------------------------------------------

    fn reduction(name: &str, vm: &VirtualMachine) -> PyResult<Reduction> {
        match name {
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            "none" => Ok(Reduction::None),
            other => Err(vm.new_value_error(format!("{other} is not a valid value for reduction"))),
        }
    }

    #[pyfunction]
    fn cross_entropy(
        input: PyRef<Handle>,
        target: PyRef<Handle>,
        weight: Option<PyRef<Handle>>,
        ignore_index: i64,
        reduction_name: String,
        label_smoothing: f64,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        read(&input);
        let opts = CrossEntropyOptions {
            weight: weight.as_ref().map(|w| w.t.clone()),
            ignore_index,
            label_smoothing,
            reduction: reduction(&reduction_name, vm)?,
        };
        let x = convert(&input, Kind::Float, vm)?;
        if target.kind == Kind::Long && label_smoothing == 0.0 && opts.reduction != Reduction::None
        {
            let logp =
                loss::log_softmax(&x, if x.rank() == 1 { 0 } else { 1 }).map_err(|e| err(vm, e))?;
            if let Some(t) = exact_nll(&logp, &target, &opts.weight, ignore_index, opts.reduction) {
                return Ok(handle(t, Kind::Float, input.unseeded || target.unseeded));
            }
        }
        let t = loss::cross_entropy(&x, &target.t, &opts).map_err(|e| err(vm, e))?;
        Ok(handle(t, Kind::Float, input.unseeded || target.unseeded))
    }

    #[pyfunction]
    fn nll_loss(
        input: PyRef<Handle>,
        target: PyRef<Handle>,
        weight: Option<PyRef<Handle>>,
        ignore_index: i64,
        reduction_name: String,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        read(&input);
        let opts = NllLossOptions {
            weight: weight.as_ref().map(|w| w.t.clone()),
            ignore_index,
            reduction: reduction(&reduction_name, vm)?,
        };
        if input.kind == Kind::Float
            && target.kind == Kind::Long
            && opts.reduction != Reduction::None
        {
            if let Some(t) = exact_nll(
                &input.t,
                &target,
                &opts.weight,
                ignore_index,
                opts.reduction,
            ) {
                return Ok(handle(t, Kind::Float, input.unseeded || target.unseeded));
            }
        }
        let t = loss::nll_loss(&input.t, &target.t, &opts).map_err(|e| err(vm, e))?;
        Ok(handle(t, Kind::Float, input.unseeded || target.unseeded))
    }

    /// PyTorch's own reduction of `nll_loss` over `(n, c)` or `(c)` log-probabilities no
    /// gradient flows through; `None` where the library's loss is the one to compute.
    fn exact_nll(
        logp: &Tensor,
        target: &Handle,
        weight: &Option<Tensor>,
        ignore_index: i64,
        reduction: Reduction,
    ) -> Option<Tensor> {
        if logp.track_op()
            || logp.rank() == 0
            || logp.rank() > 2
            || target.t.rank() + 1 != logp.rank()
        {
            return None;
        }
        let c = *logp.dims().last()?;
        let values = logp.flatten_all().ok()?.to_vec1::<f32>().ok()?;
        let targets = target.t.flatten_all().ok()?.to_vec1::<i64>().ok()?;
        if targets.len() * c != values.len() {
            return None;
        }
        let weight = match weight {
            Some(w) => Some(w.to_dtype(DType::F32).ok()?.to_vec1::<f32>().ok()?),
            None => None,
        };
        if weight.as_ref().is_some_and(|w| w.len() != c) {
            return None;
        }
        let value = super::nll::reduced(
            &values,
            c,
            &targets,
            weight.as_deref(),
            ignore_index,
            reduction == Reduction::Mean,
        )?;
        Tensor::new(value, &cpu()).ok()
    }

    #[pyfunction]
    fn one_hot(h: PyRef<Handle>, classes: i64, vm: &VirtualMachine) -> PyResult<Handle> {
        if h.kind != Kind::Long {
            return Err(vm.new_runtime_error(
                "one_hot is only applicable to index tensor of type LongTensor.",
            ));
        }
        let values =
            h.t.flatten_all()
                .and_then(|t| t.to_vec1::<i64>())
                .map_err(|e| err(vm, e))?;
        let classes = if classes < 0 {
            values.iter().max().map_or(0, |m| m + 1)
        } else {
            classes
        };
        if values.iter().any(|&v| v < 0 || v >= classes) {
            return Err(vm.new_runtime_error("Class values must be smaller than num_classes."));
        }
        let mut shape = h.t.dims().to_vec();
        shape.push(classes as usize);
        check_elements(&shape, 8, vm)?;
        let mut out = vec![0i64; values.len() * classes as usize];
        for (row, &v) in values.iter().enumerate() {
            out[row * classes as usize + v as usize] = 1;
        }
        let t = Tensor::from_vec(out, shape, &cpu()).map_err(|e| err(vm, e))?;
        Ok(handle(t, Kind::Long, h.unseeded))
    }

    /// Binary cross-entropy on probabilities, or on logits (`with_logits`), with PyTorch's
    /// clamp of the logarithms at -100.
    #[pyfunction]
    fn binary_cross_entropy(
        input: PyRef<Handle>,
        target: PyRef<Handle>,
        weight: Option<PyRef<Handle>>,
        pos_weight: Option<PyRef<Handle>>,
        reduction_name: String,
        with_logits: bool,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        read(&input);
        if input.t.dims() != target.t.dims() {
            return Err(vm.new_value_error(format!(
                "Using a target size ({:?}) that is different to the input size ({:?}) is deprecated. Please ensure they have the same size.",
                target.t.dims(),
                input.t.dims()
            )));
        }
        let x = convert(&input, Kind::Float, vm)?;
        let y = convert(&target, Kind::Float, vm)?;
        if !x.track_op() {
            let values = |t: &Tensor| -> PyResult<Vec<f32>> {
                t.broadcast_as(x.dims())
                    .and_then(|t| t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>())
                    .map_err(|e| err(vm, e))
            };
            let weights = weight.as_ref().map(|w| values(&w.t)).transpose()?;
            let pos_weights = pos_weight.as_ref().map(|w| values(&w.t)).transpose()?;
            let reduce = match reduction(&reduction_name, vm)? {
                Reduction::None => super::bce::Reduce::None,
                Reduction::Sum => super::bce::Reduce::Sum,
                Reduction::Mean => super::bce::Reduce::Mean,
            };
            let out = super::bce::loss(
                &values(&x)?,
                &values(&y)?,
                weights.as_deref(),
                pos_weights.as_deref(),
                with_logits,
                reduce,
            )
            .ok_or_else(|| {
                vm.new_runtime_error("all elements of input should be between 0 and 1")
            })?;
            let shape: Vec<usize> = if reduce == super::bce::Reduce::None {
                x.dims().to_vec()
            } else {
                vec![]
            };
            let t = Tensor::from_vec(out, shape, &cpu()).map_err(|e| err(vm, e))?;
            return Ok(handle(t, Kind::Float, input.unseeded || target.unseeded));
        }
        let per = if with_logits {
            // (1 - y)·x + (1 + (pw - 1)·y)·(log(1 + exp(-|x|)) + max(-x, 0)), PyTorch's form.
            let softplus = x
                .abs()
                .and_then(|a| a.neg()?.exp()?.affine(1.0, 1.0)?.log())
                .and_then(|l| l.add(&x.neg()?.relu()?));
            let scale = match &pos_weight {
                Some(pw) => y
                    .broadcast_mul(&pw.t.affine(1.0, -1.0).map_err(|e| err(vm, e))?)
                    .and_then(|d| d.affine(1.0, 1.0)),
                None => Tensor::ones_like(&y),
            };
            softplus.and_then(|s| y.affine(-1.0, 1.0)?.mul(&x)?.add(&scale?.mul(&s)?))
        } else {
            let log_p = x.log().and_then(|l| l.maximum(-100f64));
            let log_q = x.affine(-1.0, 1.0).and_then(|q| q.log()?.maximum(-100f64));
            log_p.and_then(|lp| {
                log_q.and_then(|lq| y.mul(&lp)?.add(&y.affine(-1.0, 1.0)?.mul(&lq)?)?.neg())
            })
        }
        .map_err(|e| err(vm, e))?;
        let per = match &weight {
            Some(w) => per.broadcast_mul(&w.t).map_err(|e| err(vm, e))?,
            None => per,
        };
        let t = match reduction(&reduction_name, vm)? {
            Reduction::None => Ok(per),
            Reduction::Sum => per.sum_all(),
            Reduction::Mean => per.mean_all(),
        }
        .map_err(|e| err(vm, e))?;
        Ok(handle(t, Kind::Float, input.unseeded || target.unseeded))
    }

    #[pyfunction]
    fn allclose(
        a: PyRef<Handle>,
        b: PyRef<Handle>,
        rtol: f64,
        atol: f64,
        vm: &VirtualMachine,
    ) -> PyResult<bool> {
        read(&a);
        read(&b);
        let shape = broadcast_shape(a.t.dims(), b.t.dims(), vm)?;
        let get = |h: &Handle| -> PyResult<Vec<f64>> {
            convert(h, Kind::Float, vm)?
                .broadcast_as(shape.as_slice())
                .and_then(|t| t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>())
                .map_err(|e| err(vm, e))
        };
        let (x, y) = (get(&a)?, get(&b)?);
        Ok(x.iter()
            .zip(&y)
            .all(|(x, y)| (x - y).abs() <= atol + rtol * y.abs() || x == y))
    }

    #[pyfunction]
    fn sgd_step(
        param: PyRef<Handle>,
        grad: PyRef<Handle>,
        lr: f64,
        vm: &VirtualMachine,
    ) -> PyResult<Handle> {
        let t = param
            .t
            .detach()
            .sub(&grad.t.affine(lr, 0.0).map_err(|e| err(vm, e))?)
            .map_err(|e| err(vm, e))?;
        let var = Var::from_tensor(&t).map_err(|e| err(vm, e))?;
        Ok(handle(var.as_tensor().clone(), Kind::Float, param.unseeded))
    }
}
