//! One `--jobs` slot: a thread that owns one worker process at a time, takes jobs from the
//! pool's queue, and turns a worker's death into an outcome. A mode that kills the worker is a
//! `crash` (signal or exit status, with the stderr it left); a mode that outlives `--timeout`
//! is a `timeout` and its worker is killed. Either way a fresh worker takes over and the job's
//! remaining modes run there, so the pairs without the lost mode are still compared.
//!
//! Workers are spawned from this thread, which lives as long as the pool: the parent-death
//! signal a worker sets fires when the thread that spawned it ends.

use super::log::WorkerLog;
use super::process::{Exit, Received, WorkerProcess};
use super::scheduler::{Scheduler, Work};
use super::{Control, JobRequest, Shared};
use crate::cases::{CaseFile, CaseInfo};
use crate::evaluate::Evaluation;
use crate::mode::Mode;
use crate::outcome::{Crash, Outcome};
use crate::protocol::{Evaluate, Hello, Init, Request, Response};
use anyhow::{anyhow, bail, Result};
use crossbeam_channel::Sender;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a worker may take to import NumPy and TensorFlow, and to trace the cases' XLA
/// functions (each case's import has `--timeout`).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a worker may take to shut down cleanly before it is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a probe stage (TensorFlow workout and NumPy battery) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(300);

/// What a slot's first worker reported while starting.
pub struct Startup {
    pub hello: Hello,
    /// Each case's load result, in the order of the run's case list.
    pub loads: Vec<(CaseFile, Result<CaseInfo, String>)>,
    pub seconds: f64,
}

/// Why a start did not give a ready worker.
enum Handshake {
    Ready(Hello, Vec<(CaseFile, Result<CaseInfo, String>)>),
    /// The worker died while importing this case (index into the slot's cases).
    DiedLoading(usize),
    /// Importing this case did not finish within `--timeout`.
    HungLoading(usize),
    /// The worker said why it cannot work (a broken environment): that is the whole error.
    Fatal(String),
    /// The worker died, or did not finish, tracing the cases' XLA functions
    /// (`Init::pretrace_ranks`).
    LostPretracing,
    Failed(String),
}

pub struct Slot {
    pub index: usize,
    pub shared: Arc<Shared>,
    pub log: Arc<Mutex<WorkerLog>>,
    /// The cases its workers load: the run's, less those whose import kills or hangs a worker.
    cases: Vec<CaseFile>,
    worker: Option<WorkerProcess>,
    /// Cases whose import killed a worker or did not finish, with how.
    failed_at_import: Vec<(CaseFile, String)>,
    started_once: bool,
    /// Whether its workers trace the XLA functions first; off once that killed or hung one.
    pretrace: bool,
    /// The job after the running one, sent ahead (see `send_ahead`).
    ahead: Option<Ahead>,
}

/// A job written to the worker's request pipe while it still runs the one before, so that it
/// starts on it without waiting for the driver: that round trip, once per input, cost a worker
/// about a sixth of its time on small images.
struct Ahead {
    job: JobRequest,
    /// The worker it was written to; another worker has not seen it.
    sent_to: Option<u32>,
}

/// A request at most this share of the request pipe is sent ahead: writing it cannot wait for
/// the worker, which may be hung in the running job.
const AHEAD_SHARE_OF_PIPE: usize = 4;

impl Slot {
    pub fn new(index: usize, shared: Arc<Shared>, log: Arc<Mutex<WorkerLog>>) -> Slot {
        let cases = shared.options.cases.clone();
        Slot {
            index,
            shared,
            log,
            cases,
            worker: None,
            failed_at_import: Vec::new(),
            started_once: false,
            pretrace: true,
            ahead: None,
        }
    }

