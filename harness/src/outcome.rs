//! What one mode of one case produced for one input: an array, an exception, or the worker
//! process dying (crash) or not answering in time (timeout) while it ran the mode.
//!
//! Outcomes cross the driver–worker pipe (`protocol`), so they serialize; arrays travel as raw
//! little-endian float64 bytes with their shape and dtype, never as text.

use ndarray::ArrayD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The result of running one mode. Arrays are held as float64, with the dtype the case
/// actually returned kept beside them; every dtype tfdiff accepts converts to float64 exactly,
/// except int64 beyond 2^53 and longdouble, which are rounded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Array(OutputArray),
    /// The mode raised. `type_name` is the exception's class name.
    Error {
        type_name: String,
        message: String,
    },
    /// The case returned something that is not a real-valued array (None, a string, complex
    /// numbers...): a bug in the case, so it never agrees with anything.
    BadOutput {
        message: String,
    },
    /// The worker process died while it ran this mode: a signal (a native crash, a failed
    /// CHECK, the OOM killer) or an exit (`sys.exit`, `os._exit`) in the middle of a case.
    Crash(Crash),
    /// The mode gave no result within `--timeout`; the worker was killed.
    Timeout {
        seconds: f64,
    },
}

/// How a worker died, and what it wrote to stderr while it ran the mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Crash {
    /// "SIGSEGV", "SIGABRT", ..., or "exit status 0" for a process that exited.
    pub cause: String,
    /// The last lines the worker wrote to stderr while it ran the mode (TensorFlow's `Check
    /// failed:` message, for instance), oldest first, log timestamps removed.
    pub stderr: Vec<String>,
}

/// Lines of a crash's stderr shown in the one-line `error` text; the reports keep them all.
const CRASH_LINES_IN_TEXT: usize = 3;

#[derive(Clone, Debug, PartialEq)]
pub struct OutputArray {
    pub values: ArrayD<f64>,
    pub dtype: String,
}

/// An array on the wire: the dtype the case returned, the dtype its bytes are stored in (the
/// returned one, or float64 for the dtypes the driver does not read directly), the shape and the
/// bytes in the machine's byte order (the driver and its workers are one binary on one machine).
#[derive(Serialize)]
pub struct WireArrayRef<'a> {
    pub dtype: &'a str,
    pub storage: &'a str,
    pub shape: &'a [usize],
    pub data: &'a serde_bytes::Bytes,
}

#[derive(Deserialize)]
struct WireArray<'a> {
    dtype: String,
    storage: String,
    shape: Vec<usize>,
    #[serde(borrow)]
    data: &'a serde_bytes::Bytes,
}

