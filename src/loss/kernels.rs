//! Row kernels of the fused cross-entropy: the maximum of a row, the sum of
//! `exp(x - max)`, and `scale · exp(x - lse)` written out. For f32 they use a
//! vectorised `exp` (Cephes' single-precision polynomial, within 2 ulp): AVX-512 or
//! AVX2+FMA intrinsics when the CPU has them, portable loops otherwise; f64 uses the
//! standard library.

use std::mem::MaybeUninit;

/// The element types the fused loss computes in.
pub(crate) trait Real: Copy + Send + Sync + PartialOrd + 'static {
    fn as_f64(self) -> f64;
    fn of_f64(v: f64) -> Self;
    /// The largest element, NaN if any element is NaN, `-inf` for an empty row.
    fn row_max(x: &[Self]) -> Self;
    /// `sum(exp(x - m))`.
    fn row_sum_exp(x: &[Self], m: Self) -> f64;
    /// `(row_sum_exp(x, m), row_max(next))` in one loop: the forward pass reads the next
    /// row from memory while the exponentials of this one (already in cache) are being
    /// computed, instead of waiting for it afterwards. Bit for bit the two separate calls.
    fn row_sum_exp_then_max(x: &[Self], m: Self, next: &[Self]) -> (f64, Self) {
        (Self::row_sum_exp(x, m), Self::row_max(next))
    }
    /// `out[c] = scale * exp((x[c] - m) - log_sum)`: the softmax, scaled, with the shift
    /// `m` taken first so that huge logits keep their small differences. Writes every
    /// element of `out` (which is as long as `x`), so `out` may start uninitialised.
    fn write_scaled_exp(
        x: &[Self],
        m: Self,
        log_sum: f64,
        scale: f64,
        out: &mut [MaybeUninit<Self>],
    );
}

impl Real for f64 {
    fn as_f64(self) -> f64 {
        self
    }
    fn of_f64(v: f64) -> Self {
        v
    }
    fn row_max(x: &[f64]) -> f64 {
        x.iter().fold(f64::NEG_INFINITY, |m, &v| nan_max(m, v))
    }
    fn row_sum_exp(x: &[f64], m: f64) -> f64 {
        x.iter().map(|&v| (v - m).exp()).sum()
    }
    fn write_scaled_exp(x: &[f64], m: f64, log_sum: f64, scale: f64, out: &mut [MaybeUninit<f64>]) {
        for (o, &v) in out.iter_mut().zip(x) {
            o.write(scale * ((v - m) - log_sum).exp());
        }
    }
}

impl Real for f32 {
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
    fn of_f64(v: f64) -> Self {
        v as f32
    }
    fn row_max(x: &[f32]) -> f32 {
        Self::row_sum_exp_then_max(&[], 0.0, x).1
    }
    fn row_sum_exp(x: &[f32], m: f32) -> f64 {
        Self::row_sum_exp_then_max(x, m, &[]).0
    }
    fn row_sum_exp_then_max(x: &[f32], m: f32, next: &[f32]) -> (f64, f32) {
        dispatch!(sum_exp_then_max_f32(x, m, next))
    }
    fn write_scaled_exp(x: &[f32], m: f32, log_sum: f64, scale: f64, out: &mut [MaybeUninit<f32>]) {
        dispatch!(scaled_exp_f32(x, m, log_sum as f32, scale as f32, out))
    }
}

/// Calls the AVX-512 build of a kernel when the CPU has it, else the AVX2+FMA one, else
/// the portable one.
macro_rules! dispatch {
    ($name:ident($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports the features the function is compiled for.
                return unsafe { avx512::$name($($arg),*) };
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports the features the function is compiled for.
                return unsafe { avx2::$name($($arg),*) };
            }
        }
        // SAFETY: the portable build needs no CPU feature.
        unsafe { portable::$name($($arg),*) }
    }};
}
use dispatch;

/// `max` that keeps a NaN once seen.
#[inline(always)]
fn nan_max<T: PartialOrd + Copy>(m: T, v: T) -> T {
    #[allow(clippy::eq_op)]
    let v_is_nan = v != v;
    if v > m || v_is_nan {
        v
    } else {
        m
    }
}

