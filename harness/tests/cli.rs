//! End-to-end tests: the real binary, the real NumPy and TensorFlow of the project's .venv
//! (made by scripts/setup.sh), on the shipped cases and on fixture cases.

use assert_cmd::Command;
use predicates::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

type Row = HashMap<String, String>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn fixtures(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
}

/// tfdiff run from the project's root, finding ./.venv and ./cases as a user's would.
fn tfdiff() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tfdiff"));
    command.current_dir(root()).env_remove("VIRTUAL_ENV");
    command
}

fn read_csv(path: &Path) -> Vec<Row> {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    reader.deserialize().map(|row| row.unwrap()).collect()
}

fn summary_row<'a>(rows: &'a [Row], case: &str, a: &str, b: &str) -> &'a Row {
    rows.iter()
        .find(|r| r["case"] == case && r["mode_a"] == a && r["mode_b"] == b)
        .unwrap_or_else(|| panic!("no summary row for {case} {a}-{b}"))
}

fn number(row: &Row, column: &str) -> u64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column} = {:?} in {row:?}", row[column]))
}

fn run_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

/// The version pinned in scripts/requirements.txt for `package`.
fn pinned(package: &str) -> String {
    let requirements = std::fs::read_to_string(root().join("scripts/requirements.txt")).unwrap();
    requirements
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{package}==")))
        .unwrap_or_else(|| panic!("{package} is not pinned"))
        .trim()
        .to_string()
}

const FIXTURE_CASES: [&str; 11] = [
    "agree",
    "value_off",
    "raises_in_tf",
    "both_raise",
    "returns_none",
    "nan_moved",
    "inf_sign",
    "shape_flattened",
    "mutates_input",
    "loose_tolerance",
    "ulp_tolerance",
];

#[test]
fn each_divergence_kind_is_detected_on_fixture_cases() {
    let out = tempfile::tempdir().unwrap();
    let mut command = tfdiff();
    command
        .args([
            "run",
            "-n",
            "12",
            "--modes",
            "numpy,eager,graph",
            "--cases-dir",
        ])
        .arg(fixtures("cases"))
        .arg("--out")
        .arg(out.path());
    for case in FIXTURE_CASES {
        command.args(["--case", case]);
    }
    // Not a terminal: progress comes as plain lines.
    command
        .assert()
        .code(1)
        .stderr(predicate::str::contains("inputs/s"));

    let summary = read_csv(&out.path().join("summary.csv"));
    assert_eq!(summary.len(), FIXTURE_CASES.len() * 3);
    let kinds = |case: &str, a: &str, b: &str| summary_row(&summary, case, a, b)["kinds"].clone();
    for pair in [("numpy", "eager"), ("numpy", "graph"), ("eager", "graph")] {
        for case in [
            "agree",
            "mutates_input",
            "loose_tolerance",
            "ulp_tolerance",
            "both_raise",
        ] {
            assert_eq!(kinds(case, pair.0, pair.1), "", "{case} {pair:?}");
        }
        assert_eq!(kinds("returns_none", pair.0, pair.1), "error:12");
    }
    assert_eq!(kinds("value_off", "numpy", "eager"), "value:12");
    assert_eq!(kinds("raises_in_tf", "numpy", "eager"), "error:12");
    assert_eq!(kinds("shape_flattened", "numpy", "graph"), "shape:12");
    assert!(kinds("nan_moved", "numpy", "eager").starts_with("nan:"));
    assert!(kinds("inf_sign", "numpy", "eager").starts_with("inf:"));
    // Both sides raising the same exception type agree, and are counted as such.
    let both = summary_row(&summary, "raises_in_tf", "eager", "graph");
    assert_eq!(
        (number(both, "agree"), number(both, "both_raised")),
        (12, 12)
    );
    // A case's TOLERANCE decides for it: 1e-3 apart is fine under atol 1e-2.
    let loose = summary_row(&summary, "loose_tolerance", "numpy", "eager");
    assert!(loose["max_abs"].parse::<f64>().unwrap() > 9e-4);
    let ulp = summary_row(&summary, "ulp_tolerance", "numpy", "eager");
    assert!(number(ulp, "max_ulp") <= 4);

    let divergences = read_csv(&out.path().join("divergences.csv"));
    let value = divergences
        .iter()
        .find(|r| r["case"] == "value_off" && r["mode_b"] == "eager")
        .unwrap();
    let gap = value["value_b"].parse::<f64>().unwrap() - value["value_a"].parse::<f64>().unwrap();
    assert!((gap - 1e-3).abs() < 1e-6, "worst element {value:?}");
    assert_eq!(value["dtype_a"], "float32");
    assert!(number(value, "mismatches") > 0);
    assert!(value["worst_index"].starts_with('('));
    let raised = divergences
        .iter()
        .find(|r| r["case"] == "raises_in_tf")
        .unwrap();
    assert!(
        raised["error"].contains("ValueError: planted failure"),
        "{raised:?}"
    );
    let none = divergences
        .iter()
        .find(|r| r["case"] == "returns_none")
        .unwrap();
    assert!(none["error"].contains("returned None"), "{none:?}");
}

