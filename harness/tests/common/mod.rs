//! Helpers shared by the integration tests: the real binary run from the project's root, fixture
//! copies, and readers for the reports.
#![allow(dead_code)]

use assert_cmd::Command;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub type Row = HashMap<String, String>;

/// The reports that hold the same bytes for the same seed whatever the run's timing: any
/// number of workers, sharded and merged or not.
pub const DETERMINISTIC_REPORTS: [&str; 5] = [
    "divergences.csv",
    "summary.csv",
    "summary.md",
    "junit.xml",
    "ulp_histogram.csv",
];

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn fixtures(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
}

/// tfdiff run from the project's root, finding ./.venv and ./cases as a user's would.
pub fn tfdiff() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tfdiff"));
    command.current_dir(root()).env_remove("VIRTUAL_ENV");
    command
}

/// A copy of a fixture directory, so the regressions a run saves next to its cases land in a
/// temporary directory and not in the source tree.
pub fn fixture_copy(dir: &str) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixtures(dir)).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    copy
}

pub fn read_csv(path: &Path) -> Vec<Row> {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    reader.deserialize().map(|row| row.unwrap()).collect()
}

pub fn summary_row<'a>(rows: &'a [Row], case: &str, a: &str, b: &str) -> &'a Row {
    rows.iter()
        .find(|r| r["case"] == case && r["mode_a"] == a && r["mode_b"] == b)
        .unwrap_or_else(|| panic!("no summary row for {case} {a}-{b}"))
}

pub fn number(row: &Row, column: &str) -> u64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column} = {:?} in {row:?}", row[column]))
}

pub fn run_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

/// The version pinned in scripts/requirements.txt for `package`.
pub fn pinned(package: &str) -> String {
    let requirements = std::fs::read_to_string(root().join("scripts/requirements.txt")).unwrap();
    requirements
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{package}==")))
        .unwrap_or_else(|| panic!("{package} is not pinned"))
        .trim()
        .to_string()
}

/// The project's Python, quiet about TensorFlow's start-up.
pub fn venv_python() -> std::process::Command {
    let mut command = std::process::Command::new(root().join(".venv/bin/python"));
    command.env("TF_CPP_MIN_LOG_LEVEL", "3");
    command
}
