//! A pair's ULP histogram as an inline SVG bar chart: hand-written SVG, because a bar chart is
//! a few rectangles and labels, stays sharp at any zoom, weighs a few hundred bytes, and needs
//! no plotting crate (with its font handling) in the build.

use crate::histogram::{Bucket, UlpHistogram};
use html_escape::encode_text;
use std::fmt::Write;

const BAR: usize = 32;
const GAP: usize = 4;
const HEIGHT: usize = 120;
const LABEL: usize = 64;

/// The buckets from 0 up to the largest distance that holds elements (empty ones in between
/// drawn empty, so the shape reads right), then NaN/Inf when it holds any. Bar heights are
/// logarithmic in the element count: 1 element and 10^6 both show.
pub fn histogram_svg(histogram: &UlpHistogram) -> String {
    let count = |bucket: Bucket| {
        histogram
            .buckets
            .iter()
            .find(|c| c.bucket == bucket)
            .map_or((0, 0), |c| (c.elements, c.inputs))
    };
    let last = histogram
        .buckets
        .iter()
        .filter(|c| c.bucket != Bucket::NAN_INF)
        .map(|c| c.bucket.index())
        .max()
        .unwrap_or(0);
    let mut bars: Vec<Bucket> = Bucket::all().filter(|b| b.index() <= last).collect();
    if count(Bucket::NAN_INF).0 > 0 {
        bars.push(Bucket::NAN_INF);
    }
    let most = bars.iter().map(|&b| count(b).0).max().unwrap_or(0).max(1);
    let scale = (most as f64 + 1.0).log10();
    // Room on the right for the last bucket's slanted name.
    let width = bars.len() * (BAR + GAP) + GAP + 36;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="histogram" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{}" role="img" aria-label="ULP histogram">"#,
        HEIGHT + LABEL
    );
    for (i, &bucket) in bars.iter().enumerate() {
        let (elements, inputs) = count(bucket);
        let height = if elements == 0 {
            0.0
        } else {
            ((elements as f64 + 1.0).log10() / scale * (HEIGHT - 14) as f64).max(2.0)
        };
        let x = GAP + i * (BAR + GAP);
        let y = HEIGHT as f64 - height;
        let class = match bucket.index() {
            0 => "same",
            _ if bucket == Bucket::NAN_INF => "naninf",
            _ => "off",
        };
        let _ = write!(
            svg,
            r#"<rect class="{class}" x="{x}" y="{y:.1}" width="{BAR}" height="{height:.1}"><title>{} ulp: {elements} element(s) on {inputs} input(s)</title></rect>"#,
            encode_text(&bucket.to_string())
        );
        if elements > 0 {
            let _ = write!(
                svg,
                r#"<text class="count" x="{}" y="{:.1}">{}</text>"#,
                x + BAR / 2,
                (y - 3.0).max(10.0),
                short_count(elements)
            );
        }
        let _ = write!(
            svg,
            r#"<text class="bucket" transform="translate({},{}) rotate(-45)">{}</text>"#,
            x + BAR / 2 + 4,
            HEIGHT + 12,
            encode_text(&short_bucket(bucket))
        );
    }
    svg.push_str("</svg>");
    svg
}

/// 1234 → "1.2k", 5600000 → "5.6M": what fits over a bar.
fn short_count(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// Bucket names that fit under a bar: "3-4", "2^20" for (2^19, 2^20], "nan/inf".
fn short_bucket(bucket: Bucket) -> String {
    match bucket.range() {
        Some((_, high)) if high > 1024 => format!("≤2^{}", high.trailing_zeros()),
        Some(_) => bucket.to_string(),
        None => "nan/inf".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::InputCounts;

    #[test]
    fn a_bar_per_bucket_up_to_the_largest_then_nan_inf() {
        let mut histogram = UlpHistogram::default();
        let mut counts = InputCounts::default();
        counts.add(Bucket::of(0), 1_500_000);
        counts.add(Bucket::of(6), 3);
        counts.add(Bucket::NAN_INF, 1);
        histogram.add_input(&counts);
        let svg = histogram_svg(&histogram);
        // 0, 1, 2, 3-4, 5-8, then nan/inf: six bars, the empty ones of zero height.
        assert_eq!(svg.matches("<rect").count(), 6, "{svg}");
        assert_eq!(svg.matches(r#"height="0.0""#).count(), 3, "{svg}");
        assert!(svg.contains("<title>5-8 ulp: 3 element(s) on 1 input(s)</title>"));
        assert!(svg.contains(">1.5M</text>") && svg.contains(">nan/inf</text>"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(short_bucket(Bucket::of(1 << 20)), "≤2^20");
        assert_eq!(short_count(999), "999");
    }
}
