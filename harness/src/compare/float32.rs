//! The driver's hottest loop, for the pairs it meets most: two float outputs compared in
//! float32 precision — two float32s, or a float64 (NumPy's, often) and a float32. A run of
//! elements that holds a difference (see `scan`) is measured here with the same arithmetic for
//! every element and no branch, in eight lanes the compiler keeps in vector
//! registers (AVX2 where the CPU has it, chosen when the loop runs); which element is the worst
//! and the buckets past 4 ULPs are found afterwards, looking at the run again only when it
//! holds a new worst or such a distance. NumPy against TensorFlow, 30% of the elements a few
//! ULPs apart: 3.7 ns per element pair, against 10.4 ns for the four scalar lanes this replaced
//! and more for `ScanState::add` on each (`cargo run --release --example compare_bench`). A
//! float64 side is read as `ScanState::add` reads it: its ULPs counted once it is rounded to
//! float32, its errors in float64.
//!
//! It has exactly the effect of `ScanState::add` on each element: an element with the same
//! bits on both sides goes through the same arithmetic and comes out 0 apart, within any
//! tolerance that is not negative, and no worse than the worst so far. A run with a NaN or an
//! infinity anywhere is left to `ScanState::add`.

use super::{Rule, ScanState};
use crate::histogram::Bucket;
use crate::outcome::Element;
use std::any::TypeId;

/// An element type the fast loop reads.
pub(super) trait Float: Element {
    fn is_finite_value(self) -> bool;
    /// `ordered` of the value rounded to float32.
    fn ordered32(self) -> i64;
}

impl Float for f32 {
    #[inline(always)]
    fn is_finite_value(self) -> bool {
        const EXPONENT: u32 = 0x7f80_0000;
        self.to_bits() & EXPONENT != EXPONENT
    }

    #[inline(always)]
    fn ordered32(self) -> i64 {
        ordered(self)
    }
}

impl Float for f64 {
    #[inline(always)]
    fn is_finite_value(self) -> bool {
        self.is_finite()
    }

    #[inline(always)]
    fn ordered32(self) -> i64 {
        ordered(self as f32)
    }
}

/// The pairs of stored types the fast loop reads: float32 or float64 on each side.
#[derive(Clone, Copy)]
pub(super) enum Floats {
    F32F32,
    F32F64,
    F64F32,
    F64F64,
}

impl Floats {
    pub(super) fn of<A: 'static, B: 'static>() -> Option<Floats> {
        let width = |id: TypeId| {
            if id == TypeId::of::<f32>() {
                Some(32)
            } else if id == TypeId::of::<f64>() {
                Some(64)
            } else {
                None
            }
        };
        Some(
            match (width(TypeId::of::<A>())?, width(TypeId::of::<B>())?) {
                (32, 32) => Floats::F32F32,
                (32, _) => Floats::F32F64,
                (_, 32) => Floats::F64F32,
                _ => Floats::F64F64,
            },
        )
    }
}

/// Whether `add_finite_run` may be used with `rule`: an equal element must agree, as in
/// `ScanState::add`, so the tolerances must not be negative (or NaN).
pub(super) fn applies(rule: Rule) -> bool {
    match rule {
        Rule::Close { rtol, atol } => rtol >= 0.0 && atol >= 0.0,
        Rule::Ulp(_) => true,
    }
}

/// Adds the elements of one run, the first at `start`, to `state` — as `ScanState::add` on each
/// would. `floats` says what `A` and `B` are (`Floats::of`). Returns false, having added
/// nothing, when either side holds a NaN or an infinity.
pub(super) fn add_finite_run<A: Element, B: Element>(
    floats: Floats,
    state: &mut ScanState,
    start: usize,
    xs: &[A],
    ys: &[B],
) -> bool {
    use bytemuck::cast_slice as to;
    match floats {
        Floats::F32F32 => add_finite::<f32, f32>(state, start, to(xs), to(ys)),
        Floats::F32F64 => add_finite::<f32, f64>(state, start, to(xs), to(ys)),
        Floats::F64F32 => add_finite::<f64, f32>(state, start, to(xs), to(ys)),
        Floats::F64F64 => add_finite::<f64, f64>(state, start, to(xs), to(ys)),
    }
}

