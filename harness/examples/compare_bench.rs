//! How fast the driver compares two outputs: nanoseconds per element pair, for the kinds of
//! pairs a run meets — equal to the bit, every element a few ULPs apart, and a share of the
//! elements apart (NumPy against TensorFlow, typically) — and for NumPy's float64 beside
//! TensorFlow's float32. Prints figures; asserts nothing.
//!
//!     cargo run --release --example compare_bench [ELEMENTS]

use std::time::Instant;
use tfdiff::compare::{compare, ToleranceSpec};
use tfdiff::outcome::{Outcome, OutputArray, Values};

/// A deterministic stream of numbers (a 64-bit LCG): the same arrays on every run.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }
}

fn float32s(values: Vec<f32>) -> Outcome {
    Outcome::Array(OutputArray {
        dtype: "float32".into(),
        shape: vec![values.len()],
        values: std::sync::Arc::new(Values::Float32(values)),
    })
}

fn float64s(values: Vec<f64>) -> Outcome {
    Outcome::Array(OutputArray {
        dtype: "float64".into(),
        shape: vec![values.len()],
        values: std::sync::Arc::new(Values::Float64(values)),
    })
}

/// Nanoseconds per element pair comparing `a` with `b`, best of 5.
fn time(a: &Outcome, b: &Outcome, tolerance: &ToleranceSpec, elements: usize) -> f64 {
    let best = (0..5)
        .map(|_| {
            let begun = Instant::now();
            let comparison = compare(a, b, tolerance);
            let seconds = begun.elapsed().as_secs_f64();
            std::hint::black_box(comparison);
            seconds
        })
        .fold(f64::INFINITY, f64::min);
    best * 1e9 / elements as f64
}

/// `a` with a `share` of its elements moved by 1 to 3 ULPs.
fn nudged(a: &[f32], share: f64, stream: &mut Stream) -> Vec<f32> {
    a.iter()
        .map(|&x| {
            if (stream.next() % 1_000_000) as f64 >= share * 1e6 {
                return x;
            }
            let steps = 1 + (stream.next() % 3) as u32;
            f32::from_bits(x.to_bits() + steps)
        })
        .collect()
}

fn main() {
    let elements: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("ELEMENTS is a number"))
        .unwrap_or(4_000_000);
    let mut stream = Stream(20261202);
    let a: Vec<f32> = (0..elements)
        .map(|_| (stream.next() % 2_000_001) as f32 / 1e6 - 1.0)
        .collect();
    let tolerance = ToleranceSpec::default();
    let reference = float32s(a.clone());
    println!("{elements} float32 element pairs per comparison; best of 5");
    for (name, share) in [
        ("equal to the bit", 0.0),
        ("1% of elements apart", 0.01),
        ("30% of elements apart", 0.3),
        ("every element apart", 1.0),
    ] {
        let other = float32s(nudged(&a, share, &mut stream));
        let ns = time(&reference, &other, &tolerance, elements);
        println!("{name:<24} {ns:>6.2} ns per element pair");
    }
    // NumPy's float64 result of a formula TensorFlow computes in float32: off float32's grid.
    let wide = float64s(a.iter().map(|&x| f64::from(x) * (1.0 + 3e-8)).collect());
    let ns = time(
        &wide,
        &float32s(nudged(&a, 0.3, &mut stream)),
        &tolerance,
        elements,
    );
    println!(
        "{:<24} {ns:>6.2} ns per element pair",
        "float64 beside float32"
    );
}
