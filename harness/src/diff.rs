//! `tfdiff diff OLD NEW`: what changed between two runs — typically the same seed before and after
//! a TensorFlow or NumPy upgrade. Signatures that are new, gone or persisting; how each case ×
//! pair's measured error moved; and what changed in the environment. Printed, and written as CSV
//! and Markdown.

use crate::baseline::Status;
use crate::compare::Kind;
use crate::mode::Mode;
use crate::report::{DivergenceRow, PairSummary};
use crate::run_on_disk::RunOnDisk;
use crate::signature::Signature;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Whether a signature is in the new run only, the old one only, or both.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    strum::Display,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
enum Change {
    New,
    Gone,
    Persisting,
}

/// A signature in one run or both.
#[derive(Debug, Serialize)]
struct SignatureChange {
    change: Change,
    case: String,
    mode_a: Mode,
    mode_b: Mode,
    kind: Kind,
    /// In the new run; none when it is gone.
    status: Option<Status>,
    old_occurrences: String,
    new_occurrences: String,
    old_max_abs: String,
    new_max_abs: String,
    old_max_ulp: String,
    new_max_ulp: String,
    old_shape: String,
    new_shape: String,
    error: String,
    reproducer: String,
}

/// One case × pair in both runs.
#[derive(Debug, Serialize)]
struct PairChange {
    change: &'static str,
    case: String,
    mode_a: String,
    mode_b: String,
    old_inputs: String,
    new_inputs: String,
    old_diverge: String,
    new_diverge: String,
    old_kinds: String,
    new_kinds: String,
    old_max_abs: String,
    new_max_abs: String,
    old_max_ulp: String,
    new_max_ulp: String,
}

#[derive(Debug, Serialize)]
struct EnvironmentChange {
    key: String,
    old: String,
    new: String,
    changed: bool,
}

/// Compares two run directories; returns whether a new signature appeared.
pub fn diff(
    old_dir: &Path,
    new_dir: &Path,
    out: Option<&Path>,
    allow_incomplete: bool,
) -> Result<bool> {
    let old = RunOnDisk::read(old_dir)?;
    let new = RunOnDisk::read(new_dir)?;
    let mut notes = Vec::new();
    for run in [&old, &new] {
        notes.extend(run.completeness(allow_incomplete)?);
    }
    let matched = matched(&old, &new);
    let signatures = signature_changes(&old, &new, &matched);
    let pairs = pair_changes(&old.results.pairs, &new.results.pairs);
    let environment = environment_changes(&old, &new);

    let out: PathBuf = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| new_dir.join("diff"));
    std::fs::create_dir_all(&out).map_err(|error| {
        anyhow::anyhow!(
            "cannot write the diff to {} ({error}); choose a writable directory with --out DIR",
            out.display()
        )
    })?;
    write_csv(&out.join("diff-signatures.csv"), &signatures)?;
    write_csv(&out.join("diff-pairs.csv"), &pairs)?;
    write_csv(&out.join("diff-environment.csv"), &environment)?;
    let mut markdown: String = notes.iter().map(|note| format!("**{note}**\n\n")).collect();
    markdown.push_str(&render_markdown(
        old_dir,
        new_dir,
        &signatures,
        &pairs,
        &environment,
    ));
    std::fs::write(out.join("diff.md"), &markdown)
        .with_context(|| format!("writing {}", out.join("diff.md").display()))?;
    crate::report::html::write_diff(
        &out,
        (old_dir, &old.results),
        (new_dir, &new.results),
        &drawn_signatures(&old, &new, &matched),
    )?;
    print!("{markdown}");
    eprintln!("tfdiff: diff written to {}", out.display());
    Ok(signatures.iter().any(|s| s.change == Change::New))
}

/// One signature's rows: in the old run, the new one, or both.
struct Matched<'a> {
    signature: Signature,
    before: Option<&'a DivergenceRow>,
    after: Option<&'a DivergenceRow>,
}

