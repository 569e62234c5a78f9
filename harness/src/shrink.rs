//! Shrinking a divergent input to a minimal one that still shows the same signature (case, mode
//! pair, kind): fewer pixels first — rank 2 before rank 3, fewer channels, smaller sides — then
//! simpler values — fewer distinct values, values toward 0.
//!
//! Greedy and deterministic: the first candidate that keeps the signature is taken and the search
//! starts over from it. Every candidate is smaller than its parent in (pixels, rank, channels,
//! height + width, sum of values), so shrinking ends by itself; the time box only stops it early.
//! With several workers, the next candidates are evaluated side by side and the first of them in
//! candidate order that keeps the signature is taken: the same path as one at a time.
//!
//! A `crash` or `timeout` signature kills a worker with every candidate that keeps it; the time
//! spent starting replacement workers is not charged to the time box (it is counted in run.json).

use crate::cases::CaseInfo;
use crate::compare::{compare, Kind, PairComparison, ToleranceSpec};
use crate::evaluate::{Evaluator, Job};
use crate::generate::{Image, Layout};
use crate::mode::ModePair;
use crate::outcome::Outcome;
use anyhow::Result;
use ndarray::{Axis, Slice};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Images of at most this many elements also get per-element candidates.
const PER_ELEMENT_LIMIT: usize = 64;

/// What a divergence must keep showing while it shrinks.
pub struct Target<'a> {
    pub case: &'a CaseInfo,
    pub pair: ModePair,
    pub kind: Kind,
    pub tolerance: &'a ToleranceSpec,
    pub layout: Layout,
}

/// The smallest input found, and its outcomes in the pair's two modes.
pub struct Shrunk {
    pub image: Image,
    pub outcomes: (Outcome, Outcome),
    pub comparison: PairComparison,
    /// Candidates accepted: each made the input smaller.
    pub steps: u64,
    /// Candidates evaluated.
    pub tried: u64,
    /// False when the time box ran out before no candidate was left.
    pub finished: bool,
}

/// Shrinks `image`, which shows `target` with `outcomes`/`comparison`, for at most `budget`
/// (or until `stop` says so).
pub fn shrink<E: Evaluator>(
    evaluator: &mut E,
    target: &Target<'_>,
    start: (Image, (Outcome, Outcome), PairComparison),
    budget: Duration,
    stop: &dyn Fn() -> bool,
) -> Result<Shrunk> {
    let (image, outcomes, comparison) = start;
    let mut deadline = Instant::now() + budget;
    let mut best = Shrunk {
        image,
        outcomes,
        comparison,
        steps: 0,
        tried: 0,
        finished: false,
    };
    let modes = [target.pair.a, target.pair.b];
    // Side by side only when a candidate is cheap: every candidate that keeps a crash or a
    // hang costs a worker restart, and one evaluated ahead for nothing would cost another.
    let batch = match target.kind {
        Kind::Crash | Kind::Timeout => 1,
        _ => evaluator.parallelism().max(1),
    };
    'search: loop {
        let list = candidates(&best.image);
        for chunk in list.chunks(batch) {
            if Instant::now() >= deadline || stop() {
                break 'search;
            }
            let images: Vec<Image> = chunk.iter().map(|c| apply(&best.image, c)).collect();
            let jobs: Vec<Job<'_>> = images
                .iter()
                .map(|image| Job {
                    case: &target.case.name,
                    image,
                    layout: target.layout,
                    modes: &modes,
                })
                .collect();
            let evaluations = evaluator.evaluate_all(&jobs)?;
            let restarts = evaluations.iter().map(|e| e.restart_seconds);
            deadline += Duration::from_secs_f64(restarts.fold(0.0, f64::max));
            for (image, evaluation) in images.into_iter().zip(evaluations) {
                best.tried += 1;
                let mut outcomes = evaluation.outcomes;
                let b = outcomes.pop().expect("two modes give two outcomes");
                let a = outcomes.pop().expect("two modes give two outcomes");
                let comparison = compare(&a, &b, target.tolerance);
                if comparison.kind == Some(target.kind) {
                    best.image = image;
                    best.outcomes = (a, b);
                    best.comparison = comparison;
                    best.steps += 1;
                    continue 'search;
                }
            }
        }
        best.finished = true;
        break;
    }
    Ok(best)
}

