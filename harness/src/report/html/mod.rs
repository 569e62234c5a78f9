//! report.html: the run to look at rather than read. One self-contained file — inline CSS,
//! pictures as PNG data URIs, charts as inline SVG, no script, nothing fetched — so a CI
//! artifact opens offline in any browser. Per case, a matrix of its mode pairs coloured by
//! verdict and each pair's ULP histogram; per signature, the shrunk input, both outputs on one
//! colour scale and the ULP distance per pixel, or the messages when a side raised.
//!
//! The markup is also well-formed XML (void elements closed, `<img ... />`), so a test — or a
//! tool — can parse it strictly.
//!
//! It is made from the run directory's own files (run.json's results, the rows, and the .npy
//! inputs and outputs the rows name), so `tfdiff report RUN_DIR` makes the same page later.

mod chart;
mod diff_page;
mod picture;
mod pictures;

use super::{DivergenceRow, PairSummary, RunResults, Verdict};
use crate::baseline::Status;
use crate::mode::Mode;
use crate::run_on_disk::inside;
use anyhow::Result;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use std::fmt::Write;
use std::path::Path;

pub use chart::histogram_svg;
pub use diff_page::{write_diff, DiffSignature, DIFF_FILE_NAME};
pub use pictures::Pictures;

pub const FILE_NAME: &str = "report.html";

/// Writes `dir/report.html` from `results` and the files in `dir` (through a temporary file
/// and a rename, as the other reports).
pub fn write(dir: &Path, results: &RunResults, pictures: &mut Pictures) -> Result<()> {
    let page = render(dir, results, pictures)?;
    super::write_atomically(&dir.join(FILE_NAME), page.as_bytes())
}

/// The page (its pictures drawn into, or taken from, `pictures`).
pub fn render(dir: &Path, results: &RunResults, pictures: &mut Pictures) -> Result<String> {
    let mut page = head(&format!("tfdiff {}", run_name(dir)));
    header(&mut page, results)?;
    for case in &results.info.cases {
        case_section(&mut page, dir, results, &case.name, pictures)?;
    }
    for failure in &results.info.case_load_failures {
        writeln!(
            page,
            "<section class=\"case\"><h2>{} <span class=\"tag new\">not run</span></h2><pre>{}</pre></section>",
            text(&failure.name),
            text(&failure.error)
        )?;
    }
    page.push_str("</body>\n</html>\n");
    Ok(page)
}

/// The page up to its body: title and the inline style sheet.
pub fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        text(title)
    )
}

