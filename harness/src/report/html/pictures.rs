//! A signature's pictures in report.html — the shrunk input, both outputs on one colour scale
//! and the ULP distance per pixel — drawn once for what they show. A run rewrites report.html
//! after each case, and drawing every signature again each time (reading its .npy files,
//! encoding the PNGs) cost more with each case: 0.4 s of the driver's time in a default run,
//! most of the page's cost. `Pictures` keeps each signature's drawing, keyed by the files it
//! was drawn from (path and a hash of the bytes: reading and hashing them is a small part of
//! drawing, and a modification time can stay the same across a rewrite) and the row's fields
//! it shows, so a file written again or a row that changes is drawn afresh.

use super::{input_file, or_dash, parse_index, shape_text};
use crate::compare::Kind;
use crate::npy::{read_as_f64, Loaded};
use crate::outcome::Precision;
use crate::report::html::picture;
use crate::report::{format_number, DivergenceRow};
use crate::run_on_disk::inside;
use anyhow::Result;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Drawings made so far, by what they were drawn from.
#[derive(Default)]
pub struct Pictures {
    drawn: HashMap<Key, String>,
}

/// What a drawing depends on: its files as they are on disk, and the row's fields it shows.
#[derive(PartialEq, Eq, Hash)]
struct Key {
    files: [Option<(PathBuf, u64)>; 3],
    row: [String; 6],
}

impl Key {
    fn of(dir: &Path, row: &DivergenceRow) -> Key {
        let identity = |path: Option<PathBuf>| {
            let path = path?;
            let hash = xxhash_rust::xxh3::xxh3_64(&std::fs::read(&path).ok()?);
            Some((path, hash))
        };
        let [a, b] = row.output_files().map(|file| identity(inside(dir, &file)));
        Key {
            files: [identity(input_file(dir, row)), a, b],
            row: [
                row.mode_a.to_string(),
                row.mode_b.to_string(),
                row.kind.to_string(),
                row.worst_index.clone(),
                row.value_a.clone(),
                row.value_b.clone(),
            ],
        }
    }
}

impl Pictures {
    /// Appends the row's pictures to `page`: drawn now, or as they were drawn before from the
    /// same files.
    pub fn add(&mut self, page: &mut String, dir: &Path, row: &DivergenceRow) -> Result<()> {
        let key = Key::of(dir, row);
        if let Some(drawn) = self.drawn.get(&key) {
            page.push_str(drawn);
            return Ok(());
        }
        let mut drawn = String::new();
        draw(&mut drawn, dir, row)?;
        page.push_str(&drawn);
        self.drawn.insert(key, drawn);
        Ok(())
    }
}

/// The shrunk input, and when both sides gave arrays, both outputs and their difference.
fn draw(page: &mut String, dir: &Path, row: &DivergenceRow) -> Result<()> {
    page.push_str("<div class=\"pictures\">");
    let input = input_file(dir, row).and_then(|path| read_as_f64(&path).ok());
    let picture = match &input {
        Some(image) => picture::input(&image.shape, &image.values),
        None => picture::empty(),
    };
    let caption = match &input {
        Some(image) => format!("input {} uint8", shape_text(&image.shape)),
        None => "input (file not found)".to_string(),
    };
    figure(page, &picture, &caption, "input")?;
    let [a, b] = row
        .output_files()
        .map(|file| inside(dir, &file).and_then(|path| read_as_f64(&path).ok()));
    if let (Some(a), Some(b)) = (&a, &b) {
        outputs(page, row, a, b)?;
    } else {
        for (mode, output) in [(row.mode_a, &a), (row.mode_b, &b)] {
            if let Some(output) = output {
                let scale = picture::shared_scale(&output.values, &[]).unwrap_or((0.0, 1.0));
                let drawn = picture::output(&output.shape, &output.values, scale);
                let caption = format!("{mode}: {} {}", shape_text(&output.shape), output.dtype);
                figure(page, &drawn, &caption, "output")?;
            }
        }
    }
    page.push_str("</div>\n");
    Ok(())
}

/// Both outputs on one scale, and when they have one shape, the ULP heatmap.
fn outputs(page: &mut String, row: &DivergenceRow, a: &Loaded, b: &Loaded) -> Result<()> {
    let scale = picture::shared_scale(&a.values, &b.values).unwrap_or((0.0, 1.0));
    for (mode, output) in [(row.mode_a, a), (row.mode_b, b)] {
        let drawn = picture::output(&output.shape, &output.values, scale);
        let caption = format!(
            "{mode}: {} {}, scale {} … {}",
            shape_text(&output.shape),
            output.dtype,
            format_number(scale.0),
            format_number(scale.1)
        );
        figure(page, &drawn, &caption, "output")?;
    }
    if a.shape == b.shape && row.kind != Kind::Shape {
        let precision = Precision::coarser(a.dtype, b.dtype);
        let worst: Option<Vec<usize>> = parse_index(&row.worst_index);
        let heatmap =
            picture::ulp_heatmap(&a.shape, &a.values, &b.values, precision, worst.as_deref());
        let caption = match &worst {
            Some(_) => format!(
                "ULP distance per pixel; worst at {}: {} vs {}",
                row.worst_index,
                or_dash(&row.value_a),
                or_dash(&row.value_b)
            ),
            None => "ULP distance per pixel".to_string(),
        };
        figure(page, &heatmap, &caption, "heatmap")?;
    }
    Ok(())
}

fn figure(page: &mut String, picture: &picture::Picture, caption: &str, class: &str) -> Result<()> {
    writeln!(
        page,
        "<figure class=\"{class}\"><img src=\"{}\" width=\"{}\" height=\"{}\" alt=\"{}\" /><figcaption>{}</figcaption></figure>",
        picture.data_uri()?,
        picture.width,
        picture.height,
        attr(caption),
        text(caption)
    )?;
    Ok(())
}
