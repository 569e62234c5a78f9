//! The driver's hottest loop, for the pair it meets most: two float32 outputs compared in
//! float32. A run of elements that holds a difference (see `scan`) is measured here with the same
//! arithmetic for every element, dealt to four lanes whose maxima are kept apart so that their
//! dependency chains overlap. NumPy against TensorFlow, a third of the elements a few ULPs
//! apart: 11.1 ns per element pair measured in the general loop, 8.4 here (`cargo run --release
//! --example compare_bench`).
//!
//! It has exactly the effect of `ScanState::add` on each element: an element with the same
//! bits on both sides goes through the same arithmetic and comes out 0 apart, within any
//! tolerance that is not negative, and no worse than the worst so far. A run with a NaN or an
//! infinity anywhere is left to `ScanState::add`.

use super::{Rule, ScanState};
use crate::histogram::Bucket;

/// Whether `add_finite_run` may be used with `rule`: an equal element must agree, as in
/// `ScanState::add`, so the tolerances must not be negative (or NaN).
pub(super) fn applies(rule: Rule) -> bool {
    match rule {
        Rule::Close { rtol, atol } => rtol >= 0.0 && atol >= 0.0,
        Rule::Ulp(_) => true,
    }
}

/// Adds the elements of one run, the first at `start`, to `state` — as `ScanState::add` on each
/// would. Returns false, having added nothing, when either side holds a NaN or an infinity.
pub(super) fn add_finite_run(state: &mut ScanState, start: usize, xs: &[f32], ys: &[f32]) -> bool {
    const EXPONENT: u32 = 0x7f80_0000;
    let finite = |values: &[f32]| values.iter().all(|v| v.to_bits() & EXPONENT != EXPONENT);
    if !(finite(xs) && finite(ys)) {
        return false;
    }
    match state.rule {
        Rule::Close { rtol, atol } => add_run::<true>(state, start, xs, ys, (rtol, atol, 0)),
        Rule::Ulp(max_ulp) => add_run::<false>(state, start, xs, ys, (0.0, 0.0, max_ulp)),
    }
    true
}

/// `add_finite_run` for one rule: `CLOSE` (rtol and atol), else at most `max_ulp` apart. The
/// elements are dealt to `LANES` lanes that keep their own maxima, so that the dependency
/// chains of the maxima run side by side; the lanes are merged at the end.
#[inline(always)]
fn add_run<const CLOSE: bool>(
    state: &mut ScanState,
    start: usize,
    xs: &[f32],
    ys: &[f32],
    rule: (f64, f64, u64),
) {
    let metrics = &mut state.metrics;
    let mut lanes = [Lane::new(metrics, state.largest); LANES];
    let (chunks_x, chunks_y) = (xs.chunks_exact(LANES), ys.chunks_exact(LANES));
    let (rest_x, rest_y) = (chunks_x.remainder(), chunks_y.remainder());
    for (chunk, (cx, cy)) in chunks_x.zip(chunks_y).enumerate() {
        for (lane, state) in lanes.iter_mut().enumerate() {
            let position = start + chunk * LANES + lane;
            state.add::<CLOSE>(position, cx[lane], cy[lane], rule, &mut metrics.counts);
        }
    }
    let first_rest = start + xs.len() - rest_x.len();
    for (offset, (&x, &y)) in rest_x.iter().zip(rest_y).enumerate() {
        lanes[0].add::<CLOSE>(first_rest + offset, x, y, rule, &mut metrics.counts);
    }
    for lane in &lanes {
        metrics.max_abs = metrics.max_abs.max(lane.max_abs);
        metrics.max_rel = metrics.max_rel.max(lane.max_rel);
        metrics.max_ulp = metrics.max_ulp.max(lane.max_ulp);
        state.value_mismatches += lane.mismatches;
        for (ulp, &count) in [0, 1, 2, 3].iter().zip(&lane.low) {
            metrics.counts.add(Bucket::of(*ulp), count);
        }
        // The worst is the first of the equally bad: the largest badness, then the
        // smallest position (a lane holds the first of its own equals).
        let better = |(worst, at): (f64, usize)| {
            state
                .largest
                .is_none_or(|(best, best_at)| worst > best || (worst == best && at < best_at))
        };
        if lane.worst.0 >= 0.0 && better(lane.worst) {
            state.largest = Some(lane.worst);
        }
    }
}

