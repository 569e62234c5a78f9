//! A worker slot's log: everything its worker processes wrote to stdout and stderr — a case's
//! prints, TensorFlow's logging, crash messages — in `logs/worker-<slot>.log` of the run
//! directory. Lines written before the run directory exists wait in memory; a log stops growing
//! at `MAX_BYTES` and says how many lines it left out.

use std::collections::VecDeque;
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
