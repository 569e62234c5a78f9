//! Does importing TensorFlow change NumPy? A fixed battery of NumPy computations whose results
//! depend on process-global state (`python/tfdiff_probe.py`), run at stages — in a worker
//! process before TensorFlow is imported, after `import tensorflow`, after TensorFlow has run
//! eager, tf.function and XLA code — and in a clean process that never imports TensorFlow,
//! compared bit for bit. At every
//! stage Rust reads the flush-to-zero and denormals-are-zero bits (MXCSR) of the thread that runs
//! NumPy, which no Python tool can see.

use crate::pool::{PoolOptions, WorkerPool};
use crate::python::{python_error, PythonRuntime};
use crate::python_env::PythonEnv;
use anyhow::{anyhow, bail, Context, Result};
use pyo3::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

const PROBE_SOURCE: &str = include_str!("../python/tfdiff_probe.py");

pub const CLEAN: &str = "clean process (never imports TensorFlow)";
pub const BEFORE_IMPORT: &str = "before import tensorflow";
pub const AFTER_IMPORT: &str = "after import tensorflow";
pub const AFTER_RUNNING: &str = "after running TensorFlow (eager, tf.function, XLA)";

/// The SSE control bits that change float arithmetic for the whole thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mxcsr {
    pub raw: u32,
    /// Flush to zero (bit 15): subnormal results become 0.
    pub ftz: bool,
    /// Denormals are zero (bit 6): subnormal inputs are read as 0.
    pub daz: bool,
}

const FTZ_BIT: u32 = 1 << 15;
const DAZ_BIT: u32 = 1 << 6;

/// Puts the calling thread's MXCSR back to `reference` when it differs; what it was, as text.
/// A case (or a library it loads, built with -ffast-math) that sets flush-to-zero changes the
/// NumPy arithmetic of every case after it in the same worker.
pub fn restore_mxcsr(reference: Option<Mxcsr>) -> Option<String> {
    let (reference, now) = (reference?, read_mxcsr()?);
    // The low six bits are exception flags that arithmetic sets as it goes; the rest (rounding,
    // masks, FTZ, DAZ) is the mode.
    const FLAGS: u32 = 0x3f;
    if now.raw & !FLAGS == reference.raw & !FLAGS {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    write_mxcsr(reference.raw);
    Some(format!(
        "MXCSR {:#06x} (flush-to-zero {}, denormals-are-zero {})",
        now.raw,
        if now.ftz { "on" } else { "off" },
        if now.daz { "on" } else { "off" }
    ))
}

/// The MXCSR of the calling thread; None on CPUs without one.
pub fn read_mxcsr() -> Option<Mxcsr> {
    #[cfg(target_arch = "x86_64")]
    {
        let mut raw: u32 = 0;
        // SAFETY: stmxcsr stores the 32-bit MXCSR into the 4 bytes `raw` occupies.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut raw, options(nostack, preserves_flags));
        }
        Some(Mxcsr {
            raw,
            ftz: raw & FTZ_BIT != 0,
            daz: raw & DAZ_BIT != 0,
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// Loads `raw`, a value read with `read_mxcsr`, into the calling thread's MXCSR.
#[cfg(target_arch = "x86_64")]
pub fn write_mxcsr(raw: u32) {
    // SAFETY: ldmxcsr loads a valid MXCSR value (one read from this register, perhaps with
    // mode bits set).
    unsafe {
        std::arch::asm!("ldmxcsr [{}]", in(reg) &raw, options(nostack, preserves_flags));
    }
}

/// Sets FTZ and DAZ on the calling thread, as code built with -ffast-math does when it loads.
/// Only for demonstrating and testing that the probe catches it.
pub fn force_ftz_daz() -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    {
        write_mxcsr(read_mxcsr().expect("x86-64 has an MXCSR").raw | FTZ_BIT | DAZ_BIT);
        Ok(())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        bail!("--force-ftz-daz needs an x86-64 CPU (it sets bits of the MXCSR register)")
    }
}

/// One check's result: readable value and exact bits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub value: String,
    pub bits: String,
}

/// What one stage measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stage {
    pub stage: String,
    /// None where the CPU has no MXCSR ("not available").
    pub mxcsr: Option<Mxcsr>,
    pub threading: BTreeMap<String, serde_json::Value>,
    pub results: BTreeMap<String, CheckResult>,
    /// Checks whose bits differ from the clean process's.
    #[serde(default)]
    pub differs_from_clean: Vec<String>,
}

/// All stages, compared.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Contamination {
    pub stages: Vec<Stage>,
    /// Whether any stage's NumPy results differ from the clean process's.
    pub numpy_changed: bool,
    /// Whether FTZ/DAZ were set on purpose (--force-ftz-daz).
    pub forced_ftz_daz: bool,
}