    /// The slot's thread: start (reporting how it went), then serve until the pool closes.
    pub fn run(mut self, startup: Sender<(usize, Result<Startup>)>, scheduler: &Scheduler) {
        let first = self.start();
        let started = first.is_ok();
        let _ = startup.send((self.index, first));
        drop(startup);
        if !started {
            return;
        }
        loop {
            let taken = self.ahead.take();
            self.tell_ahead();
            let (job, sent) = match taken {
                Some(ahead) => {
                    let sent = self.worker.as_ref().map(|worker| worker.pid) == ahead.sent_to;
                    (ahead.job, sent)
                }
                None => match scheduler.next(self.index) {
                    Work::Job(job) => (job, false),
                    Work::Control(Control::ProbeStage { name, reply }) => {
                        let _ = reply.send(self.probe_stage(&name));
                        continue;
                    }
                    Work::Closed => break,
                },
            };
            let first = job
                .first
                .then(|| (job.evaluate.case.clone(), job.evaluate.image.shape.clone()));
            let result = self.run_job(job.evaluate, sent, scheduler);
            if let Some((case, shape)) = first {
                scheduler.finished(self.index, &case, &shape);
            }
            let _ = job.reply.send(result);
        }
        self.stop();
    }

    /// Starts a worker and waits until it is ready. A case whose import kills the worker, or
    /// runs past `--timeout`, is recorded as not loadable and the worker started again without
    /// it.
    fn start(&mut self) -> Result<Startup> {
        let begun = Instant::now();
        loop {
            let mut process = WorkerProcess::spawn(
                &self.shared.options.env_dir,
                Arc::clone(&self.log),
                Arc::clone(&self.shared.case_output),
            )?;
            self.shared.set_live(self.index, Some(process.pid));
            self.shared.stats().starts += 1;
            let init = self.init();
            let pretraced = !init.pretrace_ranks.is_empty();
            let handshake = match process.send(&Request::Init(init)) {
                Ok(()) => handshake(
                    &process,
                    &self.cases,
                    pretraced,
                    self.shared.options.timeout,
                ),
                Err(error) => Handshake::Failed(format!("cannot talk to the worker: {error}")),
            };
            if let Some(startup) = self.settle(process, handshake)? {
                return Ok(Startup {
                    seconds: begun.elapsed().as_secs_f64(),
                    ..startup
                });
            }
        }
    }

