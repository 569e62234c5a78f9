//! A whole run, the driver's job: for each case, replay its saved regressions and generate
//! inputs, have the workers evaluate each in every mode, compare every pair, shrink each new
//! divergence signature, and report. Inputs are evaluated side by side by the worker pool, a
//! case per worker (`interleave.rs`), but each case's are taken in its input order and rows are
//! kept in the cases' order, so every report is the same whatever `--jobs` is.

use crate::baseline::{self, Baseline};
use crate::cases::{self, CaseInfo};
use crate::compare::{compare, compare_pairs, Kind, PairComparison, ToleranceSpec};
use crate::evaluate::{Evaluation, Evaluator, Job, Memo, OutcomeCache};
use crate::generate::{self, Image, ImageGenerator, Layout};
use crate::interleave;
use crate::mode::{Mode, ModePair};
use crate::options::{InputPlan, RunConfig};
use crate::outcome::Outcome;
use crate::pool::{PoolOptions, Started, WorkerPool};
use crate::probe::{self, Contamination, Stage};
use crate::progress::Progress;
use crate::python_env::PythonEnv;
use crate::regressions::{self, RegressionRecord};
use crate::report::{
    display_path, format_shape, print_table, repro_script, DivergenceLog, DivergenceRow, Finding,
    PairSummary, RunDirectory, RunEnd, RunInfo, RunResults,
};
use crate::shrink::{self, Shrunk, Target};
use crate::signals::{self, StopSignal};
use crate::signature::Signature;
use crate::xla_cache::XlaCacheUse;
use anyhow::{bail, Result};
use chrono::Utc;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// Inputs submitted ahead per worker. Results are taken in input order, so one slow input
/// (a large image, an XLA compile) holds up the ones behind it, and no input is submitted
/// while the driver compares a large one; enough in flight keeps the workers busy meanwhile.
/// Measured on 2 workers: 2 per worker left them idle 40% of the time, 8 about 20% (comparing
/// a 3 MB output takes longer than a worker needs for 8 small inputs), 32 about 8%.
const IN_FLIGHT_PER_WORKER: usize = 32;
/// ... and at most this many bytes of input pixels per worker, which bounds the outputs held
/// for in-order taking (a few large images rather than 32). Measured over 6 s of a warm
/// default run with `--jobs 2` (2026-12-04), the two CPUs idle: 4.9–7.1% with 4 MiB, which
/// bound more often than the count; 1.9–3.2% with 8 MiB; 16 MiB no better (1.6–6.8%). The
/// driver's peak resident memory stayed about 80 MB.
const IN_FLIGHT_BYTES_PER_WORKER: usize = 8 << 20;

/// How a run ended; each maps to one exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Agreed,
    Diverged,
    /// Some case files could not be loaded; the others ran.
    CasesNotLoaded,
    /// SIGINT or SIGTERM stopped it between inputs; the reports hold what ran.
    Stopped(StopSignal),
    /// It broke off or never said how it ended (a merge of such shards with
    /// --allow-incomplete): never a success.
    Incomplete,
}

impl RunStatus {
    /// How the run with these results ended: stopped by a signal, with cases not loaded, with
    /// new or exceeded divergences, or none of these.
    pub fn of(results: &RunResults) -> RunStatus {
        if results.info.interrupted {
            let signal = results.info.stop_signal.as_deref();
            RunStatus::Stopped(
                signal
                    .and_then(StopSignal::from_name)
                    .unwrap_or(StopSignal::Interrupt),
            )
        } else if !results.info.ended.is_complete() {
            RunStatus::Incomplete
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
            RunStatus::CasesNotLoaded | RunStatus::Incomplete => 2,
            RunStatus::Stopped(signal) => signal.exit_code(),
        }
    }
}

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

/// What a run found out before its first input: the cases, their files and the workers.
struct Prepared {
    env: PythonEnv,
    baseline: Baseline,
    /// Each case file's inputs, by case name (listed once, before the workers start).
    plans: HashMap<String, Vec<InputSource>>,
    clean_probe: Child,
    pool: WorkerPool,
    started: Started,
}

