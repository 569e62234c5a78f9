//! A signature's pictures in report.html — the shrunk input, both outputs on one colour scale
//! and the ULP distance per pixel — drawn once for what they show. A run rewrites report.html
//! after each case, and drawing every signature again each time (reading its .npy files,
//! encoding the PNGs) cost more with each case: 0.4 s of the driver's time in a default run,
//! most of the page's cost. `Pictures` keeps each signature's drawing, keyed by the files it
//! was drawn from (path and a hash of the bytes: reading and hashing them is a small part of
//! drawing, and a modification time can stay the same across a rewrite) and the row's fields
//! it shows, so a file written again or a row that changes is drawn afresh. Each file is read
//! once per rewrite: a new drawing is made from the bytes the key was taken from.

use super::{input_file, or_dash, parse_index, shape_text};
use crate::compare::Kind;
use crate::npy::{parse_as_f64, Loaded};
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

/// The files a drawing shows, as read now: the input, output a and output b (None: missing
/// or unreadable).
type Files = [Option<(PathBuf, Vec<u8>)>; 3];

fn read_files(dir: &Path, row: &DivergenceRow) -> Files {
    let read = |path: Option<PathBuf>| {
        let path = path?;
        let bytes = std::fs::read(&path).ok()?;
        Some((path, bytes))
    };
    let [a, b] = row.output_files().map(|file| read(inside(dir, &file)));
    [read(input_file(dir, row)), a, b]
}

impl Key {
    fn of(files: &Files, row: &DivergenceRow) -> Key {
        Key {
            files: files.each_ref().map(|file| {
                file.as_ref()
                    .map(|(path, bytes)| (path.clone(), twox_hash::XxHash3_64::oneshot(bytes)))
            }),
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
        let files = read_files(dir, row);
        let key = Key::of(&files, row);
        if let Some(drawn) = self.drawn.get(&key) {
            page.push_str(drawn);
            return Ok(());
        }
        let [input, a, b] = files.map(|file| file.and_then(|(_, bytes)| parse_as_f64(&bytes)));
        let mut drawn = String::new();
        draw(&mut drawn, row, input, [a, b])?;
        page.push_str(&drawn);
        self.drawn.insert(key, drawn);
        Ok(())
    }
}

/// The shrunk input, and when both sides gave arrays, both outputs and their difference.
fn draw(
    page: &mut String,
    row: &DivergenceRow,
    input: Option<Loaded>,
    [a, b]: [Option<Loaded>; 2],
) -> Result<()> {
    page.push_str("<div class=\"pictures\">");
    let picture = match &input {
        Some(image) => picture::input(&image.shape, &image.values),
        None => picture::empty(),
    };
    let caption = match &input {
        Some(image) => format!("input {} uint8", shape_text(&image.shape)),
        None => "input (file not found)".to_string(),
    };
    figure(page, &picture, &caption, "input")?;
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
