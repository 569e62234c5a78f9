//! XLA's persistent compilation cache, as a run uses it.
//!
//! XLA compiles one program per function and input shape — about 30 ms each, most of a default
//! run's work — and, left alone, every worker process compiles every shape it meets, and every
//! run again. TensorFlow can keep the programs on disk (`--tf_xla_persistent_cache_directory`):
//! a worker loads what another compiled, and later runs load what earlier ones did. TensorFlow
//! writes an entry to a temporary file and renames it into place, and checks a loaded program
//! against the HLO it was compiled from; it does not check which compiler made it. So the
//! worker keys the directory by the TensorFlow build, the CPU and the XLA flags
//! (`xla_cache_directory` in `tfdiff_runtime.py`), and traces the XLA functions in the same
//! order in every worker (`pretrace_xla`), because TensorFlow names a traced function with a
//! process-wide counter and the cache keys programs by that name.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How a run used the cache: where, and how many programs it held before and after (the
/// difference is what this run compiled; equal counts mean every program was loaded).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct XlaCacheUse {
    /// This TensorFlow build's directory.
    pub directory: PathBuf,
    pub programs_at_start: u64,
    pub programs_at_end: u64,
}

impl XlaCacheUse {
    pub fn new(directory: PathBuf) -> XlaCacheUse {
        let programs_at_start = programs(&directory);
        XlaCacheUse {
            directory,
            programs_at_start,
            programs_at_end: programs_at_start,
        }
    }

    pub fn update(&mut self) {
        self.programs_at_end = programs(&self.directory);
    }
}

/// Programs in a cache directory: its files, less those still being written.
pub fn programs(directory: &Path) -> u64 {
    std::fs::read_dir(directory)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| !entry.file_name().to_string_lossy().ends_with(".tmp"))
                .count() as u64
        })
        .unwrap_or(0)
}
