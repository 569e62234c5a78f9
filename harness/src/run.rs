//! A whole run: generate inputs, evaluate every case on each, compare every pair, report.

use crate::cases;
use crate::compare::compare;
use crate::evaluate::{EmbeddedEvaluator, Evaluator};
use crate::generate::ImageGenerator;
use crate::options::RunConfig;
use crate::progress::Progress;
use crate::python::{LoadedCase, PythonRuntime};
use crate::python_env::PythonEnv;
use crate::report::{
    print_table, DivergenceLog, DivergenceRow, PairSummary, RunDirectory, RunInfo, RunResults,
};
use anyhow::Result;
use chrono::Utc;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

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

pub fn run(config: RunConfig, command_line: Vec<String>) -> Result<RunStatus> {
    let env = PythonEnv::locate(config.python_env.as_deref())?;
    let dirs = cases::case_dirs(&config.cases_dirs)?;
    let files = cases::select(cases::discover(&dirs)?, &config.cases)?;

    let started_at = Utc::now();
    let run_id = started_at.format("%Y%m%d-%H%M%S").to_string();
    let mut run_dir = RunDirectory::create(config.out.as_deref(), &config.reports_dir, &run_id)?;
    let mut log = DivergenceLog::create(&run_dir.path)?;

    let runtime = PythonRuntime::start(&env)?;
    let versions = runtime.import_frameworks()?;
    let (loaded, failures) = runtime.load_cases(&files);
    for failure in &failures {
        eprintln!(
            "tfdiff: case {} not loaded: {}",
            failure.name, failure.error
        );
    }
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
    eprintln!(
        "tfdiff: seed {}, {} inputs per case, {} case(s), modes {}; NumPy {}, TensorFlow {}; \
         reports in {}",
        config.seed,
        config.inputs,
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

    let mut results = RunResults {
        info: RunInfo {
            tfdiff_version: env!("CARGO_PKG_VERSION"),
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
            cases: loaded.clone(),
            case_load_failures: failures,
            interrupted: false,
            error: None,
        },
        pairs: Vec::new(),
    };
    run_dir.write_exports(&results)?;

    let mut progress = Progress::new(loaded.len() as u64, config.inputs, config.progress);
    let clock = Instant::now();
    let mut evaluator = EmbeddedEvaluator;
    let outcome = run_cases(
        &config,
        &loaded,
        &mut evaluator,
        &mut run_dir,
        &mut log,
        &mut results,
        &mut progress,
        clock,
    );
    progress.finish();

    // Whatever happened, the reports say what was found up to here.
    finish_timing(&mut results, clock);
    results.info.finished_at = Some(Utc::now());
    results.info.interrupted = INTERRUPTED.load(Ordering::SeqCst);
    if let Err(error) = &outcome {
        results.info.error = Some(format!("{error:#}"));
    }
    run_dir.write_exports(&results)?;
    outcome?;

    print_table(&results, &mut std::io::stdout().lock())?;
    eprintln!(
        "tfdiff: {} divergence row(s) in {}",
        log.rows,
        run_dir.path.join("divergences.csv").display()
    );
    Ok(if results.info.interrupted {
        RunStatus::Interrupted
    } else if !results.info.case_load_failures.is_empty() {
        RunStatus::CasesNotLoaded
    } else if results.pairs.iter().any(|pair| pair.diverge > 0) {
        RunStatus::Diverged
    } else {
        RunStatus::Agreed
    })
}

#[allow(clippy::too_many_arguments)]
fn run_cases(
    config: &RunConfig,
    loaded: &[LoadedCase],
    evaluator: &mut impl Evaluator,
    run_dir: &mut RunDirectory,
    log: &mut DivergenceLog,
    results: &mut RunResults,
    progress: &mut Progress,
    clock: Instant,
) -> Result<()> {
    let generator = ImageGenerator::new(config.seed, config.max_side);
    let position = |mode| {
        config
            .modes
            .iter()
            .position(|m| *m == mode)
            .expect("pair modes are selected")
    };
    for case in loaded {
        progress.start_case(&case.name);
        // A case's own TOLERANCE is the author's word on that case; the flags are the default.
        let tolerance = if case.tolerance.is_empty() {
            &config.tolerance
        } else {
            &case.tolerance
        };
        let first = results.pairs.len();
        results.pairs.extend(
            config
                .pairs
                .iter()
                .map(|&pair| PairSummary::new(&case.name, pair)),
        );
        for input in 0..config.inputs {
            if INTERRUPTED.load(Ordering::SeqCst) {
                break;
            }
            let image = generator.image(input);
            let outcomes = evaluator.evaluate(case, &image, &config.modes)?;
            for (offset, &(mode_a, mode_b)) in config.pairs.iter().enumerate() {
                let (a, b) = (&outcomes[position(mode_a)], &outcomes[position(mode_b)]);
                let comparison = compare(a, b, tolerance);
                results.pairs[first + offset].add(&comparison, a, b);
                if comparison.kind.is_some() {
                    let reproducer = run_dir.save_input(input, &image)?;
                    let reproducer = reproducer
                        .strip_prefix(&run_dir.path)
                        .unwrap_or(&reproducer);
                    log.record(&DivergenceRow::new(
                        &case.name,
                        input,
                        config.seed,
                        image.shape(),
                        (mode_a, mode_b),
                        (a, b),
                        &comparison,
                        Path::new(reproducer),
                    ))?;
                }
            }
            results.info.inputs_evaluated += 1;
            progress.advance();
        }
        results
            .info
            .traces
            .insert(case.name.clone(), evaluator.trace_counts(case)?);
        finish_timing(results, clock);
        run_dir.write_exports(results)?;
        if INTERRUPTED.load(Ordering::SeqCst) {
            progress.note("tfdiff: interrupted; the reports hold what ran");
            break;
        }
    }
    Ok(())
}

fn finish_timing(results: &mut RunResults, clock: Instant) {
    let elapsed = clock.elapsed().as_secs_f64();
    results.info.elapsed_seconds = elapsed;
    results.info.inputs_per_second = if elapsed > 0.0 {
        results.info.inputs_evaluated as f64 / elapsed
    } else {
        0.0
    };
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
