//! End-to-end tests: the real binary, the real NumPy and TensorFlow of the project's .venv
//! (made by scripts/setup.sh), on the shipped cases and on fixture cases.

mod common;

use assert_cmd::Command;
use common::*;
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Output;

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
    let cases = fixture_copy("cases");
    // mutates_input guards the layouts: a one-pixel-wide "transposed" copy once aliased the
    // caller's array, so the NumPy side's write reached TensorFlow's input.
    let mut command = tfdiff();
    command
        .args([
            "run",
            "-n",
            "40",
            "--modes",
            "numpy,eager,graph",
            "--cases-dir",
        ])
        .arg(cases.path())
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

    assert_fixture_summary(out.path());
    assert_fixture_divergences(out.path());
    assert_fixture_junit(out.path());
}

/// summary.csv: each fixture case's kinds per pair, tolerances and both-raised counts.
fn assert_fixture_summary(out: &Path) {
    let summary = read_csv(&out.join("summary.csv"));
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
        assert_eq!(kinds("returns_none", pair.0, pair.1), "error:40");
    }
    // Constant even images and empty ones have no odd pixel: the other inputs diverge.
    assert!(kinds("value_off", "numpy", "eager").starts_with("value:"));
    assert_eq!(kinds("raises_in_tf", "numpy", "eager"), "error:40");
    assert_eq!(kinds("shape_flattened", "numpy", "graph"), "shape:40");
    assert!(kinds("nan_moved", "numpy", "eager").starts_with("nan:"));
    assert!(kinds("inf_sign", "numpy", "eager").starts_with("inf:"));
    // Both sides raising the same exception type agree, and are counted as such.
    let both = summary_row(&summary, "raises_in_tf", "eager", "graph");
    assert_eq!(
        (number(both, "agree"), number(both, "both_raised")),
        (40, 40)
    );
    // A case's TOLERANCE decides for it: 1e-3 apart is fine under atol 1e-2.
    let loose = summary_row(&summary, "loose_tolerance", "numpy", "eager");
    assert!(loose["max_abs"].parse::<f64>().unwrap() > 9e-4);
    let ulp = summary_row(&summary, "ulp_tolerance", "numpy", "eager");
    assert!(number(ulp, "max_ulp") <= 4);
}