/// Cephes' `expf`: range reduction by ln 2, a degree-6 polynomial, scaling by 2^n
/// through the exponent bits. Branch-free so that loops over it vectorise; `-inf` and
/// anything below the smallest normal result give 0, NaN stays NaN. `fma` is `a·b + c`:
/// fused on CPUs that have FMA, plain elsewhere.
#[inline(always)]
fn exp_f32_with(x: f32, fma: impl Fn(f32, f32, f32) -> f32) -> f32 {
    const HI: f32 = 88.376_26;
    const LO: f32 = -87.336_54;
    let xc = if x > HI { HI } else { x };
    let xc = if xc < LO { LO } else { xc };
    let n = fma(xc, std::f32::consts::LOG2_E, 0.5).floor();
    let r = fma(n, 2.121_944_4e-4, fma(n, -0.693_359_4, xc));
    let mut y = 1.987_569_1e-4_f32;
    y = fma(y, r, 1.398_199_9e-3);
    y = fma(y, r, 8.333_452e-3);
    y = fma(y, r, 4.166_579_6e-2);
    y = fma(y, r, 1.666_666_5e-1);
    y = fma(y, r, 0.5);
    y = fma(y, r * r, r + 1.0);
    let pow2n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    let result = y * pow2n;
    if x < LO {
        0.0
    } else {
        result
    }
}

/// The end of the vector kernels' sum: their eight running sums added in order in f64,
/// then the elements left over after the last 16-lane chunk, with the scalar `exp` (fused
/// multiply-add), which gives the same bits as a vector lane.
#[cfg(target_arch = "x86_64")]
fn finish_sum(lanes: &[f32], tail: &[f32], m: f32) -> f64 {
    let mut total: f64 = lanes.iter().map(|&v| f64::from(v)).sum();
    for &v in tail {
        total += f64::from(exp_f32_with(v - m, f32::mul_add));
    }
    total
}

/// `exp_f32_with` without fused multiply-add (the portable build and the tests).
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    exp_f32_with(x, |a, b, c| a * b + c)
}

