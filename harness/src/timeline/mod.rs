//! `tfdiff timeline RUN_DIR...`: since when? The runs of one seed in several environments
//! (one per TensorFlow/NumPy release, made by `scripts/timeline.sh`), ordered by version, and
//! per signature the versions where it occurs, when it was first and last seen and whether it
//! comes and goes; per case × pair how the error moved from version to version; per version
//! the environment and the contamination probe's answer. A run that failed in one environment
//! is a row that says so, not a failed timeline.

mod render;
mod version;

pub use version::Version;

use crate::compare::Kind;
use crate::mode::ModePair;
use crate::report::RunEnd;
use crate::run_on_disk::RunOnDisk;
use crate::signature::Signature;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What `scripts/timeline.sh` leaves in a run directory when tfdiff could not run in that
/// environment at all (no run.json): why, in a line or a few.
pub const FAILED_FILE: &str = "FAILED";
/// The requirement set an environment was built from, copied into its run directory.
pub const REQUIREMENTS_FILE: &str = "requirements.txt";

/// One environment of the timeline: its versions, and its run or why there is none.
pub struct Point {
    pub dir: PathBuf,
    pub tensorflow: Option<Version>,
    pub numpy: Option<Version>,
    /// The requirement set it was built from, when the run directory holds it.
    pub requirements: Option<String>,
    pub run: Result<RunOnDisk, String>,
}

impl Point {
    /// "TF 2.12.1 · NumPy 1.23.5".
    pub fn label(&self) -> String {
        let (tensorflow, numpy) = self.versions();
        format!("TF {tensorflow} · NumPy {numpy}")
    }

    /// "2.12.1/1.23.5": the label as a table's column says it.
    pub fn short_label(&self) -> String {
        let (tensorflow, numpy) = self.versions();
        format!("{tensorflow}/{numpy}")
    }

    /// TensorFlow's and NumPy's versions as text, "?" where unknown.
    fn versions(&self) -> (String, String) {
        let text = |v: &Option<Version>| v.as_ref().map_or("?".to_string(), Version::to_string);
        (text(&self.tensorflow), text(&self.numpy))
    }

    /// The run, when it completed.
    pub fn ran(&self) -> Option<&RunOnDisk> {
        self.run.as_ref().ok()
    }

    /// How to install this environment: its requirement lines, else its two pins.
    pub fn pip_line(&self) -> String {
        match &self.requirements {
            Some(text) => {
                let pins: Vec<&str> = text
                    .lines()
                    .map(|line| line.split('#').next().unwrap_or_default().trim())
                    .filter(|line| !line.is_empty())
                    .collect();
                format!("pip install {}", pins.join(" "))
            }
            None => {
                let pin = |name: &str, v: &Option<Version>| {
                    v.as_ref()
                        .map(|v| format!("{name}=={v}"))
                        .unwrap_or_default()
                };
                format!(
                    "pip install {} {}",
                    pin("tensorflow-cpu", &self.tensorflow),
                    pin("numpy", &self.numpy)
                )
            }
        }
    }
}

/// Reads each run directory into a point, ordered by (TensorFlow, NumPy) version. A directory
/// that holds neither a run.json nor a FAILED note is an error (exit 2).
pub fn read_points(dirs: &[PathBuf]) -> Result<Vec<Point>> {
    if dirs.is_empty() {
        bail!("tfdiff timeline needs the run directories, one per environment");
    }
    let mut points = dirs
        .iter()
        .map(|dir| read_point(dir))
        .collect::<Result<Vec<_>>>()?;
    points.sort_by(|a, b| {
        (a.tensorflow.as_ref(), a.numpy.as_ref()).cmp(&(b.tensorflow.as_ref(), b.numpy.as_ref()))
    });
    Ok(points)
}

