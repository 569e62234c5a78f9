//! Which slot evaluates which input. Each worker process traces a case's functions once per
//! input rank (graph, XLA, tf.data, v1; TFLite converts and SavedModel exports once per rank)
//! and has XLA compile one program per input shape, in that process only; an input whose
//! (case, shape) a worker has not seen costs that worker work another already did. So every
//! (case, shape) gets a home slot as it first appears, and goes to its home's queue. The home is
//! the slot with the fewest homes, unless a slot that already runs the same case at the same
//! rank — else the same case at another rank — has at most `AFFINITY_SLACK` more: then that
//! one, so a rank's traces are not made in every worker (a graph trace and its first call cost
//! about 27 ms, 16 cases times 2 ranks in a default run). The driver sends as many cases'
//! inputs interleaved as there are workers (`interleave.rs`), so each case starts on a slot of
//! its own and stays there. A slot whose queue is empty takes another queue's oldest input of a
//! (case, shape) it has run before; or, from a queue `STEAL_BACKLOG` inputs behind, the oldest
//! of a (case, rank) it has run, else the oldest; otherwise it waits. No slot takes an input of
//! a (case, shape) whose first input another slot is still evaluating (`Queues::blocked`): it
//! would compile the same XLA program at the same time. Measured: in a default run
//! a process spends about 3.7 s tracing and compiling against 2 s evaluating, so stealing
//! freely (which compiles every shape in every worker) made two workers no faster than one; and
//! in a warm default run with `--jobs 2` the two workers ran 64 (case, rank)s and 406
//! (case, shape)s between them with homes given round-robin and only the queue's oldest
//! stolen, 54–55 and 348–356 this way with cases sent one after another, and 43 (case, rank)s
//! with them interleaved (32 and about 306 are distinct).
//! Which slot ran an input changes nothing in the reports: the driver takes each case's results
//! in its input order, and evaluation is deterministic.

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
/// How many homes more than the fewest a slot may have and still be given a new (case, shape)
/// because it runs that case at that rank already.
const AFFINITY_SLACK: usize = 2;

type Key = (String, Vec<usize>);

pub struct Scheduler {
    queues: Mutex<Queues>,
    wake: Condvar,
}

struct Queues {
    jobs: Vec<VecDeque<JobRequest>>,
    controls: Vec<VecDeque<Control>>,
    homes: HashMap<Key, usize>,
    /// How many (case, shape)s each slot is home to.
    home_counts: Vec<usize>,
    /// The slots home to some shape of each (case, rank).
    ranks: HashMap<(String, usize), Vec<usize>>,
    /// The slots home to some shape of each case.
    cases: HashMap<String, Vec<usize>>,
    /// The (case, shape)s each slot has run.
    seen: Vec<HashSet<Key>>,
    /// The (case, rank)s each slot has run.
    seen_ranks: Vec<HashSet<(String, usize)>>,
    /// The (case, shape)s whose first input is being evaluated, and by which slot (see
    /// `blocked`): at most two per slot, the running job and the one sent ahead.
    first_runs: Vec<(Key, usize)>,
    closed: bool,
}

fn key(job: &JobRequest) -> Key {
    (job.evaluate.case.clone(), job.evaluate.image.shape.clone())
}

/// A (case, rank), from a case and a shape.
fn rank_of(case: &str, shape: &[usize]) -> (String, usize) {
    (case.to_string(), shape.len())
}

fn rank_key(job: &JobRequest) -> (String, usize) {
    rank_of(&job.evaluate.case, &job.evaluate.image.shape)
}

impl Queues {
    /// The home of `key`, chosen now if it has none (see the module's doc).
    fn home(&mut self, key: Key) -> usize {
        if let Some(&home) = self.homes.get(&key) {
            return home;
        }
        let fewest = *self.home_counts.iter().min().expect("a slot");
        let least = self
            .home_counts
            .iter()
            .position(|&count| count == fewest)
            .expect("a slot");
        let within = |slots: &[usize]| {
            slots
                .iter()
                .copied()
                .filter(|&slot| self.home_counts[slot] <= fewest + AFFINITY_SLACK)
                .min_by_key(|&slot| self.home_counts[slot])
        };
        let rank = rank_of(&key.0, &key.1);
        let home = self
            .ranks
            .get(&rank)
            .and_then(|slots| within(slots))
            .or_else(|| self.cases.get(&key.0).and_then(|slots| within(slots)))
            .unwrap_or(least);
        for running in [
            self.ranks.entry(rank).or_default(),
            self.cases.entry(key.0.clone()).or_default(),
        ] {
            if !running.contains(&home) {
                running.push(home);
            }
        }
        self.home_counts[home] += 1;
        self.homes.insert(key, home);
        home
    }

