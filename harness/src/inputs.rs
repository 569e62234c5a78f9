//! `tfdiff inputs`: writes the generated inputs of a seed as `.npy` files with an `inputs.csv`
//! naming each one's class and layout — to look at what tfdiff tests, or to feed the same images
//! to another program (`scripts/bench.sh` gives them to a plain Python loop).

use crate::generate::ImageGenerator;
use crate::report::format_shape;
use anyhow::{Context, Result};
use std::path::Path;

pub fn export(
    out: &Path,
    seed: u64,
    inputs: u64,
    max_side: usize,
    max_side_large: usize,
) -> Result<u8> {
    std::fs::create_dir_all(out).with_context(|| {
        format!(
            "cannot create {}; choose a writable --out DIR",
            out.display()
        )
    })?;
    let generator = ImageGenerator::new(seed, max_side, max_side_large.max(max_side));
    let mut index = csv::Writer::from_path(out.join("inputs.csv"))?;
    index.write_record(["input", "file", "shape", "generator", "layout"])?;
    for number in 0..inputs {
        let input = generator.input(number);
        let file = format!("input-{number:06}.npy");
        ndarray_npy::write_npy(out.join(&file), &input.image)
            .with_context(|| format!("writing {file}"))?;
        index.write_record([
            number.to_string(),
            file,
            format_shape(input.image.shape()),
            input.class.to_string(),
            input.layout.name().to_string(),
        ])?;
    }
    index.flush()?;
    eprintln!(
        "tfdiff: {inputs} input(s) of seed {seed} in {}",
        out.display()
    );
    Ok(0)
}