/// Elements dealt to lanes (see `add_run`).
const LANES: usize = 4;

/// What one lane has found in a run.
#[derive(Clone, Copy)]
struct Lane {
    max_abs: f64,
    max_rel: f64,
    max_ulp: u64,
    /// Badness and position; badness -1 while there is none.
    worst: (f64, usize),
    mismatches: u64,
    /// Elements 0, 1, 2 and 3-4 ULPs apart (the buckets past those are counted in place).
    low: [u64; 4],
}

impl Lane {
    fn new(metrics: &super::Metrics, largest: Option<(f64, usize)>) -> Lane {
        Lane {
            max_abs: metrics.max_abs,
            max_rel: metrics.max_rel,
            max_ulp: metrics.max_ulp,
            worst: largest.unwrap_or((-1.0, 0)),
            mismatches: 0,
            low: [0; 4],
        }
    }

    #[inline(always)]
    fn add<const CLOSE: bool>(
        &mut self,
        position: usize,
        x: f32,
        y: f32,
        (rtol, atol, max_ulp): (f64, f64, u64),
        counts: &mut crate::histogram::InputCounts,
    ) {
        let ulp = (ordered(x) - ordered(y)).unsigned_abs();
        let (x, y) = (f64::from(x), f64::from(y));
        let abs = (x - y).abs();
        let rel = if abs == 0.0 { 0.0 } else { abs / x.abs() };
        let within = if CLOSE {
            abs <= atol + rtol * x.abs()
        } else {
            ulp <= max_ulp
        };
        self.mismatches += u64::from(!within);
        // No NaN here (both sides finite), so a plain comparison is `f64::max`.
        self.max_abs = if abs > self.max_abs {
            abs
        } else {
            self.max_abs
        };
        self.max_rel = if rel > self.max_rel {
            rel
        } else {
            self.max_rel
        };
        self.max_ulp = self.max_ulp.max(ulp);
        let badness = if CLOSE { abs } else { ulp as f64 };
        if badness > self.worst.0 {
            self.worst = (badness, position);
        }
        self.low[0] += u64::from(ulp == 0);
        self.low[1] += u64::from(ulp == 1);
        self.low[2] += u64::from(ulp == 2);
        self.low[3] += u64::from(ulp.wrapping_sub(3) < 2);
        if ulp > 4 {
            counts.add(Bucket::of(ulp), 1);
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
    use crate::outcome::Precision;
    use proptest::prelude::*;

    /// `scan` as it was before this file: every element through `ScanState::add`.
    fn element_by_element(xs: &[f32], ys: &[f32], rule: Rule) -> Scan {
        let mut state = ScanState::new(rule, Precision::Float32);
        for (position, (&x, &y)) in xs.iter().zip(ys).enumerate() {
            state.add(position, f64::from(x), f64::from(y));
        }
        state.finish()
    }

    fn verdict(scan: &Scan) -> (Option<Kind>, &Metrics, Option<usize>) {
        (scan.kind, &scan.metrics, scan.decisive)
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

    /// `x` moved by a few ULPs, a lot, to the other sign, or not at all.
    fn partner(x: f32, how: u8) -> f32 {
        match how % 8 {
            0..=2 => x,
            3 => f32::from_bits(x.to_bits().wrapping_add(1)),
            4 => f32::from_bits(x.to_bits().wrapping_add(3)),
            5 => f32::from_bits(x.to_bits().wrapping_sub(40)),
            6 => -x,
            _ => x * 1.5 + 1e-3,
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
            // Now and then a NaN or an infinity, which leaves its run to the general loop.
            poison in proptest::option::weighted(0.3, (0usize..300, any::<bool>(), any::<bool>())),
        ) {
            let xs: Vec<f32> = pairs.iter().map(|(x, _)| *x).collect();
            let mut ys: Vec<f32> = pairs.iter().map(|(x, how)| partner(*x, *how)).collect();
            if let Some((at, nan, negative)) = poison {
                let bad = if nan { f32::NAN } else { f32::INFINITY };
                let at = at % ys.len();
                ys[at] = if negative { -bad } else { bad };
            }
            for rule in [Rule::Close { rtol, atol }, Rule::Ulp(max_ulp)] {
                let fast = scan(&xs, &ys, rule, Precision::Float32);
                let slow = element_by_element(&xs, &ys, rule);
                prop_assert_eq!(verdict(&fast), verdict(&slow));
            }
        }
    }
}