/// One way to make an image smaller.
#[derive(Clone, Debug, PartialEq)]
enum Candidate {
    /// Rank 3 to rank 2: keep channel 0.
    Rank2,
    /// Keep the first n channels.
    Channels(usize),
    /// Keep rows (axis 0) or columns (axis 1) start..end.
    Slice {
        axis: usize,
        start: usize,
        end: usize,
    },
    /// Every pixel 0.
    Zero,
    /// Every pixel of value `from` becomes `to` (< from): one distinct value fewer.
    Replace { from: u8, to: u8 },
    /// Every pixel minus the minimum.
    SubtractMin,
    /// Every pixel halved.
    Halve,
    /// One element set to a smaller value.
    Element { position: usize, value: u8 },
}

/// The candidates of `image`, most reducing first.
fn candidates(image: &Image) -> Vec<Candidate> {
    let shape = image.shape();
    let mut list = Vec::new();
    if shape.len() == 3 {
        list.push(Candidate::Rank2);
        for keep in [1, 3] {
            if keep < shape[2] {
                list.push(Candidate::Channels(keep));
            }
        }
    }
    for (axis, &len) in shape.iter().enumerate().take(2) {
        if len == 0 {
            continue;
        }
        let half = len / 2;
        // The first row (column) alone first: most edge bugs need no more than one, and a
        // crash or hang found on a big image then costs two worker restarts, not a dozen.
        let mut slices: Vec<(usize, usize)> = Vec::new();
        for slice in [(0, 1), (0, half), (half, len), (0, len - 1), (1, len)] {
            if !slices.contains(&slice) {
                slices.push(slice);
            }
        }
        for (start, end) in slices {
            if end - start < len {
                list.push(Candidate::Slice { axis, start, end });
            }
        }
    }
    if image.iter().any(|&v| v != 0) {
        list.push(Candidate::Zero);
        let distinct: BTreeSet<u8> = image.iter().copied().collect();
        let values: Vec<u8> = distinct.into_iter().collect();
        // Merging a value into the smallest, then into its next smaller neighbour.
        for window in values.windows(2).rev() {
            list.push(Candidate::Replace {
                from: window[1],
                to: values[0],
            });
            if window[0] != values[0] {
                list.push(Candidate::Replace {
                    from: window[1],
                    to: window[0],
                });
            }
        }
        if values[0] > 0 {
            list.push(Candidate::SubtractMin);
        }
        list.push(Candidate::Halve);
        if image.len() <= PER_ELEMENT_LIMIT {
            for (position, &value) in image.iter().enumerate() {
                if value > 0 {
                    list.push(Candidate::Element { position, value: 0 });
                    if value > 1 {
                        list.push(Candidate::Element {
                            position,
                            value: value / 2,
                        });
                        list.push(Candidate::Element {
                            position,
                            value: value - 1,
                        });
                    }
                }
            }
        }
    }
    list
}

