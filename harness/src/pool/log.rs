//! A worker slot's log: everything its worker processes wrote to stdout and stderr — a case's
//! prints, TensorFlow's logging, crash messages — in `logs/worker-<slot>.log` of the run
//! directory. Lines written before the run directory exists wait in memory; a log stops growing
//! at `MAX_BYTES` and says how many lines it left out. And `case-output.log`: what was printed
//! while a case ran, from every worker, each line after its case's name.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Bytes one slot's log may take on disk.
const MAX_BYTES: u64 = 16 << 20;
/// Lines kept in memory until the log has a file.
const BACKLOG_LINES: usize = 2000;

#[derive(Default)]
pub struct WorkerLog {
    file: Option<BufWriter<File>>,
    backlog: VecDeque<String>,
    written: u64,
    dropped: u64,
}

impl WorkerLog {
    pub fn line(&mut self, line: &str) {
        match &mut self.file {
            None => {
                if self.backlog.len() == BACKLOG_LINES {
                    self.backlog.pop_front();
                    self.dropped += 1;
                }
                self.backlog.push_back(line.to_string());
            }
            Some(file) if self.written < MAX_BYTES => {
                self.written += line.len() as u64 + 1;
                // Flushed per line: the log is read after crashes, and a driver that dies
                // must leave it whole.
                let _ = writeln!(file, "{line}").and_then(|()| file.flush());
            }
            Some(_) => self.dropped += 1,
        }
    }

    /// Gives the log its file and writes what waited for it.
    pub fn attach(&mut self, path: &Path) -> std::io::Result<()> {
        self.file = Some(BufWriter::new(File::create(path)?));
        let backlog = std::mem::take(&mut self.backlog);
        for line in backlog {
            self.line(&line);
        }
        Ok(())
    }

    /// Says how many lines were left out, at the end of the run.
    pub fn close(&mut self) {
        if let (Some(file), true) = (&mut self.file, self.dropped > 0) {
            let _ = writeln!(
                file,
                "=== tfdiff: {} more line(s) left out of this log (limit {} MiB) ===",
                self.dropped,
                MAX_BYTES >> 20
            )
            .and_then(|()| file.flush());
        }
    }
}

/// Lines of a case's output shown with its rows in the results table.
const FIRST_LINES: usize = 3;

/// What was printed while one case ran (its calls' stdout and stderr, TensorFlow's logging
/// during them included).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Printed {
    pub lines: u64,
    /// The first few, log timestamps removed.
    pub first: Vec<String>,
}

/// `case-output.log` and, per case, what it printed.
#[derive(Default)]
pub struct CaseOutput {
    log: WorkerLog,
    cases: BTreeMap<String, Printed>,
}

impl CaseOutput {
    pub fn line(&mut self, case: &str, line: &str) {
        self.log.line(&format!("[{case}] {line}"));
        let printed = self.cases.entry(case.to_string()).or_default();
        printed.lines += 1;
        if printed.first.len() < FIRST_LINES {
            printed.first.push(super::process::clean_line(line));
        }
    }

    pub fn attach(&mut self, path: &Path) -> std::io::Result<()> {
        self.log.attach(path)
    }

    pub fn close(&mut self) {
        self.log.close();
    }

    pub fn printed(&self) -> BTreeMap<String, Printed> {
        self.cases.clone()
    }
}
