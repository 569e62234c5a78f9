//! The doorbell: a second pipe from each worker, on which it writes a byte when the driver has
//! something to read — not on every frame.
//!
//! Waking a thread that sleeps in `read` on another CPU costs the writer an inter-processor
//! interrupt, and on a virtual machine that is dear: measured on this project's 2-core VM, a
//! pipe round trip between two CPUs takes 89 µs (36 µs of it CPU time) against 4 µs on one. A
//! worker writes five frames per input (one per mode, then `Finished`), so a reader that waited
//! in `read` on the frame pipe cost the worker about 8% of its CPU in `write` alone. A reader
//! that napped 1 ms at a time instead (the design before this one) woke about 2.4 times per
//! input and spent 0.2 s of the driver's 1.1–1.5 s of CPU in a warm `--jobs 2` default run on
//! those wake-ups, each taking a CPU from a worker for a moment.
//!
//! So the reader sleeps in `poll` on the doorbell and reads the frame pipe only once it rings.
//! The worker rings after each message the driver waits for as a whole — `Finished`, `Hello`,
//! `CaseLoaded`, `Ready`, a `Stage`, `Fatal` — and not after a mode's outcome, which goes into
//! the frame pipe at once (so a worker that dies has told which modes it finished) and is read
//! with the rest of its input's at `Finished`: one wake-up per input. A worker whose frame pipe
//! is full rings before it waits for room (`worker::stdio::FramePipe`), so it never waits on a
//! pipe nobody drains. A worker that dies closes the doorbell: the reader takes what is left in
//! the frame pipe and then its end. And should a ring ever be missed, the reader looks at the
//! frame pipe every `SAFETY_POLL` anyway: an outcome is late by at most that, far below any
//! `--timeout`. Measured in warm `--jobs 2` default runs: the frame readers woke about 2,000
//! times each against 3,900 with the naps, and took 0.12 s of CPU against 0.16.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::time::Duration;

/// The environment variable that tells a worker which descriptor its doorbell is.
pub const DOORBELL_FD_VARIABLE: &str = "TFDIFF_DOORBELL_FD";
/// The descriptor a worker finds its doorbell on.
const WORKER_FD: RawFd = 3;
/// How long the reader sleeps on a silent doorbell before it looks at the frame pipe anyway.
pub const SAFETY_POLL: Duration = Duration::from_millis(50);

/// The driver's end of one worker's doorbell.
pub struct Doorbell {
    read: File,
}

/// What waiting on the doorbell gave.
#[derive(Debug, PartialEq)]
pub enum Bell {
    Rang,
    /// Nothing within `SAFETY_POLL`.
    Silent,
    /// The worker's end is closed: it has exited.
    Closed,
}

impl Doorbell {
    /// Makes the pipe and sets `command` up to hand its write end to the child as fd 3 (named
    /// by `DOORBELL_FD_VARIABLE`). Returns the doorbell and the write end, which the caller
    /// drops once the child is spawned, so that only the worker holds it.
    pub fn attach(command: &mut Command) -> std::io::Result<(Doorbell, OwnedFd)> {
        let (read, write) = pipe()?;
        let write = OwnedFd::from(write);
        let source = write.as_raw_fd();
        // SAFETY: runs in the child between fork and exec, and calls only dup2 and fcntl,
        // which are async-signal-safe. dup2 onto fd 3 clears close-on-exec there; when the pipe
        // is fd 3 already, dup2 would do nothing, so the flag is cleared directly.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(command, move || {
                let result = if source == WORKER_FD {
                    libc::fcntl(WORKER_FD, libc::F_SETFD, 0)
                } else {
                    libc::dup2(source, WORKER_FD)
                };
                if result < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command.env(DOORBELL_FD_VARIABLE, WORKER_FD.to_string());
        Ok((Doorbell { read }, write))
    }

