//! junit.xml: a testsuite per case and a testcase per mode pair, for CI services that read JUnit.
//! A pair fails when it has a divergence that is new or beyond its known bound; the failure
//! carries each such signature's kind, errors and reproducer. Known divergences pass, with their
//! signatures in the testcase's output. No timings, so equal results give equal files.

use super::{Export, RunResults};
use anyhow::Result;
use quick_xml::escape::escape;
use std::fmt::Write;

pub struct JunitXml;

impl Export for JunitXml {
    fn file_name(&self) -> &'static str {
        "junit.xml"
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        let mut suites = String::new();
        let (mut total_tests, mut total_failures, mut total_errors) = (0, 0, 0);
        // An incomplete run is a failed test of its own, whatever its pairs say.
        if let Some(note) = results.info.ended.incomplete_note() {
            total_tests += 1;
            total_failures += 1;
            writeln!(
                suites,
                "  <testsuite name=\"tfdiff\" tests=\"1\" failures=\"1\" errors=\"0\" skipped=\"0\">\n    <testcase name=\"run completed\" classname=\"tfdiff.run\">\n      <failure message=\"{}\"/>\n    </testcase>\n  </testsuite>",
                escape(&note)
            )?;
        }
        let mut cases: Vec<&str> = Vec::new();
        for pair in &results.pairs {
            if !cases.contains(&pair.case.as_str()) {
                cases.push(&pair.case);
            }
        }
        for case in cases {
            let pairs: Vec<_> = results.pairs.iter().filter(|p| p.case == case).collect();
            let failures = pairs
                .iter()
                .filter(|p| p.status.is_some_and(|s| s.fails()))
                .count();
            total_tests += pairs.len();
            total_failures += failures;
            writeln!(
                suites,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
                escape(case),
                pairs.len()
            )?;
            for pair in pairs {
                let name = format!("{}-{}", pair.mode_a, pair.mode_b);
                writeln!(
                    suites,
                    "    <testcase name=\"{name}\" classname=\"tfdiff.{}\">",
                    escape(case)
                )?;
                let rows: Vec<_> = results
                    .rows
                    .iter()
                    .filter(|r| {
                        r.case == case && r.mode_a == pair.mode_a && r.mode_b == pair.mode_b
                    })
                    .collect();
                let (failing, known): (Vec<_>, Vec<_>) =
                    rows.into_iter().partition(|r| r.status.fails());
                if !failing.is_empty() {
                    let kinds: Vec<&str> = failing.iter().map(|r| r.kind.name()).collect();
                    let message = format!(
                        "{} divergence on {} of {} inputs ({})",
                        kinds.join("+"),
                        pair.diverge,
                        pair.inputs,
                        failing
                            .iter()
                            .map(|r| r.status.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    let mut details = String::new();
                    for row in &failing {
                        writeln!(
                            details,
                            "kind: {} ({}), {} occurrence(s), first on input {} ({}), shrunk {} -> {}\n\
                             max_abs: {}  max_rel: {}  max_ulp: {}  mismatches: {}\n\
                             worst: {} {} = {}, {} = {}\n\
                             error: {}\nreproducer: {}\nscript: {}\nregression: {}\n",
                            row.kind,
                            row.status,
                            row.occurrences,
                            row.input,
                            row.generator,
                            row.original_shape,
                            row.shape,
                            row.max_abs,
                            row.max_rel,
                            row.max_ulp,
                            row.mismatches,
                            row.worst_index,
                            row.mode_a,
                            row.value_a,
                            row.mode_b,
                            row.value_b,
                            row.error,
                            row.reproducer,
                            row.script,
                            row.regression,
                        )?;
                    }
                    writeln!(
                        suites,
                        "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                        escape(&message),
                        escape(kinds.join("+")),
                        escape(&details)
                    )?;
                }
                let mut output = format!(
                    "{} of {} inputs agree; max_abs {}, max_ulp {}\n",
                    pair.agree,
                    pair.inputs,
                    pair.max_abs_text("-"),
                    pair.max_ulp_text("-"),
                );
                for row in known {
                    writeln!(
                        output,
                        "known {} divergence on {} input(s); reproducer {}",
                        row.kind, row.occurrences, row.reproducer
                    )?;
                }
                writeln!(suites, "      <system-out>{}</system-out>", escape(&output))?;
                writeln!(suites, "    </testcase>")?;
            }
            writeln!(suites, "  </testsuite>")?;
        }
        for failure in &results.info.case_load_failures {
            total_tests += 1;
            total_errors += 1;
            writeln!(
                suites,
                "  <testsuite name=\"{0}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n    \
                 <testcase name=\"load\" classname=\"tfdiff.{0}\">\n      \
                 <error message=\"case file not loaded\" type=\"load\">{1}</error>\n    \
                 </testcase>\n  </testsuite>",
                escape(&failure.name),
                escape(&failure.error)
            )?;
        }
        let text = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"tfdiff\" \
             tests=\"{total_tests}\" failures=\"{total_failures}\" errors=\"{total_errors}\">\n\
             {suites}</testsuites>\n"
        );
        Ok(text.into_bytes())
    }
}
