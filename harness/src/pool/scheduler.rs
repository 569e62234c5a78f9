//! Which slot evaluates which input. Each worker process traces a case's functions and has XLA
//! compile one program per input shape, in that process only; an input whose (case, shape) a
//! worker has not seen costs that worker a compile another already paid. So every (case, shape)
//! gets a home slot, given round-robin as they first appear, and goes to its home's queue. A slot
//! whose queue is empty takes another queue's oldest input when it has run that (case, shape)
//! before, or when that queue has fallen `STEAL_BACKLOG` inputs behind; otherwise it waits.
//! Measured: in a default run a process spends about 3.7 s tracing and compiling against 2 s
//! evaluating, so stealing freely (which compiles every shape in every worker) made two workers
//! no faster than one.
//! Which slot ran an input changes nothing in the reports: the driver takes results in input
//! order, and evaluation is deterministic.

use super::{Control, JobRequest};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};

/// What a slot is to do next.
pub enum Work {
    Job(JobRequest),
    Control(Control),
    /// The pool is shutting down.
    Closed,
}

/// How far behind another slot's queue must be before an idle slot takes an input it has never
/// run (and pays that compile).
const STEAL_BACKLOG: usize = 4;

type Key = (String, Vec<usize>);

pub struct Scheduler {
    queues: Mutex<Queues>,
    wake: Condvar,
}

struct Queues {
    jobs: Vec<VecDeque<JobRequest>>,
    controls: Vec<VecDeque<Control>>,
    homes: HashMap<Key, usize>,
    /// The (case, shape)s each slot has run.
    seen: Vec<HashSet<Key>>,
    closed: bool,
}

fn key(job: &JobRequest) -> Key {
    (job.evaluate.case.clone(), job.evaluate.image.shape.clone())
}

impl Queues {
    /// The slot's own oldest job, else another slot's it may take.
    fn take_job(&mut self, slot: usize) -> Option<JobRequest> {
        let stealable = |other: usize| {
            self.jobs[other].front().is_some_and(|job| {
                self.jobs[other].len() >= STEAL_BACKLOG || self.seen[slot].contains(&key(job))
            })
        };
        let from = if self.jobs[slot].is_empty() {
            (0..self.jobs.len()).find(|&other| other != slot && stealable(other))?
        } else {
            slot
        };
        let job = self.jobs[from].pop_front()?;
        self.seen[slot].insert(key(&job));
        Some(job)
    }
}

impl Scheduler {
    pub fn new(slots: usize) -> Scheduler {
        Scheduler {
            queues: Mutex::new(Queues {
                jobs: (0..slots).map(|_| VecDeque::new()).collect(),
                controls: (0..slots).map(|_| VecDeque::new()).collect(),
                homes: HashMap::new(),
                seen: (0..slots).map(|_| HashSet::new()).collect(),
                closed: false,
            }),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().expect("scheduler lock")
    }

    /// Queues a job at its home slot; false once the pool is closed.
    pub fn submit(&self, job: JobRequest) -> bool {
        let mut queues = self.lock();
        if queues.closed {
            return false;
        }
        let next = queues.homes.len() % queues.jobs.len();
        let home = *queues.homes.entry(key(&job)).or_insert(next);
        queues.jobs[home].push_back(job);
        drop(queues);
        self.wake.notify_all();
        true
    }

    /// Queues a request for one slot; false once the pool is closed.
    pub fn control(&self, slot: usize, control: Control) -> bool {
        let mut queues = self.lock();
        if queues.closed {
            return false;
        }
        queues.controls[slot].push_back(control);
        drop(queues);
        self.wake.notify_all();
        true
    }

    /// The next work for `slot`: its own requests, its own jobs, another slot's oldest job it
    /// may take, or a wait for any of these.
    pub fn next(&self, slot: usize) -> Work {
        let mut queues = self.lock();
        loop {
            if let Some(control) = queues.controls[slot].pop_front() {
                return Work::Control(control);
            }
            if let Some(job) = queues.take_job(slot) {
                return Work::Job(job);
            }
            if queues.closed {
                return Work::Closed;
            }
            queues = self.wake.wait(queues).expect("scheduler lock");
        }
    }

    /// The job `next` would give now, if there is one and no request is waiting for `slot`.
    pub fn try_next_job(&self, slot: usize) -> Option<JobRequest> {
        let mut queues = self.lock();
        if !queues.controls[slot].is_empty() || queues.closed {
            return None;
        }
        queues.take_job(slot)
    }

    /// Drops every queued job and request (their waiters see the pool stopped) and tells the
    /// slots to finish.
    pub fn close(&self) {
        let mut queues = self.lock();
        queues.closed = true;
        queues.jobs.iter_mut().for_each(VecDeque::clear);
        queues.controls.iter_mut().for_each(VecDeque::clear);
        drop(queues);
        self.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::Layout;
    use crate::protocol::{Evaluate, WireImage};

    fn job(case: &str, side: usize) -> JobRequest {
        let image = crate::generate::Image::zeros(vec![side, side]);
        JobRequest {
            evaluate: Evaluate {
                case: case.into(),
                image: WireImage::new(&image),
                layout: Layout::Contiguous,
                modes: Vec::new(),
            },
            reply: crossbeam_channel::bounded(1).0,
        }
    }

    fn side(work: Work) -> usize {
        match work {
            Work::Job(job) => job.evaluate.image.shape[0],
            _ => panic!("a job"),
        }
    }

    #[test]
    fn each_case_and_shape_has_a_home_and_strangers_are_stolen_only_from_a_backlog() {
        let scheduler = Scheduler::new(2);
        // Shapes 1, 2, 3 get homes 0, 1, 0; a repeated shape goes home again.
        for size in [1, 2, 3, 1] {
            assert!(scheduler.submit(job("a", size)));
        }
        assert_eq!(side(scheduler.next(0)), 1);
        assert_eq!(side(scheduler.next(1)), 2);
        assert_eq!(side(scheduler.next(0)), 3);
        assert_eq!(side(scheduler.next(0)), 1);
        // Slot 1 has run shape 2 only: it takes another's input of that shape...
        scheduler.submit(job("a", 2));
        scheduler.submit(job("b", 9)); // home 1
        assert_eq!(side(scheduler.next(1)), 2);
        assert_eq!(side(scheduler.next(1)), 9);
        // ...and a shape it has never run only once the other queue is STEAL_BACKLOG behind.
        for _ in 0..STEAL_BACKLOG {
            scheduler.submit(job("a", 3)); // home 0
        }
        assert_eq!(side(scheduler.next(1)), 3);
        // A job is taken ahead only when no request waits for the slot.
        for _ in 1..STEAL_BACKLOG {
            assert_eq!(
                scheduler.try_next_job(0).unwrap().evaluate.image.shape[0],
                3
            );
        }
        scheduler.submit(job("a", 1)); // home 0
        assert!(
            scheduler.try_next_job(1).is_none(),
            "slot 1 never ran shape 1"
        );
        let (reply, _answer) = crossbeam_channel::bounded(1);
        scheduler.control(
            0,
            Control::ProbeStage {
                name: "x".into(),
                reply,
            },
        );
        assert!(scheduler.try_next_job(0).is_none());
        assert!(matches!(scheduler.next(0), Work::Control(_)));
        assert_eq!(
            scheduler.try_next_job(0).unwrap().evaluate.image.shape[0],
            1
        );
        assert!(scheduler.try_next_job(0).is_none());
        scheduler.close();
        assert!(matches!(scheduler.next(1), Work::Closed));
        assert!(!scheduler.submit(job("a", 1)));
    }
}
