//! The seam around the thing under test: evaluating one input of one case in the selected modes.
//! An evaluator does no I/O of reports; it only returns outcomes. The driver's evaluator is the
//! worker pool (`pool`); tests use evaluators of their own.
//!
//! Evaluation is submitted and waited for separately, so the driver can keep every worker busy
//! while it takes results in the order that makes reports independent of `--jobs`. `Memo` wraps
//! an evaluator to skip what is already known (used while shrinking).

use crate::generate::{Image, Layout};
use crate::mode::Mode;
use crate::outcome::Outcome;
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};

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

    /// What each of the case's modes built, per mode — traces (graph, xla, v1, tfdata),
    /// conversions (tflite), exports (saved_model) —: the most any one worker process built.
    fn trace_counts(&self, case: &str) -> BTreeMap<String, u64>;

    /// Whether the XNNPACK delegate ran part of the case's TFLite models (None: no TFLite
    /// model ran, or the interpreter cannot say).
    fn tflite_xnnpack(&self, _case: &str) -> Option<bool> {
        None
    }

    /// Waits at most `timeout` for the ticket's evaluation; whether it is ready.
    fn ready_within(&self, ticket: &Self::Ticket, _timeout: std::time::Duration) -> bool {
        self.is_ready(ticket)
    }

    /// What the case changed of process-wide state (np.seterr, print options, TensorFlow's
    /// thread pools, the float mode) at
    /// import or in a call, in any worker; tfdiff put it back before every call.
    fn state_changes(&self, _case: &str) -> BTreeSet<String> {
        BTreeSet::new()
    }

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

/// Images up to this many elements have their outcomes remembered by `Memo`.
const MEMO_ELEMENTS: usize = 1 << 16;
/// Outcomes a `Memo` keeps before it starts over.
const MEMO_ENTRIES: usize = 50_000;

type MemoKey = (String, Layout, Vec<usize>, Vec<u8>, Mode);

/// Outcomes already known, by case, image, layout and mode.
#[derive(Default)]
pub struct OutcomeCache {
    entries: std::collections::HashMap<MemoKey, Outcome>,
}

impl OutcomeCache {
    /// Drops what is known of `case` (its last input is taken).
    pub fn forget(&mut self, case: &str) {
        self.entries.retain(|key, _| key.0 != case);
    }
}

/// An evaluator that asks `inner` only for the modes whose outcome on that image is not known
/// yet. Shrinking the signatures of one input asks for the same candidates in the same modes
/// again — numpy–eager, numpy–graph and numpy–xla all run numpy — and every repeated crash or
/// hang would cost a worker restart or a time-out. Evaluation is deterministic (the reports rely
/// on it), so a known outcome is the outcome.
pub struct Memo<'e, E: Evaluator> {
    pub inner: &'e mut E,
    pub cache: &'e mut OutcomeCache,
}

pub struct MemoTicket<T> {
    known: Vec<Option<Outcome>>,
    /// The keys of the modes asked of `inner`, in order; None when the image is too large.
    keys: Vec<Option<MemoKey>>,
    ticket: Option<T>,
}

impl<E: Evaluator> Evaluator for Memo<'_, E> {
    type Ticket = MemoTicket<E::Ticket>;

    fn parallelism(&self) -> usize {
        self.inner.parallelism()
    }

    fn submit(&mut self, job: Job<'_>) -> Result<Self::Ticket> {
        let small = job.image.len() <= MEMO_ELEMENTS;
        let data: Vec<u8> = if small {
            job.image.iter().copied().collect()
        } else {
            Vec::new()
        };
        let key = |mode: Mode| {
            small.then(|| {
                let shape = job.image.shape().to_vec();
                (job.case.to_string(), job.layout, shape, data.clone(), mode)
            })
        };
        let mut known = Vec::with_capacity(job.modes.len());
        let mut missing = Vec::new();
        let mut keys = Vec::new();
        for &mode in job.modes {
            let key = key(mode);
            let cached = key
                .as_ref()
                .and_then(|k| self.cache.entries.get(k))
                .cloned();
            if cached.is_none() {
                missing.push(mode);
                keys.push(key);
            }
            known.push(cached);
        }
        let ticket = if missing.is_empty() {
            None
        } else {
            Some(self.inner.submit(Job {
                modes: &missing,
                ..job
            })?)
        };
        Ok(MemoTicket {
            known,
            keys,
            ticket,
        })
    }

    fn wait(&mut self, ticket: Self::Ticket) -> Result<Evaluation> {
        let MemoTicket {
            known,
            keys,
            ticket,
        } = ticket;
        let (mut fresh, restart_seconds) = match ticket {
            Some(ticket) => {
                let evaluation = self.inner.wait(ticket)?;
                (evaluation.outcomes.into_iter(), evaluation.restart_seconds)
            }
            None => (Vec::new().into_iter(), 0.0),
        };
        if self.cache.entries.len() > MEMO_ENTRIES {
            self.cache.entries.clear();
        }
        let mut keys = keys.into_iter();
        let outcomes = known
            .into_iter()
            .map(|outcome| match outcome {
                Some(outcome) => Ok(outcome),
                None => {
                    let outcome = fresh
                        .next()
                        .ok_or_else(|| anyhow::anyhow!("an outcome short"))?;
                    if let Some(key) = keys.next().flatten() {
                        self.cache.entries.insert(key, outcome.clone());
                    }
                    Ok(outcome)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Evaluation {
            outcomes,
            restart_seconds,
        })
    }

    fn is_ready(&self, ticket: &Self::Ticket) -> bool {
        ticket
            .ticket
            .as_ref()
            .is_none_or(|ticket| self.inner.is_ready(ticket))
    }

    fn trace_counts(&self, case: &str) -> BTreeMap<String, u64> {
        self.inner.trace_counts(case)
    }

    fn state_changes(&self, case: &str) -> BTreeSet<String> {
        self.inner.state_changes(case)
    }

    fn tflite_xnnpack(&self, case: &str) -> Option<bool> {
        self.inner.tflite_xnnpack(case)
    }
}