fn read_point(dir: &Path) -> Result<Point> {
    let requirements = std::fs::read_to_string(dir.join(REQUIREMENTS_FILE)).ok();
    let pinned = |names: &[&str]| {
        requirements
            .as_deref()
            .and_then(|text| pinned_version(text, names))
    };
    if !dir.join("run.json").is_file() {
        let failed = dir.join(FAILED_FILE);
        let reason = std::fs::read_to_string(&failed).with_context(|| {
            format!(
                "{}: neither a run directory (no run.json) nor an environment that failed \
                 (no {FAILED_FILE} note); give the directories scripts/timeline.sh made",
                dir.display()
            )
        })?;
        return Ok(Point {
            dir: dir.to_path_buf(),
            tensorflow: pinned(&["tensorflow-cpu", "tensorflow"]),
            numpy: pinned(&["numpy"]),
            requirements,
            run: Err(format!("no run: {}", reason.trim())),
        });
    }
    let run = RunOnDisk::read(dir)?;
    let environment = &run.results.info.environment;
    let version = |key: &str| environment[key].as_str().and_then(Version::parse);
    let (tensorflow, numpy) = (version("tensorflow"), version("numpy"));
    let run = match &run.results.info.ended {
        RunEnd::Completed => Ok(run),
        ended => Err(format!(
            "the run did not complete ({})",
            ended
                .incomplete_note()
                .unwrap_or_else(|| format!("{ended:?}"))
        )),
    };
    Ok(Point {
        dir: dir.to_path_buf(),
        tensorflow: tensorflow.or_else(|| pinned(&["tensorflow-cpu", "tensorflow"])),
        numpy: numpy.or_else(|| pinned(&["numpy"])),
        requirements,
        run,
    })
}

/// The version pinned (`name==version`) for the first of `names` in a requirement set.
fn pinned_version(text: &str, names: &[&str]) -> Option<Version> {
    text.lines().find_map(|line| {
        let line = line.split('#').next()?.trim();
        let (name, version) = line.split_once("==")?;
        let name = name.trim().to_ascii_lowercase().replace('_', "-");
        names
            .contains(&name.as_str())
            .then(|| Version::parse(version.trim()))
            .flatten()
    })
}

/// Whether a signature occurred in one environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    Yes,
    No,
    /// The environment's run failed, or did not run the case or the pair.
    NotRun,
}

/// One signature across the environments.
pub struct SignatureLine {
    pub signature: Signature,
    /// One per point, in version order.
    pub presence: Vec<Presence>,
}

impl SignatureLine {
    pub fn first_seen(&self) -> Option<usize> {
        self.presence.iter().position(|&p| p == Presence::Yes)
    }

    pub fn last_seen(&self) -> Option<usize> {
        self.presence.iter().rposition(|&p| p == Presence::Yes)
    }

    /// Whether it went away and came back (or came, went and came): more than one stretch of
    /// environments where it occurs, not counting those that did not run it.
    pub fn comes_and_goes(&self) -> bool {
        let known = self.presence.iter().filter(|&&p| p != Presence::NotRun);
        let mut stretches = 0;
        let mut previous = Presence::No;
        for &presence in known {
            if presence == Presence::Yes && previous == Presence::No {
                stretches += 1;
            }
            previous = presence;
        }
        stretches > 1
    }

    /// Where to bisect: among the environments from `since` on, the last one without the
    /// signature before the first one with it (indices into the points). None when it is
    /// there from the first environment of the range on, or never.
    pub fn boundary(&self, points: &[Point], since: &Version) -> Option<(usize, usize)> {
        let in_range = |i: usize| points[i].tensorflow.as_ref().is_some_and(|v| v >= since);
        let known: Vec<usize> = (0..points.len())
            .filter(|&i| in_range(i) && self.presence[i] != Presence::NotRun)
            .collect();
        let first_yes = known
            .iter()
            .position(|&i| self.presence[i] == Presence::Yes)?;
        (first_yes > 0).then(|| (known[first_yes - 1], known[first_yes]))
    }
}

