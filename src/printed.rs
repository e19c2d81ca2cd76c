//! Reading numbers back out of printed text.
//!
//! A notebook's printed `0.8541` says the true value lay in `[0.85405, 0.85415]`; this
//! module finds the numbers in a printed output together with that rounding interval,
//! and splits a text into its numbers and the words and punctuation around them.

/// One number as it was printed.
#[derive(Clone, Debug, PartialEq)]
pub struct PrintedNumber {
    /// Its value.
    pub value: f64,
    /// Half a unit of the last printed digit: the printed value is the true value
    /// rounded, so the true value lies within `value ± half_unit`.
    pub half_unit: f64,
    /// The number as it was spelled (`-1.9971e-02`).
    pub literal: String,
}

impl PrintedNumber {
    /// How far `x` lies outside this number's rounding interval shrunk by `slack`
    /// (1.0 is the whole interval), in units of the interval's half width.
    pub fn miss(&self, x: f64, slack: f64) -> f64 {
        if self.value.is_nan() {
            return if x.is_nan() { 0.0 } else { 1.0e6 };
        }
        if self.value.is_infinite() {
            return if x == self.value { 0.0 } else { 1.0e6 };
        }
        if !x.is_finite() {
            return 1.0e6;
        }
        let half_width = self.half_unit * slack;
        ((x - self.value).abs() - half_width).max(0.0) / self.half_unit
    }
}

/// A printed text split into its numbers and the text between them.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// The text with every number replaced by `#`.
    pub skeleton: String,
    /// The numbers, in reading order.
    pub numbers: Vec<PrintedNumber>,
}

/// Splits printed text into numbers and skeleton. Numbers are decimal literals as
/// Python and PyTorch print them (`-1.2656`, `1.`, `5`, `-3.5634e+00`, `nan`, `inf`);
/// digits inside a word (`float32`, `x_1`) belong to the word.
pub fn split(text: &str) -> Split {
    let mut skeleton = String::new();
    let mut numbers = Vec::new();
    let mut i = 0;
    while let Some(ch) = text[i..].chars().next() {
        if let Some((len, number)) = number_standing_at(text, i) {
            skeleton.push('#');
            numbers.push(number);
            i += len;
        } else {
            skeleton.push(ch);
            i += ch.len_utf8();
        }
    }
    Split { skeleton, numbers }
}

/// Cuts printed text into tokens that join back into it: each number (as `split` finds
/// them), each word (a run of ASCII letters, digits and `_`), each run of whitespace, and
/// every other character on its own.
///
/// ```
/// assert_eq!(
///     crossent::printed::tokens("tensor([-1.2656, 1.])"),
///     ["tensor", "(", "[", "-1.2656", ",", " ", "1.", "]", ")"]
/// );
/// ```
pub fn tokens(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(ch) = text[i..].chars().next() {
        let len = match number_standing_at(text, i) {
            Some((len, _)) => len,
            None if is_word(ch) || ch.is_whitespace() => {
                let same =
                    |c: char| is_word(c) == is_word(ch) && c.is_whitespace() == ch.is_whitespace();
                text[i..].find(|c: char| !same(c)).unwrap_or(text.len() - i)
            }
            None => ch.len_utf8(),
        };
        tokens.push(&text[i..i + len]);
        i += len;
    }
    tokens
}