fn run_name(dir: &Path) -> String {
    dir.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Verdict, versions, seed, modes, inputs, duration, and the contamination probe's answer.
fn header(page: &mut String, results: &RunResults) -> Result<()> {
    let info = &results.info;
    let (class, verdict) = if let Some(note) = info.ended.incomplete_note() {
        ("new", note)
    } else if info.failing_signatures > 0 {
        (
            "new",
            format!(
                "FAIL: {} signature(s) new or beyond their known bound",
                info.failing_signatures
            ),
        )
    } else if !info.case_load_failures.is_empty() {
        ("new", "Some case files could not be loaded".to_string())
    } else {
        (
            "agree",
            "PASS: every pair agrees, or diverges only as cases/expected.toml knows".to_string(),
        )
    };
    let environment = &info.environment;
    let version = |key: &str| environment[key].as_str().unwrap_or("?").to_string();
    let modes: Vec<&str> = info.config.modes.iter().map(|m| m.name()).collect();
    let facts = [
        ("tfdiff", info.tfdiff_version.clone()),
        ("Python", version("python")),
        ("NumPy", version("numpy")),
        ("TensorFlow", version("tensorflow")),
        ("seed", info.config.seed.to_string()),
        ("modes", modes.join(", ")),
        (
            "inputs",
            format!(
                "{} evaluated ({} generated per case, {} regressions replayed)",
                info.inputs_evaluated, info.config.inputs, info.regressions_replayed
            ),
        ),
        ("duration", format!("{:.1} s", info.elapsed_seconds)),
        ("signatures", info.signatures.to_string()),
        ("contamination", contamination_answer(results)),
    ];
    writeln!(
        page,
        "<header><h1>tfdiff report</h1><p class=\"verdict {class}\">{}</p><table class=\"facts\">",
        text(&verdict)
    )?;
    for (name, value) in facts {
        writeln!(page, "<tr><th>{name}</th><td>{}</td></tr>", text(&value))?;
    }
    page.push_str("</table></header>\n");
    Ok(())
}

/// The probe's one-line answer to "does importing TensorFlow change NumPy?".
fn contamination_answer(results: &RunResults) -> String {
    match &results.info.contamination {
        None => "not measured in this run".to_string(),
        Some(c) if c.numpy_changed => format!(
            "NumPy's results changed in this process after importing or running TensorFlow{} \
             (see contamination.csv)",
            if c.forced_ftz_daz {
                " (FTZ/DAZ forced on purpose)"
            } else {
                ""
            }
        ),
        Some(c) => format!(
            "importing and running TensorFlow did not change NumPy's results in this process \
             ({} stages compared with a clean process)",
            c.stages.len()
        ),
    }
}

/// A case: its pairs as a matrix, each pair's histogram, then each of its signatures.
fn case_section(
    page: &mut String,
    dir: &Path,
    results: &RunResults,
    case: &str,
    pictures: &mut Pictures,
) -> Result<()> {
    let pairs: Vec<&PairSummary> = results.pairs.iter().filter(|p| p.case == case).collect();
    writeln!(
        page,
        "<section class=\"case\" id=\"case-{}\"><h2>{}</h2>",
        attr(case),
        text(case)
    )?;
    matrix(page, &pairs)?;
    let charted: Vec<&&PairSummary> = pairs
        .iter()
        .filter(|p| !p.ulp_histogram.is_empty())
        .collect();
    if !charted.is_empty() {
        page.push_str("<h3>ULP distance per element</h3><div class=\"charts\">");
        for pair in charted {
            let histogram = &pair.ulp_histogram;
            writeln!(
                page,
                "<figure>{}<figcaption>{}–{}: differs on {} of {} inputs compared element by element</figcaption></figure>",
                histogram_svg(histogram),
                pair.mode_a,
                pair.mode_b,
                histogram.inputs_differing,
                histogram.inputs
            )?;
        }
        page.push_str("</div>\n");
    }
    for row in results.rows.iter().filter(|row| row.case == case) {
        signature(page, dir, "", row, pictures)?;
    }
    page.push_str("</section>\n");
    Ok(())
}

/// Rows: the reference modes; columns: the modes compared with them; a cell per pair.
fn matrix(page: &mut String, pairs: &[&PairSummary]) -> Result<()> {
    let mut rows: Vec<Mode> = Vec::new();
    let mut columns: Vec<Mode> = Vec::new();
    for pair in pairs {
        if !rows.contains(&pair.mode_a) {
            rows.push(pair.mode_a);
        }
        if !columns.contains(&pair.mode_b) {
            columns.push(pair.mode_b);
        }
    }
    page.push_str("<table class=\"matrix\"><tr><th></th>");
    for column in &columns {
        write!(page, "<th>{column}</th>")?;
    }
    page.push_str("</tr>");
    for row in &rows {
        write!(page, "<tr><th>{row}</th>")?;
        for column in &columns {
            match pairs
                .iter()
                .find(|p| p.mode_a == *row && p.mode_b == *column)
            {
                Some(pair) => {
                    let (class, word) = verdict_words(pair);
                    let ulp = pair.max_ulp_text("–");
                    let counts = if pair.diverge == 0 {
                        format!("{}/{}", pair.agree, pair.inputs)
                    } else {
                        format!("{}/{} {}", pair.diverge, pair.inputs, pair.kinds_text())
                    };
                    write!(
                        page,
                        "<td class=\"{class}\"><b>{word}</b> {}<br /><small>max ulp {}</small></td>",
                        text(&counts),
                        text(&ulp)
                    )?;
                }
                None => page.push_str("<td class=\"none\"></td>"),
            }
        }
        page.push_str("</tr>");
    }
    page.push_str("</table>\n");
    Ok(())
}

fn verdict_words(pair: &PairSummary) -> (&'static str, &'static str) {
    match pair.verdict() {
        Verdict::Agree => ("agree", "agree"),
        Verdict::Known => ("known", "known"),
        Verdict::Fails(Status::Exceeded) => ("exceeded", "EXCEEDED"),
        Verdict::Fails(_) => ("new", "NEW"),
    }
}

/// One signature: what it is, its pictures (or messages), and links to its files (`dir`, the
/// run directory that has them, is `links` from the page).
fn signature(
    page: &mut String,
    dir: &Path,
    links_to: &str,
    row: &DivergenceRow,
    pictures: &mut Pictures,
) -> Result<()> {
    let status = row.status.to_string();
    writeln!(
        page,
        "<article class=\"signature\" id=\"{}\"><h3>{} {}–{} <span class=\"tag\">{}</span> <span class=\"tag {}\">{}</span></h3>",
        attr(&signature_id(row)),
        text(&row.case),
        row.mode_a,
        row.mode_b,
        row.kind,
        attr(&status),
        text(&status)
    )?;
    let facts = [
        (
            "input",
            format!("{} (seed {}, {})", row.input, row.seed, row.generator),
        ),
        (
            "shape",
            format!(
                "{} shrunk from {} in {} step(s)",
                row.shape, row.original_shape, row.shrink_steps
            ),
        ),
        (
            "dtypes",
            format!("{} vs {}", or_dash(&row.dtype_a), or_dash(&row.dtype_b)),
        ),
        ("occurrences", row.occurrences.to_string()),
        (
            "error",
            format!(
                "max abs {} · max rel {} · max ulp {} · {} element(s) off",
                or_dash(&row.max_abs),
                or_dash(&row.max_rel),
                or_dash(&row.max_ulp),
                or_dash(&row.mismatches)
            ),
        ),
    ];
    page.push_str("<table class=\"facts\">");
    for (name, value) in facts {
        write!(page, "<tr><th>{name}</th><td>{}</td></tr>", text(&value))?;
    }
    page.push_str("</table>\n");
    pictures.add(page, dir, row)?;
    if !row.error.is_empty() {
        writeln!(page, "<pre class=\"error\">{}</pre>", text(&row.error))?;
    }
    links(page, dir, links_to, row)?;
    page.push_str("</article>\n");
    Ok(())
}

/// The `id` of a signature's article: case-pair-kind.
pub fn signature_id(row: &DivergenceRow) -> String {
    format!("{}-{}-{}", row.case, row.pair(), row.kind)
}

pub(super) fn or_dash(value: &str) -> &str {
    if value.is_empty() {
        "–"
    } else {
        value
    }
}

/// "(0, 1, 2)" → [0, 1, 2].
pub(super) fn parse_index(text: &str) -> Option<Vec<usize>> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| part.parse().ok())
        .collect()
}