/// Every signature of every run, in order of first appearance, with its presence per point.
pub fn signature_lines(points: &[Point]) -> Vec<SignatureLine> {
    let mut signatures: Vec<Signature> = Vec::new();
    for run in points.iter().filter_map(Point::ran) {
        for row in &run.results.rows {
            if !signatures.contains(&row.signature()) {
                signatures.push(row.signature());
            }
        }
    }
    signatures
        .into_iter()
        .map(|signature| {
            let presence = points
                .iter()
                .map(|point| presence(point, &signature.case, signature.pair, Some(signature.kind)))
                .collect();
            SignatureLine {
                signature,
                presence,
            }
        })
        .collect()
}

/// Whether `kind` (any kind when None) of case and pair occurred in the point's run.
fn presence(point: &Point, case: &str, pair: ModePair, kind: Option<Kind>) -> Presence {
    let Some(run) = point.ran() else {
        return Presence::NotRun;
    };
    let compared = run
        .results
        .pairs
        .iter()
        .any(|p| p.case == case && p.pair() == pair);
    if !compared {
        return Presence::NotRun;
    }
    let found = run.results.rows.iter().any(|row| {
        row.case == case && row.pair() == pair && kind.is_none_or(|kind| row.kind == kind)
    });
    if found {
        Presence::Yes
    } else {
        Presence::No
    }
}

/// Every case × pair compared in any run, in order of first appearance.
pub fn pair_keys(points: &[Point]) -> Vec<(String, ModePair)> {
    let mut keys: Vec<(String, ModePair)> = Vec::new();
    let mut seen: BTreeSet<(String, ModePair)> = BTreeSet::new();
    for run in points.iter().filter_map(Point::ran) {
        for pair in &run.results.pairs {
            let key = (pair.case.clone(), pair.pair());
            if seen.insert(key.clone()) {
                keys.push(key);
            }
        }
    }
    keys
}

