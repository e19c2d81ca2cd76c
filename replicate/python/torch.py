# The `torch` a notebook imports under `replicate`: PyTorch's Python surface over
# crossent's tensors (the native module `_torch`). Values, draws and printing are the
# library's; this file is the dispatch, the dtypes and the autograd bookkeeping.
import _torch

# This module defines max, min, sum, abs, … as PyTorch does; its own code uses Python's.
_max, _min, _any, _all, _int = max, min, any, all, int


class dtype:
    def __init__(self, name, is_floating_point):
        self._name = name
        self.is_floating_point = is_floating_point

    def __repr__(self):
        return "torch." + self._name


float32 = dtype("float32", True)
int64 = dtype("int64", False)
bool = dtype("bool", False)
float = float32
long = int64
_DTYPES = {"float32": float32, "int64": int64, "bool": bool}
_builtin_bool = type(True)
_builtin_float = type(1.0)
_builtin_int = type(1)


def _dtype_name(d):
    if d is None:
        return None
    if isinstance(d, dtype):
        return d._name
    if d is _builtin_float:
        return "float32"
    if d is _builtin_int:
        return "int64"
    if d is _builtin_bool:
        return "bool"
    raise TypeError(f"dtype {d!r} is not in the subset")


class Size(tuple):
    def __repr__(self):
        return "torch.Size([" + ", ".join(str(d) for d in self) + "])"

    __str__ = __repr__

    def numel(self):
        n = 1
        for d in self:
            n *= d
        return n


class _GradMode:
    enabled = True


class no_grad:
    def __enter__(self):
        self._previous = _GradMode.enabled
        _GradMode.enabled = False

    def __exit__(self, *exc):
        _GradMode.enabled = self._previous
        return False

    def __call__(self, f):
        def wrapped(*args, **kwargs):
            with no_grad():
                return f(*args, **kwargs)

        return wrapped


def is_grad_enabled():
    return _GradMode.enabled


def _wrap(h, grad_fn=None, inputs=()):
    t = object.__new__(Tensor)
    t._h = h
    t.grad = None
    t._leaf = True
    t.grad_fn = None
    t.requires_grad = False
    if grad_fn is not None and _GradMode.enabled:
        for x in inputs:
            if isinstance(x, Tensor) and x.requires_grad:
                t.requires_grad = True
                t._leaf = False
                t.grad_fn = _GradFn(grad_fn)
                break
    if not t.requires_grad and any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
        t._h = _torch.detach(h)
    return t


class _GradFn:
    def __init__(self, name):
        self._name = name

    def name(self):
        return self._name

    def __repr__(self):
        return f"<{self._name} object>"


def _flatten(data):
    """The values of nested lists, their shape and the dtype PyTorch would infer."""
    if isinstance(data, Tensor):
        return _torch.values(data._h), list(data.shape), _torch.dtype(data._h)
    if isinstance(data, (list, tuple)):
        if len(data) == 0:
            return [], [0], "float32"
        parts = [_flatten(x) for x in data]
        shape = parts[0][1]
        for p in parts:
            if p[1] != shape:
                raise ValueError(f"expected sequence of length {shape[0] if shape else 0} at dim 1 (got {p[1][0] if p[1] else 0})")
        values = []
        kinds = set()
        for p in parts:
            values.extend(p[0])
            kinds.add(p[2])
        kind = "float32" if "float32" in kinds else ("int64" if "int64" in kinds else "bool")
        return values, [len(data)] + shape, kind
    if isinstance(data, _builtin_bool):
        return [data], [], "bool"
    if isinstance(data, _builtin_int):
        return [data], [], "int64"
    if isinstance(data, _builtin_float):
        return [data], [], "float32"
    if isinstance(data, range):
        return _flatten(list(data))
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def tensor(data, dtype=None, requires_grad=False, device=None):
    values, shape, kind = _flatten(data)
    name = _dtype_name(dtype) or kind
    t = _wrap(_torch.from_values(values, shape, name))
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor) and dtype is None:
        return data
    return tensor(data, dtype=dtype)


