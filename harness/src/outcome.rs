//! What one mode of one case produced for one input: an array, an exception, or the worker
//! process dying (crash) or not answering in time (timeout) while it ran the mode.
//!
//! Outcomes cross the driver–worker pipe (`protocol`), so they serialize; arrays travel as raw
//! bytes in the dtype they are stored in, with their shape and dtype, never as text, and stay
//! in that dtype in the driver: a comparison reads them element by element (`compare`), so an
//! output costs its own size once, not eight bytes per element twice.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::io::{self, Read};
use std::sync::Arc;

/// The result of running one mode. Arrays keep the dtype their values are stored in (the one
/// the case returned, or float64 for float16, bfloat16 and longdouble, which the worker widens)
/// and the dtype the case returned.
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

/// How much of an array `Values::read_from` zeroes and reads at a time (a fraction of a CPU's
/// cache).
const READ_PIECE_BYTES: usize = 256 << 10;

/// Lines of a crash's stderr shown in the one-line `error` text; the reports keep them all.
const CRASH_LINES_IN_TEXT: usize = 3;

#[derive(Clone, Debug, PartialEq)]
pub struct OutputArray {
    /// The dtype the case returned.
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Shared: a mode whose output is, to the bit, an earlier mode's (the worker says so
    /// instead of sending it again, see `protocol::Response::ModeRepeats`) holds the same values.
    pub values: Arc<Values>,
}

impl OutputArray {
    /// Whether `other` holds these very values (not only equal ones) with the same dtype and
    /// shape: comparing either against a third array gives one result.
    pub fn is_same(&self, other: &OutputArray) -> bool {
        Arc::ptr_eq(&self.values, &other.values)
            && self.dtype == other.dtype
            && self.shape == other.shape
    }
}

/// An output's values in the type they are stored in, in C order.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    Float64(Vec<f64>),
    Float32(Vec<f32>),
    Int64(Vec<i64>),
    Int32(Vec<i32>),
    Int16(Vec<i16>),
    Int8(Vec<i8>),
    Uint64(Vec<u64>),
    Uint32(Vec<u32>),
    Uint16(Vec<u16>),
    Uint8(Vec<u8>),
    /// 0 or 1.
    Bool(Vec<u8>),
}

/// Runs `$body` with `$slice` bound to the values' slice, whatever their type.
#[macro_export]
macro_rules! with_values {
    ($values:expr, $slice:ident => $body:expr) => {
        match $values {
            $crate::outcome::Values::Float64($slice) => $body,
            $crate::outcome::Values::Float32($slice) => $body,
            $crate::outcome::Values::Int64($slice) => $body,
            $crate::outcome::Values::Int32($slice) => $body,
            $crate::outcome::Values::Int16($slice) => $body,
            $crate::outcome::Values::Int8($slice) => $body,
            $crate::outcome::Values::Uint64($slice) => $body,
            $crate::outcome::Values::Uint32($slice) => $body,
            $crate::outcome::Values::Uint16($slice) => $body,
            $crate::outcome::Values::Uint8($slice) => $body,
            $crate::outcome::Values::Bool($slice) => $body,
        }
    };
}

/// A stored element as float64: exact for every type but int64/uint64 beyond 2^53.
pub trait Element: bytemuck::Pod {
    fn to_f64(self) -> f64;
}

macro_rules! element {
    ($($type:ty),*) => {
        $(impl Element for $type {
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
        })*
    };
}
element!(f64, f32, i64, i32, i16, i8, u64, u32, u16, u8);

impl Values {
    /// Reads `data`, stored as `storage`, in the machine's byte order.
    pub fn from_bytes(storage: &str, data: &[u8]) -> Result<Values, String> {
        Values::read_from(storage, data.len(), &mut { data }).map_err(|error| error.to_string())
    }

