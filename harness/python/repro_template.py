"""Reproduces a tfdiff divergence: case @CASE@, @MODE_A@ against @MODE_B@, kind "@KIND@".

Found by tfdiff @TFDIFF@ on NumPy @NUMPY@ and TensorFlow @TENSORFLOW@ (seed @SEED@, input
@INPUT_LABEL@, shrunk from shape @ORIGINAL_SHAPE@ to @SHAPE@). Run it with the Python
environment tfdiff used, e.g. `.venv/bin/python THIS_FILE`. It imports only numpy, tensorflow
and the case file; it loads the input, runs the case's two sides in the two modes — each in a
child process of its own, so a mode that crashes (a signal, an exit) or hangs (no result within
TIMEOUT seconds) is reported as such — prints both outputs and where they differ, and exits 1
while they still diverge.
"""

import importlib.util
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

import numpy as np
import tensorflow as tf

CASE_FILE = @CASE_FILE@
INPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), @INPUT_FILE@)
LAYOUT = @LAYOUT@
MODES = (@MODE_A_STRING@, @MODE_B_STRING@)
# The rule tfdiff applied: |a - b| <= ATOL + RTOL * |a|, or at most MAX_ULP apart in COMPARE_DTYPE.
RTOL = @RTOL@
ATOL = @ATOL@
MAX_ULP = @MAX_ULP@
COMPARE_DTYPE = @COMPARE_DTYPE@
# Seconds a mode may take before it counts as hung (tfdiff's --timeout).
TIMEOUT = @TIMEOUT@


def load_case():
    # As tfdiff loads it: the case's directory is importable, for its helpers (_*.py).
    sys.path.insert(0, os.path.dirname(os.path.abspath(CASE_FILE)))
    spec = importlib.util.spec_from_file_location("case", CASE_FILE)
    case = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(case)
    return case


def with_layout(image):
    """The NumPy side's copy, laid out in memory as it was when the divergence was found."""
    if LAYOUT == "transposed":
        return image.swapaxes(0, 1).copy(order="C").swapaxes(0, 1)
    if LAYOUT == "strided":
        wide = np.zeros(image.shape[:1] + (2 * image.shape[1],) + image.shape[2:], image.dtype)
        wide[:, ::2] = image
        return wide[:, ::2]
    return image.copy()


def run(case, mode, image):
    if mode == "numpy":
        return case.numpy(with_layout(image))
    if mode == "eager":
        return case.tensorflow(tf.constant(image))
    signature = [tf.TensorSpec([None] * image.ndim, tf.uint8)]
    if mode in ("graph", "xla"):
        function = tf.function(case.tensorflow, input_signature=signature, jit_compile=mode == "xla")
        return function(tf.constant(image))
    if mode == "v1":
        graph = tf.Graph()
        with graph.as_default():
            placeholder = tf.compat.v1.placeholder(tf.uint8, shape=[None] * image.ndim)
            output = case.tensorflow(placeholder)
        with tf.compat.v1.Session(graph=graph) as session:
            return session.run(output, feed_dict={placeholder: image})
    if mode == "tflite":
        return run_tflite(tf.function(case.tensorflow, input_signature=signature), image)
    if mode == "saved_model":
        return run_saved_model(case, image)
    if mode == "tfdata":
        def pipeline(x):
            return tf.data.Dataset.from_tensors(x).map(case.tensorflow).get_single_element()

        return tf.function(pipeline, input_signature=signature, autograph=False)(tf.constant(image))
    raise ValueError("unknown mode %r" % mode)


def run_tflite(function, image):
    """Converted with the TFLite converter's defaults, run by LiteRT's interpreter when it is
    installed (else tf.lite's), the input resized to the image's shape."""
    model = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()], function
    ).convert()
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_content=model)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, image.shape, strict=False)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, image)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def run_saved_model(case, image):
    """Exported in a tf.Module with a signature for the image's rank, reloaded, called through
    the signature."""
    module = tf.Module()
    signature = [tf.TensorSpec([None] * image.ndim, tf.uint8, name="image")]
    module.function = tf.function(case.tensorflow, input_signature=signature)
    directory = tempfile.mkdtemp()
    try:
        tf.saved_model.save(
            module, directory, signatures={"serving": module.function.get_concrete_function()}
        )
        outputs = tf.saved_model.load(directory).signatures["serving"](image=tf.constant(image))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return outputs[sorted(outputs)[0]]


