//! A signature: what makes two divergences the same finding — the case, the pair of modes and
//! the kind. One row of divergences.csv per signature; `merge` joins shards' rows by it, `diff`
//! matches two runs' rows by it, and the baseline accepts signatures.

use crate::compare::Kind;
use crate::mode::ModePair;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Signature {
    pub case: String,
    pub pair: ModePair,
    pub kind: Kind,
}

impl fmt::Display for Signature {
    /// "standardize numpy-xla value", as messages name a signature.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.case, self.pair, self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;

    #[test]
    fn a_signature_reads_case_pair_kind() {
        let signature = Signature {
            case: "standardize".into(),
            pair: ModePair::new(Mode::Numpy, Mode::Xla),
            kind: Kind::Value,
        };
        assert_eq!(signature.to_string(), "standardize numpy-xla value");
    }
}