    /// What a new worker is told to load.
    fn init(&self) -> Init {
        let options = &self.shared.options;
        Init {
            cases: self.cases.clone(),
            probe: options.probe && self.index == 0 && !self.started_once,
            force_ftz_daz: options.force_ftz_daz,
            xla_cache: options.xla_cache.clone(),
            max_output_bytes: options.max_output_bytes,
            pretrace_ranks: if self.pretrace {
                options.pretrace_ranks.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// Acts on how a start went: the startup when the worker is ready, None when it is to be
    /// started again (a case killed it at import, or tracing did), an error when it cannot work.
    fn settle(&mut self, process: WorkerProcess, handshake: Handshake) -> Result<Option<Startup>> {
        match handshake {
            Handshake::Ready(hello, mut loads) => {
                self.worker = Some(process);
                self.started_once = true;
                for (file, cause) in &self.failed_at_import {
                    loads.push((file.clone(), Err(cause.clone())));
                }
                let order = |file: &CaseFile| {
                    self.shared
                        .options
                        .cases
                        .iter()
                        .position(|case| case == file)
                };
                loads.sort_by_key(|(file, _)| order(file));
                Ok(Some(Startup {
                    hello,
                    loads,
                    seconds: 0.0,
                }))
            }
            Handshake::DiedLoading(index) => {
                let exit = self.retire(process, Duration::from_secs(2));
                self.shared.stats().crashes += 1;
                let crash = Outcome::Crash(crash_of(exit)).error_text();
                let how = format!("killed the worker process ({})", crash.unwrap_or_default());
                self.not_loaded(index, &how);
                Ok(None)
            }
            Handshake::HungLoading(index) => {
                process.kill();
                self.retire(process, Duration::from_secs(2));
                self.shared.stats().timeouts += 1;
                let seconds = self.shared.options.timeout.as_secs_f64();
                let how = format!("did not finish within {seconds} s; the worker was killed");
                self.not_loaded(index, &how);
                Ok(None)
            }
            Handshake::LostPretracing => {
                // Tracing a case killed it or hung: trace lazily instead, as without the
                // cache; the input that does it again is then a crash or a time-out of xla.
                self.retire(process, Duration::from_secs(2));
                self.pretrace = false;
                Ok(None)
            }
            Handshake::Fatal(message) => {
                self.retire(process, Duration::from_secs(1));
                bail!("{message}");
            }
            Handshake::Failed(message) => {
                let exit = self.retire(process, Duration::from_secs(1));
                let stderr = exit.stderr.join("\n    ");
                bail!(
                    "a worker process could not start ({message}; it ended with {}){}",
                    exit.cause,
                    if stderr.is_empty() {
                        String::new()
                    } else {
                        format!("; its last words:\n    {stderr}")
                    }
                );
            }
        }
    }

    /// Leaves case `index` out of what this slot's workers load: importing it `how`.
    fn not_loaded(&mut self, index: usize, how: &str) {
        let file = self.cases.remove(index);
        let cause = format!("{}: importing it {how}", file.path.display());
        self.failed_at_import.push((file, cause));
    }

    /// Evaluates one input in its modes, one mode at a time, replacing the worker whenever a
    /// mode crashes it or runs out of time.
    fn run_job(
        &mut self,
        mut request: Evaluate,
        mut sent: bool,
        scheduler: &Scheduler,
    ) -> Result<Evaluation> {
        let shape: Vec<String> = request.image.shape.iter().map(usize::to_string).collect();
        crate::oom::working_on(&format!(
            "receiving the outputs of case {} for an input of shape {} (worker slot {})",
            request.case,
            shape.join("x"),
            self.index + 1
        ));
        let modes = request.modes.clone();
        let mut outcomes = Vec::with_capacity(modes.len());
        let mut restart_seconds = 0.0;
        let mut lost_before_start = 0;
        while outcomes.len() < modes.len() {
            let first = outcomes.len();
            let remaining = modes[first..].to_vec();
            if !std::mem::take(&mut sent) {
                restart_seconds += self.ensure_worker()?;
                request.modes = remaining.clone();
                let result;
                (request, result) = self.send(request);
                if result.is_err() {
                    // It died between jobs, not in one of ours: start another and try again.
                    lost_before_start += 1;
                    if lost_before_start > 2 {
                        bail!("worker processes keep dying before they read a job");
                    }
                    self.lose_worker(false);
                    continue;
                }
            }
            self.send_ahead(scheduler);
            for _ in &remaining {
                match self.next_outcome(&remaining, &outcomes[first..])? {
                    Some(outcome) => outcomes.push(outcome),
                    None => break,
                }
                // A job queued since is sent now, before this one's last mode is done.
                self.send_ahead(scheduler);
            }
            if outcomes.len() == modes.len() && self.worker.is_some() {
                self.read_traces(&request.case)?;
            }
        }
        Ok(Evaluation {
            outcomes,
            restart_seconds,
        })
    }

    /// Writes a request to the current worker. The request comes back, for a resend: its image
    /// is not copied.
    fn send(&mut self, request: Evaluate) -> (Evaluate, std::io::Result<()>) {
        let message = Request::Evaluate(request);
        let result = self.worker.as_mut().expect("a worker").send(&message);
        let Request::Evaluate(request) = message else {
            unreachable!("built as Evaluate")
        };
        (request, result)
    }

    /// Takes the slot's next job, if one is queued, and writes it to the worker behind the
    /// running one when it fits in the request pipe without waiting (a hung worker reads
    /// nothing, and the slot must stay free to time it out). A job sent to a worker that then
    /// dies is sent again to the next.
    fn send_ahead(&mut self, scheduler: &Scheduler) {
        let Some(worker) = &self.worker else {
            return;
        };
        let (pid, room) = (worker.pid, worker.pipe_capacity / AHEAD_SHARE_OF_PIPE);
        let Some(mut ahead) = self.ahead.take().or_else(|| {
            scheduler
                .try_next_job(self.index)
                .map(|job| Ahead { job, sent_to: None })
        }) else {
            return;
        };
        if ahead.sent_to != Some(pid) && ahead.job.evaluate.image.data.len() + 4096 <= room {
            let (evaluate, result) = self.send(ahead.job.evaluate);
            ahead.job.evaluate = evaluate;
            ahead.sent_to = result.is_ok().then_some(pid);
        }
        self.ahead = Some(ahead);
        self.tell_ahead();
    }

    /// Tells the worker's pipe readers whether it has a job queued (see `nap`).
    fn tell_ahead(&self) {
        if let Some(worker) = &self.worker {
            let queued = self
                .ahead
                .as_ref()
                .is_some_and(|ahead| ahead.sent_to == Some(worker.pid));
            worker.queued.set(queued);
        }
    }

    /// The next mode's outcome; a crash or a timeout when the worker is lost on it (then None
    /// is returned for the modes after it, which run on the next worker). `modes` are those
    /// the worker was asked for, `received` what it has answered so far.
    fn next_outcome(&mut self, modes: &[Mode], received: &[Outcome]) -> Result<Option<Outcome>> {
        let Some(worker) = &self.worker else {
            return Ok(None);
        };
        Ok(Some(
            match worker.receive(Some(self.shared.options.timeout)) {
                Received::Message(Response::ModeDone(outcome)) => outcome,
                Received::Message(Response::ModeRepeats(mode)) => {
                    self.shared.stats().repeated_outputs += 1;
                    repeated(mode, modes, received)?
                }
                Received::Message(Response::Fatal(message)) => bail!("a worker failed: {message}"),
                Received::Message(other) => {
                    bail!("a worker sent {other:?} where an outcome was due")
                }
                Received::TimedOut => {
                    self.lose_worker(true);
                    self.shared.stats().timeouts += 1;
                    Outcome::Timeout {
                        seconds: self.shared.options.timeout.as_secs_f64(),
                    }
                }
                Received::Gone(_) => {
                    let exit = self.lose_worker(false);
                    self.shared.stats().crashes += 1;
                    Outcome::Crash(crash_of(exit))
                }
            },
        ))
    }

    fn read_traces(&mut self, case: &str) -> Result<()> {
        let worker = self.worker.as_ref().expect("checked");
        match worker.receive(Some(self.shared.options.timeout)) {
            Received::Message(Response::Finished {
                traces,
                state_changes,
                tflite_xnnpack,
            }) => {
                self.shared.add_traces(case, traces);
                self.shared.add_state_changes(case, state_changes);
                self.shared.add_tflite_xnnpack(case, tflite_xnnpack);
                Ok(())
            }
            Received::Message(Response::Fatal(message)) => bail!("a worker failed: {message}"),
            Received::Message(other) => bail!("a worker sent {other:?} where Finished was due"),
            // Every mode gave its outcome; a worker lost after that costs only a restart.
            Received::TimedOut => {
                self.lose_worker(true);
                Ok(())
            }
            Received::Gone(_) => {
                self.lose_worker(false);
                Ok(())
            }
        }
    }

    /// A live worker, started if there is none; returns the seconds spent starting it.
    fn ensure_worker(&mut self) -> Result<f64> {
        if self.worker.as_ref().is_some_and(WorkerProcess::is_alive) {
            return Ok(0.0);
        }
        if self.worker.is_some() {
            self.lose_worker(false);
        }
        if self.shared.closing.load(Ordering::SeqCst) {
            bail!("the run is stopping");
        }
        let begun = Instant::now();
        self.start()?;
        let seconds = begun.elapsed().as_secs_f64();
        let mut stats = self.shared.stats();
        stats.restarts += 1;
        stats.restart_seconds += seconds;
        Ok(seconds)
    }

    /// Reaps the current worker (killing it first if `kill`) and records what it used.
    fn lose_worker(&mut self, kill: bool) -> Exit {
        let process = self.worker.take().expect("a worker to lose");
        if kill {
            process.kill();
        }
        self.retire(process, Duration::from_secs(2))
    }

    fn retire(&mut self, process: WorkerProcess, grace: Duration) -> Exit {
        let exit = process.finish(grace);
        self.shared.set_live(self.index, None);
        let mut stats = self.shared.stats();
        let peak = &mut stats.peak_rss_mb[self.index];
        *peak = peak.max(exit.peak_rss as f64 / 1e6);
        exit
    }

    fn probe_stage(&mut self, name: &str) -> Result<String> {
        self.ensure_worker()?;
        let worker = self.worker.as_mut().expect("ensured");
        worker.send(&Request::ProbeStage {
            name: name.to_string(),
        })?;
        match worker.receive(Some(PROBE_TIMEOUT)) {
            Received::Message(Response::Stage(json)) => Ok(json),
            Received::Message(Response::Fatal(message)) => Err(anyhow!("{message}")),
            _ => {
                self.lose_worker(true);
                Err(anyhow!("the worker did not answer the probe"))
            }
        }
    }

    fn stop(&mut self) {
        if let Some(mut process) = self.worker.take() {
            let _ = process.send(&Request::Shutdown);
            let _ = self.retire(process, SHUTDOWN_GRACE);
        }
    }
}

/// Reads Hello, one CaseLoaded per case, and Ready.
fn handshake(
    process: &WorkerProcess,
    cases: &[CaseFile],
    pretraced: bool,
    import_timeout: Duration,
) -> Handshake {
    let hello = match process.receive(Some(STARTUP_TIMEOUT)) {
        Received::Message(Response::Hello(hello)) => hello,
        Received::Message(Response::Fatal(message)) => return Handshake::Fatal(message),
        Received::Message(other) => return Handshake::Failed(format!("it said {other:?}")),
        Received::TimedOut => {
            return Handshake::Failed(format!("no answer within {} s", STARTUP_TIMEOUT.as_secs()))
        }
        Received::Gone(why) => return Handshake::Failed(format!("it {why}")),
    };
    let mut loads = Vec::with_capacity(cases.len());
    for (index, file) in cases.iter().enumerate() {
        match process.receive(Some(import_timeout)) {
            Received::Message(Response::CaseLoaded { name, result }) if name == file.name => {
                loads.push((file.clone(), result));
            }
            Received::Gone(_) => return Handshake::DiedLoading(index),
            Received::TimedOut => return Handshake::HungLoading(index),
            Received::Message(Response::Fatal(message)) => return Handshake::Fatal(message),
            _ => return Handshake::Failed(format!("it did not load {}", file.name)),
        }
    }
    match process.receive(Some(pretrace_timeout(import_timeout, cases.len()))) {
        Received::Message(Response::Ready) => {}
        Received::Gone(_) | Received::TimedOut if pretraced => return Handshake::LostPretracing,
        Received::Gone(why) => return Handshake::Failed(format!("it {why}")),
        _ => return Handshake::Failed("it did not say it was ready".into()),
    }
    Handshake::Ready(hello, loads)
}

/// How long tracing every case's XLA function at start may take: `--timeout` a case, within
/// 10 s and `STARTUP_TIMEOUT`.
fn pretrace_timeout(timeout: Duration, cases: usize) -> Duration {
    timeout
        .saturating_mul(u32::try_from(cases).unwrap_or(u32::MAX))
        .clamp(Duration::from_secs(10), STARTUP_TIMEOUT)
}

/// The outcome `Response::ModeRepeats(mode)` stands for: the array `mode` returned, shared.
fn repeated(mode: Mode, modes: &[Mode], received: &[Outcome]) -> Result<Outcome> {
    let earlier = modes[..received.len()]
        .iter()
        .position(|&m| m == mode)
        .map(|position| &received[position]);
    match earlier {
        Some(outcome @ Outcome::Array(_)) => Ok(outcome.clone()),
        _ => bail!("a worker said an output repeats the {mode} mode's, which it has not sent"),
    }
}

fn crash_of(exit: Exit) -> Crash {
    Crash {
        cause: exit.cause,
        stderr: exit.stderr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_shares_an_array_already_received_and_names_nothing_else() {
        let array = Outcome::array(ndarray::arr1(&[0.5, 1.0]).into_dyn(), "float32");
        let error = Outcome::Error {
            type_name: "ValueError".into(),
            message: "no".into(),
        };
        let modes = [Mode::Numpy, Mode::Eager, Mode::Graph];
        let received = [array.clone(), error];
        let (Outcome::Array(repeat), Outcome::Array(original)) =
            (repeated(Mode::Numpy, &modes, &received).unwrap(), &array)
        else {
            panic!("a repeat of an array is that array");
        };
        assert!(repeat.is_same(original));
        // An error is not repeated; graph has not answered; xla was not asked for.
        for mode in [Mode::Eager, Mode::Graph, Mode::Xla] {
            let error = repeated(mode, &modes, &received).unwrap_err();
            assert!(error.to_string().contains("has not sent"), "{error}");
        }
    }
}
