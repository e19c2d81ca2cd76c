//! Python sequences and shapes as IPython displays them: `torch.Size([64, 10])`,
//! tuples and lists of already printed items, wrapped at 79 columns as IPython's pretty
//! printer wraps them.

/// `torch.Size([5, 3])` for a shape.
pub fn size(dims: &[usize]) -> String {
    let inner: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("torch.Size([{}])", inner.join(", "))
}

/// A Python tuple of already printed items as IPython displays it: `(a, b)`, `(a,)` for
/// one item, `()` for none, laid out as `displayed_sequence` says.
pub fn tuple<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<&str> = items.iter().map(|s| s.as_ref()).collect();
    let close = if parts.len() == 1 { ",)" } else { ")" };
    displayed_sequence(&parts, "(", close)
}

/// A Python list of already printed items as IPython displays it: `[a, b]`.
pub fn list<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<&str> = items.iter().map(|s| s.as_ref()).collect();
    displayed_sequence(&parts, "[", "]")
}

/// The width IPython's pretty printer keeps its lines to.
const DISPLAY_WIDTH: usize = 79;

/// A sequence as IPython's pretty printer displays it: on one line when it fits in 79
/// columns; one item a line, indented by the opening bracket, when it does not; and when
/// an item's repr spans lines (a 2-D tensor), its later lines indented by the bracket
/// too, and then — in the IPython the notebooks ran (5–7) — the items after it following
/// on the same line while they fit, or — in IPython 8 and later (see
/// `conventions`) — every item on a line of its own:
///
/// ```
/// let t = "tensor([[0., 0.],\n        [0., 0.]])";
/// assert_eq!(
///     crossent::pt::tuple(&[t, "tensor([5])"]),
///     "(tensor([[0., 0.],\n         [0., 0.]]), tensor([5]))"
/// );
/// ```
pub fn displayed_sequence(items: &[&str], open: &str, close: &str) -> String {
    let width = |s: &str| s.chars().count();
    let flat = format!("{open}{}{close}", items.join(", "));
    let multiline = items.iter().any(|i| i.contains('\n'));
    let indent = " ".repeat(width(open));
    if !multiline {
        if width(&flat) <= DISPLAY_WIDTH {
            return flat;
        }
        return format!("{open}{}{close}", items.join(&format!(",\n{indent}")));
    }
    let one_a_line = super::conventions::current().ipython8_sequences;
    let mut out = String::from(open);
    let mut column = width(open);
    for (k, item) in items.iter().enumerate() {
        let first = item.lines().next().unwrap_or("");
        if k > 0 {
            out.push(',');
            let tail = if k + 1 == items.len() {
                width(close)
            } else {
                1
            };
            if one_a_line || column + 2 + width(first) + tail > DISPLAY_WIDTH {
                out.push('\n');
                out.push_str(&indent);
                column = indent.len();
            } else {
                out.push(' ');
                column += 2;
            }
        }
        for (l, line) in item.split('\n').enumerate() {
            if l > 0 {
                out.push('\n');
                out.push_str(&indent);
                column = indent.len();
            }
            out.push_str(line);
            column += width(line);
        }
    }
    out.push_str(close);
    out
}
