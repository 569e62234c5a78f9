//! Running one mode of a loaded case in this process's embedded interpreter, and reading what
//! came back into an `Outcome`. The Python half is `Case.run` in `python/tfdiff_runtime.py`.

use crate::generate::Layout;
use crate::mode::Mode;
use crate::outcome::Outcome;
use crate::python::{python_error, LoadedCase};
use anyhow::{anyhow, Result};
use numpy::{PyArrayDyn, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use std::collections::BTreeMap;

/// Runs `mode` on `image`. A case that raises or returns the wrong thing is an outcome; `Err`
/// is what escapes `Case.run`: a `BaseException` such as `SystemExit`, which the worker treats
/// as the Python program it is would.
pub fn run_mode(
    py: Python<'_>,
    case: &LoadedCase,
    image: &Bound<'_, PyArrayDyn<u8>>,
    layout: Layout,
    mode: Mode,
) -> PyResult<Outcome> {
    let results = case.object.bind(py).call_method1(
        "run",
        (image, PyList::new(py, [mode.name()])?, layout.name()),
    )?;
    let result = results.cast::<PyList>()?.get_item(0)?;
    outcome_from_python(&result)
}

/// How many times the case's TensorFlow function was traced in this process, per mode.
pub fn trace_counts(py: Python<'_>, case: &LoadedCase) -> Result<BTreeMap<String, u64>> {
    let read = || -> PyResult<BTreeMap<String, u64>> {
        let traces = case.object.bind(py).call_method0("trace_counts")?;
        traces
            .cast::<PyDict>()?
            .iter()
            .map(|(mode, count)| Ok((mode.extract()?, count.extract()?)))
            .collect()
    };
    read().map_err(|e| anyhow!("{}", python_error(py, e)))
}

/// Converts the runtime's ("array", float64 ndarray, dtype) / ("error", type, message) /
/// ("bad_output", _, message) tuples.
fn outcome_from_python(result: &Bound<'_, PyAny>) -> PyResult<Outcome> {
    let result = result.cast::<PyTuple>()?;
    let tag: String = result.get_item(0)?.extract()?;
    Ok(match tag.as_str() {
        "array" => {
            let values = result.get_item(1)?;
            let values = values.cast::<PyArrayDyn<f64>>()?;
            let dtype: String = result.get_item(2)?.extract()?;
            Outcome::array(values.readonly().as_array().to_owned(), &dtype)
        }
        "error" => Outcome::Error {
            type_name: result.get_item(1)?.extract()?,
            message: result.get_item(2)?.extract()?,
        },
        _ => Outcome::BadOutput {
            message: result.get_item(2)?.extract()?,
        },
    })
}
