//! Everything a run writes: the run directory, the divergence log streamed as divergences are
//! found, and the exports (summary.csv, summary.md, run.json) rewritten whole as results arrive, so a run
//! that dies loses nothing it had already found.

pub mod divergences;
pub mod html;
mod junit;
pub mod repro_script;
mod run_json;
mod summary_csv;
mod summary_md;
mod table;
mod ulp_histogram;

pub use divergences::{
    display_path, DivergenceLog, DivergenceRow, Finding, FILE_NAME as DIVERGENCES_FILE,
    OCCURRENCES_FILE_NAME as OCCURRENCES_FILE,
};
pub use junit::JunitXml;
pub use run_json::RunJson;
pub use summary_csv::SummaryCsv;
pub use summary_md::SummaryMarkdown;
pub use table::print_table;
pub use ulp_histogram::{UlpHistogramCsv, FILE_NAME as ULP_HISTOGRAM_FILE};

/// What the cases printed while they ran, each line after its case's name.
pub const CASE_OUTPUT_FILE: &str = "case-output.log";

use crate::baseline::{Baseline, KnownDivergence, Status};
use crate::cases::{CaseInfo, CaseLoadFailure};
use crate::compare::{Kind, PairComparison};
use crate::generate::Image;
use crate::histogram::UlpHistogram;
use crate::mode::{Mode, ModePair};
use crate::options::RunConfig;
use crate::outcome::Outcome;
use crate::pool::{Printed, WorkerStats};
use crate::probe::Contamination;
use crate::python_env::PythonEnv;
use crate::xla_cache::XlaCacheUse;
use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A report file rebuilt from the whole of what a run knows so far.
pub trait Export {
    fn file_name(&self) -> &'static str;
    fn render(&self, results: &RunResults) -> Result<Vec<u8>>;
}

/// The exports written into every run directory besides the divergence log.
pub fn exports() -> Vec<Box<dyn Export>> {
    vec![
        Box::new(SummaryCsv),
        Box::new(SummaryMarkdown),
        Box::new(JunitXml),
        Box::new(RunJson),
        Box::new(UlpHistogramCsv),
    ]
}

/// What a run knows so far: its description and one summary per case × pair.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunResults {
    #[serde(flatten)]
    pub info: RunInfo,
    pub pairs: Vec<PairSummary>,
    /// The divergence signatures, as divergences.csv holds them.
    #[serde(skip)]
    pub rows: Vec<DivergenceRow>,
}

