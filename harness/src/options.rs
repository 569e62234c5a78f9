//! The resolved configuration of a run, as run.json records it.

use crate::compare::ToleranceSpec;
use crate::mode::{Mode, ModePair};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The seed used when `--seed` is not given. Fixed, so two default runs test the same inputs.
pub const DEFAULT_SEED: u64 = 20_261_127;
pub const DEFAULT_INPUTS: u64 = 200;
pub const DEFAULT_MAX_SIDE: usize = 64;
pub const DEFAULT_MAX_SIDE_LARGE: usize = 1024;
/// Seconds of shrinking per signature.
pub const DEFAULT_SHRINK_TIME: f64 = 5.0;
/// Seconds one mode may take on one input before its worker is killed. The slowest single
/// evaluation measured (a shipped case's first XLA call — trace, compile, run — on a
/// 1024x1024x4 image, the largest generated, on a loaded machine) took 0.3 s.
pub const DEFAULT_TIMEOUT: f64 = 30.0;

/// `--shard K/N`: the K-th of N deterministic shares of a run's inputs (K from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Whether the `position`-th input (generated input number, or regression index) is ours.
    pub fn owns(self, position: u64) -> bool {
        position % self.count == self.index - 1
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let usage = || format!("{text:?} is not K/N with 1 <= K <= N, e.g. 2/4");
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let index: u64 = index.trim().parse().map_err(|_| usage())?;
        let count: u64 = count.trim().parse().map_err(|_| usage())?;
        if index == 0 || index > count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Which inputs a run evaluates.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputPlan {
    /// The saved regressions of each case, then `inputs` generated ones.
    Generate,
    /// `tfdiff replay FILE...`: these .npy files only.
    Files(Vec<PathBuf>),
    /// `tfdiff replay --input I...`: these generated inputs only.
    Inputs(Vec<u64>),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunConfig {
    pub seed: u64,
    pub inputs: u64,
    pub max_side: usize,
    pub max_side_large: usize,
    pub plan: InputPlan,
    /// Only this share of the inputs (for CI matrices; `tfdiff merge` joins the shares).
    pub shard: Option<Shard>,
    pub modes: Vec<Mode>,
    pub pairs: Vec<ModePair>,
    /// Cases selected with --case; empty means all.
    pub cases: Vec<String>,
    pub cases_dirs: Vec<PathBuf>,
    /// Command-line tolerance; a case's own TOLERANCE takes precedence over it.
    pub tolerance: ToleranceSpec,
    pub out: Option<PathBuf>,
    /// Empty `out` (an earlier run's directory) first.
    #[serde(default)]
    pub force: bool,
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
    /// Worker processes evaluating inputs side by side.
    #[serde(default = "one")]
    pub jobs: usize,
    /// Seconds one mode may take on one input.
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// A mode's output larger than this many bytes is the outcome `OutputTooLarge`.
    #[serde(default = "default_max_output_bytes")]
    pub max_output_bytes: u64,
    /// Where XLA's compiled programs are kept across workers and runs; None: not kept.
    #[serde(default)]
    pub xla_cache: Option<PathBuf>,
}

fn one() -> usize {
    1
}

/// 256 MiB: two such outputs and their comparison fit any machine that runs TensorFlow.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 256 << 20;

fn default_max_output_bytes() -> u64 {
    DEFAULT_MAX_OUTPUT_BYTES
}

fn default_timeout() -> f64 {
    DEFAULT_TIMEOUT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_k_of_n_owns_the_inputs_i_with_i_mod_n_equal_to_k_minus_1() {
        let shards: Vec<Shard> = (1..=3).map(|index| Shard { index, count: 3 }).collect();
        for position in 0..30u64 {
            let owners: Vec<u64> = shards
                .iter()
                .filter(|shard| shard.owns(position))
                .map(|shard| shard.index)
                .collect();
            assert_eq!(owners, vec![position % 3 + 1], "input {position}");
        }
        let whole = Shard { index: 1, count: 1 };
        assert!((0..10).all(|position| whole.owns(position)));
    }

    #[test]
    fn a_run_json_written_before_a_setting_existed_reads_with_its_default() {
        let text = crate::run_on_disk::FIXTURE_RUN_JSON;
        let mut json: serde_json::Value = serde_json::from_str(text).unwrap();
        let config = json["config"].as_object_mut().unwrap();
        for key in ["jobs", "timeout", "max_output_bytes", "xla_cache"] {
            config.remove(key);
        }
        let config: RunConfig = serde_json::from_value(json["config"].clone()).unwrap();
        assert_eq!(config.jobs, 1);
        assert_eq!(config.timeout, DEFAULT_TIMEOUT);
        assert_eq!(config.max_output_bytes, 256 << 20);
        assert_eq!(config.xla_cache, None);
    }

    #[test]
    fn a_shard_is_k_of_n_with_k_from_1_to_n() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(" 4 / 4 ".parse::<Shard>(), Ok(Shard { index: 4, count: 4 }));
        for wrong in ["0/4", "5/4", "2", "a/4", "2/b", "-1/4"] {
            let error = wrong.parse::<Shard>().unwrap_err();
            assert!(error.contains("K/N with 1 <= K <= N"), "{wrong}: {error}");
        }
        assert_eq!(Shard { index: 2, count: 4 }.to_string(), "2/4");
    }
}
