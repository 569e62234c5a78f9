//! Running one mode of a loaded case in this process's embedded interpreter, and reading what
//! came back into an `Outcome`. The Python half is `Case.run` in `python/tfdiff_runtime.py`.

use crate::generate::Layout;
use crate::mode::Mode;
use crate::outcome::Outcome;
use crate::protocol::{write_array, write_frame, ArrayHeader, Response};
use crate::python::{python_error, LoadedCase};
use anyhow::{anyhow, Result};
use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use std::collections::BTreeMap;

/// What one mode gave: an array, still in the NumPy buffer the case's result lives in, or
/// another outcome.
pub enum ModeResult<'py> {
    Array {
        dtype: String,
        storage: String,
        shape: Vec<usize>,
        /// A uint8 view of the values.
        bytes: Bound<'py, PyArray1<u8>>,
    },
    Other(Outcome),
}

impl ModeResult<'_> {
    /// Sends it as `ModeDone`; an array as `ArrayFollows` and its bytes, straight from NumPy's
    /// buffer.
    pub fn send(&self, output: &mut impl std::io::Write) -> Result<()> {
        match self {
            ModeResult::Array {
                dtype,
                storage,
                shape,
                bytes,
            } => {
                let view = bytes.readonly();
                let data = bytes_of(&view)?;
                let header = ArrayHeader {
                    dtype: dtype.clone(),
                    storage: storage.clone(),
                    shape: shape.clone(),
                    bytes: data.len() as u64,
                };
                Ok(write_array(output, header, data)?)
            }
            ModeResult::Other(outcome) => {
                Ok(write_frame(output, &Response::ModeDone(outcome.clone()))?)
            }
        }
    }
}

/// The bytes of a read-only view of an output (contiguous, as the runtime made it).
pub fn bytes_of<'a>(view: &'a PyReadonlyArray1<'_, u8>) -> Result<&'a [u8]> {
    view.as_slice().map_err(|e| anyhow!("{e}"))
}

/// Runs `mode` on `image`. A case that raises or returns the wrong thing is an outcome; `Err`
/// is what escapes `Case.run`: a `BaseException` such as `SystemExit`, which the worker treats
/// as the Python program it is would.
pub fn run_mode<'py>(
    py: Python<'py>,
    case: &LoadedCase,
    image: &Bound<'py, PyArrayDyn<u8>>,
    layout: Layout,
    mode: Mode,
) -> PyResult<ModeResult<'py>> {
    let results = case.object.bind(py).call_method1(
        "run",
        (image, PyList::new(py, [mode.name()])?, layout.name()),
    )?;
    let result = results.cast::<PyList>()?.get_item(0)?;
    mode_result(&result)
}

/// Traces the case's XLA function for each rank (see `Case.pretrace_xla`). A tracing error is
/// kept as that rank's outcome; `Err` is what escapes, as in `run_mode`.
pub fn pretrace_xla(py: Python<'_>, case: &LoadedCase, ranks: &[usize]) -> PyResult<()> {
    case.object
        .bind(py)
        .call_method1("pretrace_xla", (ranks.to_vec(),))
        .map(drop)
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

/// Whether the XNNPACK delegate ran part of the case's TFLite models (`Case.tflite_xnnpack`).
pub fn tflite_xnnpack(py: Python<'_>, case: &LoadedCase) -> Result<Option<bool>> {
    case.object
        .bind(py)
        .getattr("tflite_xnnpack")
        .and_then(|value| value.extract())
        .map_err(|e| anyhow!("{}", python_error(py, e)))
}

/// Adds to what the case changed of process-wide state (`Case.state_changes`).
pub fn note_state_change(py: Python<'_>, case: &LoadedCase, change: &str) -> Result<()> {
    case.object
        .bind(py)
        .getattr("state_changes")
        .and_then(|changes| changes.call_method1("add", (change,)))
        .map(drop)
        .map_err(|e| anyhow!("{}", python_error(py, e)))
}

/// What the case changed of the process-wide state so far (see `restore_process_state`).
pub fn state_changes(py: Python<'_>, case: &LoadedCase) -> Result<Vec<String>> {
    let read = || -> PyResult<Vec<String>> {
        let changes = case.object.bind(py).getattr("state_changes")?;
        let mut changes: Vec<String> = changes
            .try_iter()?
            .map(|c| c?.extract())
            .collect::<PyResult<_>>()?;
        changes.sort();
        Ok(changes)
    };
    read().map_err(|e| anyhow!("{}", python_error(py, e)))
}

/// Reads the runtime's ("array", uint8 bytes, dtype, storage, shape) / ("error", type, message)
/// / ("bad_output", _, message) tuples.
fn mode_result<'py>(result: &Bound<'py, PyAny>) -> PyResult<ModeResult<'py>> {
    let result = result.cast::<PyTuple>()?;
    let tag: String = result.get_item(0)?.extract()?;
    Ok(match tag.as_str() {
        "array" => ModeResult::Array {
            bytes: result.get_item(1)?.cast_into::<PyArray1<u8>>()?,
            dtype: result.get_item(2)?.extract()?,
            storage: result.get_item(3)?.extract()?,
            shape: result.get_item(4)?.extract()?,
        },
        "error" => ModeResult::Other(Outcome::Error {
            type_name: result.get_item(1)?.extract()?,
            message: result.get_item(2)?.extract()?,
        }),
        _ => ModeResult::Other(Outcome::BadOutput {
            message: result.get_item(2)?.extract()?,
        }),
    })
}