#[test]
fn divergence_rows_carry_every_column_and_a_loadable_reproducer() {
    let out = tempfile::tempdir().unwrap();
    tfdiff()
        .args([
            "-n",
            "5",
            "--modes",
            "numpy,eager",
            "--case",
            "value_off",
            "--cases-dir",
        ])
        .arg(fixtures("cases"))
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(1);
    let header = std::fs::read_to_string(out.path().join("divergences.csv")).unwrap();
    assert_eq!(
        header.lines().next().unwrap(),
        "case,input,seed,shape,mode_a,mode_b,kind,max_abs,max_rel,max_ulp,mismatches,\
         worst_index,value_a,value_b,dtype_a,dtype_b,error,reproducer"
    );
    let rows = read_csv(&out.path().join("divergences.csv"));
    assert_eq!(rows.len(), 5);
    for row in &rows {
        let reproducer = out.path().join(&row["reproducer"]);
        // The environment's own NumPy reads the file back, with the shape the row names.
        let script = format!(
            "import numpy as np; a = np.load({:?}); print('x'.join(map(str, a.shape)), a.dtype)",
            reproducer.display().to_string()
        );
        let output = std::process::Command::new(root().join(".venv/bin/python"))
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            format!("{} uint8", row["shape"])
        );
    }
}

#[test]
fn seed_cases_show_what_each_mode_really_does() {
    let out = tempfile::tempdir().unwrap();
    tfdiff()
        .args([
            "run",
            "-n",
            "25",
            "--modes",
            "numpy,eager,graph,xla,v1",
            "--case",
            "seed_minmax",
            "--case",
            "seed_np_on_tensor",
        ])
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(1);
    let summary = read_csv(&out.path().join("summary.csv"));
    assert_eq!(summary.len(), 14);

    // The article's NumPy min-max (float64) agrees with its TF equivalent (float32) in every
    // mode, within float32 tolerance.
    for row in summary.iter().filter(|r| r["case"] == "seed_minmax") {
        assert_eq!(row["kinds"], "", "{row:?}");
        assert_eq!(number(row, "agree"), 25);
    }
    let minmax = summary_row(&summary, "seed_minmax", "numpy", "eager");
    assert_eq!(
        (minmax["dtype_a"].as_str(), minmax["dtype_b"].as_str()),
        ("float64", "float32")
    );

    // np.max on an eager tensor computes in NumPy and the result agrees; in every graph mode the
    // tensor is symbolic and np.max raises.
    let eager = summary_row(&summary, "seed_np_on_tensor", "numpy", "eager");
    assert_eq!(eager["kinds"], "");
    for mode in ["graph", "xla", "v1"] {
        for reference in ["numpy", "eager"] {
            let row = summary_row(&summary, "seed_np_on_tensor", reference, mode);
            assert_eq!(row["kinds"], "error:25", "{row:?}");
        }
    }
    let divergences = read_csv(&out.path().join("divergences.csv"));
    for mode in ["graph", "xla", "v1"] {
        let row = divergences
            .iter()
            .find(|r| r["case"] == "seed_np_on_tensor" && r["mode_b"] == mode)
            .unwrap();
        assert!(
            row["error"].contains("NotImplementedError") && row["error"].contains("symbolic"),
            "{mode}: {row:?}"
        );
    }

    // Traced once per input rank (2 and 3), not once per shape.
    let run = run_json(out.path());
    for mode in ["graph", "xla", "v1"] {
        let traces = run["traces"]["seed_minmax"][mode].as_u64().unwrap();
        assert!((1..=2).contains(&traces), "{mode} traced {traces} times");
    }
}

