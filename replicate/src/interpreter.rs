//! The interpreter process: RustPython with `torch` (the native `_torch` under the
//! embedded Python of `python/`), the sandbox installed, reading cells on stdin and
//! answering each with what it did. It holds no file, process or socket capability (the
//! VM is built without `host_env`), and its address space is capped so that a runaway
//! allocation ends it rather than the machine.

use crate::native;
use crate::protocol::{CellReply, CellRequest, Recovered, ShownDraw, Start};
use anyhow::{Context, Result};
use crossent::random::recover::history::{CacheUse, Gap};
use crossent::random::recover::PrintedDraw;
use crossent::random::Generator;
use rustpython_vm::builtins::{PyBaseExceptionRef, PyModule};
use rustpython_vm::compiler::Mode;
use rustpython_vm::scope::Scope;
use rustpython_vm::{AsObject, Interpreter, PyRef, PyResult, VirtualMachine};
use std::collections::HashMap;
use std::io::{BufRead, Write};

const SANDBOX: &str = include_str!("../python/sandbox.py");
/// The embedded `torch` package, in the order its modules are executed.
const TORCH: [(&str, &str); 4] = [
    ("torch", include_str!("../python/torch.py")),
    (
        "torch.nn.functional",
        include_str!("../python/nn_functional.py"),
    ),
    ("torch.nn", include_str!("../python/nn.py")),
    ("torch.optim", include_str!("../python/optim.py")),
];

/// The interpreter's stack: RustPython recurses on the native stack, a frame per call.
const STACK_BYTES: usize = 512 << 20;
/// What the process may map beyond the tensor cap (the interpreter, candle, the stack).
pub const ADDRESS_SPACE_MARGIN: u64 = 3 << 30;

/// Runs the interpreter process: the start line, then one reply line per cell line,
/// until stdin closes.
pub fn serve() -> Result<()> {
    let mut first = String::new();
    std::io::stdin()
        .read_line(&mut first)
        .context("no start line")?;
    let start: Start = serde_json::from_str(&first).context("a bad start line")?;
    limit_address_space(start.tensor_cap_bytes + ADDRESS_SPACE_MARGIN);
    let worker = std::thread::Builder::new()
        .stack_size(STACK_BYTES)
        .spawn(move || run(start))
        .context("starting the interpreter thread")?;
    worker
        .join()
        .map_err(|_| anyhow::anyhow!("the interpreter thread panicked"))?
}

fn limit_address_space(bytes: u64) {
    #[cfg(unix)]
    // SAFETY: setrlimit only lowers this process's own limit.
    unsafe {
        let limit = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: bytes,
        };
        libc::setrlimit(libc::RLIMIT_AS, &limit);
    }
}

/// An interpreter with `torch` and the sandbox set up, and the notebook's namespace.
pub struct Session {
    interpreter: Interpreter,
    sandbox: PyRef<PyModule>,
    namespace: Scope,
}

impl Session {
    /// A fresh interpreter: `torch` loaded, the sandbox's import installed.
    pub fn new(start: &Start) -> Result<Self> {
        native::set_memory_cap(start.tensor_cap_bytes);
        crossent::pt::conventions::set(start.conventions);
        if let Some(recovered) = &start.recovered {
            let (seed, schedule) = schedule(recovered);
            native::recover(seed, schedule);
        }
        let builder = Interpreter::builder(Default::default());
        let math = rustpython_stdlib::stdlib_module_defs(&builder.ctx)
            .into_iter()
            .find(|d| d.name.as_str() == "math")
            .context("RustPython's math module is missing")?;
        let native_def = native::module_def(&builder.ctx);
        let interpreter = builder
            .add_native_module(math)
            .add_native_module(native_def)
            .build();
        let (sandbox, namespace) = interpreter
            .enter(|vm| -> PyResult<_> {
                let sandbox = load(vm, "sandbox", SANDBOX)?;
                let modules = sandbox.as_object().get_attr("_MODULES", vm)?;
                let mut loaded: Vec<PyRef<PyModule>> = Vec::new();
                for (name, _) in TORCH {
                    let module = vm.new_module(name, vm.ctx.new_dict(), None);
                    modules.set_item(name, module.clone().into(), vm)?;
                    loaded.push(module);
                }
                for ((name, _), module) in TORCH.iter().zip(&loaded) {
                    if let Some((parent, child)) = name.rsplit_once('.') {
                        let parent = modules.get_item(parent, vm)?;
                        parent.set_attr(vm.ctx.intern_str(child), module.clone(), vm)?;
                    }
                }
                sandbox
                    .as_object()
                    .get_attr("install_import", vm)?
                    .call((), vm)?;
                for ((name, source), module) in TORCH.iter().zip(&loaded) {
                    exec_in(vm, name, source, module)?;
                }
                let namespace = vm.new_scope_with_builtins();
                namespace
                    .globals
                    .set_item("__name__", vm.ctx.new_str("__main__").into(), vm)?;
                Ok((sandbox, namespace))
            })
            .map_err(|e| {
                anyhow::anyhow!(
                    "setting up torch failed: {}",
                    interpreter.enter(|vm| exception_line(vm, &e))
                )
            })?;
        Ok(Self {
            interpreter,
            sandbox,
            namespace,
        })
    }

