//! Known divergences: the signatures a project has looked at and accepted, each with its reason
//! and optionally a bound. A run marks every divergence `new`, `known` or `exceeded` (known, but
//! beyond its bound) and fails only on `new` and `exceeded`, so a nightly job fails on what
//! changed, not every night on what is understood.

use crate::compare::Kind;
use crate::mode::{self, ModePair};
use crate::report::{DivergenceRow, PairSummary};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The baseline file a cases directory may hold; without `--baseline`, those of every cases
/// directory of the run are combined.
pub const BASELINE_FILE: &str = "expected.toml";

/// One accepted signature, as `[[known]]` in the baseline file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnownDivergence {
    pub case: String,
    /// The pair, first mode first ("numpy-graph").
    pub pair: ModePair,
    pub kind: Kind,
    /// Accepted only while the pair's largest absolute error stays at or below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_abs: Option<f64>,
    /// Accepted only while the pair's largest ULP distance stays at or below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ulp: Option<u64>,
    pub reason: String,
}

/// An entry as written in the file, before it is checked (see `check_entry`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WrittenEntry {
    case: String,
    pair: String,
    kind: String,
    #[serde(default)]
    max_abs: Option<f64>,
    #[serde(default)]
    max_ulp: Option<u64>,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineFile {
    #[serde(default)]
    known: Vec<WrittenEntry>,
}