pub fn run(mut config: RunConfig, command_line: Vec<String>) -> Result<RunStatus> {
    signals::install();
    let prepared = prepare(&mut config)?;
    let started = prepared.started;
    for failure in &started.failures {
        eprintln!(
            "tfdiff: case {} not loaded: {}",
            failure.name, failure.error
        );
    }
    let mut planned = prepared.plans;
    let plans: Vec<Vec<InputSource>> = started
        .cases
        .iter()
        .map(|case| planned.remove(&case.name).unwrap_or_default())
        .collect();
    // Only now, with the workers up, does the run get a directory; reports/latest moves to it
    // with the first evaluated input.
    let run_id = Utc::now().format("%Y%m%d-%H%M%S").to_string();
    let run_dir = RunDirectory::create(
        config.out.as_deref(),
        &config.reports_dir,
        &run_id,
        config.force,
    )?;
    prepared.pool.attach_logs(&run_dir.path.join("logs"))?;
    let total: usize = plans.iter().map(Vec::len).sum();
    announce(&config, &started, total, &run_dir);
    let files: Vec<String> = prepared
        .baseline
        .files
        .iter()
        .map(|file| file.display().to_string())
        .collect();
    eprintln!(
        "tfdiff: known divergences: {}",
        if files.is_empty() {
            "none (no --baseline, and no expected.toml in the cases directories)".to_string()
        } else {
            format!(
                "{} entries from {}",
                prepared.baseline.known.len(),
                files.join(", ")
            )
        }
    );
    let results = skeleton(
        &config,
        command_line,
        prepared.env,
        prepared.baseline,
        &started,
    );
    let names = started.cases.iter().map(|case| case.name.clone()).collect();
    let mut session = Session::new(config, run_dir, results, prepared.pool, total, names)?;
    let outcome = session.run_cases(&started.cases, plans);
    session.progress.finish();
    session.finish(outcome, prepared.clean_probe, started.stages)
}

/// Finds the environment, the baseline and the cases, and starts the workers. Every error here
/// comes before the run has a directory.
fn prepare(config: &mut RunConfig) -> Result<Prepared> {
    if let Some(out) = &config.out {
        RunDirectory::check_out(out, config.force)?;
    }
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
    let dirs = cases::case_dirs(&extra_dirs)?;
    let baseline = Baseline::locate(config.baseline.as_deref(), &dirs)?;
    let discovered = cases::discover(&dirs)?;
    let names: Vec<String> = discovered.iter().map(|file| file.name.clone()).collect();
    for warning in baseline.unknown_case_warnings(&names) {
        eprintln!("{warning}");
    }
    let files = cases::select(discovered, &config.cases)?;
    let mut plans = HashMap::new();
    for file in &files {
        let sources = input_sources(config, &file.name, &file.path, &replay_files)?;
        plans.insert(file.name.clone(), sources);
    }
    // No more workers than inputs: replaying one file starts one, whatever the CPUs.
    let inputs: usize = plans.values().map(Vec::len).sum();
    config.jobs = config.jobs.min(inputs.max(1));
    // The probe's clean process starts before any worker imports TensorFlow.
    let clean_probe = probe::spawn_clean(&env)?;
    let (pool, started) = WorkerPool::start(PoolOptions {
        env_dir: env.dir.clone(),
        cases: files,
        jobs: config.jobs,
        timeout: Duration::from_secs_f64(config.timeout),
        probe: true,
        force_ftz_daz: false,
        xla_cache: config.xla_cache.clone(),
        max_output_bytes: Some(config.max_output_bytes),
        pretrace_ranks: if config.xla_cache.is_some() && config.modes.contains(&Mode::Xla) {
            generate::ranks()
        } else {
            Vec::new()
        },
    })?;
    Ok(Prepared {
        env,
        baseline,
        plans,
        clean_probe,
        pool,
        started,
    })
}

fn announce(config: &RunConfig, started: &Started, total: usize, run_dir: &RunDirectory) {
    let modes: Vec<&str> = config.modes.iter().map(|m| m.name()).collect();
    eprintln!(
        "tfdiff: seed {}, {} input(s) over {} case(s) (saved regressions included), modes {}, \
         {} worker(s); NumPy {}, TensorFlow {}; reports in {}",
        config.seed,
        total,
        started.cases.len(),
        modes.join(","),
        config.jobs,
        started.hello.numpy,
        started.hello.tensorflow,
        run_dir.path.display()
    );
    if config.xla_cache.is_some() && started.hello.xla_cache.is_none() {
        eprintln!(
            "tfdiff: XLA's persistent cache is off with TensorFlow {}: before 2.16 every XLA \
             call fails with it on (measured on 2.12-2.15); XLA compiles in each worker",
            started.hello.tensorflow
        );
    }
}

