//! summary.md: the pair summaries as a Markdown table, for a CI job page or a README.

use super::{Export, RunResults, Verdict};
use anyhow::Result;
use std::collections::BTreeSet;
use std::fmt::Write;

pub struct SummaryMarkdown;

impl Export for SummaryMarkdown {
    fn file_name(&self) -> &'static str {
        "summary.md"
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        let info = &results.info;
        let environment = &info.environment;
        let mut text = String::new();
        if let Some(note) = info.ended.incomplete_note() {
            writeln!(text, "**{note}**\n")?;
        }
        writeln!(
            text,
            "tfdiff {} · NumPy {} · TensorFlow {} · Python {} · seed {} · {} inputs per case\n",
            info.tfdiff_version,
            environment["numpy"].as_str().unwrap_or("?"),
            environment["tensorflow"].as_str().unwrap_or("?"),
            environment["python"].as_str().unwrap_or("?"),
            info.config.seed,
            info.config.inputs,
        )?;
        pairs_table(&mut text, results)?;
        notes(&mut text, results)?;
        Ok(text.into_bytes())
    }
}

/// A row per case × pair: verdict, largest errors, dtypes.
fn pairs_table(text: &mut String, results: &RunResults) -> std::fmt::Result {
    writeln!(
        text,
        "| case | pair | verdict | max abs error | max ULP | dtypes |"
    )?;
    writeln!(text, "|---|---|---|---|---|---|")?;
    let dtypes = |set: &BTreeSet<String>| {
        if set.is_empty() {
            "raised".to_string()
        } else {
            set.iter().cloned().collect::<Vec<_>>().join("/")
        }
    };
    for pair in &results.pairs {
        let verdict = match pair.verdict() {
            Verdict::Agree => format!("agree {}/{}", pair.agree, pair.inputs),
            Verdict::Fails(status) => format!(
                "**diverge, {status}** {}/{} ({})",
                pair.diverge,
                pair.inputs,
                pair.kinds_text()
            ),
            Verdict::Known => format!(
                "known divergence {}/{} ({})",
                pair.diverge,
                pair.inputs,
                pair.kinds_text()
            ),
        };
        writeln!(
            text,
            "| {} | {}–{} | {} | {} | {} | {} vs {} |",
            pair.case,
            pair.mode_a,
            pair.mode_b,
            verdict,
            pair.max_abs_text("–"),
            pair.max_ulp_text("–"),
            dtypes(&pair.dtypes_a),
            dtypes(&pair.dtypes_b),
        )?;
    }
    Ok(())
}

/// What the table does not show: first errors, known divergences not seen, cases not run,
/// cases that changed process-wide state.
fn notes(text: &mut String, results: &RunResults) -> std::fmt::Result {
    let info = &results.info;
    let errors: Vec<_> = results
        .pairs
        .iter()
        .filter_map(|p| Some((p, p.first_error.as_ref()?)))
        .collect();
    if !errors.is_empty() {
        writeln!(text, "\nFirst error of each pair that raised:\n")?;
        for (pair, error) in errors {
            writeln!(
                text,
                "- {} {}–{}: `{}`",
                pair.case, pair.mode_a, pair.mode_b, error
            )?;
        }
    }
    if !info.known_not_seen.is_empty() {
        writeln!(
            text,
            "\nKnown divergences that did not occur this time (fixed?):\n"
        )?;
        for known in &info.known_not_seen {
            writeln!(
                text,
                "- {} {} {}: {}",
                known.case, known.pair, known.kind, known.reason
            )?;
        }
    }
    for failure in &info.case_load_failures {
        writeln!(text, "\nNot run: `{}`: {}", failure.name, failure.error)?;
    }
    for (case, changes) in &info.state_changes {
        writeln!(
            text,
            "\nCase `{case}` changed process-wide state (restored before every \
                 call, so no other case saw it): {}",
            changes.join("; ")
        )?;
    }
    Ok(())
}
