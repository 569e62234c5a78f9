//! Pictures for report.html, drawn in Rust and embedded as PNG data URIs: an input image as it
//! is (gray, RGB, RGBA over a checkerboard), two outputs on one shared colour scale, and the
//! ULP distance per pixel as a heatmap with the worst element outlined. Tiny images are
//! upscaled so that each pixel shows; huge ones are sampled down.

use crate::compare::ulp_distance;
use crate::outcome::Precision;
use base64::Engine;

/// Pictures are drawn at least this wide or high (a 1×1 input becomes 128×128 pixels, a
/// 3×5 one 125×75)...
const TARGET_SIDE: usize = 128;
/// ...and at most this (a 1024×1024 output is sampled every other pixel).
const MAX_SIDE: usize = 512;

/// An RGBA picture.
#[derive(Clone, Debug, PartialEq)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}

impl Picture {
    fn new(width: usize, height: usize) -> Picture {
        Picture {
            width,
            height,
            rgba: vec![0; width * height * 4],
        }
    }

    fn set(&mut self, x: usize, y: usize, colour: [u8; 4]) {
        let at = (y * self.width + x) * 4;
        self.rgba[at..at + 4].copy_from_slice(&colour);
    }

    /// The PNG file, as `data:image/png;base64,...` for an `<img src>`.
    pub fn data_uri(&self) -> anyhow::Result<String> {
        let mut bytes = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut bytes, self.width as u32, self.height as u32);
            encoder.set_color(png::ColorType::Rgba);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header()?;
            writer.write_image_data(&self.rgba)?;
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
        Ok(format!("data:image/png;base64,{encoded}"))
    }
}

/// An array seen as an image: height × width pixels of `channels` values each.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl Layout {
    /// (H, W) and (H, W, C) as they are; a vector as one row; a scalar as one pixel; more
    /// dimensions folded into the rows.
    pub fn of(shape: &[usize]) -> Layout {
        match shape {
            [] => Layout::new(1, 1, 1),
            [width] => Layout::new(1, *width, 1),
            [height, width] => Layout::new(*height, *width, 1),
            [height, width, channels] => Layout::new(*height, *width, *channels),
            [leading @ .., height, width] => {
                Layout::new(leading.iter().product::<usize>() * height, *width, 1)
            }
        }
    }

    fn new(height: usize, width: usize, channels: usize) -> Layout {
        Layout {
            height,
            width,
            channels,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.height * self.width * self.channels == 0
    }

    /// Picture pixels per image pixel (upscaling), and image pixels per picture pixel
    /// (sampling down).
    fn scale(&self) -> (usize, usize) {
        let side = self.height.max(self.width).max(1);
        let up = (TARGET_SIDE / side).max(1);
        let down = side.div_ceil(MAX_SIDE).max(1);
        (up, down)
    }

    /// Draws by asking `colour` for each image pixel (row, column).
    fn draw(&self, colour: impl Fn(usize, usize) -> [u8; 4]) -> Picture {
        let (up, down) = self.scale();
        let (rows, columns) = (self.height.div_ceil(down), self.width.div_ceil(down));
        let mut picture = Picture::new(columns * up, rows * up);
        for row in 0..rows {
            for column in 0..columns {
                let pixel = colour(row * down, column * down);
                for dy in 0..up {
                    for dx in 0..up {
                        picture.set(column * up + dx, row * up + dy, pixel);
                    }
                }
            }
        }
        picture
    }

    /// Outlines image pixel (row, column) in `picture` (made by `draw`), in `colour`.
    fn outline(&self, picture: &mut Picture, row: usize, column: usize, colour: [u8; 4]) {
        let (up, down) = self.scale();
        let (x0, y0) = ((column / down) * up, (row / down) * up);
        // At least 5 picture pixels wide, so a one-pixel mark is still seen.
        let side = up.max(5);
        let (x0, y0) = (
            x0.saturating_sub((side - up) / 2),
            y0.saturating_sub((side - up) / 2),
        );
        let (x1, y1) = (
            (x0 + side - 1).min(picture.width - 1),
            (y0 + side - 1).min(picture.height - 1),
        );
        for x in x0..=x1 {
            picture.set(x, y0, colour);
            picture.set(x, y1, colour);
        }
        for y in y0..=y1 {
            picture.set(x0, y, colour);
            picture.set(x1, y, colour);
        }
    }
}

/// A placeholder for an image with no pixels: a hatched square.
pub fn empty() -> Picture {
    let side = 32;
    let mut picture = Picture::new(side, side);
    for y in 0..side {
        for x in 0..side {
            let stripe = (x + y) % 8 < 2;
            picture.set(
                x,
                y,
                if stripe {
                    [150, 150, 150, 255]
                } else {
                    [235, 235, 235, 255]
                },
            );
        }
    }
    picture
}

