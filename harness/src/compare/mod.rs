//! Comparison of two outcomes of one input: the divergence kind, if any, and the error measured
//! whether or not the pair agrees. Pure arithmetic: no Python, no I/O.

mod float32;

use crate::histogram::{Bucket, InputCounts};
use crate::outcome::{Element, Outcome, OutputArray, Precision};
use crate::with_values;
use serde::{Deserialize, Serialize};

/// Why a pair of outcomes disagrees, in the order they are checked. Its name (`Display`,
/// `FromStr`, serde) is the lowercase variant: what the reports and `expected.toml` say.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Kind {
    /// The worker process died while one side ran (signal or exit): never an agreement, even
    /// when both sides crashed.
    Crash,
    /// One side gave no result within `--timeout`.
    Timeout,
    /// One side raised (or returned something that is not an array) and the other did not, or
    /// both raised exceptions of different types.
    Error,
    /// The two arrays have different shapes.
    Shape,
    /// NaN in different positions.
    Nan,
    /// ±Inf in different positions, or with different signs.
    Inf,
    /// Finite values beyond tolerance.
    Value,
}

impl Kind {
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Every kind's name, for messages: "crash, timeout, ...".
    pub fn names() -> String {
        use strum::VariantArray;
        let names: Vec<&str> = Kind::VARIANTS.iter().map(|kind| kind.name()).collect();
        names.join(", ")
    }
}

/// Tolerance as asked for by a case's `TOLERANCE` or the command line. What it leaves out comes
/// from the defaults of the coarser output dtype; `max_ulp` replaces rtol/atol altogether.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToleranceSpec {
    pub rtol: Option<f64>,
    pub atol: Option<f64>,
    pub max_ulp: Option<u64>,
}

impl ToleranceSpec {
    pub fn is_empty(&self) -> bool {
        self.rtol.is_none() && self.atol.is_none() && self.max_ulp.is_none()
    }

    /// The rule for outputs compared in `precision`.
    pub fn rule(&self, precision: Precision) -> Rule {
        if let Some(max_ulp) = self.max_ulp {
            return Rule::Ulp(max_ulp);
        }
        let (rtol, atol) = default_tolerance(precision);
        Rule::Close {
            rtol: self.rtol.unwrap_or(rtol),
            atol: self.atol.unwrap_or(atol),
        }
    }
}

/// (rtol, atol) for outputs compared in `precision`. float16, float32 and float64 follow the
/// customary test tolerances of each width; bfloat16, with 8 mantissa bits, gets 2^-7.
pub fn default_tolerance(precision: Precision) -> (f64, f64) {
    match precision {
        Precision::BFloat16 => (7.8125e-3, 1e-5),
        Precision::Float16 => (1e-3, 1e-5),
        Precision::Float32 => (1.3e-6, 1e-5),
        Precision::Float64 => (1e-7, 1e-7),
        Precision::Exact => (0.0, 0.0),
    }
}

/// When two finite values agree.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Rule {
    /// `|a - b| <= atol + rtol * |a|`, a being the pair's first mode.
    Close { rtol: f64, atol: f64 },
    /// At most this many units in the last place apart, in the coarser dtype.
    Ulp(u64),
}

/// The element that decided the verdict: the first NaN/Inf mismatch, else the largest error.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Worst {
    pub index: Vec<usize>,
    pub a: f64,
    pub b: f64,
}

/// Error measured over the elements where both values are finite.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    pub max_abs: f64,
    pub max_rel: f64,
    pub max_ulp: u64,
    /// Elements that break the rule, NaN/Inf mismatches included.
    pub mismatches: u64,
    pub worst: Option<Worst>,
    pub precision: Precision,
    /// Elements per ULP bucket (see `histogram`).
    #[serde(skip)]
    pub counts: InputCounts,
}

/// The verdict on one pair of outcomes for one input.
#[derive(Clone, Debug, PartialEq)]
pub struct PairComparison {
    /// None when the pair agrees.
    pub kind: Option<Kind>,
    /// Present when both sides produced arrays of one shape.
    pub metrics: Option<Metrics>,
}

impl PairComparison {
    fn diverged(kind: Kind) -> PairComparison {
        PairComparison {
            kind: Some(kind),
            metrics: None,
        }
    }
}

/// Compares two outcomes; `a` is the pair's first mode.
pub fn compare(a: &Outcome, b: &Outcome, tolerance: &ToleranceSpec) -> PairComparison {
    match (a, b) {
        (Outcome::Crash(_), _) | (_, Outcome::Crash(_)) => PairComparison::diverged(Kind::Crash),
        (Outcome::Timeout { .. }, _) | (_, Outcome::Timeout { .. }) => {
            PairComparison::diverged(Kind::Timeout)
        }
        (Outcome::Array(a), Outcome::Array(b)) => compare_arrays(a, b, tolerance),
        (Outcome::Error { type_name: ta, .. }, Outcome::Error { type_name: tb, .. })
            if ta == tb =>
        {
            PairComparison {
                kind: None,
                metrics: None,
            }
        }
        _ => PairComparison::diverged(Kind::Error),
    }
}