/// Whether `c` belongs to a word, so that a number touching it is part of the word.
fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The number that starts at byte `i` of `text` and stands on its own (no word character
/// just before or just after it): its byte length and value.
fn number_standing_at(text: &str, i: usize) -> Option<(usize, PrintedNumber)> {
    if text[..i].chars().next_back().is_some_and(is_word) {
        return None;
    }
    let (len, number) = number_at(&text[i..])?;
    (!text[i + len..].chars().next().is_some_and(is_word)).then_some((len, number))
}

/// The largest absolute and relative differences between the numbers of two printed
/// texts (`b` is the reference), when the texts agree apart from their numbers.
pub fn largest_differences(a: &str, b: &str) -> Option<(f64, f64)> {
    let a = split(a);
    let b = split(b);
    if a.skeleton != b.skeleton || a.numbers.len() != b.numbers.len() {
        return None;
    }
    let (mut abs, mut rel): (f64, f64) = (0.0, 0.0);
    for (x, y) in a.numbers.iter().zip(&b.numbers) {
        let same_special = (x.value.is_nan() && y.value.is_nan()) || x.value == y.value;
        if !same_special {
            let d = (x.value - y.value).abs();
            abs = abs.max(d);
            if y.value != 0.0 {
                rel = rel.max(d / y.value.abs());
            }
        }
    }
    Some((abs, rel))
}

/// The numbers in a printed text, in reading order.
pub fn numbers(text: &str) -> Vec<PrintedNumber> {
    split(text).numbers
}

/// The `count` numbers a printed tensor holds, as the input a chapter runs on; `what`
/// names it in the error when the text holds another count or a number that is not
/// finite (a notebook file that printed something else there).
///
/// ```
/// let x = crossent::printed::input_values("tensor([[ 1.3877, -1.2656]])", 2, "x")?;
/// assert_eq!(x, vec![1.3877, -1.2656]);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn input_values(text: &str, count: usize, what: &str) -> anyhow::Result<Vec<f64>> {
    let values: Vec<f64> = numbers(text).into_iter().map(|n| n.value).collect();
    if values.len() != count {
        anyhow::bail!(
            "the notebook's {what} prints {} numbers where the chapter needs {count}; \
             is it the chapter's notebook?",
            values.len()
        );
    }
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        anyhow::bail!("the notebook's {what} holds {bad}, which the chapter cannot run on");
    }
    Ok(values)
}

/// Parses a number at the start of `s`: its byte length and value.
fn number_at(s: &str) -> Option<(usize, PrintedNumber)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let negative = bytes.first() == Some(&b'-');
    if negative {
        i += 1;
    }
    for word in ["nan", "inf"] {
        if s[i..].starts_with(word) {
            let value = match (word, negative) {
                ("nan", _) => f64::NAN,
                (_, false) => f64::INFINITY,
                (_, true) => f64::NEG_INFINITY,
            };
            return Some((
                i + 3,
                PrintedNumber {
                    value,
                    half_unit: 0.0,
                    literal: s[..i + 3].to_string(),
                },
            ));
        }
    }
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    if i == int_start {
        return None;
    }
    let mut decimals = 0i32;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
            decimals += 1;
        }
    }
    let mut exponent = 0i32;
    if matches!(bytes.get(i), Some(b'e') | Some(b'E')) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+') | Some(b'-')) {
            j += 1;
        }
        let digits_start = j;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
        if j > digits_start {
            exponent = s[i + 1..j].parse().ok()?;
            i = j;
        }
    }
    let value: f64 = s[..i].parse().ok()?;
    let half_unit = 0.5 * 10f64.powi(exponent - decimals);
    Some((
        i,
        PrintedNumber {
            value,
            half_unit,
            literal: s[..i].to_string(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_between_printed_texts() {
        let (abs, rel) =
            largest_differences("tensor([4.0056, 1.])", "tensor([4.0058, 1.])").unwrap();
        assert!((abs - 0.0002).abs() < 1e-12);
        assert!((rel - 0.0002 / 4.0058).abs() < 1e-12);
        assert_eq!(largest_differences("tensor([1.])", "tensor(1.)"), None);
    }

    #[test]
    fn splits_pytorch_output() {
        let s = split("tensor([[ 1.3877, -1.2656],\n        [ 1., -3.5634e+00]])");
        assert_eq!(s.skeleton, "tensor([[ #, #],\n        [ #, #]])");
        let values: Vec<f64> = s.numbers.iter().map(|n| n.value).collect();
        assert_eq!(values, vec![1.3877, -1.2656, 1.0, -3.5634]);
        assert!((s.numbers[0].half_unit - 0.00005).abs() < 1e-15);
        assert!((s.numbers[2].half_unit - 0.5).abs() < 1e-15);
        assert!((s.numbers[3].half_unit - 0.00005).abs() < 1e-15);
    }

    #[test]
    fn digits_inside_words_are_text() {
        let s = split("torch.Size([5, 3]), dtype=torch.float32, x_1");
        assert_eq!(s.skeleton, "torch.Size([#, #]), dtype=torch.float32, x_1");
    }

    #[test]
    fn nan_and_inf() {
        let s = split("tensor([nan, -inf, 2.])");
        assert!(s.numbers[0].value.is_nan());
        assert_eq!(s.numbers[1].value, f64::NEG_INFINITY);
    }

    #[test]
    fn miss_measures_distance_outside_interval() {
        let n = numbers("0.8541")[0].clone();
        assert_eq!(n.miss(0.85412, 1.0), 0.0);
        assert!(n.miss(0.85416, 1.0) > 0.0);
        assert!(n.miss(0.85413, 0.5) > 0.0);
    }
}
