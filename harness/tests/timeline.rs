//! `tfdiff timeline` on real runs in the pinned environment (fixture cases), whose run.json
//! the test then labels with other TensorFlow versions, and on an environment that failed.

mod common;

use common::*;
use std::path::Path;

/// A run of value_off (and agree) into `out`, labelled TensorFlow `tf`; with `atol`, value_off's
/// 1e-3 offsets are within tolerance and its signature does not occur.
fn labelled_run(out: &Path, tf: &str, atol: Option<&str>) {
    let mut command = tfdiff();
    command
        .args(["run", "-n", "6", "--modes", "numpy,eager", "--no-progress"])
        .args(["--shrink-time", "0", "--no-save-regressions", "--cases-dir"])
        .arg(fixtures("cases"))
        .args(["--case", "value_off", "--case", "agree", "--out"])
        .arg(out);
    if let Some(atol) = atol {
        command.args(["--atol", atol]);
    }
    command.output().unwrap();
    let path = out.join("run.json");
    let mut run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    run["environment"]["tensorflow"] = tf.into();
    std::fs::write(&path, run.to_string()).unwrap();
}

#[test]
fn signatures_are_placed_on_the_version_line_with_failed_environments_as_rows() {
    let root = tempfile::tempdir().unwrap();
    let dir = |name: &str| root.path().join(name);
    labelled_run(&dir("late"), "2.13.1", None);
    labelled_run(&dir("early"), "2.9.3", None);
    labelled_run(&dir("between"), "2.12.1", Some("1"));
    std::fs::create_dir_all(dir("broken")).unwrap();
    std::fs::write(
        dir("broken/FAILED"),
        "tfdiff exited with status 2: no TensorFlow\n",
    )
    .unwrap();
    std::fs::write(
        dir("broken/requirements.txt"),
        "tensorflow-cpu==2.10.1\nnumpy==1.23.5\n",
    )
    .unwrap();
    let out = dir("timeline");
    let assert = tfdiff()
        .args(["timeline", "--since", "2.10", "--out"])
        .arg(&out)
        .args(["late", "broken", "early", "between"].map(&dir))
        .assert()
        .code(0);
    let printed = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();

    let rows = read_csv(&out.join("timeline.csv"));
    let numpy = pinned("numpy");
    let label = |tf: &str, np: &str| format!("TF {tf} · NumPy {np}");
    let found = rows
        .iter()
        .find(|r| r["case"] == "value_off" && r["kind"] == "value")
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(found["first_seen"], label("2.9.3", &numpy));
    assert_eq!(found["last_seen"], label("2.13.1", &numpy));
    assert_eq!(found["comes_and_goes"], "true");
    // Ordered by version, 2.9 before 2.12, whatever order the directories came in.
    let presence: Vec<&str> = [
        label("2.9.3", &numpy),
        label("2.10.1", "1.23.5"),
        label("2.12.1", &numpy),
        label("2.13.1", &numpy),
    ]
    .iter()
    .map(|column| found[column].as_str())
    .collect();
    assert_eq!(presence, ["yes", "not run", "no", "yes"]);

    // The failed environment is a row that says so.
    let environments = read_csv(&out.join("timeline-environments.csv"));
    assert_eq!(environments.len(), 4);
    assert!(
        environments[1]["failure"].contains("no TensorFlow"),
        "{environments:?}"
    );
    assert!(printed.contains("**FAILED**"), "{printed}");
    // --since 2.10: absent in 2.12.1, back in 2.13.1: bisect there, with the pip lines.
    assert!(
        printed.contains(&format!(
            "value_off numpy-eager value: absent in {}, present from {}",
            label("2.12.1", &numpy),
            label("2.13.1", &numpy)
        )),
        "{printed}"
    );
    for file in ["timeline.md", "timeline.html", "timeline-pairs.csv"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    // A directory that is no run at all: exit 2, saying what to give.
    std::fs::create_dir_all(dir("empty")).unwrap();
    tfdiff()
        .args(["timeline", "--out"])
        .arg(&out)
        .arg(dir("empty"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("neither a run directory"));
}