    /// Runs one cell.
    pub fn run_cell(&self, request: &CellRequest) -> CellReply {
        self.interpreter.enter(|vm| {
            let mut reply = CellReply::default();
            if let Err(e) = self.cell(vm, request, &mut reply) {
                reply.error = Some(exception_line(vm, &e));
            }
            let globals = &self.namespace.globals;
            reply
                .imported
                .retain(|name| globals.contains_key(name.as_str(), vm));
            let flags = native::take_cell_flags();
            reply.read_unseeded_draws = flags.read_unseeded_draws;
            reply.changed_print_options = flags.changed_print_options;
            if let Ok(shown) = self
                .sandbox
                .as_object()
                .get_attr("take_shown_draw", vm)
                .and_then(|f| f.call((), vm))
            {
                reply.shown_draw = shown_draw(vm, shown).ok().flatten();
            }
            if let Ok(out) = self
                .sandbox
                .as_object()
                .get_attr("take_output", vm)
                .and_then(|f| f.call((), vm))
            {
                if let Ok([stdout, stderr]) = strings(vm, out).as_deref() {
                    reply.stdout = stdout.clone();
                    reply.stderr = stderr.clone();
                }
            }
            reply
        })
    }

    fn cell(
        &self,
        vm: &VirtualMachine,
        request: &CellRequest,
        reply: &mut CellReply,
    ) -> PyResult<()> {
        let sandbox = self.sandbox.as_object();
        let tree = sandbox
            .get_attr("parse", vm)?
            .call((request.source.as_str(), request.name.as_str()), vm)?;
        let analysis = sandbox
            .get_attr("analyse", vm)?
            .call((tree.clone(), self.namespace.globals.clone()), vm)?;
        let parts = vm.extract_elements_with(&analysis, Ok)?;
        let [missing, loads, stores, imports, absent, shows_value]: [_; 6] = parts
            .try_into()
            .map_err(|_| vm.new_type_error("a bad analysis"))?;
        let value_at = vm.extract_elements_with(&shows_value, |o| usize::try_from_object(vm, o))?;
        let (value_line, value_column) = (
            value_at.first().copied().unwrap_or(0),
            value_at.get(1).copied().unwrap_or(0),
        );
        let missing = Option::<String>::try_from_object(vm, missing)?;
        let (loads, stores) = (strings(vm, loads)?, strings(vm, stores)?);
        reply.stores = stores.clone();
        reply.imported = strings(vm, imports)?;
        reply.absent_imports = strings(vm, absent)?;
        if let Some(missing) = missing {
            // Its imports still bind their modules (nothing else runs), so that the
            // cells after it that need only those are not held back.
            sandbox
                .get_attr("run_imports", vm)?
                .call((tree, self.namespace.globals.clone()), vm)?;
            reply.not_run = Some(missing);
            return Ok(());
        }
        let mut needed: Vec<(&String, usize)> = loads
            .iter()
            .filter(|n| !stores.contains(n))
            .filter_map(|n| request.unavailable.get(n).map(|&cell| (n, cell)))
            .collect();
        needed.sort();
        needed.dedup();
        if let Some(&(_, cell)) = needed.first() {
            let names: Vec<String> = needed
                .iter()
                .filter(|(_, c)| *c == cell)
                .map(|(n, _)| format!("`{n}`"))
                .collect();
            reply.not_run = Some(format!(
                "depends on cell {cell}, which did not run ({})",
                names.join(", ")
            ));
            return Ok(());
        }
        // The statements, then the last one's value on its own, as IPython runs a cell
        // (RustPython's block-expression mode loses a lone string's value).
        let (statements, expression) =
            split_at_value(&request.source, value_line, value_column, request.quiet);
        let run = |source: &str, mode: Mode| -> PyResult {
            let code = vm
                .compile(source, mode, request.name.clone())
                .map_err(|e| vm.new_syntax_error(&e, Some(source)))?;
            vm.run_code_obj(code, self.namespace.clone())
        };
        run(&statements, Mode::Exec)?;
        if expression.trim().is_empty() {
            return Ok(());
        }
        let value = run(&expression, Mode::Eval)?;
        if !vm.is_none(&value) {
            let shown = sandbox.get_attr("display", vm)?.call((value,), vm)?;
            reply.value = Some(shown.str(vm)?.to_string());
        }
        Ok(())
    }
}