/// What a divergence is, measured against the baseline. Its name is the lowercase variant.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
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
        self.into()
    }

    /// Whether the run fails on it: the one rule, for the exit status, JUnit and the reports.
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

    /// Warnings for the entries naming a case that no cases directory holds: they can never
    /// match.
    pub fn unknown_case_warnings(&self, cases: &[String]) -> Vec<String> {
        self.known
            .iter()
            .filter(|entry| !cases.contains(&entry.case))
            .map(|entry| {
                format!(
                    "tfdiff: warning: the baseline lists case {:?} ({} {}), which no cases \
                     directory holds; the entry can never match",
                    entry.case, entry.pair, entry.kind
                )
            })
            .collect()
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
        let mut known = Vec::with_capacity(file.known.len());
        for (number, entry) in file.known.into_iter().enumerate() {
            let at = format!("{}: entry {} ({})", path.display(), number + 1, entry.case);
            known.push(check_entry(entry).map_err(|problem| anyhow::anyhow!("{at}: {problem}"))?);
        }
        Ok(Baseline {
            files: vec![path.to_path_buf()],
            known,
        })
    }

    pub fn find(&self, case: &str, pair: ModePair, kind: Kind) -> Option<&KnownDivergence> {
        self.known
            .iter()
            .find(|entry| entry.case == case && entry.pair == pair && entry.kind == kind)
    }

    /// The status of a divergence of `kind` in a pair whose largest errors so far are
    /// `max_abs` and `max_ulp`.
    pub fn status(
        &self,
        case: &str,
        pair: ModePair,
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

/// Marks each divergence row of `pairs` new, known or exceeded — bounds measured on the whole
/// pair — and each pair with its worst status.
pub fn judge(baseline: &Baseline, pairs: &mut [PairSummary], rows: &mut [DivergenceRow]) {
    for pair in pairs {
        pair.status = None;
        let (case, modes) = (pair.case.clone(), pair.pair());
        for row in rows
            .iter_mut()
            .filter(|row| row.case == case && row.pair() == modes)
        {
            let status =
                baseline.status(&row.case, row.pair(), row.kind, pair.max_abs, pair.max_ulp);
            row.status = status;
            pair.status = pair.status.max(Some(status));
        }
    }
}

/// How many rows fail the run.
pub fn failing(rows: &[DivergenceRow]) -> u64 {
    rows.iter().filter(|row| row.status.fails()).count() as u64
}

/// Known divergences of the cases and pairs that ran that no row shows.
pub fn known_not_seen(
    baseline: &Baseline,
    pairs: &[PairSummary],
    rows: &[DivergenceRow],
) -> Vec<KnownDivergence> {
    baseline
        .known
        .iter()
        .filter(|known| {
            let ran = pairs.iter().any(|pair| {
                pair.case == known.case && pair.inputs > 0 && pair.pair() == known.pair
            });
            let seen = rows.iter().any(|row| {
                row.case == known.case && row.pair() == known.pair && row.kind == known.kind
            });
            ran && !seen
        })
        .cloned()
        .collect()
}

/// The entry, typed, or what is wrong with it: an entry that can never match is an error.
fn check_entry(entry: WrittenEntry) -> Result<KnownDivergence, String> {
    let pairs = mode::all_pairs_text();
    let Some(pair) = ModePair::parse(&entry.pair) else {
        return Err(format!(
            "pair {:?} is not two modes like \"numpy-graph\"; pairs are {pairs}",
            entry.pair
        ));
    };
    if !pair.is_compared() {
        let reversed = ModePair::new(pair.b, pair.a);
        return Err(if reversed.is_compared() {
            format!(
                "pair {:?} is written the other way round; write \"{reversed}\"",
                entry.pair
            )
        } else {
            format!("{pair} is not a pair tfdiff compares; pairs are {pairs}")
        });
    }
    let Ok(kind) = entry.kind.parse::<Kind>() else {
        return Err(format!(
            "kind {:?} is not one of {}",
            entry.kind,
            Kind::names()
        ));
    };
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
    Ok(KnownDivergence {
        case: entry.case,
        pair,
        kind,
        max_abs: entry.max_abs,
        max_ulp: entry.max_ulp,
        reason: entry.reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;

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
        let pair = ModePair::new(Mode::Numpy, Mode::Xla);
        let status =
            |max_abs| baseline.status("standardize", pair, Kind::Value, Some(max_abs), Some(9));
        assert_eq!(status(1.5e-3), Status::Known);
        // "Accepted at or below": the bound itself is known.
        assert_eq!(status(2e-3), Status::Known);
        assert_eq!(status(3e-3), Status::Exceeded);
        assert_eq!(
            baseline.status("standardize", pair, Kind::Nan, Some(0.0), Some(0)),
            Status::New
        );
        assert_eq!(
            baseline.status(
                "standardize",
                ModePair::new(Mode::Numpy, Mode::Eager),
                Kind::Value,
                None,
                None
            ),
            Status::New
        );
        assert!(Status::New.fails() && Status::Exceeded.fails() && !Status::Known.fails());
        let names: Vec<&str> = [Status::Known, Status::Exceeded, Status::New]
            .into_iter()
            .map(Status::name)
            .collect();
        assert_eq!(names, ["known", "exceeded", "new"]);
    }

    #[test]
    fn a_ulp_bound_accepts_up_to_and_including_itself() {
        let (_dir, path) =
            write("[[known]]\ncase='c'\npair='numpy-eager'\nkind='value'\nmax_ulp=9\nreason='r'");
        let baseline = Baseline::load(&path).unwrap();
        let pair = ModePair::new(Mode::Numpy, Mode::Eager);
        let status = |ulp| baseline.status("c", pair, Kind::Value, Some(1.0), Some(ulp));
        assert_eq!(status(8), Status::Known);
        assert_eq!(status(9), Status::Known);
        assert_eq!(status(10), Status::Exceeded);
        // No bound: any error is known.
        let (_dir, path) =
            write("[[known]]\ncase='c'\npair='numpy-eager'\nkind='value'\nreason='r'");
        let open = Baseline::load(&path).unwrap();
        assert_eq!(
            open.status("c", pair, Kind::Value, Some(1e9), Some(u64::MAX)),
            Status::Known
        );
        // Another kind, case or pair is not this entry.
        assert_eq!(
            baseline.status("c", pair, Kind::Nan, None, None),
            Status::New
        );
        assert_eq!(
            baseline.status("d", pair, Kind::Value, None, None),
            Status::New
        );
        let other = ModePair::new(Mode::Numpy, Mode::Graph);
        assert_eq!(
            baseline.status("c", other, Kind::Value, None, None),
            Status::New
        );
    }

    fn row(case: &str, pair: ModePair, kind: Kind) -> DivergenceRow {
        crate::report::divergences::test_row(case, "0", pair, kind)
    }

    #[test]
    fn judging_marks_rows_by_their_pairs_errors_and_each_pair_by_its_worst_row() {
        let (_dir, path) = write(
            "[[known]]\ncase='c'\npair='numpy-eager'\nkind='value'\nmax_abs=1e-3\nreason='r'\n\
             [[known]]\ncase='c'\npair='numpy-eager'\nkind='nan'\nreason='r'\n\
             [[known]]\ncase='c'\npair='numpy-xla'\nkind='shape'\nreason='never seen'\n\
             [[known]]\ncase='gone'\npair='numpy-eager'\nkind='value'\nreason='not run'",
        );
        let baseline = Baseline::load(&path).unwrap();
        let eager = ModePair::new(Mode::Numpy, Mode::Eager);
        let xla = ModePair::new(Mode::Numpy, Mode::Xla);
        let mut pairs = vec![PairSummary::new("c", eager), PairSummary::new("c", xla)];
        pairs[0].max_abs = Some(1e-3);
        pairs[0].inputs = 5;
        pairs[1].inputs = 5;
        let mut rows = vec![row("c", eager, Kind::Value), row("c", eager, Kind::Nan)];
        judge(&baseline, &mut pairs, &mut rows);
        assert_eq!(rows[0].status, Status::Known);
        assert_eq!(rows[1].status, Status::Known);
        assert_eq!(pairs[0].status, Some(Status::Known));
        assert_eq!(pairs[1].status, None, "no row: the pair agreed");
        assert_eq!(failing(&rows), 0);
        // Beyond the bound the value row is exceeded and the pair with it.
        pairs[0].max_abs = Some(2e-3);
        rows.push(row("c", xla, Kind::Value));
        judge(&baseline, &mut pairs, &mut rows);
        let statuses: Vec<Status> = rows.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [Status::Exceeded, Status::Known, Status::New]);
        assert_eq!(pairs[0].status, Some(Status::Exceeded));
        assert_eq!(pairs[1].status, Some(Status::New));
        assert_eq!(failing(&rows), 2);
        // Of the entries, only the one for a pair that ran and showed nothing is "not seen".
        let unseen = known_not_seen(&baseline, &pairs, &rows);
        assert_eq!(unseen.len(), 1);
        assert_eq!((unseen[0].pair, unseen[0].kind), (xla, Kind::Shape));
        pairs[1].inputs = 0;
        assert!(known_not_seen(&baseline, &pairs, &rows).is_empty());
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
        for &kind in <Kind as strum::VariantArray>::VARIANTS {
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
        let warnings = baseline.unknown_case_warnings(&["a".to_string()]);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("lists case \"b\" (numpy-eager value)"),
            "{warnings:?}"
        );
        assert!(baseline
            .unknown_case_warnings(&["a".to_string(), "b".to_string()])
            .is_empty());
        let pair = ModePair::new(Mode::Numpy, Mode::Eager);
        for case in ["a", "b"] {
            assert!(baseline.find(case, pair, Kind::Value).is_some(), "{case}");
        }
        // --baseline replaces them.
        let flag = one.path().join(BASELINE_FILE);
        let only = Baseline::locate(Some(&flag), &dirs).unwrap();
        assert!(only.find("b", pair, Kind::Value).is_none());
    }
}