/// AVX2+FMA kernels written with intrinsics, 8 lanes at a time; the tails use the scalar
/// `exp_f32_with` with fused multiply-add.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    #[inline(always)]
    fn exp_scalar(x: f32) -> f32 {
        super::exp_f32_with(x, f32::mul_add)
    }

    /// Eight `exp`s: the same steps as `exp_f32_with`. `min(HI, x)` and `max(LO, ·)`
    /// return their second operand for NaN, so NaN passes through.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp8(x: __m256) -> __m256 {
        let hi = _mm256_set1_ps(88.376_26);
        let lo = _mm256_set1_ps(-87.336_54);
        let xc = _mm256_max_ps(lo, _mm256_min_ps(hi, x));
        let n = _mm256_floor_ps(_mm256_fmadd_ps(
            xc,
            _mm256_set1_ps(std::f32::consts::LOG2_E),
            _mm256_set1_ps(0.5),
        ));
        let r = _mm256_fmadd_ps(n, _mm256_set1_ps(-0.693_359_4), xc);
        let r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.121_944_4e-4), r);
        let mut y = _mm256_set1_ps(1.987_569_1e-4);
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.398_199_9e-3));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.333_452e-3));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.166_579_6e-2));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.666_666_5e-1));
        y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(0.5));
        y = _mm256_fmadd_ps(
            y,
            _mm256_mul_ps(r, r),
            _mm256_add_ps(r, _mm256_set1_ps(1.0)),
        );
        let e = _mm256_slli_epi32::<23>(_mm256_add_epi32(
            _mm256_cvttps_epi32(n),
            _mm256_set1_epi32(127),
        ));
        let result = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
        let below = _mm256_cmp_ps::<_CMP_LT_OQ>(x, lo);
        _mm256_blendv_ps(result, _mm256_setzero_ps(), below)
    }

    /// Folds eight elements into the running maximum and the running NaN flags.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn take(top: &mut __m256, nan: &mut __m256, v: __m256) {
        *top = _mm256_max_ps(*top, v);
        *nan = _mm256_or_ps(*nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v));
    }

    /// The sum over `x` in pairs of 8-lane halves (two running sums), the scalar tail
    /// added last; the maximum of `next` over 8-lane chunks, its tail folded in last.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn sum_exp_then_max_f32(x: &[f32], m: f32, next: &[f32]) -> (f64, f32) {
        let mv = _mm256_set1_ps(m);
        let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut top = _mm256_set1_ps(f32::NEG_INFINITY);
        let mut nan = _mm256_setzero_ps();
        let full = x.len() / 16 * 16;
        // Chunks of both rows together, then the rest of whichever is longer.
        let both = full.min(next.len() / 16 * 16);
        let mut i = 0;
        while i < full {
            if i < both {
                take(&mut top, &mut nan, _mm256_loadu_ps(next.as_ptr().add(i)));
                take(
                    &mut top,
                    &mut nan,
                    _mm256_loadu_ps(next.as_ptr().add(i + 8)),
                );
            }
            let v0 = _mm256_sub_ps(_mm256_loadu_ps(x.as_ptr().add(i)), mv);
            let v1 = _mm256_sub_ps(_mm256_loadu_ps(x.as_ptr().add(i + 8)), mv);
            a0 = _mm256_add_ps(a0, exp8(v0));
            a1 = _mm256_add_ps(a1, exp8(v1));
            i += 16;
        }
        let mut j = both;
        while j + 8 <= next.len() {
            take(&mut top, &mut nan, _mm256_loadu_ps(next.as_ptr().add(j)));
            j += 8;
        }
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(a0, a1));
        let total = super::finish_sum(&lanes, &x[full..], m);
        if _mm256_movemask_ps(nan) != 0 {
            return (total, f32::NAN);
        }
        _mm256_storeu_ps(lanes.as_mut_ptr(), top);
        let mut max = f32::NEG_INFINITY;
        for &v in lanes.iter().chain(&next[j..]) {
            max = super::nan_max(max, v);
        }
        (total, max)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn scaled_exp_f32(
        x: &[f32],
        m: f32,
        log_sum: f32,
        scale: f32,
        out: &mut [std::mem::MaybeUninit<f32>],
    ) {
        let mv = _mm256_set1_ps(m);
        let lv = _mm256_set1_ps(log_sum);
        let sv = _mm256_set1_ps(scale);
        let n = x.len().min(out.len());
        let mut i = 0;
        while i + 8 <= n {
            let v = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x.as_ptr().add(i)), mv), lv);
            _mm256_storeu_ps(out.as_mut_ptr().add(i).cast(), _mm256_mul_ps(sv, exp8(v)));
            i += 8;
        }
        for j in i..n {
            out[j].write(scale * exp_scalar((x[j] - m) - log_sum));
        }
    }
}

