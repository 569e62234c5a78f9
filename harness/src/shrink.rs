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
use crate::mode::Mode;
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
    pub pair: (Mode, Mode),
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
    let modes = [target.pair.0, target.pair.1];
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
    use ndarray::ArrayD;

    /// Shrinks with a predicate in place of a real evaluation: every candidate must be smaller,
    /// and greedy search must reach the smallest image the predicate accepts.
    fn shrink_with(image: Image, keeps: impl Fn(&Image) -> bool) -> Image {
        let mut current = image;
        'search: loop {
            for candidate in candidates(&current) {
                let next = apply(&current, &candidate);
                assert!(smaller(&next, &current), "{candidate:?} does not shrink");
                if keeps(&next) {
                    current = next;
                    continue 'search;
                }
            }
            return current;
        }
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
    fn rank2_comes_before_fewer_channels() {
        let start = image(&[2, 2, 4], |_| 9);
        assert_eq!(candidates(&start)[0], Candidate::Rank2);
        assert_eq!(candidates(&start)[1], Candidate::Channels(1));
    }
}
