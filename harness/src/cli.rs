//! Command-line interface: `tfdiff [run] [OPTIONS]` and the other commands (`replay`, `merge`,
//! `diff`, `probe`, `list`, `doctor`), plus the hidden ones this binary starts itself
//! (`worker`, `probe-clean`).

use crate::compare::ToleranceSpec;
use crate::mode::{self, Mode, ModeChoice};
use crate::options::{
    InputPlan, RunConfig, Shard, DEFAULT_INPUTS, DEFAULT_MAX_SIDE, DEFAULT_MAX_SIDE_LARGE,
    DEFAULT_SEED, DEFAULT_SHRINK_TIME, DEFAULT_TIMEOUT,
};
use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// The longest `--timeout` or `--shrink-time`, a year: beyond what a run could wait, and what
/// the clocks' arithmetic holds without overflowing.
const MAX_SECONDS: f64 = 365.0 * 86_400.0;

#[derive(Debug, Parser)]
#[command(
    name = "tfdiff",
    version,
    about = "Do NumPy, TF eager, TF graph and XLA agree on your image normalizations?",
    long_about = "Runs every normalization case on generated uint8 images as pure NumPy, TF eager, \
                  TF graph (tf.function) and XLA, compares the outputs within tolerance, and writes \
                  CSV divergence reports. Without a subcommand it runs (`tfdiff run`).\n\n\
                  Exit status: 0 no new or exceeded divergence (known ones pass), 1 a new \
                  divergence (or a known one beyond its bound), 2 usage or environment error, a \
                  case file that could not be loaded, or a run that did not complete, 129/130/143 \
                  stopped by SIGHUP/SIGINT (Ctrl-C)/SIGTERM between inputs, reports kept.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the cases and write reports (the default).
    Run(RunArgs),
    /// List the cases found, with the first line of each docstring.
    List(CaseArgs),
    /// Show the Python environment: interpreter, paths, NumPy and TensorFlow builds.
    Doctor(EnvArgs),
    /// Replay saved inputs (.npy files, e.g. regressions) or regenerate inputs by number.
    Replay(ReplayArgs),
    /// Join the run directories of --shard K/N runs into the reports of the whole run.
    Merge(MergeArgs),
    /// Compare two run directories: signatures new, gone and persisting; error and environment changes.
    Diff(DiffArgs),
    /// Write report.html again from a run directory's files.
    Report(ReportArgs),
    /// Since when? Runs of one seed in several environments, ordered by TensorFlow/NumPy version.
    Timeline(TimelineArgs),
    /// Does importing TensorFlow change NumPy? Measure NumPy and the FTZ/DAZ bits at each stage.
    Probe(ProbeArgs),
    /// Write the generated inputs of a seed as .npy files, with inputs.csv naming each one.
    Inputs(InputsArgs),
    /// The probe's clean process (internal: started by probe and run).
    #[command(hide = true)]
    ProbeClean(EnvArgs),
    /// A worker process (internal: started by the driver, speaks the protocol on stdin/stdout).
    #[command(hide = true)]
    Worker(WorkerArgs),
}

#[derive(Debug, Args, Clone)]
pub struct InputsArgs {
    /// Directory to write input-NNNNNN.npy and inputs.csv into
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub generator: GeneratorArgs,
}

/// A count of at least 1 (a negative one is told so, not taken for an option).
fn at_least_one(text: &str) -> Result<u64, String> {
    match text.trim().parse::<i128>() {
        Ok(value) if value >= 1 => u64::try_from(value).map_err(|_| "is too large".to_string()),
        Ok(_) => Err("must be at least 1".to_string()),
        Err(_) => Err("must be a whole number, at least 1".to_string()),
    }
}

/// What decides the generated inputs: their number, the seed and the sides.
#[derive(Debug, Args, Clone)]
pub struct GeneratorArgs {
    /// Generated inputs per case
    #[arg(short = 'n', long, default_value_t = DEFAULT_INPUTS, allow_negative_numbers = true, value_parser = at_least_one)]
    pub inputs: u64,
    /// Seed of the input generator
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Largest image height and width
    #[arg(long, default_value_t = DEFAULT_MAX_SIDE, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    pub max_side: usize,
    /// Largest side of the occasional large image
    #[arg(long, default_value_t = DEFAULT_MAX_SIDE_LARGE, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=8192))]
    pub max_side_large: usize,
}

