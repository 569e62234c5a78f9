//! The ways a case is run, and which pairs of them are compared.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
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
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
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

    /// "numpy", "eager", ...: the name the command line, the reports and cases use.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The mode named `name` ("numpy", "eager", ...), any case.
    pub fn from_name(name: &str) -> Option<Mode> {
        name.parse().ok()
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Two modes compared with each other, `a` first: `a` is the reference of the tolerance rule
/// (`|a - b| <= atol + rtol * |a|`). Written "numpy-graph" in reports and `expected.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModePair {
    pub a: Mode,
    pub b: Mode,
}

impl ModePair {
    pub const fn new(a: Mode, b: Mode) -> ModePair {
        ModePair { a, b }
    }

    /// Whether tfdiff compares this pair, in this order.
    pub fn is_compared(self) -> bool {
        PAIRS.contains(&self)
    }

    pub fn contains(self, mode: Mode) -> bool {
        self.a == mode || self.b == mode
    }

    /// "numpy-graph" → numpy, graph (any two modes; whether tfdiff compares them is
    /// `is_compared`).
    pub fn parse(text: &str) -> Option<ModePair> {
        let (a, b) = text.split_once('-')?;
        Some(ModePair::new(Mode::from_name(a)?, Mode::from_name(b)?))
    }
}

impl fmt::Display for ModePair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.a, self.b)
    }
}

impl Serialize for ModePair {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ModePair {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ModePair, D::Error> {
        /// "numpy-eager"; or ["numpy", "eager"], as run.json said before tfdiff 0.2.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Modes(Mode, Mode),
        }
        let text = match Written::deserialize(deserializer)? {
            Written::Modes(a, b) => return Ok(ModePair::new(a, b)),
            Written::Text(text) => text,
        };
        ModePair::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not two modes like \"numpy-graph\"; pairs are {}",
                all_pairs_text()
            ))
        })
    }
}

/// Every pair tfdiff compares, first mode first: the first is `a` in the tolerance rule.
/// Graph–XLA is left out on purpose: each is already compared with both references.
const PAIRS: [ModePair; 7] = [
    ModePair::new(Mode::Numpy, Mode::Eager),
    ModePair::new(Mode::Numpy, Mode::Graph),
    ModePair::new(Mode::Numpy, Mode::Xla),
    ModePair::new(Mode::Eager, Mode::Graph),
    ModePair::new(Mode::Eager, Mode::Xla),
    ModePair::new(Mode::Numpy, Mode::V1),
    ModePair::new(Mode::Eager, Mode::V1),
];

/// The pairs whose two modes are both selected, in the fixed order above.
pub fn pairs_of(modes: &[Mode]) -> Vec<ModePair> {
    PAIRS
        .iter()
        .copied()
        .filter(|pair| modes.contains(&pair.a) && modes.contains(&pair.b))
        .collect()
}

/// The pairs as "numpy-eager, ..." for error messages.
pub fn all_pairs_text() -> String {
    PAIRS
        .iter()
        .map(ModePair::to_string)
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
        assert_eq!(pairs[0], ModePair::new(Mode::Numpy, Mode::Eager));
        assert!(!pairs.iter().any(|pair| pair.contains(Mode::V1)));
    }

    #[test]
    fn v1_pairs_only_when_selected() {
        let pairs = pairs_of(&[Mode::Numpy, Mode::Eager, Mode::V1]);
        assert_eq!(
            pairs,
            vec![
                ModePair::new(Mode::Numpy, Mode::Eager),
                ModePair::new(Mode::Numpy, Mode::V1),
                ModePair::new(Mode::Eager, Mode::V1)
            ]
        );
    }

    #[test]
    fn graph_and_xla_alone_are_not_a_pair() {
        assert!(pairs_of(&[Mode::Graph, Mode::Xla]).is_empty());
    }

    #[test]
    fn modes_are_named_in_lowercase_and_read_in_any_case() {
        let names: Vec<&str> = [Mode::Numpy, Mode::Eager, Mode::Graph, Mode::Xla, Mode::V1]
            .into_iter()
            .map(Mode::name)
            .collect();
        assert_eq!(names, ["numpy", "eager", "graph", "xla", "v1"]);
        assert_eq!(Mode::from_name("XLA"), Some(Mode::Xla));
        assert_eq!(Mode::from_name("tflite"), None);
        assert_eq!(Mode::V1.to_string(), "v1");
    }

    #[test]
    fn a_pair_is_written_and_read_as_its_two_names() {
        let pair = ModePair::new(Mode::Numpy, Mode::Xla);
        assert_eq!(pair.to_string(), "numpy-xla");
        assert_eq!(ModePair::parse("numpy-xla"), Some(pair));
        assert_eq!(
            ModePair::parse("xla-numpy"),
            Some(ModePair::new(Mode::Xla, Mode::Numpy))
        );
        assert!(!ModePair::parse("xla-numpy").unwrap().is_compared());
        assert!(pair.contains(Mode::Numpy) && pair.contains(Mode::Xla));
        assert!(!pair.contains(Mode::Eager));
        assert!(pair.is_compared());
        assert_eq!(ModePair::parse("numpy"), None);
        assert_eq!(ModePair::parse("numpy-tflite"), None);
        let json = serde_json::to_string(&pair).unwrap();
        assert_eq!(json, "\"numpy-xla\"");
        assert_eq!(serde_json::from_str::<ModePair>(&json).unwrap(), pair);
        // run.json of earlier versions wrote the two modes as a list.
        let listed = serde_json::from_str::<ModePair>(r#"["numpy", "xla"]"#).unwrap();
        assert_eq!(listed, pair);
    }
}
