//! A whole run: for each case, replay its saved regressions and generate inputs, evaluate each in
//! every mode, compare every pair, shrink each new divergence signature, and report.

use crate::baseline::{parse_pair, Baseline, KnownDivergence};
use crate::cases;
use crate::compare::{compare, Kind, PairComparison, ToleranceSpec};
use crate::evaluate::{EmbeddedEvaluator, Evaluator};
use crate::generate::{Image, ImageGenerator, Layout};
use crate::mode::Mode;
use crate::options::{InputPlan, RunConfig};
use crate::outcome::Outcome;
use crate::probe::{self, Contamination, Prober};
use crate::progress::Progress;
use crate::python::{FrameworkVersions, LoadedCase, PythonRuntime};
use crate::python_env::PythonEnv;
use crate::regressions::{self, RegressionRecord};
use crate::report::{
    display_path, format_shape, print_table, repro_script, DivergenceLog, DivergenceRow, Finding,
    PairSummary, RunDirectory, RunInfo, RunResults,
};
use crate::shrink::{self, Shrunk, Target};
use anyhow::{bail, Result};
use chrono::Utc;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a run ended; each maps to one exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Agreed,
    Diverged,
    /// Some case files could not be loaded; the others ran.
    CasesNotLoaded,
    Interrupted,
}

impl RunStatus {
    /// How the run with these results ended: interrupted, with cases not loaded, with new or
    /// exceeded divergences, or none of these.
    pub fn of(results: &RunResults) -> RunStatus {
        if results.info.interrupted {
            RunStatus::Interrupted
        } else if !results.info.case_load_failures.is_empty() {
            RunStatus::CasesNotLoaded
        } else if results.info.failing_signatures > 0 {
            RunStatus::Diverged
        } else {
            RunStatus::Agreed
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            RunStatus::Agreed => 0,
            RunStatus::Diverged => 1,
            RunStatus::CasesNotLoaded => 2,
            RunStatus::Interrupted => 130,
        }
    }
}

/// Set by Ctrl-C. The embedded interpreter does not handle signals, so the run checks this
/// between inputs and stops cleanly, reports written.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Where one input comes from, before it is drawn or read.
#[derive(Clone, Debug)]
enum InputSource {
    Generated(u64),
    File(PathBuf),
}

/// One input, ready to evaluate.
struct PlannedInput {
    /// The `input` column: "17", or "regression:<file>" / "file:<path>".
    label: String,
    image: Image,
    layout: Layout,
    generator: String,
    /// The saved regression this input is, if it is one.
    regression: Option<PathBuf>,
}