impl<'a> Matched<'a> {
    fn change(&self) -> Change {
        match (self.before, self.after) {
            (None, Some(_)) => Change::New,
            (Some(_), None) => Change::Gone,
            _ => Change::Persisting,
        }
    }

    /// The run the signature is shown from — the new one when it has it — and its row there.
    fn latest(&self, old: &'a RunOnDisk, new: &'a RunOnDisk) -> (&'a Path, &'a DivergenceRow) {
        match self.after {
            Some(row) => (new.dir.as_path(), row),
            None => (
                old.dir.as_path(),
                self.before.expect("a signature comes from one of the runs"),
            ),
        }
    }
}

/// Every signature of either run, with its rows: new first, then gone, then persisting;
/// within each, as the runs list them.
fn matched<'a>(old: &'a RunOnDisk, new: &'a RunOnDisk) -> Vec<Matched<'a>> {
    let (old_rows, new_rows) = (&old.results.rows, &new.results.rows);
    let mut keys: Vec<Signature> = Vec::new();
    for row in new_rows.iter().chain(old_rows) {
        if !keys.contains(&row.signature()) {
            keys.push(row.signature());
        }
    }
    let mut matched: Vec<Matched<'a>> = keys
        .into_iter()
        .map(|signature| Matched {
            before: old_rows.iter().find(|r| r.signature() == signature),
            after: new_rows.iter().find(|r| r.signature() == signature),
            signature,
        })
        .collect();
    matched.sort_by_key(Matched::change);
    matched
}

/// Each signature as diff.html draws it: from the new run when it has it, else from the old.
fn drawn_signatures<'a>(
    old: &'a RunOnDisk,
    new: &'a RunOnDisk,
    matched: &[Matched<'a>],
) -> Vec<crate::report::html::DiffSignature<'a>> {
    matched
        .iter()
        .map(|m| {
            let (dir, row) = m.latest(old, new);
            crate::report::html::DiffSignature {
                change: m.change().into(),
                dir,
                row,
                before: m.after.and(m.before),
            }
        })
        .collect()
}