/// Everything needed to understand and repeat a run: run.json, less the pair summaries.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunInfo {
    pub tfdiff_version: String,
    pub command_line: Vec<String>,
    pub config: RunConfig,
    pub python_env: PythonEnv,
    /// Interpreter, NumPy and TensorFlow versions and TF build information, as Python reports them.
    pub environment: serde_json::Value,
    pub cpu_model: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The whole run, from the workers ready to the last report.
    pub elapsed_seconds: f64,
    /// The inputs' part of it: evaluating, comparing, shrinking and each case's reports, less
    /// the run's end (the probe's last stage, the workers' shutdown, the final reports).
    #[serde(default)]
    pub evaluation_seconds: f64,
    pub inputs_evaluated: u64,
    /// Inputs evaluated per second of `evaluation_seconds`: the rate a longer run keeps up.
    pub inputs_per_second: f64,
    /// Case → mode → how many times its TensorFlow function was traced (graph, xla, v1,
    /// tfdata), converted (tflite) or exported (saved_model).
    pub traces: BTreeMap<String, BTreeMap<String, u64>>,
    /// Case → whether the XNNPACK delegate ran part of its TFLite models (tflite mode only;
    /// which interpreter ran them is `environment.tflite_interpreter`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tflite_xnnpack: BTreeMap<String, bool>,
    /// Case → XLA compiles: distinct shapes of the inputs its XLA function ran on (XLA
    /// compiles and caches one program per shape; shrinking adds compiles of its own).
    pub xla_compiles: BTreeMap<String, u64>,
    /// Case → the shapes behind `xla_compiles`.
    pub xla_shapes: BTreeMap<String, Vec<String>>,
    /// The run's shape pool: every generated input has one of these shapes.
    pub shape_pool: Vec<String>,
    /// Saved regression inputs replayed before the generated ones.
    pub regressions_replayed: u64,
    /// Regression files written by this run.
    pub regressions_saved: Vec<String>,
    /// Distinct divergence signatures (case, pair, kind) found.
    pub signatures: u64,
    /// Time spent shrinking, in seconds.
    pub shrink_seconds: f64,
    /// The known divergences the run was judged against.
    pub baseline: Baseline,
    /// Known divergences of the cases and pairs that ran which did not occur: fixed, perhaps.
    pub known_not_seen: Vec<KnownDivergence>,
    /// Signatures that fail the run: new ones, and known ones beyond their bound.
    pub failing_signatures: u64,
    /// Whether importing and running TensorFlow changed NumPy's results in this process.
    #[serde(default)]
    pub contamination: Option<Contamination>,
    /// Worker processes: slots, starts and restarts, crashes, timeouts, start-up time and
    /// peak memory.
    #[serde(default)]
    pub workers: WorkerStats,
    /// XLA's persistent cache: where, and its programs before and after the run.
    #[serde(default)]
    pub xla_cache: Option<XlaCacheUse>,
    pub cases: Vec<CaseInfo>,
    pub case_load_failures: Vec<CaseLoadFailure>,
    /// Case → what was printed while it ran (lines, and the first few); the lines are in
    /// `case-output.log`.
    #[serde(default)]
    pub case_output: BTreeMap<String, Printed>,
    /// Case → what it changed of process-wide state (np.seterr, print options, TensorFlow's
    /// thread pools, the float mode), at
    /// import or in which mode; restored before every call.
    #[serde(default)]
    pub state_changes: BTreeMap<String, Vec<String>>,
    /// Whether a signal stopped the run between inputs.
    pub interrupted: bool,
    /// The signal that stopped it: "SIGINT" or "SIGTERM".
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// Why the run stopped early, when it did.
    pub error: Option<String>,
    /// How the run ended: "completed", "interrupted: SIGTERM", "failed: <reason>"; "running"
    /// until it ends (so a run whose process was killed says so).
    #[serde(default)]
    pub ended: RunEnd,
}

/// How a run ended. Anything but `Completed` is an incomplete run: its reports hold only what
/// ran, and `diff` and `merge` refuse it unless told `--allow-incomplete`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum RunEnd {
    /// Written by a tfdiff that did not record it; `RunOnDisk::read` works it out.
    #[default]
    Unknown,
    Running,
    Completed,
    Interrupted(String),
    Failed(String),
}

impl RunEnd {
    pub fn is_complete(&self) -> bool {
        *self == RunEnd::Completed
    }

    /// How a run ends: stopped by `signal`, broken off by `error`, or completed.
    pub fn of(signal: Option<&str>, error: Option<&str>) -> RunEnd {
        match (signal, error) {
            (_, Some(error)) => RunEnd::Failed(error.to_string()),
            (Some(signal), None) => RunEnd::Interrupted(signal.to_string()),
            (None, None) => RunEnd::Completed,
        }
    }

    /// What an incomplete run's reports say at their top.
    pub fn incomplete_note(&self) -> Option<String> {
        let why = match self {
            RunEnd::Completed => return None,
            RunEnd::Unknown | RunEnd::Running => {
                "it has not finished, or its process died before it could say how it ended"
                    .to_string()
            }
            RunEnd::Interrupted(signal) => format!("it was interrupted by {signal}"),
            RunEnd::Failed(reason) => format!("it failed: {reason}"),
        };
        Some(format!(
            "INCOMPLETE RUN: {why}; these reports hold only what ran."
        ))
    }
}

impl From<RunEnd> for String {
    fn from(end: RunEnd) -> String {
        match end {
            RunEnd::Unknown => "unknown".into(),
            RunEnd::Running => "running".into(),
            RunEnd::Completed => "completed".into(),
            RunEnd::Interrupted(signal) => format!("interrupted: {signal}"),
            RunEnd::Failed(reason) => format!("failed: {reason}"),
        }
    }
}

impl From<String> for RunEnd {
    fn from(text: String) -> RunEnd {
        if let Some(signal) = text.strip_prefix("interrupted: ") {
            RunEnd::Interrupted(signal.to_string())
        } else if let Some(reason) = text.strip_prefix("failed: ") {
            RunEnd::Failed(reason.to_string())
        } else {
            match text.as_str() {
                "running" => RunEnd::Running,
                "completed" => RunEnd::Completed,
                _ => RunEnd::Unknown,
            }
        }
    }
}

