//! tfdiff: differential testing of image normalizations across NumPy, TensorFlow eager,
//! TensorFlow graph and XLA — the library the `tfdiff` binary is a thin command line over.
//!
//! The `tfdiff` process is the driver: it generates inputs (`generate`), compares (`compare`),
//! shrinks (`shrink`), judges (`baseline`) and reports (`report`, `merge`, `diff`), all from
//! `run`. It never evaluates a case itself: worker processes do (`worker`), each this same
//! binary started again, driven over pipes (`protocol`) by the driver's pool (`pool`), so a
//! crash or a hang costs one worker, not the run. `commands` holds the small subcommands.

pub mod baseline;
pub mod cases;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod diff;
pub mod doorbell;
pub mod evaluate;
pub mod freed_memory;
pub mod generate;
pub mod histogram;
pub mod inputs;
pub mod interleave;
pub mod merge;
pub mod mode;
pub mod npy;
pub mod oom;
pub mod options;
pub mod outcome;
pub mod own_binary;
pub mod pool;
pub mod probe;
pub mod progress;
pub mod protocol;
pub mod python;
pub mod python_env;
pub mod regressions;
pub mod report;
pub mod run;
pub mod run_on_disk;
pub mod shrink;
pub mod signals;
pub mod signature;
pub mod timeline;
pub mod worker;
pub mod xla_cache;

/// The exit status of usage and environment errors.
pub const EXIT_USAGE: u8 = 2;
