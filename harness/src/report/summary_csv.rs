//! summary.csv: one row per case × mode pair over all inputs, agreeing ones included.

use super::{format_number, Export, RunResults};
use anyhow::Result;

pub struct SummaryCsv;

impl Export for SummaryCsv {
    fn file_name(&self) -> &'static str {
        "summary.csv"
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        let mut writer = csv::Writer::from_writer(vec![]);
        writer.write_record([
            "case",
            "mode_a",
            "mode_b",
            "inputs",
            "agree",
            "diverge",
            "kinds",
            "status",
            "max_abs",
            "max_rel",
            "max_ulp",
            "both_raised",
            "dtype_a",
            "dtype_b",
            "first_error",
        ])?;
        let join = |set: &std::collections::BTreeSet<String>| {
            set.iter().cloned().collect::<Vec<_>>().join(";")
        };
        for pair in &results.pairs {
            writer.write_record([
                pair.case.clone(),
                pair.mode_a.to_string(),
                pair.mode_b.to_string(),
                pair.inputs.to_string(),
                pair.agree.to_string(),
                pair.diverge.to_string(),
                pair.kinds_text(),
                pair.status.map(|s| s.name()).unwrap_or("").to_string(),
                pair.max_abs_text(""),
                pair.max_rel.map(format_number).unwrap_or_default(),
                pair.max_ulp_text(""),
                pair.both_raised.to_string(),
                join(&pair.dtypes_a),
                join(&pair.dtypes_b),
                pair.first_error.clone().unwrap_or_default(),
            ])?;
        }
        Ok(writer.into_inner()?)
    }
}