fn signature_changes(
    old: &RunOnDisk,
    new: &RunOnDisk,
    matched: &[Matched<'_>],
) -> Vec<SignatureChange> {
    matched
        .iter()
        .map(|m| {
            let (before, after) = (m.before, m.after);
            let field = |row: Option<&DivergenceRow>, get: fn(&DivergenceRow) -> String| {
                row.map(get).unwrap_or_default()
            };
            let (dir, latest) = m.latest(old, new);
            SignatureChange {
                change: m.change(),
                mode_a: m.signature.pair.a,
                mode_b: m.signature.pair.b,
                kind: m.signature.kind,
                case: m.signature.case.clone(),
                status: after.map(|r| r.status),
                old_occurrences: field(before, |r| r.occurrences.to_string()),
                new_occurrences: field(after, |r| r.occurrences.to_string()),
                old_max_abs: field(before, |r| r.max_abs.clone()),
                new_max_abs: field(after, |r| r.max_abs.clone()),
                old_max_ulp: field(before, |r| r.max_ulp.clone()),
                new_max_ulp: field(after, |r| r.max_ulp.clone()),
                old_shape: field(before, |r| r.shape.clone()),
                new_shape: field(after, |r| r.shape.clone()),
                error: latest.error.clone(),
                reproducer: dir.join(&latest.reproducer).display().to_string(),
            }
        })
        .collect()
}

fn pair_changes(old: &[PairSummary], new: &[PairSummary]) -> Vec<PairChange> {
    let same_pair = |a: &PairSummary, b: &PairSummary| a.case == b.case && a.pair() == b.pair();
    let mut all: Vec<&PairSummary> = new.iter().collect();
    all.extend(old.iter().filter(|o| !new.iter().any(|n| same_pair(o, n))));
    all.into_iter()
        .map(|pair| {
            let before = old.iter().find(|o| same_pair(o, pair));
            let after = new.iter().find(|n| same_pair(n, pair));
            let text = |p: Option<&PairSummary>, get: &dyn Fn(&PairSummary) -> String| {
                p.map(get).unwrap_or_default()
            };
            let abs = |p: &PairSummary| p.max_abs_text("");
            let ulp = |p: &PairSummary| p.max_ulp_text("");
            let diverge = |p: &PairSummary| p.diverge.to_string();
            let kinds = |p: &PairSummary| p.kinds_text();
            let change = match (before, after) {
                (None, _) => "new pair",
                (_, None) => "gone pair",
                (Some(b), Some(a)) => {
                    if abs(b) == abs(a) && ulp(b) == ulp(a) && kinds(b) == kinds(a) {
                        "same"
                    } else {
                        "changed"
                    }
                }
            };
            PairChange {
                change,
                case: pair.case.clone(),
                mode_a: pair.mode_a.to_string(),
                mode_b: pair.mode_b.to_string(),
                old_inputs: text(before, &|p| p.inputs.to_string()),
                new_inputs: text(after, &|p| p.inputs.to_string()),
                old_diverge: text(before, &diverge),
                new_diverge: text(after, &diverge),
                old_kinds: text(before, &kinds),
                new_kinds: text(after, &kinds),
                old_max_abs: text(before, &abs),
                new_max_abs: text(after, &abs),
                old_max_ulp: text(before, &ulp),
                new_max_ulp: text(after, &ulp),
            }
        })
        .collect()
}

/// The versions and settings that can change a run's numbers.
fn environment_changes(old: &RunOnDisk, new: &RunOnDisk) -> Vec<EnvironmentChange> {
    let facts = |run: &RunOnDisk| -> Vec<(String, String)> {
        let info = &run.results.info;
        let environment = &info.environment;
        let text = |value: &serde_json::Value| match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        let mut facts = vec![("tfdiff".to_string(), info.tfdiff_version.clone())];
        for key in [
            "python",
            "numpy",
            "numpy_blas",
            "tensorflow",
            "tensorflow_git_version",
            "tensorflow_compiler_version",
            "tensorflow_build",
            "onednn",
            "intra_op_threads",
            "inter_op_threads",
        ] {
            facts.push((key.to_string(), text(&environment[key])));
        }
        facts.push(("cpu_model".into(), info.cpu_model.clone()));
        facts.push(("seed".into(), info.config.seed.to_string()));
        facts.push(("inputs".into(), info.config.inputs.to_string()));
        let modes: Vec<&str> = info.config.modes.iter().map(|m| m.name()).collect();
        facts.push(("modes".into(), modes.join(",")));
        facts
    };
    let (before, after) = (facts(old), facts(new));
    before
        .into_iter()
        .zip(after)
        .map(|((key, old), (_, new))| EnvironmentChange {
            changed: old != new,
            key,
            old,
            new,
        })
        .collect()
}

fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut writer =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    for row in rows {
        writer.serialize(row)?;
    }
    writer.flush()?;
    Ok(())
}

fn render_markdown(
    old_dir: &Path,
    new_dir: &Path,
    signatures: &[SignatureChange],
    pairs: &[PairChange],
    environment: &[EnvironmentChange],
) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# tfdiff diff\n\nold: `{}`\nnew: `{}`\n",
        old_dir.display(),
        new_dir.display()
    );
    let _ = writeln!(text, "## Environment\n\n| | old | new |\n|---|---|---|");
    for fact in environment {
        let marker = if fact.changed { " **changed**" } else { "" };
        let _ = writeln!(
            text,
            "| {}{marker} | {} | {} |",
            fact.key, fact.old, fact.new
        );
    }
    signatures_markdown(&mut text, signatures);
    pairs_markdown(&mut text, pairs);
    text
}

