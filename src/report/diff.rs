//! Which characters of two texts differ: a longest common subsequence of their
//! characters; the rest of each text is marked.

/// For each character of `a` and of `b`, whether it is outside their longest common
/// subsequence. Texts too long for the quadratic table are compared by their common
/// prefix and suffix instead.
pub fn marks(a: &str, b: &str) -> (Vec<bool>, Vec<bool>) {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    const LIMIT: usize = 4_000;
    if a.len() > LIMIT || b.len() > LIMIT {
        return prefix_suffix(&a, &b);
    }
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: the LCS length of a[i..] and b[j..].
    let mut lcs = vec![0u16; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if a[i] == b[j] {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let (mut in_a, mut in_b) = (vec![true; n], vec![true; m]);
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            in_a[i] = false;
            in_b[j] = false;
            i += 1;
            j += 1;
        } else if lcs[at(i + 1, j)] >= lcs[at(i, j + 1)] {
            i += 1;
        } else {
            j += 1;
        }
    }
    (in_a, in_b)
}

fn prefix_suffix(a: &[char], b: &[char]) -> (Vec<bool>, Vec<bool>) {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mark = |len: usize| (0..len).map(|k| k >= prefix && k < len - suffix).collect();
    (mark(a.len()), mark(b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_only_what_differs() {
        let (a, b) = marks("tensor([4.0056, 1.])", "tensor([4.0058, 1.])");
        let marked = |s: &str, m: &[bool]| -> String {
            s.chars()
                .zip(m)
                .filter(|(_, &m)| m)
                .map(|(c, _)| c)
                .collect()
        };
        assert_eq!(marked("tensor([4.0056, 1.])", &a), "6");
        assert_eq!(marked("tensor([4.0058, 1.])", &b), "8");
        let (a, b) = marks("same", "same");
        assert!(a.iter().chain(&b).all(|m| !m));
    }
}