pub fn run(mut config: RunConfig, command_line: Vec<String>) -> Result<RunStatus> {
    let env = PythonEnv::locate(config.python_env.as_deref())?;
    let replay_files = match &config.plan {
        InputPlan::Files(files) => files_by_case(files, &config.cases)?,
        _ => Vec::new(),
    };
    let mut extra_dirs = config.cases_dirs.clone();
    for (_, file) in &replay_files {
        if let Some(dir) = cases_dir_of_regression(file) {
            extra_dirs.push(dir);
        }
    }
    if !replay_files.is_empty() && config.cases.is_empty() {
        config.cases = replay_files.iter().map(|(case, _)| case.clone()).collect();
        config.cases.dedup();
    }
    let baseline = Baseline::locate(config.baseline.as_deref())?;
    let dirs = cases::case_dirs(&extra_dirs)?;
    let files = cases::select(cases::discover(&dirs)?, &config.cases)?;

    let started_at = Utc::now();
    let run_id = started_at.format("%Y%m%d-%H%M%S").to_string();
    let run_dir = RunDirectory::create(config.out.as_deref(), &config.reports_dir, &run_id)?;
    let divergences = DivergenceLog::create(run_dir.path.join(crate::report::DIVERGENCES_FILE))?;
    let occurrences = if config.all {
        Some(DivergenceLog::create(
            run_dir.path.join(crate::report::OCCURRENCES_FILE),
        )?)
    } else {
        None
    };

    // The probe's clean process starts before anything here imports TensorFlow.
    let clean_probe = probe::spawn_clean(&env)?;
    let runtime = PythonRuntime::start(&env)?;
    let numpy_version = runtime.import_numpy()?;
    let prober = Prober::load()?;
    let before_import = prober.stage(probe::BEFORE_IMPORT)?;
    let versions = FrameworkVersions {
        numpy: numpy_version,
        tensorflow: runtime.import_tensorflow()?,
    };
    let after_import = prober.stage(probe::AFTER_IMPORT)?;
    let (loaded, failures) = runtime.load_cases(&files);
    for failure in &failures {
        eprintln!(
            "tfdiff: case {} not loaded: {}",
            failure.name, failure.error
        );
    }
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));

    let mut plans = Vec::new();
    for case in &loaded {
        plans.push(input_sources(&config, case, &replay_files)?);
    }
    let total: usize = plans.iter().map(Vec::len).sum();
    eprintln!(
        "tfdiff: seed {}, {} input(s) over {} case(s) (saved regressions included), modes {}; \
         NumPy {}, TensorFlow {}; reports in {}",
        config.seed,
        total,
        loaded.len(),
        config
            .modes
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(","),
        versions.numpy,
        versions.tensorflow,
        run_dir.path.display()
    );

    let results = RunResults {
        info: RunInfo {
            tfdiff_version: env!("CARGO_PKG_VERSION").to_string(),
            command_line,
            config: config.clone(),
            python_env: env,
            environment: runtime.environment_info()?,
            cpu_model: cpu_model(),
            started_at,
            finished_at: None,
            elapsed_seconds: 0.0,
            inputs_evaluated: 0,
            inputs_per_second: 0.0,
            traces: BTreeMap::new(),
            xla_compiles: BTreeMap::new(),
            xla_shapes: BTreeMap::new(),
            shape_pool: Vec::new(),
            regressions_replayed: 0,
            regressions_saved: Vec::new(),
            signatures: 0,
            shrink_seconds: 0.0,
            baseline,
            known_not_seen: Vec::new(),
            failing_signatures: 0,
            contamination: None,
            cases: loaded.iter().map(LoadedCase::info).collect(),
            case_load_failures: failures,
            interrupted: false,
            error: None,
        },
        pairs: Vec::new(),
        rows: Vec::new(),
    };
    run_dir.write_exports(&results)?;

    let generator = ImageGenerator::new(config.seed, config.max_side, config.max_side_large);
    let mut results = results;
    results.info.shape_pool = generator
        .pool()
        .iter()
        .map(|shape| format!("{} ({})", format_shape(&shape.shape), shape.class.name()))
        .collect();
    let mut session = Session {
        generator,
        progress: Progress::new(total as u64, config.progress),
        config,
        versions,
        run_dir,
        divergences,
        occurrences,
        results,
        evaluator: EmbeddedEvaluator,
        signatures: HashMap::new(),
        clock: Instant::now(),
    };
    let outcome = loaded
        .iter()
        .zip(plans)
        .try_for_each(|(case, sources)| session.run_case(case, sources));
    session.progress.finish();

    // The last probe stage, after the cases ran TensorFlow in every mode.
    let contamination = (|| -> Result<Contamination> {
        prober.tensorflow_workout()?;
        let after_running = prober.stage(probe::AFTER_RUNNING)?;
        let clean = probe::collect_clean(clean_probe)?;
        Ok(Contamination::new(
            vec![clean, before_import, after_import, after_running],
            false,
        ))
    })();
    match contamination {
        Ok(contamination) => {
            contamination.write_csv(&session.run_dir.path.join("contamination.csv"))?;
            if contamination.numpy_changed {
                eprintln!(
                    "tfdiff: NumPy's results changed within this process; see contamination.csv"
                );
            }
            session.results.info.contamination = Some(contamination);
        }
        Err(error) => eprintln!("tfdiff: the contamination probe failed: {error:#}"),
    }
    // Whatever happened, the reports say what was found up to here.
    session.results.info.known_not_seen =
        known_not_seen(&session.results, session.divergences.rows());
    let results = &mut session.results;
    finish_timing(results, session.clock);
    results.info.finished_at = Some(Utc::now());
    results.info.interrupted = INTERRUPTED.load(Ordering::SeqCst);
    if let Err(error) = &outcome {
        results.info.error = Some(format!("{error:#}"));
    }
    session.run_dir.write_exports(&session.results)?;
    outcome?;

    let results = &session.results;
    print_table(results, &mut std::io::stdout().lock())?;
    eprintln!(
        "tfdiff: {} divergence signature(s) in {}",
        session.divergences.len(),
        session
            .run_dir
            .path
            .join(crate::report::DIVERGENCES_FILE)
            .display()
    );
    Ok(RunStatus::of(results))
}

