//! junit.xml: a testsuite per case and a testcase per mode pair, for CI services that read JUnit.
//! A pair fails when it has a divergence that is new or beyond its known bound; the failure
//! carries each such signature's kind, errors and reproducer. Known divergences pass, with their
//! signatures in the testcase's output. No timings, so equal results give equal files. Built as
//! a few structs, then written with quick-xml's writer (which escapes what needs escaping).

use super::{DivergenceRow, Export, PairSummary, RunResults};
use anyhow::Result;
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;
use std::fmt::Write as _;

pub struct JunitXml;

impl Export for JunitXml {
    fn file_name(&self) -> &'static str {
        "junit.xml"
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        write(&suites(results))
    }
}

/// One `<testsuite>`.
struct Suite {
    name: String,
    cases: Vec<TestCase>,
}

/// One `<testcase>`: passed, failed (a divergence that fails the run) or an error (a case
/// file that did not load).
struct TestCase {
    name: String,
    classname: String,
    outcome: Option<Problem>,
    output: Option<String>,
}

struct Problem {
    /// "failure" or "error".
    element: &'static str,
    message: String,
    kind: Option<String>,
    details: Option<String>,
}

impl Suite {
    fn failures(&self, element: &str) -> usize {
        self.cases
            .iter()
            .filter(|case| case.outcome.as_ref().is_some_and(|p| p.element == element))
            .count()
    }
}

fn suites(results: &RunResults) -> Vec<Suite> {
    let mut suites = Vec::new();
    // An incomplete run is a failed test of its own, whatever its pairs say.
    if let Some(note) = results.info.ended.incomplete_note() {
        suites.push(Suite {
            name: "tfdiff".into(),
            cases: vec![TestCase {
                name: "run completed".into(),
                classname: "tfdiff.run".into(),
                outcome: Some(Problem {
                    element: "failure",
                    message: note,
                    kind: None,
                    details: None,
                }),
                output: None,
            }],
        });
    }
    let mut cases: Vec<&str> = Vec::new();
    for pair in &results.pairs {
        if !cases.contains(&pair.case.as_str()) {
            cases.push(&pair.case);
        }
    }
    for case in cases {
        let pairs = results.pairs.iter().filter(|p| p.case == case);
        suites.push(Suite {
            name: case.to_string(),
            cases: pairs.map(|pair| pair_case(pair, &results.rows)).collect(),
        });
    }
    for failure in &results.info.case_load_failures {
        suites.push(Suite {
            name: failure.name.clone(),
            cases: vec![TestCase {
                name: "load".into(),
                classname: format!("tfdiff.{}", failure.name),
                outcome: Some(Problem {
                    element: "error",
                    message: "case file not loaded".into(),
                    kind: Some("load".into()),
                    details: Some(failure.error.clone()),
                }),
                output: None,
            }],
        });
    }
    suites
}

/// The testcase of one case × pair.
fn pair_case(pair: &PairSummary, rows: &[DivergenceRow]) -> TestCase {
    let (failing, known): (Vec<&DivergenceRow>, Vec<&DivergenceRow>) = rows
        .iter()
        .filter(|r| r.case == pair.case && r.pair() == pair.pair())
        .partition(|r| r.status.fails());
    let outcome = (!failing.is_empty()).then(|| {
        let kinds: Vec<&str> = failing.iter().map(|r| r.kind.name()).collect();
        let statuses: Vec<&str> = failing.iter().map(|r| r.status.name()).collect();
        Problem {
            element: "failure",
            message: format!(
                "{} divergence on {} of {} inputs ({})",
                kinds.join("+"),
                pair.diverge,
                pair.inputs,
                statuses.join(", ")
            ),
            kind: Some(kinds.join("+")),
            details: Some(failing.iter().map(|row| details(row)).collect()),
        }
    });
    let mut output = format!(
        "{} of {} inputs agree; max_abs {}, max_ulp {}\n",
        pair.agree,
        pair.inputs,
        pair.max_abs_text("-"),
        pair.max_ulp_text("-"),
    );
    for row in known {
        let _ = writeln!(
            output,
            "known {} divergence on {} input(s); reproducer {}",
            row.kind, row.occurrences, row.reproducer
        );
    }
    TestCase {
        name: pair.pair().to_string(),
        classname: format!("tfdiff.{}", pair.case),
        outcome,
        output: Some(output),
    }
}

