//! A notebook cell made ready for the interpreter: IPython's magics (`%`, `%%`), shell
//! lines (`!`) and help lines (`?`) are not Python and are not run; what is left runs.

/// A cell's source as the interpreter gets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// The Python to run: each line that is not Python replaced by `pass` at its indent.
    pub source: String,
    /// The lines not run, as written.
    pub skipped: Vec<String>,
    /// Why the whole cell is not run (a cell magic, or nothing but lines not run).
    pub not_run: Option<String>,
    /// A trailing `;` suppresses the display of the cell's value, as in IPython.
    pub quiet: bool,
}

/// Prepares `source`.
///
/// ```
/// use crossent_replicate::cells::prepare;
/// let p = prepare("%matplotlib inline\nx = 1\nx;");
/// assert_eq!(p.source, "pass\nx = 1\nx;");
/// assert_eq!(p.skipped, ["%matplotlib inline"]);
/// assert!(p.quiet && p.not_run.is_none());
/// assert!(prepare("%%timeit\nx = 1").not_run.unwrap().contains("cell magic"));
/// assert!(prepare("!pip install d2l").not_run.unwrap().starts_with("a shell command"));
/// ```
pub fn prepare(source: &str) -> Prepared {
    let first = source
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if first.starts_with("%%") {
        let magic = first.split_whitespace().next().unwrap_or(first);
        return Prepared {
            source: String::new(),
            skipped: vec![first.to_string()],
            not_run: Some(format!("a cell magic (`{magic}`): IPython runs its body its own way, which is not run here")),
            quiet: false,
        };
    }
    let mut lines = Vec::new();
    let mut skipped = Vec::new();
    for line in source.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let code = trimmed.trim_end();
        let is_help = !code.starts_with('#')
            && (code.ends_with('?') || code.starts_with('?'))
            && !code.contains('#');
        if code.starts_with('%') || code.starts_with('!') || is_help {
            skipped.push(code.to_string());
            lines.push(format!("{indent}pass"));
        } else {
            lines.push(line.to_string());
        }
    }
    let python_left = source.lines().zip(&lines).any(|(original, kept)| {
        let t = kept.trim();
        original.trim_end() == kept.trim_end() && !t.is_empty() && !t.starts_with('#')
    });
    let not_run = (!python_left && !skipped.is_empty())
        .then(|| crossent::ipynb::read::why_not_reproduced(source));
    let last = source
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    Prepared {
        source: lines.join("\n"),
        skipped,
        not_run,
        quiet: last.ends_with(';'),
    }
}

/// The names a cell binds at its top level, read from its text: what a cell that never
/// answered (stopped at its time limit) would have defined, for its dependents.
///
/// ```
/// use crossent_replicate::cells::bound_names;
/// assert_eq!(bound_names("x, y = 1, 2\ndef f():\n    z = 1\nimport torch.nn as nn"), ["x", "y", "f", "nn"]);
/// ```
pub fn bound_names(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in source.lines().filter(|l| !l.starts_with([' ', '\t'])) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["def" | "class", rest, ..] => names.push(identifier(rest)),
            ["import", .., "as", alias] => names.push(identifier(alias)),
            ["import", module, ..] => {
                names.push(identifier(module.split('.').next().unwrap_or(module)))
            }
            ["from", _, "import", rest @ ..] => names.extend(
                rest.join(" ")
                    .split(',')
                    .map(|n| identifier(n.split(" as ").last().unwrap_or(n).trim())),
            ),
            _ => {
                if let Some((targets, _)) = line
                    .split_once('=')
                    .filter(|(t, v)| !v.starts_with('=') && !t.ends_with(['!', '<', '>', '=']))
                {
                    names.extend(
                        targets
                            .split(',')
                            .map(|t| identifier(t.trim()))
                            .filter(|t| !t.is_empty()),
                    );
                }
            }
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

fn identifier(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}