/// The probe's Python half inside the embedded interpreter.
pub struct Prober {
    module: Py<PyModule>,
}

impl Prober {
    pub fn load() -> Result<Prober> {
        Python::attach(|py| {
            let code = CString::new(PROBE_SOURCE).expect("probe source has no NUL byte");
            let module = PyModule::from_code(py, &code, c"tfdiff_probe.py", c"tfdiff_probe")
                .map_err(|e| python_error(py, e))?;
            Ok(Prober {
                module: module.unbind(),
            })
        })
    }

    /// Runs the battery on this thread and reads this thread's MXCSR right after.
    pub fn stage(&self, name: &str) -> Result<Stage> {
        Python::attach(|py| {
            let module = self.module.bind(py);
            let json = py.import("json").map_err(|e| python_error(py, e))?;
            let dump = |method: &str| -> Result<String> {
                module
                    .call_method0(method)
                    .and_then(|value| json.call_method1("dumps", (value,))?.extract())
                    .map_err(|e| python_error(py, e))
            };
            let results = serde_json::from_str(&dump("battery")?)?;
            let mxcsr = read_mxcsr();
            let threading = serde_json::from_str(&dump("threading")?)?;
            Ok(Stage {
                stage: name.to_string(),
                mxcsr,
                threading,
                results,
                differs_from_clean: Vec::new(),
            })
        })
    }

    /// Runs eager ops, a tf.function and an XLA-compiled function.
    pub fn tensorflow_workout(&self) -> Result<()> {
        Python::attach(|py| {
            self.module
                .bind(py)
                .call_method0("tensorflow_workout")
                .map(drop)
                .map_err(|e| python_error(py, e))
        })
    }
}

