//! The driver–worker protocol: what crosses the pipes between `tfdiff` (the driver) and each
//! `tfdiff worker` process.
//!
//! A frame is an 8-byte little-endian length followed by that many bytes of a message encoded
//! with postcard. Postcard is a maintained serde format with a frozen, documented wire format
//! (1.0); it is compact and fast, and byte buffers (`serde_bytes`) are copied as they are, so an
//! image travels as raw bytes with its shape, never as text. (Bincode, the usual choice, is
//! unmaintained since 2025.) An output array is a frame with its dtype and shape
//! (`ArrayFollows`) followed by its raw bytes outside the frame, which the driver reads from the
//! pipe straight into the buffer they stay in: one copy, not a frame's and then the array's.
//! The frames go over the worker's own
//! stdin and stdout, which the worker moves out of the way of anything a case prints: the
//! worker's fd 1 and 2 both go to its stderr pipe, the driver's log of that worker.
//!
//! A conversation: the driver sends `Init`; the worker answers `Hello` (after importing NumPy
//! and TensorFlow), one `CaseLoaded` per case, then `Ready` — or `Fatal` when the environment
//! is broken. Then for each `Evaluate` the worker sends one `ModeDone` per mode as soon as that
//! mode finishes (`ModeRepeats` for an array that is, to the bit, an earlier mode's), so when
//! the worker dies the driver knows which mode was running, and a `Finished` after the last.
//! `ProbeStage` is answered with `Stage`; `Shutdown` ends the worker. Beside the frames, the
//! worker rings a doorbell (`doorbell.rs`) when the driver is to read them.

use crate::cases::{CaseFile, CaseInfo};
use crate::generate::{Image, Layout};
use crate::mode::Mode;
use crate::outcome::{Outcome, OutputArray, Values};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// Frames larger than this are refused as corrupt (the largest generated output is far below).
const MAX_FRAME: u64 = 1 << 36;

/// A line the worker writes to its stderr when it starts an evaluation: everything after the
/// last one is what that input's modes printed, the lines a crash report keeps.
pub const EVALUATION_MARKER: &str = "\u{1e}tfdiff-worker: evaluation starts";

/// Driver to worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Init(Init),
    Evaluate(Evaluate),
    /// Run TensorFlow (eager, tf.function, XLA), then measure the probe's battery.
    ProbeStage {
        name: String,
    },
    Shutdown,
}

/// What a worker loads when it starts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Init {
    pub cases: Vec<CaseFile>,
    /// Measure the probe's stages before and after `import tensorflow`.
    pub probe: bool,
    /// Set FTZ and DAZ before importing TensorFlow (`tfdiff probe --force-ftz-daz`).
    pub force_ftz_daz: bool,
    /// Keep XLA's compiled programs under this directory (one subdirectory per TensorFlow
    /// build), shared by every worker and later runs.
    pub xla_cache: Option<PathBuf>,
    /// Trace each case's XLA function for these ranks before saying ready, so that traced
    /// functions, and with them the cache's keys, have the same names in every worker.
    pub pretrace_ranks: Vec<usize>,
    /// A mode's output larger than this is the outcome `OutputTooLarge` (`--max-output-bytes`).
    pub max_output_bytes: Option<u64>,
}

/// One input of one case, to run in `modes` in order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Evaluate {
    pub case: String,
    pub image: WireImage,
    pub layout: Layout,
    pub modes: Vec<Mode>,
}

/// A uint8 image as shape and C-order bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WireImage {
    pub shape: Vec<usize>,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

impl WireImage {
    pub fn new(image: &Image) -> WireImage {
        WireImage {
            shape: image.shape().to_vec(),
            // A generated image is in standard layout: one copy of its buffer.
            data: image
                .as_slice()
                .map_or_else(|| image.iter().copied().collect(), <[u8]>::to_vec),
        }
    }

    pub fn into_image(self) -> Result<Image, String> {
        Image::from_shape_vec(self.shape, self.data).map_err(|error| error.to_string())
    }
}

