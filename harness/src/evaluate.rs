//! The seam around the thing under test: evaluating one input of one case in the selected modes.
//! An evaluator does no I/O of reports; it only returns outcomes. The driver's evaluator is the
//! worker pool (`pool`); tests use evaluators of their own.
//!
//! Evaluation is submitted and waited for separately, so the driver can keep every worker busy
//! while it takes results in the order that makes reports independent of `--jobs`.

use crate::generate::{Image, Layout};
use crate::mode::Mode;
use crate::outcome::Outcome;
use anyhow::Result;
use std::collections::BTreeMap;

/// One input of one case, to run in `modes`.
#[derive(Clone, Copy)]
pub struct Job<'a> {
    pub case: &'a str,
    pub image: &'a Image,
    pub layout: Layout,
    pub modes: &'a [Mode],
}

/// The outcomes of a job, one per mode in order. A case that raises, returns the wrong thing,
/// crashes its worker or hangs is an outcome, not an `Err`: `Err` means the evaluator itself
/// broke.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub outcomes: Vec<Outcome>,
    /// Seconds spent starting replacement workers for this job (not the case's own time).
    pub restart_seconds: f64,
}

pub trait Evaluator {
    /// Waits for a submitted job.
    type Ticket;

    /// How many jobs run at once.
    fn parallelism(&self) -> usize;

    fn submit(&mut self, job: Job<'_>) -> Result<Self::Ticket>;

    fn wait(&mut self, ticket: Self::Ticket) -> Result<Evaluation>;

    /// Whether `wait` would return at once.
    fn is_ready(&self, ticket: &Self::Ticket) -> bool;

    /// How many times the case's TensorFlow function was traced, per mode (graph, xla, v1): the
    /// most any one worker process traced it.
    fn trace_counts(&self, case: &str) -> BTreeMap<String, u64>;

    /// Evaluates the jobs side by side; the results in the jobs' order.
    fn evaluate_all(&mut self, jobs: &[Job<'_>]) -> Result<Vec<Evaluation>> {
        let tickets = jobs
            .iter()
            .map(|job| self.submit(*job))
            .collect::<Result<Vec<_>>>()?;
        tickets
            .into_iter()
            .map(|ticket| self.wait(ticket))
            .collect()
    }
}
