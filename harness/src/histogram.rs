//! The distribution of per-element ULP distance: one pair's comparison of one input counted
//! element by element into doubling buckets (0, 1, 2, 3–4, 5–8, …) and one bucket for elements
//! whose NaN/Inf status differs; summed over a pair's inputs, and over shards exactly. A single
//! `max_ulp` hides the shape of the error: one element 300 ulps off and every element 1 ulp off
//! are different stories.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Buckets of finite distances: 0, 1, 2, then (2^(k-2), 2^(k-1)] for k = 3..=65 — up to
/// u64::MAX, the largest distance `ulp_distance` gives.
const DISTANCE_BUCKETS: usize = 66;
/// Every bucket: the distance buckets and, last, NaN/Inf status differs.
pub const BUCKETS: usize = DISTANCE_BUCKETS + 1;

/// One bucket, by its index: 0..=65 distances, 66 NaN/Inf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bucket(u8);

impl Bucket {
    /// Elements whose NaN/Inf status differs (NaN on one side only, an Inf elsewhere or of
    /// the other sign).
    pub const NAN_INF: Bucket = Bucket(DISTANCE_BUCKETS as u8);

    /// The bucket of a finite distance.
    #[inline(always)]
    pub fn of(ulp: u64) -> Bucket {
        if ulp == 0 {
            Bucket(0)
        } else {
            // 1 -> 1, 2 -> 2, 3..=4 -> 3, 5..=8 -> 4, ...: one more than the bits of ulp - 1.
            Bucket((64 - (ulp - 1).leading_zeros()) as u8 + 1)
        }
    }

    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// The smallest and largest distance in a distance bucket.
    pub fn range(self) -> Option<(u128, u128)> {
        match self.0 {
            0..=2 => Some((u128::from(self.0), u128::from(self.0))),
            k if usize::from(k) < DISTANCE_BUCKETS => {
                Some(((1u128 << (k - 2)) + 1, 1u128 << (k - 1)))
            }
            _ => None,
        }
    }

    pub fn all() -> impl Iterator<Item = Bucket> {
        (0..BUCKETS as u8).map(Bucket)
    }
}

/// "0", "1", "2", "3-4", "5-8", ..., "nan_inf": how the CSV and the charts name it.
impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.range() {
            Some((low, high)) if low == high => write!(f, "{low}"),
            Some((low, high)) => write!(f, "{low}-{high}"),
            None => f.write_str("nan_inf"),
        }
    }
}

impl std::str::FromStr for Bucket {
    type Err = String;

    fn from_str(text: &str) -> Result<Bucket, String> {
        Bucket::all()
            .find(|bucket| bucket.to_string() == text)
            .ok_or_else(|| {
                format!("{text:?} is not a ULP bucket (0, 1, 2, 3-4, 5-8, ..., nan_inf)")
            })
    }
}

impl Serialize for Bucket {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Bucket {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Bucket, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Elements per bucket for one input: what one comparison counted.
#[derive(Clone, Debug, PartialEq)]
pub struct InputCounts(pub [u64; BUCKETS]);

impl Default for InputCounts {
    fn default() -> InputCounts {
        InputCounts([0; BUCKETS])
    }
}

impl InputCounts {
    #[inline(always)]
    pub fn add(&mut self, bucket: Bucket, elements: u64) {
        self.0[bucket.index()] += elements;
    }

    /// Whether any element differs (any bucket but 0).
    pub fn any_difference(&self) -> bool {
        self.0[1..].iter().any(|&n| n > 0)
    }
}

/// One bucket of a pair's histogram: its elements over all inputs, and the inputs that had at
/// least one element in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BucketCount {
    pub bucket: Bucket,
    pub elements: u64,
    pub inputs: u64,
}

/// A pair's histogram over every input compared as two arrays of one shape.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UlpHistogram {
    /// Inputs compared element by element (both sides arrays of one shape).
    pub inputs: u64,
    /// Those of them with any element in a bucket other than 0.
    pub inputs_differing: u64,
    /// The buckets that hold elements, in bucket order.
    pub buckets: Vec<BucketCount>,
}

impl UlpHistogram {
    pub fn is_empty(&self) -> bool {
        self.inputs == 0
    }

    /// Adds one input's counts.
    pub fn add_input(&mut self, counts: &InputCounts) {
        self.inputs += 1;
        self.inputs_differing += u64::from(counts.any_difference());
        for bucket in Bucket::all() {
            let elements = counts.0[bucket.index()];
            if elements > 0 {
                let count = self.bucket_mut(bucket);
                count.elements += elements;
                count.inputs += 1;
            }
        }
    }

    /// Adds another part of the same pair's inputs (a shard): exactly the histogram of both.
    pub fn merge(&mut self, other: &UlpHistogram) {
        self.inputs += other.inputs;
        self.inputs_differing += other.inputs_differing;
        for count in &other.buckets {
            let mine = self.bucket_mut(count.bucket);
            mine.elements += count.elements;
            mine.inputs += count.inputs;
        }
    }

