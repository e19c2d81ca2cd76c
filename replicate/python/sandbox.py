# The sandbox every notebook cell runs in: imports only from the subset (this file's
# _MODULES), no files, processes or sockets (the interpreter is built without them; this
# removes the names that would say so less clearly), output captured and bounded, and
# each cell analysed before it runs for what it needs outside the subset.
import builtins
import sys
import _torch
import math

_MODULES = {"_torch": _torch, "math": math}
_OUTPUT_LIMIT = 1 << 20


class OutputLimitExceeded(Exception):
    pass


class _Stream:
    def __init__(self):
        self.parts = []
        self.size = 0

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.size += len(text)
        if self.size > _OUTPUT_LIMIT:
            raise OutputLimitExceeded("the cell printed more than 1 MiB")
        self.parts.append(text)
        return len(text)

    def flush(self):
        pass

    def take(self):
        text = "".join(self.parts)
        self.parts = []
        self.size = 0
        return text


sys.stdout = _Stream()
sys.stderr = _Stream()


class Absent(type(sys)):
    """A module outside the subset: importing it binds this stand-in, so that the rest of
    its cell runs; anything taken from it is absent too, and using one is refused."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Absent(f"{self.__name__}.{name}")

    def __call__(self, *args, **kwargs):
        raise TypeError(f"{self.__name__} is not in the subset")

    def __repr__(self):
        return f"<{self.__name__}, not in the subset>"


def _fastai_star(name):
    """What `from fastai… import *` gives that the subset has: fastai re-exports torch,
    its `tensor`, `nn` and `F`; numpy and matplotlib come as stand-ins."""
    torch = _MODULES["torch"]
    star = type(sys)(name)

    def tensor(x, *rest, **kwargs):
        return torch.tensor(list((x,) + rest) if rest else x, **kwargs)

    star.torch, star.tensor, star.nn, star.F, star.math = torch, tensor, torch.nn, torch.nn.functional, math
    star.np, star.plt = Absent("numpy"), Absent("matplotlib.pyplot")
    star.__all__ = ["torch", "tensor", "nn", "F", "math", "np", "plt"]
    return star


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if level:
        raise ImportError("relative imports are not in the subset")
    if name not in _MODULES:
        if fromlist and "*" in fromlist and name.partition(".")[0] == "fastai":
            return _fastai_star(name)
        return Absent(name if fromlist else name.partition(".")[0])
    if fromlist:
        module = _MODULES[name]
        for item in fromlist:
            if item != "*" and not hasattr(module, item) and f"{name}.{item}" not in _MODULES:
                raise ImportError(f"{name}.{item} is not in the subset")
        return module
    return _MODULES[name.partition(".")[0]]


# Builtins that reach outside the interpreter (or wait for a person) are not in the subset.
_REMOVED = ("open", "input", "breakpoint", "help", "exit", "quit", "copyright", "credits", "license")
for _name in _REMOVED:
    if hasattr(builtins, _name):
        delattr(builtins, _name)


def _warn(message, category=None, stacklevel=1):
    category = category or UserWarning
    sys.stderr.write(f"{category.__name__}: {message}\n")


warnings = type(sys)("warnings")
warnings.warn = _warn
warnings.filterwarnings = lambda *a, **k: None
warnings.simplefilter = lambda *a, **k: None
_MODULES["warnings"] = warnings


def _walk(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        for field in getattr(n, "_fields", ()):
            v = getattr(n, field, None)
            if isinstance(v, list):
                stack.extend(x for x in v if hasattr(x, "_fields"))
            elif hasattr(v, "_fields"):
                stack.append(v)


def _module_of(node, bound):
    """The subset module an expression names (`torch`, `torch.nn`, `F`), or None."""
    kind = type(node).__name__
    if kind == "Name":
        m = bound.get(node.id)
        return m if isinstance(m, type(sys)) else None
    if kind == "Attribute":
        base = _module_of(node.value, bound)
        if isinstance(base, Absent):
            return getattr(base, node.attr)
        if base is not None:
            m = getattr(base, node.attr, None)
            return m if isinstance(m, type(sys)) else None
    return None


def analyse(tree, namespace):
    """What the cell needs that the subset lacks (or None), the names it reads and the
    names it binds."""
    bound = dict(namespace)
    missing = None
    loads, stores, imports, arguments, absent = [], [], [], [], []
    nodes = list(_walk(tree))
    for n in nodes:
        kind = type(n).__name__
        if kind == "Import":
            for alias in n.names:
                if alias.name not in _MODULES:
                    name = alias.asname or alias.name.partition(".")[0]
                    bound[name] = Absent(alias.name if alias.asname else name)
                    stores.append(name)
                    imports.append(name)
                    absent.append(alias.name)
                    continue
                name = alias.asname or alias.name.partition(".")[0]
                bound[name] = _MODULES[alias.name] if alias.asname else _MODULES[name]
                stores.append(name)
                imports.append(name)
        elif kind == "ImportFrom":
            module = _MODULES.get(n.module or "")
            for alias in n.names:
                name = alias.asname or alias.name
                stores.append(name)
                if module is None:
                    bound[name] = Absent(f"{n.module}.{alias.name}")
                    imports.append(name)
                    if n.module not in absent:
                        absent.append(n.module)
                elif alias.name != "*" and not hasattr(module, alias.name):
                    missing = missing or f"{n.module}.{alias.name} is not in the subset"
                elif alias.name != "*":
                    bound[name] = getattr(module, alias.name)
                    imports.append(name)
        elif kind == "Name":
            (stores if type(n.ctx).__name__ in ("Store", "Del") else loads).append(n.id)
        elif kind == "arg":
            arguments.append(n.arg)
        elif kind in ("FunctionDef", "ClassDef", "AsyncFunctionDef"):
            stores.append(n.name)
    for name in loads:
        if isinstance(bound.get(name), Absent) and name not in stores and name not in arguments:
            missing = missing or f"{bound[name].__name__} is not in the subset"
        if name in _REMOVED and name not in bound and name not in stores and name not in arguments:
            missing = missing or f"{name} is not in the subset (the sandbox has no files and no console)"
    for n in nodes:
        if type(n).__name__ == "Attribute":
            base = _module_of(n.value, bound)
            if isinstance(base, Absent):
                missing = missing or f"{base.__name__}.{n.attr} is not in the subset"
            elif base is not None and not hasattr(base, n.attr):
                missing = missing or f"{base.__name__}.{n.attr} is not in the subset"
    # The line the cell's value starts on, when its last statement is an expression.
    last = tree.body[-1] if tree.body else None
    shows_value = [last.lineno, last.col_offset] if type(last).__name__ == "Expr" else [0, 0]
    return missing, loads, stores, imports, absent, shows_value


def run_imports(tree, namespace):
    """Runs only the top-level import statements of a cell that is not run."""
    for node in tree.body:
        if type(node).__name__ in ("Import", "ImportFrom"):
            module = type(tree)(body=[node], type_ignores=[])
            exec(compile(module, "<imports>", "exec"), namespace)


def parse(source, name):
    return compile(source, name, "exec", 0x400)


_SHOWN_DRAWS = []


def take_shown_draw():
    shown = _SHOWN_DRAWS[0] if _SHOWN_DRAWS else None
    _SHOWN_DRAWS.clear()
    return shown


def display(value):
    """The text Jupyter shows for a cell's value: IPython's layout of tuples and lists."""
    t = type(value)
    handle = getattr(value, "_h", None)
    if type(handle).__name__ == "Handle":
        drawn = _torch.draw_of(handle)
        if drawn is not None:
            _SHOWN_DRAWS.append(drawn)
    if t is tuple:
        return _torch.displayed_sequence("tuple", [display(v) for v in value])
    if t is list:
        return _torch.displayed_sequence("list", [display(v) for v in value])
    if t is dict:
        return "{" + ", ".join(f"{display(k)}: {display(v)}" for k, v in value.items()) + "}"
    if t is type(display):
        shown = _function(value)
        if shown is not None:
            return shown
    if t is type and getattr(value, "__module__", None) == "__main__":
        return f"__main__.{value.__qualname__}"
    return _without_addresses(repr(value))


def _function(f):
    """A function as IPython's pretty printer shows it: `<function __main__.f(x, y=2)>`."""
    try:
        code = f.__code__
        names = list(code.co_varnames)
        positional = names[: code.co_argcount]
        keyword_only = names[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
        rest = code.co_argcount + code.co_kwonlyargcount
        defaults = f.__defaults__ or ()
        parts = []
        for i, name in enumerate(positional):
            k = i - (len(positional) - len(defaults))
            parts.append(f"{name}={defaults[k]!r}" if k >= 0 else name)
        if code.co_flags & 4:
            parts.append("*" + names[rest])
            rest += 1
        elif keyword_only:
            parts.append("*")
        kw_defaults = f.__kwdefaults__ or {}
        for name in keyword_only:
            parts.append(f"{name}={kw_defaults[name]!r}" if name in kw_defaults else name)
        if code.co_flags & 8:
            parts.append("**" + names[rest])
        return f"<function {f.__module__}.{f.__qualname__}({', '.join(parts)})>"
    except Exception:
        return None


def _without_addresses(text):
    """`<function f at 0x7f…>` with its address hidden: it is that run's memory, and two
    runs must print the same bytes."""
    out, rest = [], text
    while " at 0x" in rest:
        head, _, tail = rest.partition(" at 0x")
        digits = 0
        while digits < len(tail) and tail[digits] in "0123456789abcdef":
            digits += 1
        out.append(head + " at 0x…")
        rest = tail[digits:]
    return "".join(out) + rest


_stdout, _stderr = sys.stdout, sys.stderr


def take_output():
    return _stdout.take(), _stderr.take()


def _ipython_display(*objects):
    """IPython's `display`: each object's text as a display output of the cell."""
    for value in objects:
        text = display(value)
        if _stdout.parts and not _stdout.parts[-1].endswith("\n"):
            _stdout.write("\n")
        _stdout.write(text + "\n")


def install_import():
    builtins.__import__ = _import
    builtins.display = _ipython_display
