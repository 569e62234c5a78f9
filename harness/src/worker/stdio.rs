//! The worker's file descriptors and its tie to the driver.
//!
//! The protocol runs over the stdin and stdout the driver gave the worker. Before Python starts,
//! those two are moved to descriptors of their own (close-on-exec, so a subprocess a case starts
//! does not inherit them), fd 1 is pointed at the stderr pipe and fd 0 at /dev/null: whatever a
//! case or TensorFlow prints — Python's `print`, C++ logging, a crash message — lands in the
//! worker's log and can never corrupt a frame.

use crate::doorbell::{poll_one, set_non_blocking, Ringer};
use crate::protocol::{write_frame, Response};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::os::fd::{AsRawFd, FromRawFd};

/// The size asked for the pipe the worker writes frames into: Linux's default maximum.
const PIPE_BYTES: libc::c_int = 1 << 20;

/// The protocol's two ends, as the worker sees them.
pub struct Channel {
    pub input: BufReader<File>,
    pub output: BufWriter<FramePipe>,
}

impl Channel {
    /// Sends a message the driver waits for as a whole, and rings the doorbell (see
    /// `doorbell`). A mode's outcome is written with `output` alone: it is read with the rest
    /// of its input's at `Finished`.
    pub fn send(&mut self, response: &Response) -> io::Result<()> {
        write_frame(&mut self.output, response)?;
        self.output.get_ref().ring();
        Ok(())
    }
}

/// The pipe frames go into. Written without blocking: when it is full, the worker rings the
/// doorbell — the driver may be asleep on it, with the outcomes it has not been called for yet
/// filling the pipe — and only then waits for room.
pub struct FramePipe {
    file: File,
    ringer: Option<Ringer>,
}

impl FramePipe {
    pub fn ring(&self) {
        if let Some(ringer) = &self.ringer {
            ringer.ring();
        }
    }

    /// Waits until the pipe has room.
    fn wait_for_room(&self) {
        // An error (EINTR) only means the write is tried again.
        poll_one(self.file.as_raw_fd(), libc::POLLOUT, -1);
    }
}

impl Write for FramePipe {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        loop {
            match self.file.write(bytes) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.ring();
                    self.wait_for_room();
                }
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn check(result: libc::c_int, what: &str) -> io::Result<libc::c_int> {
    if result < 0 {
        let error = io::Error::last_os_error();
        Err(io::Error::new(error.kind(), format!("{what}: {error}")))
    } else {
        Ok(result)
    }
}

/// Moves the protocol off fds 0 and 1 and sends fd 1 to the log. Call before Python starts.
pub fn take_channel() -> io::Result<Channel> {
    // SAFETY: plain descriptor calls on descriptors this process owns; each result is checked,
    // and each new descriptor is owned by exactly one File.
    unsafe {
        let input = check(libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3), "dup stdin")?;
        let output = check(libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3), "dup stdout")?;
        // A larger pipe lets the worker write an output frame and go on while the driver reads
        // it; best effort (the default 64 KiB works, only slower).
        libc::fcntl(output, libc::F_SETPIPE_SZ, PIPE_BYTES);
        let ringer = Ringer::from_environment();
        if ringer.is_some() {
            // See `FramePipe`. Without a doorbell, the driver reads every frame as it comes.
            set_non_blocking(output)?;
        }
        check(libc::dup2(2, 1), "stdout to stderr")?;
        let null = check(
            libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC),
            "open /dev/null",
        )?;
        check(libc::dup2(null, 0), "stdin from /dev/null")?;
        libc::close(null);
        Ok(Channel {
            input: BufReader::new(File::from_raw_fd(input)),
            output: BufWriter::with_capacity(
                1 << 16,
                FramePipe {
                    file: File::from_raw_fd(output),
                    ringer,
                },
            ),
        })
    }
}

/// Ties the worker's life to the driver's: SIGKILL when the driver dies (even by SIGKILL),
/// and deaf to SIGINT/SIGTERM/SIGHUP — the driver decides when workers stop (a terminal's or
/// CI's signals to the driver's process group miss the worker's own group anyway, but not
/// signals sent to every process). Exits at once if the driver is already gone.
pub fn die_with_driver(driver_pid: Option<u32>) {
    // SAFETY: prctl and signal with constant arguments; getppid cannot fail.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        if let Some(pid) = driver_pid {
            if libc::getppid() as u32 != pid {
                libc::_exit(3);
            }
        }
    }
}

/// Writes the evaluation marker, with the case's name, to stderr (see
/// `protocol::EVALUATION_MARKER`), unbuffered.
pub fn mark_evaluation_start(case: &str) {
    let line = format!("\n{} {case}\n", crate::protocol::EVALUATION_MARKER);
    // SAFETY: fflush(NULL) flushes C's stdio buffers (what a case wrote with printf/puts
    // belongs before the marker, to the case that wrote it); then writes a buffer this
    // function owns to fd 2.
    unsafe {
        libc::fflush(std::ptr::null_mut());
        libc::write(2, line.as_ptr().cast(), line.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doorbell::{pipe, pipe_pending, Bell};
    use std::io::Read;
    use std::time::Duration;

    /// Guards the doorbell's one hazard: outcomes are written unrung, so a frame larger than
    /// the pipe would leave the worker blocked on a pipe the driver, asleep on the doorbell,
    /// does not drain. A full pipe rings.
    #[test]
    fn a_worker_writing_more_than_the_pipe_holds_rings_instead_of_waiting_unheard() {
        let (mut bell, ringer) = crate::doorbell::pair();
        let (mut read, write) = pipe().unwrap();
        set_non_blocking(write.as_raw_fd()).unwrap();
        let frame = vec![7u8; 4 << 20];
        let writer = std::thread::spawn(move || {
            let mut pipe = FramePipe {
                file: write,
                ringer: Some(ringer),
            };
            pipe.write_all(&frame).unwrap();
        });
        let mut received = 0;
        let mut buffer = vec![0u8; 1 << 16];
        while received < 4 << 20 {
            // Read only when rung (or once the writer is done and gone), as the driver does,
            // without its safety poll.
            assert_ne!(bell.wait(Duration::from_secs(10)), Bell::Silent);
            let mut left = pipe_pending(read.as_raw_fd());
            while left > 0 {
                let n = read.read(&mut buffer[..left.min(1 << 16)]).unwrap();
                received += n;
                left -= n;
            }
        }
        writer.join().unwrap();
        assert_eq!(received, 4 << 20);
    }
}
