//! The ways a case is run, and which pairs of them are compared.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One way of running a case: its NumPy reference, or its TensorFlow function in one of
/// TensorFlow's execution modes.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `numpy(image)`: the reference.
    Numpy,
    /// `tensorflow(image)` called directly on an eager tensor.
    Eager,
    /// `tensorflow` inside `tf.function`, traced once per input rank.
    Graph,
    /// `tensorflow` inside `tf.function(jit_compile=True)`.
    Xla,
    /// `tensorflow` built into a `tf.compat.v1` Graph on a placeholder and run in a Session.
    V1,
}

impl Mode {
    pub const DEFAULT: [Mode; 4] = [Mode::Numpy, Mode::Eager, Mode::Graph, Mode::Xla];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Numpy => "numpy",
            Mode::Eager => "eager",
            Mode::Graph => "graph",
            Mode::Xla => "xla",
            Mode::V1 => "v1",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every pair tfdiff compares, first mode first: the first is `a` in the tolerance rule.
/// Graph–XLA is left out on purpose: each is already compared with both references.
const PAIRS: [(Mode, Mode); 7] = [
    (Mode::Numpy, Mode::Eager),
    (Mode::Numpy, Mode::Graph),
    (Mode::Numpy, Mode::Xla),
    (Mode::Eager, Mode::Graph),
    (Mode::Eager, Mode::Xla),
    (Mode::Numpy, Mode::V1),
    (Mode::Eager, Mode::V1),
];

/// The pairs whose two modes are both selected, in the fixed order above.
pub fn pairs_of(modes: &[Mode]) -> Vec<(Mode, Mode)> {
    PAIRS
        .iter()
        .copied()
        .filter(|(a, b)| modes.contains(a) && modes.contains(b))
        .collect()
}

/// Whether tfdiff compares this pair, in this order.
pub fn is_pair(pair: (Mode, Mode)) -> bool {
    PAIRS.contains(&pair)
}

/// The pairs as "numpy-eager, ..." for error messages.
pub fn all_pairs_text() -> String {
    PAIRS
        .iter()
        .map(|(a, b)| format!("{a}-{b}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_modes_give_the_five_default_pairs() {
        let pairs = pairs_of(&Mode::DEFAULT);
        assert_eq!(pairs.len(), 5);
        assert_eq!(pairs[0], (Mode::Numpy, Mode::Eager));
        assert!(!pairs.iter().any(|(a, b)| *a == Mode::V1 || *b == Mode::V1));
    }

    #[test]
    fn v1_pairs_only_when_selected() {
        let pairs = pairs_of(&[Mode::Numpy, Mode::Eager, Mode::V1]);
        assert_eq!(
            pairs,
            vec![
                (Mode::Numpy, Mode::Eager),
                (Mode::Numpy, Mode::V1),
                (Mode::Eager, Mode::V1)
            ]
        );
    }

    #[test]
    fn graph_and_xla_alone_are_not_a_pair() {
        assert!(pairs_of(&[Mode::Graph, Mode::Xla]).is_empty());
    }
}