/// divergences.csv: one row per signature, shrunk, with the worst element and the error.
fn assert_fixture_divergences(out: &Path) {
    let divergences = read_csv(&out.join("divergences.csv"));
    // One row per signature (case, pair, kind).
    let signatures: std::collections::HashSet<_> = divergences
        .iter()
        .map(|r| (&r["case"], &r["mode_a"], &r["mode_b"], &r["kind"]))
        .collect();
    assert_eq!(signatures.len(), divergences.len());
    let value = divergences
        .iter()
        .find(|r| r["case"] == "value_off" && r["mode_b"] == "eager")
        .unwrap();
    assert!(number(value, "occurrences") > 1);
    // No baseline lists the fixture cases: every divergence is new.
    assert!(divergences.iter().all(|r| r["status"] == "new"));
    // Shrunk: the divergence needs one odd pixel and nothing else.
    assert_eq!(value["shape"], "1x1", "{value:?}");
    assert_eq!(
        value["value_a"].parse::<f64>().unwrap(),
        (1.0f32 / 255.0f32) as f64
    );
    let gap = value["value_b"].parse::<f64>().unwrap() - value["value_a"].parse::<f64>().unwrap();
    assert!((gap - 1e-3).abs() < 1e-6, "worst element {value:?}");
    assert!(!value["generator"].is_empty());
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

/// junit.xml: well-formed, a testsuite per case, a testcase per pair, failures where new.
fn assert_fixture_junit(out: &Path) {
    let junit = parse_junit(&out.join("junit.xml"));
    assert_eq!(junit.len(), FIXTURE_CASES.len() * 3);
    let failure = |case: &str, pair: &str| {
        junit
            .iter()
            .find(|t| t.suite == case && t.name == pair)
            .unwrap_or_else(|| panic!("no testcase {case} {pair}"))
            .failure
            .clone()
    };
    assert_eq!(failure("agree", "numpy-eager"), None);
    assert_eq!(failure("both_raise", "eager-graph"), None);
    let text = failure("value_off", "numpy-eager").expect("value_off fails");
    assert!(text.contains("kind: value (new)"), "{text}");
    assert!(
        text.contains("reproducer: inputs/value_off-numpy-eager-value.npy"),
        "{text}"
    );
    let text = failure("raises_in_tf", "numpy-eager").expect("raises_in_tf fails");
    assert!(text.contains("ValueError: planted failure"), "{text}");
}

struct JunitCase {
    suite: String,
    name: String,
    failure: Option<String>,
}

/// Every testcase of a junit.xml, read with a real XML parser (which fails on malformed XML).
fn parse_junit(path: &Path) -> Vec<JunitCase> {
    use quick_xml::events::Event;
    let text = std::fs::read_to_string(path).unwrap();
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut cases = Vec::new();
    let mut suite = String::new();
    let mut in_failure = false;
    let attribute = |element: &quick_xml::events::BytesStart, key: &str| {
        element
            .attributes()
            .map(|a| a.unwrap())
            .find(|a| a.key.as_ref() == key)
            .map(|a| {
                a.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                    .unwrap()
                    .into_owned()
            })
            .unwrap_or_default()
    };
    loop {
        match reader.read_event().expect("junit.xml is well-formed XML") {
            Event::Start(element) => match element.name().as_ref() {
                "testsuite" => suite = attribute(&element, "name"),
                "testcase" => cases.push(JunitCase {
                    suite: suite.clone(),
                    name: attribute(&element, "name"),
                    failure: None,
                }),
                "failure" => {
                    in_failure = true;
                    cases.last_mut().unwrap().failure = Some(attribute(&element, "message"));
                }
                _ => {}
            },
            Event::Text(body) if in_failure => {
                let failure = cases.last_mut().unwrap().failure.as_mut().unwrap();
                failure.push('\n');
                failure.push_str(&body.into_inner());
            }
            Event::End(element) if element.name().as_ref() == "failure" => in_failure = false,
            Event::Eof => break,
            _ => {}
        }
    }
    cases
}

#[test]
fn divergence_rows_carry_every_column_and_a_loadable_reproducer() {
    let out = tempfile::tempdir().unwrap();
    tfdiff()
        .args([
            "-n",
            "20",
            "--modes",
            "numpy,eager",
            "--case",
            "value_off",
            "--all",
        ])
        .args(["--no-save-regressions", "--cases-dir"])
        .arg(fixtures("cases"))
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(1);
    let header = std::fs::read_to_string(out.path().join("divergences.csv")).unwrap();
    assert_eq!(
        header.lines().next().unwrap(),
        "case,input,seed,generator,shape,original_shape,mode_a,mode_b,kind,status,occurrences,\
         shrink_steps,max_abs,max_rel,max_ulp,mismatches,worst_index,value_a,value_b,dtype_a,\
         dtype_b,error,reproducer,script,regression"
    );
    let signature = read_csv(&out.path().join("divergences.csv"));
    assert_eq!(signature.len(), 1);
    // --all: every divergent input as well, each with its own unshrunk reproducer.
    let rows = read_csv(&out.path().join("occurrences.csv"));
    assert_eq!(rows.len() as u64, number(&signature[0], "occurrences"));
    for row in signature.iter().chain(&rows) {
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
            "--no-save-regressions",
        ])
        .arg("--out")
        .arg(out.path())
        // A user's own OpenBLAS setting reaches the workers (tfdiff sets one only when absent).
        .env("OPENBLAS_THREAD_TIMEOUT", "6")
        .assert()
        .code(0); // every divergence is a known one, listed in cases/expected.toml
    let summary = read_csv(&out.path().join("summary.csv"));
    assert_eq!(summary.len(), 14);
    let divergences = read_csv(&out.path().join("divergences.csv"));

    // The article's NumPy min-max (float64) agrees with its TF equivalent (float32) in every
    // mode on every image with pixels, constant ones included (0/0 is NaN on both sides). On an
    // image with no pixels np.max raises while TF returns an empty result.
    for row in summary.iter().filter(|r| r["case"] == "seed_minmax") {
        let kinds = &row["kinds"];
        assert!(kinds.is_empty() || kinds.starts_with("error:"), "{row:?}");
        assert_eq!(
            number(row, "agree") + number(row, "diverge"),
            number(row, "inputs")
        );
    }
    for row in divergences.iter().filter(|r| r["case"] == "seed_minmax") {
        assert_eq!(row["mode_a"], "numpy", "{row:?}");
        assert!(row["shape"].split('x').any(|side| side == "0"), "{row:?}");
        assert!(row["error"].contains("zero-size array"), "{row:?}");
    }
    for pair in [("eager", "graph"), ("eager", "xla"), ("eager", "v1")] {
        assert_eq!(
            summary_row(&summary, "seed_minmax", pair.0, pair.1)["kinds"],
            ""
        );
    }
    let minmax = summary_row(&summary, "seed_minmax", "numpy", "eager");
    assert_eq!(
        (minmax["dtype_a"].as_str(), minmax["dtype_b"].as_str()),
        ("float64", "float32")
    );

    // np.max on an eager tensor computes in NumPy and the result agrees; in every graph mode the
    // tensor is symbolic and np.max raises.
    let eager = summary_row(&summary, "seed_np_on_tensor", "numpy", "eager");
    assert!(eager["kinds"].is_empty() || eager["kinds"].starts_with("error:"));
    for mode in ["graph", "xla", "v1"] {
        for reference in ["numpy", "eager"] {
            let row = summary_row(&summary, "seed_np_on_tensor", reference, mode);
            assert_eq!(row["kinds"], format!("error:{}", row["inputs"]), "{row:?}");
        }
    }
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
    assert_eq!(run["environment"]["openblas_thread_timeout"], "6");
    for mode in ["graph", "xla", "v1"] {
        let traces = run["traces"]["seed_minmax"][mode].as_u64().unwrap();
        assert!((1..=2).contains(&traces), "{mode} traced {traces} times");
    }
}

