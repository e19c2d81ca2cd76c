//! Which parts of two printed texts differ, for the report's side-by-side outputs: the
//! texts are cut into tokens (numbers, words, spaces, punctuation; see
//! `crate::printed::tokens`), the `similar` crate diffs the two token lists, and every
//! token outside what they share is marked whole, so a changed number is marked as one
//! number rather than as scattered digits.

use similar::{capture_diff_slices, Algorithm, DiffTag};

/// Token lists longer than this are compared by their common prefix and suffix only:
/// Myers' diff costs (n + m) · d for d differing tokens, so two wholly different lists of
/// this length cost some 64 million steps (a few tenths of a second), and a hostile
/// notebook's output can be megabytes long. The chapters' outputs are a few hundred
/// tokens.
const MAX_TOKENS: usize = 4_000;

/// For each character of `a` and of `b`, whether it lies in a token the other text does
/// not share.
///
/// ```
/// let (a, b) = crossent::report::diff::marks("tensor([4.0056, 1.])", "tensor([4.0158, 1.])");
/// let marked = |s: &str, m: &[bool]| -> String {
///     s.chars().zip(m).filter(|(_, &m)| m).map(|(c, _)| c).collect()
/// };
/// assert_eq!(marked("tensor([4.0056, 1.])", &a), "4.0056");
/// assert_eq!(marked("tensor([4.0158, 1.])", &b), "4.0158");
/// ```
pub fn marks(a: &str, b: &str) -> (Vec<bool>, Vec<bool>) {
    let (ta, tb) = (crate::printed::tokens(a), crate::printed::tokens(b));
    let (mut in_a, mut in_b) = (vec![true; ta.len()], vec![true; tb.len()]);
    if ta.len() > MAX_TOKENS || tb.len() > MAX_TOKENS {
        let prefix = ta.iter().zip(&tb).take_while(|(x, y)| x == y).count();
        let suffix = ta[prefix..]
            .iter()
            .rev()
            .zip(tb[prefix..].iter().rev())
            .take_while(|(x, y)| x == y)
            .count();
        for (marks, len) in [(&mut in_a, ta.len()), (&mut in_b, tb.len())] {
            marks[..prefix].fill(false);
            marks[len - suffix..].fill(false);
        }
    } else {
        for op in capture_diff_slices(Algorithm::Myers, &ta, &tb) {
            if op.tag() == DiffTag::Equal {
                in_a[op.old_range()].fill(false);
                in_b[op.new_range()].fill(false);
            }
        }
    }
    (per_char(&ta, &in_a), per_char(&tb, &in_b))
}

/// A token's mark repeated for each of its characters.
fn per_char(tokens: &[&str], marked: &[bool]) -> Vec<bool> {
    tokens
        .iter()
        .zip(marked)
        .flat_map(|(t, &m)| std::iter::repeat_n(m, t.chars().count()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(s: &str, m: &[bool]) -> String {
        s.chars()
            .zip(m)
            .map(|(c, &m)| if m { c } else { '_' })
            .collect()
    }

    #[test]
    fn marks_whole_numbers_and_words() {
        let (a, b) = marks("tensor([4.0056, 1.])", "tensor([4.0058, 1.])");
        assert_eq!(marked("tensor([4.0056, 1.])", &a), "________4.0056______");
        assert_eq!(marked("tensor([4.0058, 1.])", &b), "________4.0058______");
        let (a, b) = marks("grad_fn=<NegBackward0>", "grad_fn=<NegBackward>");
        assert_eq!(
            marked("grad_fn=<NegBackward0>", &a),
            "_________NegBackward0_"
        );
        assert_eq!(marked("grad_fn=<NegBackward>", &b), "_________NegBackward_");
        let (a, b) = marks("same", "same");
        assert!(a.iter().chain(&b).all(|m| !m));
    }

    #[test]
    fn wholly_different_texts_at_the_limit_are_diffed() {
        // No token in common: the diff's worst case.
        let a = "1,".repeat(MAX_TOKENS / 2);
        let b = "x ".repeat(MAX_TOKENS / 2);
        let (ma, mb) = marks(&a, &b);
        assert!(ma.iter().chain(&mb).all(|&m| m));
    }

    #[test]
    fn long_texts_keep_their_common_ends() {
        let a = format!("start {} end", "1 ".repeat(MAX_TOKENS));
        let b = format!("start {} end", "2 ".repeat(MAX_TOKENS));
        let (ma, mb) = marks(&a, &b);
        assert_eq!((ma.len(), mb.len()), (a.chars().count(), b.chars().count()));
        assert!(!ma[0] && !ma[ma.len() - 1] && ma[6]);
        assert!(!mb[0] && !mb[mb.len() - 1] && mb[6]);
    }
}
