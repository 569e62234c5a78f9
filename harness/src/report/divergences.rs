//! divergences.csv: one row per divergence, appended and flushed the moment it is found.

use super::{error_text, format_number, format_shape};
use crate::compare::PairComparison;
use crate::mode::Mode;
use crate::outcome::Outcome;
use anyhow::{Context, Result};
use serde::Serialize;
use std::fs::File;
use std::path::Path;

pub const FILE_NAME: &str = "divergences.csv";

/// One divergence. Field order is column order; the README documents every column.
#[derive(Debug, Serialize)]
pub struct DivergenceRow {
    pub case: String,
    pub input: String,
    pub seed: u64,
    pub shape: String,
    pub mode_a: Mode,
    pub mode_b: Mode,
    pub kind: String,
    pub max_abs: String,
    pub max_rel: String,
    pub max_ulp: String,
    pub mismatches: String,
    pub worst_index: String,
    pub value_a: String,
    pub value_b: String,
    pub dtype_a: String,
    pub dtype_b: String,
    pub error: String,
    pub reproducer: String,
}

impl DivergenceRow {
    /// The row for a pair that diverged on one input.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        case: &str,
        input: u64,
        seed: u64,
        shape: &[usize],
        (mode_a, mode_b): (Mode, Mode),
        (outcome_a, outcome_b): (&Outcome, &Outcome),
        comparison: &PairComparison,
        reproducer: &Path,
    ) -> DivergenceRow {
        let metrics = comparison.metrics.as_ref();
        let worst = metrics.and_then(|m| m.worst.as_ref());
        DivergenceRow {
            case: case.to_string(),
            input: input.to_string(),
            seed,
            shape: format_shape(shape),
            mode_a,
            mode_b,
            kind: comparison.kind.map(|k| k.name()).unwrap_or("").to_string(),
            max_abs: metrics
                .map(|m| format_number(m.max_abs))
                .unwrap_or_default(),
            max_rel: metrics
                .map(|m| format_number(m.max_rel))
                .unwrap_or_default(),
            max_ulp: metrics.map(|m| m.max_ulp.to_string()).unwrap_or_default(),
            mismatches: metrics
                .map(|m| m.mismatches.to_string())
                .unwrap_or_default(),
            worst_index: worst
                .map(|w| {
                    format!(
                        "({})",
                        w.index
                            .iter()
                            .map(|i| i.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
                .unwrap_or_default(),
            value_a: worst.map(|w| format_number(w.a)).unwrap_or_default(),
            value_b: worst.map(|w| format_number(w.b)).unwrap_or_default(),
            dtype_a: outcome_a.dtype().to_string(),
            dtype_b: outcome_b.dtype().to_string(),
            error: error_text((mode_a, outcome_a), (mode_b, outcome_b)),
            reproducer: reproducer.display().to_string(),
        }
    }
}

/// The open divergences.csv of a run. The header is written at once, so an empty file still
/// says what its columns are.
pub struct DivergenceLog {
    writer: csv::Writer<File>,
    pub rows: u64,
}

impl DivergenceLog {
    pub fn create(run_dir: &Path) -> Result<DivergenceLog> {
        let path = run_dir.join(FILE_NAME);
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        writer.write_record(header())?;
        writer.flush()?;
        Ok(DivergenceLog { writer, rows: 0 })
    }

    pub fn record(&mut self, row: &DivergenceRow) -> Result<()> {
        self.writer.serialize(row)?;
        // Flushed per row: a run that dies keeps every divergence it found.
        self.writer.flush()?;
        self.rows += 1;
        Ok(())
    }
}

/// The column names; a test keeps them in step with `DivergenceRow`.
fn header() -> Vec<&'static str> {
    vec![
        "case",
        "input",
        "seed",
        "shape",
        "mode_a",
        "mode_b",
        "kind",
        "max_abs",
        "max_rel",
        "max_ulp",
        "mismatches",
        "worst_index",
        "value_a",
        "value_b",
        "dtype_a",
        "dtype_b",
        "error",
        "reproducer",
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_the_row_fields() {
        // Serializing a row with headers on yields the struct's field names.
        let row = DivergenceRow {
            case: String::new(),
            input: String::new(),
            seed: 0,
            shape: String::new(),
            mode_a: Mode::Numpy,
            mode_b: Mode::Eager,
            kind: String::new(),
            max_abs: String::new(),
            max_rel: String::new(),
            max_ulp: String::new(),
            mismatches: String::new(),
            worst_index: String::new(),
            value_a: String::new(),
            value_b: String::new(),
            dtype_a: String::new(),
            dtype_b: String::new(),
            error: String::new(),
            reproducer: String::new(),
        };
        let mut writer = csv::Writer::from_writer(vec![]);
        writer.serialize(&row).unwrap();
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), header().join(","));
    }
}
