//! SIGINT (Ctrl-C) and SIGTERM (what `timeout` and CI cancellation send): both ask the run to
//! stop between inputs and write every report; the exit status says which (130 or 143). The
//! driver checks `stop_requested` between inputs and between shrinking steps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;

struct Flags {
    interrupt: Arc<AtomicBool>,
    terminate: Arc<AtomicBool>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// The signal that stopped a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    Interrupt,
    Terminate,
}

impl StopSignal {
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }

    pub fn from_name(name: &str) -> Option<StopSignal> {
        [StopSignal::Interrupt, StopSignal::Terminate]
            .into_iter()
            .find(|signal| signal.name() == name)
    }

    /// 128 + the signal number, as a shell reports a process the signal ended.
    pub fn exit_code(self) -> u8 {
        match self {
            StopSignal::Interrupt => 130,
            StopSignal::Terminate => 143,
        }
    }
}

/// Installs the handlers (once); from then on the signals only set flags.
pub fn install() {
    FLAGS.get_or_init(|| {
        let flags = Flags {
            interrupt: Arc::new(AtomicBool::new(false)),
            terminate: Arc::new(AtomicBool::new(false)),
        };
        let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, flags.interrupt.clone());
        let _ = signal_hook::flag::register(signal_hook::consts::SIGTERM, flags.terminate.clone());
        flags
    });
}

/// The signal that asked the run to stop, if one did (SIGTERM first: it is the firmer ask).
pub fn stop_requested() -> Option<StopSignal> {
    let flags = FLAGS.get()?;
    if flags.terminate.load(Ordering::SeqCst) {
        Some(StopSignal::Terminate)
    } else if flags.interrupt.load(Ordering::SeqCst) {
        Some(StopSignal::Interrupt)
    } else {
        None
    }
}
