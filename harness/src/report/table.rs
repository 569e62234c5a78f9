//! The short table printed on stdout at the end of a run: each pair's verdict and worst error.

use super::{RunResults, Verdict};
use std::io::Write;

pub fn print_table(results: &RunResults, out: &mut impl Write) -> std::io::Result<()> {
    let mut rows = vec![[
        "case".to_string(),
        "pair".to_string(),
        "verdict".to_string(),
        "max_abs".to_string(),
        "max_ulp".to_string(),
        "dtypes".to_string(),
    ]];
    for pair in &results.pairs {
        let diverged = |word: &str| {
            format!(
                "{word} {}/{} {}",
                pair.diverge,
                pair.inputs,
                pair.kinds_text()
            )
        };
        let verdict = match pair.verdict() {
            Verdict::Agree => format!("agree {}/{}", pair.agree, pair.inputs),
            Verdict::Known => diverged("known"),
            Verdict::Fails(_) => diverged("DIVERGE"),
        };
        let dtypes = |set: &std::collections::BTreeSet<String>| {
            if set.is_empty() {
                "-".to_string()
            } else {
                set.iter().cloned().collect::<Vec<_>>().join("/")
            }
        };
        rows.push([
            pair.case.clone(),
            format!("{}-{}", pair.mode_a, pair.mode_b),
            verdict,
            pair.max_abs_text("-"),
            pair.max_ulp_text("-"),
            format!("{} vs {}", dtypes(&pair.dtypes_a), dtypes(&pair.dtypes_b)),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    for (index, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
        if index == 0 {
            continue; // the header
        }
        // Under a case's last row: what it printed, if anything (the lines are in a file).
        if rows.get(index + 1).is_none_or(|next| next[0] != row[0]) {
            printed_note(out, results, &row[0])?;
        }
    }
    for known in &results.info.known_not_seen {
        writeln!(
            out,
            "{}  {}  known {} divergence did not occur (fixed?): {}",
            known.case, known.pair, known.kind, known.reason
        )?;
    }
    for failure in &results.info.case_load_failures {
        writeln!(out, "{}  NOT RUN: {}", failure.name, failure.error)?;
    }
    Ok(())
}

/// "  case printed 3 line(s) while it ran, first ..." when the case printed anything.
fn printed_note(out: &mut impl Write, results: &RunResults, case: &str) -> std::io::Result<()> {
    let Some(printed) = results.info.case_output.get(case) else {
        return Ok(());
    };
    let first: Vec<String> = printed.first.iter().map(|l| format!("{l:?}")).collect();
    writeln!(
        out,
        "  {case} printed {} line(s) while it ran, first {} (all in {})",
        printed.lines,
        first.join(", "),
        super::CASE_OUTPUT_FILE
    )
}