    /// Whether `slot` must leave `job` for now: its (case, shape)'s first input is being
    /// evaluated by another slot. Until that one is done, XLA's program for the shape is not in
    /// the persistent cache, so taking it would compile the program a second time, at the same
    /// time (measured in cold default runs with `--jobs 2`: 4–6 programs compiled twice so,
    /// 0.8–1.2 s of the workers' 25 s); once it is done, another worker loads the program.
    fn blocked(&self, slot: usize, job: &JobRequest) -> bool {
        self.first_runs.iter().any(|((case, shape), by)| {
            *by != slot && *case == job.evaluate.case && *shape == job.evaluate.image.shape
        })
    }

    /// The slot's own oldest job it may take, else another slot's (`steal`).
    fn take_job(&mut self, slot: usize) -> Option<JobRequest> {
        let (from, position) = match self.jobs[slot]
            .iter()
            .position(|job| !self.blocked(slot, job))
        {
            Some(position) => (slot, position),
            None => self.steal(slot)?,
        };
        let mut job = self.jobs[from].remove(position)?;
        let key = key(&job);
        if !self.seen.iter().any(|seen| seen.contains(&key)) {
            self.first_runs.push((key.clone(), slot));
            job.first = true;
        }
        self.seen_ranks[slot].insert(rank_key(&job));
        self.seen[slot].insert(key);
        Some(job)
    }

    /// Which queued input of another slot an idle `slot` takes, as (queue, position): the
    /// oldest of a (case, shape) it has run, which costs it nothing new; else, from a queue
    /// `STEAL_BACKLOG` behind, the oldest of a (case, rank) it has run (costing an XLA program),
    /// else that queue's oldest (costing the rank's traces too).
    fn steal(&self, slot: usize) -> Option<(usize, usize)> {
        let find = |backlog: usize, wanted: &dyn Fn(&JobRequest) -> bool| {
            (0..self.jobs.len())
                .filter(|&other| other != slot && self.jobs[other].len() >= backlog)
                .find_map(|other| {
                    let position = self.jobs[other]
                        .iter()
                        .position(|job| wanted(job) && !self.blocked(slot, job))?;
                    Some((other, position))
                })
        };
        find(1, &|job| self.seen[slot].contains(&key(job)))
            .or_else(|| {
                find(STEAL_BACKLOG, &|job| {
                    self.seen_ranks[slot].contains(&rank_key(job))
                })
            })
            .or_else(|| find(STEAL_BACKLOG, &|_| true))
    }
}