/// A uint8 input as it is: gray, RGB, or RGBA over a checkerboard (other channel counts:
/// the first channel, gray).
pub fn input(shape: &[usize], values: &[f64]) -> Picture {
    let layout = Layout::of(shape);
    if layout.is_empty() {
        return empty();
    }
    layout.draw(|row, column| {
        let at = (row * layout.width + column) * layout.channels;
        let value = |channel: usize| values[at + channel].clamp(0.0, 255.0) as u8;
        match layout.channels {
            3 => [value(0), value(1), value(2), 255],
            4 => {
                let checker = if (row + column) % 2 == 0 {
                    200.0
                } else {
                    255.0
                };
                let alpha = f64::from(value(3)) / 255.0;
                let over = |channel: usize| {
                    (f64::from(value(channel)) * alpha + checker * (1.0 - alpha)).round() as u8
                };
                [over(0), over(1), over(2), 255]
            }
            _ => [value(0), value(0), value(0), 255],
        }
    })
}

/// The range of the finite values of both outputs: their one colour scale.
pub fn shared_scale(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    let finite = a.iter().chain(b).copied().filter(|v| v.is_finite());
    finite.fold(None, |range, v| match range {
        None => Some((v, v)),
        Some((low, high)) => Some((f64::min(low, v), f64::max(high, v))),
    })
}

/// An output on the shared scale: 3 or 4 channels as RGB (each channel on the scale), anything
/// else as its first channel on a viridis ramp; NaN magenta, ±Inf white or black.
pub fn output(shape: &[usize], values: &[f64], scale: (f64, f64)) -> Picture {
    let layout = Layout::of(shape);
    if layout.is_empty() {
        return empty();
    }
    let (low, high) = scale;
    let level = |v: f64| {
        if high > low {
            ((v - low) / (high - low)).clamp(0.0, 1.0)
        } else {
            0.5
        }
    };
    layout.draw(|row, column| {
        let at = (row * layout.width + column) * layout.channels;
        let special = |v: f64| match v {
            v if v.is_nan() => Some([255, 0, 255, 255]),
            v if v == f64::INFINITY => Some([255, 255, 255, 255]),
            v if v == f64::NEG_INFINITY => Some([0, 0, 0, 255]),
            _ => None,
        };
        if matches!(layout.channels, 3 | 4) {
            let channel = |c: usize| values[at + c];
            if let Some(colour) = (0..3).find_map(|c| special(channel(c))) {
                return colour;
            }
            let byte = |c: usize| (level(channel(c)) * 255.0).round() as u8;
            [byte(0), byte(1), byte(2), 255]
        } else {
            special(values[at]).unwrap_or_else(|| viridis(level(values[at])))
        }
    })
}

/// The ULP distance per pixel (the largest over its channels) on a logarithmic ramp from dark
/// (0) to yellow (the pair's largest), NaN/Inf status differences red; the worst element
/// outlined in cyan. The outputs have one shape.
pub fn ulp_heatmap(
    shape: &[usize],
    a: &[f64],
    b: &[f64],
    precision: Precision,
    worst: Option<&[usize]>,
) -> Picture {
    let layout = Layout::of(shape);
    if layout.is_empty() {
        return empty();
    }
    let distance = |at: usize| -> Option<u64> {
        let (x, y) = (a[at], b[at]);
        if x.is_nan() || y.is_nan() || x.is_infinite() || y.is_infinite() {
            let same = (x.is_nan() && y.is_nan()) || x == y;
            return if same { Some(0) } else { None };
        }
        Some(ulp_distance(x, y, precision))
    };
    let pixel = |row: usize, column: usize| -> Option<u64> {
        let at = (row * layout.width + column) * layout.channels;
        (at..at + layout.channels).try_fold(0, |worst, at| Some(worst.max(distance(at)?)))
    };
    let largest = (0..layout.height)
        .flat_map(|row| (0..layout.width).map(move |column| (row, column)))
        .filter_map(|(row, column)| pixel(row, column))
        .max()
        .unwrap_or(0);
    let top = ((largest as f64) + 1.0).log2().max(1.0);
    let mut picture = layout.draw(|row, column| match pixel(row, column) {
        None => [220, 0, 0, 255],
        Some(0) => [30, 30, 30, 255],
        Some(ulp) => inferno(0.15 + 0.85 * ((ulp as f64) + 1.0).log2() / top),
    });
    if let Some(index) = worst {
        let (row, column) = match index {
            [] => (0, 0),
            [column] => (0, *column),
            [row, column, ..] => (*row, *column),
        };
        if row < layout.height && column < layout.width {
            layout.outline(&mut picture, row, column, [0, 230, 255, 255]);
        }
    }
    picture
}