/// The run's description before any input is evaluated.
fn skeleton(
    config: &RunConfig,
    command_line: Vec<String>,
    env: PythonEnv,
    baseline: Baseline,
    started: &Started,
) -> RunResults {
    let environment = serde_json::from_str(&started.hello.environment).unwrap_or_default();
    RunResults {
        info: RunInfo {
            tfdiff_version: env!("CARGO_PKG_VERSION").to_string(),
            command_line,
            config: config.clone(),
            python_env: env,
            environment,
            cpu_model: cpu_model(),
            started_at: Utc::now(),
            finished_at: None,
            elapsed_seconds: 0.0,
            evaluation_seconds: 0.0,
            inputs_evaluated: 0,
            inputs_per_second: 0.0,
            traces: BTreeMap::new(),
            tflite_xnnpack: BTreeMap::new(),
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
            workers: Default::default(),
            xla_cache: started.hello.xla_cache.clone().map(XlaCacheUse::new),
            cases: started.cases.clone(),
            case_load_failures: started.failures.clone(),
            state_changes: BTreeMap::new(),
            case_output: BTreeMap::new(),
            interrupted: false,
            stop_signal: None,
            error: None,
            ended: RunEnd::Running,
        },
        pairs: Vec::new(),
        rows: Vec::new(),
    }
}

/// Everything a run carries from input to input.
struct Session {
    config: RunConfig,
    generator: ImageGenerator,
    run_dir: RunDirectory,
    divergences: DivergenceLog,
    occurrences: Option<DivergenceLog>,
    results: RunResults,
    progress: Progress,
    evaluator: WorkerPool,
    /// Outcomes known from shrinking the open cases (see `Memo`).
    memo: OutcomeCache,
    /// The smallest input shrunk so far from one input of an open case for one kind, and its
    /// steps, by (case, input, kind): the next pair with that kind on that input starts
    /// shrinking there.
    shrunk_inputs: HashMap<(String, String, Kind), (Image, u64)>,
    /// Inputs submitted and not taken yet, in order: the case's index, the input, its ticket.
    pending: VecDeque<(usize, PlannedInput, <WorkerPool as Evaluator>::Ticket)>,
    clock: Instant,
}

/// A case whose inputs are being evaluated: what its inputs add up to until the last is taken.
struct OpenCase {
    tolerance: ToleranceSpec,
    /// Its first row in `results.pairs`.
    first: usize,
    /// The distinct shapes its XLA function ran on.
    xla_shapes: BTreeSet<String>,
    inputs: usize,
    taken: usize,
}

/// What `Session::record` needs to know of the input and the pair.
struct Divergent<'a> {
    case: &'a CaseInfo,
    tolerance: &'a ToleranceSpec,
    input: &'a PlannedInput,
    pair: ModePair,
    outcomes: (&'a Outcome, &'a Outcome),
}

impl Session {
    fn new(
        config: RunConfig,
        mut run_dir: RunDirectory,
        mut results: RunResults,
        evaluator: WorkerPool,
        total: usize,
        cases: Vec<String>,
    ) -> Result<Session> {
        let divergences =
            DivergenceLog::create(run_dir.path.join(crate::report::DIVERGENCES_FILE))?
                .in_case_order(cases.clone());
        let occurrences = if config.all {
            Some(
                DivergenceLog::create(run_dir.path.join(crate::report::OCCURRENCES_FILE))?
                    .in_case_order(cases),
            )
        } else {
            None
        };
        let generator = ImageGenerator::new(config.seed, config.max_side, config.max_side_large);
        results.info.shape_pool = generator
            .pool()
            .iter()
            .map(|shape| format!("{} ({})", format_shape(&shape.shape), shape.class.name()))
            .collect();
        results.info.workers = evaluator.stats();
        run_dir.write_exports(&results)?;
        Ok(Session {
            generator,
            progress: Progress::new(total as u64, config.progress),
            config,
            run_dir,
            divergences,
            occurrences,
            results,
            evaluator,
            memo: OutcomeCache::default(),
            shrunk_inputs: HashMap::new(),
            pending: VecDeque::new(),
            clock: Instant::now(),
        })
    }

