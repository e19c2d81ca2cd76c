//! The float32 `log` and `sincos` of PyTorch's AVX2 normal kernel (`avx_mathfun.h`,
//! Cephes polynomials), lane by lane, with the multiply-adds GCC fuses when it compiles
//! them: only IEEE add, multiply, fused multiply-add, square root and bit operations, so
//! the bits are the same on every machine.
//!
//! `f32::mul_add` is one rounding everywhere (an FMA instruction where the CPU has one,
//! a correctly rounded library call where not), so these functions give PyTorch's bits
//! whatever the target; `box_muller_16` is compiled a second time with FMA enabled and
//! chosen at run time, for speed only.

#![allow(clippy::excessive_precision)]

// The kernel's constants, written as its source writes them (double literals, each
// rounded once to float).
const SQRT_HALF: f32 = std::f64::consts::FRAC_1_SQRT_2 as f32;
const LOG_P: [f32; 9] = [
    7.0376836292E-2_f64 as f32,
    -1.1514610310E-1_f64 as f32,
    1.1676998740E-1_f64 as f32,
    -1.2420140846E-1_f64 as f32,
    1.4249322787E-1_f64 as f32,
    -1.6668057665E-1_f64 as f32,
    2.0000714765E-1_f64 as f32,
    -2.4999993993E-1_f64 as f32,
    3.3333331174E-1_f64 as f32,
];
const LOG_Q1: f32 = -2.12194440e-4_f64 as f32;
const LOG_Q2: f32 = 0.693359375;

const FOUR_OVER_PI: f32 = 1.27323954473516_f64 as f32;
const DP1: f32 = -0.78515625;
const DP2: f32 = -2.4187564849853515625e-4_f64 as f32;
const DP3: f32 = -3.77489497744594108e-8_f64 as f32;
const SIN_P: [f32; 3] = [
    -1.9515295891E-4_f64 as f32,
    8.3321608736E-3_f64 as f32,
    -1.6666654611E-1_f64 as f32,
];
const COS_P: [f32; 3] = [
    2.443315711809948E-005_f64 as f32,
    -1.388731625493765E-003_f64 as f32,
    4.166664568298827E-002_f64 as f32,
];

/// `log256_ps` for one lane, for `x > 0` (the kernel's inputs are in `[2⁻²⁴, 1]`).
#[inline(always)]
pub fn log(x: f32) -> f32 {
    let x = x.max(f32::from_bits(0x0080_0000));
    let bits = x.to_bits();
    let mut e = ((bits >> 23) as i32 - 0x7f) as f32 + 1.0;
    // The mantissa as a number in [0.5, 1).
    let m = f32::from_bits((bits & !0x7f80_0000) | 0.5f32.to_bits());
    let below = m < SQRT_HALF;
    let tmp = if below { m } else { 0.0 };
    if below {
        e -= 1.0;
    }
    let x = (m - 1.0) + tmp;
    let z = x * x;
    let mut y = LOG_P[0];
    for &p in &LOG_P[1..] {
        y = y.mul_add(x, p);
    }
    y *= x;
    y = y.mul_add(z, e * LOG_Q1);
    y = z.mul_add(-0.5, y);
    let x = x + y;
    e.mul_add(LOG_Q2, x)
}

