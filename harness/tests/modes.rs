//! The deployment modes (tflite, saved_model, tfdata) on fixture cases, and the shipped cases
//! for the APIs people call against the real Keras and TensorFlow of the project's .venv.

mod common;

use common::*;
use std::path::Path;

const DEPLOY_MODES: [&str; 3] = ["tflite", "saved_model", "tfdata"];

/// Runs `tfdiff run` with these arguments into `out`; returns the exit status.
fn run(out: &Path, args: &[&str]) -> i32 {
    let output = tfdiff()
        .arg("run")
        .args(args)
        .args([
            "--shrink-time",
            "0",
            "--no-save-regressions",
            "--no-progress",
        ])
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        output.status.code().unwrap_or(-1) < 2,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.status.code().unwrap()
}

fn kinds(summary: &[Row], case: &str, a: &str, b: &str) -> String {
    summary_row(summary, case, a, b)["kinds"].clone()
}

/// The first divergences.csv row of case and pair.
fn divergence<'a>(rows: &'a [Row], case: &str, a: &str, b: &str) -> &'a Row {
    rows.iter()
        .find(|r| r["case"] == case && r["mode_a"] == a && r["mode_b"] == b)
        .unwrap_or_else(|| panic!("no divergence of {case} {a}-{b}"))
}