impl RunInfo {
    /// How the run ended, from what run.json records of it: not finished, a signal, an error,
    /// or none of these. What `ended` is set to, and what it is taken to be for a run.json
    /// written before tfdiff recorded it.
    pub fn end(&self) -> RunEnd {
        if self.finished_at.is_none() {
            RunEnd::Running
        } else if self.interrupted && self.stop_signal.is_none() && self.error.is_none() {
            RunEnd::Interrupted("a signal".into())
        } else {
            RunEnd::of(self.stop_signal.as_deref(), self.error.as_deref())
        }
    }

    /// Records the run's duration, the part of it spent on inputs, and the rate that gives
    /// (over the whole run for a run.json written before `evaluation_seconds` was).
    pub fn set_times(&mut self, evaluation: f64, elapsed: f64) {
        self.elapsed_seconds = elapsed;
        self.evaluation_seconds = evaluation;
        let seconds = if evaluation > 0.0 {
            evaluation
        } else {
            elapsed
        };
        self.inputs_per_second = if seconds > 0.0 {
            self.inputs_evaluated as f64 / seconds
        } else {
            0.0
        };
    }
}

/// Every input of one case compared in one pair of modes, agreeing ones included.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PairSummary {
    pub case: String,
    pub mode_a: Mode,
    pub mode_b: Mode,
    pub inputs: u64,
    pub agree: u64,
    pub diverge: u64,
    pub kinds: BTreeMap<Kind, u64>,
    #[serde(with = "float_text")]
    pub max_abs: Option<f64>,
    /// Infinite when some a is 0 and its b is not: written as text, since JSON has no inf.
    #[serde(with = "float_text")]
    pub max_rel: Option<f64>,
    pub max_ulp: Option<u64>,
    pub dtypes_a: BTreeSet<String>,
    pub dtypes_b: BTreeSet<String>,
    /// Inputs on which both modes raised the same exception type (they count as agreeing).
    pub both_raised: u64,
    /// The exceptions of the first input where one side raised, as the `error` column says.
    pub first_error: Option<String>,
    /// The input that `first_error` came from, as the `input` column names it.
    pub first_error_input: Option<String>,
    /// The worst status of the pair's divergences against the baseline; None when it agreed.
    pub status: Option<Status>,
    /// Per-element ULP distances over the inputs compared element by element.
    #[serde(default, skip_serializing_if = "UlpHistogram::is_empty")]
    pub ulp_histogram: UlpHistogram,
}

/// What a pair's inputs came to, against the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every input agreed (or raised the same exception on both sides).
    Agree,
    /// Diverged, only in ways the baseline lists within their bounds.
    Known,
    /// Diverged in a way that fails the run: `new` or `exceeded`.
    Fails(Status),
}

impl PairSummary {
    /// The one rule the reports state a pair's verdict by.
    pub fn verdict(&self) -> Verdict {
        match self.status {
            None => Verdict::Agree,
            Some(status) if status.fails() => Verdict::Fails(status),
            Some(_) => Verdict::Known,
        }
    }

    pub fn pair(&self) -> ModePair {
        ModePair::new(self.mode_a, self.mode_b)
    }

    pub fn new(case: &str, pair: ModePair) -> PairSummary {
        PairSummary {
            case: case.to_string(),
            mode_a: pair.a,
            mode_b: pair.b,
            inputs: 0,
            agree: 0,
            diverge: 0,
            kinds: BTreeMap::new(),
            max_abs: None,
            max_rel: None,
            max_ulp: None,
            dtypes_a: BTreeSet::new(),
            dtypes_b: BTreeSet::new(),
            both_raised: 0,
            first_error: None,
            first_error_input: None,
            status: None,
            ulp_histogram: UlpHistogram::default(),
        }
    }

