//! One worker process as the driver holds it: started with spawn/exec (never fork after
//! TensorFlow is imported — the driver never imports it at all), its stdout read frame by frame
//! on a thread of its own, its stderr read line by line into the slot's log and into the tail a
//! crash report keeps, and reaped with `wait4` for its exit status and peak resident memory.

use super::log::{CaseOutput, WorkerLog};
use super::nap::{Queued, LOG_NAP};
use crate::doorbell::{pipe_pending, Bell, Doorbell, SAFETY_POLL};
use crate::protocol::{read_response, write_frame, Request, Response, EVALUATION_MARKER};
use crate::worker::DRIVER_PID_VARIABLE;
use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, BufWriter};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::process::{ChildStdin, ChildStdout, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lines of a mode's stderr a crash report keeps.
const TAIL_LINES: usize = 20;
/// Characters of one stderr line a crash report keeps.
const TAIL_LINE_CHARS: usize = 500;

/// What reading the next frame gave.
pub enum Received {
    Message(Response),
    /// The worker closed its end (it died) or sent something that is not a frame.
    Gone(String),
    TimedOut,
}

/// How a worker process ended.
#[derive(Clone, Debug)]
pub struct Exit {
    /// "SIGSEGV", "exit status 3", ...
    pub cause: String,
    /// Peak resident memory in bytes (`ru_maxrss`).
    pub peak_rss: u64,
    /// What the worker wrote to stderr since its last mode started.
    pub stderr: Vec<String>,
}

pub struct WorkerProcess {
    pub pid: u32,
    /// Bytes the request pipe holds: a request this much smaller is written without waiting
    /// for the worker to read (see `Slot::send_ahead`).
    pub pipe_capacity: usize,
    /// Whether a job is queued behind the running one (see `nap`), set by the slot.
    pub queued: Arc<Queued>,
    stdin: BufWriter<ChildStdin>,
    frames: Receiver<std::io::Result<Option<Response>>>,
    tail: Arc<Mutex<VecDeque<String>>>,
    stderr_done: Receiver<()>,
    /// The kernel's count of processes it killed for memory when this one started (see
    /// `out_of_memory`).
    oom_kills_at_start: Option<u64>,
    /// Whether the driver sent the SIGKILL (a time-out), so that it is not taken for the
    /// kernel's.
    killed: std::sync::atomic::AtomicBool,
}

/// How long NumPy's OpenBLAS keeps an idle helper thread spinning before it sleeps: 2^n
/// cycles. Its default, n = 28, is about a tenth of a second of a core after every call BLAS
/// split across threads, taken from the other worker or the driver; measured in a `--jobs 1`
/// run, that spinning was 1.5% of all samples. At the least, 4, a helper sleeps at once and is
/// woken for the next call. The number of threads, and so every result, stays as it was. A
/// value the user set is kept.
const BLAS_THREAD_TIMEOUT: &str = "OPENBLAS_THREAD_TIMEOUT";
const BLAS_THREAD_TIMEOUT_EXPONENT: &str = "4";

impl WorkerProcess {
    /// Starts `tfdiff worker` on the environment; its stderr goes to `log`.
    pub fn spawn(
        env_dir: &Path,
        log: Arc<Mutex<WorkerLog>>,
        case_output: Arc<Mutex<CaseOutput>>,
    ) -> Result<WorkerProcess> {
        let mut command = crate::own_binary::own_binary()?;
        command
            .arg("worker")
            .arg("--python-env")
            .arg(env_dir)
            .env(DRIVER_PID_VARIABLE, std::process::id().to_string())
            .env("PYTHONUNBUFFERED", "1");
        if std::env::var_os(BLAS_THREAD_TIMEOUT).is_none() {
            command.env(BLAS_THREAD_TIMEOUT, BLAS_THREAD_TIMEOUT_EXPONENT);
        }
        let (mut doorbell, doorbell_end) =
            Doorbell::attach(&mut command).context("making a worker's doorbell")?;
        let oom_kills_at_start = oom_kills();
        // A process group of its own, led by the worker: what a case starts (a shell-out, a
        // helper server) is in it and is killed with the worker (`finish`) instead of outliving
        // the run — holding the worker's stderr open, or sleeping on after a time-out. A
        // terminal's Ctrl-C no longer reaches the group, which workers ignore anyway.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting a worker process")?;
        // Only the worker holds the ringing end: when it exits, the doorbell reads as closed.
        drop(doorbell_end);
        let pid = child.id();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let stdin = child.stdin.take().expect("stdin is piped");
        let pipe_capacity = enlarge_pipe(&stdin);
        // A worker's outputs (all of an input's modes, often) fit in its pipe: it goes on to
        // the next mode instead of waiting for the driver to read.
        enlarge_pipe(&stdout);
        // And a case that prints a lot does not wait for the log reader's nap (see `nap`).
        enlarge_pipe(&stderr);
        let stdin = BufWriter::with_capacity(1 << 16, stdin);
        // The child is reaped with wait4 (`finish`), not through `child`.
        drop(child);

        let queued = Arc::new(Queued::default());
        let (frame_sender, frames) = crossbeam_channel::unbounded();
        // The reader allocates the outputs' buffers: out of memory there names the slot's input.
        let note = crate::oom::current_note();
        std::thread::Builder::new()
            .name(format!("worker-{pid}-out"))
            .spawn(move || {
                crate::oom::use_note(note);
                read_frames(stdout, &mut doorbell, pid, &frame_sender);
            })?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (done_sender, stderr_done) = crossbeam_channel::bounded(1);
        let thread_tail = Arc::clone(&tail);
        let stderr_queued = Arc::clone(&queued);
        std::thread::Builder::new()
            .name(format!("worker-{pid}-err"))
            .spawn(move || {
                let stderr = Stderr {
                    fd: stderr.as_raw_fd(),
                    pipe: stderr,
                    queued: &stderr_queued,
                };
                read_stderr(stderr, &thread_tail, &log, &case_output, pid);
                let _ = done_sender.send(());
            })?;
        Ok(WorkerProcess {
            pid,
            pipe_capacity,
            queued,
            stdin,
            frames,
            tail,
            stderr_done,
            oom_kills_at_start,
            killed: Default::default(),
        })
    }

    pub fn send(&mut self, request: &Request) -> std::io::Result<()> {
        write_frame(&mut self.stdin, request)
    }

    /// The next frame, waiting at most `timeout` (forever with None).
    pub fn receive(&self, timeout: Option<Duration>) -> Received {
        let frame = match timeout {
            Some(timeout) => match self.frames.recv_timeout(timeout) {
                Ok(frame) => frame,
                Err(RecvTimeoutError::Timeout) => return Received::TimedOut,
                Err(RecvTimeoutError::Disconnected) => return Received::Gone("closed".into()),
            },
            None => match self.frames.recv() {
                Ok(frame) => frame,
                Err(_) => return Received::Gone("closed".into()),
            },
        };
        match frame {
            Ok(Some(message)) => Received::Message(message),
            Ok(None) => Received::Gone("closed its output".into()),
            Err(error) => Received::Gone(format!("broke the protocol: {error}")),
        }
    }

    /// Whether the process has not exited yet (it may be a zombie waiting for `finish`).
    pub fn is_alive(&self) -> bool {
        child_alive(self.pid)
    }

    pub fn kill(&self) {
        self.killed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the pid is our unreaped child, so it cannot have been reused.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGKILL);
        }
    }

    /// Waits up to `grace` for the process to exit, kills it after that, reaps it and returns
    /// how it ended, with the stderr lines of the mode it was running.
    pub fn finish(self, grace: Duration) -> Exit {
        let WorkerProcess {
            pid,
            stdin,
            tail,
            stderr_done,
            oom_kills_at_start,
            killed,
            ..
        } = self;
        let mut killed = killed.into_inner();
        // A worker waiting for its next request reads the end of its input and exits.
        drop(stdin);
        let deadline = Instant::now() + grace;
        let mut state = child_state(pid);
        while state == ChildState::Running {
            if Instant::now() >= deadline {
                killed = true;
                // SAFETY: the pid is our unreaped child, so it cannot have been reused.
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
            state = child_state(pid);
        }
        if state != ChildState::Reaped {
            kill_group(pid);
        }
        let (status, usage) = wait4(pid, true).expect("a blocking wait4 returns");
        // The process and its group are gone, so its stderr pipe has closed unless something
        // that left the group still holds it: wait for the reader a little, not forever.
        let _ = stderr_done.recv_timeout(Duration::from_secs(2));
        let stderr = tail.lock().expect("tail lock").iter().cloned().collect();
        let peak_rss = (usage.ru_maxrss.max(0) as u64) * 1024;
        let out_of_memory = !killed && out_of_memory(status, oom_kills_at_start, oom_kills());
        Exit {
            cause: describe_exit(status, out_of_memory.then_some(peak_rss)),
            peak_rss,
            stderr,
        }
    }
}

