//! PyTorch-identical printing of candle tensors.
//!
//! Follows the rules of PyTorch 2.x's `torch/_tensor_str.py` with the default print
//! options (precision 4, threshold 1000, edge items 3, line width 80): one formatter
//! per tensor decides between integer mode (`1.`), fixed (`0.8541`) and scientific
//! (`-3.5634e+00`) notation and a common width; rows wrap at 80 columns with
//! continuation indentation; tensors above 1000 elements are summarised with `...`.
//!
//! The device is never printed (the notebooks ran on the CPU), so a chapter prints the
//! same text on every device.

use anyhow::{bail, Result};
use candle_core::{DType, Tensor};

pub mod conventions;
mod module;
mod sequence;

pub use conventions::Conventions;
pub use module::ModuleRepr;
pub use sequence::{displayed_sequence, list, size, tuple};

/// PyTorch's default print options.
const PRECISION: usize = 4;
const THRESHOLD: usize = 1000;
const EDGE_ITEMS: usize = 3;
const LINE_WIDTH: usize = 80;

/// The element values of a tensor, read back to the host.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Floating-point values; `f32`, `f16` and `bf16` convert to `f64` exactly.
    Float(Vec<f64>),
    /// Integer values (`i64`, `u32`, `u8`).
    Int(Vec<i64>),
    /// Boolean values.
    Bool(Vec<bool>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Float(v) => v.len(),
            Values::Int(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    fn pick(&self, indices: &[usize]) -> Values {
        match self {
            Values::Float(v) => Values::Float(indices.iter().map(|&i| v[i]).collect()),
            Values::Int(v) => Values::Int(indices.iter().map(|&i| v[i]).collect()),
            Values::Bool(v) => Values::Bool(indices.iter().map(|&i| v[i]).collect()),
        }
    }
}

/// A tensor as PyTorch would see it: shape, values in row-major order and dtype name.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, in row-major order.
    pub values: Values,
    /// PyTorch's name of the dtype, e.g. `torch.float32`.
    pub dtype: &'static str,
}

impl HostTensor {
    /// A float32 tensor (PyTorch's default dtype) from values already in `f64`.
    pub fn float32(shape: &[usize], values: Vec<f64>) -> Self {
        Self::new(shape, Values::Float(values), "torch.float32")
    }

    /// An int64 tensor (`torch.long`).
    pub fn int64(shape: &[usize], values: Vec<i64>) -> Self {
        Self::new(shape, Values::Int(values), "torch.int64")
    }

    /// A bool tensor.
    pub fn bool(shape: &[usize], values: Vec<bool>) -> Self {
        Self::new(shape, Values::Bool(values), "torch.bool")
    }

    /// A tensor of `shape` with these values and PyTorch's dtype name; the values must fill the shape.
    pub fn new(shape: &[usize], values: Values, dtype: &'static str) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            values.len(),
            "shape and value count disagree"
        );
        Self {
            shape: shape.to_vec(),
            values,
            dtype,
        }
    }

    /// Reads a candle tensor back to the host with PyTorch's name of its dtype.
    pub fn from_tensor(t: &Tensor) -> Result<Self> {
        let shape = t.dims().to_vec();
        let flat = t.flatten_all()?;
        let (values, dtype) = match t.dtype() {
            DType::F32 => (float_values(&flat)?, "torch.float32"),
            DType::F64 => (float_values(&flat)?, "torch.float64"),
            DType::F16 => (float_values(&flat)?, "torch.float16"),
            DType::BF16 => (float_values(&flat)?, "torch.bfloat16"),
            DType::I64 => (Values::Int(flat.to_vec1::<i64>()?), "torch.int64"),
            DType::U8 | DType::U32 | DType::I16 | DType::I32 => {
                let name = match t.dtype() {
                    DType::U8 => "torch.uint8",
                    DType::U32 => "torch.uint32",
                    DType::I16 => "torch.int16",
                    _ => "torch.int32",
                };
                let ints = flat.to_dtype(DType::I64)?.to_vec1::<i64>()?;
                (Values::Int(ints), name)
            }
            other => bail!("printing a {other:?} tensor is not supported"),
        };
        Ok(Self {
            shape,
            values,
            dtype,
        })
    }

    fn numel(&self) -> usize {
        self.values.len()
    }

    /// `torch.float32`, `torch.int64` and `torch.bool` are printed without a dtype suffix.
    fn has_default_dtype(&self) -> bool {
        matches!(self.dtype, "torch.float32" | "torch.int64" | "torch.bool")
    }
}