    pub fn add(&mut self, input: &str, comparison: &PairComparison, a: &Outcome, b: &Outcome) {
        self.inputs += 1;
        match comparison.kind {
            Some(kind) => {
                self.diverge += 1;
                *self.kinds.entry(kind).or_default() += 1;
            }
            None => self.agree += 1,
        }
        if comparison.kind.is_none() && comparison.metrics.is_none() {
            self.both_raised += 1;
        }
        if let Some(metrics) = &comparison.metrics {
            self.max_abs = Some(
                self.max_abs
                    .map_or(metrics.max_abs, |m| m.max(metrics.max_abs)),
            );
            self.max_rel = Some(
                self.max_rel
                    .map_or(metrics.max_rel, |m| m.max(metrics.max_rel)),
            );
            self.max_ulp = Some(
                self.max_ulp
                    .map_or(metrics.max_ulp, |m| m.max(metrics.max_ulp)),
            );
            self.ulp_histogram.add_input(&metrics.counts);
        }
        let raised = matches!(
            comparison.kind,
            Some(Kind::Error | Kind::Crash | Kind::Timeout)
        );
        if raised && self.first_error.is_none() {
            self.first_error = Some(error_text((self.mode_a, a), (self.mode_b, b)));
            self.first_error_input = Some(input.to_string());
        }
        for (set, dtype) in [
            (&mut self.dtypes_a, a.dtype()),
            (&mut self.dtypes_b, b.dtype()),
        ] {
            if !dtype.is_empty() {
                set.insert(dtype.to_string());
            }
        }
    }

    /// max_abs as reports print it, `missing` when nothing was compared as arrays.
    pub fn max_abs_text(&self, missing: &str) -> String {
        self.max_abs
            .map(format_number)
            .unwrap_or_else(|| missing.to_string())
    }

    /// max_ulp as reports print it, `missing` when nothing was compared as arrays.
    pub fn max_ulp_text(&self, missing: &str) -> String {
        self.max_ulp
            .map(|ulp| ulp.to_string())
            .unwrap_or_else(|| missing.to_string())
    }

