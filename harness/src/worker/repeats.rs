//! Outputs that repeat an earlier mode's. TensorFlow's modes mostly agree with one another to
//! the bit, and often with NumPy: of a default run's 12,976 outputs, 5,751 are arrays that
//! another mode of the same input already returned. The worker sends such an array
//! as `Response::ModeRepeats(mode)` instead of its bytes, which spares the pipe, the driver's
//! reading of it, and the driver's comparisons (it compares the same values once).
//!
//! An array repeats an earlier one when dtype, stored dtype, shape and the 128-bit xxh3 hash of
//! the bytes are those of what was sent for the earlier mode. The hash is taken when an array
//! is sent, so a case that writes into an array it had returned cannot make the worker claim a
//! repeat of values that were never sent. The bytes are not compared again: two different
//! arrays of one input sharing a 128-bit hash by accident is a chance of about 2^-128 per pair
//! (a default run checks under 20,000: four modes, each against the earlier ones of its
//! input), and sparing the comparison took 1.3% off a worker's main thread, the critical path,
//! besides letting each output go as soon as it is sent.

use super::embedded::{bytes_of, ModeResult};
use crate::mode::Mode;
use crate::protocol::{write_frame, Response};
use anyhow::Result;
use numpy::PyArrayMethods;
use std::io::Write;
use twox_hash::XxHash3_128;

/// What was sent so far for one input.
#[derive(Default)]
pub struct Sent {
    arrays: Vec<SentArray>,
}

/// One array as it was sent.
struct SentArray {
    mode: Mode,
    dtype: String,
    storage: String,
    shape: Vec<usize>,
    hash: u128,
}

impl Sent {
    /// Sends `mode`'s result: `ModeRepeats` when an earlier mode's array had its dtype, shape
    /// and bits, else the result itself.
    pub fn send(
        &mut self,
        mode: Mode,
        result: ModeResult<'_>,
        output: &mut impl Write,
    ) -> Result<()> {
        let ModeResult::Array {
            dtype,
            storage,
            shape,
            bytes,
        } = &result
        else {
            return result.send(output);
        };
        let hash = XxHash3_128::oneshot(bytes_of(&bytes.readonly())?);
        let repeated = self.arrays.iter().find(|earlier| {
            (
                &earlier.dtype,
                &earlier.storage,
                &earlier.shape,
                earlier.hash,
            ) == (dtype, storage, shape, hash)
        });
        if let Some(earlier) = repeated {
            return Ok(write_frame(output, &Response::ModeRepeats(earlier.mode))?);
        }
        result.send(output)?;
        self.arrays.push(SentArray {
            mode,
            dtype: dtype.clone(),
            storage: storage.clone(),
            shape: shape.clone(),
            hash,
        });
        Ok(())
    }
}
