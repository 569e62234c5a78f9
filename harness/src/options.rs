//! The resolved configuration of a run, as run.json records it.

use crate::compare::ToleranceSpec;
use crate::mode::Mode;
use serde::Serialize;
use std::path::PathBuf;

/// The seed used when `--seed` is not given. Fixed, so two default runs test the same inputs.
pub const DEFAULT_SEED: u64 = 20_261_127;
pub const DEFAULT_INPUTS: u64 = 200;
pub const DEFAULT_MAX_SIDE: usize = 64;

#[derive(Clone, Debug, Serialize)]
pub struct RunConfig {
    pub seed: u64,
    pub inputs: u64,
    pub max_side: usize,
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
    pub progress: bool,
}