/// A colour ramp through `stops`, at `t` in 0..=1.
fn ramp(stops: &[[u8; 3]], t: f64) -> [u8; 4] {
    let t = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let i = (t.floor() as usize).min(stops.len() - 2);
    let f = t - i as f64;
    let mix = |c: usize| {
        (f64::from(stops[i][c]) * (1.0 - f) + f64::from(stops[i + 1][c]) * f).round() as u8
    };
    [mix(0), mix(1), mix(2), 255]
}

/// Matplotlib's viridis, in five stops: perceptually even, readable in gray.
fn viridis(t: f64) -> [u8; 4] {
    ramp(
        &[
            [68, 1, 84],
            [59, 82, 139],
            [33, 145, 140],
            [94, 201, 98],
            [253, 231, 37],
        ],
        t,
    )
}

/// Matplotlib's inferno, in five stops.
fn inferno(t: f64) -> [u8; 4] {
    ramp(
        &[
            [0, 0, 4],
            [87, 16, 110],
            [188, 55, 84],
            [249, 142, 9],
            [252, 255, 164],
        ],
        t,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colour(picture: &Picture, x: usize, y: usize) -> [u8; 4] {
        let at = (y * picture.width + x) * 4;
        picture.rgba[at..at + 4].try_into().unwrap()
    }

    #[test]
    fn tiny_images_are_upscaled_and_huge_ones_sampled_down() {
        let one = input(&[1, 1], &[7.0]);
        assert_eq!((one.width, one.height), (128, 128));
        let small = input(&[3, 5], &[0.0; 15]);
        assert_eq!((small.width, small.height), (125, 75));
        let middling = input(&[100, 200], &vec![0.0; 20_000]);
        assert_eq!((middling.width, middling.height), (200, 100), "as it is");
        let wide = input(&[1, 1000], &vec![0.0; 1000]);
        assert_eq!((wide.width, wide.height), (500, 1));
        assert_eq!(Layout::of(&[2, 3, 4, 5]), Layout::new(24, 5, 1));
        assert_eq!(Layout::of(&[]), Layout::new(1, 1, 1));
        assert_eq!(input(&[0, 3], &[]), empty());
    }

    #[test]
    fn inputs_are_drawn_gray_rgb_or_rgba_over_a_checkerboard() {
        assert_eq!(colour(&input(&[1, 1], &[90.0]), 0, 0), [90, 90, 90, 255]);
        assert_eq!(
            colour(&input(&[1, 1, 3], &[10.0, 200.0, 30.0]), 5, 5),
            [10, 200, 30, 255]
        );
        // Fully transparent: the checkerboard shows through.
        assert_eq!(
            colour(&input(&[1, 1, 4], &[10.0, 200.0, 30.0, 0.0]), 0, 0),
            [200, 200, 200, 255]
        );
        assert_eq!(
            colour(&input(&[1, 1, 2], &[77.0, 1.0]), 0, 0),
            [77, 77, 77, 255]
        );
    }

    #[test]
    fn both_outputs_share_one_scale_and_non_finite_values_stand_out() {
        let scale = shared_scale(&[0.0, 1.0, f64::NAN], &[3.0, f64::INFINITY]).unwrap();
        assert_eq!(scale, (0.0, 3.0));
        let a = output(&[1, 3], &[0.0, 3.0, f64::NAN], scale);
        let (up, _) = Layout::of(&[1, 3]).scale();
        assert_eq!(colour(&a, 0, 0), viridis(0.0));
        assert_eq!(colour(&a, up, 0), viridis(1.0));
        assert_eq!(colour(&a, 2 * up, 0), [255, 0, 255, 255]);
        let rgb = output(&[1, 1, 3], &[0.0, 1.5, 3.0], scale);
        assert_eq!(colour(&rgb, 0, 0), [0, 128, 255, 255]);
        assert_eq!(shared_scale(&[f64::NAN], &[]), None);
    }

    #[test]
    fn the_heatmap_colours_distance_per_pixel_and_outlines_the_worst() {
        let a = [1.0f32, 1.0, 1.0, 1.0].map(f64::from);
        let mut b = a;
        b[1] = f64::from(f32::from_bits(1.0f32.to_bits() + 8));
        b[3] = f64::NAN;
        let picture = ulp_heatmap(&[2, 2], &a, &b, Precision::Float32, Some(&[0, 1]));
        let up = Layout::of(&[2, 2]).scale().0;
        let centre =
            |row: usize, column: usize| colour(&picture, column * up + up / 2, row * up + up / 2);
        assert_eq!(centre(0, 0), [30, 30, 30, 255], "0 ulp");
        assert_eq!(
            centre(0, 1),
            inferno(1.0),
            "the largest distance is the top of the ramp"
        );
        assert_eq!(centre(1, 1), [220, 0, 0, 255], "NaN on one side");
        // The outline runs along the worst pixel's edge.
        assert_eq!(colour(&picture, up, 0), [0, 230, 255, 255]);
        assert!(picture
            .data_uri()
            .unwrap()
            .starts_with("data:image/png;base64,iVBOR"));
    }
}