#[derive(Debug, Args, Clone)]
pub struct WorkerArgs {
    /// The virtualenv the driver found
    #[arg(long, value_name = "DIR")]
    pub python_env: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Also write contamination.csv and contamination.json here
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Set FTZ and DAZ from Rust before importing TensorFlow, as a library built with
    /// -ffast-math would (a demonstration that the probe catches it)
    #[arg(long)]
    pub force_ftz_daz: bool,
}

#[derive(Debug, Args, Clone)]
pub struct DiffArgs {
    /// The earlier run directory (e.g. before an upgrade)
    pub old: PathBuf,
    /// The later run directory
    pub new: PathBuf,
    /// Where to write diff.md and the diff-*.csv files [default: NEW/diff]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Compare runs that did not complete (interrupted, failed, killed); diff.md says so
    #[arg(long)]
    pub allow_incomplete: bool,
}

#[derive(Debug, Args, Clone)]
pub struct TimelineArgs {
    /// Where to write timeline.csv, timeline-pairs.csv, timeline-environments.csv, timeline.md
    /// and timeline.html [default: the current directory]
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,
    /// Name, for each signature that arrived at or after this TensorFlow version, the two
    /// releases to bisect between
    #[arg(long, value_name = "VERSION")]
    pub since: Option<String>,
    /// The run directories, one per environment (scripts/timeline.sh makes them)
    #[arg(value_name = "RUN_DIR", required = true)]
    pub runs: Vec<std::path::PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// The run directory (of a run, a replay or a merge)
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct MergeArgs {
    /// Directory to write the merged reports into
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The shards' run directories, one for each K of N
    #[arg(value_name = "SHARD_DIR", required = true)]
    pub shards: Vec<PathBuf>,
    /// Merge shards that did not complete; the merged reports say the run is incomplete
    #[arg(long)]
    pub allow_incomplete: bool,
    /// Empty the --out directory of an earlier run first
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ReplayArgs {
    /// .npy inputs to replay; a regression's case comes from the .json beside it
    #[arg(
        value_name = "FILE",
        required_unless_present = "input_numbers",
        conflicts_with = "input_numbers"
    )]
    pub files: Vec<PathBuf>,
    /// Regenerate these input numbers (with --seed, --case and the --max-side options of the run)
    #[arg(long = "input", value_name = "I")]
    pub input_numbers: Vec<u64>,
    #[command(flatten)]
    pub run: RunArgs,
}

impl ReplayArgs {
    pub fn into_config(self) -> Result<RunConfig> {
        let files = self.files;
        let inputs = self.input_numbers;
        let mut config = self.run.into_config()?;
        if !inputs.is_empty() && config.cases.is_empty() {
            bail!(
                "--input needs --case NAME: which case should run input {}?",
                inputs[0]
            );
        }
        config.plan = if inputs.is_empty() {
            InputPlan::Files(files)
        } else {
            InputPlan::Inputs(inputs)
        };
        // A replay reproduces; it does not add to regressions/.
        config.save_regressions = false;
        Ok(config)
    }
}

