//! divergences.csv: one row per signature (case, mode pair, kind), written and flushed the moment
//! the signature is found and shrunk, and rewritten after each case with its final occurrence
//! count. With `--all`, occurrences.csv gets a row for every divergent input as well.

use super::{error_text, format_number, format_shape};
use crate::baseline::Status;
use crate::compare::{Kind, PairComparison};
use crate::mode::{Mode, ModePair};
use crate::outcome::Outcome;
use crate::signature::Signature;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "divergences.csv";
pub const OCCURRENCES_FILE_NAME: &str = "occurrences.csv";

/// One divergent input of one pair, before it becomes a row.
pub struct Finding<'a> {
    pub case: &'a str,
    /// "17" for generated input 17, "regression:<file>" for a saved regression.
    pub input: &'a str,
    pub seed: u64,
    pub generator: &'a str,
    pub shape: &'a [usize],
    pub original_shape: &'a [usize],
    pub pair: ModePair,
    pub outcomes: (&'a Outcome, &'a Outcome),
    pub comparison: &'a PairComparison,
}

/// One row. Field order is column order; the README documents every column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DivergenceRow {
    pub case: String,
    pub input: String,
    pub seed: u64,
    pub generator: String,
    pub shape: String,
    pub original_shape: String,
    pub mode_a: Mode,
    pub mode_b: Mode,
    pub kind: Kind,
    /// `new`, `known` or `exceeded`, against the baseline (cases/expected.toml).
    pub status: Status,
    pub occurrences: u64,
    pub shrink_steps: u64,
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
    pub script: String,
    pub regression: String,
}

impl DivergenceRow {
    pub fn pair(&self) -> ModePair {
        ModePair::new(self.mode_a, self.mode_b)
    }

    pub fn signature(&self) -> Signature {
        Signature {
            case: self.case.clone(),
            pair: self.pair(),
            kind: self.kind,
        }
    }

    /// Where the run directory keeps the two outputs of the signature's shrunk input, side a
    /// then side b (`outputs/<case>-<pair>-<kind>.a.npy`), when they were arrays.
    pub fn output_files(&self) -> [String; 2] {
        let stem = format!("outputs/{}-{}-{}", self.case, self.pair(), self.kind);
        [format!("{stem}.a.npy"), format!("{stem}.b.npy")]
    }

    pub fn new(finding: &Finding<'_>) -> DivergenceRow {
        let ModePair {
            a: mode_a,
            b: mode_b,
        } = finding.pair;
        let (outcome_a, outcome_b) = finding.outcomes;
        let metrics = finding.comparison.metrics.as_ref();
        let worst = metrics.and_then(|m| m.worst.as_ref());
        DivergenceRow {
            case: finding.case.to_string(),
            input: finding.input.to_string(),
            seed: finding.seed,
            generator: finding.generator.to_string(),
            shape: format_shape(finding.shape),
            original_shape: format_shape(finding.original_shape),
            mode_a,
            mode_b,
            kind: finding
                .comparison
                .kind
                .expect("a finding is a divergence: its comparison has a kind"),
            // Judged against the baseline once the pair's errors are known.
            status: Status::New,
            occurrences: 1,
            shrink_steps: 0,
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
                    let index: Vec<String> = w.index.iter().map(|i| i.to_string()).collect();
                    format!("({})", index.join(", "))
                })
                .unwrap_or_default(),
            value_a: worst.map(|w| format_number(w.a)).unwrap_or_default(),
            value_b: worst.map(|w| format_number(w.b)).unwrap_or_default(),
            dtype_a: outcome_a.dtype().to_string(),
            dtype_b: outcome_b.dtype().to_string(),
            error: error_text((mode_a, outcome_a), (mode_b, outcome_b)),
            reproducer: String::new(),
            script: String::new(),
            regression: String::new(),
        }
    }
}

/// An open CSV of divergence rows. The header is written at once, so an empty file still says
/// what its columns are; every row is flushed as it is appended.
pub struct DivergenceLog {
    path: PathBuf,
    writer: csv::Writer<File>,
    /// In the cases' order (`in_case_order`), each case's in the order appended.
    rows: Vec<DivergenceRow>,
    /// The cases in the order their rows go; empty: in the order appended.
    case_order: Vec<String>,
}

impl DivergenceLog {
    pub fn create(path: PathBuf) -> Result<DivergenceLog> {
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        writer.write_record(HEADER)?;
        writer.flush()?;
        Ok(DivergenceLog {
            path,
            writer,
            rows: Vec::new(),
            case_order: Vec::new(),
        })
    }

    /// Rows kept case by case in this order, whatever order cases find them in (a run takes
    /// several cases' inputs interleaved); the file is in that order from its next `rewrite`.
    pub fn in_case_order(mut self, cases: Vec<String>) -> DivergenceLog {
        self.case_order = cases;
        self
    }

