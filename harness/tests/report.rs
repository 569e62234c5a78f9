//! report.html and diff.html from real runs: self-contained, one set of pictures per signature,
//! made again alike by `tfdiff report`, and shown by a real browser (headless Chromium, when it
//! is installed: `.ci/run` installs it, so CI always runs that test).

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// `tfdiff run` of these cases of `cases_dir` (12 inputs, numpy, eager and graph) into `out`;
/// its exit status.
fn run_cases(out: &Path, cases_dir: &Path, cases: &[&str]) -> Option<i32> {
    let mut command = tfdiff();
    command
        .args([
            "run",
            "-n",
            "12",
            "--modes",
            "numpy,eager,graph",
            "--no-progress",
        ])
        .args(["--shrink-time", "2", "--no-save-regressions", "--cases-dir"])
        .arg(cases_dir)
        .arg("--out")
        .arg(out);
    for case in cases {
        command.args(["--case", case]);
    }
    command.output().unwrap().status.code()
}

/// A run of three fixture cases: a value divergence, an error one, and one that agrees.
fn fixture_run(out: &Path) {
    let cases = fixture_copy("cases");
    let status = run_cases(out, cases.path(), &["value_off", "raises_in_tf", "agree"]);
    assert_eq!(status, Some(1), "value_off and raises_in_tf diverge");
}

/// The `<article>`s of a page, each with its text.
fn articles(page: &str) -> Vec<&str> {
    page.split("<article")
        .skip(1)
        .map(|rest| rest.split("</article>").next().unwrap())
        .collect()
}

#[test]
fn report_html_draws_every_signature_offline_and_is_made_again_alike() {
    let out = tempfile::tempdir().unwrap();
    fixture_run(out.path());
    let page = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    let rows = read_csv(&out.path().join("divergences.csv"));
    let articles = articles(&page);
    assert_eq!(articles.len(), rows.len(), "one article per signature");
    for (article, row) in articles.iter().zip(&rows) {
        let heading = format!("{} {}–{}", row["case"], row["mode_a"], row["mode_b"]);
        assert!(article.contains(&heading), "{heading}");
        assert!(
            article.contains("<img src=\"data:image/png;base64,"),
            "{heading}"
        );
        if row["kind"] == "value" {
            // Input, both outputs and the heatmap, with the worst element's values.
            assert_eq!(article.matches("<img").count(), 4, "{heading}");
            assert!(article.contains(&format!("worst at {}", row["worst_index"])));
        } else {
            assert!(article.contains("raises_in_tf"), "{heading}");
        }
    }
    // Nothing is fetched: no URL with a scheme or a host in any src or href.
    for attribute in ["src=\"", "href=\""] {
        for value in page.split(attribute).skip(1) {
            let value = value.split('"').next().unwrap();
            assert!(
                !value.contains("://") && !value.starts_with("//"),
                "{value}"
            );
            if attribute == "href=\"" {
                assert!(
                    out.path().join(value).is_file(),
                    "the link {value} leads nowhere"
                );
            }
        }
    }
    // Each pair compared element by element has its histogram.
    let summary = read_csv(&out.path().join("summary.csv"));
    assert_eq!(
        page.matches("<svg class=\"histogram\"").count(),
        summary.len() - 3,
        "raises_in_tf's three pairs have none"
    );
    // Made again from the run directory's files alone: the same page.
    std::fs::remove_file(out.path().join("report.html")).unwrap();
    tfdiff().arg("report").arg(out.path()).assert().code(0);
    assert_eq!(
        std::fs::read_to_string(out.path().join("report.html")).unwrap(),
        page
    );
}

#[test]
fn diff_html_shows_gone_signatures_and_histograms_old_and_new() {
    let (old, new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fixture_run(old.path());
    // The new run has only the agreeing case: every old signature is gone.
    assert_eq!(
        run_cases(new.path(), &fixtures("cases"), &["agree"]),
        Some(0)
    );
    tfdiff()
        .arg("diff")
        .arg(old.path())
        .arg(new.path())
        .assert()
        .code(0);
    let page = std::fs::read_to_string(new.path().join("diff/diff.html")).unwrap();
    let gone = read_csv(&old.path().join("divergences.csv")).len();
    assert!(
        page.contains(&format!("{gone} signature(s) gone")),
        "{page}"
    );
    assert_eq!(articles(&page).len(), gone);
    // The links lead from NEW/diff into the old run directory.
    let link = page
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(new.path().join("diff").join(link).is_file(), "{link}");
    assert!(
        page.contains("agree numpy–eager"),
        "the pair's histograms, old | new"
    );
}

/// Headless Chromium on PATH, if any.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"].map(|name| dir.join(name))
        })
        .find(|candidate| candidate.is_file())
}

#[test]
fn a_real_browser_renders_report_html() {
    let Some(chromium) = chromium() else {
        eprintln!("SKIPPED: no chromium on PATH; `apt-get install chromium` runs this test");
        return;
    };
    let out = tempfile::tempdir().unwrap();
    fixture_run(out.path());
    let url = format!("file://{}", out.path().join("report.html").display());
    let browser = |args: &[&str]| {
        let profile = tempfile::tempdir().unwrap();
        let output = std::process::Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(args)
            .arg(&url)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // The DOM as the browser built it holds every signature's heading.
    let dom = browser(&["--dump-dom"]);
    for row in read_csv(&out.path().join("divergences.csv")) {
        let id = format!(
            "id=\"{}-{}-{}-{}\"",
            row["case"], row["mode_a"], row["mode_b"], row["kind"]
        );
        assert!(dom.contains(&id), "{id} not in the DOM");
    }
    // And it painted: a screenshot of the asked size, with the page's colours in it.
    let shot = out.path().join("shot.png");
    browser(&[
        "--window-size=1000,1400",
        &format!("--screenshot={}", shot.display()),
    ]);
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((frame.width, frame.height), (1000, 1400));
    let colours: std::collections::HashSet<&[u8]> = pixels[..frame.buffer_size()]
        .chunks(frame.color_type.samples())
        .collect();
    assert!(
        colours.len() > 50,
        "{} colours: the page did not render",
        colours.len()
    );
}