#[derive(Debug, Args, Clone)]
pub struct EnvArgs {
    /// Virtualenv holding NumPy and TensorFlow [default: $VIRTUAL_ENV, else ./.venv]
    #[arg(long, value_name = "DIR")]
    pub python_env: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct CaseArgs {
    #[command(flatten)]
    pub env: EnvArgs,
    /// Another directory of cases, besides ./cases (repeatable)
    #[arg(long = "cases-dir", value_name = "DIR")]
    pub cases_dirs: Vec<PathBuf>,
    /// Only this case (repeatable) [default: every case]
    #[arg(long = "case", value_name = "NAME")]
    pub cases: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub cases: CaseArgs,
    /// Modes to run, comma-separated: numpy, eager, graph, xla, v1 (a tf.compat.v1 Session),
    /// tflite, saved_model, tfdata; `all` for every mode [default: numpy,eager,graph,xla]
    #[arg(long, value_delimiter = ',', value_name = "MODES")]
    pub modes: Vec<ModeChoice>,
    #[command(flatten)]
    pub generator: GeneratorArgs,
    /// Seconds spent shrinking each divergence signature to a minimal input (0: no shrinking)
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_SHRINK_TIME, allow_negative_numbers = true)]
    pub shrink_time: f64,
    /// Also write every divergent input, not only one per signature, to occurrences.csv
    #[arg(long)]
    pub all: bool,
    /// Do not save shrunk inputs under regressions/ next to their case
    #[arg(long)]
    pub no_save_regressions: bool,
    /// Run only the K-th of N deterministic shares of the inputs (join them with tfdiff merge)
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Known divergences to accept [default: the expected.toml of each cases directory]
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Relative tolerance for every case without its own TOLERANCE [default: by output dtype]
    #[arg(long, value_name = "R")]
    pub rtol: Option<f64>,
    /// Absolute tolerance for every case without its own TOLERANCE [default: by output dtype]
    #[arg(long, value_name = "A")]
    pub atol: Option<f64>,
    /// Compare by ULP distance in the coarser dtype instead of rtol/atol
    #[arg(long, value_name = "N", conflicts_with_all = ["rtol", "atol"])]
    pub max_ulp: Option<u64>,
    /// Write this run's reports here [default: reports/<run-id>, linked from reports/latest];
    /// it must be new or empty
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Empty the --out directory of an earlier run first
    #[arg(long, requires = "out")]
    pub force: bool,
    /// No progress on stderr [default: a bar on a terminal, else a line every 10 s]
    #[arg(long)]
    pub no_progress: bool,
    /// Worker processes evaluating inputs side by side [default: the number of CPUs, fewer
    /// when memory would not hold that many]
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    pub jobs: Option<usize>,
    /// Seconds one mode may take on one input; past it the worker is killed and the outcome
    /// is a timeout. A case file's import has as long; past it the case is not loaded
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TIMEOUT, allow_negative_numbers = true)]
    pub timeout: f64,
    /// Keep XLA's compiled programs here, one subdirectory per TensorFlow build, shared by the
    /// workers and by later runs [default: $TFDIFF_XLA_CACHE, else ~/.cache/tfdiff/xla]
    #[arg(long, value_name = "DIR", conflicts_with = "no_xla_cache")]
    pub xla_cache: Option<PathBuf>,
    /// Compile every XLA program in every worker, as TensorFlow does by default
    #[arg(long)]
    pub no_xla_cache: bool,
    /// A mode's output larger than this many bytes (as tfdiff receives it) is the outcome
    /// OutputTooLarge instead of being compared
    #[arg(long, value_name = "BYTES", default_value_t = crate::options::DEFAULT_MAX_OUTPUT_BYTES, allow_negative_numbers = true, value_parser = at_least_one)]
    pub max_output_bytes: u64,
}

/// `--jobs` as `given`, or its default here; says on stderr when memory lowered the default, or
/// would not hold the number given.
fn resolve_jobs(given: Option<usize>) -> usize {
    let (jobs, note) = match given {
        Some(jobs) => (jobs, crate::pool::given_jobs_warning(jobs)),
        None => {
            let (jobs, lowered) = crate::pool::default_jobs();
            let note = lowered.map(|why| format!("{why}; set --jobs to choose"));
            (jobs, note)
        }
    };
    if let Some(note) = note {
        eprintln!("tfdiff: {note}");
    }
    jobs
}