/// Worker to driver.
#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    Hello(Hello),
    /// A case file imported (its description) or not (why, naming the file).
    CaseLoaded {
        name: String,
        result: Result<CaseInfo, String>,
    },
    Ready,
    /// One mode's outcome, in the order the modes were asked for.
    ModeDone(Outcome),
    /// All modes of an `Evaluate` are done; the case's trace counts in this process so far,
    /// and what it changed of process-wide state (restored before every call).
    Finished {
        traces: BTreeMap<String, u64>,
        state_changes: Vec<String>,
        /// Whether the XNNPACK delegate ran part of the case's TFLite models (None: no
        /// TFLite model ran, or the interpreter cannot say).
        tflite_xnnpack: Option<bool>,
    },
    /// A probe stage, as JSON (`probe::Stage`).
    Stage(String),
    /// The worker cannot work (e.g. TensorFlow does not import); it exits after this.
    Fatal(String),
    /// One mode's outcome, like `ModeDone`, when it is an array with the same dtype, shape and
    /// bits as what the named mode, earlier in the same `Evaluate`, returned: the worker sends
    /// this instead of the bytes again. TensorFlow's modes mostly agree to the bit with one
    /// another and often with NumPy (5,751 of a default run's 12,976 outputs repeat one), so
    /// this spares the pipe and the driver, which also compares the same arrays only once.
    ModeRepeats(Mode),
    /// One mode's outcome, like `ModeDone`, when it is an array: its raw bytes follow this
    /// frame (`write_array`), so the driver reads them from the pipe straight into the buffer
    /// they stay in. `read_response` returns it as the `ModeDone` it stands for: nothing past
    /// the reader sees this variant.
    ArrayFollows(ArrayHeader),
}

/// An output array but for its bytes: the dtype the case returned, the dtype its bytes are
/// stored in (the returned one, or float64 for the dtypes the driver does not read directly),
/// the shape, and how many bytes follow, in the machine's byte order (the driver and its
/// workers are one binary on one machine).
#[derive(Debug, Serialize, Deserialize)]
pub struct ArrayHeader {
    pub dtype: String,
    pub storage: String,
    pub shape: Vec<usize>,
    pub bytes: u64,
}

/// What a worker says about itself once NumPy and TensorFlow are imported.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hello {
    pub pid: u32,
    pub python_version: String,
    pub site_packages: PathBuf,
    pub numpy: String,
    pub tensorflow: String,
    /// `environment_info()` as JSON.
    pub environment: String,
    /// Probe stages measured while starting (`Init::probe`), as JSON.
    pub stages: Vec<String>,
    /// This TensorFlow build's directory in the XLA cache, when one is used.
    pub xla_cache: Option<PathBuf>,
}

/// Writes one frame and flushes it. The message is encoded straight into `writer` (its size
/// measured first, for the length): an output array's bytes go from NumPy's buffer to the pipe
/// without a copy in between.
pub fn write_frame(writer: &mut impl Write, message: &impl Serialize) -> io::Result<()> {
    write_unflushed(writer, message)?;
    writer.flush()
}

/// Writes `Response::ArrayFollows(header)` and then `data`, the array's bytes, from the buffer
/// they are in (NumPy's), and flushes.
pub fn write_array(writer: &mut impl Write, header: ArrayHeader, data: &[u8]) -> io::Result<()> {
    debug_assert_eq!(header.bytes, data.len() as u64);
    write_unflushed(writer, &Response::ArrayFollows(header))?;
    writer.write_all(data)?;
    writer.flush()
}

fn write_unflushed(writer: &mut impl Write, message: &impl Serialize) -> io::Result<()> {
    let length = postcard::serialize_with_flavor(message, postcard::ser_flavors::Size::default())
        .map_err(io::Error::other)?;
    writer.write_all(&(length as u64).to_le_bytes())?;
    let mut keeping = KeepError {
        writer: &mut *writer,
        error: None,
    };
    postcard::to_io(message, &mut keeping)
        .map(drop)
        .map_err(|error| {
            // postcard reports a failed write as its own error; the pipe's is the one to tell.
            keeping.error.unwrap_or_else(|| io::Error::other(error))
        })
}