#[test]
fn default_run_covers_every_shipped_case_and_records_the_environment() {
    // A directory of its own, holding only what a checkout holds, so ./reports is fresh.
    let work = tempfile::tempdir().unwrap();
    copy_tree(&root().join("cases"), &work.path().join("cases"));
    std::os::unix::fs::symlink(root().join(".venv"), work.path().join(".venv")).unwrap();
    std::fs::create_dir(work.path().join("reports")).unwrap();
    let assert = Command::new(env!("CARGO_BIN_EXE_tfdiff"))
        .current_dir(work.path())
        .env_remove("VIRTUAL_ENV")
        .env_remove("OPENBLAS_THREAD_TIMEOUT")
        .args(["-n", "6"])
        .assert()
        .code(0); // every divergence of the shipped cases is listed in cases/expected.toml
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();

    let latest = work.path().join("reports/latest");
    assert!(latest.is_symlink(), "reports/latest is not a link");
    let summary = read_csv(&latest.join("summary.csv"));
    let cases = shipped_cases();
    assert!(cases.len() >= 16, "{cases:?}");
    assert_eq!(summary.len(), cases.len() * 5);
    for case in &cases {
        assert!(stdout.contains(case), "table lacks {case}:\n{stdout}");
        for pair in [
            "numpy-eager",
            "numpy-graph",
            "numpy-xla",
            "eager-graph",
            "eager-xla",
        ] {
            let (a, b) = pair.split_once('-').unwrap();
            // The generated inputs, after the case's saved regressions.
            let regressions = std::fs::read_dir(root().join("cases/regressions").join(case))
                .map(|dir| {
                    dir.filter(|e| {
                        e.as_ref()
                            .unwrap()
                            .path()
                            .extension()
                            .is_some_and(|x| x == "npy")
                    })
                    .count() as u64
                })
                .unwrap_or(0);
            assert_eq!(
                number(summary_row(&summary, case, a, b), "inputs"),
                6 + regressions
            );
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
    let replayed = run["regressions_replayed"].as_u64().unwrap();
    assert_eq!(
        run["inputs_evaluated"].as_u64().unwrap(),
        6 * cases.len() as u64 + replayed
    );
    assert_eq!(run["shape_pool"].as_array().unwrap().len(), 18);
    assert!(run["xla_compiles"]["scale01"].as_u64().unwrap() <= 18);
    // The rate is over the inputs' part of the run: the end (the probe's last stage, the
    // workers' shutdown, the final reports) takes time too.
    let seconds = |key: &str| run[key].as_f64().unwrap();
    assert!(0.0 < seconds("evaluation_seconds"));
    assert!(seconds("evaluation_seconds") < seconds("elapsed_seconds"));
    let rate = run["inputs_evaluated"].as_f64().unwrap() / seconds("evaluation_seconds");
    assert!((seconds("inputs_per_second") - rate).abs() < 1e-6 * rate);
    assert!(run["finished_at"].is_string());
    assert!(run["environment"]["tensorflow_build"].is_object());
    // Workers' OpenBLAS helpers sleep when idle instead of spinning (see pool/process.rs).
    assert_eq!(run["environment"]["openblas_thread_timeout"], "4");
    assert!(!run["cpu_model"].as_str().unwrap().is_empty());
    assert_eq!(run["tfdiff_version"], env!("CARGO_PKG_VERSION"));
    // Every run measures whether TensorFlow changed NumPy in its process.
    assert_eq!(run["contamination"]["numpy_changed"], false);
    assert_eq!(run["contamination"]["stages"].as_array().unwrap().len(), 4);
    assert!(latest.join("contamination.csv").is_file());
}

/// The names of the shipped cases: cases/*.py but the helpers (_*.py).
fn shipped_cases() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("cases"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|x| x == "py"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('_'))
        .collect();
    names.sort();
    names
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn broken_case_files_are_reported_and_the_other_cases_still_run() {
    let out = tempfile::tempdir().unwrap();
    let mut command = tfdiff();
    command
        .args([
            "-n",
            "3",
            "--modes",
            "numpy,eager",
            "--timeout",
            "3",
            "--no-save-regressions",
            "--cases-dir",
        ])
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
        "dies_at_import",
        "hangs_at_import",
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
        "dies_at_import.py: importing it killed the worker process (crash: exit status 7",
        "hangs_at_import.py: importing it did not finish within 3 s; the worker was killed",
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
    assert_eq!(run["case_load_failures"].as_array().unwrap().len(), 7);
    // Each worker meets both on its own, and is started again without them.
    let workers = &run["workers"];
    assert_eq!(workers["timeouts"], workers["jobs"], "{workers}");
    assert_eq!(workers["crashes"], workers["jobs"], "{workers}");
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
    assert_eq!(stdout.lines().count(), shipped_cases().len(), "{stdout}");

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
            .args(["-n", "30", "--modes", "numpy,eager", "--case", "value_off"])
            .args(["--seed", seed, "--no-save-regressions", "--cases-dir"])
            .arg(fixtures("cases"))
            .arg("--out")
            .arg(out.path())
            .assert()
            .code(1);
        let text = std::fs::read_to_string(out.path().join("divergences.csv")).unwrap();
        let row = read_csv(&out.path().join("divergences.csv")).remove(0);
        let shrunk = std::fs::read(out.path().join(&row["reproducer"])).unwrap();
        let input = (row["generator"].clone(), row["original_shape"].clone());
        (text, shrunk, input, row["shape"].clone())
    };
    let first = run("99");
    assert_eq!(first, run("99"));
    // Another seed generates other inputs (the first divergent one is of another class and
    // shape), and the bug is shrunk to the same single pixel.
    let other = run("100");
    assert_ne!(first.2, other.2, "the input it was found on");
    assert_eq!((first.3.as_str(), other.3.as_str()), ("1x1", "1x1"));
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
        .stdout(predicate::str::contains("site-packages:"))
        .stdout(
            predicate::str::is_match(
                r"worker: +started in [0-9.]+ s, (0\.[1-9]|[1-9]\.)[0-9]+ GB peak",
            )
            .unwrap(),
        )
        .stdout(predicate::str::contains("--jobs defaults to"));
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
        .stderr(predicate::str::contains("cannot import NumPy"))
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
    // Numbers out of range say what is wanted, not that the value looks like an option.
    tfdiff()
        .args(["--inputs", "-1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("must be at least 1"));
    tfdiff()
        .args(["--shrink-time", "-1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("must be a number of seconds >= 0"));
    // An interpreter is taken for its environment; another file is told what to give.
    tfdiff()
        .args(["list", "--python-env", ".venv/bin/python"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("scale01"));
    tfdiff()
        .args(["list", "--python-env", "README.md"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("give the environment's directory"));
    // The hidden worker command, run by hand, says what to run instead of waiting on stdin.
    tfdiff()
        .args(["worker", "--python-env", ".venv"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "Run `tfdiff` (or `tfdiff run`) instead",
        ));
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

const PLANTED: [&str; 4] = [
    "constant_only",
    "side1_only",
    "rank2_only",
    "four_channels_only",
];

/// The environment's own Python, as a user would run a reproduction script.
#[test]
fn planted_edge_bugs_are_found_shrunk_saved_replayed_and_reproduced() {
    let cases = fixture_copy("planted");
    let first = tempfile::tempdir().unwrap();
    let mut command = tfdiff();
    command
        .arg("--cases-dir")
        .arg(cases.path())
        .arg("--out")
        .arg(first.path());
    for case in PLANTED {
        command.args(["--case", case]);
    }
    command.assert().code(1);

    let divergences = read_csv(&first.path().join("divergences.csv"));
    assert_planted_bugs_found_once_and_shrunk(&divergences);
    assert_regressions_saved_beside_the_cases(cases.path());
    assert_script_reproduces_the_divergence(first.path(), &divergences);
    assert_next_run_replays_the_regressions(cases.path());
}

/// Found by a default run, once per signature, and shrunk to at most 2x2 pixels.
fn assert_planted_bugs_found_once_and_shrunk(divergences: &[Row]) {
    for case in PLANTED {
        let rows: Vec<&Row> = divergences.iter().filter(|r| r["case"] == case).collect();
        let pairs: Vec<String> = rows
            .iter()
            .map(|r| format!("{}-{}:{}", r["mode_a"], r["mode_b"], r["kind"]))
            .collect();
        assert_eq!(
            pairs,
            ["numpy-eager:value", "numpy-graph:value", "numpy-xla:value"],
            "{case}"
        );
        for row in rows {
            let sides: Vec<usize> = row["shape"]
                .split('x')
                .map(|s| s.parse().unwrap())
                .collect();
            assert!(
                sides[0] * sides[1] <= 4,
                "{case} shrunk only to {}",
                row["shape"]
            );
            // Found on a larger input, it took shrinking steps to get there.
            let original: usize = row["original_shape"]
                .split('x')
                .take(2)
                .map(|s| s.parse::<usize>().unwrap())
                .product();
            if original > 4 {
                assert!(number(row, "shrink_steps") > 0, "{row:?}");
            }
            assert!(number(row, "occurrences") >= 1);
        }
    }
    let shape_of = |case: &str| {
        divergences
            .iter()
            .find(|r| r["case"] == case)
            .map(|r| r["shape"].clone())
            .unwrap()
    };
    assert_eq!(shape_of("rank2_only"), "1x1");
    assert_eq!(shape_of("four_channels_only"), "1x1x4");
    assert_eq!(shape_of("side1_only"), "1x1");
    assert_eq!(shape_of("constant_only"), "1x1");
}

/// Saved under regressions/<case>/ next to the case file, each with its record.
fn assert_regressions_saved_beside_the_cases(cases: &Path) {
    for case in PLANTED {
        let dir = cases.join("regressions").join(case);
        let saved: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "npy"))
            .collect();
        assert_eq!(saved.len(), 3, "{case}: {saved:?}");
        let record: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(saved[0].with_extension("json")).unwrap(),
        )
        .unwrap();
        assert_eq!(record["case"], case);
        assert_eq!(record["kind"], "value");
        assert_eq!(record["numpy"], pinned("numpy").as_str());
        assert!(record["max_abs"].as_f64().unwrap() > 0.5);
    }
}

/// The reproduction script shows the divergence with nothing but the environment's Python.
fn assert_script_reproduces_the_divergence(first: &Path, divergences: &[Row]) {
    let row = divergences
        .iter()
        .find(|r| r["case"] == "four_channels_only" && r["mode_b"] == "xla")
        .unwrap();
    let output = venv_python()
        .arg(first.join(&row["script"]))
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("DIVERGES: value"), "{stdout}");
    assert!(stdout.contains("input (1, 1, 4) uint8"), "{stdout}");
}

/// The next run replays the saved regressions first, and says so in the input column.
fn assert_next_run_replays_the_regressions(cases: &Path) {
    let second = tempfile::tempdir().unwrap();
    tfdiff()
        .args([
            "-n",
            "1",
            "--modes",
            "numpy,eager",
            "--case",
            "rank2_only",
            "--cases-dir",
        ])
        .arg(cases)
        .arg("--out")
        .arg(second.path())
        .assert()
        .code(1);
    let replayed = read_csv(&second.path().join("divergences.csv"));
    assert!(
        replayed[0]["input"].starts_with("regression:numpy-"),
        "{:?}",
        replayed[0]
    );
    assert_eq!(run_json(second.path())["regressions_replayed"], 3);
}

#[test]
fn replay_runs_given_files_and_regenerates_numbered_inputs() {
    let cases = fixture_copy("planted");
    let first = tempfile::tempdir().unwrap();
    tfdiff()
        .args([
            "--modes",
            "numpy,eager",
            "--case",
            "four_channels_only",
            "--cases-dir",
        ])
        .arg(cases.path())
        .arg("--out")
        .arg(first.path())
        .assert()
        .code(1);
    let row = read_csv(&first.path().join("divergences.csv")).remove(0);

    // A saved regression names its case in the record beside it.
    let replay = tempfile::tempdir().unwrap();
    tfdiff()
        .args(["replay", "--modes", "numpy,eager"])
        .arg(&row["regression"])
        .arg("--out")
        .arg(replay.path())
        .assert()
        .code(1);
    let replayed = read_csv(&replay.path().join("summary.csv"));
    assert_eq!(number(&replayed[0], "inputs"), 1);
    assert_eq!(number(&replayed[0], "diverge"), 1);

    // The input number and seed of a row regenerate its original, unshrunk input.
    let again = tempfile::tempdir().unwrap();
    tfdiff()
        .args([
            "replay",
            "--modes",
            "numpy,eager",
            "--case",
            "four_channels_only",
        ])
        .args(["--seed", &row["seed"], "--input", &row["input"]])
        .arg("--cases-dir")
        .arg(cases.path())
        .args(["--shrink-time", "0", "--out"])
        .arg(again.path())
        .assert()
        .code(1);
    let regenerated = read_csv(&again.path().join("divergences.csv")).remove(0);
    assert_eq!(regenerated["shape"], row["original_shape"]);
    assert_eq!(regenerated["generator"], row["generator"]);

    // --input needs a case; a file that is not an image is refused with what it must be.
    tfdiff()
        .args(["replay", "--input", "3"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--case"));
    let junk = replay.path().join("junk.npy");
    std::fs::write(&junk, b"not numpy").unwrap();
    tfdiff()
        .args(["replay", "--case", "scale01"])
        .arg(&junk)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("uint8"));
}

/// A baseline of one entry for the fixture case value_off (numpy-eager, off by 1e-3).
fn baseline_file(dir: &Path, kind: &str, bound: &str) -> PathBuf {
    let path = dir.join("expected.toml");
    std::fs::write(
        &path,
        format!(
            "[[known]]\ncase = \"value_off\"\npair = \"numpy-eager\"\nkind = \"{kind}\"\n\
             {bound}\nreason = \"planted: the TF side adds 1e-3 to odd pixels\"\n"
        ),
    )
    .unwrap();
    path
}

fn run_value_off_with(baseline: &Path, expected_code: i32) -> (Vec<Row>, serde_json::Value) {
    let out = tempfile::tempdir().unwrap();
    tfdiff()
        .args(["-n", "20", "--modes", "numpy,eager", "--case", "value_off"])
        .arg("--no-save-regressions")
        .arg("--cases-dir")
        .arg(fixtures("cases"))
        .arg("--baseline")
        .arg(baseline)
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(expected_code);
    (
        read_csv(&out.path().join("divergences.csv")),
        run_json(out.path()),
    )
}

#[test]
fn known_divergences_pass_until_they_exceed_their_bound() {
    let dir = tempfile::tempdir().unwrap();
    // Listed, bound above the measured 1e-3: known, exit 0.
    let (rows, run) = run_value_off_with(&baseline_file(dir.path(), "value", "max_abs = 1e-2"), 0);
    assert_eq!(rows[0]["status"], "known");
    assert_eq!(run["failing_signatures"], 0);
    let summary_status = run["pairs"][0]["status"].as_str().unwrap().to_string();
    assert_eq!(summary_status, "known");
    // Listed, bound below it: exceeded, exit 1.
    let (rows, _) = run_value_off_with(&baseline_file(dir.path(), "value", "max_abs = 1e-4"), 1);
    assert_eq!(rows[0]["status"], "exceeded");
    let (rows, _) = run_value_off_with(&baseline_file(dir.path(), "value", "max_ulp = 10"), 1);
    assert_eq!(rows[0]["status"], "exceeded");
    // Another kind listed: this one is new, and the listed one is reported as not seen.
    let (rows, run) = run_value_off_with(&baseline_file(dir.path(), "nan", ""), 1);
    assert_eq!(rows[0]["status"], "new");
    assert_eq!(run["known_not_seen"][0]["kind"], "nan");
    // A broken baseline is a usage error that says what an entry needs.
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[[known]]\ncase = 1\n").unwrap();
    tfdiff()
        .args(["--case", "scale01", "--baseline"])
        .arg(&broken)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a baseline file"));
}

#[test]
fn merged_shards_equal_the_unsharded_run() {
    let whole = tempfile::tempdir().unwrap();
    run_shard(whole.path(), None);
    let shards: Vec<tempfile::TempDir> = (1..=3).map(|_| tempfile::tempdir().unwrap()).collect();
    for (k, dir) in shards.iter().enumerate() {
        run_shard(dir.path(), Some(&format!("{}/3", k + 1)));
    }
    // The shards share the inputs out, every input to one shard.
    let evaluated = |dir: &Path| run_json(dir)["inputs_evaluated"].as_u64().unwrap();
    let shares: Vec<u64> = shards.iter().map(|d| evaluated(d.path())).collect();
    assert_eq!(shares.iter().sum::<u64>(), evaluated(whole.path()));
    assert!(shares
        .iter()
        .all(|&share| share < evaluated(whole.path()) / 2));
    let merged = tempfile::tempdir().unwrap();
    let mut command = tfdiff();
    command.arg("merge").arg("--out").arg(merged.path());
    for dir in shards.iter().rev() {
        command.arg(dir.path());
    }
    command.assert().code(1);
    assert_merged_equals_whole(whole.path(), merged.path());
    assert_wrong_shard_sets_are_refused(&shards, whole.path(), merged.path());
    assert_an_unfinished_shard_merges_only_when_allowed(&shards);
    assert_an_edited_shard_is_an_error(&shards);
    assert_paths_out_of_a_shard_are_not_followed(&shards);
}

/// A run of the planted fixtures, whole or as `shard` ("k/n").
fn run_shard(out: &Path, shard: Option<&str>) {
    let mut command = tfdiff();
    command
        .args([
            "-n",
            "60",
            "--modes",
            "numpy,eager,xla",
            "--no-save-regressions",
        ])
        .arg("--cases-dir")
        .arg(fixtures("planted"))
        .args(["--case", "four_channels_only", "--case", "side1_only"])
        .args(["--case", "seed_minmax", "--out"])
        .arg(out);
    if let Some(shard) = shard {
        command.args(["--shard", shard]);
    }
    command.assert().code(1);
}

/// `tfdiff merge` of the shards into a new directory, with `--allow-incomplete` when `allow`.
fn merge_shards(shards: &[tempfile::TempDir], allow: bool) -> (Output, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let mut command = tfdiff();
    command.arg("merge").arg("--out").arg(out.path());
    for dir in shards {
        command.arg(dir.path());
    }
    if allow {
        command.arg("--allow-incomplete");
    }
    (command.output().unwrap(), out)
}

/// Every deterministic report and run.json's counts are the whole run's; the merged run
/// carries each signature's reproducer and script.
fn assert_merged_equals_whole(whole: &Path, merged: &Path) {
    for file in DETERMINISTIC_REPORTS {
        let read = |dir: &Path| std::fs::read_to_string(dir.join(file)).unwrap();
        assert_eq!(read(whole), read(merged), "{file} differs");
    }
    let (a, b) = (run_json(whole), run_json(merged));
    for key in [
        "pairs",
        "inputs_evaluated",
        "signatures",
        "traces",
        "xla_compiles",
        "regressions_replayed",
        "failing_signatures",
        "known_not_seen",
        "shape_pool",
    ] {
        assert_eq!(a[key], b[key], "run.json {key} differs");
    }
    assert_eq!(b["config"]["shard"], serde_json::Value::Null);
    // The merged run carries each signature's reproducer and script.
    for row in read_csv(&merged.join("divergences.csv")) {
        assert!(merged.join(&row["reproducer"]).is_file());
        assert!(merged.join(&row["script"]).is_file());
    }
}

/// Shards of different runs, an incomplete set, or --out at one of the shards are refused;
/// the shard untouched.
fn assert_wrong_shard_sets_are_refused(shards: &[tempfile::TempDir], whole: &Path, merged: &Path) {
    tfdiff()
        .arg("merge")
        .arg("--out")
        .arg(merged.join("partial"))
        .arg(shards[0].path())
        .arg(shards[1].path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("shard 3/3 is missing"));
    tfdiff()
        .arg("merge")
        .arg("--out")
        .arg(merged.join("mixed"))
        .arg(whole)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a shard"));

    // --out at one of its own shards would overwrite it.
    let before = std::fs::read(shards[0].path().join("run.json")).unwrap();
    let mut command = tfdiff();
    command.arg("merge").arg("--out").arg(shards[0].path());
    for dir in shards {
        command.arg(dir.path());
    }
    command.assert().code(2).stderr(predicate::str::contains(
        "is one of the shards being merged",
    ));
    assert_eq!(
        before,
        std::fs::read(shards[0].path().join("run.json")).unwrap()
    );
}

/// A shard whose process died mid-run (its run.json still says "running") is refused, and
/// merged only when asked, with the merged reports saying so and no success status.
fn assert_an_unfinished_shard_merges_only_when_allowed(shards: &[tempfile::TempDir]) {
    let json = shards[1].path().join("run.json");
    let mut killed = run_json(shards[1].path());
    killed["ended"] = "running".into();
    std::fs::write(&json, serde_json::to_string(&killed).unwrap()).unwrap();
    let (refused, _) = merge_shards(shards, false);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&shards[1].path().display().to_string())
            && stderr.contains("has not finished"),
        "{stderr}"
    );
    let (allowed, out) = merge_shards(shards, true);
    assert_eq!(allowed.status.code(), Some(2), "never green");
    assert_eq!(run_json(out.path())["ended"], "running");
    let summary_md = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(summary_md.starts_with("**INCOMPLETE RUN"), "{summary_md}");
    killed["ended"] = "completed".into();
    std::fs::write(&json, serde_json::to_string(&killed).unwrap()).unwrap();
}

/// A shard file edited by hand, or a shard number run.json cannot hold, is an error naming
/// what is wrong, not a panic.
fn assert_an_edited_shard_is_an_error(shards: &[tempfile::TempDir]) {
    let rows_file = shards[0].path().join("divergences.csv");
    let original = std::fs::read_to_string(&rows_file).unwrap();
    let edited = original.replacen(",value,", ",Value,", 1);
    assert_ne!(edited, original, "the shard has a value row to edit");
    std::fs::write(&rows_file, &edited).unwrap();
    let (malformed, _) = merge_shards(shards, false);
    assert_eq!(malformed.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&malformed.stderr);
    assert!(
        stderr.contains("divergences.csv, row ") && stderr.contains(", column kind: "),
        "{stderr}"
    );
    std::fs::write(&rows_file, &original).unwrap();
    let first_json = shards[0].path().join("run.json");
    let before = std::fs::read(&first_json).unwrap();
    let mut zero = run_json(shards[0].path());
    zero["config"]["shard"]["index"] = 0.into();
    std::fs::write(&first_json, serde_json::to_string(&zero).unwrap()).unwrap();
    let (out_of_range, _) = merge_shards(shards, false);
    assert_eq!(out_of_range.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out_of_range.stderr).contains("not a shard of 3"));
    std::fs::write(&first_json, &before).unwrap();
}

/// A path in a row that leads out of its shard is not followed (here it would have copied a
/// file outside both directories onto itself, emptying it).
fn assert_paths_out_of_a_shard_are_not_followed(shards: &[tempfile::TempDir]) {
    let victim = tempfile::tempdir().unwrap();
    let secret = victim.path().join("secret.txt");
    std::fs::write(&secret, "not the merge's").unwrap();
    let escape = format!(
        "../{}/secret.txt",
        victim.path().file_name().unwrap().to_string_lossy()
    );
    for shard in shards {
        let file = shard.path().join("divergences.csv");
        let text = std::fs::read_to_string(&file).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().unwrap().clone();
        let script = headers.iter().position(|h| h == "script").unwrap();
        let mut writer = csv::Writer::from_writer(vec![]);
        writer.write_record(&headers).unwrap();
        for record in reader.records() {
            let mut fields: Vec<String> = record.unwrap().iter().map(String::from).collect();
            fields[script] = escape.clone();
            writer.write_record(&fields).unwrap();
        }
        std::fs::write(&file, writer.into_inner().unwrap()).unwrap();
    }
    let (confined, _) = merge_shards(shards, false);
    let stderr = String::from_utf8_lossy(&confined.stderr);
    assert_eq!(confined.status.code(), Some(1), "{stderr}");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "not the merge's");
}

#[test]
fn diff_sorts_signatures_into_new_gone_and_persisting() {
    let run = |cases: &[&str]| {
        let out = tempfile::tempdir().unwrap();
        let mut command = tfdiff();
        command
            .args([
                "-n",
                "15",
                "--modes",
                "numpy,eager",
                "--no-save-regressions",
            ])
            .arg("--cases-dir")
            .arg(fixtures("cases"))
            .arg("--out")
            .arg(out.path());
        for case in cases {
            command.args(["--case", case]);
        }
        command.assert().code(1);
        out
    };
    let old = run(&["value_off", "raises_in_tf"]);
    let new = run(&["value_off", "nan_moved"]);
    let report = tempfile::tempdir().unwrap();
    let assert = tfdiff()
        .arg("diff")
        .arg(old.path())
        .arg(new.path())
        .arg("--out")
        .arg(report.path())
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(stdout.contains("1 new, 1 gone, 1 persisting"), "{stdout}");

    let signatures = read_csv(&report.path().join("diff-signatures.csv"));
    let change_of = |case: &str| {
        signatures
            .iter()
            .find(|s| s["case"] == case)
            .map(|s| s["change"].clone())
            .unwrap()
    };
    assert_eq!(change_of("nan_moved"), "new");
    assert_eq!(change_of("raises_in_tf"), "gone");
    assert_eq!(change_of("value_off"), "persisting");
    let pairs = read_csv(&report.path().join("diff-pairs.csv"));
    assert!(pairs
        .iter()
        .any(|p| p["case"] == "nan_moved" && p["change"] == "new pair"));
    assert!(pairs
        .iter()
        .any(|p| p["case"] == "raises_in_tf" && p["change"] == "gone pair"));
    let value_off = pairs.iter().find(|p| p["case"] == "value_off").unwrap();
    assert_eq!(value_off["change"], "same");
    let environment = read_csv(&report.path().join("diff-environment.csv"));
    let numpy = environment.iter().find(|e| e["key"] == "numpy").unwrap();
    assert_eq!(
        (numpy["changed"].as_str(), numpy["new"].clone()),
        ("false", pinned("numpy"))
    );
    assert!(std::fs::read_to_string(report.path().join("diff.md"))
        .unwrap()
        .contains("| new | nan_moved |"));

    // Nothing new: exit 0. Not a run directory: exit 2.
    tfdiff()
        .arg("diff")
        .arg(new.path())
        .arg(new.path())
        .arg("--out")
        .arg(report.path().join("same"))
        .assert()
        .code(0);
    tfdiff()
        .arg("diff")
        .arg(report.path())
        .arg(new.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a tfdiff run directory"));
}

#[test]
fn probe_finds_numpy_unchanged_by_tensorflow_and_catches_ftz_daz_set_on_purpose() {
    // On the pinned versions importing and running TensorFlow leaves NumPy alone.
    let assert = tfdiff().arg("probe").assert().code(0);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(
        stdout.contains("after import tensorflow: FTZ off, DAZ off")
            && stdout.contains("NumPy results identical to the clean process"),
        "{stdout}"
    );

    // FTZ and DAZ set from Rust before the TensorFlow stages: caught, with the changed results.
    let out = tempfile::tempdir().unwrap();
    let assert = tfdiff()
        .args(["probe", "--force-ftz-daz", "--out"])
        .arg(out.path())
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(
        stdout.contains("before import tensorflow: FTZ off, DAZ off"),
        "{stdout}"
    );
    assert!(
        stdout.contains("after import tensorflow: FTZ on, DAZ on"),
        "{stdout}"
    );
    assert!(
        stdout.contains("f32 1e-38 * 1e-3 (makes a subnormal): clean 9.99966584142"),
        "{stdout}"
    );
    assert!(stdout.contains("here 0.0"), "{stdout}");
    let rows = read_csv(&out.path().join("contamination.csv"));
    let row = |stage: &str, check: &str| {
        rows.iter()
            .find(|r| r["stage"] == stage && r["check"] == check)
            .unwrap_or_else(|| panic!("no row {stage} {check}"))
            .clone()
    };
    let subnormal = "f32 1e-40 * 1e3 (reads a subnormal)";
    assert_eq!(
        row("before import tensorflow", subnormal)["same_as_clean"],
        "true"
    );
    assert_eq!(
        row("after import tensorflow", subnormal)["same_as_clean"],
        "false"
    );
    assert_eq!(row("after import tensorflow", "MXCSR DAZ")["value"], "on");
    // Reductions of normal numbers do not depend on FTZ/DAZ.
    assert_eq!(
        row("after import tensorflow", "f64 sum of 1e6")["same_as_clean"],
        "true"
    );
}

#[test]
fn out_at_a_non_empty_directory_is_refused_and_force_empties_only_an_earlier_run() {
    let run = |out: &Path, force: bool| {
        let mut command = tfdiff();
        command
            .args(["-n", "3", "--case", "scale01", "--no-save-regressions"])
            .arg("--out")
            .arg(out);
        if force {
            command.arg("--force");
        }
        command.output().unwrap()
    };
    // Somebody's directory: refused, with or without --force, and left alone.
    let theirs = tempfile::tempdir().unwrap();
    std::fs::write(theirs.path().join("notes.txt"), "mine").unwrap();
    for force in [false, true] {
        let output = run(theirs.path(), force);
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("not empty"), "{stderr}");
    }
    assert!(theirs.path().join("notes.txt").is_file());
    assert!(!theirs.path().join("run.json").exists());

    // An earlier run's directory: refused, then emptied with --force; nothing stale stays.
    let earlier = tempfile::tempdir().unwrap();
    assert_eq!(run(earlier.path(), false).status.code(), Some(0));
    let stale = earlier
        .path()
        .join("repro")
        .join("stale-case-numpy-eager-value.py");
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, "# from another run").unwrap();
    let refused = run(earlier.path(), false);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    assert!(stale.is_file(), "a refused run touches nothing");
    assert_eq!(run(earlier.path(), true).status.code(), Some(0));
    assert!(!stale.exists(), "the earlier run's files are gone");
    assert_eq!(run_json(earlier.path())["ended"], "completed");
}