fn float_values(flat: &Tensor) -> Result<Values> {
    Ok(Values::Float(flat.to_dtype(DType::F64)?.to_vec1::<f64>()?))
}

/// `repr(t)` of a candle tensor, as PyTorch prints it.
///
/// ```
/// use candle_core::{Device, Tensor};
/// use crossent::pt::repr;
///
/// let t = Tensor::new(&[[1.3877f32, -1.2656], [0.0, 100.0]], &Device::Cpu)?;
/// assert_eq!(repr(&t)?, "tensor([[  1.3877,  -1.2656],\n        [  0.0000, 100.0000]])");
/// let small = Tensor::new(&[1e-5f32, 1.0], &Device::Cpu)?;
/// assert_eq!(repr(&small)?, "tensor([1.0000e-05, 1.0000e+00])");
/// let labels = Tensor::new(&[5i64, 0, 4], &Device::Cpu)?;
/// assert_eq!(repr(&labels)?, "tensor([5, 0, 4])");
/// let half = Tensor::new(&[0.5f32, 1.0], &Device::Cpu)?.to_dtype(candle_core::DType::F16)?;
/// assert_eq!(repr(&half)?, "tensor([0.5000, 1.0000], dtype=torch.float16)");
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn repr(t: &Tensor) -> Result<String> {
    Ok(repr_host(&HostTensor::from_tensor(t)?))
}

/// `repr(t)` of a tensor that PyTorch would print with an autograd note, such as
/// `grad_fn=<NllLossBackward>` (candle keeps no such names; the chapter gives the one
/// the notebook showed).
pub fn repr_with_grad_fn(t: &Tensor, grad_fn: &str) -> Result<String> {
    Ok(repr_host_with(
        &HostTensor::from_tensor(t)?,
        &[format!("grad_fn=<{}>", conventions::grad_fn_name(grad_fn))],
    ))
}

/// `repr(t)` of a tensor of 0/1 values that PyTorch would hold as `torch.bool`
/// (candle's comparisons return `u8`).
pub fn repr_bool(t: &Tensor) -> Result<String> {
    let host = HostTensor::from_tensor(t)?;
    let bools = match &host.values {
        Values::Int(v) => v.iter().map(|&x| x != 0).collect(),
        Values::Float(v) => v.iter().map(|&x| x != 0.0).collect(),
        Values::Bool(v) => v.clone(),
    };
    Ok(repr_host(&HostTensor::bool(&host.shape, bools)))
}

/// `repr` of a host tensor: the whole of PyTorch's `_str_intern` for a dense CPU tensor.
pub fn repr_host(t: &HostTensor) -> String {
    repr_host_with(t, &[])
}

/// `repr_host` with further suffixes after the dtype (`grad_fn=<...>`).
pub fn repr_host_with(t: &HostTensor, extra_suffixes: &[String]) -> String {
    const PREFIX: &str = "tensor(";
    let indent = PREFIX.len();
    let mut suffixes = Vec::new();
    let body = if t.numel() == 0 {
        if t.shape.len() != 1 {
            let dims: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
            suffixes.push(format!("size={}", tuple(&dims)));
        }
        if t.dtype != "torch.float32" {
            suffixes.push(format!("dtype={}", t.dtype));
        }
        "[]".to_string()
    } else {
        if !t.has_default_dtype() {
            suffixes.push(format!("dtype={}", t.dtype));
        }
        tensor_str(t, indent)
    };
    suffixes.extend(extra_suffixes.iter().cloned());
    add_suffixes(format!("{PREFIX}{body}"), &suffixes, indent)
}

