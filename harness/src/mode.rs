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
    strum::VariantArray,
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
    /// `tensorflow` converted to a TFLite model (dynamic dimensions, one model per rank) and run
    /// by the TFLite interpreter: where a model goes on a phone.
    Tflite,
    /// `tensorflow` exported in a SavedModel (one signature per rank), reloaded and called
    /// through its signature: the serving path.
    #[serde(rename = "saved_model")]
    #[strum(serialize = "saved_model")]
    #[value(name = "saved_model")]
    SavedModel,
    /// `tensorflow` mapped over a `tf.data` dataset of the one image: an input pipeline.
    Tfdata,
}

impl Mode {
    pub const DEFAULT: [Mode; 4] = [Mode::Numpy, Mode::Eager, Mode::Graph, Mode::Xla];

    /// Every mode, in the order reports list them.
    pub fn all() -> &'static [Mode] {
        <Mode as strum::VariantArray>::VARIANTS
    }

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
/// Each pair has a reference, numpy or eager; pairs of two graph-side modes (graph–XLA, ...)
/// are left out on purpose: each is already compared with both references. In the order the
/// reports list them (the modes added since 0.1 at the end).
const PAIRS: [ModePair; 13] = [
    ModePair::new(Mode::Numpy, Mode::Eager),
    ModePair::new(Mode::Numpy, Mode::Graph),
    ModePair::new(Mode::Numpy, Mode::Xla),
    ModePair::new(Mode::Eager, Mode::Graph),
    ModePair::new(Mode::Eager, Mode::Xla),
    ModePair::new(Mode::Numpy, Mode::V1),
    ModePair::new(Mode::Eager, Mode::V1),
    ModePair::new(Mode::Numpy, Mode::Tflite),
    ModePair::new(Mode::Eager, Mode::Tflite),
    ModePair::new(Mode::Numpy, Mode::SavedModel),
    ModePair::new(Mode::Eager, Mode::SavedModel),
    ModePair::new(Mode::Numpy, Mode::Tfdata),
    ModePair::new(Mode::Eager, Mode::Tfdata),
];

/// What `--modes` takes: a mode's name, or `all`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ModeChoice {
    All,
    One(Mode),
}

impl std::str::FromStr for ModeChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<ModeChoice, String> {
        if text.eq_ignore_ascii_case("all") {
            return Ok(ModeChoice::All);
        }
        Mode::from_name(text).map(ModeChoice::One).ok_or_else(|| {
            let names: Vec<&str> = Mode::all().iter().map(|m| m.name()).collect();
            format!(
                "{text:?} is not a mode; modes are {}, or all",
                names.join(", ")
            )
        })
    }
}

/// The modes chosen, each once, in the order given (`all`: every mode, in its place).
pub fn chosen(choices: &[ModeChoice]) -> Vec<Mode> {
    let mut modes: Vec<Mode> = Vec::new();
    for choice in choices {
        let some = match choice {
            ModeChoice::All => Mode::all(),
            ModeChoice::One(mode) => std::slice::from_ref(mode),
        };
        for &mode in some {
            if !modes.contains(&mode) {
                modes.push(mode);
            }
        }
    }
    modes
}

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
    fn the_pairs_are_every_two_modes_with_numpy_or_eager_first() {
        use std::collections::BTreeSet;
        let expected: BTreeSet<ModePair> = Mode::all()
            .iter()
            .flat_map(|&a| Mode::all().iter().map(move |&b| ModePair::new(a, b)))
            .filter(|pair| pair.a < pair.b && matches!(pair.a, Mode::Numpy | Mode::Eager))
            .collect();
        assert_eq!(PAIRS.iter().copied().collect::<BTreeSet<_>>(), expected);
        assert_eq!(PAIRS.len(), expected.len(), "each once");
        let every = pairs_of(Mode::all());
        assert_eq!(every.len(), 13);
        assert_eq!(
            every[7..]
                .iter()
                .map(ModePair::to_string)
                .collect::<Vec<_>>(),
            [
                "numpy-tflite",
                "eager-tflite",
                "numpy-saved_model",
                "eager-saved_model",
                "numpy-tfdata",
                "eager-tfdata"
            ]
        );
    }

    #[test]
    fn all_chooses_every_mode_and_each_mode_counts_once() {
        let parse = |text: &str| -> Result<Vec<Mode>, String> {
            let choices: Vec<ModeChoice> =
                text.split(',').map(str::parse).collect::<Result<_, _>>()?;
            Ok(chosen(&choices))
        };
        assert_eq!(parse("all").unwrap(), Mode::all());
        assert_eq!(parse("ALL").unwrap().len(), 8);
        assert_eq!(
            parse("xla,numpy,xla").unwrap(),
            [Mode::Xla, Mode::Numpy],
            "as given, once"
        );
        assert_eq!(
            parse("tflite,all").unwrap()[..2],
            [Mode::Tflite, Mode::Numpy]
        );
        let error = parse("numpy,tfl").unwrap_err();
        assert!(error.contains("\"tfl\" is not a mode"), "{error}");
        assert!(error.contains("saved_model, tfdata, or all"), "{error}");
    }

    #[test]
    fn graph_and_xla_alone_are_not_a_pair() {
        assert!(pairs_of(&[Mode::Graph, Mode::Xla]).is_empty());
    }

    #[test]
    fn modes_are_named_in_lowercase_and_read_in_any_case() {
        let names: Vec<&str> = Mode::all().iter().map(|m| m.name()).collect();
        assert_eq!(
            names,
            [
                "numpy",
                "eager",
                "graph",
                "xla",
                "v1",
                "tflite",
                "saved_model",
                "tfdata"
            ]
        );
        assert_eq!(Mode::from_name("XLA"), Some(Mode::Xla));
        assert_eq!(Mode::from_name("Saved_Model"), Some(Mode::SavedModel));
        assert_eq!(Mode::from_name("savedmodel"), None);
        assert_eq!(Mode::V1.to_string(), "v1");
        assert_eq!(
            serde_json::to_string(&Mode::SavedModel).unwrap(),
            "\"saved_model\""
        );
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
        assert_eq!(ModePair::parse("numpy-tpu"), None);
        assert_eq!(
            ModePair::parse("eager-saved_model"),
            Some(ModePair::new(Mode::Eager, Mode::SavedModel))
        );
        let json = serde_json::to_string(&pair).unwrap();
        assert_eq!(json, "\"numpy-xla\"");
        assert_eq!(serde_json::from_str::<ModePair>(&json).unwrap(), pair);
        // run.json of earlier versions wrote the two modes as a list.
        let listed = serde_json::from_str::<ModePair>(r#"["numpy", "xla"]"#).unwrap();
        assert_eq!(listed, pair);
    }
}
