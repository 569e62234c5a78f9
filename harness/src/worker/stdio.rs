//! The worker's file descriptors and its tie to the driver.
//!
//! The protocol runs over the stdin and stdout the driver gave the worker. Before Python starts,
//! those two are moved to descriptors of their own (close-on-exec, so a subprocess a case starts
//! does not inherit them), fd 1 is pointed at the stderr pipe and fd 0 at /dev/null: whatever a
//! case or TensorFlow prints — Python's `print`, C++ logging, a crash message — lands in the
//! worker's log and can never corrupt a frame.

use std::fs::File;
use std::io::{self, BufReader, BufWriter};
use std::os::fd::FromRawFd;

/// The size asked for the pipe the worker writes frames into: Linux's default maximum.
const PIPE_BYTES: libc::c_int = 1 << 20;

/// The protocol's two ends, as the worker sees them.
pub struct Channel {
    pub input: BufReader<File>,
    pub output: BufWriter<File>,
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
        check(libc::dup2(2, 1), "stdout to stderr")?;
        let null = check(
            libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC),
            "open /dev/null",
        )?;
        check(libc::dup2(null, 0), "stdin from /dev/null")?;
        libc::close(null);
        Ok(Channel {
            input: BufReader::new(File::from_raw_fd(input)),
            output: BufWriter::with_capacity(1 << 16, File::from_raw_fd(output)),
        })
    }
}

/// Ties the worker's life to the driver's: SIGKILL when the driver dies (even by SIGKILL),
/// and deaf to the SIGINT/SIGTERM/SIGHUP a terminal or CI sends to the whole process group — the
/// driver decides when workers stop. Exits at once if the driver is already gone.
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