/// Compares each pair of outcomes, each distinct pair of arrays once: a pair whose two sides
/// are the very arrays of an earlier pair (`OutputArray::is_same`: a mode that returned
/// another's output to the bit shares its values) gets the earlier pair's verdict, which
/// `compare` would give again. NumPy against eager, graph and XLA is one comparison when the
/// three TensorFlow modes agree to the bit, as they mostly do.
pub fn compare_pairs(
    pairs: &[(&Outcome, &Outcome)],
    tolerance: &ToleranceSpec,
) -> Vec<PairComparison> {
    let same = |x: &Outcome, y: &Outcome| match (x, y) {
        (Outcome::Array(x), Outcome::Array(y)) => x.is_same(y),
        _ => false,
    };
    let mut verdicts: Vec<PairComparison> = Vec::with_capacity(pairs.len());
    for (index, &(a, b)) in pairs.iter().enumerate() {
        let earlier = pairs[..index]
            .iter()
            .position(|&(earlier_a, earlier_b)| same(a, earlier_a) && same(b, earlier_b));
        let verdict = match earlier {
            Some(earlier) => verdicts[earlier].clone(),
            None => compare(a, b, tolerance),
        };
        verdicts.push(verdict);
    }
    verdicts
}

fn compare_arrays(a: &OutputArray, b: &OutputArray, tolerance: &ToleranceSpec) -> PairComparison {
    if a.shape != b.shape {
        return PairComparison::diverged(Kind::Shape);
    }
    let precision = Precision::coarser(&a.dtype, &b.dtype);
    let rule = tolerance.rule(precision);
    // Each side is read in its own stored type: one loop per pair of types.
    let scan = with_values!(&*a.values, xs => with_values!(&*b.values, ys => scan(xs, ys, rule, precision)));
    let mut metrics = scan.metrics;
    metrics.precision = precision;
    metrics.worst = scan.decisive.map(|position| Worst {
        index: unravel(position, &a.shape),
        a: a.values.get(position),
        b: b.values.get(position),
    });
    PairComparison {
        kind: scan.kind,
        metrics: Some(metrics),
    }
}

/// What one pass over two arrays found.
struct Scan {
    kind: Option<Kind>,
    metrics: Metrics,
    /// The element that decides the verdict (see `Worst`).
    decisive: Option<usize>,
}

/// Elements compared as bytes at a time before any is compared as a number (see `scan`).
const RUN: usize = 64;

/// Compares two arrays of one shape element by element, each read in its own stored type.
fn scan<A: Element, B: Element>(xs: &[A], ys: &[B], rule: Rule, precision: Precision) -> Scan {
    let mut state = ScanState::new(rule, precision);
    // Most elements of most pairs are the same bits (two TensorFlow modes mostly agree to the
    // bit), and such an element adds nothing once the first finite one is seen. So when both
    // sides have one type, runs of elements are compared as bytes (a memcmp, many elements
    // per instruction) and only runs that differ are compared number by number. This is the
    // driver's hottest loop.
    let same_type = std::any::TypeId::of::<A>() == std::any::TypeId::of::<B>();
    let fast = float32::Floats::of::<A, B>()
        .filter(|_| precision == Precision::Float32 && float32::applies(rule));
    let mut start = 0;
    while start < xs.len() {
        let end = (start + RUN).min(xs.len());
        let (run_x, run_y) = (&xs[start..end], &ys[start..end]);
        let skip = same_type
            && state.largest.is_some()
            && bytemuck::cast_slice::<A, u8>(run_x) == bytemuck::cast_slice::<B, u8>(run_y);
        if skip {
            state.metrics.counts.add(Bucket::of(0), run_x.len() as u64);
        } else if fast
            .is_some_and(|floats| float32::add_finite_run(floats, &mut state, start, run_x, run_y))
        {
            // Measured without a branch per element (`float32.rs`).
        } else {
            for (offset, (&x, &y)) in run_x.iter().zip(run_y).enumerate() {
                state.add(start + offset, x.to_f64(), y.to_f64());
            }
        }
        start = end;
    }
    state.finish()
}

/// What `scan` has found so far.
struct ScanState {
    rule: Rule,
    metrics: Metrics,
    first_nan: Option<usize>,
    first_inf: Option<usize>,
    /// The worst finite element so far, by the measure the rule uses, and where.
    largest: Option<(f64, usize)>,
    value_mismatches: u64,
}