    /// Sleeps until the worker rings, closes its end, or `timeout` passes; takes the rings.
    pub fn wait(&mut self, timeout: Duration) -> Bell {
        let millis = timeout.as_millis().min(libc::c_int::MAX as u128) as libc::c_int;
        if poll_one(self.read.as_raw_fd(), libc::POLLIN, millis) <= 0 {
            // Nothing yet, or EINTR: the caller looks at the frame pipe and comes back.
            return Bell::Silent;
        }
        let mut rings = [0u8; 64];
        match self.read.read(&mut rings) {
            Ok(0) => Bell::Closed,
            Ok(_) => Bell::Rang,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => Bell::Silent,
            Err(_) => Bell::Closed,
        }
    }
}

/// The worker's end: rings without ever waiting (a full doorbell has rung already).
pub struct Ringer {
    write: File,
}

impl Ringer {
    /// The doorbell the driver handed down, moved to a close-on-exec descriptor (so a process
    /// a case starts does not hold it open after the worker dies) and made non-blocking. None
    /// when the worker was started without one.
    pub fn from_environment() -> Option<Ringer> {
        let fd: RawFd = std::env::var(DOORBELL_FD_VARIABLE).ok()?.parse().ok()?;
        // SAFETY: the descriptor was handed to this process for this use; it is moved to a new
        // one owned by the File, and the old number closed.
        unsafe {
            let moved = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3);
            if moved < 0 {
                return None;
            }
            libc::close(fd);
            let write = File::from_raw_fd(moved);
            set_non_blocking(write.as_raw_fd()).ok()?;
            Some(Ringer { write })
        }
    }

    pub fn ring(&self) {
        // SAFETY: writes one byte from a constant to a descriptor this Ringer owns. EAGAIN
        // means the pipe is full of rings the driver has not taken yet: rung already.
        unsafe {
            libc::write(self.write.as_raw_fd(), [1u8].as_ptr().cast(), 1);
        }
    }
}

/// Waits until `fd` is ready for `events` or `millis` pass (-1: no limit); what poll returns
/// (0 on time-out, negative on an error such as EINTR).
pub fn poll_one(fd: RawFd, events: libc::c_short, millis: libc::c_int) -> libc::c_int {
    let mut poll = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: polls one pollfd this function owns.
    unsafe { libc::poll(&mut poll, 1, millis) }
}

/// Bytes waiting in a pipe, from either end (0 when it cannot tell).
pub fn pipe_pending(fd: RawFd) -> usize {
    let mut pending: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int, which this function owns.
    let result = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut pending) };
    if result < 0 {
        0
    } else {
        pending.max(0) as usize
    }
}

/// A pipe's read and write ends, both close-on-exec.
pub fn pipe() -> std::io::Result<(File, File)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors, each then owned by one File.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])))
    }
}

/// Makes reads and writes on `fd` return `WouldBlock` instead of waiting.
pub fn set_non_blocking(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: reads and sets the status flags of a descriptor; no memory is passed.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A doorbell and its ringer in this one process, for tests.
#[cfg(test)]
pub fn pair() -> (Doorbell, Ringer) {
    let (read, write) = pipe().unwrap();
    set_non_blocking(write.as_raw_fd()).unwrap();
    (Doorbell { read }, Ringer { write })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_pipe_with_bytes_waiting_is_not_drained() {
        use std::io::Write;
        let (read, mut write) = pipe().unwrap();
        assert_eq!(pipe_pending(read.as_raw_fd()), 0);
        write.write_all(b"frame").unwrap();
        assert_eq!(pipe_pending(read.as_raw_fd()), 5);
    }

    #[test]
    fn a_worker_that_rings_wakes_the_reader_and_one_that_exits_closes_the_bell() {
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!(
            "sleep 0.2; printf x >&${DOORBELL_FD_VARIABLE}; sleep 0.3"
        ));
        let (mut bell, write) = Doorbell::attach(&mut command).unwrap();
        let mut child = command.spawn().unwrap();
        drop(write);
        assert_eq!(bell.wait(Duration::from_millis(20)), Bell::Silent);
        let begun = Instant::now();
        assert_eq!(bell.wait(Duration::from_secs(10)), Bell::Rang);
        assert!(begun.elapsed() < Duration::from_secs(5));
        assert_eq!(bell.wait(Duration::from_secs(10)), Bell::Closed);
        child.wait().unwrap();
    }
}