/// `tfdiff timeline`: reads the runs, writes timeline.csv, timeline-pairs.csv, timeline.md
/// and timeline.html into `out` (default: the current directory), prints timeline.md.
pub fn timeline(dirs: &[PathBuf], out: Option<&Path>, since: Option<&str>) -> Result<u8> {
    let since = since
        .map(|text| {
            Version::parse(text).with_context(|| {
                format!("--since {text}: not a version; give a TensorFlow release such as 2.15")
            })
        })
        .transpose()?;
    let points = read_points(dirs)?;
    let out = out.unwrap_or(Path::new("."));
    std::fs::create_dir_all(out).with_context(|| {
        format!(
            "cannot write the timeline to {}; choose a writable directory with --out DIR",
            out.display()
        )
    })?;
    let markdown = render::write_all(out, &points, since.as_ref())?;
    print!("{markdown}");
    eprintln!(
        "tfdiff: timeline of {} environment(s) written to {}",
        points.len(),
        out.display()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;
    use crate::report::divergences::test_row;
    use crate::report::PairSummary;

    const EAGER: ModePair = ModePair::new(Mode::Numpy, Mode::Eager);

    /// An environment of TensorFlow `tf` whose run found the value signature of scale01's
    /// numpy-eager pair or not; None: the environment failed.
    fn point(tf: &str, found: Option<bool>) -> Point {
        let run = found.map(|found| {
            let rows = if found {
                vec![test_row("scale01", "1", EAGER, Kind::Value)]
            } else {
                Vec::new()
            };
            let mut run = crate::run_on_disk::fixture_run(rows);
            run.results.pairs = vec![PairSummary::new("scale01", EAGER)];
            run
        });
        Point {
            dir: PathBuf::from(format!("runs/tf{tf}")),
            tensorflow: Version::parse(tf),
            numpy: Version::parse("1.26.4"),
            requirements: Some(format!(
                "tensorflow-cpu=={tf}  # the release\nnumpy==1.26.4\n"
            )),
            run: run.ok_or_else(|| "no run: tensorflow did not import".to_string()),
        }
    }

    fn line(points: &[Point]) -> SignatureLine {
        let mut lines = signature_lines(points);
        assert_eq!(lines.len(), 1);
        lines.remove(0)
    }

    #[test]
    fn a_signature_is_first_and_last_seen_and_may_come_and_go() {
        let points = [
            point("2.12.1", Some(false)),
            point("2.13.1", Some(true)),
            point("2.14.1", None),
            point("2.15.1", Some(true)),
            point("2.16.2", Some(false)),
        ];
        let steady = line(&points);
        use Presence::*;
        assert_eq!(steady.presence, [No, Yes, NotRun, Yes, No]);
        assert_eq!(
            (steady.first_seen(), steady.last_seen()),
            (Some(1), Some(3))
        );
        assert!(
            !steady.comes_and_goes(),
            "a failed environment is not an absence"
        );
        let points = [
            point("2.12.1", Some(true)),
            point("2.13.1", Some(false)),
            point("2.14.1", Some(true)),
        ];
        assert!(line(&points).comes_and_goes());
    }

    #[test]
    fn since_names_the_releases_to_bisect_between() {
        let points = [
            point("2.12.1", Some(true)),
            point("2.14.1", Some(false)),
            point("2.15.1", None),
            point("2.16.2", Some(true)),
        ];
        let found = line(&points);
        // From 2.13 on: absent in 2.14.1, (2.15.1 failed), present in 2.16.2.
        let since = Version::parse("2.13").unwrap();
        assert_eq!(found.boundary(&points, &since), Some((1, 3)));
        assert_eq!(
            points[1].pip_line(),
            "pip install tensorflow-cpu==2.14.1 numpy==1.26.4"
        );
        // From 2.12 on it is there from the first environment: nothing to bisect.
        let since = Version::parse("2.12").unwrap();
        assert_eq!(found.boundary(&points, &since), None);
    }

    #[test]
    fn run_directories_are_ordered_by_version_and_a_failed_environment_is_a_row() {
        let root = tempfile::tempdir().unwrap();
        let mut dirs = Vec::new();
        for (name, tf, numpy) in [
            ("b", "2.12.1", "1.23.5"),
            ("a", "2.9.3", "1.22.4"),
            ("c", "2.12.1", "1.22.4"),
        ] {
            let dir = root.path().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let mut run = crate::run_on_disk::fixture_run(Vec::new());
            run.results.info.environment["tensorflow"] = tf.into();
            run.results.info.environment["numpy"] = numpy.into();
            std::fs::write(
                dir.join("run.json"),
                serde_json::to_string(&run.results).unwrap(),
            )
            .unwrap();
            crate::report::DivergenceLog::create(dir.join(crate::report::DIVERGENCES_FILE))
                .unwrap();
            dirs.push(dir);
        }
        let failed = root.path().join("failed");
        std::fs::create_dir_all(&failed).unwrap();
        std::fs::write(
            failed.join(FAILED_FILE),
            "tfdiff exited 2: TensorFlow does not import\n",
        )
        .unwrap();
        std::fs::write(
            failed.join(REQUIREMENTS_FILE),
            "tensorflow_cpu == 2.10.1\nnumpy==1.23.5\n",
        )
        .unwrap();
        dirs.push(failed);
        let points = read_points(&dirs).unwrap();
        let labels: Vec<String> = points.iter().map(Point::label).collect();
        assert_eq!(
            labels,
            [
                "TF 2.9.3 · NumPy 1.22.4",
                "TF 2.10.1 · NumPy 1.23.5",
                "TF 2.12.1 · NumPy 1.22.4",
                "TF 2.12.1 · NumPy 1.23.5"
            ]
        );
        let failure = points[1].run.as_ref().err().unwrap();
        assert!(failure.contains("TensorFlow does not import"), "{failure}");
        // A directory that is neither is an error that says what to give.
        let empty = root.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let error = read_points(&[empty]).err().unwrap().to_string();
        assert!(error.contains("neither a run directory"), "{error}");
        assert!(read_points(&[]).is_err());
    }
}