fn apply(image: &Image, candidate: &Candidate) -> Image {
    match *candidate {
        Candidate::Rank2 => image.index_axis(Axis(2), 0).to_owned(),
        Candidate::Channels(keep) => image.slice_axis(Axis(2), Slice::from(0..keep)).to_owned(),
        Candidate::Slice { axis, start, end } => image
            .slice_axis(Axis(axis), Slice::from(start..end))
            .to_owned(),
        Candidate::Zero => Image::zeros(image.raw_dim()),
        Candidate::Replace { from, to } => image.mapv(|v| if v == from { to } else { v }),
        Candidate::SubtractMin => {
            let min = image.iter().copied().min().unwrap_or(0);
            image.mapv(|v| v - min)
        }
        Candidate::Halve => image.mapv(|v| v / 2),
        Candidate::Element { position, value } => {
            let mut smaller = image.as_standard_layout().into_owned();
            if let Some(element) = smaller.as_slice_mut().and_then(|s| s.get_mut(position)) {
                *element = value;
            }
            smaller
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::{Evaluation, Memo, OutcomeCache};
    use crate::mode::Mode;
    use crate::outcome::Crash;
    use ndarray::ArrayD;
    use std::collections::BTreeMap;

    /// An evaluator without Python: every mode returns the image as floats, except that eager
    /// "crashes" on the images `bug` picks. Counts the modes it is asked to run.
    struct Planted<F: Fn(&Image) -> bool> {
        bug: F,
        modes_run: usize,
        /// Seconds each evaluation says it spent restarting workers.
        restart_seconds: f64,
    }

    impl<F: Fn(&Image) -> bool> Evaluator for Planted<F> {
        type Ticket = Evaluation;

        fn parallelism(&self) -> usize {
            2
        }

        fn submit(&mut self, job: Job<'_>) -> Result<Evaluation> {
            self.modes_run += job.modes.len();
            let outcomes = job
                .modes
                .iter()
                .map(|&mode| {
                    if mode == Mode::Eager && (self.bug)(job.image) {
                        Outcome::Crash(Crash {
                            cause: "SIGSEGV".into(),
                            stderr: Vec::new(),
                        })
                    } else {
                        Outcome::array(job.image.mapv(f64::from), "float32")
                    }
                })
                .collect();
            Ok(Evaluation {
                outcomes,
                restart_seconds: self.restart_seconds,
            })
        }

        fn wait(&mut self, ticket: Evaluation) -> Result<Evaluation> {
            Ok(ticket)
        }

        fn is_ready(&self, _: &Evaluation) -> bool {
            true
        }

        fn trace_counts(&self, _: &str) -> BTreeMap<String, u64> {
            BTreeMap::new()
        }
    }

    /// The planted case, with the default tolerance.
    fn planted() -> (CaseInfo, ToleranceSpec) {
        let case = CaseInfo {
            name: "planted".into(),
            path: "planted.py".into(),
            summary: String::new(),
            tolerance: ToleranceSpec::default(),
        };
        (case, ToleranceSpec::default())
    }

    /// A crash of numpy–eager in `case` to shrink.
    fn crash_target<'a>(case: &'a CaseInfo, tolerance: &'a ToleranceSpec) -> Target<'a> {
        Target {
            case,
            pair: ModePair::new(Mode::Numpy, Mode::Eager),
            kind: Kind::Crash,
            tolerance,
            layout: Layout::Contiguous,
        }
    }

    fn four_channel_bug(image: &Image) -> bool {
        image.ndim() == 3 && image.shape()[2] == 4 && !image.is_empty()
    }

    #[test]
    fn shrink_drives_the_evaluator_to_a_one_pixel_crash() {
        let (case, tolerance) = planted();
        let target = crash_target(&case, &tolerance);
        let mut evaluator = Planted {
            bug: four_channel_bug,
            modes_run: 0,
            restart_seconds: 0.0,
        };
        let start = image(&[37, 21, 4], |i| (i * 7 % 256) as u8);
        let modes = [Mode::Numpy, Mode::Eager];
        let job = Job {
            case: "planted",
            image: &start,
            layout: Layout::Contiguous,
            modes: &modes,
        };
        let mut outcomes = evaluator.evaluate_all(&[job]).unwrap().remove(0).outcomes;
        let (b, a) = (outcomes.pop().unwrap(), outcomes.pop().unwrap());
        let comparison = compare(&a, &b, &tolerance);
        assert_eq!(comparison.kind, Some(Kind::Crash));
        let shrunk = shrink(
            &mut evaluator,
            &target,
            (start, (a, b), comparison),
            Duration::from_secs(60),
            &|| false,
        )
        .unwrap();
        assert_eq!(shrunk.image.shape(), &[1, 1, 4]);
        assert!(shrunk.image.iter().all(|&v| v == 0));
        assert!(shrunk.finished && shrunk.steps >= 2);
        // Crashes are tried one at a time (each costs a restart): every try ran both modes.
        assert!(shrunk.tried > shrunk.steps);
        assert_eq!(evaluator.modes_run, 2 + 2 * shrunk.tried as usize);
        assert_eq!(shrunk.comparison.kind, Some(Kind::Crash));
        // A stop request ends shrinking at once, with what it has.
        let start = image(&[8, 8, 4], |_| 3);
        let outcomes = (Outcome::array(start.mapv(f64::from), "float32"), b_crash());
        let comparison = compare(&outcomes.0, &outcomes.1, &tolerance);
        let stopped = shrink(
            &mut evaluator,
            &target,
            (start, outcomes, comparison),
            Duration::from_secs(60),
            &|| true,
        )
        .unwrap();
        assert_eq!((stopped.steps, stopped.finished), (0, false));
    }

    #[test]
    fn time_spent_restarting_workers_does_not_count_against_the_time_box() {
        let (case, tolerance) = planted();
        let target = crash_target(&case, &tolerance);
        let run = |restart_seconds: f64| {
            let mut evaluator = Planted {
                bug: four_channel_bug,
                modes_run: 0,
                restart_seconds,
            };
            let start = image(&[30, 30, 4], |i| (i % 256) as u8);
            let outcomes = (Outcome::array(start.mapv(f64::from), "float32"), b_crash());
            let comparison = compare(&outcomes.0, &outcomes.1, &tolerance);
            // Each evaluation takes a few milliseconds here; the box holds about one.
            let slow = || {
                std::thread::sleep(Duration::from_millis(3));
                false
            };
            shrink(
                &mut evaluator,
                &target,
                (start, outcomes, comparison),
                Duration::from_millis(5),
                &slow,
            )
            .unwrap()
        };
        assert!(!run(0.0).finished, "5 ms is too short without restarts");
        let extended = run(10.0);
        assert!(extended.finished, "each restart's 10 s is given back");
        assert_eq!(extended.image.shape(), &[1, 1, 4]);
    }

    fn b_crash() -> Outcome {
        Outcome::Crash(Crash {
            cause: "SIGSEGV".into(),
            stderr: Vec::new(),
        })
    }

    #[test]
    fn memo_runs_each_mode_of_an_image_once() {
        let mut planted = Planted {
            bug: four_channel_bug,
            modes_run: 0,
            restart_seconds: 0.0,
        };
        let mut cache = OutcomeCache::default();
        let picture = image(&[2, 2, 4], |i| i as u8);
        let mut memo = Memo {
            inner: &mut planted,
            cache: &mut cache,
        };
        let job = |modes: &'static [Mode]| Job {
            case: "planted",
            image: &picture,
            layout: Layout::Contiguous,
            modes,
        };
        let first = memo
            .evaluate_all(&[job(&[Mode::Numpy, Mode::Eager])])
            .unwrap();
        // numpy-graph after numpy-eager: numpy is known, only graph runs.
        let second = memo
            .evaluate_all(&[job(&[Mode::Numpy, Mode::Graph])])
            .unwrap();
        assert_eq!(first[0].outcomes[0], second[0].outcomes[0]);
        assert!(matches!(first[0].outcomes[1], Outcome::Crash(_)));
        assert!(matches!(second[0].outcomes[1], Outcome::Array(_)));
        assert_eq!(planted.modes_run, 3);
    }

    /// Shrinks through `shrink()` itself, with an evaluator whose eager mode crashes on the
    /// images `keeps` picks.
    fn shrink_with(image: Image, keeps: impl Fn(&Image) -> bool) -> Image {
        let kept = std::cell::RefCell::new(vec![image.clone()]);
        let mut evaluator = Planted {
            bug: |candidate: &Image| {
                let crashes = keeps(candidate);
                if crashes {
                    kept.borrow_mut().push(candidate.clone());
                }
                crashes
            },
            modes_run: 0,
            restart_seconds: 0.0,
        };
        let (case, tolerance) = planted();
        let target = crash_target(&case, &tolerance);
        let outcomes = (Outcome::array(image.mapv(f64::from), "float32"), b_crash());
        let comparison = compare(&outcomes.0, &outcomes.1, &tolerance);
        let shrunk = shrink(
            &mut evaluator,
            &target,
            (image, outcomes, comparison),
            Duration::from_secs(60),
            &|| false,
        )
        .unwrap();
        assert!(shrunk.finished);
        // It ends on an image that shows the bug, and no image that did is smaller.
        let kept = kept.borrow();
        assert!(kept.contains(&shrunk.image));
        assert!(!kept.iter().any(|image| smaller(image, &shrunk.image)));
        shrunk.image
    }

    fn smaller(a: &Image, b: &Image) -> bool {
        let key = |im: &Image| {
            (
                im.len(),
                im.ndim(),
                im.shape().get(2).copied().unwrap_or(0),
                im.shape()[0] + im.shape()[1],
                im.iter().map(|&v| v as u64).sum::<u64>(),
            )
        };
        key(a) < key(b)
    }

    fn image(shape: &[usize], fill: impl Fn(usize) -> u8) -> Image {
        let len = shape.iter().product();
        ArrayD::from_shape_vec(shape.to_vec(), (0..len).map(fill).collect()).unwrap()
    }

    #[test]
    fn a_bug_needing_four_channels_shrinks_to_one_pixel_of_zeros() {
        let start = image(&[37, 21, 4], |i| (i * 7 % 256) as u8);
        // A value divergence needs elements to differ in: empty images never show it.
        let result = shrink_with(start, |im| {
            !im.is_empty() && im.ndim() == 3 && im.shape()[2] == 4
        });
        assert_eq!(result.shape(), &[1, 1, 4]);
        assert!(result.iter().all(|&v| v == 0));
    }

    #[test]
    fn a_bug_needing_a_nonconstant_image_keeps_two_values_at_minimum() {
        let start = image(&[9, 13, 3], |i| (i * 31 % 256) as u8);
        let result = shrink_with(start, |im| {
            let first = im.iter().next().copied();
            im.iter().any(|&v| Some(v) != first)
        });
        assert_eq!(result.ndim(), 2);
        assert_eq!(result.len(), 2);
        let mut values: Vec<u8> = result.iter().copied().collect();
        values.sort();
        assert_eq!(values, [0, 1]);
    }

    #[test]
    fn a_bug_on_any_empty_image_shrinks_to_an_empty_rank2_image() {
        let start = image(&[0, 5, 3], |_| 0);
        let result = shrink_with(start, |im| im.is_empty());
        assert_eq!(result.ndim(), 2);
        assert!(result.is_empty());
    }

    #[test]
    fn cuts_are_every_shorter_slice_of_the_first_two_axes_and_fewer_channels() {
        use Candidate::*;
        let slice = |axis, start, end| Slice { axis, start, end };
        // All zeros: only the cuts, no value candidates. 4 rows: halves at 2; 1 column: only
        // the empty slices are shorter; 3 channels: one fewer kept is 1, never 3.
        assert_eq!(
            candidates(&image(&[4, 1, 3], |_| 0)),
            [
                Rank2,
                Channels(1),
                slice(0, 0, 1),
                slice(0, 0, 2),
                slice(0, 2, 4),
                slice(0, 0, 3),
                slice(0, 1, 4),
                slice(1, 0, 0),
                slice(1, 1, 1),
            ]
        );
    }

    #[test]
    fn value_candidates_merge_values_then_lower_single_elements() {
        use Candidate::*;
        let element = |position, value| Element { position, value };
        let found = candidates(&image(&[1, 3], |i| [4, 1, 2][i]));
        // After the cuts of a 1x3 image (two empty row slices, three column slices)...
        assert_eq!(found.len(), 5 + 13, "{found:?}");
        assert_eq!(
            found[5..],
            [
                Zero,
                // Values 1, 2, 4: 4 merges into 1 then into 2; 2 into 1 (its neighbour).
                Replace { from: 4, to: 1 },
                Replace { from: 4, to: 2 },
                Replace { from: 2, to: 1 },
                SubtractMin,
                Halve,
                // 4 → 0, 2, 3; 1 → 0 only; 2 → 0, 1, 1.
                element(0, 0),
                element(0, 2),
                element(0, 3),
                element(1, 0),
                element(2, 0),
                element(2, 1),
                element(2, 1),
            ]
        );
        // A minimum of 0 has nothing to subtract; past 64 elements no single-element steps.
        let with_zero = candidates(&image(&[1, 2], |i| [0, 3][i]));
        assert!(!with_zero.contains(&SubtractMin), "{with_zero:?}");
        let count =
            |list: &[Candidate]| list.iter().filter(|c| matches!(c, Element { .. })).count();
        assert_eq!(count(&candidates(&image(&[8, 8], |_| 1))), 64);
        assert_eq!(count(&candidates(&image(&[5, 13], |_| 1))), 0);
    }

    #[test]
    fn rank2_comes_before_fewer_channels() {
        let start = image(&[2, 2, 4], |_| 9);
        assert_eq!(candidates(&start)[0], Candidate::Rank2);
        assert_eq!(candidates(&start)[1], Candidate::Channels(1));
    }
}
