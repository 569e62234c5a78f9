//! The driver's side of the workers: `--jobs` slots, each a thread owning one `tfdiff worker`
//! process at a time (`slot.rs`, `process.rs`), fed by a scheduler that sends each (case, shape)
//! to the worker that already compiled it (`scheduler.rs`). The pool is the driver's
//! `Evaluator`: inputs are submitted, evaluated on whichever worker is free, and their outcomes
//! waited for in the order the driver chooses — so reports do not depend on which worker ran
//! what, or on how many there were.

mod log;
mod nap;
mod process;
mod scheduler;
mod slot;

use crate::cases::{CaseFile, CaseInfo, CaseLoadFailure};
use crate::evaluate::{Evaluation, Evaluator, Job};
use crate::probe::Stage;
use crate::protocol::{Evaluate, Hello, WireImage};
use anyhow::{anyhow, bail, Context, Result};
use crossbeam_channel::{Receiver, Sender};
pub use log::Printed;
use log::{CaseOutput, WorkerLog};
use scheduler::Scheduler;
use serde::{Deserialize, Serialize};
use slot::{Slot, Startup};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Resident memory one worker needs, measured: a worker peaks at about 0.75 GB in a default
/// run (TensorFlow imported, XLA programs compiled, the largest generated images). With
/// headroom for the driver and larger images, `--jobs` by default starts no more workers than
/// fit in the available memory at this much each.
pub const WORKER_MEMORY_BYTES: u64 = 1_200_000_000;

/// What a pool is asked to start.
pub struct PoolOptions {
    pub env_dir: PathBuf,
    pub cases: Vec<CaseFile>,
    pub jobs: usize,
    /// Bound on one mode's evaluation of one input.
    pub timeout: Duration,
    /// Measure the probe's before/after-import stages in the first worker.
    pub probe: bool,
    pub force_ftz_daz: bool,
    /// XLA's compiled programs are kept here (see `Init::xla_cache`).
    pub xla_cache: Option<PathBuf>,
    /// Ranks whose XLA functions each worker traces before it is ready (see
    /// `Init::pretrace_ranks`); empty when the run has no xla mode or no cache.
    pub pretrace_ranks: Vec<usize>,
    /// See `Init::max_output_bytes`.
    pub max_output_bytes: Option<u64>,
}

/// What the first worker reported once the pool was up.
pub struct Started {
    pub hello: Hello,
    pub cases: Vec<CaseInfo>,
    pub failures: Vec<CaseLoadFailure>,
    /// Probe stages measured while starting (`PoolOptions::probe`).
    pub stages: Vec<Stage>,
}

/// The workers' part of run.json.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkerStats {
    /// Worker slots (`--jobs`).
    pub jobs: usize,
    /// Worker processes started: each slot's first, and every replacement.
    pub starts: u64,
    /// Workers started to replace one that crashed, timed out or died between jobs.
    pub restarts: u64,
    /// Modes (and case imports) that killed their worker.
    pub crashes: u64,
    /// Modes that ran past `--timeout`; their worker was killed.
    pub timeouts: u64,
    /// Seconds from spawn to ready of each slot's first worker (they start side by side).
    pub startup_seconds: Vec<f64>,
    /// Seconds spent starting replacement workers.
    pub restart_seconds: f64,
    /// Per slot, the highest peak resident memory of its worker processes, in MB.
    pub peak_rss_mb: Vec<f64>,
    /// Mode outputs a worker did not send, because another mode had returned the same array
    /// for that input, to the bit (`protocol::Response::ModeRepeats`).
    #[serde(default)]
    pub repeated_outputs: u64,
}

/// What the slots share.
pub struct Shared {
    /// What the pool was asked to start (`jobs` is the number of slots).
    pub options: PoolOptions,
    /// Set when the pool shuts down: no worker is started after it.
    pub closing: AtomicBool,
    stats: Mutex<WorkerStats>,
    /// Case → mode → the most traces any one worker process made.
    traces: Mutex<HashMap<String, BTreeMap<String, u64>>>,
    /// What the cases printed while they ran, from every worker.
    pub case_output: Arc<Mutex<CaseOutput>>,
    /// Case → what it changed of process-wide state, in any worker.
    state_changes: Mutex<HashMap<String, BTreeSet<String>>>,
    /// Case → whether XNNPACK ran part of its TFLite models in any worker.
    tflite_xnnpack: Mutex<HashMap<String, bool>>,
    /// The pid of each slot's current worker.
    live: Mutex<Vec<Option<u32>>>,
}