#[test]
fn the_baseline_next_to_cases_run_from_elsewhere_is_loaded_and_named() {
    let cases = fixture_copy("cases");
    let elsewhere = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tfdiff"))
            .current_dir(elsewhere.path())
            .env_remove("VIRTUAL_ENV")
            .args(["-n", "5", "--modes", "numpy,eager", "--case", "value_off"])
            .args(["--no-save-regressions", "--force", "--python-env"])
            .arg(root().join(".venv"))
            .arg("--cases-dir")
            .arg(cases.path())
            .arg("--out")
            .arg(out.path())
            .output()
            .unwrap()
    };
    // Without a baseline the planted divergence is new...
    assert_eq!(run().status.code(), Some(1));
    // ...with one beside the cases it is known, and the run says where it read that.
    std::fs::write(
        cases.path().join("expected.toml"),
        "[[known]]\ncase = \"value_off\"\npair = \"numpy-eager\"\nkind = \"value\"\n\
         reason = \"planted\"\n\n[[known]]\ncase = \"no_such_case\"\npair = \"numpy-eager\"\n\
         kind = \"value\"\nreason = \"gone\"\n",
    )
    .unwrap();
    let output = run();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("known divergences: 2 entries from") && stderr.contains("expected.toml"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: the baseline lists case \"no_such_case\""),
        "{stderr}"
    );
    let rows = read_csv(&out.path().join("divergences.csv"));
    assert_eq!(rows[0]["status"], "known");
}