/// Whether the child `pid` has not exited yet (it may be a zombie nobody reaped).
pub(super) fn child_alive(pid: u32) -> bool {
    child_state(pid) == ChildState::Running
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChildState {
    Running,
    /// Exited, a zombie until reaped: its pid, and so its process group's id, is still ours.
    Exited,
    /// Reaped already, or not our child: its pid may name another process by now.
    Reaped,
}

fn child_state(pid: u32) -> ChildState {
    // SAFETY: waitid with WNOWAIT only inspects the child; nothing is reaped.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let result = libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        match (result, info.si_pid()) {
            (0, 0) => ChildState::Running,
            (0, _) => ChildState::Exited,
            _ => ChildState::Reaped,
        }
    }
}

/// SIGKILL to every process left in the worker's process group (see `spawn`). Called while the
/// worker is unreaped, so the group's id — its pid — cannot have been given to anything else.
fn kill_group(pid: u32) {
    // SAFETY: killpg with a group id this process holds; ESRCH (nothing left) is fine.
    unsafe {
        libc::killpg(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// Asks for a 1 MiB pipe (best effort) and returns what it holds.
fn enlarge_pipe(pipe: &impl std::os::fd::AsRawFd) -> usize {
    // SAFETY: fcntl on a pipe this process owns; failures leave it as it was.
    unsafe {
        libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
        libc::fcntl(pipe.as_raw_fd(), libc::F_GETPIPE_SZ).max(0) as usize
    }
}

/// Reaps `pid`; None while it runs (unless `block`).
fn wait4(pid: u32, block: bool) -> Option<(libc::c_int, libc::rusage)> {
    let options = if block { 0 } else { libc::WNOHANG };
    // SAFETY: wait4 writes the status and the rusage this function owns.
    unsafe {
        let mut status = 0;
        let mut usage: libc::rusage = std::mem::zeroed();
        loop {
            let result = libc::wait4(pid as libc::pid_t, &mut status, options, &mut usage);
            if result == pid as libc::pid_t {
                return Some((status, usage));
            }
            if result == 0 {
                return None;
            }
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EINTR) {
                // ECHILD: already reaped; nothing more to learn.
                return Some((0, usage));
            }
        }
    }
}

/// "SIGSEGV" or "exit status N"; a SIGKILL from the kernel's OOM killer says so, with the
/// worker's peak resident memory (`oom_peak_rss`).
fn describe_exit(status: libc::c_int, oom_peak_rss: Option<u64>) -> String {
    if !libc::WIFSIGNALED(status) {
        return format!("exit status {}", libc::WEXITSTATUS(status));
    }
    let signal = signal_name(libc::WTERMSIG(status));
    match oom_peak_rss {
        Some(peak) => format!(
            "{signal} (out of memory: the kernel's OOM killer; {:.1} GB resident at the most)",
            peak as f64 / 1e9
        ),
        None => signal,
    }
}

/// Whether a worker that ended with `status`, and that the driver did not kill, was killed by
/// the kernel for memory: a SIGKILL while the kernel's count of such kills rose. The count is
/// the machine's (`/proc/vmstat`, cgroup limits included), so another process killed for memory
/// at the same moment could be taken for it; a SIGKILL from a person is not.
fn out_of_memory(status: libc::c_int, before: Option<u64>, after: Option<u64>) -> bool {
    libc::WIFSIGNALED(status)
        && libc::WTERMSIG(status) == libc::SIGKILL
        && matches!((before, after), (Some(before), Some(after)) if after > before)
}

/// The kernel's count of processes it has killed for memory (`oom_kill` in `/proc/vmstat`,
/// Linux 4.13 and later); None where it does not say.
fn oom_kills() -> Option<u64> {
    let vmstat = std::fs::read_to_string("/proc/vmstat").ok()?;
    vmstat
        .lines()
        .find_map(|line| line.strip_prefix("oom_kill "))?
        .trim()
        .parse()
        .ok()
}

pub fn signal_name(signal: libc::c_int) -> String {
    let name = match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGSYS => "SIGSYS",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGHUP => "SIGHUP",
        libc::SIGQUIT => "SIGQUIT",
        _ => return format!("signal {signal}"),
    };
    name.to_string()
}

/// Passes each frame the worker `pid` writes to `frames`, reading when its doorbell rings (see
/// `doorbell`), until the pipe ends or breaks (passed on too) or nobody takes frames any more.
fn read_frames(
    stdout: ChildStdout,
    doorbell: &mut Doorbell,
    pid: u32,
    frames: &Sender<std::io::Result<Option<Response>>>,
) {
    let fd = stdout.as_raw_fd();
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    loop {
        if reader.buffer().is_empty() && pipe_pending(fd) == 0 {
            loop {
                match doorbell.wait(SAFETY_POLL) {
                    Bell::Rang | Bell::Closed => break,
                    Bell::Silent if pipe_pending(fd) > 0 || !child_alive(pid) => break,
                    Bell::Silent => {}
                }
            }
        }
        let frame = read_response(&mut reader);
        let end = !matches!(frame, Ok(Some(_)));
        if frames.send(frame).is_err() || end {
            return;
        }
    }
}

/// A worker's stderr pipe, read by a thread that naps between lines while the worker is busy.
struct Stderr<'a, R> {
    pipe: R,
    fd: RawFd,
    queued: &'a Queued,
}