/// What a failing signature's row says, for the failure's text.
fn details(row: &DivergenceRow) -> String {
    format!(
        "kind: {} ({}), {} occurrence(s), first on input {} ({}), shrunk {} -> {}\n\
         max_abs: {}  max_rel: {}  max_ulp: {}  mismatches: {}\n\
         worst: {} {} = {}, {} = {}\n\
         error: {}\nreproducer: {}\nscript: {}\nregression: {}\n\n",
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
    )
}

fn write(suites: &[Suite]) -> Result<Vec<u8>> {
    let count = |what: fn(&Suite) -> usize| suites.iter().map(what).sum::<usize>().to_string();
    let (tests, failures, errors) = (
        count(|s| s.cases.len()),
        count(|s| s.failures("failure")),
        count(|s| s.failures("error")),
    );
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("testsuites")
        .with_attributes([
            ("name", "tfdiff"),
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
            ("errors", errors.as_str()),
        ])
        .write_inner_content(|writer| {
            for suite in suites {
                write_suite(writer, suite)?;
            }
            Ok(())
        })?;
    let mut bytes = writer.into_inner();
    bytes.push(b'\n');
    Ok(bytes)
}

fn write_suite(writer: &mut Writer<Vec<u8>>, suite: &Suite) -> std::io::Result<()> {
    let (tests, failures, errors) = (
        suite.cases.len().to_string(),
        suite.failures("failure").to_string(),
        suite.failures("error").to_string(),
    );
    writer
        .create_element("testsuite")
        .with_attributes([
            ("name", suite.name.as_str()),
            ("tests", tests.as_str()),
            ("failures", failures.as_str()),
            ("errors", errors.as_str()),
            ("skipped", "0"),
        ])
        .write_inner_content(|writer| {
            for case in &suite.cases {
                write_case(writer, case)?;
            }
            Ok(())
        })?;
    Ok(())
}

fn write_case(writer: &mut Writer<Vec<u8>>, case: &TestCase) -> std::io::Result<()> {
    writer
        .create_element("testcase")
        .with_attributes([
            ("name", case.name.as_str()),
            ("classname", case.classname.as_str()),
        ])
        .write_inner_content(|writer| {
            if let Some(problem) = &case.outcome {
                let mut element = writer
                    .create_element(problem.element)
                    .with_attribute(("message", problem.message.as_str()));
                if let Some(kind) = &problem.kind {
                    element = element.with_attribute(("type", kind.as_str()));
                }
                match &problem.details {
                    Some(details) => element.write_text_content(BytesText::new(details))?,
                    None => element.write_empty()?,
                };
            }
            if let Some(output) = &case.output {
                writer
                    .create_element("system-out")
                    .write_text_content(BytesText::new(output))?;
            }
            Ok(())
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, outcome: Option<Problem>) -> TestCase {
        TestCase {
            name: name.into(),
            classname: "tfdiff.c".into(),
            outcome,
            output: Some("3 of 4 inputs agree <&>\n".into()),
        }
    }

    #[test]
    fn suites_count_their_failures_and_errors_and_text_is_escaped() {
        let failure = Problem {
            element: "failure",
            message: "value divergence on 1 of 4 inputs (new)".into(),
            kind: Some("value".into()),
            details: Some("error: a < b & \"c\"\n".into()),
        };
        let error = Problem {
            element: "error",
            message: "case file not loaded".into(),
            kind: Some("load".into()),
            details: Some("SyntaxError".into()),
        };
        let suites = [
            Suite {
                name: "c".into(),
                cases: vec![case("numpy-eager", Some(failure)), case("numpy-xla", None)],
            },
            Suite {
                name: "broken".into(),
                cases: vec![case("load", Some(error))],
            },
        ];
        let text = String::from_utf8(write(&suites).unwrap()).unwrap();
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
        assert!(
            text.contains(r#"<testsuites name="tfdiff" tests="3" failures="1" errors="1">"#),
            "{text}"
        );
        assert!(
            text.contains(r#"<testsuite name="c" tests="2" failures="1" errors="0" skipped="0">"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"<testsuite name="broken" tests="1" failures="0" errors="1" skipped="0">"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"<failure message="value divergence on 1 of 4 inputs (new)" type="value">error: a &lt; b &amp; &quot;c&quot;"#
            ),
            "{text}"
        );
        assert!(
            text.contains("<system-out>3 of 4 inputs agree &lt;&amp;&gt;"),
            "{text}"
        );
        assert_eq!(text.matches("<testcase ").count(), 3);
        assert!(text.ends_with("</testsuites>\n"), "{text}");
    }
}