use rustpython_vm::convert::TryFromObject;

/// A cell's source cut where its value's expression starts (line from 1, column in
/// bytes): the statements before, and the expression; all statements when it shows none.
fn split_at_value(source: &str, line: usize, column: usize, quiet: bool) -> (String, String) {
    if line == 0 || quiet {
        return (source.to_string(), String::new());
    }
    let mut offset = 0;
    for (i, text) in source.split('\n').enumerate() {
        if i + 1 == line {
            let at = (offset + column).min(source.len());
            if source.is_char_boundary(at) {
                return (source[..at].to_string(), source[at..].to_string());
            }
            break;
        }
        offset += text.len() + 1;
    }
    (source.to_string(), String::new())
}

fn strings(vm: &VirtualMachine, sequence: rustpython_vm::PyObjectRef) -> PyResult<Vec<String>> {
    vm.extract_elements_with(&sequence, |o| String::try_from_object(vm, o))
}

fn load(vm: &VirtualMachine, name: &str, source: &str) -> PyResult<PyRef<PyModule>> {
    let module = vm.new_module(name, vm.ctx.new_dict(), None);
    exec_in(vm, name, source, &module)?;
    Ok(module)
}

fn exec_in(
    vm: &VirtualMachine,
    name: &str,
    source: &str,
    module: &PyRef<PyModule>,
) -> PyResult<()> {
    let code = vm
        .compile(source, Mode::Exec, format!("<{name}>"))
        .map_err(|e| vm.new_syntax_error(&e, Some(source)))?;
    let dict = module.as_object().dict().expect("a module has a dict");
    vm.run_code_obj(code, Scope::with_builtins(None, dict, vm))?;
    Ok(())
}

fn shown_draw(
    vm: &VirtualMachine,
    shown: rustpython_vm::PyObjectRef,
) -> PyResult<Option<ShownDraw>> {
    if vm.is_none(&shown) {
        return Ok(None);
    }
    let parts = vm.extract_elements_with(&shown, Ok)?;
    let [call, high, scale]: [_; 3] = parts
        .try_into()
        .map_err(|_| vm.new_type_error("a bad draw"))?;
    Ok(Some(ShownDraw {
        call: usize::try_from_object(vm, call)?,
        randint_high: Option::<i64>::try_from_object(vm, high)?,
        scale: f64::try_from_object(vm, scale)? as f32,
    }))
}

/// The generator state before each printed draw of a recovered history, by draw call.
fn schedule(recovered: &Recovered) -> (u64, HashMap<usize, Generator>) {
    let mut g = Generator::manual_seed(u64::from(recovered.seed));
    let mut states = HashMap::new();
    for draw in &recovered.draws {
        let cache = match draw.gap_cache {
            None => CacheUse::Kept,
            Some(None) => CacheUse::Dropped,
            Some(Some(at)) => CacheUse::FromPairAt(at),
        };
        Gap {
            words: draw.gap_words,
            cache,
        }
        .apply(&mut g);
        states.insert(draw.call, g.clone());
        let printed = match draw.randint_high {
            Some(high) => PrintedDraw::randint("draw", &draw.printed, high),
            None => PrintedDraw::normal("draw", &draw.printed, draw.scale),
        };
        if printed.draw(&mut g).is_err() {
            break;
        }
    }
    (u64::from(recovered.seed), states)
}

/// The last line of a traceback: `NameError: name 'x' is not defined`.
pub fn exception_line(vm: &VirtualMachine, e: &PyBaseExceptionRef) -> String {
    let class = e.class().name().to_string();
    let text = e
        .as_object()
        .str(vm)
        .map(|s| s.to_string())
        .unwrap_or_default();
    if text.is_empty() {
        class
    } else {
        format!("{class}: {text}")
    }
}

fn run(start: Start) -> Result<()> {
    let session = Session::new(&start)?;
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    // Ready: the supervisor waits for this line before the first cell.
    serde_json::to_writer(&mut stdout, &CellReply::default())?;
    stdout.write_all(b"\n")?;
    stdout.flush()?;
    for line in stdin.lock().lines() {
        let line = line?;
        let request: CellRequest = serde_json::from_str(&line).context("a bad cell line")?;
        let reply = session.run_cell(&request);
        serde_json::to_writer(&mut stdout, &reply)?;
        stdout.write_all(b"\n")?;
        stdout.flush()?;
    }
    Ok(())
}