/// One signature seen in this run.
struct SignatureState {
    row: usize,
    occurrences: u64,
}

/// Everything a run carries from input to input.
struct Session {
    config: RunConfig,
    versions: FrameworkVersions,
    generator: ImageGenerator,
    run_dir: RunDirectory,
    divergences: DivergenceLog,
    occurrences: Option<DivergenceLog>,
    results: RunResults,
    progress: Progress,
    evaluator: EmbeddedEvaluator,
    signatures: HashMap<(String, Mode, Mode, Kind), SignatureState>,
    clock: Instant,
}

impl Session {
    fn run_case(&mut self, case: &LoadedCase, sources: Vec<InputSource>) -> Result<()> {
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.progress.start_case(&case.name, sources.len() as u64);
        // A case's own TOLERANCE is the author's word on that case; the flags are the default.
        let tolerance = if case.tolerance.is_empty() {
            self.config.tolerance.clone()
        } else {
            case.tolerance.clone()
        };
        let first = self.results.pairs.len();
        self.results.pairs.extend(
            self.config
                .pairs
                .iter()
                .map(|&pair| PairSummary::new(&case.name, pair)),
        );
        let pairs = self.config.pairs.clone();
        let modes = self.config.modes.clone();
        let position = |mode| {
            modes
                .iter()
                .position(|m| *m == mode)
                .expect("pair modes are selected")
        };
        // XLA compiles one program per input shape and caches it: the distinct shapes of the
        // inputs are its compiles (shrinking, which tries shapes of its own, adds more).
        let mut xla_shapes = std::collections::BTreeSet::new();
        for source in sources {
            if INTERRUPTED.load(Ordering::SeqCst) {
                break;
            }
            let input = self.plan_input(&source)?;
            if modes.contains(&Mode::Xla) {
                xla_shapes.insert(format_shape(input.image.shape()));
            }
            if input.regression.is_some() {
                self.results.info.regressions_replayed += 1;
            }
            let outcomes = self
                .evaluator
                .evaluate(case, &input.image, input.layout, &modes)?;
            for (offset, &pair) in pairs.iter().enumerate() {
                let (a, b) = (&outcomes[position(pair.0)], &outcomes[position(pair.1)]);
                let comparison = compare(a, b, &tolerance);
                self.results.pairs[first + offset].add(&input.label, &comparison, a, b);
                if comparison.kind.is_some() {
                    self.record(case, &tolerance, &input, pair, (a, b), comparison)?;
                }
            }
            self.results.info.inputs_evaluated += 1;
            self.progress.advance();
        }
        let traces = self.evaluator.trace_counts(case)?;
        let info = &mut self.results.info;
        info.xla_compiles
            .insert(case.name.clone(), xla_shapes.len() as u64);
        info.xla_shapes
            .insert(case.name.clone(), xla_shapes.into_iter().collect());
        info.traces.insert(case.name.clone(), traces);
        judge(
            &self.results.info.baseline,
            &mut self.results.pairs[first..],
            self.divergences.rows_mut(),
        );
        self.results.info.failing_signatures = failing(self.divergences.rows());
        self.results.rows = self.divergences.rows().to_vec();
        self.divergences.rewrite()?;
        finish_timing(&mut self.results, self.clock);
        self.run_dir.write_exports(&self.results)?;
        if INTERRUPTED.load(Ordering::SeqCst) {
            self.progress
                .note("tfdiff: interrupted; the reports hold what ran");
        }
        Ok(())
    }

