//! The timeline's files: timeline.csv (a row per signature, a column per environment),
//! timeline-pairs.csv (a row per case × pair × environment), timeline-environments.csv,
//! timeline.md and timeline.html (in report.html's style).

use super::{pair_keys, signature_lines, Point, Presence, SignatureLine, Version};
use crate::mode::ModePair;
use crate::report::PairSummary;
use anyhow::{Context, Result};
use html_escape::encode_text as text;
use std::fmt::Write;
use std::path::Path;

/// One environment's facts, as the tables show them.
struct Environment {
    label: String,
    dir: String,
    python: String,
    numpy: String,
    tensorflow: String,
    keras: String,
    onednn: String,
    /// The contamination probe's answer, or why the run is missing.
    contamination: String,
    failure: Option<String>,
}

fn environment(point: &Point) -> Environment {
    let run = point.ran();
    let info = run.map(|run| &run.results.info);
    let field = |key: &str| {
        info.and_then(|info| info.environment[key].as_str().map(str::to_string))
            .unwrap_or_else(|| "–".to_string())
    };
    let onednn = info
        .map(|info| {
            let state = &info.environment["onednn"];
            match (
                state["is_mkl_enabled"].as_bool(),
                state["TF_ENABLE_ONEDNN_OPTS"].as_str(),
            ) {
                (Some(true), flag) => {
                    format!("on (TF_ENABLE_ONEDNN_OPTS={})", flag.unwrap_or("unset"))
                }
                (Some(false), _) => "off".to_string(),
                _ => "–".to_string(),
            }
        })
        .unwrap_or_else(|| "–".to_string());
    let contamination = match info.map(|info| &info.contamination) {
        Some(Some(c)) if c.numpy_changed => "yes: NumPy's results changed".to_string(),
        Some(Some(_)) => "no".to_string(),
        Some(None) => "not measured".to_string(),
        None => "–".to_string(),
    };
    Environment {
        label: point.label(),
        dir: point.dir.display().to_string(),
        python: field("python"),
        numpy: point
            .numpy
            .as_ref()
            .map_or(field("numpy"), Version::to_string),
        tensorflow: point
            .tensorflow
            .as_ref()
            .map_or(field("tensorflow"), Version::to_string),
        keras: field("keras"),
        onednn,
        contamination,
        failure: point.run.as_ref().err().cloned(),
    }
}

fn presence_word(presence: Presence) -> &'static str {
    match presence {
        Presence::Yes => "yes",
        Presence::No => "no",
        Presence::NotRun => "not run",
    }
}

/// A case × pair in one environment: "3/200 value:3 · 1.2e-7 abs · 128 ulp", "0/200", or "–".
fn pair_cell(pair: Option<&PairSummary>) -> String {
    match pair {
        None => "–".to_string(),
        Some(pair) => {
            let ulp = pair
                .max_ulp
                .map(|u| format!(" · {} abs · {u} ulp", pair.max_abs_text("–")))
                .unwrap_or_default();
            let kinds = if pair.diverge > 0 {
                format!(" {}", pair.kinds_text())
            } else {
                String::new()
            };
            format!("{}/{}{kinds}{ulp}", pair.diverge, pair.inputs)
        }
    }
}

fn pair_in<'a>(point: &'a Point, case: &str, pair: ModePair) -> Option<&'a PairSummary> {
    point
        .ran()?
        .results
        .pairs
        .iter()
        .find(|p| p.case == case && p.pair() == pair)
}

/// Whether the pair's numbers differ from the last environment before that ran it.
fn changed(points: &[Point], index: usize, case: &str, pair: ModePair) -> bool {
    let now = pair_in(&points[index], case, pair);
    let before = points[..index]
        .iter()
        .rev()
        .find_map(|p| pair_in(p, case, pair));
    match (before, now) {
        (Some(a), Some(b)) => {
            (a.diverge, &a.kinds, a.max_ulp) != (b.diverge, &b.kinds, b.max_ulp)
                || a.max_abs.map(f64::to_bits) != b.max_abs.map(f64::to_bits)
        }
        _ => false,
    }
}

