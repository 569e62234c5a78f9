//! Known divergences: the signatures a project has looked at and accepted, each with its reason
//! and optionally a bound. A run marks every divergence `new`, `known` or `exceeded` (known, but
//! beyond its bound) and fails only on `new` and `exceeded`, so a nightly job fails on what
//! changed, not every night on what is understood.

use crate::compare::Kind;
use crate::mode::{self, Mode};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The baseline file a cases directory may hold; without `--baseline`, those of every cases
/// directory of the run are combined.
pub const BASELINE_FILE: &str = "expected.toml";

/// One accepted signature, as `[[known]]` in the baseline file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownDivergence {
    pub case: String,
    /// "numpy-graph": the pair, first mode first.
    pub pair: String,
    pub kind: String,
    /// Accepted only while the pair's largest absolute error stays at or below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_abs: Option<f64>,
    /// Accepted only while the pair's largest ULP distance stays at or below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ulp: Option<u64>,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineFile {
    #[serde(default)]
    known: Vec<KnownDivergence>,
}

/// What a divergence is, measured against the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Listed, within its bound.
    Known,
    /// Listed, but the pair's error is beyond the listed bound.
    Exceeded,
    /// Not listed.
    New,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Known => "known",
            Status::Exceeded => "exceeded",
            Status::New => "new",
        }
    }

    /// Whether the run fails on it.
    pub fn fails(self) -> bool {
        self != Status::Known
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Baseline {
    /// The files the entries came from.
    #[serde(default)]
    pub files: Vec<PathBuf>,
    pub known: Vec<KnownDivergence>,
}

impl Baseline {
    /// `--baseline FILE`, else the `expected.toml` of each cases directory that has one,
    /// combined (so cases run from elsewhere with `--cases-dir` bring their baseline along).
    pub fn locate(flag: Option<&Path>, case_dirs: &[PathBuf]) -> Result<Baseline> {
        if let Some(path) = flag {
            return Baseline::load(path);
        }
        let mut baseline = Baseline::default();
        for dir in case_dirs {
            let path = dir.join(BASELINE_FILE);
            if path.is_file() {
                let mut part = Baseline::load(&path)?;
                baseline.files.append(&mut part.files);
                baseline.known.append(&mut part.known);
            }
        }
        Ok(baseline)
    }

    /// Warns of entries naming a case that no cases directory holds: they can never match.
    pub fn warn_of_unknown_cases(&self, cases: &[String]) {
        for entry in &self.known {
            if !cases.contains(&entry.case) {
                eprintln!(
                    "tfdiff: warning: the baseline lists case {:?} ({} {}), which no cases \
                     directory holds; the entry can never match",
                    entry.case, entry.pair, entry.kind
                );
            }
        }
    }

    pub fn load(path: &Path) -> Result<Baseline> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--baseline {}: cannot read it", path.display()))?;
        let file: BaselineFile = toml::from_str(&text).map_err(|error| {
            anyhow::anyhow!(
                "{}: not a baseline file ({}); each entry is [[known]] with case, pair, kind, \
                 reason and optionally max_abs or max_ulp",
                path.display(),
                error.to_string().trim()
            )
        })?;
        for (number, entry) in file.known.iter().enumerate() {
            let at = format!("{}: entry {} ({})", path.display(), number + 1, entry.case);
            check_entry(entry).map_err(|problem| anyhow::anyhow!("{at}: {problem}"))?;
        }
        Ok(Baseline {
            files: vec![path.to_path_buf()],
            known: file.known,
        })
    }

    pub fn find(&self, case: &str, (a, b): (Mode, Mode), kind: Kind) -> Option<&KnownDivergence> {
        self.known.iter().find(|entry| {
            entry.case == case
                && parse_pair(&entry.pair) == Some((a, b))
                && entry.kind == kind.name()
        })
    }

    /// The status of a divergence of `kind` in a pair whose largest errors so far are
    /// `max_abs` and `max_ulp`.
    pub fn status(
        &self,
        case: &str,
        pair: (Mode, Mode),
        kind: Kind,
        max_abs: Option<f64>,
        max_ulp: Option<u64>,
    ) -> Status {
        match self.find(case, pair, kind) {
            None => Status::New,
            Some(entry) => {
                let beyond_abs =
                    matches!((entry.max_abs, max_abs), (Some(bound), Some(v)) if v > bound);
                let beyond_ulp =
                    matches!((entry.max_ulp, max_ulp), (Some(bound), Some(v)) if v > bound);
                if beyond_abs || beyond_ulp {
                    Status::Exceeded
                } else {
                    Status::Known
                }
            }
        }
    }
}

/// What is wrong with an entry, if anything: an entry that can never match is an error.
fn check_entry(entry: &KnownDivergence) -> Result<(), String> {
    let pairs = mode::all_pairs_text();
    let Some((a, b)) = parse_pair(&entry.pair) else {
        return Err(format!(
            "pair {:?} is not two modes like \"numpy-graph\"; pairs are {pairs}",
            entry.pair
        ));
    };
    if !mode::is_pair((a, b)) {
        return Err(if mode::is_pair((b, a)) {
            format!(
                "pair {:?} is written the other way round; write \"{b}-{a}\"",
                entry.pair
            )
        } else {
            format!("{a}-{b} is not a pair tfdiff compares; pairs are {pairs}")
        });
    }
    if Kind::from_name(&entry.kind).is_none() {
        let kinds: Vec<&str> = Kind::ALL.iter().map(|kind| kind.name()).collect();
        return Err(format!(
            "kind {:?} is not one of {}",
            entry.kind,
            kinds.join(", ")
        ));
    }
    if let Some(bound) = entry.max_abs {
        if !(bound >= 0.0 && bound.is_finite()) {
            return Err(format!(
                "max_abs = {bound}: a bound is a finite number >= 0"
            ));
        }
    }
    if entry.reason.trim().is_empty() {
        return Err("every known divergence needs a reason".into());
    }
    Ok(())
}