    fn plan_input(&self, source: &InputSource) -> Result<PlannedInput> {
        Ok(match source {
            InputSource::Generated(number) => {
                let generated = self.generator.input(*number);
                PlannedInput {
                    label: number.to_string(),
                    image: generated.image,
                    layout: generated.layout,
                    generator: generated.class.to_string(),
                    regression: None,
                }
            }
            InputSource::File(path) => {
                let (image, record) = regressions::load(path)?;
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                match record {
                    Some(record) => PlannedInput {
                        label: format!("regression:{name}"),
                        image,
                        layout: record.layout,
                        generator: format!("regression({})", record.generator),
                        regression: Some(path.clone()),
                    },
                    None => PlannedInput {
                        label: format!("file:{}", path.display()),
                        image,
                        layout: Layout::Contiguous,
                        generator: "file".into(),
                        regression: None,
                    },
                }
            }
        })
    }

    /// Counts a divergence under its signature; the first of a signature is shrunk, saved as a
    /// reproducer, a regression and a script, and written as a row at once.
    fn record(
        &mut self,
        case: &LoadedCase,
        tolerance: &ToleranceSpec,
        input: &PlannedInput,
        pair: (Mode, Mode),
        (a, b): (&Outcome, &Outcome),
        comparison: PairComparison,
    ) -> Result<()> {
        let kind = comparison.kind.expect("only divergences are recorded");
        if let Some(log) = &mut self.occurrences {
            let mut row = DivergenceRow::new(&Finding {
                case: &case.name,
                input: &input.label,
                seed: self.config.seed,
                generator: &input.generator,
                shape: input.image.shape(),
                original_shape: input.image.shape(),
                pair,
                outcomes: (a, b),
                comparison: &comparison,
            });
            row.reproducer = match &input.regression {
                Some(path) => path.display().to_string(),
                None => {
                    let name = format!("input-{}.npy", input.label.replace([':', '/'], "_"));
                    let path = self.run_dir.save_input(&name, &input.image)?;
                    display_path(&path, &self.run_dir.path)
                }
            };
            log.append(row)?;
        }

        let key = (case.name.clone(), pair.0, pair.1, kind);
        if let Some(state) = self.signatures.get_mut(&key) {
            state.occurrences += 1;
            self.divergences.row_mut(state.row).occurrences = state.occurrences;
            return Ok(());
        }

        let started = Instant::now();
        let target = Target {
            case,
            pair,
            kind,
            tolerance,
            layout: input.layout,
        };
        let unshrunk = Shrunk {
            image: input.image.clone(),
            outcomes: (a.clone(), b.clone()),
            comparison: comparison.clone(),
            steps: 0,
            tried: 0,
            finished: false,
        };
        let shrunk = if self.config.shrink_time > 0.0 {
            shrink::shrink(
                &mut self.evaluator,
                &target,
                unshrunk.image,
                unshrunk.outcomes,
                unshrunk.comparison,
                Duration::from_secs_f64(self.config.shrink_time),
            )?
        } else {
            unshrunk
        };
        self.results.info.shrink_seconds += started.elapsed().as_secs_f64();

        let mut row = DivergenceRow::new(&Finding {
            case: &case.name,
            input: &input.label,
            seed: self.config.seed,
            generator: &input.generator,
            shape: shrunk.image.shape(),
            original_shape: input.image.shape(),
            pair,
            outcomes: (&shrunk.outcomes.0, &shrunk.outcomes.1),
            comparison: &shrunk.comparison,
        });
        row.shrink_steps = shrunk.steps;
        row.status = self
            .results
            .info
            .baseline
            .status(&case.name, pair, kind, None, None)
            .name()
            .to_string();
        let stem = format!("{}-{}-{}-{}", case.name, pair.0, pair.1, kind);
        let reproducer = self
            .run_dir
            .save_input(&format!("{stem}.npy"), &shrunk.image)?;
        row.reproducer = display_path(&reproducer, &self.run_dir.path);

        let regression = match &input.regression {
            // A regression that shows its divergence again is its own reproducer.
            Some(path) => Some(path.clone()),
            None if self.config.save_regressions => {
                let record = self.regression_record(&row, input.layout, &shrunk);
                let path = regressions::save(&case.path, &shrunk.image, &record)?;
                // The run directory keeps a copy: a CI job's artifact then carries it.
                self.run_dir.keep_regression(&case.name, &path)?;
                self.results
                    .info
                    .regressions_saved
                    .push(path.display().to_string());
                Some(path)
            }
            None => None,
        };
        row.regression = regression
            .map(|p| p.display().to_string())
            .unwrap_or_default();

        let script = repro_script::render(&repro_script::ScriptSpec {
            case: &case.name,
            case_file: &case.path,
            input_file: &format!("../{}", row.reproducer),
            input_label: &input.label,
            layout: input.layout.name(),
            mode_a: pair.0.name(),
            mode_b: pair.1.name(),
            kind: kind.name(),
            seed: self.config.seed,
            shape: &row.shape,
            original_shape: &row.original_shape,
            tolerance,
            metrics: shrunk.comparison.metrics.as_ref(),
            numpy: &self.versions.numpy,
            tensorflow: &self.versions.tensorflow,
        })?;
        let script = self.run_dir.save_script(&format!("{stem}.py"), &script)?;
        row.script = display_path(&script, &self.run_dir.path);

        self.progress.note(&format!(
            "tfdiff: {} {}-{}: {kind} divergence on input {}; shrunk {} -> {} in {} step(s){}",
            case.name,
            pair.0,
            pair.1,
            input.label,
            row.original_shape,
            row.shape,
            shrunk.steps,
            if shrunk.finished {
                ""
            } else {
                " (time box reached)"
            }
        ));
        let index = self.divergences.append(row)?;
        self.signatures.insert(
            key,
            SignatureState {
                row: index,
                occurrences: 1,
            },
        );
        self.results.info.signatures += 1;
        Ok(())
    }

