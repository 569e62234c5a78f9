//! What one mode of one case produced for one input: an array or an error.

use ndarray::ArrayD;

/// The result of running one mode. Arrays are held as float64, with the dtype the case
/// actually returned kept beside them; every dtype tfdiff accepts converts to float64 exactly,
/// except int64 beyond 2^53 and longdouble, which are rounded.
#[derive(Clone, Debug, PartialEq)]
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
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutputArray {
    pub values: ArrayD<f64>,
    pub dtype: String,
}

impl Outcome {
    pub fn array(values: ArrayD<f64>, dtype: &str) -> Outcome {
        Outcome::Array(OutputArray {
            values,
            dtype: dtype.to_string(),
        })
    }

    pub fn dtype(&self) -> &str {
        match self {
            Outcome::Array(array) => &array.dtype,
            Outcome::Error { .. } | Outcome::BadOutput { .. } => "",
        }
    }

    /// "TypeName: message" for reports; None for arrays.
    pub fn error_text(&self) -> Option<String> {
        match self {
            Outcome::Array(_) => None,
            Outcome::Error { type_name, message } => Some(format!("{type_name}: {message}")),
            Outcome::BadOutput { message } => Some(format!("bad output: {message}")),
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
