//! The seam around the thing under test: evaluating one input of one case in the selected modes.
//! An evaluator does no I/O and no reporting; it only returns outcomes.

use crate::generate::{Image, Layout};
use crate::mode::Mode;
use crate::outcome::Outcome;
use crate::python::{python_error, LoadedCase};
use anyhow::{anyhow, bail, Result};
use numpy::{PyArray, PyArrayDyn, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use std::collections::BTreeMap;

/// Runs one case on one input in each of `modes`, returning one outcome per mode, in order.
/// A case that raises or returns the wrong thing is an outcome, not an `Err`: `Err` means the
/// evaluator itself broke.
pub trait Evaluator {
    fn evaluate(
        &mut self,
        case: &LoadedCase,
        image: &Image,
        layout: Layout,
        modes: &[Mode],
    ) -> Result<Vec<Outcome>>;

    /// How many times the case's TensorFlow function was traced, per mode (graph, xla, v1).
    fn trace_counts(&mut self, case: &LoadedCase) -> Result<BTreeMap<String, u64>>;
}

/// Evaluates in this process's embedded interpreter.
#[derive(Default)]
pub struct EmbeddedEvaluator;

impl Evaluator for EmbeddedEvaluator {
    fn evaluate(
        &mut self,
        case: &LoadedCase,
        image: &Image,
        layout: Layout,
        modes: &[Mode],
    ) -> Result<Vec<Outcome>> {
        Python::attach(|py| {
            let array = PyArray::from_array(py, image);
            let names: Vec<&str> = modes.iter().map(|m| m.name()).collect();
            let results = case
                .object
                .bind(py)
                .call_method1("run", (array, PyList::new(py, names)?, layout.name()))
                .map_err(|e| python_error(py, e))?;
            let results = results.cast::<PyList>().map_err(|e| anyhow!("{e}"))?;
            if results.len() != modes.len() {
                bail!(
                    "runtime returned {} outcomes for {} modes",
                    results.len(),
                    modes.len()
                );
            }
            results
                .iter()
                .map(|result| outcome_from_python(&result).map_err(|e| python_error(py, e)))
                .collect()
        })
    }

    fn trace_counts(&mut self, case: &LoadedCase) -> Result<BTreeMap<String, u64>> {
        Python::attach(|py| {
            let read = || -> PyResult<BTreeMap<String, u64>> {
                let traces = case.object.bind(py).call_method0("trace_counts")?;
                traces
                    .cast::<PyDict>()?
                    .iter()
                    .map(|(mode, count)| Ok((mode.extract()?, count.extract()?)))
                    .collect()
            };
            read().map_err(|e| python_error(py, e))
        })
    }
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