impl RunArgs {
    /// Checks the options against each other and resolves them into a run's configuration.
    pub fn into_config(self) -> Result<RunConfig> {
        let modes = if self.modes.is_empty() {
            Mode::DEFAULT.to_vec()
        } else {
            mode::chosen(&self.modes)
        };
        let pairs = mode::pairs_of(&modes);
        if pairs.is_empty() {
            bail!(
                "--modes {}: no pair of these modes is compared; pairs are {}",
                modes.iter().map(|m| m.name()).collect::<Vec<_>>().join(","),
                mode::all_pairs_text()
            );
        }
        let generator = self.generator;
        if !(self.shrink_time >= 0.0 && self.shrink_time <= MAX_SECONDS) {
            bail!(
                "--shrink-time {}: must be a number of seconds >= 0 (and at most {MAX_SECONDS}, a year)",
                self.shrink_time
            );
        }
        if !(self.timeout > 0.0 && self.timeout <= MAX_SECONDS) {
            bail!(
                "--timeout {}: must be a number of seconds > 0 (and at most {MAX_SECONDS}, a year)",
                self.timeout
            );
        }
        let jobs = resolve_jobs(self.jobs);
        for (flag, value) in [("--rtol", self.rtol), ("--atol", self.atol)] {
            if let Some(value) = value {
                if !(value >= 0.0 && value.is_finite()) {
                    bail!("{flag} {value}: must be a finite number >= 0");
                }
            }
        }
        Ok(RunConfig {
            seed: generator.seed,
            inputs: generator.inputs,
            max_side: generator.max_side,
            max_side_large: generator.max_side_large.max(generator.max_side),
            plan: InputPlan::Generate,
            shard: self.shard,
            modes,
            pairs,
            cases: self.cases.cases,
            cases_dirs: self.cases.cases_dirs,
            tolerance: ToleranceSpec {
                rtol: self.rtol,
                atol: self.atol,
                max_ulp: self.max_ulp,
            },
            out: self.out,
            force: self.force,
            reports_dir: PathBuf::from("reports"),
            python_env: self.cases.env.python_env,
            baseline: self.baseline,
            progress: !self.no_progress,
            shrink_time: self.shrink_time,
            all: self.all,
            save_regressions: !self.no_save_regressions,
            jobs,
            timeout: self.timeout,
            max_output_bytes: self.max_output_bytes,
            xla_cache: if self.no_xla_cache {
                None
            } else {
                self.xla_cache.or_else(default_xla_cache)
            },
        })
    }
}

/// `$TFDIFF_XLA_CACHE`, else `tfdiff/xla` in the user's cache directory (`$XDG_CACHE_HOME`,
/// else `~/.cache`); none when neither is known.
fn default_xla_cache() -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = set("TFDIFF_XLA_CACHE") {
        return Some(PathBuf::from(dir));
    }
    let cache = set("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| set("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(cache.join("tfdiff").join("xla"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bare_invocation_runs_with_defaults() {
        let cli = Cli::try_parse_from(["tfdiff"]).unwrap();
        assert!(cli.command.is_none());
        let config = cli.run.into_config().unwrap();
        assert_eq!(config.modes, Mode::DEFAULT);
        assert_eq!(config.inputs, 200);
        assert_eq!(config.max_side, 64);
        assert_eq!(config.pairs.len(), 5);
    }

    #[test]
    fn modes_without_a_pair_are_a_usage_error() {
        let cli = Cli::try_parse_from(["tfdiff", "--modes", "graph,xla"]).unwrap();
        let error = cli.run.into_config().unwrap_err().to_string();
        assert!(error.contains("no pair"), "{error}");
    }

    #[test]
    fn replay_takes_files_or_input_numbers_but_not_both() {
        let cli = Cli::try_parse_from(["tfdiff", "replay", "a.npy", "b.npy"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Replay(ref r)) if r.files.len() == 2));
        let cli = Cli::try_parse_from(["tfdiff", "replay", "--case", "x", "--input", "3"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Replay(ref r)) if r.input_numbers == [3]));
        assert!(Cli::try_parse_from(["tfdiff", "replay"]).is_err());
        assert!(Cli::try_parse_from(["tfdiff", "replay", "a.npy", "--input", "3"]).is_err());
    }

    #[test]
    fn jobs_and_timeout_are_checked() {
        let config = |args: &[&str]| {
            let mut all = vec!["tfdiff"];
            all.extend(args);
            Cli::try_parse_from(all)
                .map_err(|e| e.to_string())
                .and_then(|cli| cli.run.into_config().map_err(|e| e.to_string()))
        };
        assert_eq!(config(&["-j", "3"]).unwrap().jobs, 3);
        assert!(config(&[]).unwrap().jobs >= 1);
        assert!(config(&["--jobs", "0"]).is_err());
        assert!(config(&["--timeout", "0"])
            .unwrap_err()
            .contains("--timeout"));
        assert_eq!(config(&["--timeout", "2.5"]).unwrap().timeout, 2.5);
        for (flag, value) in [("--timeout", "1e30"), ("--shrink-time", "1e30")] {
            assert!(
                config(&[flag, value]).unwrap_err().contains("a year"),
                "{flag}"
            );
        }
    }

    #[test]
    fn max_ulp_conflicts_with_rtol() {
        assert!(Cli::try_parse_from(["tfdiff", "--max-ulp", "2", "--rtol", "0.1"]).is_err());
    }
}