/// AVX-512 kernels, 16 lanes at a time, computing bit for bit what the AVX2 ones compute:
/// `exp16` is `exp8` on twice the lanes, the sum keeps the AVX2 kernel's eight running
/// sums per pair of 8-lane halves and adds them up in the same order, and the tails go
/// through the same scalar `exp` (or masked lanes, which equal it). So a machine with
/// AVX-512 prints exactly what a machine with only AVX2 prints.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn exp16(x: __m512) -> __m512 {
        let lo = _mm512_set1_ps(-87.336_54);
        let xc = _mm512_max_ps(lo, _mm512_min_ps(_mm512_set1_ps(88.376_26), x));
        let n =
            _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(_mm512_fmadd_ps(
                xc,
                _mm512_set1_ps(std::f32::consts::LOG2_E),
                _mm512_set1_ps(0.5),
            ));
        let r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693_359_4), xc);
        let r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.121_944_4e-4), r);
        let mut y = _mm512_set1_ps(1.987_569_1e-4);
        for c in [
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            1.666_666_5e-1,
            0.5,
        ] {
            y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(c));
        }
        y = _mm512_fmadd_ps(
            y,
            _mm512_mul_ps(r, r),
            _mm512_add_ps(r, _mm512_set1_ps(1.0)),
        );
        let e = _mm512_slli_epi32::<23>(_mm512_add_epi32(
            _mm512_cvttps_epi32(n),
            _mm512_set1_epi32(127),
        ));
        let result = _mm512_mul_ps(y, _mm512_castsi512_ps(e));
        let below = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, lo);
        _mm512_maskz_mov_ps(!below, result)
    }

    /// The first `min(remaining, 16)` lanes.
    #[inline]
    fn first_lanes(remaining: usize) -> __mmask16 {
        if remaining >= 16 {
            u16::MAX
        } else {
            (1u16 << remaining) - 1
        }
    }

    /// The sum over `x` in 16-lane chunks, whose two 8-lane halves are then added as the
    /// AVX2 kernel's two running sums are, the scalar tail added last; the maximum of
    /// `next` over 16-lane chunks, the last one masked.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn sum_exp_then_max_f32(x: &[f32], m: f32, next: &[f32]) -> (f64, f32) {
        let mv = _mm512_set1_ps(m);
        let neg_inf = _mm512_set1_ps(f32::NEG_INFINITY);
        let (mut acc, mut top, mut nan) = (_mm512_setzero_ps(), neg_inf, 0 as __mmask16);
        let full = x.len() / 16 * 16;
        // Chunks of both rows together, then the rest of whichever is longer.
        let both = full.min(next.len() / 16 * 16);
        let mut i = 0;
        while i < both {
            let v = _mm512_loadu_ps(next.as_ptr().add(i));
            top = _mm512_max_ps(top, v);
            nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
            let v = _mm512_sub_ps(_mm512_loadu_ps(x.as_ptr().add(i)), mv);
            acc = _mm512_add_ps(acc, exp16(v));
            i += 16;
        }
        while i < full {
            let v = _mm512_sub_ps(_mm512_loadu_ps(x.as_ptr().add(i)), mv);
            acc = _mm512_add_ps(acc, exp16(v));
            i += 16;
        }
        let mut j = both;
        while j < next.len() {
            let k = first_lanes(next.len() - j);
            let v = _mm512_mask_loadu_ps(neg_inf, k, next.as_ptr().add(j));
            top = _mm512_max_ps(top, v);
            nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
            j += 16;
        }
        let mut halves = [0f32; 16];
        _mm512_storeu_ps(halves.as_mut_ptr(), acc);
        let mut lanes = [0f32; 8];
        for (k, lane) in lanes.iter_mut().enumerate() {
            *lane = halves[k] + halves[k + 8];
        }
        let total = super::finish_sum(&lanes, &x[full..], m);
        let max = if nan != 0 {
            f32::NAN
        } else {
            _mm512_reduce_max_ps(top)
        };
        (total, max)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn scaled_exp_f32(
        x: &[f32],
        m: f32,
        log_sum: f32,
        scale: f32,
        out: &mut [std::mem::MaybeUninit<f32>],
    ) {
        let mv = _mm512_set1_ps(m);
        let lv = _mm512_set1_ps(log_sum);
        let sv = _mm512_set1_ps(scale);
        let n = x.len().min(out.len());
        let mut i = 0;
        while i < n {
            let k = first_lanes(n - i);
            let v = _mm512_maskz_loadu_ps(k, x.as_ptr().add(i));
            let v = _mm512_sub_ps(_mm512_sub_ps(v, mv), lv);
            _mm512_mask_storeu_ps(
                out.as_mut_ptr().add(i).cast(),
                k,
                _mm512_mul_ps(sv, exp16(v)),
            );
            i += 16;
        }
    }
}

/// The same kernels as plain loops (8 independent lanes, which compilers vectorise), for
/// CPUs without AVX2. `unsafe` only to share the call site with `avx2`.
mod portable {
    use super::{exp_f32, nan_max};

    fn max_f32(x: &[f32]) -> f32 {
        let mut lanes = [f32::NEG_INFINITY; 8];
        let chunks = x.chunks_exact(8);
        let rest = chunks.remainder();
        for ch in chunks {
            for l in 0..8 {
                lanes[l] = nan_max(lanes[l], ch[l]);
            }
        }
        lanes
            .iter()
            .chain(rest)
            .fold(f32::NEG_INFINITY, |m, &v| nan_max(m, v))
    }