def child(mode, result_file):
    """In the child process: say "ready" once imports are done, run one mode, and pickle
    ("array", value) or ("error", type, text)."""
    case = load_case()
    image = np.load(INPUT)
    print("ready", flush=True)
    try:
        value = run(case, mode, image)
        if isinstance(value, tf.Tensor):
            value = value.numpy()
        result = ("array", np.asarray(value))
    except Exception as error:  # the divergence may be exactly this exception
        result = ("error", type(error).__name__, str(error))
    with open(result_file, "wb") as file:
        pickle.dump(result, file)
    return 0


def outcome(mode):
    """(array, None, None), (None, exception text, None) or (None, None, how it crashed/hung).
    The time-out counts from when the child has imported everything, as tfdiff's does."""
    with tempfile.TemporaryDirectory() as directory:
        result_file = os.path.join(directory, "result.pickle")
        command = [sys.executable, os.path.abspath(__file__), "--child", mode, result_file]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        process.stdout.readline()  # "ready", or nothing when it died while importing
        # What the mode prints passes through, so a chatty case cannot fill the pipe and stall.
        threading.Thread(target=shutil.copyfileobj, args=(process.stdout, sys.stdout), daemon=True).start()
        try:
            status = process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return None, None, "timeout: no result within %s s" % TIMEOUT
        if status < 0:
            return None, None, "crash: %s" % signal.Signals(-status).name
        if not os.path.exists(result_file):
            return None, None, "crash: exit status %d" % status
        with open(result_file, "rb") as file:
            result = pickle.load(file)
    if result[0] == "error":
        return None, "%s: %s" % (result[1], result[2]), None
    return result[1], None, None


def ulp_distance(a, b):
    dtype = np.dtype(COMPARE_DTYPE)
    if dtype.kind != "f":
        return np.abs(a - b)
    bits = {2: np.int16, 4: np.int32, 8: np.int64}[dtype.itemsize]
    ordered = []
    for values in (a, b):
        as_int = values.astype(dtype).view(bits).astype(np.int64)
        sign = np.int64(1) << (8 * dtype.itemsize - 1)
        ordered.append(np.where(as_int < 0, -(as_int & (sign - 1)), as_int))
    return np.abs(ordered[0] - ordered[1])


def main():
    image = np.load(INPUT)
    np.set_printoptions(precision=17, threshold=200)
    print("input %s %s (layout %s):\n%s\n" % (image.shape, image.dtype, LAYOUT, image))
    results = {}
    for mode in MODES:
        array, error, lost = outcome(mode)
        results[mode] = (array, error, lost)
        if lost is not None:
            print("%s: %s\n" % (mode, lost))
        elif error is not None:
            print("%s raised %s\n" % (mode, error))
        else:
            print("%s returned %s %s:\n%s\n" % (mode, array.shape, array.dtype, array))
    lost = [(mode, results[mode][2]) for mode in MODES if results[mode][2] is not None]
    if lost:
        print("DIVERGES: %s" % "; ".join("%s %s" % pair for pair in lost))
        return 1
    (a, error_a, _), (b, error_b, _) = results[MODES[0]], results[MODES[1]]
    if error_a is not None or error_b is not None:
        type_a = error_a.split(":")[0] if error_a else None
        type_b = error_b.split(":")[0] if error_b else None
        same = error_a is not None and error_b is not None and type_a == type_b
        print("both raised %s: they agree" % type_a if same else "DIVERGES: error")
        return 0 if same else 1
    if a.shape != b.shape:
        print("DIVERGES: shape %s against %s" % (a.shape, b.shape))
        return 1
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    nan = np.isnan(a64) != np.isnan(b64)
    inf = (np.isinf(a64) | np.isinf(b64)) & (a64 != b64) & ~np.isnan(a64) & ~np.isnan(b64)
    finite = np.isfinite(a64) & np.isfinite(b64)
    with np.errstate(invalid="ignore", over="ignore"):
        if MAX_ULP is not None:
            value = finite & (ulp_distance(a64, b64) > MAX_ULP)
        else:
            value = finite & (np.abs(a64 - b64) > ATOL + RTOL * np.abs(a64))
    for kind, where in (("nan", nan), ("inf", inf), ("value", value)):
        if where.any():
            print("DIVERGES: %s at %d element(s); the first ones:" % (kind, where.sum()))
            for index in list(zip(*np.nonzero(where)))[:10]:
                index = tuple(int(i) for i in index)
                print("  %s: %s = %r, %s = %r" % (index, MODES[0], float(a64[index]), MODES[1], float(b64[index])))
            return 1
    print("agree within tolerance")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2], sys.argv[3]))
    sys.exit(main())