fn add_finite<A: Float, B: Float>(state: &mut ScanState, start: usize, xs: &[A], ys: &[B]) -> bool {
    if !(all_finite(xs) && all_finite(ys)) {
        return false;
    }
    match state.rule {
        Rule::Close { rtol, atol } => add_run::<true, A, B>(state, start, xs, ys, (rtol, atol, 0)),
        Rule::Ulp(max_ulp) => add_run::<false, A, B>(state, start, xs, ys, (0.0, 0.0, max_ulp)),
    }
    true
}

fn all_finite<T: Float>(values: &[T]) -> bool {
    values.iter().all(|value| value.is_finite_value())
}

/// `add_finite_run` for one rule: `CLOSE` (rtol and atol), else at most `max_ulp` apart.
#[inline(always)]
fn add_run<const CLOSE: bool, A: Float, B: Float>(
    state: &mut ScanState,
    start: usize,
    xs: &[A],
    ys: &[B],
    rule: (f64, f64, u64),
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        let run = unsafe { measure_avx2::<CLOSE, A, B>(xs, ys, rule) };
        return run.add_to::<CLOSE, A, B>(state, start, xs, ys, rule);
    }
    measure::<CLOSE, A, B>(xs, ys, rule).add_to::<CLOSE, A, B>(state, start, xs, ys, rule);
}

/// `measure` compiled for AVX2, where its lanes become vector registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn measure_avx2<const CLOSE: bool, A: Float, B: Float>(
    xs: &[A],
    ys: &[B],
    rule: (f64, f64, u64),
) -> Run {
    measure::<CLOSE, A, B>(xs, ys, rule)
}

/// Elements measured side by side (see `Run`).
const LANES: usize = 8;

/// What the elements of one run hold, lane by lane: element `i` of the run is measured in lane
/// `i % LANES`. Every lane does the same arithmetic without a branch, so the compiler keeps the
/// lanes in vector registers; what needs a branch — which element is the worst, the buckets
/// past 4 ULPs — is left to `add_to`, which looks at the run again only when it must.
struct Run {
    max_abs: [f64; LANES],
    max_rel: [f64; LANES],
    max_ulp: [u64; LANES],
    /// The worst badness (see `ScanState::add`).
    badness: [f64; LANES],
    mismatches: [u64; LANES],
    /// Elements 0, 1, 2 and 3-4 ULPs apart.
    low: [[u64; LANES]; 4],
}

/// One element's measures: ULPs apart, absolute and relative error, whether it is within the
/// rule, and its badness.
#[inline(always)]
fn element<const CLOSE: bool, A: Float, B: Float>(
    x: A,
    y: B,
    (rtol, atol, max_ulp): (f64, f64, u64),
) -> (u64, f64, f64, bool, f64) {
    let ulp = (x.ordered32() - y.ordered32()).unsigned_abs();
    let (x, y) = (x.to_f64(), y.to_f64());
    let abs = (x - y).abs();
    let rel = if abs == 0.0 { 0.0 } else { abs / x.abs() };
    let within = if CLOSE {
        abs <= atol + rtol * x.abs()
    } else {
        ulp <= max_ulp
    };
    let badness = if CLOSE { abs } else { ulp as f64 };
    (ulp, abs, rel, within, badness)
}

#[inline(always)]
fn measure<const CLOSE: bool, A: Float, B: Float>(
    xs: &[A],
    ys: &[B],
    rule: (f64, f64, u64),
) -> Run {
    let mut run = Run {
        max_abs: [0.0; LANES],
        max_rel: [0.0; LANES],
        max_ulp: [0; LANES],
        badness: [0.0; LANES],
        mismatches: [0; LANES],
        low: [[0; LANES]; 4],
    };
    let mut lane = |i: usize, x: A, y: B| {
        let (ulp, abs, rel, within, badness) = element::<CLOSE, A, B>(x, y, rule);
        run.mismatches[i] += u64::from(!within);
        // No NaN here (both sides finite), so a plain comparison is `f64::max`.
        run.max_abs[i] = if abs > run.max_abs[i] {
            abs
        } else {
            run.max_abs[i]
        };
        run.max_rel[i] = if rel > run.max_rel[i] {
            rel
        } else {
            run.max_rel[i]
        };
        run.max_ulp[i] = run.max_ulp[i].max(ulp);
        run.badness[i] = if badness > run.badness[i] {
            badness
        } else {
            run.badness[i]
        };
        run.low[0][i] += u64::from(ulp == 0);
        run.low[1][i] += u64::from(ulp == 1);
        run.low[2][i] += u64::from(ulp == 2);
        run.low[3][i] += u64::from(ulp.wrapping_sub(3) < 2);
    };
    let (chunks_x, chunks_y) = (xs.chunks_exact(LANES), ys.chunks_exact(LANES));
    let (rest_x, rest_y) = (chunks_x.remainder(), chunks_y.remainder());
    for (cx, cy) in chunks_x.zip(chunks_y) {
        for i in 0..LANES {
            lane(i, cx[i], cy[i]);
        }
    }
    for (i, (&x, &y)) in rest_x.iter().zip(rest_y).enumerate() {
        lane(i, x, y);
    }
    run
}