#[test]
fn default_run_covers_every_shipped_case_and_records_the_environment() {
    // A directory of its own, holding only what a checkout holds, so ./reports is fresh.
    let work = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root().join("cases"), work.path().join("cases")).unwrap();
    std::os::unix::fs::symlink(root().join(".venv"), work.path().join(".venv")).unwrap();
    std::fs::create_dir(work.path().join("reports")).unwrap();
    let assert = Command::new(env!("CARGO_BIN_EXE_tfdiff"))
        .current_dir(work.path())
        .env_remove("VIRTUAL_ENV")
        .args(["-n", "6"])
        .assert()
        .code(1); // seed_np_on_tensor diverges in graph and xla
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();

    let latest = work.path().join("reports/latest");
    assert!(latest.is_symlink(), "reports/latest is not a link");
    let summary = read_csv(&latest.join("summary.csv"));
    let cases = [
        "imagenet",
        "minmax_per_channel",
        "scale01",
        "scale_pm1",
        "seed_minmax",
        "seed_np_on_tensor",
        "standardize",
    ];
    assert_eq!(summary.len(), cases.len() * 5);
    for case in cases {
        assert!(stdout.contains(case), "table lacks {case}:\n{stdout}");
        for pair in [
            "numpy-eager",
            "numpy-graph",
            "numpy-xla",
            "eager-graph",
            "eager-xla",
        ] {
            let (a, b) = pair.split_once('-').unwrap();
            assert_eq!(number(summary_row(&summary, case, a, b), "inputs"), 6);
        }
    }

    let run = run_json(&latest);
    assert_eq!(run["environment"]["numpy"], pinned("numpy").as_str());
    assert_eq!(
        run["environment"]["tensorflow"],
        pinned("tensorflow-cpu").as_str()
    );
    assert_eq!(run["config"]["seed"], 20_261_127);
    assert_eq!(run["config"]["inputs"], 6);
    assert_eq!(run["inputs_evaluated"], 42);
    assert!(run["inputs_per_second"].as_f64().unwrap() > 0.0);
    assert!(run["finished_at"].is_string());
    assert!(run["environment"]["tensorflow_build"].is_object());
    assert!(!run["cpu_model"].as_str().unwrap().is_empty());
    assert_eq!(run["tfdiff_version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn broken_case_files_are_reported_and_the_other_cases_still_run() {
    let out = tempfile::tempdir().unwrap();
    let mut command = tfdiff();
    command
        .args(["-n", "3", "--modes", "numpy,eager", "--cases-dir"])
        .arg(fixtures("broken"))
        .arg("--out")
        .arg(out.path());
    for case in [
        "good",
        "syntax_error",
        "import_error",
        "missing_tensorflow",
        "bad_tolerance",
        "exits",
    ] {
        command.args(["--case", case]);
    }
    let assert = command.assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    for expected in [
        "syntax_error.py: import failed: SyntaxError",
        "import_error.py: import failed: ModuleNotFoundError",
        "missing_tensorflow.py: defines no function tensorflow(image)",
        "bad_tolerance.py: TOLERANCE must be",
        "exits.py: import failed: SystemExit",
    ] {
        assert!(
            stderr.contains(expected),
            "stderr lacks {expected:?}:\n{stderr}"
        );
    }
    let summary = read_csv(&out.path().join("summary.csv"));
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["case"], "good");
    assert_eq!(number(&summary[0], "agree"), 3);
    let run = run_json(out.path());
    assert_eq!(run["case_load_failures"].as_array().unwrap().len(), 5);
    assert!(String::from_utf8_lossy(&assert.get_output().stdout).contains("NOT RUN"));
}

#[test]
fn list_prints_each_case_with_its_summary_line() {
    let assert = tfdiff().arg("list").assert().code(0);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(stdout.contains("seed_minmax"), "{stdout}");
    assert!(
        stdout.contains("Min-max normalization (x - min) / (max - min), exactly as the article's first example."),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 7, "{stdout}");

    tfdiff()
        .args(["list", "--cases-dir"])
        .arg(fixtures("broken"))
        .args(["--case", "good", "--case", "syntax_error"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "A working case beside the broken ones",
        ))
        .stdout(predicate::str::contains("NOT LOADED"));
}