/// Runs a divergence's reproduction script; its stdout, once it said the divergence is still
/// there (exit 1).
fn reproduce(run_dir: &Path, row: &Row) -> String {
    let output = venv_python()
        .arg(run_dir.join(&row["script"]))
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn deployment_modes_agree_raise_and_report_a_converter_refusal() {
    let out = tempfile::tempdir().unwrap();
    let status = run(
        out.path(),
        &[
            "-n",
            "12",
            "--modes",
            "all",
            "--cases-dir",
            fixtures("deploy").to_str().unwrap(),
            "--case",
            "doubles",
            "--case",
            "raises_in_tf",
            "--case",
            "uint8_add",
        ],
    );
    assert_eq!(status, 1, "raises_in_tf and uint8_add diverge, unknown");
    let summary = read_csv(&out.path().join("summary.csv"));
    let rows = read_csv(&out.path().join("divergences.csv"));
    assert_eq!(summary.len(), 3 * 13, "13 pairs with --modes all");
    for mode in DEPLOY_MODES {
        // Agreeing: bit for bit, in every deployment mode, against both references.
        assert_eq!(kinds(&summary, "doubles", "numpy", mode), "", "{mode}");
        assert_eq!(kinds(&summary, "doubles", "eager", mode), "", "{mode}");
        // Raising: the mode's outcome is the exception, and both TF sides raising agree.
        assert_eq!(kinds(&summary, "raises_in_tf", "numpy", mode), "error:12");
        let both = summary_row(&summary, "raises_in_tf", "eager", mode);
        assert_eq!(number(both, "both_raised"), 12, "{mode}");
        let error = &divergence(&rows, "raises_in_tf", "numpy", mode)["error"];
        assert!(
            error.contains(&format!("{mode}: ValueError: this case's TensorFlow side")),
            "{error}"
        );
    }
    // The converter's refusal is the tflite mode's outcome, with the op it lacks.
    assert_eq!(kinds(&summary, "uint8_add", "numpy", "tflite"), "error:12");
    let refusal = &divergence(&rows, "uint8_add", "numpy", "tflite")["error"];
    assert!(
        refusal
            .contains("tflite: ConverterError: 'tf.AddV2' op is neither a custom op nor a flex op")
            && refusal.contains("TF Select ops: AddV2"),
        "{refusal}"
    );
    for mode in ["saved_model", "tfdata"] {
        assert_eq!(kinds(&summary, "uint8_add", "numpy", mode), "", "{mode}");
    }
    // The reproduction script converts and runs the model as the mode does.
    let stdout = reproduce(
        out.path(),
        divergence(&rows, "uint8_add", "numpy", "tflite"),
    );
    assert!(stdout.contains("tflite raised ConverterError"), "{stdout}");
    for mode in ["saved_model", "tfdata"] {
        let stdout = reproduce(out.path(), divergence(&rows, "raises_in_tf", "numpy", mode));
        assert!(
            stdout.contains(&format!("{mode} raised ValueError")),
            "{stdout}"
        );
    }

    let run = run_json(out.path());
    for mode in DEPLOY_MODES {
        // Built once per rank (2 and 3), not once per input.
        let built = run["traces"]["doubles"][mode].as_u64().unwrap();
        assert!((1..=2).contains(&built), "{mode} built {built} times");
    }
    assert_eq!(run["traces"]["uint8_add"]["tflite"].as_u64().unwrap(), 2);
    let interpreter = run["environment"]["tflite_interpreter"].as_str().unwrap();
    assert_eq!(
        interpreter,
        format!("ai_edge_litert {}", pinned("ai-edge-litert"))
    );
    assert_eq!(
        run["tflite_xnnpack"]["doubles"], true,
        "XNNPACK takes the float multiply"
    );
}

#[test]
fn keras_uint8_preprocess_input_wraps_around_or_raises_on_the_tensor_path() {
    let out = tempfile::tempdir().unwrap();
    let status = run(
        out.path(),
        &[
            "-n",
            "8",
            "--modes",
            "numpy,eager,graph",
            "--case",
            "keras_caffe",
            "--case",
            "keras_caffe_uint8",
            "--case",
            "keras_tf_uint8",
            "--case",
            "keras_rescaling",
            "--case",
            "tf_convert_image_dtype",
        ],
    );
    assert_eq!(
        status, 0,
        "every divergence is known in cases/expected.toml"
    );
    let summary = read_csv(&out.path().join("summary.csv"));
    // As documented, on float32 input, both code paths agree to the bit.
    let caffe = summary_row(&summary, "keras_caffe", "numpy", "eager");
    assert_eq!((caffe["kinds"].as_str(), number(caffe, "max_ulp")), ("", 0));
    // On the raw uint8 image the tensor path returns uint8, wrapped around.
    let wrapped = summary_row(&summary, "keras_caffe_uint8", "numpy", "eager");
    assert!(wrapped["kinds"].starts_with("value:"), "{wrapped:?}");
    assert_eq!(
        (
            wrapped["dtype_a"].as_str(),
            wrapped["dtype_b"].as_str(),
            wrapped["status"].as_str()
        ),
        ("float32", "uint8", "known")
    );
    // mode="tf": the tensor path raises TypeError where the NumPy path computes.
    let rows = read_csv(&out.path().join("divergences.csv"));
    let raised = divergence(&rows, "keras_tf_uint8", "numpy", "eager");
    assert!(
        raised["error"].starts_with("eager: TypeError:"),
        "{raised:?}"
    );
    // The reproduction script imports the case's helper (_rgb.py) as tfdiff does.
    let wrapped_row = divergence(&rows, "keras_caffe_uint8", "numpy", "eager");
    let stdout = reproduce(out.path(), wrapped_row);
    assert!(
        stdout.contains("eager returned") && stdout.contains("uint8"),
        "{stdout}"
    );
    // Multiplying by 1/255 instead of dividing by 255: 1 ulp apart, within tolerance.
    for case in ["keras_rescaling", "tf_convert_image_dtype"] {
        let pair = summary_row(&summary, case, "numpy", "eager");
        assert_eq!(
            (pair["kinds"].as_str(), number(pair, "max_ulp")),
            ("", 1),
            "{case}"
        );
    }
}

#[test]
fn caffe_on_a_uint8_pixel_gives_float_bgr_in_numpy_and_wrapped_uint8_in_tensorflow() {
    // The pixel [10, 200, 30]: BGR minus the ImageNet mean is [-73.939, 83.221, -113.68] in
    // float32 on the NumPy path; the tensor path computes it in uint8: [183, 84, 143].
    let dir = tempfile::tempdir().unwrap();
    let pixel = ndarray::Array3::<u8>::from_shape_vec((1, 1, 3), vec![10, 200, 30]).unwrap();
    let file = dir.path().join("pixel.npy");
    ndarray_npy::write_npy(&file, &pixel).unwrap();
    let out = dir.path().join("out");
    let status = tfdiff()
        .arg("replay")
        .arg(&file)
        .args([
            "--case",
            "keras_caffe_uint8",
            "--modes",
            "numpy,eager",
            "--no-progress",
            "--shrink-time",
            "0",
            "--no-save-regressions",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap()
        .status;
    assert_eq!(status.code(), Some(0), "a known divergence");
    let rows = read_csv(&out.join("divergences.csv"));
    let row = divergence(&rows, "keras_caffe_uint8", "numpy", "eager");
    // The worst element is blue (BGR's first channel): 30 - 103.939 against (30 - 104) mod 256.
    assert_eq!(row["worst_index"], "(0, 0, 0)");
    let (a, b): (f64, f64) = (
        row["value_a"].parse().unwrap(),
        row["value_b"].parse().unwrap(),
    );
    assert!((a - -73.939).abs() < 1e-3 && b == 183.0, "{a} vs {b}");
    assert_eq!(row["mismatches"], "3", "all three channels differ");
}