impl Serialize for OutputArray {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let standard = self.values.as_standard_layout();
        let values = standard.as_slice().expect("standard layout is contiguous");
        WireArrayRef {
            dtype: &self.dtype,
            storage: "float64",
            shape: self.values.shape(),
            data: serde_bytes::Bytes::new(bytemuck::cast_slice(values)),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for OutputArray {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<OutputArray, D::Error> {
        let wire = WireArray::deserialize(deserializer)?;
        let values = widen(&wire.storage, wire.data).map_err(serde::de::Error::custom)?;
        let values = ArrayD::from_shape_vec(wire.shape, values).map_err(|error| {
            serde::de::Error::custom(format!("array of the wrong size for its shape: {error}"))
        })?;
        Ok(OutputArray {
            values,
            dtype: wire.dtype,
        })
    }
}

/// The values of `data`, stored as `storage`, as float64 (exact but for int64 beyond 2^53).
fn widen(storage: &str, data: &[u8]) -> Result<Vec<f64>, String> {
    macro_rules! read {
        ($($name:literal => $type:ty),* $(,)?) => {
            match storage {
                $($name => {
                    const SIZE: usize = std::mem::size_of::<$type>();
                    if !data.len().is_multiple_of(SIZE) {
                        return Err(format!("{} bytes are not whole {}s", data.len(), $name));
                    }
                    Ok(data
                        .chunks_exact(SIZE)
                        .map(|bytes| <$type>::from_ne_bytes(bytes.try_into().expect("sized")) as f64)
                        .collect())
                })*
                "bool" => Ok(data.iter().map(|&byte| f64::from(u8::from(byte != 0))).collect()),
                other => Err(format!("values stored as {other}, which tfdiff does not read")),
            }
        };
    }
    read!(
        "float64" => f64, "float32" => f32,
        "int64" => i64, "int32" => i32, "int16" => i16, "int8" => i8,
        "uint64" => u64, "uint32" => u32, "uint16" => u16, "uint8" => u8,
    )
}

impl Outcome {
    #[cfg(test)]
    pub fn array(values: ArrayD<f64>, dtype: &str) -> Outcome {
        Outcome::Array(OutputArray {
            values,
            dtype: dtype.to_string(),
        })
    }

    pub fn dtype(&self) -> &str {
        match self {
            Outcome::Array(array) => &array.dtype,
            _ => "",
        }
    }

    /// "TypeName: message", "crash: SIGSEGV; stderr: ..." or "timeout: ..." for reports; None
    /// for arrays.
    pub fn error_text(&self) -> Option<String> {
        match self {
            Outcome::Array(_) => None,
            Outcome::Error { type_name, message } => Some(format!("{type_name}: {message}")),
            Outcome::BadOutput { message } => Some(format!("bad output: {message}")),
            Outcome::Crash(crash) => {
                let mut text = format!("crash: {}", crash.cause);
                let tail = &crash.stderr[crash.stderr.len().saturating_sub(CRASH_LINES_IN_TEXT)..];
                if !tail.is_empty() {
                    text.push_str("; stderr: ");
                    text.push_str(&tail.join(" / "));
                }
                Some(text)
            }
            Outcome::Timeout { seconds } => Some(format!(
                "timeout: no result within {seconds} s; the worker was killed"
            )),
        }
    }
}

/// How finely a dtype resolves values: integers and bools exactly, floats by mantissa width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    // Ordered coarse to fine, so `min` picks the coarser of two floats.
    BFloat16,
    Float16,
    Float32,
    Float64,
    Exact,
}

impl Precision {
    pub fn of_dtype(dtype: &str) -> Precision {
        match dtype {
            "bfloat16" => Precision::BFloat16,
            "float16" => Precision::Float16,
            "float32" => Precision::Float32,
            "float64" | "longdouble" | "float128" | "float96" => Precision::Float64,
            _ => Precision::Exact,
        }
    }

    /// The coarser of two output dtypes: the one comparisons must be made in. An integer output
    /// against a float one is compared in the float's precision.
    pub fn coarser(dtype_a: &str, dtype_b: &str) -> Precision {
        Precision::of_dtype(dtype_a).min(Precision::of_dtype(dtype_b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_cross_the_wire_bit_for_bit() {
        let values = ArrayD::from_shape_vec(
            vec![2, 1, 3],
            vec![0.1, -0.0, f64::NAN, f64::INFINITY, 5e-324, -1e300],
        )
        .unwrap();
        let outcome = Outcome::array(values.clone(), "float32");
        let bytes = postcard::to_stdvec(&outcome).unwrap();
        let Outcome::Array(back) = postcard::from_bytes::<Outcome>(&bytes).unwrap() else {
            panic!("an array comes back as an array");
        };
        assert_eq!(back.dtype, "float32");
        assert_eq!(back.values.shape(), &[2, 1, 3]);
        for (a, b) in back.values.iter().zip(values.iter()) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }

    #[test]
    fn arrays_stored_in_their_own_dtype_widen_exactly() {
        let ints: Vec<u8> = [-3i16, 0, 700]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        assert_eq!(widen("int16", &ints).unwrap(), [-3.0, 0.0, 700.0]);
        let floats: Vec<u8> = [0.1f32, -2.5]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        assert_eq!(
            widen("float32", &floats).unwrap(),
            [f64::from(0.1f32), -2.5]
        );
        assert_eq!(widen("bool", &[0, 1, 1]).unwrap(), [0.0, 1.0, 1.0]);
        assert!(widen("float32", &[0, 0, 0]).is_err());
        assert!(widen("complex64", &[]).is_err());
    }

    #[test]
    fn a_crash_names_its_cause_and_the_last_stderr_lines() {
        let crash = Outcome::Crash(Crash {
            cause: "SIGABRT".into(),
            stderr: (1..=5).map(|i| format!("line {i}")).collect(),
        });
        assert_eq!(
            crash.error_text().unwrap(),
            "crash: SIGABRT; stderr: line 3 / line 4 / line 5"
        );
    }

    #[test]
    fn coarser_picks_the_lower_precision_float() {
        assert_eq!(Precision::coarser("float64", "float32"), Precision::Float32);
        assert_eq!(
            Precision::coarser("float16", "bfloat16"),
            Precision::BFloat16
        );
        assert_eq!(Precision::coarser("uint8", "float64"), Precision::Float64);
        assert_eq!(Precision::coarser("int32", "bool"), Precision::Exact);
    }
}
