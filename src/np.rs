//! numpy- and Python-style printing, for the notebook cells that used numpy.
//!
//! `print` of a numpy float64 scalar is Python's `repr` of a float (shortest round-trip
//! digits, `1.0`, `1e-05`, `1e+16`); a float32 scalar uses the shortest digits that
//! round-trip in float32 (`0.9162907`); integer arrays print as `array([0, 0, 1])`.
//! Python string literals are read as Python reads them (`\b` is a backspace) and
//! printed as `repr` prints them.

/// Python's `repr(x)` of a float (what `print` shows for a float64 scalar).
pub fn float64(x: f64) -> String {
    shortest_repr(x, format!("{x:e}"))
}

/// numpy's `str` of a float32 scalar: the shortest digits that round-trip in float32.
pub fn float32(x: f32) -> String {
    shortest_repr(f64::from(x), format!("{x:e}"))
}

/// Lays out shortest round-trip digits (Rust's `{:e}`, e.g. `9.162907e-1`) the way
/// Python's float repr does: positional when -4 < exponent + 1 <= 16, else scientific.
fn shortest_repr(x: f64, lower_exp: String) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let (mantissa, exponent) = lower_exp.split_once('e').expect("LowerExp has an 'e'");
    let exponent: i32 = exponent.parse().expect("LowerExp exponent is an integer");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    // Python's decpt: the position of the decimal point relative to the digit string.
    let decpt = exponent + 1;
    let sign = if negative { "-" } else { "" };
    if decpt <= -4 || decpt > 16 {
        let rest = &digits[1..];
        let mant = if rest.is_empty() {
            digits[..1].to_string()
        } else {
            format!("{}.{}", &digits[..1], rest)
        };
        let esign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{mant}e{esign}{:02}", exponent.abs());
    }
    let body = if decpt <= 0 {
        format!("0.{}{}", "0".repeat((-decpt) as usize), digits)
    } else if decpt as usize >= digits.len() {
        format!("{}{}.0", digits, "0".repeat(decpt as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(decpt as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

/// numpy's `repr` of a one-dimensional integer array, wrapped as numpy's
/// `_formatArray` wraps at its default line width of 75.
pub fn int_array(values: &[i64]) -> String {
    if values.is_empty() {
        return "array([], dtype=int64)".into();
    }
    // "array([" is 7 wide; the last element must leave room for "])".
    const HANGING_INDENT: usize = 7;
    const ELEMENT_WIDTH: usize = 75 - 1 - 1;
    let width = values
        .iter()
        .map(|v| v.to_string().len())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    let mut line = " ".repeat(HANGING_INDENT);
    for (i, value) in values.iter().enumerate() {
        let word = format!("{value:>width$}");
        if line.len() + word.len() > ELEMENT_WIDTH && line.len() > HANGING_INDENT {
            text.push_str(line.trim_end());
            text.push('\n');
            line = " ".repeat(HANGING_INDENT);
        }
        line.push_str(&word);
        if i + 1 < values.len() {
            line.push_str(", ");
        }
    }
    text.push_str(&line);
    format!("array([{}])", &text[HANGING_INDENT..])
}

/// The value of the body of a non-raw Python string literal: escapes are replaced as
/// Python replaces them (`\\n` newline, `\\b` backspace, `\\f` form feed, `\\xNN`,
/// octal); an unknown escape such as `\\p` keeps its backslash.
pub fn python_unescape(body: &str) -> String {
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => out.push('\\'),
            Some('\n') => {} // a backslash before a newline joins the lines
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('a') => out.push('\u{07}'),
            Some('b') => out.push('\u{08}'),
            Some('f') => out.push('\u{0c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('v') => out.push('\u{0b}'),
            Some('x') => {
                let hex: String = (0..2).filter_map(|_| chars.next()).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) if hex.len() == 2 => out.push(ch),
                    _ => {
                        out.push_str("\\x");
                        out.push_str(&hex);
                    }
                }
            }
            Some(d @ '0'..='7') => {
                let mut code = d.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(v) => {
                            code = code * 8 + v;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}

/// Python's `repr` of a `str`: single quotes unless the text holds `'` and no `"`;
/// backslashes, the quote and control characters escaped.
pub fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_repr() {
        assert_eq!(float64(1.0), "1.0");
        assert_eq!(float64(0.1), "0.1");
        assert_eq!(float64(1e-5), "1e-05");
        assert_eq!(float64(0.0001), "0.0001");
        assert_eq!(float64(1e16), "1e+16");
        assert_eq!(float64(1e15), "1000000000000000.0");
        assert_eq!(float64(-2.5e-7), "-2.5e-07");
        assert_eq!(float64(123.456), "123.456");
        assert_eq!(float32(0.916_290_7), "0.9162907");
    }

    #[test]
    fn numpy_int_arrays() {
        assert_eq!(int_array(&[0, 0, 0, 1, 2]), "array([0, 0, 0, 1, 2])");
        assert_eq!(int_array(&[]), "array([], dtype=int64)");
        let wrapped: Vec<i64> = (0..30).collect();
        assert_eq!(
            int_array(&wrapped),
            "array([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16,\n       \
             17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29])"
        );
    }

    #[test]
    fn python_strings() {
        let value = python_unescape(r"\begin{x}\frac \sum \\ a\neq");
        assert_eq!(value, "\u{08}egin{x}\u{0c}rac \\sum \\ a\neq");
        assert_eq!(
            python_str_repr(&value),
            r"'\x08egin{x}\x0crac \\sum \\ a\neq'"
        );
        assert_eq!(python_str_repr("it's"), "\"it's\"");
        assert_eq!(python_unescape(r"\x41\101\q"), "AA\\q");
    }
}
