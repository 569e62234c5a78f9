//! End-to-end tests of the worker processes: cases that segfault, abort, hang or exit are
//! findings (kind crash/timeout, the right mode named, shrunk, saved) while the healthy cases of
//! the same run finish; reports do not depend on --jobs; no worker outlives its driver; SIGTERM
//! keeps the reports; what a case prints never reaches the protocol or stdout; a worker the kernel
//! kills for memory is a crash that says so; what a case starts dies with its worker.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CRASHING: [&str; 6] = [
    "segfault_constant",
    "abort_side1",
    "hang_four_channels",
    "exits_rank2",
    "healthy",
    "chatty",
];

fn signature<'a>(rows: &'a [Row], case: &str, a: &str, b: &str) -> &'a Row {
    rows.iter()
        .find(|r| r["case"] == case && r["mode_a"] == a && r["mode_b"] == b)
        .unwrap_or_else(|| panic!("no divergence {case} {a}-{b} in {rows:#?}"))
}

fn pixels(shape: &str) -> usize {
    shape
        .split('x')
        .take(2)
        .map(|s| s.parse::<usize>().unwrap())
        .product()
}

#[test]
fn crashes_and_hangs_are_shrunk_findings_and_healthy_cases_complete() {
    let cases = fixture_copy("crashing");
    let out = tempfile::tempdir().unwrap();
    let mut command = tfdiff();
    command
        .args([
            "-n",
            "14",
            "--timeout",
            "1",
            "--shrink-time",
            "60",
            "-j",
            "2",
        ])
        .arg("--cases-dir")
        .arg(cases.path())
        .arg("--out")
        .arg(out.path());
    for case in CRASHING {
        command.args(["--case", case]);
    }
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_prints_stay_off_stdout(&String::from_utf8_lossy(&output.stdout));
    let segv = assert_crashes_are_shrunk_signatures(out.path());
    assert_other_pairs_and_healthy_cases_complete(out.path());
    assert_run_json_counts_crashes_and_restarts(out.path());
    assert_prints_are_logged(out.path());
    assert_repro_script_reports_the_signal(out.path(), &segv);
    assert_regression_replays_the_crash(&segv);
}

/// Nothing a case printed reaches tfdiff's stdout: only the results table, and under chatty's
/// rows one line with a count and the first three lines.
fn assert_prints_stay_off_stdout(stdout: &str) {
    let mentions: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("stdout line"))
        .collect();
    assert_eq!(mentions.len(), 1, "{stdout}");
    assert!(
        mentions[0].starts_with("  chatty printed ")
            && mentions[0].contains(r#"first "chatty numpy stdout line 0"#)
            && mentions[0].ends_with("(all in case-output.log)"),
        "{stdout}"
    );
    assert!(!stdout.contains("raw bytes"), "{stdout}");
    assert!(stdout.starts_with("case "), "{stdout}");
}

/// Each crash and hang is a shrunk signature naming its mode and cause; the segfault's row.
fn assert_crashes_are_shrunk_signatures(out: &Path) -> Row {
    let rows = read_csv(&out.join("divergences.csv"));
    let crash = |case: &str, a: &str, b: &str, mode: &str, kind: &str, cause: &str| {
        let row = signature(&rows, case, a, b);
        assert_eq!(row["kind"], kind, "{row:?}");
        assert!(
            row["error"].starts_with(&format!("{mode}: {kind}: {cause}")),
            "{row:?}"
        );
        assert!(
            pixels(&row["shape"]) >= 1 && pixels(&row["shape"]) <= 4,
            "{row:?}"
        );
        assert!(number(row, "shrink_steps") > 0, "{row:?}");
        assert!(!row["regression"].is_empty() && !row["script"].is_empty());
        row.clone()
    };
    let segv = crash(
        "segfault_constant",
        "numpy",
        "eager",
        "eager",
        "crash",
        "SIGSEGV",
    );
    crash(
        "segfault_constant",
        "eager",
        "xla",
        "eager",
        "crash",
        "SIGSEGV",
    );
    let abort = crash("abort_side1", "eager", "graph", "eager", "crash", "SIGABRT");
    // The failed CHECK's message, without the log timestamp, is in the report.
    assert!(
        abort["error"].contains(
            "F tensorflow/core/kernels/planted_op.cc:42] Check failed: width > 1 (1 vs. 1)"
        ),
        "{abort:?}"
    );
    crash(
        "exits_rank2",
        "numpy",
        "graph",
        "numpy",
        "crash",
        "exit status 0",
    );
    let hang = crash(
        "hang_four_channels",
        "numpy",
        "xla",
        "numpy",
        "timeout",
        "no result",
    );
    assert!(hang["shape"].ends_with("x4"), "{hang:?}");
    assert_eq!(segv["status"], "new");
    segv
}