impl Run {
    /// Adds the run, whose first element is at `start`, to `state` (whose rule `CLOSE` is).
    fn add_to<const CLOSE: bool, A: Float, B: Float>(
        self,
        state: &mut ScanState,
        start: usize,
        xs: &[A],
        ys: &[B],
        rule: (f64, f64, u64),
    ) {
        let metrics = &mut state.metrics;
        let max_f64 = |values: [f64; LANES]| values.into_iter().fold(0.0, f64::max);
        metrics.max_abs = metrics.max_abs.max(max_f64(self.max_abs));
        metrics.max_rel = metrics.max_rel.max(max_f64(self.max_rel));
        let max_ulp = self.max_ulp.into_iter().max().unwrap_or(0);
        metrics.max_ulp = metrics.max_ulp.max(max_ulp);
        state.value_mismatches += self.mismatches.iter().sum::<u64>();
        for (ulp, lanes) in [0, 1, 2, 3].iter().zip(&self.low) {
            metrics.counts.add(Bucket::of(*ulp), lanes.iter().sum());
        }
        let badness_of = |x: A, y: B| element::<CLOSE, A, B>(x, y, rule).4;
        if max_ulp > 4 {
            for (&x, &y) in xs.iter().zip(ys) {
                let ulp = (x.ordered32() - y.ordered32()).unsigned_abs();
                if ulp > 4 {
                    metrics.counts.add(Bucket::of(ulp), 1);
                }
            }
        }
        // The worst is the first of the equally bad: a later run must be worse to replace it,
        // and within this run it is the first element as bad as the run's worst.
        let worst = max_f64(self.badness);
        if state.largest.is_none_or(|(best, _)| worst > best) {
            let first = xs
                .iter()
                .zip(ys)
                .position(|(&x, &y)| badness_of(x, y) == worst)
                .expect("the run's worst is one of its elements");
            state.largest = Some((worst, start + first));
        }
    }
}

/// A float32's bits as an integer that counts representable values: +0 and -0 are both 0,
/// and neighbours differ by 1 (as `ulp_distance` orders them).
#[inline(always)]
pub(super) fn ordered(value: f32) -> i64 {
    let bits = value.to_bits();
    let magnitude = i64::from(bits & !(1 << 31));
    if bits & (1 << 31) != 0 {
        -magnitude
    } else {
        magnitude
    }
}

#[cfg(test)]
mod tests {
    use super::super::{scan, Kind, Metrics, Rule, Scan, ScanState};
    use crate::outcome::{Element, Precision};
    use proptest::prelude::*;

    /// `scan` as it was before this file: every element through `ScanState::add`.
    fn element_by_element<A: Element, B: Element>(xs: &[A], ys: &[B], rule: Rule) -> Scan {
        let mut state = ScanState::new(rule, Precision::Float32);
        for (position, (&x, &y)) in xs.iter().zip(ys).enumerate() {
            state.add(position, x.to_f64(), y.to_f64());
        }
        state.finish()
    }

    fn verdict(scan: &Scan) -> (Option<Kind>, &Metrics, Option<usize>) {
        (scan.kind, &scan.metrics, scan.decisive)
    }

    /// `scan` finds on `xs` against `ys` what the element-by-element loop finds, by each rule.
    fn agree<A: Element, B: Element>(
        xs: &[A],
        ys: &[B],
        rules: [Rule; 2],
    ) -> Result<(), TestCaseError> {
        for rule in rules {
            let fast = scan(xs, ys, rule, Precision::Float32);
            let slow = element_by_element(xs, ys, rule);
            prop_assert_eq!(verdict(&fast), verdict(&slow));
        }
        Ok(())
    }