fn add_suffixes(tensor_str: String, suffixes: &[String], indent: usize) -> String {
    let mut out = tensor_str;
    // Python: len(s) - s.rfind("\n") + 1, with rfind giving -1 when there is no newline.
    let mut last_line_len = match out.rfind('\n') {
        Some(pos) => out.len() - pos + 1,
        None => out.len() + 2,
    };
    for suffix in suffixes {
        if last_line_len + suffix.len() + 2 > LINE_WIDTH {
            out.push_str(&format!(",\n{}{suffix}", " ".repeat(indent)));
            last_line_len = indent + suffix.len();
        } else {
            out.push_str(&format!(", {suffix}"));
            last_line_len += suffix.len() + 2;
        }
    }
    out.push(')');
    out
}

fn tensor_str(t: &HostTensor, indent: usize) -> String {
    let summarize = t.numel() > THRESHOLD;
    let formatter = if summarize {
        Formatter::new(&t.values.pick(&summarized_indices(&t.shape)))
    } else {
        Formatter::new(&t.values)
    };
    let strides = strides(&t.shape);
    format_dims(t, &formatter, 0, 0, &strides, indent, summarize)
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    strides
}

/// The flat indices of the elements PyTorch's `get_summarized_data` keeps: the first and
/// last `EDGE_ITEMS` along every dimension longer than `2 * EDGE_ITEMS`.
fn summarized_indices(shape: &[usize]) -> Vec<usize> {
    let strides = strides(shape);
    let mut out = Vec::new();
    collect_summarized(shape, &strides, 0, 0, &mut out);
    out
}

fn collect_summarized(
    shape: &[usize],
    strides: &[usize],
    dim: usize,
    offset: usize,
    out: &mut Vec<usize>,
) {
    if dim == shape.len() {
        out.push(offset);
        return;
    }
    for i in edge_positions(shape[dim], true) {
        collect_summarized(shape, strides, dim + 1, offset + i * strides[dim], out);
    }
}

/// The positions printed along a dimension of length `len`, without the `...`.
fn edge_positions(len: usize, summarize: bool) -> Vec<usize> {
    if summarize && len > 2 * EDGE_ITEMS {
        (0..EDGE_ITEMS).chain(len - EDGE_ITEMS..len).collect()
    } else {
        (0..len).collect()
    }
}

fn format_dims(
    t: &HostTensor,
    formatter: &Formatter,
    dim: usize,
    offset: usize,
    strides: &[usize],
    indent: usize,
    summarize: bool,
) -> String {
    let rank = t.shape.len();
    if rank == 0 {
        return formatter.format(&t.values, 0);
    }
    let len = t.shape[dim];
    let elided = summarize && len > 2 * EDGE_ITEMS;
    if dim + 1 == rank {
        return vector_str(t, formatter, offset, len, elided, indent);
    }
    let mut slices: Vec<String> = Vec::new();
    for (k, i) in edge_positions(len, summarize).into_iter().enumerate() {
        if elided && k == EDGE_ITEMS {
            slices.push("...".to_string());
        }
        let child_offset = offset + i * strides[dim];
        slices.push(format_dims(
            t,
            formatter,
            dim + 1,
            child_offset,
            strides,
            indent + 1,
            summarize,
        ));
    }
    let separator = format!(",{}{}", "\n".repeat(rank - dim - 1), " ".repeat(indent + 1));
    format!("[{}]", slices.join(&separator))
}

fn vector_str(
    t: &HostTensor,
    formatter: &Formatter,
    offset: usize,
    len: usize,
    elided: bool,
    indent: usize,
) -> String {
    let element_length = formatter.max_width + 2;
    let elements_per_line = (LINE_WIDTH.saturating_sub(indent) / element_length).max(1);
    let mut data = Vec::new();
    for (k, i) in edge_positions(len, elided).into_iter().enumerate() {
        if elided && k == EDGE_ITEMS {
            data.push(" ...".to_string());
        }
        data.push(formatter.format(&t.values, offset + i));
    }
    let lines: Vec<String> = data
        .chunks(elements_per_line)
        .map(|line| line.join(", "))
        .collect();
    let separator = format!(",\n{}", " ".repeat(indent + 1));
    format!("[{}]", lines.join(&separator))
}

/// PyTorch's `_Formatter`: one notation and width for all elements of a tensor.
struct Formatter {
    floating: bool,
    int_mode: bool,
    sci_mode: bool,
    max_width: usize,
}

