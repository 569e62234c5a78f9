//! Finding the Python environment (a virtualenv holding NumPy and TensorFlow) that the embedded
//! interpreter should use, and checking that it fits the interpreter tfdiff is linked against.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the environment came from, in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnvSource {
    #[serde(rename = "--python-env")]
    Flag,
    #[serde(rename = "$VIRTUAL_ENV")]
    VirtualEnv,
    #[serde(rename = "./.venv")]
    DotVenv,
}

impl EnvSource {
    pub fn describe(self) -> &'static str {
        match self {
            EnvSource::Flag => "--python-env",
            EnvSource::VirtualEnv => "$VIRTUAL_ENV",
            EnvSource::DotVenv => "./.venv",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PythonEnv {
    pub dir: PathBuf,
    pub source: EnvSource,
}

const SETUP_HINT: &str = "run scripts/setup.sh to create ./.venv";

impl PythonEnv {
    /// `--python-env DIR`, else `$VIRTUAL_ENV`, else `./.venv`.
    pub fn locate(flag: Option<&Path>) -> Result<PythonEnv> {
        let (dir, source) = if let Some(dir) = flag {
            (dir.to_path_buf(), EnvSource::Flag)
        } else if let Some(dir) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
            (PathBuf::from(dir), EnvSource::VirtualEnv)
        } else if Path::new(".venv").is_dir() {
            (PathBuf::from(".venv"), EnvSource::DotVenv)
        } else {
            bail!(
                "no Python environment: none given with --python-env, $VIRTUAL_ENV is unset and \
                 there is no ./.venv; {SETUP_HINT}"
            );
        };
        // An interpreter inside a virtualenv (`.venv/bin/python`) stands for its environment.
        let dir = match interpreter_env(&dir) {
            Some(env) => env,
            None if dir.is_file() => bail!(
                "{} (from {}) is a file, not a virtualenv; give the environment's directory \
                 (the one holding bin/ and lib/), e.g. .venv",
                dir.display(),
                source.describe()
            ),
            None => dir,
        };
        if !dir.is_dir() {
            bail!(
                "Python environment {} (from {}) does not exist; {SETUP_HINT}, or point {} at a \
                 virtualenv",
                dir.display(),
                source.describe(),
                source.describe()
            );
        }
        let dir = dir.canonicalize().unwrap_or(dir);
        Ok(PythonEnv { dir, source })
    }

    /// The environment's site-packages for Python `major.minor`, or an error saying which
    /// Python the environment was made for when it does not match.
    pub fn site_packages(&self, major: u8, minor: u8) -> Result<PathBuf> {
        let wanted = self
            .dir
            .join("lib")
            .join(format!("python{major}.{minor}"))
            .join("site-packages");
        if wanted.is_dir() {
            return Ok(wanted);
        }
        let found = self.python_versions();
        if found.is_empty() {
            bail!(
                "{} is not a virtualenv (no lib/pythonX.Y/site-packages); {SETUP_HINT}",
                self.dir.display()
            );
        }
        bail!(
            "{} is a Python {} environment but tfdiff embeds Python {major}.{minor}; recreate it \
             with scripts/setup.sh (which uses the Python cargo builds tfdiff against), or rebuild \
             tfdiff with PYO3_PYTHON set to a Python {} interpreter",
            self.dir.display(),
            found.join(", "),
            found[0]
        );
    }

    /// The X.Y of every lib/pythonX.Y/site-packages in the environment.
    fn python_versions(&self) -> Vec<String> {
        let mut versions: Vec<String> = std::fs::read_dir(self.dir.join("lib"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let version = name.strip_prefix("python")?.to_string();
                entry
                    .path()
                    .join("site-packages")
                    .is_dir()
                    .then_some(version)
            })
            .collect();
        versions.sort();
        versions
    }
}

/// The virtualenv `path` is the interpreter of (`ENV/bin/python*`, with `ENV/pyvenv.cfg`).
fn interpreter_env(path: &Path) -> Option<PathBuf> {
    if !path.is_file() {
        return None;
    }
    let bin = path.parent()?;
    let env = bin.parent()?;
    let named_python = path
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with("python"));
    (named_python && bin.file_name()? == "bin" && env.join("pyvenv.cfg").is_file())
        .then(|| env.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatched_python_version_names_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib/python3.12/site-packages")).unwrap();
        let env = PythonEnv {
            dir: dir.path().to_path_buf(),
            source: EnvSource::Flag,
        };
        let message = env.site_packages(3, 11).unwrap_err().to_string();
        assert!(message.contains("Python 3.12 environment"), "{message}");
        assert!(message.contains("embeds Python 3.11"), "{message}");
        assert!(env.site_packages(3, 12).is_ok());
    }

    #[test]
    fn a_directory_without_site_packages_is_not_a_virtualenv() {
        let dir = tempfile::tempdir().unwrap();
        let env = PythonEnv {
            dir: dir.path().to_path_buf(),
            source: EnvSource::Flag,
        };
        let message = env.site_packages(3, 11).unwrap_err().to_string();
        assert!(message.contains("not a virtualenv"), "{message}");
        assert!(message.contains("scripts/setup.sh"), "{message}");
    }

    #[test]
    fn an_interpreter_stands_for_its_virtualenv_and_another_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        std::fs::write(dir.path().join("bin/python3.11"), "").unwrap();
        let env = PythonEnv::locate(Some(&dir.path().join("bin/python3.11"))).unwrap();
        assert_eq!(env.dir, dir.path().canonicalize().unwrap());
        std::fs::write(dir.path().join("requirements.txt"), "").unwrap();
        let message = PythonEnv::locate(Some(&dir.path().join("requirements.txt")))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("give the environment's directory"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_flag_directory_says_what_to_do() {
        let message = PythonEnv::locate(Some(Path::new("/nonexistent/tfdiff-env")))
            .unwrap_err()
            .to_string();
        assert!(message.contains("does not exist"), "{message}");
        assert!(message.contains("scripts/setup.sh"), "{message}");
    }
}