/// Writes every file; returns timeline.md's text.
pub fn write_all(out: &Path, points: &[Point], since: Option<&Version>) -> Result<String> {
    let lines = signature_lines(points);
    write_signatures_csv(&out.join("timeline.csv"), points, &lines)?;
    write_pairs_csv(&out.join("timeline-pairs.csv"), points)?;
    write_environments_csv(&out.join("timeline-environments.csv"), points)?;
    let markdown = markdown(points, &lines, since)?;
    std::fs::write(out.join("timeline.md"), &markdown)
        .with_context(|| format!("writing {}", out.join("timeline.md").display()))?;
    crate::report::write_atomically(
        &out.join("timeline.html"),
        html(points, &lines, since)?.as_bytes(),
    )?;
    Ok(markdown)
}

fn write_signatures_csv(path: &Path, points: &[Point], lines: &[SignatureLine]) -> Result<()> {
    let mut writer =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    let mut header: Vec<String> = [
        "case",
        "mode_a",
        "mode_b",
        "kind",
        "first_seen",
        "last_seen",
        "comes_and_goes",
    ]
    .map(String::from)
    .to_vec();
    header.extend(points.iter().map(Point::label));
    writer.write_record(&header)?;
    for line in lines {
        let seen = |index: Option<usize>| index.map(|i| points[i].label()).unwrap_or_default();
        let signature = &line.signature;
        let mut record = vec![
            signature.case.clone(),
            signature.pair.a.to_string(),
            signature.pair.b.to_string(),
            signature.kind.to_string(),
            seen(line.first_seen()),
            seen(line.last_seen()),
            line.comes_and_goes().to_string(),
        ];
        record.extend(line.presence.iter().map(|&p| presence_word(p).to_string()));
        writer.write_record(&record)?;
    }
    writer.flush()?;
    Ok(())
}

fn write_pairs_csv(path: &Path, points: &[Point]) -> Result<()> {
    let mut writer =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    writer.write_record([
        "case",
        "mode_a",
        "mode_b",
        "tensorflow",
        "numpy",
        "inputs",
        "diverge",
        "kinds",
        "max_abs",
        "max_ulp",
        "changed",
    ])?;
    for (case, pair) in pair_keys(points) {
        for (index, point) in points.iter().enumerate() {
            let Some(summary) = pair_in(point, &case, pair) else {
                continue;
            };
            let version =
                |v: &Option<Version>| v.as_ref().map(Version::to_string).unwrap_or_default();
            writer.write_record([
                case.clone(),
                pair.a.to_string(),
                pair.b.to_string(),
                version(&point.tensorflow),
                version(&point.numpy),
                summary.inputs.to_string(),
                summary.diverge.to_string(),
                summary.kinds_text(),
                summary.max_abs_text(""),
                summary.max_ulp_text(""),
                changed(points, index, &case, pair).to_string(),
            ])?;
        }
    }
    writer.flush()?;
    Ok(())
}

