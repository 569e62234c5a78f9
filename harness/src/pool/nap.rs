//! Reading a busy worker's stderr without being woken for every line.
//!
//! Waking a thread that sleeps in `read` on another CPU costs the writer an inter-processor
//! interrupt, dear on a virtual machine (see `doorbell`, which does the same for the frame
//! pipe). A worker writes a line to stderr per input (the evaluation marker), and nobody waits
//! for those lines: a crash report reads the rest once the worker is gone. So while the worker
//! has its next input already (the slot sent it ahead), a log reader that has drained the pipe
//! sleeps a while instead of waiting in `read`, and takes what came meanwhile all at once. Not
//! while the slot waits for this very worker to finish an input with nothing queued
//! (shrinking, a job's last outcomes): a worker that dies then has its stderr read at once.

use super::process::child_alive;
use crate::doorbell::pipe_pending;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long a drained log reader sleeps. Each nap's end takes a CPU from a worker for a
/// moment, so the log reader wakes seldom.
pub const LOG_NAP: Duration = Duration::from_millis(20);
/// Lines at least this large (a case printing a lot) are followed by an ordinary blocking
/// read: more is likely coming, and a worker blocked on a full pipe must not wait out a nap.
const LARGE_LINE: usize = 256 << 10;

/// Whether the worker has a job queued behind the running one (set by its slot).
#[derive(Default)]
pub struct Queued(AtomicBool);

impl Queued {
    pub fn set(&self, queued: bool) {
        self.0.store(queued, Ordering::Relaxed);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// After a line of `bytes` bytes, with `buffered` bytes still unread in the
    /// reader's buffer: while the worker `pid` is busy with a queued job and nothing waits in
    /// the pipe, sleeps in short naps rather than in `read`. Returns at once after a large
    /// line, and as soon as bytes arrive, the job queue empties or the worker dies (its end
    /// of the pipe then reads as closed).
    pub fn wait_while_idle(
        &self,
        nap: Duration,
        bytes: usize,
        buffered: usize,
        fd: RawFd,
        pid: u32,
    ) {
        if bytes >= LARGE_LINE || buffered > 0 {
            return;
        }
        while self.is_set() && pipe_pending(fd) == 0 && child_alive(pid) {
            std::thread::sleep(nap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doorbell::pipe;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::sync::Arc;
    use std::time::Instant;

    const NAP: Duration = Duration::from_millis(1);

    #[test]
    fn the_log_reader_naps_only_between_small_lines_of_a_worker_with_a_queued_job() {
        let (read, mut write) = pipe().unwrap();
        let fd = read.as_raw_fd();
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let flag = Arc::new(Queued::default());
        let naps = |queued: bool, bytes: usize, buffered: usize| {
            flag.set(queued);
            let begun = Instant::now();
            flag.wait_while_idle(NAP, bytes, buffered, fd, child.id());
            begun.elapsed() >= NAP
        };
        assert!(!naps(false, 100, 0), "the slot waits for these frames");
        assert!(!naps(true, LARGE_LINE, 0), "after a large line");
        assert!(!naps(true, 100, 1), "bytes still buffered");
        write.write_all(b"x").unwrap();
        assert!(!naps(true, 100, 0), "bytes waiting in the pipe");
        let mut byte = [0u8];
        std::io::Read::read_exact(&mut &read, &mut byte).unwrap();
        // Napping until the job queue empties.
        let waker = {
            let flag = Arc::clone(&flag);
            std::thread::spawn(move || {
                std::thread::sleep(NAP * 20);
                flag.set(false);
            })
        };
        assert!(naps(true, 100, 0));
        waker.join().unwrap();
        // A dead worker ends the nap: its pipe is to be read as closed.
        child.kill().unwrap();
        while child_alive(child.id()) {
            std::thread::sleep(NAP);
        }
        let begun = Instant::now();
        flag.set(true);
        flag.wait_while_idle(NAP, 100, 0, fd, child.id());
        assert!(begun.elapsed() < Duration::from_secs(1));
        child.wait().unwrap();
    }
}