    /// Evaluates every case's inputs, several per worker in flight, taken in order. The
    /// window runs on across cases: draining it at each case's end left the workers idle while
    /// the last inputs of a case finished and its reports were written. Inputs go out
    /// interleaved, one case per worker (`interleave.rs`), so that workers need not all trace
    /// and compile the same case; each case is still taken in its own input order.
    fn run_cases(&mut self, cases: &[CaseInfo], plans: Vec<Vec<InputSource>>) -> Result<()> {
        let window = IN_FLIGHT_PER_WORKER * self.evaluator.parallelism();
        let byte_window = IN_FLIGHT_BYTES_PER_WORKER * self.evaluator.parallelism();
        let mut pending_bytes = 0;
        let mut open: Vec<Option<OpenCase>> = Vec::new();
        let lengths: Vec<usize> = plans.iter().map(Vec::len).collect();
        // Cases open in order as their first input goes out; the ones without inputs with
        // them, so summaries keep the cases' order.
        let open_until = |session: &mut Session, open: &mut Vec<_>, end: usize| {
            while open.len() < end {
                let index = open.len();
                open.push(Some(session.open_case(&cases[index], lengths[index])));
            }
        };
        for (index, number) in interleave::order(&lengths, self.evaluator.parallelism()) {
            if signals::stop_requested().is_some() {
                break;
            }
            open_until(self, &mut open, index + 1);
            let input = self.plan_input(&plans[index][number])?;
            pending_bytes += input.image.len();
            self.submit(&cases[index].name, index, input)?;
            while self.pending.len() >= window
                || pending_bytes >= byte_window
                || self
                    .pending
                    .front()
                    .is_some_and(|(_, _, ticket)| self.evaluator.is_ready(ticket))
            {
                let (index, input, ticket) = self.pending.pop_front().expect("not empty");
                pending_bytes -= input.image.len();
                self.take_next(&cases[index], &mut open[index], input, ticket)?;
            }
        }
        if signals::stop_requested().is_none() {
            open_until(self, &mut open, cases.len());
        }
        // The rest in order; once stopped, only what is already evaluated.
        while let Some((index, input, ticket)) = self.pending.pop_front() {
            if signals::stop_requested().is_some() && !self.evaluator.is_ready(&ticket) {
                break;
            }
            self.take_next(&cases[index], &mut open[index], input, ticket)?;
        }
        // Cases a stop cut short end with what they have.
        for (case, state) in cases.iter().zip(&mut open) {
            if let Some(state) = state.take() {
                self.finish_case(case, state)?;
            }
        }
        Ok(())
    }

    /// Sends one input of case number `index` to be evaluated in every mode.
    fn submit(&mut self, case: &str, index: usize, input: PlannedInput) -> Result<()> {
        let ticket = self.evaluator.submit(Job {
            case,
            image: &input.image,
            layout: input.layout,
            modes: &self.config.modes,
        })?;
        self.pending.push_back((index, input, ticket));
        Ok(())
    }

    /// A case's summary rows and what its inputs accumulate until its last is taken.
    fn open_case(&mut self, case: &CaseInfo, inputs: usize) -> OpenCase {
        let first = self.results.pairs.len();
        self.results.pairs.extend(
            self.config
                .pairs
                .iter()
                .map(|&pair| PairSummary::new(&case.name, pair)),
        );
        OpenCase {
            // A case's own TOLERANCE is the author's word on that case; the flags are the
            // default.
            tolerance: if case.tolerance.is_empty() {
                self.config.tolerance.clone()
            } else {
                case.tolerance.clone()
            },
            first,
            xla_shapes: BTreeSet::new(),
            inputs,
            taken: 0,
        }
    }