/// Pairs without the crashed mode are still compared on those inputs (they agree), and the
/// healthy cases of the same run finish every input.
fn assert_other_pairs_and_healthy_cases_complete(out: &Path) {
    let summary = read_csv(&out.join("summary.csv"));
    let complete = |row: &Row| {
        assert_eq!(
            (number(row, "inputs"), number(row, "agree")),
            (14, 14),
            "{row:?}"
        );
    };
    for (case, a, b) in [
        ("segfault_constant", "numpy", "graph"),
        ("abort_side1", "numpy", "xla"),
        ("exits_rank2", "eager", "graph"),
        ("hang_four_channels", "eager", "xla"),
    ] {
        complete(summary_row(&summary, case, a, b));
    }
    for case in ["healthy", "chatty"] {
        summary
            .iter()
            .filter(|r| r["case"] == case)
            .for_each(complete);
    }
}

/// run.json counts the crashes, time-outs and the restarts they cost.
fn assert_run_json_counts_crashes_and_restarts(out: &Path) {
    let run = run_json(out);
    let workers = &run["workers"];
    assert_eq!(workers["jobs"], 2);
    assert!(workers["crashes"].as_u64().unwrap() >= 4, "{workers}");
    assert!(workers["timeouts"].as_u64().unwrap() >= 1, "{workers}");
    assert_eq!(
        workers["restarts"].as_u64().unwrap(),
        workers["starts"].as_u64().unwrap() - 2
    );
    assert!(
        workers["peak_rss_mb"][0].as_f64().unwrap() > 100.0,
        "{workers}"
    );
}

/// What the cases printed went to the worker logs and, by case, to case-output.log; run.json
/// counts them.
fn assert_prints_are_logged(out: &Path) {
    let logs: String = (1..=2)
        .map(|slot| std::fs::read_to_string(out.join(format!("logs/worker-{slot}.log"))).unwrap())
        .collect();
    assert!(logs.contains("chatty numpy stdout line 199"));
    assert!(logs.contains("chatty tensorflow stderr line 0"));
    assert!(logs.contains("planted: about to fail a CHECK"));
    let case_output = std::fs::read_to_string(out.join("case-output.log")).unwrap();
    assert!(case_output.contains("[chatty] chatty numpy stdout line 199"));
    assert!(case_output.contains("[chatty] chatty from C puts"));
    assert!(
        !case_output.contains("[healthy] chatty"),
        "C's buffer was flushed before"
    );
    let printed = &run_json(out)["case_output"]["chatty"];
    assert!(printed["lines"].as_u64().unwrap() >= 400, "{printed}");
    assert_eq!(
        printed["first"][0],
        "chatty numpy stdout line 0 \u{0}\u{ff} binary-looking"
    );
}

/// The reproduction script runs the mode in a child process and reports the signal.
fn assert_repro_script_reports_the_signal(out: &Path, segv: &Row) {
    let script = out.join(&segv["script"]);
    let repro = Command::new(root().join(".venv/bin/python"))
        .arg(&script)
        .env("TF_CPP_MIN_LOG_LEVEL", "3")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&repro.stdout);
    assert_eq!(repro.status.code(), Some(1), "{text}");
    assert!(text.contains("eager: crash: SIGSEGV"), "{text}");
    assert!(text.contains("DIVERGES"), "{text}");
}

