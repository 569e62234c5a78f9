//! Arrays as `.npy` files: a mode's output written in the dtype it is stored in, and any
//! numeric `.npy` read back as float64 with its dtype — what `report.html` draws.

use crate::outcome::{OutputArray, Values};
use anyhow::{anyhow, Context, Result};
use ndarray::ArrayD;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use std::path::Path;

/// Writes `output` to `path` in its stored dtype (bool as bool), with its shape.
pub fn write_output(path: &Path, output: &OutputArray) -> Result<()> {
    fn write<T: ndarray_npy::WritableElement + Clone>(
        path: &Path,
        shape: &[usize],
        values: &[T],
    ) -> Result<()> {
        let array = ArrayD::from_shape_vec(shape.to_vec(), values.to_vec())
            .map_err(|e| anyhow!("an output of shape {shape:?}: {e}"))?;
        let file = std::fs::File::create(path)?;
        array.write_npy(std::io::BufWriter::new(file))?;
        Ok(())
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let shape = &output.shape;
    let written = match &*output.values {
        Values::Bool(values) => {
            let booleans: Vec<bool> = values.iter().map(|&v| v != 0).collect();
            write(path, shape, &booleans)
        }
        Values::Float64(v) => write(path, shape, v),
        Values::Float32(v) => write(path, shape, v),
        Values::Int64(v) => write(path, shape, v),
        Values::Int32(v) => write(path, shape, v),
        Values::Int16(v) => write(path, shape, v),
        Values::Int8(v) => write(path, shape, v),
        Values::Uint64(v) => write(path, shape, v),
        Values::Uint32(v) => write(path, shape, v),
        Values::Uint16(v) => write(path, shape, v),
        Values::Uint8(v) => write(path, shape, v),
    };
    written.with_context(|| format!("writing {}", path.display()))
}

/// An array read back: its shape, its values as float64 in C order, and its dtype's name.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
    pub dtype: &'static str,
}

/// Reads a `.npy` of any dtype tfdiff writes (bool, integers, float32, float64).
pub fn read_as_f64(path: &Path) -> Result<Loaded> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse_as_f64(&bytes).ok_or_else(|| anyhow!("{}: not a .npy array tfdiff reads", path.display()))
}

/// `read_as_f64` of a file's bytes, read once (each dtype is tried on them in turn); None when
/// they are not a `.npy` array tfdiff reads.
pub fn parse_as_f64(bytes: &[u8]) -> Option<Loaded> {
    fn attempt<T: ndarray_npy::ReadableElement + Copy>(
        bytes: &[u8],
        dtype: &'static str,
        to_f64: fn(T) -> f64,
    ) -> Option<Loaded> {
        let array = ArrayD::<T>::read_npy(bytes).ok()?;
        Some(Loaded {
            shape: array.shape().to_vec(),
            values: array.iter().map(|&v| to_f64(v)).collect(),
            dtype,
        })
    }
    attempt::<f32>(bytes, "float32", f64::from)
        .or_else(|| attempt::<f64>(bytes, "float64", |v| v))
        .or_else(|| attempt::<u8>(bytes, "uint8", f64::from))
        .or_else(|| attempt::<bool>(bytes, "bool", |v| f64::from(u8::from(v))))
        .or_else(|| attempt::<i8>(bytes, "int8", f64::from))
        .or_else(|| attempt::<u16>(bytes, "uint16", f64::from))
        .or_else(|| attempt::<i16>(bytes, "int16", f64::from))
        .or_else(|| attempt::<u32>(bytes, "uint32", f64::from))
        .or_else(|| attempt::<i32>(bytes, "int32", f64::from))
        .or_else(|| attempt::<u64>(bytes, "uint64", |v| v as f64))
        .or_else(|| attempt::<i64>(bytes, "int64", |v| v as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_written_in_their_dtype_and_read_back_as_float64() {
        let dir = tempfile::tempdir().unwrap();
        let outputs = [
            (Values::Float32(vec![0.5, -1.25]), "float32"),
            (Values::Float64(vec![1e-300, 3.0]), "float64"),
            (Values::Uint8(vec![0, 255]), "uint8"),
            (Values::Int64(vec![-7, 9]), "int64"),
            (Values::Bool(vec![1, 0]), "bool"),
        ];
        for (values, dtype) in outputs {
            let output = OutputArray {
                dtype: dtype.to_string(),
                shape: vec![2, 1],
                values: std::sync::Arc::new(values.clone()),
            };
            let path = dir.path().join(format!("out/{dtype}.npy"));
            write_output(&path, &output).unwrap();
            let loaded = read_as_f64(&path).unwrap();
            assert_eq!(
                (loaded.dtype, loaded.shape.as_slice()),
                (dtype, &[2, 1][..])
            );
            let expected: Vec<f64> = crate::with_values!(&values, v => v
                .iter()
                .map(|&x| crate::outcome::Element::to_f64(x))
                .collect());
            assert_eq!(loaded.values, expected);
        }
        assert!(read_as_f64(&dir.path().join("missing.npy")).is_err());
        std::fs::write(dir.path().join("text.npy"), "not npy").unwrap();
        let error = read_as_f64(&dir.path().join("text.npy")).unwrap_err();
        assert!(error.to_string().contains("not a .npy array"), "{error}");
    }
}