    /// "error:200" or "value:3;nan:1"; empty when every input agreed.
    pub fn kinds_text(&self) -> String {
        self.kinds
            .iter()
            .map(|(kind, count)| format!("{kind}:{count}"))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// Floats as `format_number` text in JSON, so inf and nan survive a round trip.
mod float_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => serializer.serialize_str(&super::format_number(*v)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<f64>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// "mode: Type: message" for each side that raised, joined by " | ".
pub fn error_text((mode_a, a): (Mode, &Outcome), (mode_b, b): (Mode, &Outcome)) -> String {
    [(mode_a, a), (mode_b, b)]
        .iter()
        .filter_map(|(mode, outcome)| outcome.error_text().map(|text| format!("{mode}: {text}")))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A number as reports print it: shortest round-trip form, exponent for the very small or
/// large, "nan"/"inf"/"-inf" as Python's float() reads them.
pub fn format_number(value: f64) -> String {
    if value.is_nan() {
        "nan".into()
    } else if value.is_infinite() {
        if value > 0.0 { "inf" } else { "-inf" }.into()
    } else if value == 0.0 || (1e-4..1e6).contains(&value.abs()) {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

/// "64x32x3", as the shape column prints shapes.
pub fn format_shape(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|side| side.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// The directory one run writes into.
pub struct RunDirectory {
    pub path: PathBuf,
    saved_inputs: BTreeSet<String>,
    /// The reports root whose `latest` link is to point here once the run evaluates an input
    /// (None: given with --out, or pointed already).
    latest_root: Option<PathBuf>,
    /// report.html's pictures drawn so far: the page is rewritten after each case.
    pictures: html::Pictures,
}

impl RunDirectory {
    /// `out` when given; otherwise a new `reports/<run-id>/`, which `reports/latest` points at
    /// once it holds a result (see `started_evaluating`). Fails with what to do when the
    /// directory cannot be written.
    pub fn create(
        out: Option<&Path>,
        reports_root: &Path,
        run_id: &str,
        force: bool,
    ) -> Result<RunDirectory> {
        let path = match out {
            Some(out) => {
                Self::check_out(out, force)?;
                if force {
                    empty_directory(out)?;
                }
                out.to_path_buf()
            }
            None => unique_child(reports_root, run_id),
        };
        let unwritable = |error: std::io::Error| {
            anyhow::anyhow!(
                "cannot write reports to {} ({error}); choose a writable directory with --out DIR",
                path.display()
            )
        };
        std::fs::create_dir_all(path.join("inputs")).map_err(unwritable)?;
        let probe = path.join(".write-test");
        std::fs::write(&probe, b"").map_err(unwritable)?;
        let _ = std::fs::remove_file(probe);
        Ok(RunDirectory {
            path,
            saved_inputs: BTreeSet::new(),
            latest_root: out.is_none().then(|| reports_root.to_path_buf()),
            pictures: html::Pictures::default(),
        })
    }

    /// Moves `reports/latest` here: only a run that evaluated an input replaces the pointer to
    /// the last one that did (a run that failed before its first input keeps it).
    pub fn started_evaluating(&mut self) {
        if let Some(root) = self.latest_root.take() {
            point_latest_at(&root, &self.path);
        }
    }

    /// `--out DIR` must be new or empty, so that no file of an earlier run (a reproducer, a
    /// regression, a log) lies beside the new reports as if this run had written it. With
    /// `--force` an earlier run's directory (one with a run.json) is emptied first; any other
    /// non-empty directory is refused even then.
    pub fn check_out(out: &Path, force: bool) -> Result<()> {
        let Ok(mut entries) = std::fs::read_dir(out) else {
            return Ok(()); // Not there yet (or not a directory: creating it says so).
        };
        if entries.next().is_none() {
            return Ok(());
        }
        if !force {
            bail!(
                "--out {}: the directory is not empty; give a new or empty directory, or add \
                 --force to empty it first",
                out.display()
            );
        }
        if !out.join("run.json").is_file() {
            bail!(
                "--out {}: the directory is not empty and holds no tfdiff run (no run.json); \
                 --force empties only an earlier run's directory: give a new or empty one",
                out.display()
            );
        }
        Ok(())
    }

    /// Saves an input as `inputs/<name>` (once per run) and returns its path.
    pub fn save_input(&mut self, name: &str, image: &Image) -> Result<PathBuf> {
        let path = self.path.join("inputs").join(name);
        if self.saved_inputs.insert(name.to_string()) {
            ndarray_npy::write_npy(&path, image)
                .with_context(|| format!("saving reproducer {}", path.display()))?;
        }
        Ok(path)
    }

    /// Saves the outputs of a signature's shrunk input where `row.output_files()` says, those
    /// that are arrays.
    pub fn save_outputs(&self, row: &DivergenceRow, outcomes: (&Outcome, &Outcome)) -> Result<()> {
        for (file, outcome) in row.output_files().iter().zip([outcomes.0, outcomes.1]) {
            if let Outcome::Array(output) = outcome {
                crate::npy::write_output(&self.path.join(file), output)?;
            }
        }
        Ok(())
    }

    /// Copies a saved regression (.npy and its .json) into `regressions/<case>/`.
    pub fn keep_regression(&self, case: &str, npy: &Path) -> Result<()> {
        let dir = self.path.join("regressions").join(case);
        std::fs::create_dir_all(&dir)?;
        for file in [npy.to_path_buf(), npy.with_extension("json")] {
            if let Some(name) = file.file_name() {
                std::fs::copy(&file, dir.join(name))
                    .with_context(|| format!("copying {} into the run", file.display()))?;
            }
        }
        Ok(())
    }

    /// Writes a reproduction script as `repro/<name>` and returns its path.
    pub fn save_script(&self, name: &str, text: &str) -> Result<PathBuf> {
        let dir = self.path.join("repro");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Rewrites every export from `results`, each through a temporary file and a rename, so a
    /// reader never sees half a file.
    pub fn write_exports(&mut self, results: &RunResults) -> Result<()> {
        for export in exports() {
            write_atomically(
                &self.path.join(export.file_name()),
                &export.render(results)?,
            )?;
        }
        html::write(&self.path, results, &mut self.pictures)?;
        Ok(())
    }
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename, so a reader
/// never sees half a file. On failure (a full disk) the file keeps its last whole version and
/// the temporary one is removed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&temporary, bytes)
        .and_then(|()| std::fs::rename(&temporary, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&temporary);
        })
        .with_context(|| format!("writing {}", path.display()))
}

/// Removes everything inside `dir`, keeping `dir`.
fn empty_directory(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        let removed = if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed
            .with_context(|| format!("emptying {}: removing {}", dir.display(), path.display()))?;
    }
    Ok(())
}

fn unique_child(root: &Path, name: &str) -> PathBuf {
    let mut candidate = root.join(name);
    let mut suffix = 1;
    while candidate.exists() {
        candidate = root.join(format!("{name}-{suffix}"));
        suffix += 1;
    }
    candidate
}

/// Best effort: a filesystem without symlinks still gets its reports.
fn point_latest_at(root: &Path, run: &Path) {
    let Some(name) = run.file_name() else { return };
    let temporary = root.join(".latest.tmp");
    let _ = std::fs::remove_file(&temporary);
    #[cfg(unix)]
    if std::os::unix::fs::symlink(name, &temporary).is_ok() {
        let _ = std::fs::rename(&temporary, root.join("latest"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::baseline::{KnownDivergence, Status};
    use crate::report::divergences::test_row;

    #[test]
    fn a_failed_atomic_write_keeps_the_last_version_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.csv");
        write_atomically(&path, b"first").unwrap();
        // A directory where the rename must go: the write itself succeeds, the rename fails.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir_all(blocked.join("inside")).unwrap();
        let error = write_atomically(&blocked, b"second").unwrap_err();
        assert!(format!("{error:#}").contains("writing"), "{error:#}");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|name| name.ends_with(".tmp")),
            "{names:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
    }

    /// The fixture run (tests/fixtures/run) with three pairs: scale01 numpy–eager diverging
    /// in a new way, numpy–xla in a known way, and a third that agreed.
    fn results() -> RunResults {
        let mut results = crate::run_on_disk::fixture_run(Vec::new()).results;
        let eager = ModePair::new(Mode::Numpy, Mode::Eager);
        let xla = ModePair::new(Mode::Numpy, Mode::Xla);
        let graph = ModePair::new(Mode::Numpy, Mode::Graph);
        let mut pairs = vec![
            PairSummary::new("scale01", eager),
            PairSummary::new("scale01", xla),
            PairSummary::new("scale01", graph),
        ];
        for (pair, (diverge, status)) in
            pairs
                .iter_mut()
                .zip([(2, Some(Status::New)), (1, Some(Status::Known)), (0, None)])
        {
            (pair.inputs, pair.agree, pair.diverge) = (5, 5 - diverge, diverge);
            if diverge > 0 {
                pair.kinds.insert(Kind::Value, diverge);
            }
            pair.status = status;
            pair.max_abs = Some(1.5e-7 * diverge as f64);
        }
        let mut new = test_row("scale01", "3", eager, Kind::Value);
        new.occurrences = 2;
        new.reproducer = "inputs/scale01-numpy-eager-value.npy".into();
        let mut known = test_row("scale01", "4", xla, Kind::Value);
        known.status = Status::Known;
        results.pairs = pairs;
        results.rows = vec![new, known];
        results.info.known_not_seen = vec![KnownDivergence {
            case: "scale01".into(),
            pair: graph,
            kind: Kind::Nan,
            max_abs: None,
            max_ulp: None,
            reason: "fixed upstream?".into(),
        }];
        results
    }

    fn render(name: &str) -> String {
        render_with(&results(), name)
    }

    fn render_with(results: &RunResults, name: &str) -> String {
        let export = exports()
            .into_iter()
            .find(|export| export.file_name() == name)
            .unwrap_or_else(|| panic!("no export {name}"));
        String::from_utf8(export.render(results).unwrap()).unwrap()
    }

    #[test]
    fn every_export_states_each_pairs_verdict() {
        let names: Vec<&str> = exports().iter().map(|e| e.file_name()).collect();
        assert_eq!(
            names,
            [
                "summary.csv",
                "summary.md",
                "junit.xml",
                "run.json",
                "ulp_histogram.csv"
            ]
        );
        let csv = render("summary.csv");
        assert!(
            csv.contains("\nscale01,numpy,eager,5,3,2,value:2,new,3e-7,"),
            "{csv}"
        );
        assert!(
            csv.contains("\nscale01,numpy,xla,5,4,1,value:1,known,1.5e-7,"),
            "{csv}"
        );
        assert!(csv.contains("\nscale01,numpy,graph,5,5,0,,,0,"), "{csv}");
        let md = render("summary.md");
        assert!(
            md.contains("| scale01 | numpy–eager | **diverge, new** 2/5 (value:2) |"),
            "{md}"
        );
        assert!(
            md.contains("| scale01 | numpy–xla | known divergence 1/5 (value:1) |"),
            "{md}"
        );
        assert!(md.contains("| scale01 | numpy–graph | agree 5/5 |"), "{md}");
        assert!(
            md.contains("- scale01 numpy-graph nan: fixed upstream?"),
            "{md}"
        );
        let junit = render("junit.xml");
        assert!(
            junit.contains(r#"<testsuites name="tfdiff" tests="3" failures="1" errors="0">"#),
            "{junit}"
        );
        assert!(
            junit.contains(
                r#"<failure message="value divergence on 2 of 5 inputs (new)" type="value">"#
            ),
            "{junit}"
        );
        assert!(
            junit.contains("reproducer: inputs/scale01-numpy-eager-value.npy"),
            "{junit}"
        );
        assert!(
            junit.contains("known value divergence on 1 input(s)"),
            "{junit}"
        );
        assert!(
            junit.contains(r#"<testcase name="numpy-graph" classname="tfdiff.scale01">"#),
            "{junit}"
        );
        let json: serde_json::Value = serde_json::from_str(&render("run.json")).unwrap();
        assert_eq!(json["pairs"][0]["status"], "new");
        let mut table = Vec::new();
        print_table(&results(), &mut table).unwrap();
        let table = String::from_utf8(table).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("case     pair         verdict"),
            "{table}"
        );
        assert!(
            lines[1].contains("numpy-eager  DIVERGE 2/5 value:2"),
            "{table}"
        );
        assert!(
            lines[2].contains("numpy-xla    known 1/5 value:1"),
            "{table}"
        );
        assert!(lines[3].contains("numpy-graph  agree 5/5"), "{table}");
    }

    #[test]
    fn ulp_histogram_csv_has_each_pairs_buckets_then_what_differs_of_what_was_compared() {
        use crate::histogram::{Bucket, InputCounts};
        let mut results = results();
        let input = |entries: &[(u64, u64)], nan_inf: u64| {
            let mut counts = InputCounts::default();
            for &(ulp, elements) in entries {
                counts.add(Bucket::of(ulp), elements);
            }
            counts.add(Bucket::NAN_INF, nan_inf);
            counts
        };
        let histogram = &mut results.pairs[0].ulp_histogram;
        histogram.add_input(&input(&[(0, 6)], 0));
        histogram.add_input(&input(&[(0, 4), (1, 1), (3, 1)], 0));
        histogram.add_input(&input(&[(0, 5)], 1));
        let csv = render_with(&results, "ulp_histogram.csv");
        assert_eq!(
            csv,
            "case,mode_a,mode_b,bucket,elements,inputs\n\
             scale01,numpy,eager,0,15,3\n\
             scale01,numpy,eager,1,1,1\n\
             scale01,numpy,eager,3-4,1,1\n\
             scale01,numpy,eager,nan_inf,1,1\n\
             scale01,numpy,eager,differ,3,2\n\
             scale01,numpy,eager,compared,18,3\n"
        );
        // Pairs never compared element by element have no rows; the header stays.
        assert_eq!(
            render("ulp_histogram.csv"),
            "case,mode_a,mode_b,bucket,elements,inputs\n"
        );
        // run.json carries the histogram, so merge can add shards up exactly.
        let json: serde_json::Value =
            serde_json::from_str(&render_with(&results, "run.json")).unwrap();
        assert_eq!(json["pairs"][0]["ulp_histogram"]["inputs_differing"], 2);
        assert_eq!(
            json["pairs"][0]["ulp_histogram"]["buckets"][2]["bucket"],
            "3-4"
        );
        assert!(json["pairs"][1].get("ulp_histogram").is_none());
    }

    #[test]
    fn what_a_case_printed_is_noted_under_its_last_row() {
        let mut results = results();
        let mut other = PairSummary::new("zoom", ModePair::new(Mode::Numpy, Mode::Eager));
        (other.inputs, other.agree) = (5, 5);
        results.pairs.push(other);
        for (case, lines) in [("scale01", 3), ("zoom", 1)] {
            let printed = Printed {
                lines,
                first: vec![format!("hello from {case}")],
            };
            results.info.case_output.insert(case.into(), printed);
        }
        let mut table = Vec::new();
        print_table(&results, &mut table).unwrap();
        let table = String::from_utf8(table).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        let note = |case: &str, lines: u64| {
            format!(
                "  {case} printed {lines} line(s) while it ran, first \"hello from {case}\" \
                 (all in {CASE_OUTPUT_FILE})"
            )
        };
        assert!(lines[3].contains("numpy-graph"), "{table}");
        assert_eq!(lines[4], note("scale01", 3), "{table}");
        assert!(lines[5].starts_with("zoom "), "{table}");
        assert_eq!(lines[6], note("zoom", 1), "{table}");
        assert!(
            lines[7].contains("known nan divergence did not occur"),
            "{table}"
        );
    }

    #[test]
    fn a_pairs_first_error_is_noted_in_summary_md() {
        let mut results = results();
        results.pairs[0].first_error = Some("numpy raised ValueError: bad".into());
        let md = render_with(&results, "summary.md");
        assert!(
            md.contains(
                "First error of each pair that raised:\n\n\
                 - scale01 numpy–eager: `numpy raised ValueError: bad`\n"
            ),
            "{md}"
        );
        assert!(!render("summary.md").contains("First error"));
    }

    #[test]
    fn paths_inside_the_run_directory_are_written_relative_to_it() {
        let run = Path::new("/r/run");
        assert_eq!(display_path(&run.join("inputs/x.npy"), run), "inputs/x.npy");
        assert_eq!(
            display_path(Path::new("/elsewhere/x.npy"), run),
            "/elsewhere/x.npy"
        );
    }

    #[test]
    fn the_divergence_log_is_the_file_and_the_rows_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DIVERGENCES_FILE);
        let mut log = DivergenceLog::create(path.clone()).unwrap();
        assert!(log.is_empty());
        assert_eq!(log.len(), 0);
        let pair = ModePair::new(Mode::Numpy, Mode::Eager);
        log.append(test_row("c", "0", pair, Kind::Value)).unwrap();
        log.append(test_row("c", "1", pair, Kind::Nan)).unwrap();
        assert_eq!((log.len(), log.is_empty()), (2, false));
        let first = test_row("c", "0", pair, Kind::Value).signature();
        log.row_mut(&first).unwrap().occurrences = 7;
        log.rows_mut()[1].status = Status::Known;
        log.rewrite().unwrap();
        let read = crate::run_on_disk::read_rows(&path).unwrap();
        assert_eq!(read, log.rows());
        assert_eq!((read[0].occurrences, read[1].status), (7, Status::Known));
    }

    #[test]
    fn how_a_run_ended_reads_back_as_written_and_only_completed_is_complete() {
        for end in [
            RunEnd::Running,
            RunEnd::Completed,
            RunEnd::Interrupted("SIGTERM".into()),
            RunEnd::Failed("a worker failed: boom".into()),
        ] {
            let json = serde_json::to_string(&end).unwrap();
            assert_eq!(
                serde_json::from_str::<RunEnd>(&json).unwrap(),
                end,
                "{json}"
            );
            assert_eq!(end.is_complete(), end == RunEnd::Completed);
            assert_eq!(end.incomplete_note().is_none(), end.is_complete());
        }
        assert_eq!(RunEnd::of(None, None), RunEnd::Completed);
        assert_eq!(
            RunEnd::of(Some("SIGINT"), None),
            RunEnd::Interrupted("SIGINT".into())
        );
        assert_eq!(
            RunEnd::of(Some("SIGINT"), Some("x")),
            RunEnd::Failed("x".into())
        );
    }

    #[test]
    fn numbers_round_trip_through_python_float_syntax() {
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(0.5), "0.5");
        assert_eq!(format_number(1e-7), "1e-7");
        assert_eq!(format_number(5.960464477539063e-8), "5.960464477539063e-8");
        assert_eq!(format_number(f64::INFINITY), "inf");
        assert_eq!(format_number(f64::NAN), "nan");
        assert_eq!(format_number(-1e300), "-1e300");
        for value in [1e-7, 0.1, 123456.789, 3e10] {
            assert_eq!(format_number(value).parse::<f64>().unwrap(), value);
        }
    }

    #[test]
    fn run_directories_never_reuse_a_name_and_latest_follows() {
        let root = tempfile::tempdir().unwrap();
        let latest = || std::fs::read_link(root.path().join("latest")).unwrap();
        let mut one = RunDirectory::create(None, root.path(), "run", false).unwrap();
        one.started_evaluating();
        let mut two = RunDirectory::create(None, root.path(), "run", false).unwrap();
        assert_ne!(one.path, two.path);
        assert_eq!(latest(), one.path.file_name().unwrap());
        two.started_evaluating();
        assert_eq!(latest(), two.path.file_name().unwrap());
    }

    #[test]
    fn an_unwritable_report_directory_says_to_use_out() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("not-a-dir");
        std::fs::write(&file, "").unwrap();
        let error = RunDirectory::create(Some(&file.join("run")), root.path(), "x", false)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("--out DIR"), "{error}");
    }
}
