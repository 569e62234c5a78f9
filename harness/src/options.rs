//! The resolved configuration of a run, as run.json records it.

use crate::compare::ToleranceSpec;
use crate::mode::Mode;
use serde::Serialize;
use std::path::PathBuf;

/// The seed used when `--seed` is not given. Fixed, so two default runs test the same inputs.
pub const DEFAULT_SEED: u64 = 20_261_127;
pub const DEFAULT_INPUTS: u64 = 200;
pub const DEFAULT_MAX_SIDE: usize = 64;
pub const DEFAULT_MAX_SIDE_LARGE: usize = 1024;
/// Seconds of shrinking per signature.
pub const DEFAULT_SHRINK_TIME: f64 = 5.0;

/// Which inputs a run evaluates.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputPlan {
    /// The saved regressions of each case, then `inputs` generated ones.
    Generate,
    /// `tfdiff replay FILE...`: these .npy files only.
    Files(Vec<PathBuf>),
    /// `tfdiff replay --input I...`: these generated inputs only.
    Inputs(Vec<u64>),
}

#[derive(Clone, Debug, Serialize)]
pub struct RunConfig {
    pub seed: u64,
    pub inputs: u64,
    pub max_side: usize,
    pub max_side_large: usize,
    pub plan: InputPlan,
    pub modes: Vec<Mode>,
    pub pairs: Vec<(Mode, Mode)>,
    /// Cases selected with --case; empty means all.
    pub cases: Vec<String>,
    pub cases_dirs: Vec<PathBuf>,
    /// Command-line tolerance; a case's own TOLERANCE takes precedence over it.
    pub tolerance: ToleranceSpec,
    pub out: Option<PathBuf>,
    pub reports_dir: PathBuf,
    pub python_env: Option<PathBuf>,
    /// Known divergences: --baseline, else cases/expected.toml when it exists.
    pub baseline: Option<PathBuf>,
    pub progress: bool,
    /// Time box for shrinking each signature, in seconds; 0 turns shrinking off.
    pub shrink_time: f64,
    /// Also write every divergent input to occurrences.csv.
    pub all: bool,
    /// Save shrunk inputs under regressions/ next to their case.
    pub save_regressions: bool,
}