impl Shared {
    pub fn stats(&self) -> MutexGuard<'_, WorkerStats> {
        self.stats.lock().expect("stats lock")
    }

    pub fn set_live(&self, slot: usize, pid: Option<u32>) {
        self.live.lock().expect("live lock")[slot] = pid;
    }

    pub fn add_state_changes(&self, case: &str, changes: Vec<String>) {
        if !changes.is_empty() {
            let mut all = self.state_changes.lock().expect("state changes lock");
            all.entry(case.to_string()).or_default().extend(changes);
        }
    }

    pub fn add_tflite_xnnpack(&self, case: &str, delegated: Option<bool>) {
        if let Some(delegated) = delegated {
            let mut all = self.tflite_xnnpack.lock().expect("xnnpack lock");
            *all.entry(case.to_string()).or_default() |= delegated;
        }
    }

    pub fn add_traces(&self, case: &str, traces: BTreeMap<String, u64>) {
        let mut all = self.traces.lock().expect("traces lock");
        let merged = all.entry(case.to_string()).or_default();
        for (mode, count) in traces {
            let slot = merged.entry(mode).or_default();
            *slot = (*slot).max(count);
        }
    }
}

/// One input waiting for a slot.
pub struct JobRequest {
    evaluate: Evaluate,
    reply: Sender<Result<Evaluation>>,
    /// Whether it is the first input of its (case, shape) any slot took: set by the scheduler,
    /// and its slot then tells `Scheduler::finished` when it is evaluated.
    first: bool,
}

/// A request for one particular slot.
pub enum Control {
    ProbeStage {
        name: String,
        reply: Sender<Result<String>>,
    },
}

pub struct WorkerPool {
    scheduler: Arc<Scheduler>,
    threads: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    logs: Vec<Arc<Mutex<WorkerLog>>>,
}

impl WorkerPool {
    /// Starts `jobs` workers side by side and waits until all are ready. A worker that cannot
    /// start (a broken environment) is the pool's error.
    pub fn start(options: PoolOptions) -> Result<(WorkerPool, Started)> {
        crate::freed_memory::keep();
        let jobs = options.jobs.max(1);
        let shared = Arc::new(Shared {
            options,
            closing: AtomicBool::new(false),
            stats: Mutex::new(WorkerStats {
                jobs,
                peak_rss_mb: vec![0.0; jobs],
                ..WorkerStats::default()
            }),
            traces: Mutex::new(HashMap::new()),
            state_changes: Mutex::new(HashMap::new()),
            tflite_xnnpack: Mutex::new(HashMap::new()),
            case_output: Arc::default(),
            live: Mutex::new(vec![None; jobs]),
        });
        let scheduler = Arc::new(Scheduler::new(jobs));
        let (startup_sender, startups) = crossbeam_channel::unbounded();
        let mut pool = WorkerPool {
            scheduler: Arc::clone(&scheduler),
            threads: Vec::new(),
            shared: Arc::clone(&shared),
            logs: Vec::new(),
        };
        for index in 0..jobs {
            let log = Arc::new(Mutex::new(WorkerLog::default()));
            let slot = Slot::new(index, Arc::clone(&shared), Arc::clone(&log));
            let (startup, scheduler) = (startup_sender.clone(), Arc::clone(&scheduler));
            pool.threads.push(
                std::thread::Builder::new()
                    .name(format!("slot-{}", index + 1))
                    .spawn(move || {
                        crate::oom::use_note(index + 1);
                        slot.run(startup, &scheduler)
                    })?,
            );
            pool.logs.push(log);
        }
        drop(startup_sender);
        let mut reports: Vec<Option<Result<Startup>>> = (0..jobs).map(|_| None).collect();
        // One report per slot; a slot thread that died without one has dropped its sender.
        for _ in 0..jobs {
            match startups.recv() {
                Ok((index, report)) => reports[index] = Some(report),
                Err(_) => break,
            }
        }
        let mut firsts = Vec::new();
        for report in reports {
            let report = report.unwrap_or_else(|| Err(anyhow!("a worker slot ended at start")));
            firsts.push(report?);
        }
        let mut stats = shared.stats();
        stats.startup_seconds = firsts.iter().map(|s| s.seconds).collect();
        drop(stats);
        let started = Self::describe(firsts.swap_remove(0))?;
        Ok((pool, started))
    }