/// "numpy-graph" → (Numpy, Graph).
pub fn parse_pair(text: &str) -> Option<(Mode, Mode)> {
    use clap::ValueEnum;
    let (a, b) = text.split_once('-')?;
    Some((Mode::from_str(a, true).ok()?, Mode::from_str(b, true).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("expected.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn known_within_bound_exceeded_beyond_it_new_when_unlisted() {
        let (_dir, path) = write(
            r#"
            [[known]]
            case = "standardize"
            pair = "numpy-xla"
            kind = "value"
            max_abs = 2e-3
            reason = "XLA sums in another order"
            "#,
        );
        let baseline = Baseline::load(&path).unwrap();
        let pair = (Mode::Numpy, Mode::Xla);
        let status =
            |max_abs| baseline.status("standardize", pair, Kind::Value, Some(max_abs), Some(9));
        assert_eq!(status(1.5e-3), Status::Known);
        assert_eq!(status(3e-3), Status::Exceeded);
        assert_eq!(
            baseline.status("standardize", pair, Kind::Nan, Some(0.0), Some(0)),
            Status::New
        );
        assert_eq!(
            baseline.status(
                "standardize",
                (Mode::Numpy, Mode::Eager),
                Kind::Value,
                None,
                None
            ),
            Status::New
        );
        assert!(Status::New.fails() && Status::Exceeded.fails() && !Status::Known.fails());
    }

    #[test]
    fn malformed_entries_are_refused_with_what_is_wrong() {
        for (text, expected) in [
            (
                "[[known]]\ncase='a'\npair='numpy'\nkind='value'\nreason='r'",
                "is not two modes",
            ),
            (
                "[[known]]\ncase='a'\npair='numpy-xla'\nkind='oops'\nreason='r'",
                "is not one of",
            ),
            (
                "[[known]]\ncase='a'\npair='numpy-xla'\nkind='value'\nreason=' '",
                "needs a reason",
            ),
            (
                "[[known]]\ncase='a'\npair='numpy-xla'\nkind='value'",
                "not a baseline file",
            ),
            (
                "[[known]]\ncase='a'\npair='numpy-xla'\nkind='value'\nreason='r'\nbound=1",
                "not a baseline file",
            ),
            (
                "[[known]]\ncase='a'\npair='eager-numpy'\nkind='value'\nreason='r'",
                "written the other way round; write \"numpy-eager\"",
            ),
            (
                "[[known]]\ncase='a'\npair='numpy-numpy'\nkind='value'\nreason='r'",
                "not a pair tfdiff compares; pairs are numpy-eager",
            ),
            (
                "[[known]]\ncase='a'\npair='numpy-xla'\nkind='value'\nmax_abs=-1.0\nreason='r'",
                "a bound is a finite number >= 0",
            ),
            (
                "[[known]]\ncase='a'\npair='numpy-xla'\nkind='value'\nmax_abs=nan\nreason='r'",
                "a bound is a finite number >= 0",
            ),
            (
                "[[known]]\ncase='a'\npair='numpy-xla'\nkind='value'\nmax_ulp=-1\nreason='r'",
                "not a baseline file",
            ),
        ] {
            let (_dir, path) = write(text);
            let message = Baseline::load(&path).unwrap_err().to_string();
            assert!(message.contains(expected), "{text}: {message}");
        }
        // Every kind a run reports can be accepted, crash and timeout included.
        for kind in Kind::ALL {
            let (_dir, path) = write(&format!(
                "[[known]]\ncase='a'\npair='numpy-xla'\nkind='{}'\nreason='r'",
                kind.name()
            ));
            assert!(Baseline::load(&path).is_ok(), "{}", kind.name());
        }
    }

    #[test]
    fn each_cases_directory_brings_its_own_baseline_and_they_combine() {
        let entry = |case: &str| {
            format!("[[known]]\ncase='{case}'\npair='numpy-eager'\nkind='value'\nreason='r'\n")
        };
        let (one, _) = write(&entry("a"));
        let (two, _) = write(&entry("b"));
        let none = tempfile::tempdir().unwrap();
        let dirs = [one.path(), none.path(), two.path()].map(Path::to_path_buf);
        let baseline = Baseline::locate(None, &dirs).unwrap();
        assert_eq!(baseline.files.len(), 2);
        let pair = (Mode::Numpy, Mode::Eager);
        for case in ["a", "b"] {
            assert!(baseline.find(case, pair, Kind::Value).is_some(), "{case}");
        }
        // --baseline replaces them.
        let flag = one.path().join(BASELINE_FILE);
        let only = Baseline::locate(Some(&flag), &dirs).unwrap();
        assert!(only.find("b", pair, Kind::Value).is_none());
    }
}