/// Copies the worker's stderr into its log and keeps the lines written since the last mode
/// started, cleaned of log timestamps so the same crash reads the same on every run.
fn read_stderr(
    stderr: Stderr<'_, impl std::io::Read>,
    tail: &Mutex<VecDeque<String>>,
    log: &Mutex<WorkerLog>,
    case_output: &Mutex<CaseOutput>,
    pid: u32,
) {
    // The case whose evaluation the worker is in: its lines are that case's output.
    let mut case: Option<String> = None;
    let Stderr { pipe, fd, queued } = stderr;
    let mut reader = BufReader::new(pipe);
    let mut bytes = Vec::new();
    log.lock()
        .expect("log lock")
        .line(&format!("=== tfdiff worker pid {pid} started ==="));
    while matches!(reader.read_until(b'\n', &mut bytes), Ok(n) if n > 0) {
        let line = String::from_utf8_lossy(&bytes);
        let line = line.trim_end_matches(['\n', '\r']);
        if let Some(marked) = line.strip_prefix(EVALUATION_MARKER) {
            tail.lock().expect("tail lock").clear();
            case = Some(marked.trim().to_string());
        } else if !line.trim().is_empty() {
            log.lock().expect("log lock").line(line);
            if let Some(case) = case.as_deref().filter(|_| !from_the_xla_cache(line)) {
                case_output
                    .lock()
                    .expect("case output lock")
                    .line(case, line);
            }
            let mut tail = tail.lock().expect("tail lock");
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(clean_line(line));
        }
        queued.wait_while_idle(LOG_NAP, bytes.len(), reader.buffer().len(), fd, pid);
        bytes.clear();
    }
}