    /// Waits for one input's evaluation and takes it; the case's last input finishes it.
    fn take_next(
        &mut self,
        case: &CaseInfo,
        open: &mut Option<OpenCase>,
        input: PlannedInput,
        ticket: <WorkerPool as Evaluator>::Ticket,
    ) -> Result<()> {
        let state = open
            .as_mut()
            .expect("a case is open until its last input is taken");
        let waiting = Instant::now();
        while !self
            .evaluator
            .ready_within(&ticket, crate::progress::PLAIN_INTERVAL)
        {
            if signals::stop_requested().is_some() {
                break;
            }
            self.progress
                .waiting(&case.name, &input.label, waiting.elapsed());
        }
        let evaluation = self.evaluator.wait(ticket)?;
        crate::oom::working_on(&format!(
            "comparing the outputs of case {}, input {}",
            case.name, input.label
        ));
        let (tolerance, first) = (state.tolerance.clone(), state.first);
        self.take(
            case,
            &tolerance,
            first,
            input,
            evaluation,
            &mut state.xla_shapes,
        )?;
        state.taken += 1;
        self.progress
            .advance(&case.name, state.taken as u64, state.inputs as u64);
        if state.taken == state.inputs {
            let state = open.take().expect("open");
            self.finish_case(case, state)?;
        }
        Ok(())
    }

    /// Compares every pair of one evaluated input and records its divergences.
    fn take(
        &mut self,
        case: &CaseInfo,
        tolerance: &ToleranceSpec,
        first: usize,
        input: PlannedInput,
        evaluation: Evaluation,
        xla_shapes: &mut BTreeSet<String>,
    ) -> Result<()> {
        // XLA compiles one program per input shape and caches it: the distinct shapes of the
        // inputs are its compiles (shrinking, which tries shapes of its own, adds more).
        if self.config.modes.contains(&Mode::Xla) {
            xla_shapes.insert(format_shape(input.image.shape()));
        }
        if input.regression.is_some() {
            self.results.info.regressions_replayed += 1;
        }
        let outcomes = &evaluation.outcomes;
        let modes = self.config.modes.clone();
        let position = |mode| {
            modes
                .iter()
                .position(|m| *m == mode)
                .expect("pair modes are selected")
        };
        let pairs = self.config.pairs.clone();
        let sides: Vec<_> = pairs
            .iter()
            .map(|pair| (&outcomes[position(pair.a)], &outcomes[position(pair.b)]))
            .collect();
        let comparisons = compare_pairs(&sides, tolerance);
        for (offset, ((pair, (a, b)), comparison)) in
            pairs.into_iter().zip(sides).zip(comparisons).enumerate()
        {
            self.results.pairs[first + offset].add(&input.label, &comparison, a, b);
            if comparison.kind.is_some() {
                let divergent = Divergent {
                    case,
                    tolerance,
                    input: &input,
                    pair,
                    outcomes: (a, b),
                };
                self.record(&divergent, comparison)?;
            }
        }
        self.results.info.inputs_evaluated += 1;
        self.run_dir.started_evaluating();
        Ok(())
    }

    /// Trace counts, XLA shapes and verdicts of a finished case; every export rewritten.
    fn finish_case(&mut self, case: &CaseInfo, state: OpenCase) -> Result<()> {
        let OpenCase {
            first, xla_shapes, ..
        } = state;
        let info = &mut self.results.info;
        info.xla_compiles
            .insert(case.name.clone(), xla_shapes.len() as u64);
        info.xla_shapes
            .insert(case.name.clone(), xla_shapes.into_iter().collect());
        info.traces
            .insert(case.name.clone(), self.evaluator.trace_counts(&case.name));
        if let Some(delegated) = self.evaluator.tflite_xnnpack(&case.name) {
            info.tflite_xnnpack.insert(case.name.clone(), delegated);
        }
        let changes = self.evaluator.state_changes(&case.name);
        if !changes.is_empty() {
            let list: Vec<String> = changes.into_iter().collect();
            self.progress.note(&format!(
                "tfdiff: warning: case {} changed process-wide state ({}); tfdiff put it \
                 back before every call, so no other case saw it",
                case.name,
                list.join("; ")
            ));
            info.state_changes.insert(case.name.clone(), list);
        }
        info.workers = self.evaluator.stats();
        self.memo.forget(&case.name);
        self.shrunk_inputs
            .retain(|(name, _, _), _| *name != case.name);
        baseline::judge(
            &self.results.info.baseline,
            &mut self.results.pairs[first..first + self.config.pairs.len()],
            self.divergences.rows_mut(),
        );
        self.results.info.failing_signatures = baseline::failing(self.divergences.rows());
        self.results.rows = self.divergences.rows().to_vec();
        self.divergences.rewrite()?;
        if let Some(log) = &mut self.occurrences {
            log.rewrite()?;
        }
        finish_timing(&mut self.results, self.clock);
        self.run_dir.write_exports(&self.results)?;
        if let Some(signal) = signals::stop_requested() {
            self.progress.note(&format!(
                "tfdiff: stopped by {}; the reports hold what ran",
                signal.name()
            ));
        }
        Ok(())
    }