impl ScanState {
    fn new(rule: Rule, precision: Precision) -> ScanState {
        ScanState {
            rule,
            metrics: Metrics {
                max_abs: 0.0,
                max_rel: 0.0,
                max_ulp: 0,
                mismatches: 0,
                worst: None,
                precision,
                counts: InputCounts::default(),
            },
            first_nan: None,
            first_inf: None,
            largest: None,
            value_mismatches: 0,
        }
    }

    #[inline(always)]
    fn add(&mut self, position: usize, x: f64, y: f64) {
        if x.is_nan() || y.is_nan() {
            if x.is_nan() != y.is_nan() {
                self.metrics.mismatches += 1;
                self.first_nan.get_or_insert(position);
                self.metrics.counts.add(Bucket::NAN_INF, 1);
            } else {
                self.metrics.counts.add(Bucket::of(0), 1);
            }
            return;
        }
        if x.is_infinite() || y.is_infinite() {
            if x != y {
                self.metrics.mismatches += 1;
                self.first_inf.get_or_insert(position);
                self.metrics.counts.add(Bucket::NAN_INF, 1);
            } else {
                self.metrics.counts.add(Bucket::of(0), 1);
            }
            return;
        }
        if x.to_bits() == y.to_bits() {
            self.largest.get_or_insert((0.0, position));
            self.metrics.counts.add(Bucket::of(0), 1);
            return;
        }
        let abs = (x - y).abs();
        let rel = relative_error(x, y);
        let ulp = ulp_distance(x, y, self.metrics.precision);
        self.metrics.counts.add(Bucket::of(ulp), 1);
        let within = match self.rule {
            Rule::Close { rtol, atol } => abs <= atol + rtol * x.abs(),
            Rule::Ulp(max_ulp) => ulp <= max_ulp,
        };
        if !within {
            self.value_mismatches += 1;
        }
        let metrics = &mut self.metrics;
        metrics.max_abs = metrics.max_abs.max(abs);
        metrics.max_rel = metrics.max_rel.max(rel);
        metrics.max_ulp = metrics.max_ulp.max(ulp);
        // The worst element is judged by the measure the rule uses.
        let badness = match self.rule {
            Rule::Close { .. } => abs,
            Rule::Ulp(_) => ulp as f64,
        };
        if self.largest.is_none_or(|(worst, _)| badness > worst) {
            self.largest = Some((badness, position));
        }
    }

    fn finish(mut self) -> Scan {
        self.metrics.mismatches += self.value_mismatches;
        let largest = self.largest.map(|(_, position)| position);
        let (kind, decisive) = if let Some(position) = self.first_nan {
            (Some(Kind::Nan), Some(position))
        } else if let Some(position) = self.first_inf {
            (Some(Kind::Inf), Some(position))
        } else if self.value_mismatches > 0 {
            (Some(Kind::Value), largest)
        } else {
            (None, largest)
        };
        Scan {
            kind,
            metrics: self.metrics,
            decisive,
        }
    }
}

/// `|a - b| / |a|`; infinite when a is zero and b is not.
pub fn relative_error(a: f64, b: f64) -> f64 {
    let abs = (a - b).abs();
    if abs == 0.0 {
        0.0
    } else {
        abs / a.abs()
    }
}

/// Units in the last place between `a` and `b` once both are rounded to `precision`: how many
/// representable values lie between them, plus one. +0 and -0 are 0 apart. For integer
/// outputs it is the integer distance.
pub fn ulp_distance(a: f64, b: f64, precision: Precision) -> u64 {
    let ordered = |bits: u64, sign: u64| -> i128 {
        if bits & sign != 0 {
            -((bits & !sign) as i128)
        } else {
            bits as i128
        }
    };
    let (oa, ob) = match precision {
        Precision::Float64 => (ordered(a.to_bits(), 1 << 63), ordered(b.to_bits(), 1 << 63)),
        Precision::Float32 => {
            // The hot case: two float32s are less than 2^33 apart, so i64 arithmetic will do.
            return (float32::ordered(a as f32) - float32::ordered(b as f32)).unsigned_abs();
        }
        Precision::Float16 => (
            ordered(u64::from(half::f16::from_f64(a).to_bits()), 1 << 15),
            ordered(u64::from(half::f16::from_f64(b).to_bits()), 1 << 15),
        ),
        Precision::BFloat16 => (
            ordered(u64::from(half::bf16::from_f64(a).to_bits()), 1 << 15),
            ordered(u64::from(half::bf16::from_f64(b).to_bits()), 1 << 15),
        ),
        Precision::Exact => return (a - b).abs().min(u64::MAX as f64) as u64,
    };
    u64::try_from((oa - ob).unsigned_abs()).unwrap_or(u64::MAX)
}

