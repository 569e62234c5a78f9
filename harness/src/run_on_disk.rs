//! A run directory read back from its files, as `tfdiff merge` and `tfdiff diff` use it: its
//! run.json, its rows, whether it completed, and the files its rows name. What a run directory
//! holds was written by tfdiff, but it is read as untrusted input: a row that does not parse is
//! an error naming the file, the line and the column, and a path read from a row is used only
//! when it stays inside the directory.

use crate::report::{DivergenceRow, RunEnd, RunResults, DIVERGENCES_FILE, OCCURRENCES_FILE};
use anyhow::{bail, Context, Result};
use std::path::{Component, Path, PathBuf};

/// Where an input comes in a run: saved regressions (by file name) before generated inputs (by
/// number). The order the unsharded run evaluates them in.
pub fn input_position(label: &str) -> (u8, u64, String) {
    match label.parse::<u64>() {
        Ok(number) => (1, number, String::new()),
        Err(_) => (0, 0, label.to_string()),
    }
}

/// A run directory as read back from its files.
pub struct RunOnDisk {
    pub dir: PathBuf,
    pub results: RunResults,
    pub occurrences: Vec<DivergenceRow>,
}

impl RunOnDisk {
    pub fn read(dir: &Path) -> Result<RunOnDisk> {
        let json = dir.join("run.json");
        let text = std::fs::read_to_string(&json).with_context(|| {
            format!(
                "{}: not a tfdiff run directory (no readable run.json)",
                dir.display()
            )
        })?;
        let mut results: RunResults = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a run.json this tfdiff can read", json.display()))?;
        if results.info.ended == RunEnd::Unknown {
            // Written before run.json said how a run ended: what it did say.
            results.info.ended = results.info.end();
        }
        results.rows = read_rows(&dir.join(DIVERGENCES_FILE))?;
        let occurrences_file = dir.join(OCCURRENCES_FILE);
        let occurrences = if occurrences_file.is_file() {
            read_rows(&occurrences_file)?
        } else {
            Vec::new()
        };
        Ok(RunOnDisk {
            dir: dir.to_path_buf(),
            results,
            occurrences,
        })
    }

    /// Whether the run may be used: a complete run may; an incomplete one is an error naming
    /// how it ended, unless `allow`, when it is the note its user's outputs must carry.
    pub fn completeness(&self, allow: bool) -> Result<Option<String>> {
        let Some(note) = self.results.info.ended.incomplete_note() else {
            return Ok(None);
        };
        let note = format!("{}: {note}", self.dir.display());
        if !allow {
            bail!(
                "{note} Use complete runs (run it again), or pass --allow-incomplete to use \
                 what it holds"
            );
        }
        eprintln!("tfdiff: warning: {note}");
        Ok(Some(note))
    }

    /// `relative`, a path read from one of this run's rows, inside the run directory; None
    /// when it is empty or would leave the directory (absolute, or with `..`).
    pub fn inside(&self, relative: &str) -> Option<PathBuf> {
        inside(&self.dir, relative)
    }
}

/// `relative` joined to `dir` when it names something inside `dir`.
pub fn inside(dir: &Path, relative: &str) -> Option<PathBuf> {
    let path = Path::new(relative);
    let plain = path
        .components()
        .all(|part| matches!(part, Component::Normal(_) | Component::CurDir));
    (!relative.is_empty() && plain).then(|| dir.join(path))
}

/// The rows of a divergences.csv or occurrences.csv; a row tfdiff cannot read is an error that
/// names the file, the row and the column.
pub fn read_rows(path: &Path) -> Result<Vec<DivergenceRow>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("reading {}", path.display()))?
        .clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let number = rows.len() + 1;
        let record = record.with_context(|| format!("{}, row {number}", path.display()))?;
        let row = record.deserialize(Some(&headers)).map_err(|error| {
            let column = suspect_column(&headers, &record)
                .map(|name| format!(", column {name}"))
                .unwrap_or_default();
            let what = match error.kind() {
                csv::ErrorKind::Deserialize { err, .. } => err.kind().to_string(),
                _ => error.to_string(),
            };
            anyhow::anyhow!(
                "{}, row {number}{column}: not a row tfdiff wrote ({what}); use the file as \
                 tfdiff wrote it, or run again",
                path.display(),
            )
        })?;
        rows.push(row);
    }
    Ok(rows)
}

/// The first column whose text is not what its type takes (csv does not say which column an
/// enum's error came from).
fn suspect_column<'a>(
    headers: &'a csv::StringRecord,
    record: &csv::StringRecord,
) -> Option<&'a str> {
    use crate::baseline::Status;
    use crate::compare::Kind;
    use crate::mode::Mode;
    let fits = |name: &str, text: &str| match name {
        "mode_a" | "mode_b" => Mode::from_name(text).is_some(),
        "kind" => text.parse::<Kind>().is_ok(),
        "status" => text.parse::<Status>().is_ok(),
        "seed" | "occurrences" | "shrink_steps" => text.parse::<u64>().is_ok(),
        _ => true,
    };
    if record.len() != headers.len() {
        return None;
    }
    headers
        .iter()
        .zip(record)
        .find(|(name, text)| !fits(name, text))
        .map(|(name, _)| name)
}

/// A real run.json (one case, numpy–eager, 3 inputs), for tests of what reads run directories.
#[cfg(test)]
pub const FIXTURE_RUN_JSON: &str = include_str!("../tests/fixtures/run/run.json");