pub(super) fn shape_text(shape: &[usize]) -> String {
    let sides: Vec<String> = shape.iter().map(usize::to_string).collect();
    if sides.is_empty() {
        "scalar".to_string()
    } else {
        sides.join("×")
    }
}

/// The input's file: the reproducer in the run directory, or the run's copy of the regression
/// (a replayed regression is its own reproducer, outside the run directory).
pub(super) fn input_file(dir: &Path, row: &DivergenceRow) -> Option<std::path::PathBuf> {
    inside(dir, &row.reproducer)
        .filter(|path| path.is_file())
        .or_else(|| regression_copy(dir, row))
}

fn regression_copy(dir: &Path, row: &DivergenceRow) -> Option<std::path::PathBuf> {
    let name = Path::new(&row.regression)
        .file_name()?
        .to_string_lossy()
        .into_owned();
    inside(dir, &format!("regressions/{}/{name}", row.case)).filter(|path| path.is_file())
}

/// Links to the signature's files that are inside the run directory.
fn links(page: &mut String, dir: &Path, links_to: &str, row: &DivergenceRow) -> Result<()> {
    let mut files: Vec<(&str, String)> = Vec::new();
    if let Some(path) = input_file(dir, row) {
        files.push(("input .npy", relative(dir, &path)));
    }
    for (label, file) in ["output a .npy", "output b .npy"]
        .into_iter()
        .zip(row.output_files())
    {
        if inside(dir, &file).is_some_and(|path| path.is_file()) {
            files.push((label, file));
        }
    }
    if inside(dir, &row.script).is_some_and(|path| path.is_file()) {
        files.push(("reproduction script", row.script.clone()));
    }
    if let Some(path) = regression_copy(dir, row) {
        files.push(("regression", relative(dir, &path)));
    }
    page.push_str("<p class=\"links\">");
    for (label, file) in files {
        write!(
            page,
            "<a href=\"{}{}\">{label}</a> ",
            attr(links_to),
            attr(&file)
        )?;
    }
    page.push_str("</p>\n");
    Ok(())
}

fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:16px;color:#222}
h1{margin:0 0 8px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse}th,td{padding:4px 8px;text-align:left;vertical-align:top}
.facts th{color:#666;font-weight:normal}
.verdict{font-size:18px;font-weight:bold;padding:8px 12px;border-radius:4px;display:inline-block}
.matrix td,.matrix th{border:1px solid #ccc}.matrix td{min-width:120px}
.agree{background:#dff3df}.known{background:#fff3c4}.new{background:#f9d0d0}
.exceeded{background:#f5b47a}.none{background:#f4f4f4}
.tag{font-size:12px;font-weight:normal;padding:1px 6px;border-radius:3px;background:#eee}
.signature{border:1px solid #ddd;border-radius:6px;padding:8px 12px;margin:16px 0}
.pictures{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
figure{margin:0}figcaption{font-size:12px;color:#555;max-width:320px}
img{image-rendering:pixelated;border:1px solid #ccc}
.charts{display:flex;flex-wrap:wrap;gap:16px}
.histogram rect.same{fill:#8fbf8f}.histogram rect.off{fill:#d9822b}.histogram rect.naninf{fill:#c0392b}
.histogram text{font-size:9px;fill:#333}.histogram text.count{text-anchor:middle}
pre.error{white-space:pre-wrap;background:#f7f7f7;padding:6px;border-radius:4px}
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::Kind;
    use crate::mode::ModePair;
    use crate::outcome::{OutputArray, Values};
    use crate::report::divergences::test_row;

    /// Checks that `page` is well-formed XML; returns its elements' names, in order.
    pub fn elements(page: &str) -> Vec<String> {
        let mut reader = quick_xml::Reader::from_str(page);
        reader.config_mut().check_end_names = true;
        let mut names = Vec::new();
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)) => {
                    names.push(e.name().as_ref().to_string())
                }
                Ok(quick_xml::events::Event::Eof) => return names,
                Ok(_) => {}
                Err(error) => panic!("not well-formed at {}: {error}", reader.buffer_position()),
            }
        }
    }

    /// A run directory holding a value signature (input and both outputs on disk) and an
    /// error signature (only side b gave an array).
    fn run_dir() -> (tempfile::TempDir, RunResults) {
        let dir = tempfile::tempdir().unwrap();
        let pair = ModePair::new(Mode::Numpy, Mode::Eager);
        let mut value = test_row("scale01", "3", pair, Kind::Value);
        value.reproducer = "inputs/scale01-numpy-eager-value.npy".into();
        value.worst_index = "(0, 1)".into();
        value.dtype_a = "float32".into();
        value.dtype_b = "float32".into();
        let image = ndarray::ArrayD::from_shape_vec(vec![1, 2], vec![0u8, 255]).unwrap();
        std::fs::create_dir_all(dir.path().join("inputs")).unwrap();
        ndarray_npy::write_npy(dir.path().join(&value.reproducer), &image).unwrap();
        let output = |values: Vec<f32>| OutputArray {
            dtype: "float32".into(),
            shape: vec![1, 2],
            values: std::sync::Arc::new(Values::Float32(values)),
        };
        let [a, b] = value.output_files();
        crate::npy::write_output(&dir.path().join(a), &output(vec![0.0, 1.0])).unwrap();
        crate::npy::write_output(&dir.path().join(b), &output(vec![0.0, 1.0000001])).unwrap();
        let mut error = test_row(
            "scale01",
            "4",
            ModePair::new(Mode::Numpy, Mode::Graph),
            Kind::Error,
        );
        error.error = "numpy: ValueError: <zero-size> & \"empty\"".into();
        let mut results = crate::run_on_disk::fixture_run(vec![value, error]).results;
        results.pairs = vec![PairSummary::new("scale01", pair)];
        (dir, results)
    }

    #[test]
    fn the_page_is_well_formed_self_contained_and_draws_every_signature() {
        let (dir, results) = run_dir();
        let page = render(dir.path(), &results, &mut Pictures::default()).unwrap();
        let names = elements(&page);
        assert_eq!(names.iter().filter(|n| *n == "article").count(), 2);
        // Input, two outputs and the heatmap; then the error signature's input placeholder.
        assert_eq!(names.iter().filter(|n| *n == "img").count(), 5, "{page}");
        for attribute in ["src=\"", "href=\""] {
            for value in page.split(attribute).skip(1) {
                let value = value.split('"').next().unwrap();
                assert!(
                    !value.contains("://") && !value.starts_with("//"),
                    "{attribute}{value} leaves the file"
                );
            }
        }
        assert!(page.contains("worst at (0, 1)"), "{page}");
        assert!(page.contains("&lt;zero-size&gt; &amp;"), "escaped: {page}");
        assert!(page.contains("<a href=\"outputs/scale01-numpy-eager-value.b.npy\">"));
        assert!(page.contains("id=\"scale01-numpy-graph-error\""));
    }

    #[test]
    fn a_missing_file_is_a_placeholder_not_an_error() {
        let (dir, results) = run_dir();
        std::fs::remove_dir_all(dir.path().join("inputs")).unwrap();
        std::fs::remove_dir_all(dir.path().join("outputs")).unwrap();
        let page = render(dir.path(), &results, &mut Pictures::default()).unwrap();
        assert!(page.contains("input (file not found)"));
        assert_eq!(elements(&page).iter().filter(|n| *n == "img").count(), 2);
    }

    #[test]
    fn a_picture_kept_between_rewrites_is_drawn_again_when_its_file_changes() {
        let (dir, results) = run_dir();
        let mut pictures = Pictures::default();
        let first = render(dir.path(), &results, &mut pictures).unwrap();
        assert_eq!(render(dir.path(), &results, &mut pictures).unwrap(), first);
        // Output b rewritten at once, same size: only its bytes tell it changed.
        let [_, b] = results.rows[0].output_files();
        let output = OutputArray {
            dtype: "float32".into(),
            shape: vec![1, 2],
            values: std::sync::Arc::new(Values::Float32(vec![0.5, 1.0])),
        };
        crate::npy::write_output(&dir.path().join(b), &output).unwrap();
        let again = render(dir.path(), &results, &mut pictures).unwrap();
        assert_ne!(again, first, "the changed output is drawn again");
        assert_eq!(
            again,
            render(dir.path(), &results, &mut Pictures::default()).unwrap()
        );
    }

    #[test]
    fn worst_indices_are_read_as_the_csv_writes_them() {
        assert_eq!(parse_index("(0, 1, 2)"), Some(vec![0, 1, 2]));
        assert_eq!(parse_index("(4,)"), Some(vec![4]));
        assert_eq!(parse_index("()"), Some(vec![]));
        assert_eq!(parse_index(""), None);
        assert_eq!(shape_text(&[2, 3]), "2×3");
        assert_eq!(shape_text(&[]), "scalar");
    }
}
