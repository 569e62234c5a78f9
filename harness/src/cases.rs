//! Finding case files: every `NAME.py` in the case directories is the case NAME. Loading them is
//! the workers' job (`python.rs` inside `worker/`); this module decides which files to load and
//! holds what the driver knows of each case.

use crate::compare::ToleranceSpec;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The directory tfdiff always looks in, relative to where it runs.
pub const DEFAULT_CASES_DIR: &str = "cases";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseFile {
    pub name: String,
    pub path: PathBuf,
}

/// A loaded case as the driver knows it (and run.json records it): what its file says, not its
/// Python object, which lives in the workers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaseInfo {
    pub name: String,
    pub path: PathBuf,
    pub summary: String,
    pub tolerance: ToleranceSpec,
}

/// A case file that could not be used, with the reason (path included).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaseLoadFailure {
    pub name: String,
    pub path: PathBuf,
    pub error: String,
}

/// `cases/` (when it exists) followed by the `--cases-dir` directories.
pub fn case_dirs(extra: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    let default = Path::new(DEFAULT_CASES_DIR);
    if default.is_dir() {
        dirs.push(default.to_path_buf());
    }
    for dir in extra {
        if !dir.is_dir() {
            bail!("--cases-dir {}: no such directory", dir.display());
        }
        // The same directory named twice (or reached by two paths) is looked in once.
        let same = |known: &PathBuf| known.canonicalize().ok() == dir.canonicalize().ok();
        if !dirs.iter().any(same) {
            dirs.push(dir.clone());
        }
    }
    if dirs.is_empty() {
        bail!(
            "no cases: there is no ./{DEFAULT_CASES_DIR} here; run tfdiff from the project's root \
             or pass --cases-dir DIR"
        );
    }
    Ok(dirs)
}

/// Every case file in `dirs`, sorted by name. Files starting with `_` or `.` are helpers, not
/// cases. The same name in two directories is an error: reports key on the name.
pub fn discover(dirs: &[PathBuf]) -> Result<Vec<CaseFile>> {
    let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in dirs {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("reading cases directory {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_none_or(|ext| ext != "py") || !path.is_file() {
                continue;
            }
            let Some(name) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
                continue;
            };
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            if let Some(previous) = found.get(&name) {
                bail!(
                    "two cases named {name}: {} and {}; rename one of them",
                    previous.display(),
                    path.display()
                );
            }
            found.insert(name, path);
        }
    }
    Ok(found
        .into_iter()
        .map(|(name, path)| CaseFile { name, path })
        .collect())
}

/// The files of the cases named with `--case`, or all of them when none is named.
pub fn select(files: Vec<CaseFile>, names: &[String]) -> Result<Vec<CaseFile>> {
    if names.is_empty() {
        return Ok(files);
    }
    for name in names {
        if !files.iter().any(|file| &file.name == name) {
            let known: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
            bail!(
                "--case {name}: no such case; known cases are {} (see tfdiff list)",
                known.join(", ")
            );
        }
    }
    Ok(files
        .into_iter()
        .filter(|file| names.contains(&file.name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str) {
        std::fs::write(dir.join(name), "").unwrap();
    }

    #[test]
    fn discovers_python_files_but_not_helpers() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.py", "a.py", "_helper.py", "README.md", ".hidden.py"] {
            touch(dir.path(), name);
        }
        let names: Vec<String> = discover(&[dir.path().to_path_buf()])
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn the_same_case_name_in_two_directories_is_an_error() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        touch(one.path(), "same.py");
        touch(two.path(), "same.py");
        let error = discover(&[one.path().into(), two.path().into()]).unwrap_err();
        assert!(error.to_string().contains("two cases named same"));
    }

    #[test]
    fn selecting_an_unknown_case_lists_the_known_ones() {
        let files = vec![CaseFile {
            name: "scale01".into(),
            path: "cases/scale01.py".into(),
        }];
        let error = select(files.clone(), &["nope".into()])
            .unwrap_err()
            .to_string();
        assert!(error.contains("known cases are scale01"), "{error}");
        assert_eq!(select(files, &["scale01".into()]).unwrap().len(), 1);
    }
}