/// Whether a line is TensorFlow logging about loading a program from tfdiff's XLA cache (it
/// first tries the entry as text, and it checks the CPU it was compiled for, and says so as
/// errors): tfdiff's doing, not the case's output.
fn from_the_xla_cache(line: &str) -> bool {
    line.contains("Error parsing text-format tensorflow.XlaSerializedCacheEntry")
        || line.contains("Loading XLA:CPU AOT result")
}

/// A stderr line without the timestamp (and thread id) that TensorFlow's and absl's logging
/// put in front: `2026-11-29 01:22:12.345678: F tensorflow/...] msg` and
/// `F0000 00:00:1732841234.123456   12345 file.cc:45] msg` become `F tensorflow/...] msg` and
/// `F file.cc:45] msg`. Cut to `TAIL_LINE_CHARS`.
pub fn clean_line(line: &str) -> String {
    let bytes = line.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        range
            .clone()
            .all(|i| bytes.get(i).is_some_and(u8::is_ascii_digit))
    };
    let mut cleaned = line;
    if digits(0..4) && bytes.get(4) == Some(&b'-') && bytes.get(10) == Some(&b' ') {
        if let Some(end) = line.get(11..).and_then(|rest| rest.find(": ")) {
            cleaned = &line[11 + end + 2..];
        }
    } else if bytes.first().is_some_and(|c| b"IWEF".contains(c))
        && digits(1..5)
        && bytes.get(5) == Some(&b' ')
    {
        // Severity, date, time, thread id, then the location.
        let mut fields = line[6..].split_whitespace();
        let (time, thread) = (fields.next(), fields.next());
        if time.is_some() && thread.is_some_and(|t| t.bytes().all(|b| b.is_ascii_digit())) {
            let rest = line[6..]
                .trim_start()
                .split_once(char::is_whitespace)
                .map(|(_, rest)| rest.trim_start())
                .and_then(|rest| rest.split_once(char::is_whitespace))
                .map(|(_, rest)| rest.trim_start())
                .unwrap_or("");
            return truncate(&format!("{} {rest}", &line[..1]));
        }
    }
    truncate(cleaned)
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(TAIL_LINE_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wait statuses as `wait4` gives them: killed by `signal`, or exited with `code`.
    const fn killed_by(signal: libc::c_int) -> libc::c_int {
        signal
    }
    const fn exited(code: libc::c_int) -> libc::c_int {
        code << 8
    }

    #[test]
    fn a_sigkill_while_the_kernel_killed_for_memory_is_named_out_of_memory() {
        let kill = killed_by(libc::SIGKILL);
        assert!(out_of_memory(kill, Some(3), Some(4)));
        assert!(
            !out_of_memory(kill, Some(3), Some(3)),
            "no kill for memory meanwhile"
        );
        assert!(
            !out_of_memory(kill, None, None),
            "a kernel that does not count"
        );
        assert!(!out_of_memory(killed_by(libc::SIGSEGV), Some(3), Some(4)));
        assert!(!out_of_memory(exited(137), Some(3), Some(4)));
        assert_eq!(
            describe_exit(kill, Some(23_100_000_000)),
            "SIGKILL (out of memory: the kernel's OOM killer; 23.1 GB resident at the most)"
        );
        assert_eq!(describe_exit(kill, None), "SIGKILL");
        assert_eq!(describe_exit(exited(3), None), "exit status 3");
        // This kernel's count is read as a number, where it has one.
        if std::fs::read_to_string("/proc/vmstat").is_ok_and(|v| v.contains("\noom_kill ")) {
            assert!(oom_kills().is_some());
        }
    }

    #[test]
    fn log_timestamps_are_removed_so_a_crash_reads_the_same_every_run() {
        assert_eq!(
            clean_line(
                "2026-11-29 01:22:12.345678: F tensorflow/core/framework/tensor_shape.cc:45] \
                 Check failed: size >= 0"
            ),
            "F tensorflow/core/framework/tensor_shape.cc:45] Check failed: size >= 0"
        );
        assert_eq!(
            clean_line("F0000 00:00:1795915400.282168    3234 port.cc:153] Check failed: planted"),
            "F port.cc:153] Check failed: planted"
        );
        assert_eq!(clean_line("Fatal Python error"), "Fatal Python error");
        assert_eq!(clean_line("plain text"), "plain text");
        assert!(clean_line(&"x".repeat(2000)).len() < 600);
    }

    #[test]
    fn signals_have_their_names() {
        assert_eq!(signal_name(libc::SIGSEGV), "SIGSEGV");
        assert_eq!(signal_name(libc::SIGABRT), "SIGABRT");
        assert_eq!(signal_name(64), "signal 64");
    }
}
