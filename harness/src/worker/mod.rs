//! `tfdiff worker`: the process that evaluates cases. The driver starts one per `--jobs` slot
//! (this same binary, spawned and exec'd: TensorFlow is not fork-safe) and talks to it over
//! `protocol` frames. A worker embeds Python, imports NumPy and TensorFlow once, loads the run's
//! cases once, then evaluates inputs until it is told to stop or its driver goes away.
//!
//! A worker may die at any moment — that is what it is for: a case that segfaults, aborts,
//! exits or hangs takes only this process down, and the driver records it and starts another.

mod embedded;
mod repeats;
mod stdio;

use crate::cases::CaseFile;
use crate::probe::{self, Prober};
use crate::protocol::{read_frame, Evaluate, Hello, Init, Request, Response};
use crate::python::{python_error, LoadedCase, PythonRuntime};
use crate::python_env::PythonEnv;
use anyhow::{anyhow, bail, Context, Result};
use numpy::PyArray;
use pyo3::prelude::*;
use std::collections::HashMap;
use std::path::Path;
use stdio::Channel;

/// The environment variable that carries the driver's pid, so a worker whose driver is already
/// gone exits at once.
pub const DRIVER_PID_VARIABLE: &str = "TFDIFF_DRIVER_PID";

/// What a started worker holds.
struct Worker {
    /// Kept alive for the cases' sake: they live in its interpreter.
    _runtime: PythonRuntime,
    cases: HashMap<String, LoadedCase>,
    prober: Option<Prober>,
    /// This thread's MXCSR before any case was loaded.
    mxcsr: Option<probe::Mxcsr>,
}

/// Runs the worker; returns its exit status.
pub fn main(env_dir: &Path) -> u8 {
    let Some(driver) = std::env::var(DRIVER_PID_VARIABLE).ok() else {
        // Run by hand, it would wait on stdin for a request nobody sends.
        eprintln!(
            "tfdiff worker: this command is internal: tfdiff starts its workers itself and speaks \
             to them over pipes. Run `tfdiff` (or `tfdiff run`) instead."
        );
        return 2;
    };
    // Before anything else: once Python runs, anything may print.
    let mut channel = match stdio::take_channel() {
        Ok(channel) => channel,
        Err(error) => {
            eprintln!("tfdiff worker: {error}");
            return 2;
        }
    };
    stdio::die_with_driver(driver.parse().ok());
    // Before Python starts, so NumPy's and TensorFlow's arrays reuse freed memory.
    crate::freed_memory::keep();
    let init = match read_frame::<Request>(&mut channel.input) {
        Ok(Some(Request::Init(init))) => init,
        Ok(None) => return 0,
        other => {
            eprintln!("tfdiff worker: expected Init, got {other:?}");
            return 2;
        }
    };
    let mut worker = match start(env_dir, &init, &mut channel) {
        Ok(worker) => worker,
        Err(error) => {
            let _ = channel.send(&Response::Fatal(format!("{error:#}")));
            return 2;
        }
    };
    match worker.serve(&mut channel) {
        Ok(()) => 0,
        Err(error) => {
            let _ = channel.send(&Response::Fatal(format!("{error:#}")));
            eprintln!("tfdiff worker: {error:#}");
            2
        }
    }
}

/// Imports NumPy and TensorFlow (measuring the probe's first stages in between when asked),
/// says hello, loads the cases one by one — so that a case whose import kills the process is
/// known by name — and says it is ready.
fn start(env_dir: &Path, init: &Init, channel: &mut Channel) -> Result<Worker> {
    let env = PythonEnv::locate(Some(env_dir))?;
    let runtime = PythonRuntime::start(&env)?;
    runtime.prepare_worker()?;
    let numpy = runtime.import_numpy()?;
    let prober = if init.probe {
        Some(Prober::load()?)
    } else {
        None
    };
    let mut stages = Vec::new();
    if let Some(prober) = &prober {
        stages.push(serde_json::to_string(&prober.stage(probe::BEFORE_IMPORT)?)?);
    }
    if init.force_ftz_daz {
        probe::force_ftz_daz()?;
    }
    let xla_cache = match &init.xla_cache {
        Some(root) => runtime.use_xla_cache(root)?,
        None => None,
    };
    let tensorflow = runtime.import_tensorflow()?;
    if let Some(prober) = &prober {
        stages.push(serde_json::to_string(&prober.stage(probe::AFTER_IMPORT)?)?);
    }
    let hello = Hello {
        pid: std::process::id(),
        python_version: runtime.python_version.clone(),
        site_packages: runtime.site_packages.clone(),
        numpy,
        tensorflow,
        environment: runtime.environment_info()?.to_string(),
        stages,
        xla_cache,
    };
    channel.send(&Response::Hello(hello))?;
    runtime.set_max_output_bytes(init.max_output_bytes)?;
    // NumPy runs on this thread: its float mode bits as they are now are the ones every case
    // gets (see `probe::restore_mxcsr`).
    let mxcsr = probe::read_mxcsr();
    let cases = load_cases(&runtime, &init.cases, channel, mxcsr)?;
    if !init.pretrace_ranks.is_empty() {
        // In the order the driver listed them, the same in every worker (see `pretrace_xla`).
        for file in &init.cases {
            if let Some(case) = cases.get(&file.name) {
                Python::attach(|py| {
                    embedded::pretrace_xla(py, case, &init.pretrace_ranks)
                        .unwrap_or_else(|error| exit_as_python_would(py, error))
                });
            }
        }
    }
    channel.send(&Response::Ready)?;
    Ok(Worker {
        _runtime: runtime,
        cases,
        prober,
        mxcsr,
    })
}