/// A writer that keeps the first I/O error it passes on.
struct KeepError<'a, W> {
    writer: &'a mut W,
    error: Option<io::Error>,
}

impl<W: Write> Write for KeepError<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.writer.write(data)
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.writer.write_all(data).inspect_err(|error| {
            self.error
                .get_or_insert_with(|| io::Error::new(error.kind(), error.to_string()));
        })
    }

    /// Nothing: postcard calls this when it finishes a message, but the callers flush when
    /// the frame is whole (an array's bytes follow its header). A flush here would cost a write
    /// per header, and its error would reach the caller as postcard's "The serialize buffer is
    /// full" instead of the pipe's own.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads one frame; `Ok(None)` when the stream ended cleanly between frames.
pub fn read_frame<T: DeserializeOwned>(reader: &mut impl Read) -> io::Result<Option<T>> {
    let mut length = [0u8; 8];
    // Only an end before the first byte is clean; inside a frame it is a broken channel.
    loop {
        match reader.read(&mut length[..1]) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    }
    reader.read_exact(&mut length[1..])?;
    let length = u64::from_le_bytes(length);
    if length > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {length} bytes: the channel is corrupt"),
        ));
    }
    // Read into spare capacity: a frame of outputs can be megabytes, not worth zeroing first.
    let mut bytes = Vec::with_capacity(length as usize);
    if (reader.take(length).read_to_end(&mut bytes)? as u64) < length {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    postcard::from_bytes(&bytes)
        .map(Some)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}