/// The signatures section: how many are new, gone, persisting, and a row each.
fn signatures_markdown(text: &mut String, signatures: &[SignatureChange]) {
    let count = |change| signatures.iter().filter(|s| s.change == change).count();
    let _ = writeln!(
        text,
        "\n## Signatures: {} new, {} gone, {} persisting\n",
        count(Change::New),
        count(Change::Gone),
        count(Change::Persisting)
    );
    if signatures.is_empty() {
        return;
    }
    let _ = writeln!(
        text,
        "| change | case | pair | kind | status | occurrences | max abs | max ULP | shape |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    let arrow = |old: &str, new: &str| {
        if old == new {
            new.to_string()
        } else {
            format!("{} → {}", dash(old), dash(new))
        }
    };
    for s in signatures {
        let _ = writeln!(
            text,
            "| {} | {} | {}–{} | {} | {} | {} | {} | {} | {} |",
            s.change,
            s.case,
            s.mode_a,
            s.mode_b,
            s.kind,
            s.status.map_or("–", Status::name),
            arrow(&s.old_occurrences, &s.new_occurrences),
            arrow(&s.old_max_abs, &s.new_max_abs),
            arrow(&s.old_max_ulp, &s.new_max_ulp),
            arrow(&s.old_shape, &s.new_shape),
        );
    }
}