impl Scheduler {
    pub fn new(slots: usize) -> Scheduler {
        Scheduler {
            queues: Mutex::new(Queues {
                jobs: (0..slots).map(|_| VecDeque::new()).collect(),
                controls: (0..slots).map(|_| VecDeque::new()).collect(),
                homes: HashMap::new(),
                home_counts: vec![0; slots],
                ranks: HashMap::new(),
                cases: HashMap::new(),
                seen: (0..slots).map(|_| HashSet::new()).collect(),
                seen_ranks: (0..slots).map(|_| HashSet::new()).collect(),
                first_runs: Vec::new(),
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
        let home = queues.home(key(&job));
        queues.jobs[home].push_back(job);
        drop(queues);
        self.wake.notify_all();
        true
    }

    /// Tells that `slot` has evaluated the first input of `case` at `shape` (its worker
    /// answered, or died on it): the others may now take its inputs.
    pub fn finished(&self, slot: usize, case: &str, shape: &[usize]) {
        let mut queues = self.lock();
        let before = queues.first_runs.len();
        queues
            .first_runs
            .retain(|((running, at), by)| !(*by == slot && running == case && at == shape));
        let released = queues.first_runs.len() < before;
        drop(queues);
        if released {
            self.wake.notify_all();
        }
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

    fn job(case: &str, shape: &[usize]) -> JobRequest {
        let image = crate::generate::Image::zeros(shape.to_vec());
        JobRequest {
            evaluate: Evaluate {
                case: case.into(),
                image: WireImage::new(&image),
                layout: Layout::Contiguous,
                modes: Vec::new(),
            },
            reply: crossbeam_channel::bounded(1).0,
            first: false,
        }
    }

    fn case_of(job: JobRequest) -> String {
        job.evaluate.case
    }

    fn job_of(work: Work) -> JobRequest {
        match work {
            Work::Job(job) => job,
            _ => panic!("a job"),
        }
    }

    /// `job`, evaluated by `slot`, which tells the scheduler if it was a first (as a slot does).
    fn done(scheduler: &Scheduler, slot: usize, job: JobRequest) -> JobRequest {
        if job.first {
            scheduler.finished(slot, &job.evaluate.case, &job.evaluate.image.shape);
        }
        job
    }

    #[test]
    fn each_case_and_shape_has_a_home_and_strangers_are_stolen_only_from_a_backlog() {
        let scheduler = Scheduler::new(2);
        // Cases a, b, c (one shape each) get homes 0, 1, 0; a repeated one goes home again.
        for case in ["a", "b", "c", "a"] {
            assert!(scheduler.submit(job(case, &[1, 1])));
        }
        assert_eq!(case_of(done(&scheduler, 0, job_of(scheduler.next(0)))), "a");
        assert_eq!(case_of(done(&scheduler, 1, job_of(scheduler.next(1)))), "b");
        assert_eq!(case_of(done(&scheduler, 0, job_of(scheduler.next(0)))), "c");
        assert_eq!(case_of(done(&scheduler, 0, job_of(scheduler.next(0)))), "a");
        // Slot 1 never ran c: it takes one of slot 0's only once that queue is STEAL_BACKLOG
        // behind...
        for _ in 0..STEAL_BACKLOG {
            scheduler.submit(job("c", &[1, 1]));
        }
        assert_eq!(case_of(done(&scheduler, 1, job_of(scheduler.next(1)))), "c");
        // ...and then, having run it, any of them, but not a, which it never ran.
        scheduler.submit(job("a", &[1, 1]));
        for _ in 1..STEAL_BACKLOG {
            assert_eq!(
                case_of(done(&scheduler, 1, scheduler.try_next_job(1).unwrap())),
                "c"
            );
        }
        assert!(scheduler.try_next_job(1).is_none(), "slot 1 never ran a");
        // A job is taken ahead only when no request waits for the slot.
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
            case_of(done(&scheduler, 0, scheduler.try_next_job(0).unwrap())),
            "a"
        );
        assert!(scheduler.try_next_job(0).is_none());
        scheduler.close();
        assert!(matches!(scheduler.next(1), Work::Closed));
        assert!(!scheduler.submit(job("a", &[1, 1])));
    }

    fn taken(job: Option<JobRequest>) -> Option<(String, Vec<usize>)> {
        job.map(|job| key(&job))
    }

    /// The slot's next job, if any, evaluated at once.
    fn evaluated(scheduler: &Scheduler, slot: usize) -> Option<(String, Vec<usize>)> {
        taken(
            scheduler
                .try_next_job(slot)
                .map(|job| done(scheduler, slot, job)),
        )
    }

    #[test]
    fn an_idle_slot_steals_what_it_has_run_before_what_it_has_not() {
        let scheduler = Scheduler::new(2);
        let c11 = || ("c".to_string(), vec![1, 1]);
        // Homes: a and c at [1, 1] on slot 0, b on slot 1; slot 1 runs b.
        for case in ["a", "b", "c"] {
            scheduler.submit(job(case, &[1, 1]));
        }
        done(&scheduler, 0, job_of(scheduler.next(0)));
        done(&scheduler, 0, job_of(scheduler.next(0)));
        done(&scheduler, 1, job_of(scheduler.next(1)));
        // Queued at slot 0 (c [2, 2] too: slot 0 runs c at rank 2 and is within the slack).
        for (case, shape) in [("c", &[1, 1][..]), ("a", &[1, 1]), ("a", &[1, 1])] {
            scheduler.submit(job(case, shape));
        }
        scheduler.submit(job("c", &[2, 2]));
        scheduler.submit(job("c", &[1, 1]));
        // Slot 0 is STEAL_BACKLOG behind and slot 1 has run none of these: the oldest.
        assert_eq!(evaluated(&scheduler, 1), Some(c11()));
        // Having run c [1, 1], it takes the other one past three older inputs...
        assert_eq!(evaluated(&scheduler, 1), Some(c11()));
        // ...but nothing new while slot 0 is fewer than STEAL_BACKLOG behind.
        assert_eq!(evaluated(&scheduler, 1), None);
        // When it is, a shape of a rank it has run (c [2, 2]) before the older strangers.
        scheduler.submit(job("a", &[1, 1]));
        let c22 = ("c".to_string(), vec![2, 2]);
        assert_eq!(evaluated(&scheduler, 1), Some(c22));
        assert_eq!(evaluated(&scheduler, 1), None);
        scheduler.submit(job("a", &[1, 1]));
        assert_eq!(evaluated(&scheduler, 1), Some(("a".into(), vec![1, 1])));
    }

    #[test]
    fn no_slot_steals_a_shape_whose_first_input_another_is_still_evaluating() {
        let scheduler = Scheduler::new(2);
        let c11 = || Some(("c".to_string(), vec![1, 1]));
        // c [1, 1] is at home on slot 0, d [2, 2] on slot 1; each takes its own.
        for _ in 0..=STEAL_BACKLOG {
            scheduler.submit(job("c", &[1, 1]));
        }
        scheduler.submit(job("d", &[2, 2]));
        assert_eq!(
            taken(scheduler.try_next_job(1)),
            Some(("d".into(), vec![2, 2]))
        );
        assert_eq!(taken(scheduler.try_next_job(0)), c11());
        // Slot 0 is STEAL_BACKLOG behind, but until its first c is evaluated, c's XLA program
        // is not in the cache: slot 1 would compile it a second time.
        assert_eq!(taken(scheduler.try_next_job(1)), None);
        scheduler.finished(1, "d", &[2, 2]);
        assert_eq!(taken(scheduler.try_next_job(1)), None, "d is not c");
        scheduler.finished(0, "c", &[1, 1]);
        assert_eq!(taken(scheduler.try_next_job(1)), c11());
    }

    #[test]
    fn a_home_waits_for_the_first_input_another_slot_took_of_its_shape() {
        let scheduler = Scheduler::new(2);
        let e33 = || Some(("e".to_string(), vec![3, 3]));
        for _ in 0..STEAL_BACKLOG {
            scheduler.submit(job("e", &[3, 3]));
        }
        // Slot 0's queue is STEAL_BACKLOG behind: idle slot 1 takes the oldest...
        let first = scheduler.try_next_job(1).unwrap();
        assert!(first.first);
        assert_eq!(taken(Some(first)), e33());
        // ...and slot 0, the home, leaves the rest until that one is evaluated.
        assert_eq!(taken(scheduler.try_next_job(0)), None);
        scheduler.finished(1, "e", &[3, 3]);
        let later = scheduler.try_next_job(0).unwrap();
        assert!(!later.first, "slot 1 ran e first");
        assert_eq!(taken(Some(later)), e33());
    }

    #[test]
    fn a_case_seen_at_one_rank_starts_its_next_rank_on_the_same_slot() {
        let scheduler = Scheduler::new(2);
        let mut queues = scheduler.lock();
        let mut home = |case: &str, shape: &[usize]| queues.home((case.into(), shape.to_vec()));
        assert_eq!((home("a", &[1, 1]), home("b", &[1, 1])), (0, 1));
        // Slot 0 has as few homes as slot 1, but b runs on 1 (and a on 0).
        assert_eq!((home("b", &[2, 2, 3]), home("a", &[2, 2, 3])), (1, 0));
    }

    #[test]
    fn a_case_keeps_each_rank_on_one_slot_while_the_homes_stay_within_the_slack() {
        let scheduler = Scheduler::new(2);
        let mut queues = scheduler.lock();
        let mut home = |case: &str, shape: &[usize]| queues.home((case.into(), shape.to_vec()));
        // x's rank-2 shapes stay on slot 0 until it has AFFINITY_SLACK homes more than slot 1.
        let rank2: Vec<usize> = (1..=4).map(|side| home("x", &[side, side])).collect();
        assert_eq!(rank2, [0, 0, 0, 1]);
        // Its rank-3 shapes start on the slot with fewer homes, and stay there likewise.
        let rank3: Vec<usize> = (1..=6).map(|side| home("x", &[side, side, 3])).collect();
        assert_eq!(rank3, [1, 1, 1, 1, 1, 0]);
        // A shape seen before keeps its home; another case starts on the slot with fewer.
        assert_eq!(home("x", &[1, 1]), 0);
        assert_eq!(home("x", &[6, 6, 3]), 0);
        assert_eq!(home("y", &[1, 1]), 0);
        assert_eq!(queues.home_counts, [5, 6]);
    }
}