    /// The NaN or infinity a test's `poison` puts in (as float32 it stays what it is).
    fn bad(nan: bool, negative: bool) -> f64 {
        let bad = if nan { f64::NAN } else { f64::INFINITY };
        if negative {
            -bad
        } else {
            bad
        }
    }

    /// A finite value of each kind the fast path must get right: ordinary, ±0, subnormal, huge.
    fn value() -> impl Strategy<Value = f32> {
        prop_oneof![
            8 => -4f32..4.0,
            1 => Just(0.0f32),
            1 => Just(-0.0f32),
            1 => (1u32..100).prop_map(f32::from_bits),
            1 => Just(f32::MAX),
            1 => Just(-3e38f32),
        ]
    }

    /// `x` moved by 1 to 6 ULPs, or not at all; unless `near`, now and then by a lot or to the
    /// other sign. Near only, every run's worst is a few ULPs, so equally bad elements in
    /// different runs are common (the first must stay the worst), and every low bucket is met.
    fn partner(x: f32, how: u8, near: bool) -> f32 {
        // Towards zero, so that f32::MAX does not step into infinity (a run with one is left to
        // the general loop, and the fast one would go untested); from ±0 and tiny ones, away.
        let bits = x.to_bits();
        let steps = |n: u32| {
            f32::from_bits(if bits & !(1 << 31) >= 8 {
                bits - n
            } else {
                bits + n
            })
        };
        match how % if near { 9 } else { 12 } {
            0..=2 => x,
            k @ 3..=8 => steps(u32::from(k) - 2),
            9 => f32::from_bits(x.to_bits().wrapping_sub(40)),
            10 => -x,
            _ => x * 1.5 + 1e-3,
        }
    }

    /// `x` as NumPy's float64 side might hold it: exactly, or off float32's grid by less than
    /// a float32 ULP either way, so that rounding it to float32 counts.
    fn widened(x: f32, how: u8) -> f64 {
        let x = f64::from(x);
        match how % 4 {
            0 => x,
            1 => x * (1.0 + 2e-8),
            2 => x * (1.0 - 5e-8),
            _ => x + 1e-40,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn the_fast_float32_loop_finds_what_the_element_by_element_one_finds(
            pairs in proptest::collection::vec((value(), any::<u8>()), 1..300),
            rtol in prop_oneof![Just(0.0), 0f64..1e-3],
            atol in prop_oneof![Just(0.0), 0f64..1e-3],
            max_ulp in 0u64..5,
            near in any::<bool>(),
            // Now and then a NaN or an infinity, which leaves its run to the general loop.
            poison in proptest::option::weighted(0.3, (0usize..300, any::<bool>(), any::<bool>())),
        ) {
            let xs: Vec<f32> = pairs.iter().map(|(x, _)| *x).collect();
            let mut ys: Vec<f32> = pairs.iter().map(|(x, how)| partner(*x, *how, near)).collect();
            if let Some((at, nan, negative)) = poison {
                let at = at % ys.len();
                ys[at] = bad(nan, negative) as f32;
            }
            agree(&xs, &ys, [Rule::Close { rtol, atol }, Rule::Ulp(max_ulp)])?;
        }

        #[test]
        fn the_fast_loop_finds_what_the_element_by_element_one_finds_for_float64_beside_float32(
            pairs in proptest::collection::vec((value(), any::<u8>(), any::<u8>()), 1..300),
            rtol in prop_oneof![Just(0.0), 0f64..1e-3],
            atol in prop_oneof![Just(0.0), 0f64..1e-3],
            max_ulp in 0u64..5,
            near in any::<bool>(),
            // Now and then a NaN or an infinity on the float64 side.
            poison in proptest::option::weighted(0.3, (0usize..300, any::<bool>(), any::<bool>())),
        ) {
            let mut wide: Vec<f64> =
                pairs.iter().map(|(x, _, how)| widened(*x, *how)).collect();
            let narrow: Vec<f32> =
                pairs.iter().map(|(x, how, _)| partner(*x, *how, near)).collect();
            if let Some((at, nan, negative)) = poison {
                let at = at % wide.len();
                wide[at] = bad(nan, negative);
            }
            let rules = [Rule::Close { rtol, atol }, Rule::Ulp(max_ulp)];
            agree(&wide, &narrow, rules)?;
            agree(&narrow, &wide, rules)?;
        }
    }
}