impl Formatter {
    fn new(values: &Values) -> Self {
        let mut f = Formatter {
            floating: matches!(values, Values::Float(_)),
            int_mode: true,
            sci_mode: false,
            max_width: 1,
        };
        match values {
            Values::Int(v) => {
                f.max_width = v.iter().map(|x| x.to_string().len()).max().unwrap_or(1);
            }
            Values::Bool(v) => {
                f.max_width = v.iter().map(|&x| py_bool(x).len()).max().unwrap_or(1);
            }
            Values::Float(v) => {
                let finite: Vec<f64> = v
                    .iter()
                    .copied()
                    .filter(|x| x.is_finite() && *x != 0.0)
                    .collect();
                if finite.is_empty() {
                    return f;
                }
                let abs_min = finite.iter().map(|x| x.abs()).fold(f64::INFINITY, f64::min);
                let abs_max = finite.iter().map(|x| x.abs()).fold(0.0, f64::max);
                f.int_mode = finite.iter().all(|x| *x == x.ceil());
                let wide_range = abs_max / abs_min > 1000.0 || abs_max > 1.0e8;
                f.sci_mode = if f.int_mode {
                    wide_range
                } else {
                    wide_range || abs_min < 1.0e-4
                };
                f.max_width = finite
                    .iter()
                    .map(|&x| {
                        if f.sci_mode {
                            py_sci(x, PRECISION).len()
                        } else if f.int_mode {
                            py_fixed(x, 0).len() + 1
                        } else {
                            py_fixed(x, PRECISION).len()
                        }
                    })
                    .max()
                    .unwrap_or(1);
            }
        }
        f
    }

    fn format(&self, values: &Values, index: usize) -> String {
        let text = match values {
            Values::Int(v) => v[index].to_string(),
            Values::Bool(v) => py_bool(v[index]).to_string(),
            Values::Float(v) => {
                debug_assert!(self.floating);
                let x = v[index];
                if self.sci_mode {
                    py_sci(x, PRECISION)
                } else if self.int_mode {
                    let mut s = py_fixed(x, 0);
                    if x.is_finite() {
                        s.push('.');
                    }
                    s
                } else {
                    py_fixed(x, PRECISION)
                }
            }
        };
        format!("{text:>width$}", width = self.max_width)
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// Python's spelling of a non-finite float (`nan`, `inf`, `-inf`).
fn py_nonfinite(x: f64) -> Option<String> {
    if x.is_nan() {
        Some("nan".into())
    } else if x.is_infinite() {
        Some(if x > 0.0 { "inf" } else { "-inf" }.into())
    } else {
        None
    }
}

/// Python's `f"{x:.{precision}f}"`.
pub fn py_fixed(x: f64, precision: usize) -> String {
    py_nonfinite(x).unwrap_or_else(|| format!("{x:.precision$}"))
}

/// Python's `f"{x:.{precision}e}"`: at least two exponent digits, always signed.
pub fn py_sci(x: f64, precision: usize) -> String {
    if let Some(s) = py_nonfinite(x) {
        return s;
    }
    let rust = format!("{x:.precision$e}");
    let (mantissa, exponent) = rust.split_once('e').expect("LowerExp always has an 'e'");
    let exponent: i32 = exponent.parse().expect("LowerExp exponent is an integer");
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_number_formats() {
        assert_eq!(py_sci(-3.5634, 4), "-3.5634e+00");
        assert_eq!(py_sci(1.0e-5, 4), "1.0000e-05");
        assert_eq!(py_sci(1.5e120, 2), "1.50e+120");
        assert_eq!(py_fixed(-0.0, 4), "-0.0000");
        assert_eq!(py_fixed(f64::NAN, 4), "nan");
        assert_eq!(py_fixed(f64::NEG_INFINITY, 0), "-inf");
        // Python rounds the exact binary value half to even: 0.125 -> '0.12'.
        assert_eq!(py_fixed(0.125, 2), "0.12");
        assert_eq!(py_fixed(2.5, 0), "2");
    }

    #[test]
    fn summarized_indices_keep_edges() {
        let idx = summarized_indices(&[10]);
        assert_eq!(idx, vec![0, 1, 2, 7, 8, 9]);
        let idx = summarized_indices(&[7, 2]);
        assert_eq!(idx, vec![0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13]);
    }
}