    /// Elements in every bucket.
    pub fn elements(&self) -> u64 {
        self.buckets.iter().map(|count| count.elements).sum()
    }

    fn bucket_mut(&mut self, bucket: Bucket) -> &mut BucketCount {
        let at = match self
            .buckets
            .binary_search_by_key(&bucket, |count| count.bucket)
        {
            Ok(at) => at,
            Err(at) => {
                let empty = BucketCount {
                    bucket,
                    elements: 0,
                    inputs: 0,
                };
                self.buckets.insert(at, empty);
                at
            }
        };
        &mut self.buckets[at]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_fall_in_doubling_buckets() {
        let bucket = |ulp: u64| Bucket::of(ulp).to_string();
        let named: Vec<String> = [0, 1, 2, 3, 4, 5, 8, 9, 16, 17, 300]
            .into_iter()
            .map(bucket)
            .collect();
        assert_eq!(
            named,
            ["0", "1", "2", "3-4", "3-4", "5-8", "5-8", "9-16", "9-16", "17-32", "257-512"]
        );
        assert_eq!(bucket(1 << 63), "4611686018427387905-9223372036854775808");
        assert_eq!(bucket(u64::MAX), "9223372036854775809-18446744073709551616");
        assert_eq!(Bucket::of(u64::MAX).index(), BUCKETS - 2);
        assert_eq!(Bucket::NAN_INF.to_string(), "nan_inf");
        // Every bucket's range starts one past the last one's end.
        let ranges: Vec<(u128, u128)> = Bucket::all().filter_map(Bucket::range).collect();
        for pair in ranges.windows(2) {
            assert_eq!(pair[1].0, pair[0].1 + 1, "{pair:?}");
        }
        for ulp in [0, 1, 2, 3, 4, 5, 1000, u64::MAX] {
            let (low, high) = Bucket::of(ulp).range().unwrap();
            assert!((low..=high).contains(&u128::from(ulp)), "{ulp}");
        }
    }

    #[test]
    fn buckets_are_read_back_from_their_names() {
        for bucket in Bucket::all() {
            assert_eq!(bucket.to_string().parse::<Bucket>(), Ok(bucket));
        }
        assert!("3-5"
            .parse::<Bucket>()
            .unwrap_err()
            .contains("not a ULP bucket"));
        let json = serde_json::to_string(&Bucket::of(7)).unwrap();
        assert_eq!(json, "\"5-8\"");
        assert_eq!(
            serde_json::from_str::<Bucket>(&json).unwrap(),
            Bucket::of(7)
        );
    }

    fn counts(entries: &[(Bucket, u64)]) -> InputCounts {
        let mut counts = InputCounts::default();
        for &(bucket, elements) in entries {
            counts.add(bucket, elements);
        }
        counts
    }

    #[test]
    fn a_pair_counts_elements_per_bucket_and_the_inputs_that_reach_it() {
        let mut histogram = UlpHistogram::default();
        histogram.add_input(&counts(&[(Bucket::of(0), 10)]));
        histogram.add_input(&counts(&[(Bucket::of(0), 8), (Bucket::of(1), 2)]));
        histogram.add_input(&counts(&[(Bucket::of(300), 1), (Bucket::NAN_INF, 3)]));
        let rows: Vec<(String, u64, u64)> = histogram
            .buckets
            .iter()
            .map(|c| (c.bucket.to_string(), c.elements, c.inputs))
            .collect();
        assert_eq!(
            rows,
            [
                ("0".to_string(), 18, 2),
                ("1".to_string(), 2, 1),
                ("257-512".to_string(), 1, 1),
                ("nan_inf".to_string(), 3, 1),
            ]
        );
        assert_eq!((histogram.inputs, histogram.inputs_differing), (3, 2));
        assert_eq!(histogram.elements(), 24);
    }

    #[test]
    fn merged_parts_equal_the_whole() {
        let inputs = [
            counts(&[(Bucket::of(0), 5), (Bucket::of(3), 1)]),
            counts(&[(Bucket::of(0), 6)]),
            counts(&[(Bucket::of(2), 4), (Bucket::NAN_INF, 1)]),
            counts(&[(Bucket::of(3), 2)]),
        ];
        let mut whole = UlpHistogram::default();
        inputs.iter().for_each(|c| whole.add_input(c));
        let (mut first, mut second) = (UlpHistogram::default(), UlpHistogram::default());
        inputs[..1].iter().for_each(|c| first.add_input(c));
        inputs[1..].iter().for_each(|c| second.add_input(c));
        // Either order: the buckets stay sorted.
        let mut merged = second.clone();
        merged.merge(&first);
        assert_eq!(merged, whole);
        first.merge(&second);
        assert_eq!(first, whole);
        assert!(UlpHistogram::default().is_empty() && !whole.is_empty());
    }
}