    /// The first worker's report as the run uses it.
    fn describe(first: Startup) -> Result<Started> {
        let mut cases = Vec::new();
        let mut failures = Vec::new();
        for (file, result) in first.loads {
            match result {
                Ok(info) => cases.push(info),
                Err(error) => failures.push(CaseLoadFailure {
                    name: file.name,
                    path: file.path,
                    error,
                }),
            }
        }
        let stages = first
            .hello
            .stages
            .iter()
            .map(|json| serde_json::from_str(json).context("a probe stage from the worker"))
            .collect::<Result<_>>()?;
        Ok(Started {
            hello: first.hello,
            cases,
            failures,
            stages,
        })
    }

    /// Gives each slot's log its file, `DIR/worker-<slot>.log`.
    pub fn attach_logs(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (index, log) in self.logs.iter().enumerate() {
            let path = dir.join(format!("worker-{}.log", index + 1));
            log.lock()
                .expect("log lock")
                .attach(&path)
                .with_context(|| format!("creating {}", path.display()))?;
        }
        let path = dir
            .parent()
            .unwrap_or(dir)
            .join(crate::report::CASE_OUTPUT_FILE);
        self.shared
            .case_output
            .lock()
            .expect("case output lock")
            .attach(&path)
            .with_context(|| format!("creating {}", path.display()))
    }

    /// Per case, what it printed while it ran.
    pub fn case_output(&self) -> BTreeMap<String, Printed> {
        self.shared
            .case_output
            .lock()
            .expect("case output lock")
            .printed()
    }

    /// Runs TensorFlow, then the probe's battery, in the first slot's worker.
    pub fn probe_stage(&self, name: &str) -> Result<Stage> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        let request = Control::ProbeStage {
            name: name.to_string(),
            reply,
        };
        if !self.scheduler.control(0, request) {
            bail!("the workers have been stopped");
        }
        let json = answer
            .recv()
            .map_err(|_| anyhow!("the first worker slot has stopped"))??;
        Ok(serde_json::from_str(&json)?)
    }

    pub fn stats(&self) -> WorkerStats {
        self.shared.stats().clone()
    }

    /// Stops every worker: queued inputs are dropped; with `kill`, running ones are killed at
    /// once (a stop asked for by a signal), otherwise each worker finishes its input and exits.
    pub fn shutdown(&mut self, kill: bool) {
        self.shared
            .closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.scheduler.close();
        if kill {
            for pid in self.shared.live.lock().expect("live lock").iter().flatten() {
                // SAFETY: signals a worker this pool started; a slot reaps it after.
                unsafe {
                    libc::kill(*pid as libc::pid_t, libc::SIGKILL);
                }
            }
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        for log in &self.logs {
            log.lock().expect("log lock").close();
        }
        self.shared
            .case_output
            .lock()
            .expect("case output lock")
            .close();
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shutdown(true);
        }
    }
}

impl Evaluator for WorkerPool {
    type Ticket = Receiver<Result<Evaluation>>;

    fn parallelism(&self) -> usize {
        self.threads.len().max(1)
    }

    fn submit(&mut self, job: Job<'_>) -> Result<Self::Ticket> {
        let (reply, ticket) = crossbeam_channel::bounded(1);
        let request = JobRequest {
            evaluate: Evaluate {
                case: job.case.to_string(),
                image: WireImage::new(job.image),
                layout: job.layout,
                modes: job.modes.to_vec(),
            },
            reply,
            first: false,
        };
        if !self.scheduler.submit(request) {
            bail!("the workers have been stopped");
        }
        Ok(ticket)
    }

