//! Regression inputs: shrunk divergent inputs kept as `.npy` files under `regressions/<case>/`
//! next to the case's file, each with a JSON of what it showed. Every run replays them before
//! generating new inputs. Inputs are saved, not seeds, so they outlive generator changes.

use crate::compare::Kind;
use crate::generate::{Image, Layout};
use crate::mode::Mode;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a saved regression showed when it was saved; stored beside the `.npy` as `.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RegressionRecord {
    pub case: String,
    pub mode_a: Mode,
    pub mode_b: Mode,
    pub kind: Kind,
    pub layout: Layout,
    /// The generator class of the input it was shrunk from.
    pub generator: String,
    pub seed: u64,
    /// The input it was shrunk from, as the `input` column named it.
    pub input: String,
    pub original_shape: Vec<usize>,
    pub shape: Vec<usize>,
    pub shrink_steps: u64,
    pub max_abs: Option<f64>,
    pub max_rel: Option<f64>,
    pub max_ulp: Option<u64>,
    pub mismatches: Option<u64>,
    pub error: String,
    pub numpy: String,
    pub tensorflow: String,
    pub python: String,
    pub tfdiff: String,
    /// RFC 3339, UTC.
    pub date: String,
}

/// `regressions/<case>/` next to the case's file.
pub fn directory(case_path: &Path, case: &str) -> PathBuf {
    case_path
        .parent()
        .unwrap_or(Path::new("."))
        .join("regressions")
        .join(case)
}

/// The saved regressions of a case, sorted by file name.
pub fn list(case_path: &Path, case: &str) -> Result<Vec<PathBuf>> {
    let dir = directory(case_path, case);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "npy"))
        .collect();
    files.sort();
    Ok(files)
}

/// Reads a regression (or any uint8 `.npy` image) and the record beside it, if there is one.
pub fn load(path: &Path) -> Result<(Image, Option<RegressionRecord>)> {
    let image: Image = ndarray_npy::read_npy(path).map_err(|error| {
        anyhow!(
            "{}: not a uint8 image saved with numpy.save ({error}); an input must be a uint8 \
             array of shape (H, W) or (H, W, C)",
            path.display()
        )
    })?;
    if !(2..=3).contains(&image.ndim()) {
        bail!(
            "{}: shape {:?} is not an image; an input must have shape (H, W) or (H, W, C)",
            path.display(),
            image.shape()
        );
    }
    let json = path.with_extension("json");
    let record = if json.is_file() {
        let text = std::fs::read_to_string(&json)?;
        Some(
            serde_json::from_str(&text)
                .with_context(|| format!("{}: not a tfdiff regression record", json.display()))?,
        )
    } else {
        None
    };
    Ok((image, record))
}

/// Saves `image` with its record as `<mode_a>-<mode_b>-<kind>-<hash>.npy` (+ `.json`), the hash
/// being the image's, so the same input is never saved twice. Returns the `.npy` path.
pub fn save(case_path: &Path, image: &Image, record: &RegressionRecord) -> Result<PathBuf> {
    let dir = directory(case_path, &record.case);
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create {} to keep a regression input; make it writable or pass \
             --no-save-regressions",
            dir.display()
        )
    })?;
    let stem = format!(
        "{}-{}-{}-{:08x}",
        record.mode_a,
        record.mode_b,
        record.kind,
        fingerprint(image, record.layout) as u32
    );
    let npy = dir.join(format!("{stem}.npy"));
    ndarray_npy::write_npy(&npy, image).with_context(|| format!("writing {}", npy.display()))?;
    let mut json = serde_json::to_vec_pretty(record)?;
    json.push(b'\n');
    std::fs::write(npy.with_extension("json"), json)?;
    Ok(npy)
}

/// FNV-1a over shape, pixels and layout: stable across builds, unlike std's hasher, so a file
/// name found today is the file name found next year.
fn fingerprint(image: &Image, layout: Layout) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |byte: u8| {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    };
    for side in image.shape() {
        (*side as u64).to_le_bytes().into_iter().for_each(&mut eat);
    }
    image.iter().copied().for_each(&mut eat);
    layout.name().bytes().for_each(&mut eat);
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ArrayD;

    #[test]
    fn saved_regressions_load_back_with_their_record() {
        let dir = tempfile::tempdir().unwrap();
        let case_path = dir.path().join("demo.py");
        let image = ArrayD::from_shape_vec(vec![1, 2, 4], (0..8).collect()).unwrap();
        let record = RegressionRecord {
            case: "demo".into(),
            mode_a: Mode::Numpy,
            mode_b: Mode::Xla,
            kind: Kind::Value,
            layout: Layout::Strided,
            generator: "ramp".into(),
            seed: 7,
            input: "3".into(),
            original_shape: vec![4, 4, 4],
            shape: vec![1, 2, 4],
            shrink_steps: 2,
            max_abs: Some(1e-7),
            max_rel: Some(2e-7),
            max_ulp: Some(1),
            mismatches: Some(1),
            error: String::new(),
            numpy: "2.4.6".into(),
            tensorflow: "2.21.0".into(),
            python: "3.11.7".into(),
            tfdiff: "0.1.0".into(),
            date: "2026-11-29T00:00:00+00:00".into(),
        };
        let path = save(&case_path, &image, &record).unwrap();
        assert!(path.starts_with(dir.path().join("regressions/demo")));
        assert_eq!(list(&case_path, "demo").unwrap(), vec![path.clone()]);
        let (loaded, loaded_record) = load(&path).unwrap();
        assert_eq!(loaded, image);
        assert_eq!(loaded_record.unwrap(), record);
        // The same input is the same file.
        assert_eq!(save(&case_path, &image, &record).unwrap(), path);
        assert_eq!(list(&case_path, "demo").unwrap().len(), 1);
    }

    #[test]
    fn a_file_that_is_not_an_image_says_what_an_input_must_be() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("floats.npy");
        ndarray_npy::write_npy(&path, &ndarray::arr1(&[1.0f64, 2.0])).unwrap();
        let message = load(&path).unwrap_err().to_string();
        assert!(message.contains("uint8"), "{message}");
    }
}