#[test]
fn same_seed_same_divergences_other_seed_other_inputs() {
    let run = |seed: &str| {
        let out = tempfile::tempdir().unwrap();
        tfdiff()
            .args([
                "-n",
                "8",
                "--modes",
                "numpy,eager",
                "--case",
                "nan_moved",
                "--seed",
                seed,
            ])
            .arg("--cases-dir")
            .arg(fixtures("cases"))
            .arg("--out")
            .arg(out.path())
            .assert()
            .code(1);
        let text = std::fs::read_to_string(out.path().join("divergences.csv")).unwrap();
        let input = std::fs::read(out.path().join("inputs/input-000000.npy")).ok();
        (text, input)
    };
    let first = run("99");
    assert_eq!(first, run("99"));
    assert_ne!(first.0, run("100").0);
}

#[test]
fn doctor_reports_the_environment_it_found() {
    tfdiff()
        .arg("doctor")
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(
            "numpy:           {}",
            pinned("numpy")
        )))
        .stdout(predicate::str::contains(format!(
            "tensorflow:      {}",
            pinned("tensorflow-cpu")
        )))
        .stdout(predicate::str::contains("oneDNN:"))
        .stdout(predicate::str::contains("site-packages:"));
}

#[test]
fn missing_environment_exits_2_and_says_to_run_setup() {
    tfdiff()
        .args(["doctor", "--python-env", "/nonexistent/tfdiff-venv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("scripts/setup.sh"));
    // No flag, no $VIRTUAL_ENV, no ./.venv.
    let empty = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_tfdiff"))
        .current_dir(empty.path())
        .env_remove("VIRTUAL_ENV")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no Python environment"))
        .stderr(predicate::str::contains("scripts/setup.sh"));
}

#[test]
fn environment_of_another_python_version_exits_2() {
    let env = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(env.path().join("lib/python3.8/site-packages")).unwrap();
    tfdiff()
        .arg("--python-env")
        .arg(env.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Python 3.8 environment"))
        .stderr(predicate::str::contains("scripts/setup.sh"));
}

#[test]
fn environment_without_tensorflow_exits_2() {
    // A real, empty virtualenv of the same Python: NumPy and TensorFlow are missing.
    let env = tempfile::tempdir().unwrap();
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".into());
    let status = std::process::Command::new(python)
        .args(["-m", "venv", "--without-pip"])
        .arg(env.path())
        .status()
        .unwrap();
    assert!(status.success());
    tfdiff()
        .args(["-n", "1", "--python-env"])
        .arg(env.path())
        .arg("--out")
        .arg(env.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot import NumPy and TensorFlow",
        ))
        .stderr(predicate::str::contains("run scripts/setup.sh"));
}

#[test]
fn unwritable_report_directory_exits_2_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    tfdiff()
        .arg("--out")
        .arg(file.join("run"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot write reports"))
        .stderr(predicate::str::contains("--out DIR"));
}

#[test]
fn usage_errors_exit_2_with_what_to_do() {
    tfdiff()
        .args(["--modes", "graph,xla"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no pair"));
    tfdiff()
        .args(["--case", "no_such_case"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("known cases are"));
    tfdiff().arg("--no-such-flag").assert().code(2);
    tfdiff()
        .args(["--cases-dir", "/nonexistent/cases"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no such directory"));
    tfdiff().arg("--help").assert().code(0);
}

#[test]
fn ctrl_c_stops_between_inputs_and_keeps_the_reports() {
    use std::io::{BufRead, BufReader};
    let out = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tfdiff"))
        .current_dir(root())
        .env_remove("VIRTUAL_ENV")
        .args(["-n", "100000", "--case", "scale01", "--out"])
        .arg(out.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first progress line means inputs are being evaluated and the handler is set.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("inputs/s") {
            break;
        }
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    lines.for_each(drop);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let run = run_json(out.path());
    assert_eq!(run["interrupted"], true);
    let evaluated = run["inputs_evaluated"].as_u64().unwrap();
    assert!(evaluated > 0 && evaluated < 100_000);
    let summary = read_csv(&out.path().join("summary.csv"));
    assert_eq!(number(&summary[0], "inputs"), evaluated);
    assert!(run["traces"]["scale01"]["graph"].as_u64().unwrap() >= 1);
}