    fn sum_exp_f32(x: &[f32], m: f32) -> f64 {
        let mut lanes = [0f32; 8];
        let chunks = x.chunks_exact(8);
        let rest = chunks.remainder();
        for ch in chunks {
            for l in 0..8 {
                lanes[l] += exp_f32(ch[l] - m);
            }
        }
        let lanes: f64 = lanes.iter().map(|&v| f64::from(v)).sum();
        lanes + rest.iter().map(|&v| f64::from(exp_f32(v - m))).sum::<f64>()
    }

    pub(super) unsafe fn sum_exp_then_max_f32(x: &[f32], m: f32, next: &[f32]) -> (f64, f32) {
        (sum_exp_f32(x, m), max_f32(next))
    }

    pub(super) unsafe fn scaled_exp_f32(
        x: &[f32],
        m: f32,
        log_sum: f32,
        scale: f32,
        out: &mut [std::mem::MaybeUninit<f32>],
    ) {
        for (o, &v) in out.iter_mut().zip(x) {
            o.write(scale * exp_f32((v - m) - log_sum));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output buffer already holding 7s, so that reading it back is defined whatever
    /// a kernel writes, and a write past the intended end shows.
    fn filled(len: usize) -> Vec<MaybeUninit<f32>> {
        vec![MaybeUninit::new(7.0); len]
    }

    fn read(v: &[MaybeUninit<f32>]) -> Vec<f32> {
        // SAFETY: every element was initialised by `filled`.
        v.iter().map(|x| unsafe { x.assume_init() }).collect()
    }

    #[test]
    fn exp_is_within_two_ulp_and_handles_edges() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let got = f64::from(exp_f32(x));
            let want = f64::from(x).exp();
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 2.5e-7, "relative error {worst}");
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(-200.0), 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(0.0), 1.0);
        let fused = exp_f32_with(1.2345, f32::mul_add);
        assert!((f64::from(fused) - 1.2345f64.exp()).abs() < 1e-6);
    }

    /// A skip that shows in every run: written to stderr itself, past libtest's capture
    /// of `eprintln!`. The machine decides it (an instruction set), so it stays a skip
    /// under CI too.
    #[cfg(target_arch = "x86_64")]
    fn skip(test: &str, why: &str) {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "skipped {test}: {why}");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_and_portable_kernels_agree() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            skip(
                "avx2_and_portable_kernels_agree",
                "this CPU has no AVX2 and FMA",
            );
            return;
        }
        let mut x: Vec<f32> = (0..203)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 3.0)
            .collect();
        x[17] = f32::NEG_INFINITY;
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        unsafe {
            let (a, am) = avx2::sum_exp_then_max_f32(&x, 16.0, &x);
            let (p, pm) = portable::sum_exp_then_max_f32(&x, 16.0, &x);
            assert_eq!(am, pm);
            assert!(((a - p) / p).abs() < 1e-6, "{a} vs {p}");
            let (mut oa, mut op) = (filled(x.len()), filled(x.len()));
            avx2::scaled_exp_f32(&x, 16.0, 1.5, 0.5, &mut oa);
            portable::scaled_exp_f32(&x, 16.0, 1.5, 0.5, &mut op);
            let (oa, op) = (read(&oa), read(&op));
            for (a, p) in oa.iter().zip(&op) {
                assert!((a - p).abs() <= 1e-6 * p.abs().max(1e-30), "{a} vs {p}");
            }
            x[5] = f32::NAN;
            assert!(avx2::sum_exp_then_max_f32(&[], 0.0, &x).1.is_nan());
            assert!(portable::sum_exp_then_max_f32(&[], 0.0, &x).1.is_nan());
        }
    }

    /// The AVX-512 kernels must give exactly the AVX2 kernels' bits, so that output does
    /// not depend on which of the two a machine has.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_kernels_equal_the_avx2_ones_bit_for_bit() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            skip(
                "avx512_kernels_equal_the_avx2_ones_bit_for_bit",
                "this CPU has no AVX-512",
            );
            return;
        }
        let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        let row = |len: usize, seed: usize| -> Vec<f32> {
            let mut x: Vec<f32> = (0..len)
                .map(|i| (((i + seed) * 53 % 97) as f32 - 48.0) / 3.0 + (i as f32).sin())
                .collect();
            if len > 17 {
                x[17] = f32::NEG_INFINITY;
                x[3] = -100.0;
                x[4] = 88.37;
            }
            x
        };
        // Lengths around the 8-, 16- and 32-lane steps, so that every tail path runs, and
        // a next row shorter, equal or longer.
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 203, 1000] {
            let x = row(len, 0);
            for next_len in [0, 5, 8, len, len + 9, 2 * len + 40] {
                let mut next = row(next_len, 11);
                for m in [16.0, 0.0, 3.25] {
                    // SAFETY: the CPU has AVX-512F, hence AVX2 and FMA (checked above).
                    let (wide, narrow, alone_sum, alone_max, plain) = unsafe {
                        (
                            avx512::sum_exp_then_max_f32(&x, m, &next),
                            avx2::sum_exp_then_max_f32(&x, m, &next),
                            avx2::sum_exp_then_max_f32(&x, m, &[]).0,
                            avx2::sum_exp_then_max_f32(&[], 0.0, &next).1,
                            portable::sum_exp_then_max_f32(&x, m, &next),
                        )
                    };
                    let what = format!("len {len}, next {next_len}, m {m}");
                    assert_eq!(wide.0.to_bits(), narrow.0.to_bits(), "{what}");
                    assert!(same(wide.1, narrow.1), "{what}");
                    assert_eq!(narrow.0.to_bits(), alone_sum.to_bits(), "{what}");
                    assert!(same(narrow.1, alone_max), "{what}");
                    assert!(same(narrow.1, plain.1), "{what}");
                    assert!((narrow.0 - plain.0).abs() <= 1e-6 * plain.0, "{what}");
                }
                if next_len > 5 {
                    next[5] = f32::NAN;
                    // SAFETY: as above.
                    unsafe {
                        assert!(avx512::sum_exp_then_max_f32(&x, 0.0, &next).1.is_nan());
                        assert!(avx2::sum_exp_then_max_f32(&x, 0.0, &next).1.is_nan());
                    }
                }
            }
            let (mut o512, mut o2) = (filled(len + 1), filled(len + 1));
            // SAFETY: as above.
            unsafe {
                avx512::scaled_exp_f32(&x, 16.0, 1.5, 0.5, &mut o512[..len]);
                avx2::scaled_exp_f32(&x, 16.0, 1.5, 0.5, &mut o2[..len]);
            }
            let (o512, o2) = (read(&o512), read(&o2));
            assert_eq!((o512[len], o2[len]), (7.0, 7.0), "written past the end");
            for (k, (a, b)) in o512.iter().zip(&o2).enumerate() {
                assert!(same(*a, *b), "len {len}, element {k}: {a} vs {b}");
            }
            if len > 5 {
                let mut x = x;
                x[5] = f32::NAN;
                // SAFETY: as above.
                assert!(unsafe { avx512::sum_exp_then_max_f32(&x, 0.0, &[]) }
                    .0
                    .is_nan());
            }
        }
    }

    #[test]
    fn row_kernels_agree_with_plain_loops() {
        let x: Vec<f32> = (0..1003)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let m = f32::row_max(&x);
        assert_eq!(m, x.iter().cloned().fold(f32::NEG_INFINITY, f32::max));
        let want: f64 = x.iter().map(|&v| (f64::from(v) - f64::from(m)).exp()).sum();
        let got = f32::row_sum_exp(&x, m);
        assert!(((got - want) / want).abs() < 1e-6, "{got} vs {want}");
        let mut with_nan = x.clone();
        with_nan[500] = f32::NAN;
        assert!(f32::row_max(&with_nan).is_nan());
        let mut out = filled(x.len());
        f32::write_scaled_exp(&x, m, 0.0, 2.0, &mut out);
        let out = read(&out);
        assert!((out[0] - 2.0 * (x[0] - m).exp()).abs() < 1e-6);
    }
}