    /// Reads `bytes` bytes of values stored as `storage`, in the machine's byte order, from
    /// `reader` straight into a vector of their own type: an output read from a worker's pipe
    /// is copied once, from the pipe to where it stays (outputs are most of what the driver
    /// copies).
    pub fn read_from(storage: &str, bytes: usize, reader: &mut impl Read) -> io::Result<Values> {
        fn read<T: bytemuck::Pod>(
            name: &str,
            bytes: usize,
            reader: &mut impl Read,
        ) -> io::Result<Vec<T>> {
            if !bytes.is_multiple_of(std::mem::size_of::<T>()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{bytes} bytes are not whole {name}s"),
                ));
            }
            // Zeroed (to stay safe) and read a piece at a time: the piece is still in the cache
            // when the pipe's bytes are copied over it, and the worker, which blocks while its
            // pipe is full, does not wait for a whole large output to be zeroed first.
            let count = bytes / std::mem::size_of::<T>();
            let piece = (READ_PIECE_BYTES / std::mem::size_of::<T>()).max(1);
            let mut values = Vec::<T>::with_capacity(count);
            while values.len() < count {
                let start = values.len();
                values.resize((start + piece).min(count), T::zeroed());
                reader.read_exact(bytemuck::cast_slice_mut(&mut values[start..]))?;
            }
            Ok(values)
        }
        Ok(match storage {
            "float64" => Values::Float64(read(storage, bytes, reader)?),
            "float32" => Values::Float32(read(storage, bytes, reader)?),
            "int64" => Values::Int64(read(storage, bytes, reader)?),
            "int32" => Values::Int32(read(storage, bytes, reader)?),
            "int16" => Values::Int16(read(storage, bytes, reader)?),
            "int8" => Values::Int8(read(storage, bytes, reader)?),
            "uint64" => Values::Uint64(read(storage, bytes, reader)?),
            "uint32" => Values::Uint32(read(storage, bytes, reader)?),
            "uint16" => Values::Uint16(read(storage, bytes, reader)?),
            "uint8" => Values::Uint8(read(storage, bytes, reader)?),
            "bool" => {
                let mut values = read::<u8>(storage, bytes, reader)?;
                values
                    .iter_mut()
                    .for_each(|value| *value = u8::from(*value != 0));
                Values::Bool(values)
            }
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("values stored as {other}, which tfdiff does not read"),
                ))
            }
        })
    }

    pub fn storage(&self) -> &'static str {
        match self {
            Values::Float64(_) => "float64",
            Values::Float32(_) => "float32",
            Values::Int64(_) => "int64",
            Values::Int32(_) => "int32",
            Values::Int16(_) => "int16",
            Values::Int8(_) => "int8",
            Values::Uint64(_) => "uint64",
            Values::Uint32(_) => "uint32",
            Values::Uint16(_) => "uint16",
            Values::Uint8(_) => "uint8",
            Values::Bool(_) => "bool",
        }
    }

    pub fn bytes(&self) -> &[u8] {
        with_values!(self, values => bytemuck::cast_slice(values))
    }

    pub fn len(&self) -> usize {
        with_values!(self, values => values.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `position` as float64.
    pub fn get(&self, position: usize) -> f64 {
        with_values!(self, values => values[position].to_f64())
    }
}

/// An array on the wire: the dtype the case returned, the dtype its bytes are stored in (the
/// returned one, or float64 for the dtypes the driver does not read directly), the shape and the
/// bytes in the machine's byte order (the driver and its workers are one binary on one machine).
#[derive(Serialize)]
struct WireArrayRef<'a> {
    dtype: &'a str,
    storage: &'a str,
    shape: &'a [usize],
    data: &'a serde_bytes::Bytes,
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
        WireArrayRef {
            dtype: &self.dtype,
            storage: self.values.storage(),
            shape: &self.shape,
            data: serde_bytes::Bytes::new(self.values.bytes()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for OutputArray {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<OutputArray, D::Error> {
        let wire = WireArray::deserialize(deserializer)?;
        let values =
            Values::from_bytes(&wire.storage, wire.data).map_err(serde::de::Error::custom)?;
        let elements: usize = wire.shape.iter().product();
        if elements != values.len() {
            return Err(serde::de::Error::custom(format!(
                "array of the wrong size for its shape: {} values for shape {:?}",
                values.len(),
                wire.shape
            )));
        }
        Ok(OutputArray {
            dtype: wire.dtype,
            shape: wire.shape,
            values: Arc::new(values),
        })
    }
}

impl Outcome {
    #[cfg(test)]
    pub fn array(values: ndarray::ArrayD<f64>, dtype: &str) -> Outcome {
        Outcome::Array(OutputArray {
            shape: values.shape().to_vec(),
            values: Arc::new(Values::Float64(values.iter().copied().collect())),
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
    fn an_array_is_the_same_only_as_its_clones_of_one_dtype_and_shape() {
        let Outcome::Array(array) =
            Outcome::array(ndarray::arr1(&[1.0, 2.0]).into_dyn(), "float32")
        else {
            unreachable!()
        };
        assert!(array.is_same(&array.clone()));
        let equal = OutputArray {
            values: Arc::new((*array.values).clone()),
            ..array.clone()
        };
        assert!(!array.is_same(&equal), "equal values of its own");
        let retyped = OutputArray {
            dtype: "float64".into(),
            ..array.clone()
        };
        assert!(!array.is_same(&retyped));
        let reshaped = OutputArray {
            shape: vec![2, 1],
            ..array.clone()
        };
        assert!(!array.is_same(&reshaped));
    }

    #[test]
    fn an_array_of_several_pieces_is_read_whole_and_in_order() {
        // Three and a half pieces of float32, each element its own index.
        let count = READ_PIECE_BYTES * 7 / 2 / 4;
        let data: Vec<u8> = (0..count as u32)
            .flat_map(|i| (i as f32).to_ne_bytes())
            .collect();
        let mut reader = data.as_slice();
        let values = Values::read_from("float32", data.len(), &mut reader).unwrap();
        assert!(reader.is_empty(), "read exactly its bytes");
        assert_eq!(values.len(), count);
        assert_eq!(values.bytes(), data);
        assert_eq!(values.get(count - 1), (count - 1) as f64);
        // Cut short, it is an error, not zeros.
        let error = Values::read_from("float32", data.len(), &mut &data[..data.len() - 4]);
        assert_eq!(error.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn arrays_cross_the_wire_bit_for_bit() {
        let values = ndarray::ArrayD::from_shape_vec(
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
        assert_eq!(back.shape, [2, 1, 3]);
        for (position, b) in values.iter().enumerate() {
            assert_eq!(back.values.get(position).to_bits(), b.to_bits());
        }
    }

    #[test]
    fn arrays_stored_in_their_own_dtype_widen_exactly() {
        let ints: Vec<u8> = [-3i16, 0, 700]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let widen = |storage: &str, data: &[u8]| {
            Values::from_bytes(storage, data).map(|values| {
                (0..values.len())
                    .map(|position| values.get(position))
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(widen("int16", &ints).unwrap(), [-3.0, 0.0, 700.0]);
        let floats: Vec<u8> = [0.1f32, -2.5]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        assert_eq!(
            widen("float32", &floats).unwrap(),
            [f64::from(0.1f32), -2.5]
        );
        assert_eq!(widen("bool", &[0, 1, 7]).unwrap(), [0.0, 1.0, 1.0]);
        assert_eq!(
            Values::from_bytes("float32", &floats).unwrap().storage(),
            "float32",
            "kept in its own dtype"
        );
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