#[test]
fn a_case_that_sets_numpy_error_handling_cannot_change_another_cases_results() {
    let out = tempfile::tempdir().unwrap();
    // One worker imports both; overflows runs first but after seterr_raise was imported.
    let output = tfdiff()
        .args([
            "-n",
            "8",
            "-j",
            "1",
            "--shrink-time",
            "0",
            "--no-save-regressions",
        ])
        .arg("--cases-dir")
        .arg(fixtures("global_state"))
        .args(["--case", "overflows", "--case", "seterr_raise", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let summary = read_csv(&out.path().join("summary.csv"));
    for row in summary.iter().filter(|r| r["case"] == "overflows") {
        assert_eq!(number(row, "agree"), 8, "{row:?}");
    }
    assert!(
        stderr.contains("warning: case seterr_raise changed process-wide state"),
        "{stderr}"
    );
    let run = run_json(out.path());
    let changes = run["state_changes"]["seterr_raise"].as_array().unwrap();
    let text: Vec<&str> = changes.iter().map(|c| c.as_str().unwrap()).collect();
    assert!(
        text.iter()
            .any(|c| c.starts_with("at import: np.seterr(") && c.contains("over='raise'")),
        "{text:?}"
    );
    assert!(
        text.contains(&"in numpy: np.set_printoptions(precision)"),
        "{text:?}"
    );
    assert!(run["state_changes"].get("overflows").is_none());
    let summary_md = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(summary_md.contains("Case `seterr_raise` changed process-wide state"));
}

#[test]
fn an_output_beyond_max_output_bytes_is_an_error_outcome_not_an_allocation() {
    let run = |inputs: &str, extra: &[&str]| {
        let out = tempfile::tempdir().unwrap();
        tfdiff()
            .args(["-n", inputs, "-j", "1", "--modes", "numpy,eager"])
            .args(["--shrink-time", "0", "--no-save-regressions"])
            .args(["--case", "huge_int64", "--cases-dir"])
            .arg(fixtures("big_output"))
            .args(extra)
            .arg("--out")
            .arg(out.path())
            .assert()
            .code(1);
        out
    };
    let out = run("3", &[]);
    let rows = read_csv(&out.path().join("divergences.csv"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["kind"], "error");
    assert!(
        rows[0]["error"].starts_with(
            "numpy: OutputTooLarge: output too large: 1152000000 bytes (int64 of shape \
             12000x12000) is more than --max-output-bytes 268435456"
        ),
        "{:?}",
        rows[0]
    );
    // Raised, the limit lets it through to be compared (a shape divergence then).
    let small = run("1", &["--max-output-bytes", "2000000000"]);
    let rows = read_csv(&small.path().join("divergences.csv"));
    assert_eq!(rows[0]["kind"], "shape", "{:?}", rows[0]);
}

/// Runs two fixture cases of global_state in one worker (`changer` imported first), numpy
/// against eager, and returns how many inputs `reader` agreed on and run.json's state_changes.
fn one_worker_runs(changer: &str, reader: &str, inputs: u64) -> (u64, serde_json::Value) {
    let out = tempfile::tempdir().unwrap();
    let output = tfdiff()
        .args([
            "-n",
            &inputs.to_string(),
            "-j",
            "1",
            "--modes",
            "numpy,eager",
        ])
        .args(["--shrink-time", "0", "--no-save-regressions", "--cases-dir"])
        .arg(fixtures("global_state"))
        .args(["--case", changer, "--case", reader, "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let summary = read_csv(&out.path().join("summary.csv"));
    let agree = number(summary_row(&summary, reader, "numpy", "eager"), "agree");
    let changes = run_json(out.path())["state_changes"].clone();
    assert!(changes.get(reader).is_none(), "{changes}");
    (agree, changes)
}

#[test]
fn a_library_that_sets_flush_to_zero_at_import_cannot_flush_another_cases_subnormals() {
    // fast_math_at_import's library sets FTZ/DAZ on the thread that runs NumPy, which would
    // turn subnormals' 1e-39 into 0 on the NumPy side only.
    let (agree, changes) = one_worker_runs("fast_math_at_import", "subnormals", 4);
    assert_eq!(agree, 4);
    assert!(
        changes["fast_math_at_import"][0]
            .as_str()
            .unwrap()
            .contains("flush-to-zero on, denormals-are-zero on"),
        "{changes}"
    );
}

#[test]
fn a_case_that_sizes_tensorflows_thread_pools_at_import_cannot_change_them_for_another() {
    // reads_tf_threads agrees only while the pool size is TensorFlow's default.
    let (agree, changes) = one_worker_runs("tf_threads_at_import", "reads_tf_threads", 3);
    assert_eq!(agree, 3);
    assert_eq!(
        changes["tf_threads_at_import"][0], "at import: tf.config.threading(intra_op=1)",
        "{changes}"
    );
}
