//! SIGINT (Ctrl-C), SIGTERM (what `timeout` and CI cancellation send) and SIGHUP (a closed
//! terminal or SSH session): each asks the run to stop between inputs and write every report;
//! the exit status says which (130, 143, 129). The driver checks `stop_requested` between
//! inputs and between shrinking steps. A second of any of them ends the process at once, with
//! the reports as they were last written (`run.json` then says the run is still "running",
//! i.e. incomplete): the way out when stopping between inputs takes too long.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;

struct Flags {
    interrupt: Arc<AtomicBool>,
    terminate: Arc<AtomicBool>,
    hangup: Arc<AtomicBool>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// The signal that stopped a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    Interrupt,
    Terminate,
    Hangup,
}

impl StopSignal {
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Hangup => "SIGHUP",
        }
    }

    pub fn from_name(name: &str) -> Option<StopSignal> {
        StopSignal::ALL
            .into_iter()
            .find(|signal| signal.name() == name)
    }

    const ALL: [StopSignal; 3] = [
        StopSignal::Interrupt,
        StopSignal::Terminate,
        StopSignal::Hangup,
    ];

    fn number(self) -> i32 {
        match self {
            StopSignal::Interrupt => signal_hook::consts::SIGINT,
            StopSignal::Terminate => signal_hook::consts::SIGTERM,
            StopSignal::Hangup => signal_hook::consts::SIGHUP,
        }
    }

    /// 128 + the signal number, as a shell reports a process the signal ended.
    pub fn exit_code(self) -> u8 {
        (128 + self.number()) as u8
    }
}

/// Installs the handlers (once); from then on the first signal only sets flags, and a second
/// ends the process with its exit status.
pub fn install() {
    FLAGS.get_or_init(|| {
        let flags = Flags {
            interrupt: Arc::new(AtomicBool::new(false)),
            terminate: Arc::new(AtomicBool::new(false)),
            hangup: Arc::new(AtomicBool::new(false)),
        };
        let stopping = Arc::new(AtomicBool::new(false));
        for signal in StopSignal::ALL {
            let flag = match signal {
                StopSignal::Interrupt => &flags.interrupt,
                StopSignal::Terminate => &flags.terminate,
                StopSignal::Hangup => &flags.hangup,
            };
            let number = signal.number();
            // Handlers run in the order registered: the exit checks `stopping` before this
            // signal sets it, so only a second signal exits.
            let code = i32::from(signal.exit_code());
            let _ =
                signal_hook::flag::register_conditional_shutdown(number, code, stopping.clone());
            let _ = signal_hook::flag::register(number, flag.clone());
            let _ = signal_hook::flag::register(number, stopping.clone());
        }
        flags
    });
}

/// The signal that asked the run to stop, if one did (SIGTERM first: it is the firmer ask).
pub fn stop_requested() -> Option<StopSignal> {
    let flags = FLAGS.get()?;
    [
        (&flags.terminate, StopSignal::Terminate),
        (&flags.hangup, StopSignal::Hangup),
        (&flags.interrupt, StopSignal::Interrupt),
    ]
    .into_iter()
    .find(|(flag, _)| flag.load(Ordering::SeqCst))
    .map(|(_, signal)| signal)
}