/// The saved regression is replayed and shows the crash again.
fn assert_regression_replays_the_crash(segv: &Row) {
    let replay = tempfile::tempdir().unwrap();
    let output = tfdiff()
        .arg("replay")
        .arg(&segv["regression"])
        .args(["--timeout", "5", "--shrink-time", "0", "-j", "1", "--out"])
        .arg(replay.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let replayed = read_csv(&replay.path().join("divergences.csv"));
    assert_eq!(
        signature(&replayed, "segfault_constant", "numpy", "eager")["kind"],
        "crash"
    );
}

#[test]
fn reports_are_identical_whatever_the_number_of_workers() {
    let cases = fixture_copy("cases");
    let crashing = fixture_copy("crashing");
    let run = |jobs: &str| {
        let out = tempfile::tempdir().unwrap();
        let mut command = tfdiff();
        command
            .args([
                "-n",
                "40",
                "--shrink-time",
                "60",
                "--no-save-regressions",
                "--all",
                "-j",
                jobs,
            ])
            .arg("--cases-dir")
            .arg(cases.path())
            .arg("--cases-dir")
            .arg(crashing.path())
            .arg("--out")
            .arg(out.path());
        for case in [
            "value_off",
            "nan_moved",
            "raises_in_tf",
            "agree",
            "segfault_constant",
        ] {
            command.args(["--case", case]);
        }
        command.assert().code(1);
        out
    };
    let one = run("1");
    let two = run("2");
    // With two workers, two cases' inputs go out interleaved (`interleave.rs`); every row
    // still comes in the cases' order.
    for file in DETERMINISTIC_REPORTS.iter().chain(&["occurrences.csv"]) {
        let a = std::fs::read_to_string(one.path().join(file)).unwrap();
        let b = std::fs::read_to_string(two.path().join(file)).unwrap();
        assert!(
            a == b,
            "{file} differs between --jobs 1 and --jobs 2:\n--- 1\n{a}\n--- 2\n{b}"
        );
    }
    assert_eq!(run_json(one.path())["workers"]["jobs"], 1);
    assert_eq!(run_json(two.path())["workers"]["jobs"], 2);
    // Something was found, so the comparison compared something.
    assert!(read_csv(&one.path().join("divergences.csv")).len() >= 4);
}

#[test]
fn xla_programs_compiled_by_one_worker_serve_every_worker_and_run_unchanged() {
    let cache = tempfile::tempdir().unwrap();
    let run = |jobs: &str, cache_flag: &[&std::ffi::OsStr]| {
        let out = tempfile::tempdir().unwrap();
        tfdiff()
            .args(["-n", "30", "--shrink-time", "0", "--no-save-regressions"])
            .args([
                "--modes",
                "numpy,xla",
                "--case",
                "scale01",
                "--case",
                "standardize",
            ])
            .args(["-j", jobs])
            .args(cache_flag)
            .arg("--out")
            .arg(out.path())
            .assert()
            .code(0);
        out
    };
    let with_cache = [
        std::ffi::OsStr::new("--xla-cache"),
        cache.path().as_os_str(),
    ];
    let counts = |out: &tempfile::TempDir| {
        let use_ = &run_json(out.path())["xla_cache"];
        let directory = use_["directory"].as_str().unwrap().to_string();
        assert!(directory.starts_with(cache.path().to_str().unwrap()));
        (
            use_["programs_at_start"].as_u64().unwrap(),
            use_["programs_at_end"].as_u64().unwrap(),
        )
    };
    let first = run("1", &with_cache);
    let (start, end) = counts(&first);
    assert_eq!(start, 0);
    assert!(end >= 10, "only {end} programs compiled");
    // Two workers, another run: every case's program is found under the name the first run
    // gave it. (The contamination probe's own XLA function, traced after the run's, may add
    // one.)
    let second = run("2", &with_cache);
    let (start, again) = counts(&second);
    assert_eq!(start, end);
    assert!(again <= end + 1, "{} programs compiled again", again - end);
    // And without the cache the reports are the same.
    let without = run("2", &[std::ffi::OsStr::new("--no-xla-cache")]);
    assert!(run_json(without.path())["xla_cache"].is_null());
    for file in ["divergences.csv", "summary.csv"] {
        let a = std::fs::read(first.path().join(file)).unwrap();
        assert_eq!(
            a,
            std::fs::read(second.path().join(file)).unwrap(),
            "{file}"
        );
        assert_eq!(
            a,
            std::fs::read(without.path().join(file)).unwrap(),
            "{file}"
        );
    }
}

/// Runs `case`, which kills or hangs its worker when traced for a rank-3 input, in numpy and
/// xla with the XLA cache on, so that every worker traces it first: the run must go on and
/// report `kind` (its error starting with `error`) on a rank-3 input, rank-2 inputs compared.
fn a_lost_pretrace_is_a_finding(case: &str, options: &[&str], kind: &str, error: &str) {
    let cases = fixture_copy("crashing");
    let out = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    tfdiff()
        .args(options)
        .args(["--shrink-time", "0", "--no-save-regressions", "-j", "1"])
        .args(["--modes", "numpy,xla", "--case", case, "--xla-cache"])
        .arg(cache.path())
        .arg("--cases-dir")
        .arg(cases.path())
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(1);
    let rows = read_csv(&out.path().join("divergences.csv"));
    let row = signature(&rows, case, "numpy", "xla");
    assert_eq!(row["kind"], kind, "{row:?}");
    assert!(row["error"].starts_with(error), "{row:?}");
    assert_eq!(
        row["shape"].split('x').count(),
        3,
        "a rank-3 input: {row:?}"
    );
    // Rank-2 inputs were evaluated: the worker traced lazily after the start it lost.
    let summary = read_csv(&out.path().join("summary.csv"));
    assert!(number(&summary[0], "agree") > 0, "{summary:?}");
    assert_eq!(run_json(out.path())["ended"], "completed");
}

#[test]
fn a_case_that_kills_the_worker_while_traced_is_a_crash_not_a_failed_start() {
    a_lost_pretrace_is_a_finding(
        "exits_tracing_rank3",
        &["-n", "8"],
        "crash",
        "xla: crash: exit status 0",
    );
}

#[test]
fn a_case_that_hangs_while_traced_is_a_timeout_not_a_failed_start() {
    a_lost_pretrace_is_a_finding(
        "hangs_tracing_rank3",
        &["-n", "4", "--timeout", "2"],
        "timeout",
        "xla: timeout",
    );
}

/// Starts a long run and waits until its workers evaluate inputs (a plain progress line).
fn start_long_run(out: &Path) -> (std::process::Child, Vec<u32>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tfdiff"))
        .current_dir(root())
        .env_remove("VIRTUAL_ENV")
        .args(["-n", "100000", "--case", "scale01", "-j", "2", "--out"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("inputs/s") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let workers = children_of(child.id());
    assert_eq!(workers.len(), 2, "two workers: {workers:?}");
    (child, workers)
}

/// The worker processes of a driver (its children running `tfdiff worker`).
fn children_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
        // The parent pid is the 4th field, after the command in parentheses.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let is_worker = String::from_utf8_lossy(&cmdline).contains("worker");
        if parent == Some(pid) && is_worker {
            found.push(child);
        }
    }
    found
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn killing_the_driver_with_sigkill_leaves_no_worker() {
    let out = tempfile::tempdir().unwrap();
    let (mut child, workers) = start_long_run(out.path());
    child.kill().unwrap(); // SIGKILL: no handler runs in the driver
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while workers.iter().any(|&pid| alive(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = workers.iter().filter(|&&pid| alive(pid)).collect();
    assert!(left.is_empty(), "workers still running: {left:?}");
}

#[test]
fn sigterm_stops_between_inputs_keeps_the_reports_and_exits_143() {
    let out = tempfile::tempdir().unwrap();
    let (mut child, workers) = start_long_run(out.path());
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(143));
    let run = run_json(out.path());
    assert_eq!(run["interrupted"], true);
    assert_eq!(run["stop_signal"], "SIGTERM");
    assert!(run["finished_at"].is_string());
    let evaluated = run["inputs_evaluated"].as_u64().unwrap();
    assert!(evaluated > 0 && evaluated < 100_000);
    let summary = read_csv(&out.path().join("summary.csv"));
    assert_eq!(number(&summary[0], "inputs"), evaluated);
    let junit = std::fs::read_to_string(out.path().join("junit.xml")).unwrap();
    assert!(junit.contains("<testcase"), "{junit}");
    assert!(
        workers.iter().all(|&pid| !alive(pid)),
        "workers outlived the run"
    );
    // The run says it did not complete, everywhere a nightly job looks.
    assert_eq!(run["ended"], "interrupted: SIGTERM");
    let summary_md = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(
        summary_md.starts_with("**INCOMPLETE RUN: it was interrupted by SIGTERM"),
        "{summary_md}"
    );
    assert!(
        junit.contains(r#"<testcase name="run completed" classname="tfdiff.run">"#)
            && junit.contains("<failure message=\"INCOMPLETE RUN"),
        "{junit}"
    );
    // And `tfdiff diff` will not compare against it as if it were whole.
    let whole = tempfile::tempdir().unwrap();
    tfdiff()
        .args([
            "-n",
            "3",
            "--case",
            "scale01",
            "--no-save-regressions",
            "--out",
        ])
        .arg(whole.path())
        .assert()
        .code(0);
    assert_eq!(run_json(whole.path())["ended"], "completed");
    let diff_out = tempfile::tempdir().unwrap();
    let refused = tfdiff()
        .arg("diff")
        .arg(whole.path())
        .arg(out.path())
        .arg("--out")
        .arg(diff_out.path())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("interrupted by SIGTERM") && stderr.contains("--allow-incomplete"),
        "{stderr}"
    );
    tfdiff()
        .arg("diff")
        .arg(whole.path())
        .arg(out.path())
        .arg("--out")
        .arg(diff_out.path())
        .arg("--allow-incomplete")
        .assert()
        .code(predicates::ord::lt(2));
    let diff_md = std::fs::read_to_string(diff_out.path().join("diff.md")).unwrap();
    assert!(diff_md.starts_with("**"), "{diff_md}");
    assert!(diff_md.contains("INCOMPLETE RUN"), "{diff_md}");
}

#[test]
fn a_hang_is_named_while_it_runs_and_a_second_sighup_stops_at_once() {
    let cases = fixture_copy("crashing");
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tfdiff"))
        .current_dir(root())
        .env_remove("VIRTUAL_ENV")
        .args(["-n", "50", "--case", "hang_four_channels", "-j", "1"])
        .args(["--timeout", "120", "--no-save-regressions", "--cases-dir"])
        .arg(cases.path())
        .arg("--out")
        .arg(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let named = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|line| line.contains("still evaluating hang_four_channels input"));
    assert!(named.is_some(), "no progress line named the hung input");
    assert!(started.elapsed() < Duration::from_secs(60));
    std::thread::spawn(move || lines.for_each(drop));
    let workers = children_of(child.id());
    let hup = || {
        Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap()
    };
    assert!(hup().success());
    std::thread::sleep(Duration::from_millis(500));
    assert!(hup().success());
    let second = Instant::now();
    assert_eq!(child.wait().unwrap().code(), Some(129));
    assert!(
        second.elapsed() < Duration::from_secs(5),
        "the second SIGHUP waited"
    );
    // Stopped before it could finish: the reports say it is not complete.
    assert_eq!(run_json(out.path())["ended"], "running");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        workers.iter().all(|&pid| !alive(pid)),
        "workers outlived the driver"
    );
}

#[test]
fn a_case_that_exits_or_raises_base_exceptions_is_a_crash_of_that_mode_and_the_run_goes_on() {
    let out = tempfile::tempdir().unwrap();
    tfdiff()
        .args([
            "-n",
            "3",
            "-j",
            "2",
            "--modes",
            "numpy,eager",
            "--shrink-time",
            "0",
        ])
        .args(["--no-save-regressions", "--cases-dir"])
        .arg(fixtures("escapes"))
        .args([
            "--case",
            "sys_exit_in_numpy",
            "--case",
            "interrupt_in_numpy",
        ])
        .args([
            "--case",
            "generator_exit_in_eager",
            "--case",
            "scale01",
            "--out",
        ])
        .arg(out.path())
        .assert()
        .code(1);
    let rows = read_csv(&out.path().join("divergences.csv"));
    for (case, error) in [
        ("sys_exit_in_numpy", "numpy: crash: exit status 3"),
        ("interrupt_in_numpy", "numpy: crash: exit status 1"),
        ("generator_exit_in_eager", "eager: crash: exit status 1"),
    ] {
        let row = signature(&rows, case, "numpy", "eager");
        assert_eq!(row["kind"], "crash", "{row:?}");
        assert!(row["error"].starts_with(error), "{row:?}");
    }
    // Every case ran all its inputs, the one after them included.
    let summary = read_csv(&out.path().join("summary.csv"));
    assert_eq!(summary.len(), 4);
    for row in &summary {
        assert_eq!(number(row, "inputs"), 3, "{row:?}");
    }
    assert_eq!(run_json(out.path())["ended"], "completed");
}

#[test]
fn an_output_is_sent_once_and_one_rewritten_after_it_was_sent_is_not_taken_for_a_repeat() {
    let repeats = fixture_copy("repeats");
    let out = tempfile::tempdir().unwrap();
    tfdiff()
        .args([
            "-n",
            "12",
            "--shrink-time",
            "0",
            "--no-save-regressions",
            "-j",
            "1",
        ])
        .arg("--cases-dir")
        .arg(repeats.path())
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(1);
    let rows = read_csv(&out.path().join("divergences.csv"));
    assert!(
        !rows.iter().any(|r| r["case"] == "same_bits"),
        "outputs that are one array agree: {rows:#?}"
    );
    // NumPy's array held eager's bits when eager's output was read, but was sent before.
    assert_eq!(
        signature(&rows, "rewrites_returned_array", "numpy", "eager")["kind"],
        "value"
    );
    // same_bits alone: eager, graph and XLA repeat NumPy on each of its 12 inputs.
    let repeated = run_json(out.path())["workers"]["repeated_outputs"]
        .as_u64()
        .unwrap();
    assert!(repeated >= 36, "repeated_outputs {repeated}");
}

#[test]
fn python_extensions_that_call_malloc_trim_do_not_give_a_workers_freed_memory_back() {
    // protobuf's upb calls malloc_trim(0) on every arena it frees: ~34 times a second in a
    // worker, each one re-faulting every page NumPy had freed. The fixture calls it the same way.
    let out = tempfile::tempdir().unwrap();
    tfdiff()
        .args(["-n", "3", "-j", "1", "--modes", "numpy,eager"])
        .args(["--shrink-time", "0", "--no-save-regressions", "--cases-dir"])
        .arg(fixtures("memory"))
        .args(["--case", "trims_after_freeing", "--out"])
        .arg(out.path())
        .assert()
        .code(0);
    let summary = read_csv(&out.path().join("summary.csv"));
    let row = summary_row(&summary, "trims_after_freeing", "numpy", "eager");
    assert_eq!(number(row, "agree"), 3, "{row:?}");
}

/// A memory cgroup of its own with a limit, for as long as it lives: cgroup v1's memory
/// controller, where this process's cgroup is writable (root in a container, as here and in
/// CI). None, saying why, where it is not.
struct MemoryLimit {
    dir: std::path::PathBuf,
}

impl MemoryLimit {
    fn new(bytes: u64) -> Result<MemoryLimit, String> {
        let cgroups = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
        let own = cgroups
            .lines()
            .find_map(|line| line.split_once(":memory:").map(|(_, path)| path))
            .ok_or("no cgroup v1 memory controller")?;
        let dir = Path::new("/sys/fs/cgroup/memory")
            .join(own.trim_start_matches('/'))
            .join(format!("tfdiff-test-{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let limit = MemoryLimit { dir };
        std::fs::write(limit.dir.join("memory.limit_in_bytes"), bytes.to_string())
            .map_err(|e| format!("setting the limit: {e}"))?;
        Ok(limit)
    }

    /// `command` run inside the cgroup: a shell moves itself in and becomes the command.
    fn wrap(&self, command: &Command) -> Command {
        let mut wrapped = Command::new("sh");
        wrapped
            .arg("-c")
            .arg(r#"echo $$ > "$0/cgroup.procs" && exec "$@""#)
            .arg(&self.dir)
            .arg(command.get_program())
            .args(command.get_args());
        if let Some(dir) = command.get_current_dir() {
            wrapped.current_dir(dir);
        }
        wrapped
    }
}

impl Drop for MemoryLimit {
    fn drop(&mut self) {
        // Empty once every process in it has ended.
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[test]
fn a_worker_the_kernel_kills_for_memory_is_a_crash_that_says_out_of_memory() {
    let limit = match MemoryLimit::new(2_000_000_000) {
        Ok(limit) => limit,
        Err(why) => {
            eprintln!("skipped: cannot make a memory cgroup to run tfdiff in ({why})");
            return;
        }
    };
    let out = tempfile::tempdir().unwrap();
    let mut run = Command::new(env!("CARGO_BIN_EXE_tfdiff"));
    run.current_dir(root())
        .args(["-n", "2", "-j", "1", "--modes", "numpy,eager"])
        .args(["--shrink-time", "0", "--no-save-regressions", "--cases-dir"])
        .arg(fixtures("out_of_memory"))
        .args(["--case", "hog_in_eager", "--case", "scale01", "--out"])
        .arg(out.path());
    let status = limit
        .wrap(&run)
        .env_remove("VIRTUAL_ENV")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let rows = read_csv(&out.path().join("divergences.csv"));
    let row = signature(&rows, "hog_in_eager", "numpy", "eager");
    assert_eq!(row["kind"], "crash", "{row:?}");
    assert!(
        row["error"].starts_with("eager: crash: SIGKILL (out of memory: the kernel's OOM killer;"),
        "{row:?}"
    );
    // The healthy case beside it ran all its inputs on the fresh workers.
    let summary = read_csv(&out.path().join("summary.csv"));
    assert_eq!(
        number(summary_row(&summary, "scale01", "numpy", "eager"), "inputs"),
        2
    );
}

#[test]
fn a_run_starts_no_more_workers_than_it_has_inputs() {
    let out = tempfile::tempdir().unwrap();
    tfdiff()
        .args([
            "-n",
            "1",
            "-j",
            "3",
            "--modes",
            "numpy,eager",
            "--case",
            "healthy",
        ])
        .args(["--no-save-regressions", "--cases-dir"])
        .arg(fixtures("crashing"))
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(0)
        .stderr(predicates::str::contains("1 input(s) over 1 case(s)"))
        .stderr(predicates::str::contains("1 worker(s)"));
    let run = run_json(out.path());
    assert_eq!(run["workers"]["jobs"], 1, "{}", run["workers"]);
    assert_eq!(run["workers"]["starts"], 1, "{}", run["workers"]);
}

#[test]
fn processes_a_case_starts_die_with_its_worker() {
    // One sleeper per worker start (at import) and one the first input's NumPy side waits for
    // until --timeout kills its worker: none of them may outlive the run.
    let out = tempfile::tempdir().unwrap();
    let record = out.path().join("children.txt");
    tfdiff()
        .env("TFDIFF_TEST_CHILDREN", &record)
        .args(["-n", "4", "-j", "2", "--timeout", "3", "--shrink-time", "0"])
        .args(["--modes", "numpy,eager", "--case", "leaves_children"])
        .args(["--no-save-regressions", "--cases-dir"])
        .arg(fixtures("children"))
        .arg("--out")
        .arg(out.path().join("run"))
        .assert()
        .code(1);
    let rows = read_csv(&out.path().join("run/divergences.csv"));
    let row = signature(&rows, "leaves_children", "numpy", "eager");
    assert_eq!(row["kind"], "timeout", "{row:?}");
    let children: Vec<u32> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|line| line.parse().unwrap())
        .collect();
    // Two workers, the one started after the time-out, and the child the hang waited for.
    assert!(children.len() >= 4, "children recorded: {children:?}");
    // SIGKILL is delivered at once, but a process takes a moment to die.
    let deadline = Instant::now() + Duration::from_secs(5);
    while children.iter().any(|&pid| alive(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = children.iter().filter(|&&pid| alive(pid)).collect();
    assert!(
        left.is_empty(),
        "a case's processes outlived the run: {left:?}"
    );
}