    /// The end of a run, however it went: the probe's last stage (unless stopped), the workers
    /// shut down, and every report written with what was found.
    fn finish(
        mut self,
        outcome: Result<()>,
        clean_probe: Child,
        stages: Vec<Stage>,
    ) -> Result<RunStatus> {
        let evaluation = self.clock.elapsed().as_secs_f64();
        let stopped = signals::stop_requested();
        if stopped.is_none() && outcome.is_ok() {
            self.probe(clean_probe, stages);
        }
        self.evaluator
            .shutdown(stopped.is_some() || outcome.is_err());
        self.results.info.known_not_seen = baseline::known_not_seen(
            &self.results.info.baseline,
            &self.results.pairs,
            self.divergences.rows(),
        );
        let results = &mut self.results;
        results.info.workers = self.evaluator.stats();
        results.info.case_output = self.evaluator.case_output();
        if let Some(cache) = &mut results.info.xla_cache {
            cache.update();
        }
        results
            .info
            .set_times(evaluation, self.clock.elapsed().as_secs_f64());
        results.info.finished_at = Some(Utc::now());
        results.info.interrupted = stopped.is_some();
        results.info.stop_signal = stopped.map(|signal| signal.name().to_string());
        if let Err(error) = &outcome {
            results.info.error = Some(format!("{error:#}"));
        }
        results.info.ended = results.info.end();
        self.run_dir.write_exports(&self.results)?;
        outcome?;
        let results = &self.results;
        print_table(results, &mut std::io::stdout().lock())?;
        eprintln!(
            "tfdiff: {} divergence signature(s) in {}",
            self.divergences.len(),
            self.run_dir
                .path
                .join(crate::report::DIVERGENCES_FILE)
                .display()
        );
        Ok(RunStatus::of(results))
    }