def _as_tensor_like(x, other_kind):
    """A Python scalar as the 0-d tensor PyTorch's type promotion makes of it."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, _builtin_bool):
        return _wrap(_torch.from_values([x], [], "bool"))
    if isinstance(x, _builtin_int):
        return _wrap(_torch.from_values([x], [], "float32" if other_kind == "float32" else "int64"))
    if isinstance(x, _builtin_float):
        return _wrap(_torch.from_values([x], [], "float32"))
    raise TypeError(f"unsupported operand type: {type(x).__name__}")


def _shape_args(size):
    if len(size) == 1 and isinstance(size[0], (list, tuple)):
        size = tuple(size[0])
    out = []
    for d in size:
        d = _index_value(d)
        if d < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {d}: {list(size)}")
        out.append(d)
    return out


def _index_value(d):
    if isinstance(d, Tensor):
        return d.item()
    if isinstance(d, _builtin_bool) or not isinstance(d, _builtin_int):
        raise TypeError(f"expected an int, got {type(d).__name__}")
    return d


def _created(h, requires_grad):
    t = _wrap(h)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, dtype=None, requires_grad=False, device=None):
    return _created(_torch.full(_shape_args(size), 0.0, _dtype_name(dtype) or "float32"), requires_grad)


def ones(*size, dtype=None, requires_grad=False, device=None):
    return _created(_torch.full(_shape_args(size), 1.0, _dtype_name(dtype) or "float32"), requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False, device=None):
    kind = _dtype_name(dtype) or ("float32" if isinstance(fill_value, _builtin_float) else ("bool" if isinstance(fill_value, _builtin_bool) else "int64"))
    return _created(_torch.full(_shape_args((size,)), _builtin_float(fill_value), kind), requires_grad)


def empty(*size, dtype=None, requires_grad=False, device=None):
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)


def zeros_like(t, dtype=None):
    return zeros(*t.shape, dtype=dtype or t.dtype)


def ones_like(t, dtype=None):
    return ones(*t.shape, dtype=dtype or t.dtype)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    all_int = all(isinstance(v, _builtin_int) for v in (start, end, step))
    name = _dtype_name(dtype) or ("int64" if all_int else "float32")
    return _created(_torch.arange(_builtin_float(start), _builtin_float(end), _builtin_float(step), name), requires_grad)


def linspace(start, end, steps, dtype=None, device=None):
    return _wrap(_torch.linspace(_builtin_float(start), _builtin_float(end), steps))


def manual_seed(seed):
    _torch.manual_seed(_int(seed))
    return _Generator()


def seed():
    raise RuntimeError("torch.seed is not in the subset (it seeds from the machine's entropy)")


def initial_seed():
    return _torch.initial_seed()


class _Generator:
    """The default generator, as `torch.manual_seed` returns it."""

    def __repr__(self):
        return "<torch._C.Generator at 0x…>"

    def manual_seed(self, s):
        return manual_seed(s)

    def initial_seed(self):
        return initial_seed()


class Generator:
    """A generator of the notebook's own (`torch.Generator()`), drawn as PyTorch's."""

    def __init__(self, device="cpu"):
        self._id = _torch.generator_new()

    def manual_seed(self, seed):
        _torch.generator_seed(self._id, _int(seed))
        return self

    def initial_seed(self):
        return _torch.generator_initial_seed(self._id)

    def __repr__(self):
        return "<torch._C.Generator at 0x…>"


default_generator = _Generator()


def _gen(generator):
    if generator is None or isinstance(generator, _Generator):
        return None
    return generator._id


def randn(*size, dtype=None, requires_grad=False, generator=None, device=None):
    return _created(_torch.randn(_shape_args(size), _gen(generator)), requires_grad)


def rand(*size, dtype=None, requires_grad=False, generator=None, device=None):
    return _created(_torch.rand(_shape_args(size), _gen(generator)), requires_grad)


def randn_like(t, dtype=None):
    return randn(*t.shape)


def rand_like(t, dtype=None):
    return rand(*t.shape)


def eye(n, m=None, dtype=None):
    m = n if m is None else m
    out = zeros(n, m, dtype=dtype)
    for i in range(_min(n, m)):
        out[i, i] = 1
    return out


def randint(low, high=None, size=None, dtype=None, generator=None, device=None):
    if size is None and isinstance(high, (tuple, list, Size)):
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing 1 required positional argument: 'size'")
    t = _wrap(_torch.randint(low, high, _shape_args((size,)), _gen(generator)))
    return t if dtype is None or _dtype_name(dtype) == "int64" else t.to(dtype)


def randperm(n, dtype=None, generator=None, device=None):
    return _wrap(_torch.randperm(n, _gen(generator)))


def normal(mean, std, size=None, generator=None, out=None):
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        raise TypeError("torch.normal with tensor mean or std is not in the subset")
    if size is None:
        raise TypeError("normal() needs a size when mean and std are numbers")
    return _wrap(_torch.normal(_builtin_float(mean), _builtin_float(std), _shape_args((size,)), _gen(generator)))


def _tensor_from_handle_pair(pair, name, grad_fn, inputs):
    values, indices = pair
    return return_types._make(name, _wrap(values, grad_fn, inputs), _wrap(indices))


class _ReturnTypes:
    class _Result(tuple):
        def __new__(cls, name, values, indices):
            t = tuple.__new__(cls, (values, indices))
            t._name = name
            t.values = values
            t.indices = indices
            return t

        def __repr__(self):
            return f"torch.return_types.{self._name}(\nvalues={self.values!r},\nindices={self.indices!r})"

    def _make(self, name, values, indices):
        return self._Result(name, values, indices)


return_types = _ReturnTypes()


def _dim(d, rank):
    if rank == 0 and d in (0, -1):
        return 0
    if d < -rank or d >= _max(rank, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of [{-_max(rank, 1)}, {_max(rank, 1) - 1}], but got {d})")
    return d + rank if d < 0 else d


_GRAD_FN = {
    "add": "AddBackward0", "sub": "SubBackward0", "mul": "MulBackward0", "div": "DivBackward0",
    "pow": "PowBackward0", "matmul": "MmBackward0", "maximum": "MaximumBackward0", "minimum": "MinimumBackward0",
    "exp": "ExpBackward0", "log": "LogBackward0", "log2": "Log2Backward0", "sigmoid": "SigmoidBackward0",
    "sqrt": "SqrtBackward0", "tanh": "TanhBackward0", "relu": "ReluBackward0", "neg": "NegBackward0",
    "abs": "AbsBackward0", "clone": "CloneBackward0", "log1p": "Log1PBackward0", "contiguous": None,
}


def _binary(op, a, b):
    kind_a = _torch.dtype(a._h) if isinstance(a, Tensor) else None
    kind_b = _torch.dtype(b._h) if isinstance(b, Tensor) else None
    a = _as_tensor_like(a, kind_b)
    b = _as_tensor_like(b, kind_a)
    return _wrap(_torch.binary(op, a._h, b._h), _GRAD_FN.get(op), (a, b))


class Tensor:
    def __new__(cls, *args):
        # torch.Tensor([...]) is a float32 tensor of the data; torch.Tensor(2, 3) one of
        # that size (PyTorch leaves it unset; zeros here).
        if len(args) == 1 and isinstance(args[0], (list, tuple, range)):
            return tensor(args[0], dtype=float32)
        return zeros(*args)

    def __init__(self, *args):
        pass

    # ---- what it is
    @property
    def shape(self):
        return Size(_torch.shape(self._h))

    def size(self, dim=None):
        s = self.shape
        return s if dim is None else s[_dim(dim, len(s))]

    def dim(self):
        return len(self.shape)

    ndim = property(dim)

    def numel(self):
        return self.shape.numel()

    nelement = numel

    def __len__(self):
        s = self.shape
        if not s:
            raise TypeError("len() of a 0-d tensor")
        return s[0]

    @property
    def dtype(self):
        return _DTYPES[_torch.dtype(self._h)]

    @property
    def is_leaf(self):
        return self._leaf

    @property
    def device(self):
        return device("cpu")

    @property
    def data(self):
        view = _wrap(_torch.detach(self._h))
        view._owner = self
        return view

    @data.setter
    def data(self, value):
        self._replace(_torch.detach(value._h))

    @property
    def T(self):
        return self.t()

    def is_floating_point(self):
        return self.dtype is float32

    # ---- printing
    def __repr__(self):
        suffixes = []
        if self.grad_fn is not None:
            suffixes.append("grad_fn=<" + _grad_fn_printed(self.grad_fn._name) + ">")
        elif self.requires_grad:
            suffixes.append("requires_grad=True")
        return _torch.repr(self._h, suffixes)

    __str__ = __repr__

    def __format__(self, spec):
        if self.dim() == 0:
            return format(self.item(), spec)
        return format(repr(self), spec)

    # ---- values
    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return _torch.values(self._h)[0]

    def tolist(self):
        values = _torch.values(self._h)
        shape = list(self.shape)
        if not shape:
            return values[0]

        def build(offset, dims):
            if len(dims) == 1:
                return values[offset:offset + dims[0]]
            step = 1
            for d in dims[1:]:
                step *= d
            return [build(offset + i * step, dims[1:]) for i in range(dims[0])]

        return build(0, shape)

    def __float__(self):
        return _builtin_float(self.item())

    def __int__(self):
        return _builtin_int(self.item())

    def __index__(self):
        if self.dtype is float32:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return _builtin_int(self.item())

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return _builtin_bool(self.item())

    def __iter__(self):
        return iter([self[i] for i in range(len(self))])

    def __hash__(self):
        return id(self)

    # ---- conversions
    def to(self, *args, **kwargs):
        target = kwargs.get("dtype")
        for a in args:
            if isinstance(a, dtype):
                target = a
        if target is None:
            return self
        return _wrap(_torch.to_dtype(self._h, target._name), "ToCopyBackward0", (self,))

    def float(self):
        return self.to(float32)

    def long(self):
        return self.to(int64)

    def int(self):
        return self.to(int64)

    def bool(self):
        return self.to(bool)

    def double(self):
        raise TypeError("torch.float64 is not in the subset")

    def cpu(self):
        return self

    def cuda(self, *args, **kwargs):
        return self

    def numpy(self):
        raise TypeError("Tensor.numpy is not in the subset")

    def detach(self):
        return _wrap(_torch.detach(self._h))

    def clone(self):
        return _wrap(_torch.unary("clone", self._h), "CloneBackward0", (self,))

    def contiguous(self):
        return self

    def type(self, t=None):
        if t is None:
            return {"float32": "torch.FloatTensor", "int64": "torch.LongTensor", "bool": "torch.BoolTensor"}[_torch.dtype(self._h)]
        raise TypeError("Tensor.type(dtype) is not in the subset")

    # ---- autograd
    def requires_grad_(self, requires_grad=True):
        if requires_grad and not self.requires_grad:
            if not self._leaf:
                raise RuntimeError("you can only change requires_grad flags of leaf variables.")
            self._h = _torch.leaf(self._h)
            _leaves.append(self)
        self.requires_grad = requires_grad
        return self

    def backward(self, gradient=None, retain_graph=None):
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if gradient is not None:
            root = (self * gradient).sum()
        else:
            if self.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            root = self
        grads = _torch.backward(root._h)
        for leaf in list(_leaves):
            if not leaf.requires_grad:
                continue
            g = _torch.grad_of(grads, leaf._h)
            if g is None:
                continue
            g = _wrap(g)
            leaf.grad = g if leaf.grad is None else _wrap(_torch.binary("add", leaf.grad._h, g._h))

    def zero_(self):
        self._replace(_torch.full(list(self.shape), 0.0, _torch.dtype(self._h)))
        return self

    # ---- arithmetic
    def __add__(self, o): return _binary("add", self, o)
    def __radd__(self, o): return _binary("add", o, self)
    def __sub__(self, o): return _binary("sub", self, o)
    def __rsub__(self, o): return _binary("sub", o, self)
    def __mul__(self, o): return _binary("mul", self, o)
    def __rmul__(self, o): return _binary("mul", o, self)
    def __truediv__(self, o): return _binary("div", self, o)
    def __rtruediv__(self, o): return _binary("div", o, self)
    def __pow__(self, o): return _binary("pow", self, o)
    def __rpow__(self, o): return _binary("pow", o, self)
    def __mod__(self, o): return _binary("rem", self, o)
    def __rmod__(self, o): return _binary("rem", o, self)
    def __floordiv__(self, o): return _binary("floordiv", self, o)
    def __rfloordiv__(self, o): return _binary("floordiv", o, self)
    def __matmul__(self, o): return _binary("matmul", self, o)
    def __rmatmul__(self, o): return _binary("matmul", o, self)
    def __eq__(self, o): return _binary("eq", self, o)
    def __ne__(self, o): return _binary("ne", self, o)
    def __lt__(self, o): return _binary("lt", self, o)
    def __le__(self, o): return _binary("le", self, o)
    def __gt__(self, o): return _binary("gt", self, o)
    def __ge__(self, o): return _binary("ge", self, o)
    def __and__(self, o): return _wrap(_torch.binary("and", self._h, _as_tensor_like(o, "bool")._h))
    def __or__(self, o): return _wrap(_torch.binary("or", self._h, _as_tensor_like(o, "bool")._h))
    def __xor__(self, o): return _wrap(_torch.binary("xor", self._h, _as_tensor_like(o, "bool")._h))
    def __neg__(self): return self._unary("neg")
    def __pos__(self): return self
    def __abs__(self): return self._unary("abs")

    def __invert__(self):
        if self.dtype is not bool:
            raise TypeError("~ on a non-bool tensor is not in the subset")
        return _wrap(_torch.unary("not", self._h))

    def _replace(self, h):
        """Gives the tensor new values in place: a leaf that requires grad stays one, and
        a `.data` view writes through to the tensor it views."""
        if self.requires_grad and self._leaf:
            h = _torch.leaf(_torch.detach(h))
        self._h = h
        owner = self.__dict__.get("_owner")
        if owner is not None:
            owner._replace(_torch.detach(h))

    def _inplace(self, op, o):
        if self.requires_grad and self._leaf and _GradMode.enabled:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        result = _binary(op, self, o)
        if not (self.requires_grad and self._leaf):
            self.grad_fn, self.requires_grad = result.grad_fn, result.requires_grad or self.requires_grad
        self._replace(_torch.to_dtype(result._h, _torch.dtype(self._h)))
        return self

    def __iadd__(self, o): return self._inplace("add", o)
    def __isub__(self, o): return self._inplace("sub", o)
    def __imul__(self, o): return self._inplace("mul", o)
    def __itruediv__(self, o): return self._inplace("div", o)

    def add_(self, o, alpha=1): return self._inplace("add", o * alpha if alpha != 1 else o)
    def sub_(self, o, alpha=1): return self._inplace("sub", o * alpha if alpha != 1 else o)
    def mul_(self, o): return self._inplace("mul", o)
    def div_(self, o): return self._inplace("div", o)

    def add(self, o): return self + o
    def sub(self, o): return self - o
    def mul(self, o): return self * o
    def div(self, o): return self / o
    def pow(self, o): return self ** o
    def matmul(self, o): return self @ o
    def mm(self, o): return self @ o
    def eq(self, o): return self == o
    def ne(self, o): return self != o
    def lt(self, o): return self < o
    def gt(self, o): return self > o
    def le(self, o): return self <= o
    def ge(self, o): return self >= o

    # ---- pointwise
    def _unary(self, op):
        return _wrap(_torch.unary(op, self._h), _GRAD_FN.get(op), (self,))

    def exp(self): return self._unary("exp")
    def log(self): return self._unary("log")
    def log2(self): return self._unary("log2")
    def log1p(self): return self._unary("log1p")
    def sigmoid(self): return self._unary("sigmoid")
    def sqrt(self): return self._unary("sqrt")
    def tanh(self): return self._unary("tanh")
    def relu(self): return self._unary("relu")
    def neg(self): return self._unary("neg")
    def abs(self): return self._unary("abs")
    def isnan(self): return _wrap(_torch.unary("isnan", self._h))

    def clamp(self, min=None, max=None):
        return _wrap(_torch.clamp(self._h, None if min is None else _builtin_float(min), None if max is None else _builtin_float(max)), "ClampBackward1", (self,))

    clip = clamp

    def clamp_min(self, m):
        return self.clamp(min=m)

    # ---- reductions
    def _dims(self, dim):
        if dim is None:
            return None
        if isinstance(dim, (list, tuple)):
            return sorted(_dim(d, self.dim()) for d in dim)
        return [_dim(dim, self.dim())]

    def sum(self, dim=None, keepdim=False, dtype=None, axis=None, keepdims=False):
        dim, keepdim = (axis if dim is None else dim), keepdim or keepdims
        x = self.to(dtype) if dtype is not None else self
        return _wrap(_torch.sum_mean("sum", x._h, x._dims(dim), keepdim), "SumBackward" + ("0" if dim is None else "1"), (self,))

    def mean(self, dim=None, keepdim=False, dtype=None, axis=None, keepdims=False):
        dim, keepdim = (axis if dim is None else dim), keepdim or keepdims
        return _wrap(_torch.sum_mean("mean", self._h, self._dims(dim), keepdim), "MeanBackward" + ("0" if dim is None else "1"), (self,))

    def _extreme(self, op, dim, keepdim):
        if dim is None:
            values, _ = _torch.extreme(op, self._h, None, False)
            return _wrap(values, op.capitalize() + "Backward1", (self,))
        pair = _torch.extreme(op, self._h, _dim(dim, self.dim()), keepdim)
        return _tensor_from_handle_pair(pair, op, op.capitalize() + "Backward0", (self,))

    def max(self, dim=None, keepdim=False):
        if isinstance(dim, Tensor):
            return _binary("maximum", self, dim)
        return self._extreme("max", dim, keepdim)

    def min(self, dim=None, keepdim=False):
        if isinstance(dim, Tensor):
            return _binary("minimum", self, dim)
        return self._extreme("min", dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        if dim is None:
            return _wrap(_torch.extreme("max", self._h, None, False)[1])
        return _wrap(_torch.extreme("max", self._h, _dim(dim, self.dim()), keepdim)[1])

    def argmin(self, dim=None, keepdim=False):
        if dim is None:
            return _wrap(_torch.extreme("min", self._h, None, False)[1])
        return _wrap(_torch.extreme("min", self._h, _dim(dim, self.dim()), keepdim)[1])

    def softmax(self, dim):
        return _wrap(_torch.softmax("softmax", self._h, _dim(dim, self.dim())), "SoftmaxBackward0", (self,))

    def log_softmax(self, dim):
        return _wrap(_torch.softmax("log_softmax", self._h, _dim(dim, self.dim())), "LogSoftmaxBackward0", (self,))

    def logsumexp(self, dim, keepdim=False):
        d = _dim(dim, self.dim())
        out = _wrap(_torch.softmax("logsumexp", self._h, d), "LogsumexpBackward0", (self,))
        return out.unsqueeze(d) if keepdim else out

    def sort(self, dim=-1, descending=False):
        pair = _torch.sort(self._h, _dim(dim, self.dim()), descending)
        return _tensor_from_handle_pair(pair, "sort", "SortBackward0", (self,))

    def topk(self, k, dim=-1, largest=True):
        values, indices = self.sort(dim, descending=largest)
        d = _dim(dim, self.dim())
        key = [slice(None)] * d + [slice(0, k)]
        return return_types._make("topk", values[tuple(key)], indices[tuple(key)])

    def all(self):
        return _wrap(_torch.to_dtype(_torch.sum_mean("sum", _torch.unary("not", self.bool()._h), None, False), "bool")) == False

    def any(self):
        return _wrap(_torch.to_dtype(_torch.sum_mean("sum", self.bool().long()._h, None, False), "bool"))

    # ---- shapes
    def _resolved(self, shape):
        shape = list(_shape_args_allowing_minus_one(shape))
        n = self.numel()
        if shape.count(-1) > 1:
            raise RuntimeError("only one dimension can be inferred")
        if -1 in shape:
            known = 1
            for d in shape:
                if d != -1:
                    known *= d
            if known == 0 or n % known:
                raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {n}")
            shape[shape.index(-1)] = n // known
        return shape

    def view(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], dtype):
            raise TypeError("view(dtype) is not in the subset")
        return _wrap(_torch.reshape(self._h, self._resolved(shape)), "ViewBackward0", (self,))

    def reshape(self, *shape):
        return _wrap(_torch.reshape(self._h, self._resolved(shape)), "ReshapeAliasBackward0", (self,))

    def view_as(self, other):
        return self.view(*other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        s = list(self.shape)
        if not s:
            return self.reshape(1)
        a, b = _dim(start_dim, len(s)), _dim(end_dim, len(s))
        n = 1
        for d in s[a:b + 1]:
            n *= d
        return self.reshape(*(s[:a] + [n] + s[b + 1:]))

    def unsqueeze(self, dim):
        s = list(self.shape)
        d = dim + len(s) + 1 if dim < 0 else dim
        if d < 0 or d > len(s):
            raise IndexError(f"Dimension out of range (expected to be in range of [{-len(s)-1}, {len(s)}], but got {dim})")
        return _wrap(_torch.reshape(self._h, s[:d] + [1] + s[d:]), "UnsqueezeBackward0", (self,))

    def squeeze(self, dim=None):
        s = list(self.shape)
        if dim is None:
            new = [d for d in s if d != 1]
        else:
            d = _dim(dim, len(s))
            new = s[:d] + s[d + 1:] if s and s[d] == 1 else s
        return _wrap(_torch.reshape(self._h, new), "SqueezeBackward0", (self,))

    def permute(self, *dims):
        if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
            dims = dims[0]
        return _wrap(_torch.permute(self._h, [_dim(d, self.dim()) for d in dims]), "PermuteBackward0", (self,))

    def transpose(self, a, b):
        order = list(range(self.dim()))
        a, b = _dim(a, self.dim()), _dim(b, self.dim())
        order[a], order[b] = order[b], order[a]
        return _wrap(_torch.permute(self._h, order), "TransposeBackward0", (self,))

    def t(self):
        if self.dim() > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.dim()}D")
        if self.dim() < 2:
            return self
        return _wrap(_torch.permute(self._h, [1, 0]), "TBackward0", (self,))

    def expand(self, *shape):
        shape = _shape_args_allowing_minus_one(shape)
        own = list(self.shape)
        target = [own[i - len(shape) + len(own)] if d == -1 else d for i, d in enumerate(shape)]
        return self + zeros(*target, dtype=self.dtype)

    def repeat(self, *counts):
        raise TypeError("Tensor.repeat is not in the subset")

    # ---- indexing
    def __getitem__(self, key):
        return _wrap(_torch.index(self._h, _index_items(self, key)), "IndexBackward0", (self,))

    def __setitem__(self, key, value):
        value = _as_tensor_like(value, _torch.dtype(self._h))
        self._replace(_torch.index_put(self._h, _index_items(self, key), value._h))

    def gather(self, dim, index):
        return _wrap(_torch.gather(self._h, _dim(dim, self.dim()), index._h), "GatherBackward0", (self,))

    def scatter_(self, dim, index, src=None, value=None):
        if src is None:
            src = value
        src = _as_tensor_like(src, _torch.dtype(self._h))
        self._replace(_torch.scatter(self._h, _dim(dim, self.dim()), index._h, src._h))
        return self

    def scatter(self, dim, index, src=None, value=None):
        return self.clone().scatter_(dim, index, src, value)

    def masked_fill(self, mask, value):
        return where(mask, _as_tensor_like(value, _torch.dtype(self._h)), self)

    def uniform_(self, a=0.0, b=1.0, generator=None):
        self._replace(_torch.uniform(list(self.shape), _builtin_float(a), _builtin_float(b), _gen(generator)))
        return self

    def normal_(self, mean=0.0, std=1.0, generator=None):
        self._replace(_torch.normal(_builtin_float(mean), _builtin_float(std), list(self.shape), _gen(generator)))
        return self

    def random_(self, low=None, high=None, generator=None):
        if low is None:
            raise TypeError("Tensor.random_() without bounds is not in the subset")
        if high is None:
            low, high = 0, low
        drawn = _torch.randint(_int(low), _int(high), list(self.shape), _gen(generator))
        self._replace(_torch.to_dtype(drawn, _torch.dtype(self._h)))
        return self

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        # An in-place form (`exp_`, `clamp_`, …) of a method the subset has.
        if name.endswith("_") and name[:-1] in Tensor.__dict__:
            method = getattr(self, name[:-1])

            def in_place(*args, **kwargs):
                result = method(*args, **kwargs)
                self._replace(_torch.to_dtype(result._h, _torch.dtype(self._h)))
                return self

            return in_place
        raise AttributeError(f"Tensor.{name} is not in the subset")

    def fill_(self, value):
        self._replace(_torch.full(list(self.shape), _builtin_float(value), _torch.dtype(self._h)))
        return self

    def allclose(self, other, rtol=1e-05, atol=1e-08):
        return allclose(self, other, rtol, atol)

    def equal(self, other):
        return equal(self, other)


def _shape_args_allowing_minus_one(size):
    if len(size) == 1 and isinstance(size[0], (list, tuple)):
        size = tuple(size[0])
    return [_index_value(d) for d in size]


def _index_items(t, key):
    """A key as `_torch.index` items: (kind, a, b, c, tensor)."""
    if not isinstance(key, tuple):
        key = (key,)
    shape = list(t.shape)
    consumed = 0
    for k in key:
        if k is None or k is Ellipsis:
            continue
        if isinstance(k, Tensor) and k.dtype is bool:
            consumed += k.dim()
        else:
            consumed += 1
    items = []
    dim = 0
    for k in key:
        if k is Ellipsis:
            skip = len(shape) - consumed
            for _ in range(skip):
                items.append(("slice", 0, shape[dim], 1, None))
                dim += 1
            continue
        if k is None:
            items.append(("new", 0, 0, 0, None))
            continue
        if dim >= len(shape):
            raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
        if isinstance(k, _builtin_bool):
            raise IndexError("indexing with a Python bool is not in the subset")
        if isinstance(k, _builtin_int):
            items.append(("int", k, 0, 0, None))
            dim += 1
        elif isinstance(k, slice):
            start, stop, step = k.indices(shape[dim])
            if step <= 0:
                raise ValueError("step must be greater than zero")
            items.append(("slice", start, stop, step, None))
            dim += 1
        elif isinstance(k, Tensor):
            if k.dtype is bool:
                items.append(("tensor", 0, 0, 0, k._h))
                dim += k.dim()
            elif k.dtype is int64 and k.dim() == 0:
                items.append(("int", k.item(), 0, 0, None))
                dim += 1
            else:
                items.append(("tensor", 0, 0, 0, k._h))
                dim += 1
        elif isinstance(k, (list, range, tuple)):
            items.append(("tensor", 0, 0, 0, tensor(list(k), dtype=bool if k and all(isinstance(v, _builtin_bool) for v in k) else int64)._h))
            dim += 1
        else:
            raise IndexError(f"indexing with {type(k).__name__} is not in the subset")
    return items


class device:
    def __init__(self, name="cpu"):
        self.type = str(name).split(":")[0]

    def __repr__(self):
        return f"device(type='{self.type}')"


class cuda:
    @staticmethod
    def is_available():
        return False

    @staticmethod
    def device_count():
        return 0


_leaves = []


def _grad_fn_printed(name):
    return _torch.grad_fn_name(name)


# ---- functions of tensors
def _t(x):
    return x if isinstance(x, Tensor) else tensor(x)


pi = 3.141592653589793
e = 2.718281828459045
inf = _builtin_float("inf")
nan = _builtin_float("nan")


def square(x): return _t(x) * _t(x)


def xlogy(x, y):
    """x·log(y), and 0 where x is 0 (whatever y is)."""
    x, y = _t(x), _t(y)
    return where(x == 0, 0.0, x * y.log())
def exp(x): return _t(x).exp()
def log(x): return _t(x).log()
def log2(x): return _t(x).log2()
def log1p(x): return _t(x).log1p()
def sigmoid(x): return _t(x).sigmoid()
def sqrt(x): return _t(x).sqrt()
def tanh(x): return _t(x).tanh()
def relu(x): return _t(x).relu()
def abs(x): return _t(x).abs()
def neg(x): return -_t(x)
def isnan(x): return _t(x).isnan()
def clamp(x, min=None, max=None): return _t(x).clamp(min, max)
def sum(x, dim=None, keepdim=False, dtype=None): return _t(x).sum(dim, keepdim, dtype)
def mean(x, dim=None, keepdim=False, dtype=None): return _t(x).mean(dim, keepdim, dtype)
def max(x, dim=None, keepdim=False): return _t(x).max(dim, keepdim)
def min(x, dim=None, keepdim=False): return _t(x).min(dim, keepdim)
def argmax(x, dim=None, keepdim=False): return _t(x).argmax(dim, keepdim)
def argmin(x, dim=None, keepdim=False): return _t(x).argmin(dim, keepdim)
def softmax(x, dim, dtype=None): return _t(x).softmax(dim)
def log_softmax(x, dim, dtype=None): return _t(x).log_softmax(dim)
def logsumexp(x, dim, keepdim=False): return _t(x).logsumexp(dim, keepdim)
def sort(x, dim=-1, descending=False): return _t(x).sort(dim, descending)
def topk(x, k, dim=-1, largest=True): return _t(x).topk(k, dim, largest)
def matmul(a, b): return _t(a) @ _t(b)
def mm(a, b): return _t(a) @ _t(b)
def add(a, b): return _binary("add", a, b)
def sub(a, b): return _binary("sub", a, b)
def mul(a, b): return _binary("mul", a, b)
def div(a, b): return _binary("div", a, b)
def pow(a, b): return _binary("pow", a, b)
def eq(a, b): return _binary("eq", a, b)
def maximum(a, b): return _binary("maximum", a, b)
def minimum(a, b): return _binary("minimum", a, b)
def reshape(x, shape): return _t(x).reshape(shape)
def flatten(x, start_dim=0, end_dim=-1): return _t(x).flatten(start_dim, end_dim)
def squeeze(x, dim=None): return _t(x).squeeze(dim)
def unsqueeze(x, dim): return _t(x).unsqueeze(dim)
def transpose(x, a, b): return _t(x).transpose(a, b)
def t(x): return _t(x).t()
def gather(x, dim, index): return _t(x).gather(dim, index)
def numel(x): return _t(x).numel()
def is_tensor(x): return isinstance(x, Tensor)
def zeros_like_(x): return zeros_like(x)


def where(condition, a=None, b=None):
    if a is None and b is None:
        raise TypeError("torch.where(condition) is not in the subset")
    kinds = [_torch.dtype(v._h) for v in (a, b) if isinstance(v, Tensor)]
    kind = "float32" if "float32" in kinds else (kinds[0] if kinds else None)
    a, b = _as_tensor_like(a, kind), _as_tensor_like(b, kind)
    return _wrap(_torch.where_(condition._h, a._h, b._h), "WhereBackward0", (a, b))


def stack(tensors, dim=0):
    tensors = list(tensors)
    d = _dim(dim, tensors[0].dim() + 1) if tensors else 0
    return _wrap(_torch.join("stack", [x._h for x in tensors], d), "StackBackward0", tensors)


def cat(tensors, dim=0):
    tensors = [x for x in tensors]
    d = _dim(dim, tensors[0].dim()) if tensors else 0
    return _wrap(_torch.join("cat", [x._h for x in tensors], d), "CatBackward0", tensors)


concat = cat


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return _torch.allclose(_t(a)._h, _t(b)._h, rtol, atol)


def isclose(a, b, rtol=1e-05, atol=1e-08):
    a, b = _t(a), _t(b)
    return ((a - b).abs() <= atol + rtol * b.abs())


def equal(a, b):
    return a.shape == b.shape and _builtin_bool((a == b).all())


set_printoptions = _torch.set_printoptions

FloatTensor = lambda data: tensor(data, dtype=float32)
LongTensor = lambda data: tensor(data, dtype=int64)
