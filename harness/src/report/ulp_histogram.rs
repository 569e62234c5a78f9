//! ulp_histogram.csv: each pair's distribution of per-element ULP distance, one row per
//! non-empty bucket, then two rows per pair that are not buckets: `differ` (elements in any
//! bucket but 0, and the inputs with any such element) and `compared` (every element and every
//! input compared element by element). So the share of inputs with any difference is
//! `differ.inputs / compared.inputs`.

use super::{Export, RunResults};
use anyhow::Result;
use serde::Serialize;

pub const FILE_NAME: &str = "ulp_histogram.csv";

pub struct UlpHistogramCsv;

#[derive(Serialize)]
struct Row<'a> {
    case: &'a str,
    mode_a: &'a str,
    mode_b: &'a str,
    bucket: String,
    elements: u64,
    inputs: u64,
}

impl Export for UlpHistogramCsv {
    fn file_name(&self) -> &'static str {
        FILE_NAME
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        // The header even when nothing was compared element by element.
        writer.write_record(["case", "mode_a", "mode_b", "bucket", "elements", "inputs"])?;
        for pair in &results.pairs {
            let histogram = &pair.ulp_histogram;
            if histogram.is_empty() {
                continue;
            }
            let row = |bucket: String, elements: u64, inputs: u64| Row {
                case: &pair.case,
                mode_a: pair.mode_a.name(),
                mode_b: pair.mode_b.name(),
                bucket,
                elements,
                inputs,
            };
            for count in &histogram.buckets {
                writer.serialize(row(count.bucket.to_string(), count.elements, count.inputs))?;
            }
            let same = histogram
                .buckets
                .iter()
                .find(|count| count.bucket.index() == 0)
                .map_or(0, |count| count.elements);
            let elements = histogram.elements();
            writer.serialize(row(
                "differ".into(),
                elements - same,
                histogram.inputs_differing,
            ))?;
            writer.serialize(row("compared".into(), elements, histogram.inputs))?;
        }
        Ok(writer.into_inner()?)
    }
}