/// `sincos256_ps` for one lane: `(sin x, cos x)`.
#[inline(always)]
pub fn sincos(x: f32) -> (f32, f32) {
    let sign_sin = x.to_bits() & 0x8000_0000;
    let ax = x.abs();
    let y = ax * FOUR_OVER_PI;
    // Truncation toward zero, as `cvttps` does. Rust's saturating `as` would keep the
    // compiler from vector instructions; clamped first (a NaN becomes the bound), `y` is
    // always in range. The kernel's angles, in [0, 2π), are far below the clamp.
    let y = y.min(2.0e9);
    // SAFETY: `y` is in [0, 2e9] (|x|·4/π is not negative, and NaN or larger values
    // were clamped), within i32's range.
    let j = (unsafe { y.to_int_unchecked::<i32>() }.wrapping_add(1)) & !1;
    let y = j as f32;
    let swap_sin = ((j & 4) as u32) << 29;
    let use_sine_poly = (j & 2) == 0;
    let sign_cos = ((!(j.wrapping_sub(2)) & 4) as u32) << 29;
    let xr = y.mul_add(DP1, ax);
    let xr = y.mul_add(DP2, xr);
    let xr = y.mul_add(DP3, xr);
    let z = xr * xr;
    let mut yc = COS_P[0].mul_add(z, COS_P[1]).mul_add(z, COS_P[2]);
    yc *= z;
    yc = yc.mul_add(z, -(z * 0.5));
    yc += 1.0;
    let mut ys = SIN_P[0].mul_add(z, SIN_P[1]).mul_add(z, SIN_P[2]);
    ys *= z;
    ys = ys.mul_add(xr, xr);
    // The kernel selects by masking and adding, which turns a -0.0 into +0.0: kept.
    let (sin_from_sine, sin_from_cos) = if use_sine_poly { (ys, 0.0) } else { (0.0, yc) };
    let sin = sin_from_cos + sin_from_sine;
    let cos = (yc - sin_from_cos) + (ys - sin_from_sine);
    (
        f32::from_bits(sin.to_bits() ^ (sign_sin ^ swap_sin)),
        f32::from_bits(cos.to_bits() ^ sign_cos),
    )
}

/// `normal_fill_16_AVX2` without its mean and standard deviation: 16 uniforms in
/// `[0, 1)` become 16 standard normals, pair `(j, j + 8)` by Box–Muller.
#[inline(always)]
fn box_muller_16_portable(block: &mut [f32; 16]) {
    let two_pi = (2.0 * std::f64::consts::PI) as f32;
    // Stage by stage over the 8 lanes, as the kernel's vectors go: loops the compiler
    // turns into vector instructions where the CPU has them.
    let mut radius = [0f32; 8];
    let mut theta = [0f32; 8];
    for j in 0..8 {
        radius[j] = log(1.0 - block[j]);
        theta[j] = two_pi * block[j + 8];
    }
    for r in &mut radius {
        *r = (-2.0 * *r).sqrt();
    }
    let mut sin = [0f32; 8];
    let mut cos = [0f32; 8];
    for j in 0..8 {
        (sin[j], cos[j]) = sincos(theta[j]);
    }
    for j in 0..8 {
        block[j] = radius[j] * cos[j];
        block[j + 8] = radius[j] * sin[j];
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn box_muller_16_fma(block: &mut [f32; 16]) {
    box_muller_16_portable(block)
}

/// The Box–Muller block of PyTorch's AVX2 normal kernel (see `box_muller_16_portable`),
/// through the CPU's FMA where it has one: the same bits either way.
pub fn box_muller_16(block: &mut [f32; 16]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx2") {
        // SAFETY: the features the function is compiled for were just detected.
        unsafe { box_muller_16_fma(block) };
        return;
    }
    box_muller_16_portable(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_to_the_true_functions() {
        for i in 1..=1000 {
            let x = i as f32 / 1000.0;
            assert!(
                (log(x) - x.ln()).abs() <= 2e-7 * x.ln().abs().max(1.0),
                "log {x}"
            );
            let t = x * std::f32::consts::TAU;
            let (s, c) = sincos(t);
            assert!(
                (s - t.sin()).abs() < 1e-6 && (c - t.cos()).abs() < 1e-6,
                "{t}"
            );
        }
    }

    #[test]
    fn the_fma_build_gives_the_portable_bits() {
        let mut a = [0f32; 16];
        for (i, v) in a.iter_mut().enumerate() {
            *v = (i as f32 * 0.061_3 + 0.000_7) % 1.0;
        }
        let mut b = a;
        box_muller_16(&mut a);
        box_muller_16_portable(&mut b);
        assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
    }
}