/// Reads one response from a worker; an array's bytes that follow its `ArrayFollows` are read
/// into their own buffer, and the response is the `ModeDone` it stands for. `Ok(None)` when the
/// stream ended cleanly between responses.
pub fn read_response(reader: &mut impl Read) -> io::Result<Option<Response>> {
    let Some(response) = read_frame::<Response>(reader)? else {
        return Ok(None);
    };
    let Response::ArrayFollows(header) = response else {
        return Ok(Some(response));
    };
    let corrupt = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    if header.bytes > MAX_FRAME {
        return Err(corrupt(format!(
            "array of {} bytes: the channel is corrupt",
            header.bytes
        )));
    }
    let values = Values::read_from(&header.storage, header.bytes as usize, reader)?;
    let elements = header
        .shape
        .iter()
        .try_fold(1usize, |n, &side| n.checked_mul(side));
    if elements != Some(values.len()) {
        return Err(corrupt(format!(
            "array of the wrong size for its shape: {} values for shape {:?}",
            values.len(),
            header.shape
        )));
    }
    let array = OutputArray {
        dtype: header.dtype,
        shape: header.shape,
        values: Arc::new(values),
    };
    Ok(Some(Response::ModeDone(Outcome::Array(array))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_a_clean_end_is_none() {
        let image = Image::from_shape_vec(vec![2, 2, 1], vec![0, 7, 255, 3]).unwrap();
        let request = Request::Evaluate(Evaluate {
            case: "scale01".into(),
            image: WireImage::new(&image),
            layout: Layout::Strided,
            modes: vec![Mode::Numpy, Mode::Xla],
        });
        let mut buffer = Vec::new();
        write_frame(&mut buffer, &request).unwrap();
        write_frame(&mut buffer, &Request::Shutdown).unwrap();
        let mut reader = buffer.as_slice();
        let Some(Request::Evaluate(back)) = read_frame(&mut reader).unwrap() else {
            panic!("the first frame is the evaluation");
        };
        assert_eq!(back.modes, [Mode::Numpy, Mode::Xla]);
        assert_eq!(back.layout, Layout::Strided);
        assert_eq!(back.image.into_image().unwrap(), image);
        assert!(matches!(
            read_frame(&mut reader).unwrap(),
            Some(Request::Shutdown)
        ));
        assert!(read_frame::<Request>(&mut reader).unwrap().is_none());
    }

    fn float32_header(shape: Vec<usize>, bytes: usize) -> ArrayHeader {
        ArrayHeader {
            dtype: "float32".into(),
            storage: "float32".into(),
            shape,
            bytes: bytes as u64,
        }
    }

    #[test]
    fn an_array_written_from_its_bytes_is_read_as_the_outcome_it_stands_for() {
        let values: Vec<u8> = [1.5f32, -0.0, 3.25]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let mut buffer = Vec::new();
        write_array(
            &mut buffer,
            float32_header(vec![1, 3], values.len()),
            &values,
        )
        .unwrap();
        write_frame(&mut buffer, &Response::Ready).unwrap();
        let mut reader = buffer.as_slice();
        let Some(Response::ModeDone(Outcome::Array(array))) = read_response(&mut reader).unwrap()
        else {
            panic!("a ModeDone with an array");
        };
        assert_eq!(array.dtype, "float32");
        assert_eq!(array.shape, [1, 3]);
        assert_eq!(array.values.storage(), "float32", "kept in its own dtype");
        assert_eq!(array.values.bytes(), values, "bit for bit");
        // The channel goes on after the array's bytes.
        assert!(matches!(
            read_response(&mut reader).unwrap(),
            Some(Response::Ready)
        ));
        assert!(read_response(&mut reader).unwrap().is_none());
    }

    #[test]
    fn an_array_cut_short_or_of_the_wrong_size_for_its_shape_is_an_error() {
        let values = vec![0u8; 12];
        let mut buffer = Vec::new();
        write_array(&mut buffer, float32_header(vec![3], 12), &values).unwrap();
        buffer.truncate(buffer.len() - 1);
        let error = read_response(&mut buffer.as_slice()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);

        let mut buffer = Vec::new();
        write_array(&mut buffer, float32_header(vec![2, 2], 12), &values).unwrap();
        let error = read_response(&mut buffer.as_slice()).unwrap_err();
        assert!(error.to_string().contains("wrong size"), "{error}");

        let mut buffer = Vec::new();
        write_frame(
            &mut buffer,
            &Response::ArrayFollows(float32_header(vec![1], 1 << 40)),
        )
        .unwrap();
        let error = read_response(&mut buffer.as_slice()).unwrap_err();
        assert!(error.to_string().contains("corrupt"), "{error}");
    }

    #[test]
    fn a_truncated_frame_is_an_error_not_a_clean_end() {
        let mut buffer = Vec::new();
        write_frame(&mut buffer, &Response::Ready).unwrap();
        write_frame(&mut buffer, &Response::Fatal("x".repeat(100))).unwrap();
        buffer.truncate(buffer.len() - 10);
        let mut reader = buffer.as_slice();
        assert!(matches!(
            read_frame(&mut reader).unwrap(),
            Some(Response::Ready)
        ));
        assert!(read_frame::<Response>(&mut reader).is_err());
    }

    #[test]
    fn a_failed_write_reports_the_pipes_own_error() {
        // A worker whose driver has gone must see EPIPE, not an encoder's error.
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut closed = Closed;
        let error = write_frame(&mut closed, &Response::Ready).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        // Also when the length went through and the message did not.
        let mut room = [0u8; 9];
        let mut short: &mut [u8] = &mut room;
        let error = write_frame(&mut short, &Response::Fatal("x".repeat(100))).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WriteZero);
        // And behind a buffer, as in a worker, where the write fails only when it is flushed
        // (a case that closed the worker's descriptors once read "The serialize buffer is full").
        let mut buffered = io::BufWriter::new(Closed);
        let error = write_frame(&mut buffered, &Response::Ready).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe, "{error}");
        let header = ArrayHeader {
            dtype: "float32".into(),
            storage: "float32".into(),
            shape: vec![1],
            bytes: 4,
        };
        let error = write_array(&mut buffered, header, &[0; 4]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe, "{error}");
    }

    #[test]
    fn an_absurd_length_is_refused_before_allocating() {
        let bytes = u64::MAX.to_le_bytes();
        let error = read_frame::<Response>(&mut bytes.as_slice()).unwrap_err();
        assert!(error.to_string().contains("corrupt"), "{error}");
    }
}
