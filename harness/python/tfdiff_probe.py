"""tfdiff's contamination probe: NumPy computations whose results depend on process-global state.

Each check returns its value and the exact bits of its result, so two stages of a process (before
and after `import tensorflow`, after running TensorFlow) and a clean process that never imports
TensorFlow can be compared bit for bit. The Rust side reads the CPU's FTZ/DAZ bits itself.
"""

import os

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "TF_ENABLE_ONEDNN_OPTS",
)


def _checks(np):
    """(name, thunk) pairs; each thunk returns a NumPy value. Fixed inputs, so results only
    change when the arithmetic does."""
    f32, f64 = np.float32, np.float64
    rng = np.random.default_rng(20261127)
    big32 = rng.standard_normal(1_000_000).astype(f32)
    other32 = rng.standard_normal(1_000_000).astype(f32)
    big64 = rng.standard_normal(1_000_000)
    matrix = rng.standard_normal((256, 256)).astype(f32)
    tiny32 = np.full(1000, f32(1e-39), dtype=f32)  # subnormal float32 values
    return [
        # Producing subnormals: flush-to-zero turns these into 0.
        ("f32 1e-38 * 1e-3 (makes a subnormal)", lambda: f32(1e-38) * f32(1e-3)),
        ("f32 tiny / 2 (makes a subnormal)", lambda: np.finfo(f32).tiny / f32(2)),
        ("f32 exp(-100) (subnormal result)", lambda: np.exp(f32(-100))),
        ("f64 1e-308 * 1e-10 (makes a subnormal)", lambda: f64(1e-308) * f64(1e-10)),
        # Consuming subnormals: denormals-are-zero reads these inputs as 0.
        ("f32 1e-40 * 1e3 (reads a subnormal)", lambda: f32(1e-40) * f32(1e3)),
        ("f64 5e-324 * 2**60 (reads a subnormal)", lambda: f64(5e-324) * f64(2.0**60)),
        ("f32 sum of 1000 x 1e-39", lambda: tiny32.sum()),
        ("f32 array 1e-39 * 1e10", lambda: (tiny32 * f32(1e10))[:4]),
        # Reductions whose order may depend on threading or SIMD paths.
        ("f32 sum of 1e6", lambda: big32.sum()),
        ("f32 mean of 1e6", lambda: big32.mean()),
        ("f64 sum of 1e6", lambda: big64.sum()),
        ("f32 dot of 1e6", lambda: np.dot(big32, other32)),
        ("f32 256x256 matmul checksum", lambda: (matrix @ matrix)[::37, ::41]),
        # Constants and settings.
        ("finfo f32 smallest_subnormal", lambda: np.finfo(f32).smallest_subnormal),
        ("finfo f64 smallest_subnormal", lambda: np.finfo(f64).smallest_subnormal),
        ("np.geterr()", lambda: sorted(np.geterr().items())),
        ("print options", lambda: sorted(np.get_printoptions().items())),
    ]


def battery():
    """{check: {"value": text, "bits": hex of the result's bytes}}."""
    import numpy as np

    results = {}
    for name, thunk in _checks(np):
        try:
            value = thunk()
            if isinstance(value, list):
                text, bits = repr(value), repr(value).encode().hex()
            else:
                array = np.asarray(value)
                text = np.array2string(array, precision=17, separator=", ") if array.ndim else repr(array.item())
                bits = array.tobytes().hex()
        except Exception as error:  # a check that raises is a result too
            text, bits = "raised %s: %s" % (type(error).__name__, error), ""
        results[name] = {"value": text, "bits": bits}
    return results


def threading():
    """The thread settings that can change NumPy's and TensorFlow's arithmetic order."""
    settings = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    try:
        import sys

        if "tensorflow" in sys.modules:
            tf = sys.modules["tensorflow"]
            settings["tf intra_op threads"] = tf.config.threading.get_intra_op_parallelism_threads()
            settings["tf inter_op threads"] = tf.config.threading.get_inter_op_parallelism_threads()
    except Exception:
        pass
    return settings


def tensorflow_workout():
    """Eager ops, a tf.function and an XLA-compiled function: TensorFlow doing its work."""
    import numpy as np
    import tensorflow as tf

    x = tf.constant(np.linspace(-3, 3, 4096, dtype=np.float32))
    eager = tf.reduce_sum(tf.exp(x) * 1e-30)
    # autograph=False: the lambdas have no source AutoGraph could read inside tfdiff.
    graph = tf.function(lambda t: tf.reduce_mean(tf.tanh(t)), autograph=False)(x)
    xla = tf.function(lambda t: tf.reduce_sum(t * t), jit_compile=True, autograph=False)(x)
    return float(eager + graph + xla)


if __name__ == "__main__":
    import json

    print(json.dumps({"results": battery(), "threading": threading()}))