    fn regression_record(
        &self,
        row: &DivergenceRow,
        layout: Layout,
        shrunk: &Shrunk,
    ) -> RegressionRecord {
        let metrics = shrunk.comparison.metrics.as_ref();
        let environment = &self.results.info.environment;
        RegressionRecord {
            case: row.case.clone(),
            mode_a: row.mode_a.to_string(),
            mode_b: row.mode_b.to_string(),
            kind: row.kind.clone(),
            layout,
            generator: row.generator.clone(),
            seed: row.seed,
            input: row.input.clone(),
            original_shape: parse_shape(&row.original_shape),
            shape: shrunk.image.shape().to_vec(),
            shrink_steps: shrunk.steps,
            max_abs: metrics.map(|m| m.max_abs),
            max_rel: metrics.map(|m| m.max_rel),
            max_ulp: metrics.map(|m| m.max_ulp),
            mismatches: metrics.map(|m| m.mismatches),
            error: row.error.clone(),
            numpy: self.versions.numpy.clone(),
            tensorflow: self.versions.tensorflow.clone(),
            python: environment["python"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            tfdiff: env!("CARGO_PKG_VERSION").to_string(),
            date: Utc::now().to_rfc3339(),
        }
    }
}

/// Marks each divergence row of `pairs` new, known or exceeded — bounds measured on the whole
/// pair — and each pair with its worst status.
pub fn judge(baseline: &Baseline, pairs: &mut [PairSummary], rows: &mut [DivergenceRow]) {
    for pair in pairs {
        pair.status = None;
        for row in rows.iter_mut().filter(|row| {
            row.case == pair.case && row.mode_a == pair.mode_a && row.mode_b == pair.mode_b
        }) {
            let kind = Kind::from_name(&row.kind).expect("rows hold kinds tfdiff wrote");
            let status = baseline.status(
                &row.case,
                (row.mode_a, row.mode_b),
                kind,
                pair.max_abs,
                pair.max_ulp,
            );
            row.status = status.name().to_string();
            pair.status = pair.status.max(Some(status));
        }
    }
}

/// Rows that fail the run.
pub fn failing(rows: &[DivergenceRow]) -> u64 {
    rows.iter()
        .filter(|row| row.status == "new" || row.status == "exceeded")
        .count() as u64
}

/// Known divergences of the cases and pairs that ran that no row shows.
pub fn known_not_seen(results: &RunResults, rows: &[DivergenceRow]) -> Vec<KnownDivergence> {
    results
        .info
        .baseline
        .known
        .iter()
        .filter(|known| {
            let ran = results.pairs.iter().any(|pair| {
                pair.case == known.case
                    && pair.inputs > 0
                    && parse_pair(&known.pair) == Some((pair.mode_a, pair.mode_b))
            });
            let seen = rows.iter().any(|row| {
                row.case == known.case
                    && parse_pair(&known.pair) == Some((row.mode_a, row.mode_b))
                    && row.kind == known.kind
            });
            ran && !seen
        })
        .cloned()
        .collect()
}

fn parse_shape(text: &str) -> Vec<usize> {
    text.split('x')
        .filter_map(|side| side.parse().ok())
        .collect()
}

/// The inputs of one case: its saved regressions, then the generated ones — or what a replay
/// names.
fn input_sources(
    config: &RunConfig,
    case: &LoadedCase,
    replay_files: &[(String, PathBuf)],
) -> Result<Vec<InputSource>> {
    Ok(match &config.plan {
        InputPlan::Generate => {
            // A shard takes every N-th regression and every N-th generated input.
            let owns = |position: u64| config.shard.is_none_or(|shard| shard.owns(position));
            let regressions = regressions::list(&case.path, &case.name)?;
            regressions
                .into_iter()
                .enumerate()
                .filter(|(position, _)| owns(*position as u64))
                .map(|(_, path)| InputSource::File(path))
                .chain(
                    (0..config.inputs)
                        .filter(|&number| owns(number))
                        .map(InputSource::Generated),
                )
                .collect()
        }
        InputPlan::Files(_) => replay_files
            .iter()
            .filter(|(name, _)| *name == case.name)
            .map(|(_, path)| InputSource::File(path.clone()))
            .collect(),
        InputPlan::Inputs(numbers) => numbers
            .iter()
            .copied()
            .map(InputSource::Generated)
            .collect(),
    })
}

/// Pairs each replayed file with its case: the one its record names, else the one `--case`
/// names, else the `<case>` of a `regressions/<case>/` path.
fn files_by_case(files: &[PathBuf], cases: &[String]) -> Result<Vec<(String, PathBuf)>> {
    files
        .iter()
        .map(|file| {
            let (_, record) = regressions::load(file)?;
            let from_path = cases_dir_of_regression(file)
                .and_then(|_| Some(file.parent()?.file_name()?.to_string_lossy().into_owned()));
            let case = match (record, cases) {
                (Some(record), _) => record.case,
                (None, [only]) => only.clone(),
                (None, _) => match from_path {
                    Some(case) => case,
                    None => bail!(
                        "{}: cannot tell which case it is an input of; pass --case NAME",
                        file.display()
                    ),
                },
            };
            Ok((case, file.clone()))
        })
        .collect()
}

/// For `DIR/regressions/<case>/x.npy`, DIR: the cases directory the file belongs to.
fn cases_dir_of_regression(file: &Path) -> Option<PathBuf> {
    let regressions_dir = file.parent()?.parent()?;
    (regressions_dir.file_name()? == "regressions").then(|| {
        let dir = regressions_dir.parent().unwrap_or(Path::new("."));
        if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir.to_path_buf()
        }
    })
}

fn finish_timing(results: &mut RunResults, clock: Instant) {
    results.info.set_elapsed(clock.elapsed().as_secs_f64());
}

/// The CPU's model name, which decides which SIMD kernels NumPy and TensorFlow pick.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}