/// Starts the clean process: this binary's hidden `probe-clean` command, which embeds the same
/// Python on the same environment but imports only NumPy. Started with spawn/exec, never fork.
pub fn spawn_clean(env: &PythonEnv) -> Result<Child> {
    crate::own_binary::own_binary()?
        .arg("probe-clean")
        .arg("--python-env")
        .arg(&env.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the clean probe process")
}

/// The clean process's stage, once it has finished.
pub fn collect_clean(child: Child) -> Result<Stage> {
    let output = child
        .wait_with_output()
        .context("waiting for the clean probe process")?;
    if !output.status.success() {
        bail!(
            "the clean probe process failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    serde_json::from_slice(&output.stdout).map_err(|e| anyhow!("clean probe process: {e}"))
}

/// `tfdiff probe-clean`: the clean stage, as JSON on stdout.
pub fn clean_stage(env: &PythonEnv) -> Result<Stage> {
    let runtime = PythonRuntime::start(env)?;
    runtime.import_numpy()?;
    Prober::load()?.stage(CLEAN)
}

impl Contamination {
    /// Compares every stage with the clean process (the first stage).
    pub fn new(mut stages: Vec<Stage>, forced_ftz_daz: bool) -> Contamination {
        let clean = stages[0].results.clone();
        for stage in stages.iter_mut().skip(1) {
            stage.differs_from_clean = stage
                .results
                .iter()
                .filter(|(name, result)| clean.get(*name).map(|c| &c.bits) != Some(&result.bits))
                .map(|(name, _)| name.clone())
                .collect();
        }
        let numpy_changed = stages.iter().any(|s| !s.differs_from_clean.is_empty());
        Contamination {
            stages,
            numpy_changed,
            forced_ftz_daz,
        }
    }

    /// Per stage, in plain words: the FTZ/DAZ bits and whether NumPy's results moved.
    pub fn describe(&self) -> Vec<String> {
        let clean = &self.stages[0];
        let mut lines = Vec::new();
        for stage in &self.stages {
            let bits = match stage.mxcsr {
                Some(m) => format!(
                    "FTZ {}, DAZ {} (MXCSR {:#06x})",
                    on_off(m.ftz),
                    on_off(m.daz),
                    m.raw
                ),
                None => "FTZ/DAZ not available on this CPU".to_string(),
            };
            if std::ptr::eq(stage, clean) {
                lines.push(format!("{}: {bits}; the reference", stage.stage));
                continue;
            }
            if stage.differs_from_clean.is_empty() {
                lines.push(format!(
                    "{}: {bits}; NumPy results identical to the clean process ({} checks)",
                    stage.stage,
                    stage.results.len()
                ));
            } else {
                lines.push(format!(
                    "{}: {bits}; {} of {} NumPy results differ from the clean process:",
                    stage.stage,
                    stage.differs_from_clean.len(),
                    stage.results.len()
                ));
                for name in &stage.differs_from_clean {
                    let before = clean
                        .results
                        .get(name)
                        .map(|r| r.value.as_str())
                        .unwrap_or("-");
                    let after = &stage.results[name].value;
                    lines.push(format!("    {name}: clean {before}, here {after}"));
                }
            }
            let changed_threads: Vec<String> = stage
                .threading
                .iter()
                .filter(|(key, value)| clean.threading.get(*key).is_some_and(|c| c != *value))
                .map(|(key, value)| format!("{key}={value}"))
                .collect();
            if !changed_threads.is_empty() {
                lines.push(format!(
                    "    thread settings changed: {}",
                    changed_threads.join(", ")
                ));
            }
        }
        lines
    }

    /// contamination.csv: a row per stage and check, and the FTZ/DAZ bits and thread settings.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let mut writer =
            csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
        writer.write_record(["stage", "check", "value", "bits", "same_as_clean"])?;
        let clean = &self.stages[0];
        for stage in &self.stages {
            let (ftz, daz) = match stage.mxcsr {
                Some(m) => (on_off(m.ftz), on_off(m.daz)),
                None => ("not available", "not available"),
            };
            let same = |key: &str, value: &str| {
                let reference = match key {
                    "MXCSR FTZ" => clean.mxcsr.map(|m| on_off(m.ftz)),
                    _ => clean.mxcsr.map(|m| on_off(m.daz)),
                };
                (reference == Some(value)).to_string()
            };
            writer.write_record([&stage.stage, "MXCSR FTZ", ftz, "", &same("MXCSR FTZ", ftz)])?;
            writer.write_record([&stage.stage, "MXCSR DAZ", daz, "", &same("MXCSR DAZ", daz)])?;
            for (name, value) in &stage.threading {
                let same = clean.threading.get(name) == Some(value);
                writer.write_record([
                    stage.stage.as_str(),
                    &format!("thread setting {name}"),
                    &value.to_string(),
                    "",
                    &same.to_string(),
                ])?;
            }
            for (name, result) in &stage.results {
                let same = !stage.differs_from_clean.contains(name);
                writer.write_record([
                    stage.stage.as_str(),
                    name,
                    &result.value,
                    &result.bits,
                    &same.to_string(),
                ])?;
            }
        }
        writer.flush()?;
        Ok(())
    }
}

fn on_off(bit: bool) -> &'static str {
    if bit {
        "on"
    } else {
        "off"
    }
}

/// `tfdiff probe`: the clean process, and a worker measured before and after `import
/// tensorflow` and after running TensorFlow; exit 1 when NumPy changed.
pub fn probe(env_flag: Option<&Path>, out: Option<&Path>, force: bool) -> Result<u8> {
    let env = PythonEnv::locate(env_flag)?;
    let child = spawn_clean(&env)?;
    let (mut pool, started) = WorkerPool::start(PoolOptions {
        env_dir: env.dir.clone(),
        cases: Vec::new(),
        jobs: 1,
        timeout: Duration::from_secs(300),
        probe: true,
        force_ftz_daz: force,
        xla_cache: None,
        pretrace_ranks: Vec::new(),
        max_output_bytes: None,
    })?;
    let after_running = pool.probe_stage(AFTER_RUNNING)?;
    pool.shutdown(false);
    let clean = collect_clean(child)?;
    let mut stages = vec![clean];
    stages.extend(started.stages);
    stages.push(after_running);
    let report = Contamination::new(stages, force);
    for line in report.describe() {
        println!("{line}");
    }
    println!(
        "{}",
        if report.numpy_changed {
            "NumPy's results changed within this process: see the lines above."
        } else {
            "NumPy's results are the same at every stage as in a process without TensorFlow."
        }
    );
    if let Some(out) = out {
        std::fs::create_dir_all(out).map_err(|error| {
            anyhow!(
                "cannot write to {} ({error}); choose a writable --out DIR",
                out.display()
            )
        })?;
        report.write_csv(&out.join("contamination.csv"))?;
        std::fs::write(
            out.join("contamination.json"),
            serde_json::to_vec_pretty(&report)?,
        )?;
    }
    Ok(u8::from(report.numpy_changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, bits: &str, mxcsr: u32) -> Stage {
        let mut results = BTreeMap::new();
        results.insert(
            "subnormal".to_string(),
            CheckResult {
                value: format!("value {bits}"),
                bits: bits.to_string(),
            },
        );
        results.insert(
            "sum".to_string(),
            CheckResult {
                value: "1.5".into(),
                bits: "ff".into(),
            },
        );
        Stage {
            stage: name.into(),
            mxcsr: Some(Mxcsr {
                raw: mxcsr,
                ftz: mxcsr & FTZ_BIT != 0,
                daz: mxcsr & DAZ_BIT != 0,
            }),
            threading: BTreeMap::new(),
            results,
            differs_from_clean: Vec::new(),
        }
    }

    #[test]
    fn stages_are_compared_bit_for_bit_with_the_clean_process() {
        let report = Contamination::new(
            vec![
                stage(CLEAN, "0a", 0x1f80),
                stage(BEFORE_IMPORT, "0a", 0x1f80),
                stage(AFTER_IMPORT, "00", 0x1f80 | FTZ_BIT | DAZ_BIT),
            ],
            false,
        );
        assert!(report.numpy_changed);
        assert!(report.stages[1].differs_from_clean.is_empty());
        assert_eq!(report.stages[2].differs_from_clean, ["subnormal"]);
        let text = report.describe().join("\n");
        assert!(
            text.contains("before import tensorflow: FTZ off, DAZ off"),
            "{text}"
        );
        assert!(
            text.contains("after import tensorflow: FTZ on, DAZ on"),
            "{text}"
        );
        assert!(
            text.contains("subnormal: clean value 0a, here value 00"),
            "{text}"
        );
    }

    #[test]
    fn identical_stages_change_nothing() {
        let report = Contamination::new(
            vec![
                stage(CLEAN, "0a", 0x1f80),
                stage(AFTER_IMPORT, "0a", 0x1f80),
            ],
            false,
        );
        assert!(!report.numpy_changed);
        assert!(report.describe()[1].contains("identical to the clean process"));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn mxcsr_is_read_from_this_thread() {
        // A fresh thread starts with the default MXCSR; setting FTZ/DAZ there shows in a read.
        std::thread::spawn(|| {
            let before = read_mxcsr().unwrap();
            assert!(!before.ftz && !before.daz);
            force_ftz_daz().unwrap();
            let after = read_mxcsr().unwrap();
            assert!(after.ftz && after.daz);
            // The denormal arithmetic of this thread now flushes.
            let tiny = std::hint::black_box(1e-40f32);
            assert_eq!(tiny * std::hint::black_box(1e3f32), 0.0);
        })
        .join()
        .unwrap();
    }
}