/// The pairs section: the case × pair measurements that moved; the cases of the others.
fn pairs_markdown(text: &mut String, pairs: &[PairChange]) {
    let changed: Vec<&PairChange> = pairs.iter().filter(|p| p.change != "same").collect();
    let _ = writeln!(
        text,
        "\n## Measured error per case × pair: {} of {} changed\n",
        changed.len(),
        pairs.len()
    );
    if !changed.is_empty() {
        let _ = writeln!(
            text,
            "| case | pair | change | kinds | max abs | max ULP |\n|---|---|---|---|---|---|"
        );
        for p in changed {
            let _ = writeln!(
                text,
                "| {} | {}–{} | {} | {} → {} | {} → {} | {} → {} |",
                p.case,
                p.mode_a,
                p.mode_b,
                p.change,
                dash(&p.old_kinds),
                dash(&p.new_kinds),
                dash(&p.old_max_abs),
                dash(&p.new_max_abs),
                dash(&p.old_max_ulp),
                dash(&p.new_max_ulp),
            );
        }
    }
    let unchanged: BTreeSet<&str> = pairs
        .iter()
        .filter(|p| p.change == "same")
        .map(|p| p.case.as_str())
        .collect();
    if !unchanged.is_empty() {
        let _ = writeln!(
            text,
            "\nUnchanged pairs are in diff-pairs.csv (cases: {}).",
            unchanged.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
}

fn dash(text: &str) -> &str {
    if text.is_empty() {
        "–"
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::ModePair;
    use crate::report::divergences::test_row;

    use crate::run_on_disk::fixture_run as run_with;

    #[test]
    fn signatures_are_new_gone_or_persisting_new_first() {
        let eager = ModePair::new(Mode::Numpy, Mode::Eager);
        let xla = ModePair::new(Mode::Numpy, Mode::Xla);
        let old = run_with(vec![
            test_row("a", "1", eager, Kind::Value),
            test_row("b", "2", eager, Kind::Nan),
        ]);
        let mut persisting = test_row("b", "5", eager, Kind::Nan);
        persisting.occurrences = 4;
        let new = run_with(vec![persisting, test_row("c", "0", xla, Kind::Shape)]);
        let changes = signature_changes(&old, &new, &matched(&old, &new));
        let seen: Vec<(Change, &str, Kind)> = changes
            .iter()
            .map(|c| (c.change, c.case.as_str(), c.kind))
            .collect();
        assert_eq!(
            seen,
            [
                (Change::New, "c", Kind::Shape),
                (Change::Gone, "a", Kind::Value),
                (Change::Persisting, "b", Kind::Nan),
            ]
        );
        let kept = &changes[2];
        assert_eq!(
            (kept.old_occurrences.as_str(), kept.new_occurrences.as_str()),
            ("1", "4")
        );
        assert_eq!(kept.status, Some(Status::New));
        assert_eq!(changes[1].status, None, "gone: no status in the new run");
        assert!(changes[1].reproducer.starts_with("run"));
    }

    #[test]
    fn each_signature_is_drawn_from_the_run_that_has_it_the_new_one_first() {
        let eager = ModePair::new(Mode::Numpy, Mode::Eager);
        let xla = ModePair::new(Mode::Numpy, Mode::Xla);
        let mut old = run_with(vec![
            test_row("a", "1", eager, Kind::Value),
            test_row("b", "2", eager, Kind::Nan),
            // Same case and kind as a new one, another pair: not the same signature.
            test_row("c", "3", eager, Kind::Shape),
        ]);
        old.dir = PathBuf::from("old");
        let mut new = run_with(vec![
            test_row("b", "5", eager, Kind::Nan),
            test_row("c", "0", xla, Kind::Shape),
            // Same case and pair as an old one, another kind.
            test_row("a", "6", eager, Kind::Nan),
        ]);
        new.dir = PathBuf::from("new");
        let matched = matched(&old, &new);
        let drawn: Vec<(&str, &str, &str, Kind, Option<&str>)> =
            drawn_signatures(&old, &new, &matched)
                .iter()
                .map(|d| {
                    (
                        d.change,
                        d.dir.to_str().unwrap(),
                        d.row.input.as_str(),
                        d.row.kind,
                        d.before.map(|b| b.input.as_str()),
                    )
                })
                .collect();
        assert_eq!(
            drawn,
            [
                ("new", "new", "0", Kind::Shape, None),
                ("new", "new", "6", Kind::Nan, None),
                ("gone", "old", "1", Kind::Value, None),
                ("gone", "old", "3", Kind::Shape, None),
                ("persisting", "new", "5", Kind::Nan, Some("2")),
            ]
        );
    }

    #[test]
    fn a_pair_changed_when_its_errors_or_kinds_moved() {
        let pair = |max_abs: Option<f64>| {
            let mut summary = PairSummary::new("c", ModePair::new(Mode::Numpy, Mode::Eager));
            summary.max_abs = max_abs;
            summary.max_ulp = max_abs.map(|_| 3);
            summary
        };
        let other = PairSummary::new("d", ModePair::new(Mode::Numpy, Mode::Eager));
        let old = [pair(Some(1e-7)), other.clone()];
        let changes = |new: &[PairSummary]| -> Vec<&'static str> {
            pair_changes(&old, new).iter().map(|c| c.change).collect()
        };
        assert_eq!(
            changes(&[pair(Some(1e-7)), other.clone()]),
            ["same", "same"]
        );
        assert_eq!(
            changes(&[pair(Some(2e-7)), other.clone()]),
            ["changed", "same"]
        );
        assert_eq!(changes(&[pair(Some(1e-7))]), ["same", "gone pair"]);
        let third = PairSummary::new("c", ModePair::new(Mode::Numpy, Mode::Xla));
        assert_eq!(
            changes(&[pair(Some(1e-7)), other.clone(), third]),
            ["same", "same", "new pair"]
        );
    }

    /// Writes `run` as a run directory under `root/name`: its run.json and divergences.csv.
    fn write_run(root: &Path, name: &str, run: &RunOnDisk) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let json = serde_json::to_string(&run.results).unwrap();
        std::fs::write(dir.join("run.json"), json).unwrap();
        let mut log =
            crate::report::DivergenceLog::create(dir.join(crate::report::DIVERGENCES_FILE))
                .unwrap();
        for row in &run.results.rows {
            log.append(row.clone()).unwrap();
        }
        dir
    }

    #[test]
    fn diff_of_two_run_directories_says_whether_a_signature_is_new() {
        let root = tempfile::tempdir().unwrap();
        let eager = ModePair::new(Mode::Numpy, Mode::Eager);
        let old = write_run(
            root.path(),
            "old",
            &run_with(vec![test_row("a", "1", eager, Kind::Value)]),
        );
        let mut upgraded = run_with(vec![
            test_row("a", "1", eager, Kind::Value),
            test_row("b", "0", eager, Kind::Nan),
        ]);
        upgraded.results.info.environment["numpy"] = "9.9.9".into();
        let new = write_run(root.path(), "new", &upgraded);
        let out = root.path().join("diff");
        assert!(diff(&old, &new, Some(&out), false).unwrap(), "b is new");
        let signatures = std::fs::read_to_string(out.join("diff-signatures.csv")).unwrap();
        assert!(
            signatures.starts_with("change,case,mode_a,mode_b,kind,status,"),
            "{signatures}"
        );
        assert!(
            signatures.contains("\nnew,b,numpy,eager,nan,new,"),
            "{signatures}"
        );
        assert!(
            signatures.contains("\npersisting,a,numpy,eager,value,new,"),
            "{signatures}"
        );
        let environment = std::fs::read_to_string(out.join("diff-environment.csv")).unwrap();
        assert!(
            environment.contains("numpy,2.4.6,9.9.9,true"),
            "{environment}"
        );
        assert!(
            environment.contains("seed,20261127,20261127,false"),
            "{environment}"
        );
        let markdown = std::fs::read_to_string(out.join("diff.md")).unwrap();
        assert!(
            markdown.contains("| numpy **changed** | 2.4.6 | 9.9.9 |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| seed | 20261127 | 20261127 |"),
            "{markdown}"
        );
        // Unchanged values once, changed ones with an arrow, a missing side as a dash.
        for line in [
            "| new | b | numpy–eager | nan | new | – → 1 |  |  | – → 1 |",
            "| persisting | a | numpy–eager | value | new | 1 |  |  | 1 |",
        ] {
            assert!(markdown.contains(line), "{line}\n{markdown}");
        }
        assert!(
            markdown.contains("## Signatures: 1 new, 0 gone, 1 persisting"),
            "{markdown}"
        );
        // Nothing new the other way round: b is gone.
        assert!(!diff(&new, &old, Some(&root.path().join("back")), false).unwrap());
    }

    #[test]
    fn the_markdown_counts_each_change_and_lists_moved_pairs() {
        let eager = ModePair::new(Mode::Numpy, Mode::Eager);
        let old = run_with(vec![test_row("a", "1", eager, Kind::Value)]);
        let new = run_with(vec![test_row("c", "0", eager, Kind::Nan)]);
        let text = render_markdown(
            Path::new("old"),
            Path::new("new"),
            &signature_changes(&old, &new, &matched(&old, &new)),
            &pair_changes(&old.results.pairs, &new.results.pairs),
            &environment_changes(&old, &new),
        );
        assert!(
            text.contains("## Signatures: 1 new, 1 gone, 0 persisting"),
            "{text}"
        );
        assert!(
            text.contains("| new | c | numpy–eager | nan | new |"),
            "{text}"
        );
        assert!(
            text.contains("| gone | a | numpy–eager | value | – |"),
            "{text}"
        );
        assert!(text.contains("0 of 1 changed"), "{text}");
        assert!(
            !text.contains("| case | pair | change | kinds |"),
            "no table of no change"
        );
        assert!(
            text.contains("Unchanged pairs are in diff-pairs.csv (cases: scale01)."),
            "{text}"
        );
        // A pair whose error moved is a row of its own.
        let mut moved = new.results.pairs.clone();
        moved[0].max_abs = Some(0.5);
        let text = render_markdown(
            Path::new("old"),
            Path::new("new"),
            &[],
            &pair_changes(&old.results.pairs, &moved),
            &[],
        );
        assert!(text.contains("1 of 1 changed"), "{text}");
        assert!(
            text.contains("| scale01 | numpy–eager | changed |"),
            "{text}"
        );
        assert!(!text.contains("Unchanged pairs"), "{text}");
    }
}