    fn wait(&mut self, ticket: Self::Ticket) -> Result<Evaluation> {
        ticket
            .recv()
            .map_err(|_| anyhow!("the workers stopped before this input was evaluated"))?
    }

    fn is_ready(&self, ticket: &Self::Ticket) -> bool {
        !ticket.is_empty()
    }

    fn ready_within(&self, ticket: &Self::Ticket, timeout: Duration) -> bool {
        let mut select = crossbeam_channel::Select::new();
        select.recv(ticket);
        select.ready_timeout(timeout).is_ok()
    }

    fn tflite_xnnpack(&self, case: &str) -> Option<bool> {
        let all = self.shared.tflite_xnnpack.lock().expect("xnnpack lock");
        all.get(case).copied()
    }

    fn state_changes(&self, case: &str) -> BTreeSet<String> {
        self.shared
            .state_changes
            .lock()
            .expect("state changes lock")
            .get(case)
            .cloned()
            .unwrap_or_default()
    }

    fn trace_counts(&self, case: &str) -> BTreeMap<String, u64> {
        self.shared
            .traces
            .lock()
            .expect("traces lock")
            .get(case)
            .cloned()
            .unwrap_or_default()
    }
}

/// `--jobs` when it is not given: one worker per CPU this process may use, but no more than
/// the available memory holds at `WORKER_MEMORY_BYTES` each. Says why when memory lowered it.
pub fn default_jobs() -> (usize, Option<String>) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    jobs_for(cpus, available_memory())
}

/// `--jobs` as given, and a warning when the available memory would not hold that many
/// workers: a worker the kernel kills for memory dies of SIGKILL, which the run cannot tell
/// from a case's crash and reports as one.
pub fn given_jobs_warning(jobs: usize) -> Option<String> {
    memory_warning(jobs, available_memory())
}

fn jobs_for(cpus: usize, available: Option<u64>) -> (usize, Option<String>) {
    let Some(available) = available else {
        return (cpus, None);
    };
    let fit = workers_held(available);
    if fit < cpus {
        (
            fit,
            Some(format!(
                "{fit} worker(s), not {cpus}: {:.1} GB of memory is available and a worker \
                 needs about {:.1} GB",
                available as f64 / 1e9,
                WORKER_MEMORY_BYTES as f64 / 1e9
            )),
        )
    } else {
        (cpus, None)
    }
}

fn memory_warning(jobs: usize, available: Option<u64>) -> Option<String> {
    let available = available?;
    let fit = workers_held(available);
    (jobs > fit).then(|| {
        format!(
            "warning: --jobs {jobs}: {jobs} workers need about {:.1} GB and {:.1} GB of memory \
             is available; a worker killed for memory would be reported as a crash (SIGKILL). \
             Memory holds --jobs {fit} or fewer",
            jobs as f64 * WORKER_MEMORY_BYTES as f64 / 1e9,
            available as f64 / 1e9
        )
    })
}

/// How many workers `available` bytes hold, one at least.
fn workers_held(available: u64) -> usize {
    (available / WORKER_MEMORY_BYTES).max(1) as usize
}

/// MemAvailable from /proc/meminfo, in bytes.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1_000_000_000;

    #[test]
    fn default_jobs_are_lowered_to_what_memory_holds_and_say_why() {
        assert_eq!(jobs_for(8, None), (8, None));
        assert_eq!(jobs_for(8, Some(100 * GB)), (8, None));
        let (jobs, why) = jobs_for(8, Some(5 * GB));
        assert_eq!(jobs, 4);
        assert!(why.unwrap().contains("4 worker(s), not 8"));
        // Never none: a machine short of memory still runs one worker.
        assert_eq!(jobs_for(8, Some(GB / 2)).0, 1);
    }

    #[test]
    fn given_jobs_beyond_memory_are_warned_of_not_lowered() {
        assert_eq!(memory_warning(4, Some(5 * GB)), None);
        assert_eq!(memory_warning(64, None), None);
        let warning = memory_warning(64, Some(23 * GB)).unwrap();
        assert!(warning.contains("--jobs 64"), "{warning}");
        assert!(warning.contains("76.8 GB"), "{warning}");
        assert!(warning.contains("holds --jobs 19 or fewer"), "{warning}");
    }
}