fn write_environments_csv(path: &Path, points: &[Point]) -> Result<()> {
    let mut writer =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    writer.write_record([
        "environment",
        "run_dir",
        "python",
        "numpy",
        "tensorflow",
        "keras",
        "onednn",
        "numpy_changed_by_tensorflow",
        "failure",
    ])?;
    for point in points {
        let e = environment(point);
        writer.write_record([
            &e.label,
            &e.dir,
            &e.python,
            &e.numpy,
            &e.tensorflow,
            &e.keras,
            &e.onednn,
            &e.contamination,
            &e.failure.unwrap_or_default(),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

fn markdown(points: &[Point], lines: &[SignatureLine], since: Option<&Version>) -> Result<String> {
    let mut md = String::from("# tfdiff timeline\n");
    environments_markdown(&mut md, points)?;
    signatures_markdown(&mut md, points, lines)?;
    if let Some(since) = since {
        boundaries_markdown(&mut md, points, lines, since)?;
    }
    pairs_markdown(&mut md, points)?;
    Ok(md)
}

fn environments_markdown(md: &mut String, points: &[Point]) -> Result<()> {
    md.push_str("\n## Environments (TensorFlow/NumPy)\n\n");
    md.push_str(
        "| environment | Python | Keras | oneDNN | does importing TF change NumPy? | run |\n",
    );
    md.push_str("|---|---|---|---|---|---|\n");
    for point in points {
        let e = environment(point);
        let run = e
            .failure
            .clone()
            .map_or(e.dir.clone(), |why| format!("**FAILED**: {why}"));
        writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            point.short_label(),
            e.python,
            e.keras,
            e.onednn,
            e.contamination,
            run.replace('|', "\\|").replace('\n', " ")
        )?;
    }
    Ok(())
}

fn signatures_markdown(md: &mut String, points: &[Point], lines: &[SignatureLine]) -> Result<()> {
    md.push_str("\n## Signatures\n\n● occurs · ○ does not · – not run there\n\n");
    let columns: Vec<String> = points.iter().map(Point::short_label).collect();
    writeln!(
        md,
        "| case | pair | kind | first seen | last seen | comes and goes | {} |",
        columns.join(" | ")
    )?;
    writeln!(
        md,
        "|---|---|---|---|---|---|{}",
        "---|".repeat(points.len())
    )?;
    for line in lines {
        let seen = |i: Option<usize>| i.map(|i| points[i].short_label()).unwrap_or_default();
        let marks: Vec<&str> = line
            .presence
            .iter()
            .map(|p| match p {
                Presence::Yes => "●",
                Presence::No => "○",
                Presence::NotRun => "–",
            })
            .collect();
        let s = &line.signature;
        writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            s.case,
            s.pair,
            s.kind,
            seen(line.first_seen()),
            seen(line.last_seen()),
            if line.comes_and_goes() {
                "**yes**"
            } else {
                "no"
            },
            marks.join(" | ")
        )?;
    }
    Ok(())
}

fn pairs_markdown(md: &mut String, points: &[Point]) -> Result<()> {
    let columns: Vec<String> = points.iter().map(Point::short_label).collect();
    md.push_str("\n## Error per case × pair\n\ndivergent inputs / inputs, kinds, max abs, max ulp; ✱ changed from the environment before\n\n");
    writeln!(md, "| case | pair | {} |", columns.join(" | "))?;
    writeln!(md, "|---|---|{}", "---|".repeat(points.len()))?;
    for (case, pair) in pair_keys(points) {
        let cells: Vec<String> = (0..points.len())
            .map(|i| {
                let mark = if changed(points, i, &case, pair) {
                    " ✱"
                } else {
                    ""
                };
                format!("{}{mark}", pair_cell(pair_in(&points[i], &case, pair)))
            })
            .collect();
        writeln!(md, "| {case} | {pair} | {} |", cells.join(" | "))?;
    }
    Ok(())
}

fn boundaries_markdown(
    md: &mut String,
    points: &[Point],
    lines: &[SignatureLine],
    since: &Version,
) -> Result<()> {
    writeln!(
        md,
        "\n## Arrived since TensorFlow {since}: where to bisect\n"
    )?;
    let mut any = false;
    for line in lines {
        if let Some((before, after)) = line.boundary(points, since) {
            any = true;
            let s = &line.signature;
            writeln!(
                md,
                "- {} {} {}: absent in {}, present from {}. Bisect between:\n  - `{}`\n  - `{}`",
                s.case,
                s.pair,
                s.kind,
                points[before].label(),
                points[after].label(),
                points[before].pip_line(),
                points[after].pip_line()
            )?;
        }
    }
    if !any {
        writeln!(md, "No signature arrived inside the range: each one is there from its first environment, or never.")?;
    }
    Ok(())
}

fn html(points: &[Point], lines: &[SignatureLine], since: Option<&Version>) -> Result<String> {
    let mut page = crate::report::html::head("tfdiff timeline");
    page.push_str("<header><h1>tfdiff timeline</h1></header>\n<section class=\"case\"><h2>Environments</h2><table class=\"matrix\"><tr><th>TensorFlow/NumPy</th><th>Python</th><th>Keras</th><th>oneDNN</th><th>does importing TF change NumPy?</th><th>run</th></tr>");
    for point in points {
        let e = environment(point);
        let (class, run) = match &e.failure {
            Some(why) => ("new", format!("FAILED: {why}")),
            None => ("agree", e.dir.clone()),
        };
        write!(
            page,
            "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td></tr>",
            text(&point.short_label()),
            text(&e.python),
            text(&e.keras),
            text(&e.onednn),
            text(&e.contamination),
            text(&run)
        )?;
    }
    page.push_str("</table></section>\n");
    signatures_html(&mut page, points, lines)?;
    if let Some(since) = since {
        let mut md = String::new();
        boundaries_markdown(&mut md, points, lines, since)?;
        writeln!(
            page,
            "<section class=\"case\"><pre>{}</pre></section>",
            text(&md)
        )?;
    }
    pairs_html(&mut page, points)?;
    page.push_str("</body>\n</html>\n");
    Ok(page)
}

fn signatures_html(page: &mut String, points: &[Point], lines: &[SignatureLine]) -> Result<()> {
    page.push_str("<section class=\"case\"><h2>Signatures</h2><table class=\"matrix\"><tr><th>signature</th><th>first seen</th><th>last seen</th>");
    for point in points {
        write!(page, "<th>{}</th>", text(&point.short_label()))?;
    }
    page.push_str("</tr>");
    for line in lines {
        let seen = |i: Option<usize>| i.map(|i| points[i].short_label()).unwrap_or_default();
        let s = &line.signature;
        let comes = if line.comes_and_goes() {
            " <span class=\"tag new\">comes and goes</span>"
        } else {
            ""
        };
        write!(
            page,
            "<tr><th>{} {} {}{comes}</th><td>{}</td><td>{}</td>",
            text(&s.case),
            s.pair,
            s.kind,
            text(&seen(line.first_seen())),
            text(&seen(line.last_seen()))
        )?;
        for &presence in &line.presence {
            let (class, mark) = match presence {
                Presence::Yes => ("known", "●"),
                Presence::No => ("agree", "○"),
                Presence::NotRun => ("none", "–"),
            };
            write!(page, "<td class=\"{class}\">{mark}</td>")?;
        }
        page.push_str("</tr>");
    }
    page.push_str("</table></section>\n");
    Ok(())
}

fn pairs_html(page: &mut String, points: &[Point]) -> Result<()> {
    page.push_str("<section class=\"case\"><h2>Error per case × pair</h2><table class=\"matrix\"><tr><th>case × pair</th>");
    for point in points {
        write!(page, "<th>{}</th>", text(&point.short_label()))?;
    }
    page.push_str("</tr>");
    for (case, pair) in pair_keys(points) {
        write!(page, "<tr><th>{} {pair}</th>", text(&case))?;
        for (index, point) in points.iter().enumerate() {
            let summary = pair_in(point, &case, pair);
            let class = match summary {
                None => "none",
                Some(_) if changed(points, index, &case, pair) => "exceeded",
                Some(s) if s.diverge > 0 => "known",
                Some(_) => "agree",
            };
            write!(
                page,
                "<td class=\"{class}\">{}</td>",
                text(&pair_cell(summary))
            )?;
        }
        page.push_str("</tr>");
    }
    page.push_str("</table><p>Orange: changed from the environment before.</p></section>\n");
    Ok(())
}
