//! The embedded interpreter: starting it on the project's environment, importing NumPy and
//! TensorFlow, and loading case files. The Python half lives in `python/tfdiff_runtime.py`.

use crate::cases::{CaseFile, CaseInfo};
use crate::compare::ToleranceSpec;
use crate::python_env::PythonEnv;
use anyhow::{anyhow, Context, Result};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde::Serialize;
use std::ffi::CString;
use std::path::{Path, PathBuf};

const RUNTIME_SOURCE: &str = include_str!("../python/tfdiff_runtime.py");

/// NumPy and TensorFlow as found in the environment.
#[derive(Clone, Debug, Serialize)]
pub struct FrameworkVersions {
    pub numpy: String,
    pub tensorflow: String,
}

/// The interpreter with tfdiff's runtime module loaded and the environment on its path.
pub struct PythonRuntime {
    module: Py<PyModule>,
    pub python_version: String,
    pub site_packages: PathBuf,
}

/// A case whose file imported and meets the contract, with its Python object: lives in a
/// worker; the driver knows it as a `CaseInfo`.
#[derive(Clone, Debug)]
pub struct LoadedCase {
    pub name: String,
    pub path: PathBuf,
    /// The module docstring; its first line is the case's summary.
    pub doc: String,
    pub tolerance: ToleranceSpec,
    pub(crate) object: std::sync::Arc<Py<PyAny>>,
}

impl LoadedCase {
    pub fn info(&self) -> CaseInfo {
        CaseInfo {
            name: self.name.clone(),
            path: self.path.clone(),
            summary: self.doc.lines().next().unwrap_or("").trim().to_string(),
            tolerance: self.tolerance.clone(),
        }
    }
}

impl PythonRuntime {
    /// Starts the interpreter and puts `env`'s site-packages on its path. Does not import NumPy
    /// or TensorFlow yet, so `doctor` can report a half-installed environment.
    pub fn start(env: &PythonEnv) -> Result<PythonRuntime> {
        Python::initialize();
        Python::attach(|py| {
            let version = py.version_info();
            let site_packages = env.site_packages(version.major, version.minor)?;
            let code = CString::new(RUNTIME_SOURCE).expect("runtime source has no NUL byte");
            let module = PyModule::from_code(py, &code, c"tfdiff_runtime.py", c"tfdiff_runtime")
                .map_err(|e| python_error(py, e))
                .context("loading tfdiff's Python runtime")?;
            module
                .call_method1(
                    "activate_environment",
                    (vec![site_packages.to_string_lossy().into_owned()],),
                )
                .map_err(|e| python_error(py, e))?;
            Ok(PythonRuntime {
                module: module.unbind(),
                python_version: format!("{}.{}.{}", version.major, version.minor, version.patch),
                site_packages,
            })
        })
    }

    /// Imports NumPy, then TensorFlow; the error names the missing one and what to run.
    pub fn import_frameworks(&self) -> Result<FrameworkVersions> {
        Ok(FrameworkVersions {
            numpy: self.import_numpy()?,
            tensorflow: self.import_tensorflow()?,
        })
    }

    pub fn import_numpy(&self) -> Result<String> {
        self.import("import_numpy", "NumPy")
    }

    pub fn import_tensorflow(&self) -> Result<String> {
        self.import("import_tensorflow", "TensorFlow")
    }

    fn import(&self, function: &str, what: &str) -> Result<String> {
        Python::attach(|py| {
            self.module
                .bind(py)
                .call_method0(function)
                .and_then(|version| version.extract())
                .map_err(|error| {
                    anyhow!(
                        "cannot import {what} from {} ({}); run scripts/setup.sh to install NumPy \
                         and TensorFlow",
                        self.site_packages.display(),
                        python_error(py, error)
                    )
                })
        })
    }

    /// Versions, paths and TensorFlow build information, as JSON.
    pub fn environment_info(&self) -> Result<serde_json::Value> {
        Python::attach(|py| {
            let module = self.module.bind(py);
            let info = module
                .call_method0("environment_info")
                .and_then(|info| {
                    py.import("json")?
                        .call_method1("dumps", (info,))?
                        .extract::<String>()
                })
                .map_err(|e| python_error(py, e))?;
            Ok(serde_json::from_str(&info)?)
        })
    }

    /// Imports one case file and checks it against the contract; the error names the file.
    pub fn load_case(&self, file: &CaseFile) -> Result<LoadedCase, String> {
        Python::attach(|py| load_case(py, self.module.bind(py), file))
    }

    /// Points TensorFlow (not imported yet) at this build's directory under the XLA cache
    /// `root`; returns that directory, or None when TensorFlow is not installed (the import
    /// says so next).
    pub fn use_xla_cache(&self, root: &Path) -> Result<Option<PathBuf>> {
        Python::attach(|py| {
            self.module
                .bind(py)
                .call_method1("xla_cache_directory", (root,))
                .and_then(|dir| dir.extract::<Option<PathBuf>>())
                .map_err(|e| {
                    anyhow!(
                        "the XLA cache at {}: {}",
                        root.display(),
                        python_error(py, e)
                    )
                })
        })
    }

    /// Outputs larger than `limit` bytes become the outcome `OutputTooLarge`.
    pub fn set_max_output_bytes(&self, limit: Option<u64>) -> Result<()> {
        Python::attach(|py| {
            self.module
                .bind(py)
                .call_method1("set_max_output_bytes", (limit,))
                .map(drop)
                .map_err(|e| python_error(py, e))
        })
    }

    /// Sets up this interpreter as a worker's: output written through at once, warnings off.
    pub fn prepare_worker(&self) -> Result<()> {
        Python::attach(|py| {
            self.module
                .bind(py)
                .call_method0("prepare_worker")
                .map(drop)
                .map_err(|e| python_error(py, e))
        })
    }
}

fn load_case(
    py: Python<'_>,
    module: &Bound<'_, PyModule>,
    file: &CaseFile,
) -> Result<LoadedCase, String> {
    let object = module
        .call_method1("load_case", (file.path.to_string_lossy().into_owned(),))
        .map_err(|error| {
            // CaseLoadError messages already name the file; anything else is unexpected.
            let is_contract = error
                .get_type(py)
                .name()
                .map(|n| n == "CaseLoadError")
                .unwrap_or(false);
            if is_contract {
                error.value(py).to_string()
            } else {
                format!("{}: {}", file.path.display(), python_error(py, error))
            }
        })?;
    let read = || -> PyResult<LoadedCase> {
        let doc: String = object.getattr("doc")?.extract()?;
        let tolerance = object.getattr("tolerance")?;
        let tolerance = if tolerance.is_none() {
            ToleranceSpec::default()
        } else {
            let tolerance = tolerance.cast::<PyDict>()?;
            let float = |key: &str| -> PyResult<Option<f64>> {
                tolerance.get_item(key)?.map(|v| v.extract()).transpose()
            };
            ToleranceSpec {
                rtol: float("rtol")?,
                atol: float("atol")?,
                max_ulp: tolerance
                    .get_item("max_ulp")?
                    .map(|v| v.extract())
                    .transpose()?,
            }
        };
        Ok(LoadedCase {
            name: file.name.clone(),
            path: file.path.clone(),
            doc,
            tolerance,
            object: std::sync::Arc::new(object.clone().unbind()),
        })
    };
    read().map_err(|e| format!("{}: {}", file.path.display(), python_error(py, e)))
}

/// "ExceptionType: message" for a Python exception.
pub fn python_error(py: Python<'_>, error: PyErr) -> anyhow::Error {
    let type_name = error
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    anyhow!("{type_name}: {}", error.value(py))
}
