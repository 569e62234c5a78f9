//! run.json: versions, configuration, timing and trace counts — what is needed to understand
//! and repeat a run — with the pair summaries.

use super::{Export, RunResults};
use anyhow::Result;

pub struct RunJson;

impl Export for RunJson {
    fn file_name(&self) -> &'static str {
        "run.json"
    }

    fn render(&self, results: &RunResults) -> Result<Vec<u8>> {
        let mut text = serde_json::to_vec_pretty(results)?;
        text.push(b'\n');
        Ok(text)
    }
}
