//! The reproduction script written for each signature: a standalone Python file that loads the
//! shrunk input and runs the case's two sides in the pair's two modes — what one pastes into a
//! TensorFlow bug report. The script itself is `python/repro_template.py`.

use crate::compare::{Metrics, Rule, ToleranceSpec};
use crate::outcome::Precision;
use anyhow::Result;
use std::path::Path;

const TEMPLATE: &str = include_str!("../../python/repro_template.py");

/// What the script needs to know; paths are as the script should see them.
pub struct ScriptSpec<'a> {
    pub case: &'a str,
    pub case_file: &'a Path,
    /// The input's path relative to the script's own directory.
    pub input_file: &'a str,
    pub input_label: &'a str,
    pub layout: &'a str,
    pub mode_a: &'a str,
    pub mode_b: &'a str,
    pub kind: &'a str,
    pub seed: u64,
    pub shape: &'a str,
    pub original_shape: &'a str,
    pub tolerance: &'a ToleranceSpec,
    /// The measured comparison, for the dtype the rule applies in.
    pub metrics: Option<&'a Metrics>,
    /// Seconds a mode may take before the script calls it hung (`--timeout`).
    pub timeout: f64,
    pub numpy: &'a str,
    pub tensorflow: &'a str,
}

pub fn render(spec: &ScriptSpec<'_>) -> Result<String> {
    let quote = |text: &str| serde_json::to_string(text).expect("strings serialize");
    let precision = spec
        .metrics
        .map(|m| m.precision)
        .unwrap_or(Precision::Float64);
    let (rtol, atol, max_ulp) = match spec.tolerance.rule(precision) {
        Rule::Close { rtol, atol } => (rtol, atol, "None".to_string()),
        Rule::Ulp(n) => (0.0, 0.0, n.to_string()),
    };
    let compare_dtype = match precision {
        Precision::BFloat16 | Precision::Float32 => "float32",
        Precision::Float16 => "float16",
        Precision::Float64 => "float64",
        Precision::Exact => "int64",
    };
    let case_file = std::path::absolute(spec.case_file)?;
    let replacements = [
        ("@CASE_FILE@", quote(&case_file.display().to_string())),
        ("@INPUT_FILE@", quote(spec.input_file)),
        ("@LAYOUT@", quote(spec.layout)),
        ("@MODE_A_STRING@", quote(spec.mode_a)),
        ("@MODE_B_STRING@", quote(spec.mode_b)),
        ("@RTOL@", format!("{rtol:e}")),
        ("@ATOL@", format!("{atol:e}")),
        ("@MAX_ULP@", max_ulp),
        ("@COMPARE_DTYPE@", quote(compare_dtype)),
        ("@TIMEOUT@", format!("{:?}", spec.timeout)),
        ("@CASE@", spec.case.to_string()),
        ("@MODE_A@", spec.mode_a.to_string()),
        ("@MODE_B@", spec.mode_b.to_string()),
        ("@KIND@", spec.kind.to_string()),
        ("@TFDIFF@", env!("CARGO_PKG_VERSION").to_string()),
        ("@NUMPY@", spec.numpy.to_string()),
        ("@TENSORFLOW@", spec.tensorflow.to_string()),
        ("@SEED@", spec.seed.to_string()),
        ("@INPUT_LABEL@", spec.input_label.to_string()),
        ("@ORIGINAL_SHAPE@", spec.original_shape.to_string()),
        ("@SHAPE@", spec.shape.to_string()),
    ];
    let mut script = TEMPLATE.to_string();
    for (placeholder, value) in replacements {
        script = script.replace(placeholder, &value);
    }
    Ok(script)
}