    /// The probe's last stage, after the cases ran TensorFlow in every mode, in the first
    /// worker; compared with the clean process and the stages measured as that worker started.
    fn probe(&mut self, clean_probe: Child, stages: Vec<Stage>) {
        let contamination = (|| -> Result<Contamination> {
            let after_running = self.evaluator.probe_stage(probe::AFTER_RUNNING)?;
            let clean = probe::collect_clean(clean_probe)?;
            let mut all = vec![clean];
            all.extend(stages);
            all.push(after_running);
            Ok(Contamination::new(all, false))
        })();
        match contamination.and_then(|contamination| {
            contamination.write_csv(&self.run_dir.path.join("contamination.csv"))?;
            Ok(contamination)
        }) {
            Ok(contamination) => {
                if contamination.numpy_changed {
                    eprintln!(
                        "tfdiff: NumPy's results changed within a worker; see contamination.csv"
                    );
                }
                self.results.info.contamination = Some(contamination);
            }
            Err(error) => eprintln!("tfdiff: the contamination probe failed: {error:#}"),
        }
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
    fn record(&mut self, divergent: &Divergent<'_>, comparison: PairComparison) -> Result<()> {
        let kind = comparison.kind.expect("only divergences are recorded");
        if self.occurrences.is_some() {
            self.log_occurrence(divergent, &comparison)?;
        }
        let (case, input, pair) = (divergent.case, divergent.input, divergent.pair);
        let key = Signature {
            case: case.name.clone(),
            pair,
            kind,
        };
        if let Some(row) = self.divergences.row_mut(&key) {
            row.occurrences += 1;
            return Ok(());
        }
        let shrunk = self.shrink(divergent, kind, comparison)?;
        let row = self.signature_row(divergent, kind, &shrunk)?;
        let how = if self.config.shrink_time == 0.0 {
            " (shrinking off)"
        } else if shrunk.finished {
            ""
        } else {
            " (time box reached)"
        };
        self.progress.note(&format!(
            "tfdiff: {} {pair}: {kind} divergence on input {}; shrunk {} -> {} in {} step(s){how}",
            case.name, input.label, row.original_shape, row.shape, shrunk.steps,
        ));
        self.divergences.append(row)?;
        self.results.info.signatures += 1;
        Ok(())
    }

    /// `--all`: every divergent input as a row of occurrences.csv, with its input saved.
    fn log_occurrence(
        &mut self,
        divergent: &Divergent<'_>,
        comparison: &PairComparison,
    ) -> Result<()> {
        let input = divergent.input;
        let mut row = DivergenceRow::new(&Finding {
            case: &divergent.case.name,
            input: &input.label,
            seed: self.config.seed,
            generator: &input.generator,
            shape: input.image.shape(),
            original_shape: input.image.shape(),
            pair: divergent.pair,
            outcomes: divergent.outcomes,
            comparison,
        });
        row.reproducer = match &input.regression {
            Some(path) => path.display().to_string(),
            None => {
                let name = format!("input-{}.npy", input.label.replace([':', '/'], "_"));
                let path = self.run_dir.save_input(&name, &input.image)?;
                display_path(&path, &self.run_dir.path)
            }
        };
        if let Some(log) = &mut self.occurrences {
            log.append(row)?;
        }
        Ok(())
    }

    /// The smallest input that still shows the signature, within the time box. Starts from the
    /// input another pair already shrunk for the same kind, when it shows this signature too.
    fn shrink(
        &mut self,
        divergent: &Divergent<'_>,
        kind: Kind,
        comparison: PairComparison,
    ) -> Result<Shrunk> {
        if self.config.shrink_time > 0.0 {
            self.settle();
        }
        let started = Instant::now();
        let (a, b) = divergent.outcomes;
        let mut start = (
            divergent.input.image.clone(),
            (a.clone(), b.clone()),
            comparison,
        );
        if self.config.shrink_time == 0.0 {
            return Ok(Shrunk {
                image: start.0,
                outcomes: start.1,
                comparison: start.2,
                steps: 0,
                tried: 0,
                finished: false,
            });
        }
        let target = Target {
            case: divergent.case,
            pair: divergent.pair,
            kind,
            tolerance: divergent.tolerance,
            layout: divergent.input.layout,
        };
        let key = (
            divergent.case.name.clone(),
            divergent.input.label.clone(),
            kind,
        );
        let earlier = self.shrunk_inputs.get(&key).cloned();
        let mut memo = Memo {
            inner: &mut self.evaluator,
            cache: &mut self.memo,
        };
        let mut earlier_steps = 0;
        if let Some((image, steps)) = earlier {
            let modes = [target.pair.a, target.pair.b];
            let job = Job {
                case: &target.case.name,
                image: &image,
                layout: target.layout,
                modes: &modes,
            };
            let mut outcomes = memo.evaluate_all(&[job])?.remove(0).outcomes;
            let (b, a) = (outcomes.pop().expect("two"), outcomes.pop().expect("two"));
            let comparison = compare(&a, &b, target.tolerance);
            if comparison.kind == Some(kind) {
                start = (image, (a, b), comparison);
                earlier_steps = steps;
            }
        }
        let budget = Duration::from_secs_f64(self.config.shrink_time);
        let stop = || signals::stop_requested().is_some();
        let mut shrunk = shrink::shrink(&mut memo, &target, start, budget, &stop)?;
        shrunk.steps += earlier_steps;
        self.shrunk_inputs
            .insert(key, (shrunk.image.clone(), shrunk.steps));
        self.results.info.shrink_seconds += started.elapsed().as_secs_f64();
        Ok(shrunk)
    }

    /// Waits until every input in flight has been evaluated (they stay to be taken in order).
    /// Shrinking starts after: its candidates would otherwise queue behind those inputs, and
    /// the time box would count their evaluation — worker restarts included, when they crash —
    /// which depends on how many workers there are and how far ahead they ran: with one, a
    /// crash signature shrank a step where with two it shrank four.
    fn settle(&mut self) {
        for (_, _, ticket) in &self.pending {
            while !self
                .evaluator
                .ready_within(ticket, crate::progress::PLAIN_INTERVAL)
            {
                if signals::stop_requested().is_some() {
                    return;
                }
            }
        }
    }

    /// The signature's row, with its reproducer, regression and script saved.
    fn signature_row(
        &mut self,
        divergent: &Divergent<'_>,
        kind: Kind,
        shrunk: &Shrunk,
    ) -> Result<DivergenceRow> {
        let (case, input, pair) = (divergent.case, divergent.input, divergent.pair);
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
            .status(&case.name, pair, kind, None, None);
        let stem = format!("{}-{pair}-{kind}", case.name);
        let reproducer = self
            .run_dir
            .save_input(&format!("{stem}.npy"), &shrunk.image)?;
        row.reproducer = display_path(&reproducer, &self.run_dir.path);
        self.run_dir
            .save_outputs(&row, (&shrunk.outcomes.0, &shrunk.outcomes.1))?;
        row.regression = self
            .save_regression(case, input, &row, shrunk)?
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        row.script = self.save_script(divergent, kind, &row, shrunk, &stem)?;
        Ok(row)
    }

    /// The regression file that holds this input: the replayed one, or a new one.
    fn save_regression(
        &mut self,
        case: &CaseInfo,
        input: &PlannedInput,
        row: &DivergenceRow,
        shrunk: &Shrunk,
    ) -> Result<Option<PathBuf>> {
        Ok(match &input.regression {
            // A regression that shows its divergence again is its own reproducer.
            Some(path) => Some(path.clone()),
            None if self.config.save_regressions => {
                let record = self.regression_record(row, input.layout, shrunk);
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
        })
    }

    fn save_script(
        &mut self,
        divergent: &Divergent<'_>,
        kind: Kind,
        row: &DivergenceRow,
        shrunk: &Shrunk,
        stem: &str,
    ) -> Result<String> {
        let environment = &self.results.info.environment;
        let version = |key: &str| environment[key].as_str().unwrap_or("?").to_string();
        let script = repro_script::render(&repro_script::ScriptSpec {
            case: &divergent.case.name,
            case_file: &divergent.case.path,
            input_file: &format!("../{}", row.reproducer),
            input_label: &divergent.input.label,
            layout: divergent.input.layout.name(),
            mode_a: divergent.pair.a.name(),
            mode_b: divergent.pair.b.name(),
            kind: kind.name(),
            seed: self.config.seed,
            shape: &row.shape,
            original_shape: &row.original_shape,
            tolerance: divergent.tolerance,
            metrics: shrunk.comparison.metrics.as_ref(),
            timeout: self.config.timeout,
            numpy: &version("numpy"),
            tensorflow: &version("tensorflow"),
        })?;
        let script = self.run_dir.save_script(&format!("{stem}.py"), &script)?;
        Ok(display_path(&script, &self.run_dir.path))
    }

    fn regression_record(
        &self,
        row: &DivergenceRow,
        layout: Layout,
        shrunk: &Shrunk,
    ) -> RegressionRecord {
        let metrics = shrunk.comparison.metrics.as_ref();
        let environment = &self.results.info.environment;
        let version = |key: &str| environment[key].as_str().unwrap_or_default().to_string();
        RegressionRecord {
            case: row.case.clone(),
            mode_a: row.mode_a,
            mode_b: row.mode_b,
            kind: row.kind,
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
            numpy: version("numpy"),
            tensorflow: version("tensorflow"),
            python: version("python"),
            tfdiff: env!("CARGO_PKG_VERSION").to_string(),
            date: Utc::now().to_rfc3339(),
        }
    }
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
    case: &str,
    path: &Path,
    replay_files: &[(String, PathBuf)],
) -> Result<Vec<InputSource>> {
    Ok(match &config.plan {
        InputPlan::Generate => {
            // A shard takes every N-th regression and every N-th generated input.
            let owns = |position: u64| config.shard.is_none_or(|shard| shard.owns(position));
            let regressions = regressions::list(path, case)?;
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
            .filter(|(name, _)| name == case)
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

/// The run's seconds so far, all of them spent on inputs until the run's end (`finish`).
fn finish_timing(results: &mut RunResults, clock: Instant) {
    let seconds = clock.elapsed().as_secs_f64();
    results.info.set_times(seconds, seconds);
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
