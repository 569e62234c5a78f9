//! diff.html, beside diff.md: what an upgrade changed, to look at. The signatures that are
//! new, gone or persisting, each drawn as in report.html from the run that has it (the new one
//! when both do), and each pair's ULP histograms before and after, side by side.

use super::{attr, chart::histogram_svg, head, or_dash, signature, text};
use crate::report::write_atomically;
use crate::report::{DivergenceRow, PairSummary, RunResults};
use anyhow::Result;
use std::fmt::Write;
use std::path::Path;

pub const DIFF_FILE_NAME: &str = "diff.html";

/// A signature of the diff, and where its files are.
pub struct DiffSignature<'a> {
    /// "new", "gone" or "persisting".
    pub change: &'static str,
    /// The run directory the row comes from.
    pub dir: &'a Path,
    pub row: &'a DivergenceRow,
    /// The old run's row of a persisting signature.
    pub before: Option<&'a DivergenceRow>,
}

/// Writes `out/diff.html`.
pub fn write_diff(
    out: &Path,
    (old_dir, old): (&Path, &RunResults),
    (new_dir, new): (&Path, &RunResults),
    signatures: &[DiffSignature<'_>],
) -> Result<()> {
    let mut page = head("tfdiff diff");
    let mut pictures = super::Pictures::default();
    let version = |results: &RunResults, key: &str| {
        results.info.environment[key]
            .as_str()
            .unwrap_or("?")
            .to_string()
    };
    writeln!(page, "<header><h1>tfdiff diff</h1><table class=\"facts\">")?;
    writeln!(page, "<tr><th></th><th>old</th><th>new</th></tr>")?;
    let rows = [
        (
            "run",
            old_dir.display().to_string(),
            new_dir.display().to_string(),
        ),
        ("NumPy", version(old, "numpy"), version(new, "numpy")),
        (
            "TensorFlow",
            version(old, "tensorflow"),
            version(new, "tensorflow"),
        ),
        ("Python", version(old, "python"), version(new, "python")),
        (
            "seed",
            old.info.config.seed.to_string(),
            new.info.config.seed.to_string(),
        ),
    ];
    for (name, before, after) in rows {
        let class = if before == after {
            ""
        } else {
            " class=\"new\""
        };
        writeln!(
            page,
            "<tr{class}><th>{name}</th><td>{}</td><td>{}</td></tr>",
            text(&before),
            text(&after)
        )?;
    }
    page.push_str("</table></header>\n");
    for change in ["new", "gone", "persisting"] {
        let of_change: Vec<&DiffSignature> =
            signatures.iter().filter(|s| s.change == change).collect();
        writeln!(
            page,
            "<section class=\"case\"><h2>{} signature(s) {change}</h2>",
            of_change.len()
        )?;
        for entry in of_change {
            let links_to = relative_prefix(out, entry.dir);
            if let Some(before) = entry.before {
                writeln!(
                    page,
                    "<p>before: max ulp {}, {} occurrence(s), shape {}</p>",
                    text(or_dash(&before.max_ulp)),
                    before.occurrences,
                    text(&before.shape)
                )?;
            }
            signature(&mut page, entry.dir, &links_to, entry.row, &mut pictures)?;
        }
        page.push_str("</section>\n");
    }
    histograms(&mut page, old, new)?;
    page.push_str("</body>\n</html>\n");
    write_atomically(&out.join(DIFF_FILE_NAME), page.as_bytes())
}

/// Each pair that was compared element by element in either run: its histograms, old | new.
fn histograms(page: &mut String, old: &RunResults, new: &RunResults) -> Result<()> {
    page.push_str("<section class=\"case\"><h2>ULP distance per element, old | new</h2>");
    let find = |results: &'_ RunResults, pair: &PairSummary| {
        results
            .pairs
            .iter()
            .find(|p| p.case == pair.case && p.pair() == pair.pair())
            .map(|p| p.ulp_histogram.clone())
            .unwrap_or_default()
    };
    let mut seen: Vec<(String, String)> = Vec::new();
    for pair in new.pairs.iter().chain(&old.pairs) {
        let key = (pair.case.clone(), pair.pair().to_string());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let (before, after) = (find(old, pair), find(new, pair));
        if before.is_empty() && after.is_empty() {
            continue;
        }
        writeln!(
            page,
            "<h3 id=\"{}\">{} {}–{}</h3><div class=\"charts\">",
            attr(&format!("pair-{}-{}", pair.case, pair.pair())),
            text(&pair.case),
            pair.mode_a,
            pair.mode_b
        )?;
        for (label, histogram) in [("old", before), ("new", after)] {
            let chart = if histogram.is_empty() {
                "<p>not compared element by element</p>".to_string()
            } else {
                histogram_svg(&histogram)
            };
            writeln!(
                page,
                "<figure>{chart}<figcaption>{label}: differs on {} of {} inputs</figcaption></figure>",
                histogram.inputs_differing, histogram.inputs
            )?;
        }
        page.push_str("</div>\n");
    }
    page.push_str("</section>\n");
    Ok(())
}

/// How a link from a page in `out` reaches files of the run directory `dir`: "../" for the
/// default NEW/diff, a relative path otherwise ("" when it cannot be said).
fn relative_prefix(out: &Path, dir: &Path) -> String {
    let absolute = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match pathdiff::diff_paths(absolute(dir), absolute(out)) {
        Some(path) if path.as_os_str().is_empty() => String::new(),
        Some(path) => format!("{}/", path.display()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_reach_the_run_directories_from_the_diff() {
        let root = tempfile::tempdir().unwrap();
        let (old, new) = (root.path().join("old"), root.path().join("new"));
        let out = new.join("diff");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&old).unwrap();
        assert_eq!(relative_prefix(&out, &new), "../");
        assert_eq!(relative_prefix(&out, &old), "../../old/");
        assert_eq!(relative_prefix(&new, &new), "");
    }
}