fn load_cases(
    runtime: &PythonRuntime,
    files: &[CaseFile],
    channel: &mut Channel,
    mxcsr: Option<probe::Mxcsr>,
) -> Result<HashMap<String, LoadedCase>> {
    let mut cases = HashMap::new();
    for file in files {
        let result = runtime.load_case(file);
        if let (Some(changed), Ok(case)) = (probe::restore_mxcsr(mxcsr), &result) {
            Python::attach(|py| {
                embedded::note_state_change(py, case, &format!("at import: {changed}"))
            })?;
        }
        let response = Response::CaseLoaded {
            name: file.name.clone(),
            result: result.as_ref().map(LoadedCase::info).map_err(Clone::clone),
        };
        channel.send(&response)?;
        if let Ok(case) = result {
            cases.insert(file.name.clone(), case);
        }
    }
    Ok(cases)
}

impl Worker {
    fn serve(&mut self, channel: &mut Channel) -> Result<()> {
        loop {
            match read_frame::<Request>(&mut channel.input)? {
                Some(Request::Evaluate(request)) => self.evaluate(request, channel)?,
                Some(Request::ProbeStage { name }) => {
                    let prober = match self.prober.take() {
                        Some(prober) => prober,
                        None => Prober::load()?,
                    };
                    prober.tensorflow_workout()?;
                    let stage = serde_json::to_string(&prober.stage(&name)?)?;
                    self.prober = Some(prober);
                    channel.send(&Response::Stage(stage))?;
                }
                Some(Request::Shutdown) | None => return Ok(()),
                Some(Request::Init(_)) => bail!("Init sent twice"),
            }
        }
    }

    /// Runs each mode and sends its outcome the moment it is known.
    fn evaluate(&mut self, request: Evaluate, channel: &mut Channel) -> Result<()> {
        let case = self.cases.get(&request.case).ok_or_else(|| {
            anyhow!(
                "case {} is not loaded in this worker (pid {})",
                request.case,
                std::process::id()
            )
        })?;
        let image = request.image.into_image().map_err(|e| anyhow!("{e}"))?;
        stdio::mark_evaluation_start(&request.case);
        Python::attach(|py| -> Result<()> {
            let array = PyArray::from_array(py, &image);
            let mut sent = repeats::Sent::default();
            for &mode in &request.modes {
                let result = embedded::run_mode(py, case, &array, request.layout, mode)
                    .unwrap_or_else(|error| exit_as_python_would(py, error));
                if let Some(changed) = probe::restore_mxcsr(self.mxcsr) {
                    embedded::note_state_change(py, case, &format!("in {mode}: {changed}"))?;
                }
                sent.send(mode, result, &mut channel.output)
                    .with_context(|| format!("sending {mode}'s outcome to the driver"))?;
            }
            let traces = embedded::trace_counts(py, case)?;
            let state_changes = embedded::state_changes(py, case)?;
            let finished = Response::Finished {
                traces,
                state_changes,
                tflite_xnnpack: embedded::tflite_xnnpack(py, case)?,
            };
            channel
                .send(&finished)
                .context("telling the driver the input is finished")?;
            Ok(())
        })
    }
}

/// What escaped `Case.run` is a `BaseException` — `SystemExit` from `sys.exit()` in a case,
/// `KeyboardInterrupt` raised by one — or a broken runtime. A Python program would end here, so
/// the worker does too: the traceback goes to the log and the process exits with `SystemExit`'s
/// status (1 otherwise), which the driver reports as a crash of the running mode.
fn exit_as_python_would(py: Python<'_>, error: PyErr) -> ! {
    let status = if error.is_instance_of::<pyo3::exceptions::PySystemExit>(py) {
        let code = error.value(py).getattr("code").ok();
        match code {
            Some(code) if code.is_none() => 0,
            Some(code) => code.extract::<i32>().unwrap_or_else(|_| {
                eprintln!("{code}");
                1
            }),
            None => 1,
        }
    } else {
        eprintln!("{}", python_error(py, error.clone_ref(py)));
        error.print(py);
        1
    };
    std::process::exit(status)
}