/// The fixture run as read back from a directory "run", with `rows` as its divergences.
#[cfg(test)]
pub fn fixture_run(rows: Vec<DivergenceRow>) -> RunOnDisk {
    let mut results: RunResults = serde_json::from_str(FIXTURE_RUN_JSON).unwrap();
    results.rows = rows;
    RunOnDisk {
        dir: PathBuf::from("run"),
        results,
        occurrences: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_read_from_a_row_stays_inside_the_run_directory() {
        let dir = Path::new("/runs/a");
        assert_eq!(
            inside(dir, "repro/x.npy"),
            Some(PathBuf::from("/runs/a/repro/x.npy"))
        );
        assert_eq!(inside(dir, "./x.py"), Some(PathBuf::from("/runs/a/./x.py")));
        for outside in ["", "/etc/passwd", "../b/x.npy", "repro/../../x", "repro/.."] {
            assert_eq!(inside(dir, outside), None, "{outside}");
        }
    }

    #[test]
    fn a_row_tfdiff_did_not_write_is_an_error_naming_file_row_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("divergences.csv");
        let header = "case,input,seed,generator,shape,original_shape,mode_a,mode_b,kind,status,\
                      occurrences,shrink_steps,max_abs,max_rel,max_ulp,mismatches,worst_index,\
                      value_a,value_b,dtype_a,dtype_b,error,reproducer,script,regression";
        let row = |kind: &str, occurrences: &str| {
            format!("c,0,1,g,1x1,2x2,numpy,eager,{kind},new,{occurrences},0,,,,,,,,uint8,uint8,,,,")
        };
        // What serde says is kept, without csv's repetition of where it was.
        for (rows, expected) in [
            (
                vec![row("value", "1"), row("Value", "1")],
                "row 2, column kind: not a row tfdiff wrote (unknown variant `Value`",
            ),
            (
                vec![row("value", "x")],
                "row 1, column occurrences: not a row tfdiff wrote (invalid",
            ),
        ] {
            std::fs::write(&path, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
            let message = read_rows(&path).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
            assert!(
                message.starts_with(&path.display().to_string()),
                "{message}"
            );
        }
        std::fs::write(&path, format!("{header}\n{}\n", row("value", "3"))).unwrap();
        assert_eq!(read_rows(&path).unwrap()[0].occurrences, 3);
    }

    /// A run directory from the run.json fixture, with `ended` as given (None: left out, as
    /// before run.json said how a run ended).
    fn run_dir(ended: Option<&str>, finished: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut json: serde_json::Value = serde_json::from_str(FIXTURE_RUN_JSON).unwrap();
        match ended {
            Some(end) => json["ended"] = end.into(),
            None => {
                json.as_object_mut().unwrap().remove("ended");
            }
        }
        if !finished {
            json["finished_at"] = serde_json::Value::Null;
        }
        std::fs::write(dir.path().join("run.json"), json.to_string()).unwrap();
        crate::report::DivergenceLog::create(dir.path().join(DIVERGENCES_FILE)).unwrap();
        dir
    }

    #[test]
    fn a_run_that_did_not_complete_is_refused_unless_allowed() {
        let complete = run_dir(Some("completed"), true);
        let run = RunOnDisk::read(complete.path()).unwrap();
        assert_eq!(run.completeness(false).unwrap(), None);
        let killed = run_dir(Some("running"), false);
        let run = RunOnDisk::read(killed.path()).unwrap();
        let error = run.completeness(false).unwrap_err().to_string();
        assert!(error.contains("--allow-incomplete"), "{error}");
        let note = run.completeness(true).unwrap().unwrap();
        assert!(
            note.starts_with(&killed.path().display().to_string()),
            "{note}"
        );
        // Written before run.json said how a run ended: what it did say decides.
        let old_complete = RunOnDisk::read(run_dir(None, true).path()).unwrap();
        assert_eq!(old_complete.results.info.ended, RunEnd::Completed);
        let old_unfinished = RunOnDisk::read(run_dir(None, false).path()).unwrap();
        assert_ne!(old_unfinished.results.info.ended, RunEnd::Completed);
        assert!(RunOnDisk::read(Path::new("/nonexistent")).is_err());
    }

    #[test]
    fn the_column_at_fault_is_named_for_every_typed_column() {
        let headers = csv::StringRecord::from(vec!["case", "mode_a", "kind", "status", "seed"]);
        let record = |fields: [&str; 5]| csv::StringRecord::from(fields.to_vec());
        let at = |fields| suspect_column(&headers, &record(fields));
        assert_eq!(at(["c", "numpy", "value", "new", "1"]), None);
        assert_eq!(at(["c", "tpu", "value", "new", "1"]), Some("mode_a"));
        assert_eq!(at(["c", "numpy", "Value", "new", "1"]), Some("kind"));
        assert_eq!(at(["c", "numpy", "value", "fine", "1"]), Some("status"));
        assert_eq!(at(["c", "numpy", "value", "new", "-1"]), Some("seed"));
        let short = csv::StringRecord::from(vec!["c"]);
        assert_eq!(suspect_column(&headers, &short), None);
    }

    #[test]
    fn a_file_that_is_not_csv_is_an_error_naming_its_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("divergences.csv");
        std::fs::write(&path, "case,input\nc,0\nc,0,extra\n").unwrap();
        let message = read_rows(&path).unwrap_err().to_string();
        assert!(message.contains("divergences.csv, row 1"), "{message}");
    }

    #[test]
    fn regressions_come_before_generated_inputs_in_number_order() {
        let mut labels = vec!["10", "regression:b.npy", "2", "regression:a.npy"];
        labels.sort_by_key(|label| input_position(label));
        assert_eq!(labels, ["regression:a.npy", "regression:b.npy", "2", "10"]);
    }
}