/// The multi-dimensional index of a row-major flat position.
fn unravel(mut position: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (axis, &len) in shape.iter().enumerate().rev() {
        if len > 0 {
            index[axis] = position % len;
            position /= len;
        }
    }
    index
}

/// Builds an array outcome from a shape and values, for tests.
#[cfg(test)]
fn array(dtype: &str, shape: &[usize], values: Vec<f64>) -> Outcome {
    Outcome::array(
        ndarray::ArrayD::from_shape_vec(shape.to_vec(), values).unwrap(),
        dtype,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn defaults() -> ToleranceSpec {
        ToleranceSpec::default()
    }

    fn error(type_name: &str) -> Outcome {
        Outcome::Error {
            type_name: type_name.into(),
            message: "boom".into(),
        }
    }

    #[test]
    fn crashes_and_timeouts_never_agree_and_a_crash_outranks_the_rest() {
        let crash = Outcome::Crash(crate::outcome::Crash {
            cause: "SIGSEGV".into(),
            stderr: Vec::new(),
        });
        let timeout = Outcome::Timeout { seconds: 1.0 };
        let array = Outcome::array(ndarray::ArrayD::zeros(vec![1]), "float32");
        let kind = |a: &Outcome, b: &Outcome| compare(a, b, &defaults()).kind;
        assert_eq!(kind(&crash, &crash), Some(Kind::Crash));
        assert_eq!(kind(&array, &crash), Some(Kind::Crash));
        assert_eq!(kind(&timeout, &crash), Some(Kind::Crash));
        assert_eq!(kind(&timeout, &timeout), Some(Kind::Timeout));
        assert_eq!(kind(&error("ValueError"), &timeout), Some(Kind::Timeout));
        assert_eq!(kind(&array, &array), None);
    }

    #[test]
    fn ulp_distance_counts_representable_steps() {
        let one = 1.0f64;
        assert_eq!(ulp_distance(one, one, Precision::Float64), 0);
        assert_eq!(
            ulp_distance(one, f64::from_bits(one.to_bits() + 1), Precision::Float64),
            1
        );
        assert_eq!(
            ulp_distance(
                one,
                f64::from(f32::from_bits(1f32.to_bits() + 3)),
                Precision::Float32
            ),
            3
        );
        // float16 has 10 fraction bits: 1 + 2^-10 is the next value after 1.
        assert_eq!(ulp_distance(1.0, 1.0 + 1.0 / 1024.0, Precision::Float16), 1);
        assert_eq!(ulp_distance(1.0, 1.0 + 1.0 / 128.0, Precision::BFloat16), 1);
        assert_eq!(ulp_distance(3.0, 7.0, Precision::Exact), 4);
    }

    #[test]
    fn ulp_distance_across_zero_counts_both_sides() {
        assert_eq!(ulp_distance(0.0, -0.0, Precision::Float64), 0);
        let tiny = f64::from_bits(1);
        assert_eq!(ulp_distance(tiny, -tiny, Precision::Float64), 2);
        assert_eq!(
            ulp_distance(f64::from(f32::from_bits(1)), 0.0, Precision::Float32),
            1
        );
        // Across zero in each width: every float between -1 and 1, counted once.
        assert_eq!(ulp_distance(-1.0, 1.0, Precision::Float32), 2 * 0x3f80_0000);
        assert_eq!(ulp_distance(-0.0, 0.0, Precision::Float32), 0);
        assert_eq!(
            ulp_distance(-1.0, 1.0, Precision::Float64),
            2 * 0x3ff0_0000_0000_0000
        );
        assert_eq!(ulp_distance(-1.0, 1.0, Precision::Float16), 2 * 0x3c00);
        assert_eq!(ulp_distance(-1.0, 1.0, Precision::BFloat16), 2 * 0x3f80);
        // The same the other way round (each side's sign read on its own).
        for precision in [
            Precision::Float64,
            Precision::Float32,
            Precision::Float16,
            Precision::BFloat16,
        ] {
            assert_eq!(
                ulp_distance(1.0, -1.0, precision),
                ulp_distance(-1.0, 1.0, precision),
                "{precision:?}"
            );
            assert_eq!(
                ulp_distance(-2.0, -1.0, precision),
                ulp_distance(1.0, 2.0, precision)
            );
        }
    }

    #[test]
    fn ulp_distance_rounds_to_the_coarser_dtype_first() {
        // 0.1 as float64 and as float32 are different numbers but the same float32.
        assert_eq!(ulp_distance(0.1, f64::from(0.1f32), Precision::Float32), 0);
        assert!(ulp_distance(0.1, f64::from(0.1f32), Precision::Float64) > 1_000_000);
    }

    #[test]
    fn tolerance_rule_is_relative_to_the_first_value() {
        // |a-b| = 1e-6; float32 defaults allow 1e-5 + 1.3e-6 * |a|.
        let a = array("float32", &[1], vec![1.0]);
        let b = array("float32", &[1], vec![1.0 + 1e-6]);
        assert_eq!(compare(&a, &b, &defaults()).kind, None);
        // At 1e3 the allowance is 1e-5 + 1.3e-3; an error of 2e-3 is beyond it.
        let a = array("float32", &[1], vec![1000.0]);
        let b = array("float32", &[1], vec![1000.002]);
        assert_eq!(compare(&a, &b, &defaults()).kind, Some(Kind::Value));
        // The rule is not symmetric: the first value scales the allowance.
        let tight = ToleranceSpec {
            rtol: Some(0.5),
            atol: Some(0.0),
            max_ulp: None,
        };
        let small = array("float64", &[1], vec![1.0]);
        let big = array("float64", &[1], vec![1.9]);
        assert_eq!(compare(&big, &small, &tight).kind, None);
        assert_eq!(compare(&small, &big, &tight).kind, Some(Kind::Value));
    }

    #[test]
    fn the_tolerance_and_ulp_rules_include_their_bound() {
        // |a - b| == atol exactly (0.5 and 0.25 are exact in binary): within.
        let at_bound = compare(
            &array("float64", &[1], vec![1.0]),
            &array("float64", &[1], vec![1.5]),
            &ToleranceSpec {
                rtol: Some(0.0),
                atol: Some(0.5),
                max_ulp: None,
            },
        );
        assert_eq!(at_bound.kind, None);
        let beyond = compare(
            &array("float64", &[1], vec![1.0]),
            &array("float64", &[1], vec![1.75]),
            &ToleranceSpec {
                rtol: Some(0.0),
                atol: Some(0.5),
                max_ulp: None,
            },
        );
        assert_eq!(beyond.kind, Some(Kind::Value));
        // rtol alone: |a - b| == rtol * |a| (2 * 0.25 = 0.5) is within.
        let relative = compare(
            &array("float64", &[1], vec![2.0]),
            &array("float64", &[1], vec![2.5]),
            &ToleranceSpec {
                rtol: Some(0.25),
                atol: Some(0.0),
                max_ulp: None,
            },
        );
        assert_eq!(relative.kind, None);
        // max_ulp = 1: one step apart agrees, two do not.
        let one = f64::from(f32::from_bits(1.0f32.to_bits() + 1));
        let two = f64::from(f32::from_bits(1.0f32.to_bits() + 2));
        let ulps = ToleranceSpec {
            rtol: None,
            atol: None,
            max_ulp: Some(1),
        };
        let step = |b: f64| {
            compare(
                &array("float32", &[1], vec![1.0]),
                &array("float32", &[1], vec![b]),
                &ulps,
            )
            .kind
        };
        assert_eq!(step(one), None);
        assert_eq!(step(two), Some(Kind::Value));
    }

    #[test]
    fn identical_integer_and_boolean_outputs_agree_and_different_ones_do_not() {
        // Each read in its own stored type, as a worker sends them.
        let stored = |dtype: &str, values: &[i64]| {
            let bytes: Vec<u8> = match dtype {
                "int64" => values.iter().flat_map(|v| v.to_ne_bytes()).collect(),
                "int32" => values
                    .iter()
                    .flat_map(|&v| (v as i32).to_ne_bytes())
                    .collect(),
                _ => values.iter().map(|&v| v as u8).collect(),
            };
            Outcome::Array(OutputArray {
                dtype: dtype.to_string(),
                shape: vec![values.len()],
                values: std::sync::Arc::new(
                    crate::outcome::Values::from_bytes(dtype, &bytes).unwrap(),
                ),
            })
        };
        for dtype in ["int64", "int32", "uint8", "bool"] {
            let values = [0, 1, 1, 0];
            let same = compare(
                &stored(dtype, &values),
                &stored(dtype, &values),
                &defaults(),
            );
            assert_eq!(same.kind, None, "{dtype}");
            let metrics = same.metrics.unwrap();
            assert_eq!(
                (metrics.max_abs, metrics.max_ulp, metrics.mismatches),
                (0.0, 0, 0)
            );
            let other = compare(
                &stored(dtype, &values),
                &stored(dtype, &[0, 1, 0, 0]),
                &defaults(),
            );
            assert_eq!(other.kind, Some(Kind::Value), "{dtype}");
            assert_eq!(other.metrics.unwrap().mismatches, 1, "{dtype}");
        }
    }

    #[test]
    fn defaults_follow_the_coarser_dtype() {
        // 1e-6 apart: fine for float32, beyond float64's 1e-7 + 1e-7 * |a|.
        let a64 = array("float64", &[1], vec![0.5]);
        let b64 = array("float64", &[1], vec![0.5 + 1e-6]);
        let b32 = array("float32", &[1], vec![0.5 + 1e-6]);
        assert_eq!(compare(&a64, &b64, &defaults()).kind, Some(Kind::Value));
        assert_eq!(compare(&a64, &b32, &defaults()).kind, None);
        // Integers must be exact.
        let i = array("uint8", &[2], vec![1.0, 2.0]);
        let j = array("int32", &[2], vec![1.0, 3.0]);
        let result = compare(&i, &j, &defaults());
        assert_eq!(result.kind, Some(Kind::Value));
        assert_eq!(result.metrics.unwrap().max_ulp, 1);
    }

    #[test]
    fn max_ulp_replaces_rtol_and_atol() {
        let a = array("float32", &[1], vec![1.0]);
        let b = array(
            "float32",
            &[1],
            vec![f64::from(f32::from_bits(1f32.to_bits() + 2))],
        );
        let two = ToleranceSpec {
            max_ulp: Some(2),
            ..Default::default()
        };
        let one = ToleranceSpec {
            max_ulp: Some(1),
            ..Default::default()
        };
        assert_eq!(compare(&a, &b, &two).kind, None);
        assert_eq!(compare(&a, &b, &one).kind, Some(Kind::Value));
    }

    #[test]
    fn nan_in_the_same_places_agrees_and_elsewhere_is_kind_nan() {
        let a = array("float64", &[3], vec![f64::NAN, 1.0, 2.0]);
        let same = array("float32", &[3], vec![f64::NAN, 1.0, 2.0]);
        assert_eq!(compare(&a, &same, &defaults()).kind, None);
        let moved = array("float64", &[3], vec![0.0, f64::NAN, 2.0]);
        let result = compare(&a, &moved, &defaults());
        assert_eq!(result.kind, Some(Kind::Nan));
        let metrics = result.metrics.unwrap();
        assert_eq!(metrics.mismatches, 2);
        assert_eq!(metrics.worst.as_ref().unwrap().index, vec![0]);
        assert!(metrics.worst.unwrap().a.is_nan());
    }

    #[test]
    fn inf_sign_or_position_is_kind_inf_and_nan_is_checked_first() {
        let a = array("float64", &[2], vec![f64::INFINITY, 1.0]);
        let same = array("float64", &[2], vec![f64::INFINITY, 1.0]);
        let flipped = array("float64", &[2], vec![f64::NEG_INFINITY, 1.0]);
        let finite = array("float64", &[2], vec![1e308, 1.0]);
        assert_eq!(compare(&a, &same, &defaults()).kind, None);
        assert_eq!(compare(&a, &flipped, &defaults()).kind, Some(Kind::Inf));
        assert_eq!(compare(&a, &finite, &defaults()).kind, Some(Kind::Inf));
        let both = array("float64", &[2], vec![f64::NEG_INFINITY, f64::NAN]);
        assert_eq!(compare(&a, &both, &defaults()).kind, Some(Kind::Nan));
        let two = array("float64", &[2], vec![f64::NEG_INFINITY, f64::INFINITY]);
        let metrics = compare(&a, &two, &defaults()).metrics.unwrap();
        assert_eq!(metrics.mismatches, 2);
        assert_eq!(metrics.worst.unwrap().index, vec![0]);
    }

    /// float32 outputs as a worker sends them (read in their own type, not as float64).
    fn float32s(values: &[f32]) -> Outcome {
        Outcome::Array(OutputArray {
            dtype: "float32".into(),
            shape: vec![values.len()],
            values: std::sync::Arc::new(crate::outcome::Values::Float32(values.to_vec())),
        })
    }

    #[test]
    fn pairs_of_shared_arrays_get_the_verdict_compare_gives() {
        let numpy = float32s(&[1.0, 2.0, f32::NAN, 3.0]);
        let eager = float32s(&[1.0, 2.000_000_2, f32::NAN, 3.5]);
        // graph repeated eager (shared values); xla holds equal values of its own.
        let graph = eager.clone();
        let xla = float32s(&[1.0, 2.000_000_2, f32::NAN, 3.5]);
        let Outcome::Array(as_float64) = eager.clone() else {
            unreachable!()
        };
        let as_float64 = Outcome::Array(OutputArray {
            dtype: "float64".into(),
            ..as_float64
        });
        let pairs = [
            (&numpy, &eager),
            (&numpy, &graph),
            (&eager, &graph),
            (&numpy, &xla),
            (&graph, &xla),
            (&numpy, &as_float64),
        ];
        let verdicts = compare_pairs(&pairs, &defaults());
        for ((a, b), verdict) in pairs.iter().zip(&verdicts) {
            assert_eq!(*verdict, compare(a, b, &defaults()));
        }
        assert_eq!(verdicts[0].kind, Some(Kind::Value));
        assert_eq!(verdicts[2].kind, None);
        assert_eq!(
            verdicts[5].metrics.as_ref().unwrap().precision,
            Precision::Float32
        );
    }

    #[test]
    fn long_outputs_that_differ_past_the_first_run_are_found() {
        // Longer than a run of bytes compared at once: the difference is in the third run.
        let a: Vec<f32> = (0..200).map(|i| i as f32 / 7.0).collect();
        let mut b = a.clone();
        b[150] = f32::from_bits(b[150].to_bits() + 3);
        let result = compare(&float32s(&a), &float32s(&b), &defaults());
        let metrics = result.metrics.unwrap();
        assert_eq!(metrics.max_ulp, 3);
        assert_eq!(metrics.worst.unwrap().index, vec![150]);
        // NaN in the same place far in agrees; a NaN that moved there does not.
        let mut c = a.clone();
        c[130] = f32::NAN;
        assert_eq!(
            compare(&float32s(&c), &float32s(&c), &defaults()).kind,
            None
        );
        let nan = compare(&float32s(&a), &float32s(&c), &defaults());
        assert_eq!(nan.kind, Some(Kind::Nan));
        assert_eq!(nan.metrics.unwrap().worst.unwrap().index, vec![130]);
        // Identical from the first element on: agree, and the worst is the first element.
        let same = compare(&float32s(&a), &float32s(&a), &defaults());
        assert_eq!(same.kind, None);
        assert_eq!(same.metrics.unwrap().worst.unwrap().index, vec![0]);
    }

    #[test]
    fn every_element_is_counted_in_its_ulp_bucket_skipped_runs_included() {
        use crate::histogram::Bucket;
        // 200 elements: runs of equal bytes are skipped, and still counted as 0 ulp.
        let a: Vec<f32> = (0..200).map(|i| i as f32 / 7.0).collect();
        let mut b = a.clone();
        b[150] = f32::from_bits(b[150].to_bits() + 3);
        b[10] = f32::from_bits(b[10].to_bits() + 1);
        b[199] = f32::NAN;
        let mut c = a.clone();
        c[20] = f32::INFINITY;
        let counts = |x: &[f32], y: &[f32]| {
            let metrics = compare(&float32s(x), &float32s(y), &defaults())
                .metrics
                .unwrap();
            let counts = metrics.counts.0;
            let named: Vec<(String, u64)> = Bucket::all()
                .filter(|b| counts[b.index()] > 0)
                .map(|b| (b.to_string(), counts[b.index()]))
                .collect();
            named
        };
        let named = |list: &[(&str, u64)]| -> Vec<(String, u64)> {
            list.iter().map(|&(b, n)| (b.to_string(), n)).collect()
        };
        assert_eq!(
            counts(&a, &b),
            named(&[("0", 197), ("1", 1), ("3-4", 1), ("nan_inf", 1)])
        );
        assert_eq!(counts(&a, &a), named(&[("0", 200)]));
        // An Inf on one side only is a NaN/Inf status difference; on both, 0 apart.
        assert_eq!(counts(&a, &c), named(&[("0", 199), ("nan_inf", 1)]));
        assert_eq!(counts(&c, &c), named(&[("0", 200)]));
    }

    #[test]
    fn the_worst_element_is_the_first_of_equally_bad_ones() {
        let a = array("float64", &[4], vec![1.0, 2.0, 3.0, 4.0]);
        let b = array("float64", &[4], vec![1.0, 2.5, 3.0, 4.5]);
        let worst = compare(&a, &b, &defaults()).metrics.unwrap().worst.unwrap();
        assert_eq!(worst.index, vec![1]);
        let ulps = ToleranceSpec {
            max_ulp: Some(0),
            ..Default::default()
        };
        let worst = compare(&a, &b, &ulps).metrics.unwrap().worst.unwrap();
        assert_eq!((worst.index, worst.a, worst.b), (vec![1], 2.0, 2.5));
    }

    #[test]
    fn the_same_bits_in_two_types_are_not_the_same_values() {
        // int32 1065353216 and float32 1.0 share their bytes.
        let ints = Outcome::Array(OutputArray {
            dtype: "int32".into(),
            shape: vec![100],
            values: std::sync::Arc::new(crate::outcome::Values::Int32(vec![
                1.0f32.to_bits() as i32;
                100
            ])),
        });
        let result = compare(&ints, &float32s(&[1.0; 100]), &defaults());
        assert_eq!(result.kind, Some(Kind::Value));
        assert_eq!(result.metrics.unwrap().mismatches, 100);
    }

    #[test]
    fn a_tolerance_is_empty_only_without_any_of_its_three_settings() {
        assert!(ToleranceSpec::default().is_empty());
        for spec in [
            ToleranceSpec {
                rtol: Some(0.0),
                ..Default::default()
            },
            ToleranceSpec {
                atol: Some(0.0),
                ..Default::default()
            },
            ToleranceSpec {
                max_ulp: Some(0),
                ..Default::default()
            },
        ] {
            assert!(!spec.is_empty(), "{spec:?}");
        }
    }

    #[test]
    fn kinds_are_named_as_the_reports_write_them() {
        assert_eq!(
            Kind::names(),
            "crash, timeout, error, shape, nan, inf, value"
        );
        assert_eq!("value".parse::<Kind>(), Ok(Kind::Value));
        assert!("Value".parse::<Kind>().is_err());
        assert_eq!(Kind::Nan.to_string(), "nan");
    }

    #[test]
    fn shapes_and_errors() {
        let a = array("float32", &[2, 2], vec![0.0; 4]);
        let b = array("float32", &[4], vec![0.0; 4]);
        assert_eq!(compare(&a, &b, &defaults()).kind, Some(Kind::Shape));
        assert_eq!(
            compare(&a, &error("TypeError"), &defaults()).kind,
            Some(Kind::Error)
        );
        assert_eq!(
            compare(&error("TypeError"), &error("TypeError"), &defaults()).kind,
            None
        );
        assert_eq!(
            compare(&error("TypeError"), &error("ValueError"), &defaults()).kind,
            Some(Kind::Error)
        );
        let bad = Outcome::BadOutput {
            message: "None".into(),
        };
        assert_eq!(
            compare(&bad, &bad.clone(), &defaults()).kind,
            Some(Kind::Error)
        );
    }

    #[test]
    fn metrics_are_measured_when_the_pair_agrees() {
        let a = array("float64", &[2, 2], vec![1.0, 2.0, 4.0, 8.0]);
        let b = array("float32", &[2, 2], vec![1.0, 2.0, 4.0 + 1e-6, 8.0]);
        let result = compare(&a, &b, &defaults());
        assert_eq!(result.kind, None);
        let metrics = result.metrics.unwrap();
        assert_eq!(metrics.mismatches, 0);
        assert!((metrics.max_abs - 1e-6).abs() < 1e-12);
        assert!((metrics.max_rel - 2.5e-7).abs() < 1e-12);
        assert_eq!(metrics.worst.unwrap().index, vec![1, 0]);
        assert_eq!(metrics.precision, Precision::Float32);
    }

    #[test]
    fn relative_error_of_zero_against_nonzero_is_infinite() {
        assert_eq!(relative_error(0.0, 0.0), 0.0);
        assert!(relative_error(0.0, 1e-30).is_infinite());
    }

    #[test]
    fn empty_arrays_agree_with_no_worst_element() {
        let a = array("float32", &[0, 3], vec![]);
        let result = compare(&a, &a.clone(), &defaults());
        assert_eq!(result.kind, None);
        assert_eq!(result.metrics.unwrap().worst, None);
    }

    proptest! {
        #[test]
        fn ulp_distance_is_a_metric_on_finite_floats(
            x in any::<f64>().prop_filter("finite", |v| v.is_finite()),
            y in any::<f64>().prop_filter("finite", |v| v.is_finite()),
        ) {
            prop_assert_eq!(ulp_distance(x, x, Precision::Float64), 0);
            prop_assert_eq!(
                ulp_distance(x, y, Precision::Float64),
                ulp_distance(y, x, Precision::Float64)
            );
            let next = if x == f64::MAX { x } else { f64::from_bits(
                if x >= 0.0 { if x == 0.0 { 1 } else { x.to_bits() + 1 } } else { x.to_bits() - 1 }
            ) };
            if next != x {
                prop_assert_eq!(ulp_distance(x, next, Precision::Float64), 1);
            }
        }

        #[test]
        fn close_rule_matches_its_formula_element_by_element(
            pairs in proptest::collection::vec((-1e3f64..1e3, -1e-3f64..1e-3), 1..50),
            rtol in 0f64..1e-4,
            atol in 0f64..1e-4,
        ) {
            let a: Vec<f64> = pairs.iter().map(|(v, _)| *v).collect();
            let b: Vec<f64> = pairs.iter().map(|(v, d)| v + d).collect();
            let expected = a.iter().zip(&b).filter(|(x, y)| (*x - *y).abs() > atol + rtol * x.abs()).count();
            let spec = ToleranceSpec { rtol: Some(rtol), atol: Some(atol), max_ulp: None };
            let result = compare(&array("float64", &[a.len()], a.clone()), &array("float64", &[b.len()], b), &spec);
            prop_assert_eq!(result.metrics.as_ref().unwrap().mismatches as usize, expected);
            prop_assert_eq!(result.kind.is_some(), expected > 0);
        }
    }
}
