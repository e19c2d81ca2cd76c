//! The interpreter's torch state: the global generator (PyTorch's, drawn bit for bit),
//! whether the notebook seeded it, the cap on one tensor's memory, and what the current
//! cell read.

use crossent::random::Generator;
use rustpython_vm::{PyResult, VirtualMachine};
use std::cell::{Cell, RefCell};

/// The seed of a generator no cell has seeded: draws from it are shown, not compared.
pub const UNSEEDED_DEFAULT: u64 = 67280421310721;

thread_local! {
    /// Draw calls so far, and the generator state to take at given calls (a recovered
    /// history: each printed draw where it lay in the notebook's stream).
    static DRAW_CALLS: Cell<usize> = const { Cell::new(0) };
    static SCHEDULE: RefCell<std::collections::HashMap<usize, Generator>> = RefCell::new(Default::default());
    static GENERATOR: RefCell<(Generator, bool)> = RefCell::new((Generator::manual_seed(UNSEEDED_DEFAULT), false));
    static CAP_BYTES: Cell<u64> = const { Cell::new(4 << 30) };
    /// The generators a notebook made with `torch.Generator()`, by number.
    static USER_GENERATORS: RefCell<Vec<Generator>> = const { RefCell::new(Vec::new()) };
    static UNSEEDED_READ: Cell<bool> = const { Cell::new(false) };
    static PRINT_OPTIONS_CHANGED: Cell<bool> = const { Cell::new(false) };
}

/// What a cell did that decides how its output is compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CellFlags {
    /// It read values drawn from a generator the notebook never seeded.
    pub read_unseeded_draws: bool,
    /// It called `torch.set_printoptions`, which the subset does not follow.
    pub changed_print_options: bool,
}

/// The flags of the cell that just ran, cleared for the next.
pub fn take_cell_flags() -> CellFlags {
    CellFlags {
        read_unseeded_draws: UNSEEDED_READ.with(|c| c.replace(false)),
        changed_print_options: PRINT_OPTIONS_CHANGED.with(|c| c.replace(false)),
    }
}

/// Sets the cap on the bytes of any one tensor.
pub fn set_memory_cap(bytes: u64) {
    CAP_BYTES.with(|c| c.set(bytes));
}

/// Seeds the global generator as the notebook's `torch.manual_seed` does.
pub(super) fn manual_seed(seed: u64) {
    GENERATOR.with(|g| *g.borrow_mut() = (Generator::manual_seed(seed), true));
}

/// Draws from a seed recovered from the notebook's prints: the generator starts from
/// `seed`, and at each draw call in `schedule` takes the state the notebook's generator
/// had before that printed draw.
pub fn recover(seed: u64, schedule: std::collections::HashMap<usize, Generator>) {
    manual_seed(seed);
    SCHEDULE.with(|s| *s.borrow_mut() = schedule);
}

/// Runs `f` for one draw call with the global generator and whether the notebook seeded
/// it.
pub(super) fn with_generator<R>(f: impl FnOnce(&mut Generator, bool) -> R) -> R {
    let call = DRAW_CALLS.with(Cell::get);
    if let Some(state) = SCHEDULE.with(|s| s.borrow_mut().remove(&call)) {
        GENERATOR.with(|g| g.borrow_mut().0 = state);
    }
    GENERATOR.with(|g| {
        let mut g = g.borrow_mut();
        let seeded = g.1;
        f(&mut g.0, seeded)
    })
}

/// A new generator as `torch.Generator()` makes it (PyTorch's default seed); its number.
pub(super) fn new_generator() -> usize {
    USER_GENERATORS.with(|g| {
        let mut g = g.borrow_mut();
        g.push(Generator::manual_seed(UNSEEDED_DEFAULT));
        g.len() - 1
    })
}

/// Runs `f` with generator `id` made by `new_generator`; `None` for an unknown one.
pub(super) fn with_user_generator<R>(id: usize, f: impl FnOnce(&mut Generator) -> R) -> Option<R> {
    USER_GENERATORS.with(|g| g.borrow_mut().get_mut(id).map(f))
}

/// The number of the draw call just made, counting it.
pub(super) fn last_draw_call() -> usize {
    DRAW_CALLS.with(|c| {
        let call = c.get();
        c.set(call + 1);
        call
    })
}

pub(super) fn note_print_options_changed() {
    PRINT_OPTIONS_CHANGED.with(|c| c.set(true));
}

pub(super) fn note_unseeded_read() {
    UNSEEDED_READ.with(|c| c.set(true));
}

/// Refuses a tensor of `shape` whose `bytes_per_element` would exceed the cap, before
/// anything is allocated.
pub(super) fn check_elements(
    shape: &[usize],
    bytes_per_element: u64,
    vm: &VirtualMachine,
) -> PyResult<()> {
    let cap = CAP_BYTES.with(Cell::get);
    let bytes = shape
        .iter()
        .try_fold(bytes_per_element, |acc, &d| acc.checked_mul(d as u64));
    match bytes {
        Some(b) if b <= cap => Ok(()),
        _ => Err(vm.new_memory_error(format!(
            "a tensor of shape {:?} is over the cap on tensor memory ({} GiB)",
            shape,
            cap >> 30
        ))),
    }
}