    /// Appends and flushes `row` to the file; in memory it goes after its case's rows.
    pub fn append(&mut self, row: DivergenceRow) -> Result<()> {
        self.writer.serialize(&row)?;
        // Flushed per row: a run that dies keeps every divergence it found.
        self.writer.flush()?;
        let rank = |case: &str| {
            self.case_order
                .iter()
                .position(|name| name == case)
                .unwrap_or(usize::MAX)
        };
        let (own, at) = (rank(&row.case), &self.rows);
        let position = at.partition_point(|other| rank(&other.case) <= own);
        self.rows.insert(position, row);
        Ok(())
    }

    /// The row of `signature`, if there is one. Looked up for every divergent input, so the
    /// fields are compared in place (`signature()` would clone each row's case name).
    pub fn row_mut(&mut self, signature: &Signature) -> Option<&mut DivergenceRow> {
        self.rows.iter_mut().find(|row| {
            row.kind == signature.kind && row.pair() == signature.pair && row.case == signature.case
        })
    }

    pub fn rows(&self) -> &[DivergenceRow] {
        &self.rows
    }

    pub fn rows_mut(&mut self) -> &mut [DivergenceRow] {
        &mut self.rows
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Rewrites the whole file from the rows in memory (after `row_mut` changes), through a
    /// temporary file and a rename; later appends go to the new file.
    pub fn rewrite(&mut self) -> Result<()> {
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        writer.write_record(HEADER)?;
        for row in &self.rows {
            writer.serialize(row)?;
        }
        let bytes = writer.into_inner().map_err(|error| error.into_error())?;
        super::write_atomically(&self.path, &bytes)?;
        let file = std::fs::OpenOptions::new().append(true).open(&self.path)?;
        self.writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        Ok(())
    }
}

/// The column names; a test keeps them in step with `DivergenceRow`.
pub const HEADER: [&str; 25] = [
    "case",
    "input",
    "seed",
    "generator",
    "shape",
    "original_shape",
    "mode_a",
    "mode_b",
    "kind",
    "status",
    "occurrences",
    "shrink_steps",
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
    "script",
    "regression",
];

/// A path as rows print it: relative to the run directory when inside it.
pub fn display_path(path: &Path, run_dir: &Path) -> String {
    path.strip_prefix(run_dir)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A row of `case`, `input` and `pair` of `kind`, as a run records it, for other modules'
/// tests.
#[cfg(test)]
pub fn test_row(case: &str, input: &str, pair: ModePair, kind: Kind) -> DivergenceRow {
    let outcome = Outcome::Error {
        type_name: "E".into(),
        message: String::new(),
    };
    let comparison = PairComparison {
        kind: Some(kind),
        metrics: None,
    };
    DivergenceRow::new(&Finding {
        case,
        input,
        seed: 1,
        generator: "g",
        shape: &[1],
        original_shape: &[1],
        pair,
        outcomes: (&outcome, &outcome),
        comparison: &comparison,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::Kind;

    /// An error divergence row for numpy-eager on a 1x1 input.
    fn error_row() -> DivergenceRow {
        let outcome = Outcome::Error {
            type_name: "E".into(),
            message: "m".into(),
        };
        let comparison = PairComparison {
            kind: Some(Kind::Error),
            metrics: None,
        };
        DivergenceRow::new(&Finding {
            case: "c",
            input: "0",
            seed: 1,
            generator: "g",
            shape: &[1, 1],
            original_shape: &[2, 2],
            pair: ModePair::new(Mode::Numpy, Mode::Eager),
            outcomes: (&outcome, &outcome),
            comparison: &comparison,
        })
    }

    #[test]
    fn header_matches_the_row_fields() {
        let mut writer = csv::Writer::from_writer(vec![]);
        writer.serialize(error_row()).unwrap();
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), HEADER.join(","));
    }

    #[test]
    fn rewrite_keeps_rows_and_later_appends() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = DivergenceLog::create(dir.path().join("d.csv")).unwrap();
        log.append(error_row()).unwrap();
        log.row_mut(&error_row().signature()).unwrap().occurrences = 7;
        log.rewrite().unwrap();
        log.append(error_row()).unwrap();
        let text = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let occurrences: Vec<String> = reader
            .records()
            .map(|r| r.unwrap()[10].to_string())
            .collect();
        assert_eq!(occurrences, ["7", "1"]);
    }

    #[test]
    fn rows_found_case_by_case_interleaved_are_rewritten_in_the_cases_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        let cases = vec!["b".to_string(), "a".to_string()];
        let mut log = DivergenceLog::create(path.clone())
            .unwrap()
            .in_case_order(cases);
        let pair = ModePair::new(Mode::Numpy, Mode::Eager);
        for (case, kind) in [
            ("a", Kind::Value),
            ("b", Kind::Nan),
            ("a", Kind::Nan),
            ("b", Kind::Value),
        ] {
            log.append(super::test_row(case, "0", pair, kind)).unwrap();
        }
        log.rewrite().unwrap();
        let read = crate::run_on_disk::read_rows(&path).unwrap();
        let order: Vec<(&str, Kind)> = read.iter().map(|r| (r.case.as_str(), r.kind)).collect();
        assert_eq!(
            order,
            [
                ("b", Kind::Nan),
                ("b", Kind::Value),
                ("a", Kind::Value),
                ("a", Kind::Nan)
            ]
        );
        assert_eq!(read, log.rows());
    }
}
