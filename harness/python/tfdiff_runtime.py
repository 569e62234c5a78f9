"""tfdiff's Python side: loads case files and runs one input through the selected modes.

Each tfdiff worker process embeds this module (include_str!) and calls into it. It never writes
files or prints: it returns outcomes, which the worker sends to the driver, which compares and
reports them. NumPy and TensorFlow are imported only by `import_numpy` and `import_tensorflow`
(in that order, so the probe can measure NumPy in between), after Rust has put the project's
environment on sys.path (`activate_environment`).
"""

import hashlib
import importlib.util
import os
import platform
import re
import shutil
import site
import sys
import tempfile
import warnings

np = None
tf = None

MODES = ("numpy", "eager", "graph", "xla", "v1", "tflite", "saved_model", "tfdata")
# The modes that build something once per input rank (a trace, a conversion, an export).
BUILT_PER_RANK = ("graph", "xla", "v1", "tflite", "saved_model", "tfdata")
# dtype names whose values Rust can compare; anything else is a case returning the wrong thing.
FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64", "longdouble")
MESSAGE_LIMIT = 300


class CaseLoadError(Exception):
    """A case file that cannot be used: the message names the file and what to fix."""


def activate_environment(site_packages):
    """Makes a virtualenv's packages importable in this (embedded) interpreter."""
    for directory in site_packages:
        site.addsitedir(directory)
    # absl and TensorFlow read sys.argv; an embedded interpreter has none.
    if not getattr(sys, "argv", None):
        sys.argv = ["tfdiff"]


def prepare_worker():
    """A worker's stdout and stderr are its log: every line is written through at once, so what
    a case printed just before a crash is in the log. Warnings are off for the whole process
    (a worker only runs cases): a case's warnings are not divergences."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True, write_through=True)
        except (AttributeError, ValueError):
            pass
    warnings.simplefilter("ignore")


def import_numpy():
    """Imports NumPy alone, so the probe can measure it before TensorFlow arrives."""
    global np
    import numpy

    np = numpy
    return np.__version__


def import_tensorflow():
    global tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow

    tf = tensorflow
    stop_thread_spinning()
    return tf.__version__


# The TensorFlow libraries whose bytes decide what XLA compiles (see xla_cache_directory).
TF_LIBRARIES = (
    "libtensorflow_framework.so.2",
    "libtensorflow_cc.so.2",
    os.path.join("python", "_pywrap_tensorflow_internal.so"),
    "libtensorflow_framework.2.dylib",
)
TF_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-nightly", "tf-nightly-cpu")


def xla_cache_directory(root):
    """Where this TensorFlow build keeps its compiled XLA programs under `root`, before
    TensorFlow is imported; tells TensorFlow to use it.

    TensorFlow's persistent cache checks a loaded program against the HLO it was compiled from,
    but not against the compiler that made it. So each build gets its own directory, named by
    what decides the machine code: TensorFlow's version and the size and time of its libraries,
    the CPU's model and flags, and the XLA flags in the environment."""
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = list(spec.submodule_search_locations)[0]
    identity = []
    version = "unknown"
    from importlib import metadata

    for name in TF_DISTRIBUTIONS:
        try:
            version = metadata.version(name)
            identity.append("%s==%s" % (name, version))
            break
        except metadata.PackageNotFoundError:
            continue
    if release_before(version, (2, 16)):
        # Measured on tensorflow-cpu 2.12 to 2.15: with the persistent cache on, every XLA call
        # fails (InternalError: Not an XLA Runtime executable), even on an empty cache. There
        # XLA compiles in each process, as it does for a user of that TensorFlow.
        return None
    for name in TF_LIBRARIES:
        path = os.path.join(package, name)
        if os.path.exists(path):
            status = os.stat(path)
            identity.append("%s %d %d" % (path, status.st_size, status.st_mtime_ns))
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            identity.extend(
                line.strip() for line in cpuinfo if line.startswith(("model name", "flags"))
            )
    except OSError:
        identity.append(platform.processor())
    identity.extend("%s=%s" % (v, os.environ.get(v, "")) for v in ("XLA_FLAGS", "TF_XLA_FLAGS"))
    digest = hashlib.sha256("\n".join(identity).encode()).hexdigest()[:16]
    directory = os.path.join(os.path.abspath(root), "tf%s-%s" % (version, digest))
    if any(c.isspace() for c in directory):
        raise ValueError(
            "--xla-cache %s: TensorFlow's flags cannot carry a path with spaces; choose another"
            % root
        )
    os.makedirs(directory, exist_ok=True)
    flags = os.environ.get("TF_XLA_FLAGS", "")
    os.environ["TF_XLA_FLAGS"] = (
        flags + " --tf_xla_persistent_cache_directory=" + directory
    ).strip()
    return directory


def release_before(version, release):
    """Whether a version like "2.15.1" is a release before (major, minor); False when its
    text does not start with two numbers."""
    try:
        major, minor = version.split(".")[:2]
        return (int(major), int(minor)) < release
    except ValueError:
        return False


# Whether TensorFlow's thread pools were told not to spin (see stop_thread_spinning).
THREAD_SPINNING_DISABLED = False


def session_config():
    """The ConfigProto for v1 Sessions: the same pools, not spinning either."""
    config = tf.compat.v1.ConfigProto()
    config.experimental.disable_thread_spinning = THREAD_SPINNING_DISABLED
    return config


def stop_thread_spinning():
    """Tells TensorFlow's thread pools to sleep when idle instead of spinning.

    Several workers share the machine's cores; an idle pool that spins burns the core another
    worker needs (measured: two workers did no more than one). Spinning is only how idle
    threads wait: the number of threads and how work is split among them — what decides the
    order of a parallel sum — stay TensorFlow's defaults. TensorFlow has no public switch for
    its eager context, so this sets the context's ConfigProto before the context starts, and
    does nothing when that is not possible."""
    global THREAD_SPINNING_DISABLED
    try:
        from tensorflow.python.eager import context

        eager = context.context()
        if getattr(eager, "_context_handle", None) is not None:
            return
        config = tf.compat.v1.ConfigProto()
        if eager._config is not None:
            config.CopyFrom(eager._config)
        config.experimental.disable_thread_spinning = True
        eager._config = config
        THREAD_SPINNING_DISABLED = True
    except Exception:  # another TensorFlow: keep its defaults
        pass


def environment_info():
    """What `tfdiff doctor` prints and run.json records: versions and TF build information."""
    info = {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "sys_path": [p for p in sys.path if p],
        "numpy": np.__version__ if np else None,
        "numpy_file": np.__file__ if np else None,
        "tensorflow": tf.__version__ if tf else None,
        "tensorflow_file": tf.__file__ if tf else None,
        "keras": installed_version("keras"),
    }
    if tf is not None:
        info["tensorflow_git_version"] = tf.version.GIT_VERSION
        info["tensorflow_compiler_version"] = tf.version.COMPILER_VERSION
        build = dict(tf.sysconfig.get_build_info())
        info["tensorflow_build"] = {k: str(v) for k, v in build.items()}
        info["onednn"] = onednn_state()
        info["devices"] = [d.device_type for d in tf.config.list_physical_devices()]
        info["intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
        info["inter_op_threads"] = tf.config.threading.get_inter_op_parallelism_threads()
        info["thread_spinning_disabled"] = THREAD_SPINNING_DISABLED
        info["tflite_interpreter"] = tflite_interpreter_name()
    if np is not None:
        try:
            blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            info["numpy_blas"] = "%s %s" % (blas.get("name"), blas.get("version"))
        except Exception:  # older NumPy: show_config has no dict mode
            info["numpy_blas"] = None
    # How long OpenBLAS's idle threads spin: a worker sets 4 unless the user set it.
    info["openblas_thread_timeout"] = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
    return info


def installed_version(distribution):
    """The installed version of a distribution, without importing it; None when absent."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def tflite_interpreter_name():
    """Which TFLite interpreter the tflite mode runs: the standalone LiteRT package when it is
    installed, else the one in TensorFlow (deprecated there in favour of LiteRT)."""
    from importlib import metadata

    if importlib.util.find_spec("ai_edge_litert") is not None:
        try:
            return "ai_edge_litert %s" % metadata.version("ai-edge-litert")
        except metadata.PackageNotFoundError:
            return "ai_edge_litert"
    return "tf.lite (tensorflow %s)" % tf.__version__


def tflite_interpreter(model):
    """An interpreter of the TFLite flatbuffer `model`, from the package tflite_interpreter_name
    names (its default op resolver: the XNNPACK delegate where it applies, as on a phone)."""
    if importlib.util.find_spec("ai_edge_litert") is not None:
        from ai_edge_litert.interpreter import Interpreter
    else:
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_content=model)


def onednn_state():
    """Whether TensorFlow's oneDNN (formerly MKL) optimizations are in effect, and why."""
    flag = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    try:
        from tensorflow.python.util import _pywrap_util_port

        mkl_build = bool(_pywrap_util_port.IsMklEnabled())
    except Exception:
        mkl_build = None
    return {"TF_ENABLE_ONEDNN_OPTS": flag, "is_mkl_enabled": mkl_build}


# Terminal colours, as Keras puts them in its messages.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def short_message(error):
    """One line of an exception's message: TF's 'in user code:' traces keep only the cause."""
    text = ANSI_ESCAPE.sub("", str(error))
    if type(error).__name__ == "ConverterError":
        return limited(converter_summary(text) or " ".join(text.split()))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    text = lines[-1] if lines[0].startswith("in user code") else " ".join(lines)
    # TF's traces end in "TypeName: message"; the type is reported on its own already.
    prefix = type(error).__name__ + ": "
    if text.startswith(prefix):
        text = text[len(prefix):]
    return limited(text)


def limited(text):
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 3] + "..."
    return text


def converter_summary(text):
    """What the TFLite converter's message says is wrong, without the MLIR dump and the Python
    source locations around it: its errors, the ops it would need TF Select for, and the first
    op's signature. None when the message has none of these."""
    lines = text.splitlines()
    parts = []
    for number, line in enumerate(lines):
        _, found, error = line.partition(": error: ")
        if found and not error.startswith("failed while converting"):
            parts.append(error.strip())
        elif line.startswith("TF Select ops:"):
            parts.append(line.strip())
        elif line.strip() == "Details:" and number + 1 < len(lines):
            parts.append(lines[number + 1].strip())
    unique = list(dict.fromkeys(part for part in parts if part))
    return "; ".join(unique) or None


# The process-wide settings as they were before any case ran (see restore_process_state).
REFERENCE_STATE = None


def tf_threads():
    """TensorFlow's thread-pool sizes (0: its default), which decide how a parallel sum is split."""
    if tf is None:
        return {}
    threading = tf.config.threading
    return {
        "intra_op": threading.get_intra_op_parallelism_threads(),
        "inter_op": threading.get_inter_op_parallelism_threads(),
    }


def set_tf_threads(threads):
    """Sets TensorFlow's thread-pool sizes back; False when the runtime has started already
    (then TensorFlow refuses any change, a case's included, so nothing can have changed)."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads["intra_op"])
        tf.config.threading.set_inter_op_parallelism_threads(threads["inter_op"])
        return True
    except RuntimeError:
        return False


def process_state():
    return np.geterr(), np.get_printoptions(), tf_threads()


def changed_settings(settings, reference):
    """"key=value, ..." for the settings that differ from the reference."""
    return ", ".join(
        "%s=%r" % (key, value)
        for key, value in sorted(settings.items())
        if reference.get(key) != value
    )


def restore_process_state():
    """Puts the process-wide settings one case could change for the others back as they were
    before any case ran: NumPy's error handling (np.seterr) and print options, and
    TensorFlow's thread-pool sizes. A case that sets np.seterr(all="raise") would otherwise
    turn another's harmless overflow into an exception. Returns what had changed, as text, or
    None."""
    global REFERENCE_STATE
    if REFERENCE_STATE is None:
        REFERENCE_STATE = process_state()
        return None
    errors, options, threads = process_state()
    reference_errors, reference_options, reference_threads = REFERENCE_STATE
    changed = []
    if errors != reference_errors:
        changed.append("np.seterr(%s)" % changed_settings(errors, reference_errors))
        np.seterr(**reference_errors)
    if options != reference_options:
        keys = sorted(key for key in options if options[key] != reference_options.get(key))
        changed.append("np.set_printoptions(%s)" % ", ".join(keys))
        try:
            np.set_printoptions(**reference_options)
        except TypeError:
            np.set_printoptions(**{k: v for k, v in reference_options.items() if k in keys})
    if threads != reference_threads:
        changed.append("tf.config.threading(%s)" % changed_settings(threads, reference_threads))
        if not set_tf_threads(reference_threads):
            changed[-1] += " (could not be restored: TensorFlow had started)"
    return "; ".join(changed) or None


def load_case(path):
    """Imports one case file and checks it against the case contract (cases/README.md)."""
    restore_process_state()
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location("tfdiff_case_" + name, path)
    if spec is None or spec.loader is None:
        raise CaseLoadError("%s: not a Python file" % path)
    module = importlib.util.module_from_spec(spec)
    # As when Python runs a script: the file's directory is importable, so a case can import
    # its helpers (files named _*.py beside it, which are not cases themselves).
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec.loader.exec_module(module)
    except BaseException as error:  # a case's SystemExit must not end tfdiff
        raise CaseLoadError(
            "%s: import failed: %s: %s" % (path, type(error).__name__, short_message(error))
        ) from None
    missing = [fn for fn in ("numpy", "tensorflow") if not callable(getattr(module, fn, None))]
    if missing:
        raise CaseLoadError(
            "%s: defines no function %s(image); a case needs both numpy(image) and "
            "tensorflow(image)" % (path, " or ".join(missing))
        )
    case = Case(name, path, module, check_tolerance(path, getattr(module, "TOLERANCE", None)))
    changed = restore_process_state()
    if changed:
        case.state_changes.add("at import: " + changed)
    return case


def check_tolerance(path, tolerance):
    """Returns the case's TOLERANCE as a dict of floats/ints, or None when it sets none."""
    if tolerance is None:
        return None
    usage = 'TOLERANCE must be {"rtol": R, "atol": A} or {"max_ulp": N}'
    if not isinstance(tolerance, dict):
        raise CaseLoadError("%s: %s, not %r" % (path, usage, tolerance))
    keys = set(tolerance)
    if keys == {"max_ulp"}:
        value = tolerance["max_ulp"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CaseLoadError("%s: max_ulp must be a non-negative integer, not %r" % (path, value))
        return {"max_ulp": int(value)}
    if keys and keys <= {"rtol", "atol"}:
        checked = {}
        for key in keys:
            value = tolerance[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise CaseLoadError("%s: %s must be a non-negative number, not %r" % (path, key, value))
            checked[key] = float(value)
        return checked
    raise CaseLoadError("%s: %s, not %r" % (path, usage, tolerance))


def error_outcome(error):
    type_name, message = type(error).__name__, short_message(error)
    # AutoGraph re-raises some exceptions from user code as StagingError("TypeName: message");
    # the user's code raised TypeName, so that is what is compared.
    if type_name == "StagingError":
        cause, separator, rest = message.partition(": ")
        if separator and cause.isidentifier():
            type_name, message = cause, rest
    return ("error", type_name, message)


class BadOutput(Exception):
    """A case function returned something that is not a real-valued array."""


# dtypes whose bytes go to the driver as they are; any other real dtype travels as float64.
STORAGE_NAMES = ("float64", "float32", "int64", "int32", "int16", "int8",
                 "uint64", "uint32", "uint16", "uint8", "bool")


# Outputs larger than this (as the driver would receive them) are the outcome
# OutputTooLarge instead (tfdiff run --max-output-bytes); None: no limit.
MAX_OUTPUT_BYTES = None


class OutputTooLarge(Exception):
    """A mode's output is larger than --max-output-bytes."""


def set_max_output_bytes(limit):
    global MAX_OUTPUT_BYTES
    MAX_OUTPUT_BYTES = limit


def array_outcome(value):
    """Converts what a case returned to ("array", bytes, dtype name, storage dtype name, shape):
    the values' bytes (a uint8 view of a C-ordered array in the machine's byte order, no copy
    when the array already is one), stored in the returned dtype when the driver reads it
    directly, else as float64."""
    if tf is not None and isinstance(value, tf.Tensor) and hasattr(value, "numpy"):
        value = value.numpy()
    try:
        array = np.asarray(value)
    except Exception as error:
        raise BadOutput("returned %s, which numpy.asarray rejects: %s" % (type(value).__name__, error))
    dtype = array.dtype.name
    if value is None:
        raise BadOutput("returned None; a case must return an array of real numbers")
    if not (dtype == "bool" or dtype.startswith(("int", "uint")) or dtype in FLOAT_NAMES):
        raise BadOutput(
            "returned %s of dtype %s; a case must return a real-valued array (bool, int or float)"
            % (type(value).__name__, dtype)
        )
    stored_bytes = array.size * (array.itemsize if dtype in STORAGE_NAMES else 8)
    if MAX_OUTPUT_BYTES is not None and stored_bytes > MAX_OUTPUT_BYTES:
        raise OutputTooLarge(
            "output too large: %d bytes (%s of shape %s) is more than --max-output-bytes %d"
            % (stored_bytes, dtype, "x".join(map(str, array.shape)), MAX_OUTPUT_BYTES)
        )
    storage = array if dtype in STORAGE_NAMES else array.astype(np.float64)
    if not storage.dtype.isnative:
        storage = storage.astype(storage.dtype.newbyteorder("="))
    storage = np.ascontiguousarray(storage)
    return ("array", storage.reshape(-1).view(np.uint8), dtype, storage.dtype.name, storage.shape)


def with_layout(image, layout):
    """A copy of `image` with the same values, laid out in memory as `layout` says."""
    if layout == "transposed" and image.ndim >= 2:
        # copy(), not ascontiguousarray: that returns the caller's own array when it is already
        # contiguous (one pixel wide), and a case writing into its input would change it.
        return image.swapaxes(0, 1).copy(order="C").swapaxes(0, 1)
    if layout == "strided" and image.ndim >= 2:
        wide = np.zeros(image.shape[:1] + (2 * image.shape[1],) + image.shape[2:], dtype=image.dtype)
        wide[:, ::2] = image
        return wide[:, ::2]
    return image.copy()


class Case:
    """One loaded case, with what its TensorFlow modes build (a traced function, a v1 Session, a
    TFLite interpreter, a reloaded SavedModel) cached per input rank."""

    def __init__(self, name, path, module, tolerance):
        self.name = name
        self.path = path
        self.doc = (module.__doc__ or "").strip()
        self.tolerance = tolerance
        self.numpy_fn = module.numpy
        self.tensorflow_fn = module.tensorflow
        self._failed_traces = {mode: 0 for mode in BUILT_PER_RANK}
        # What this case changed of NumPy's process-wide state, and where (restored each time).
        self.state_changes = set()
        self._functions = {}  # (mode, rank) -> tf.function, or ("error", type, message)
        self._sessions = {}  # rank -> (session, placeholder, output) or an error outcome
        self._tflite = {}  # rank -> [interpreter, input shape], or an error outcome
        self._saved_models = {}  # rank -> a reloaded signature, or an error outcome
        self._exports = 0  # SavedModels written and reloaded
        self._loaded_model = None  # the last one: its signatures live as long as it does
        # Whether the XNNPACK delegate took over part of a TFLite model (None: no model ran).
        self.tflite_xnnpack = None

    def run(self, image, modes, layout="contiguous"):
        """Runs `image` through each mode; returns one outcome per mode, in order. `layout` is
        how the NumPy side's copy is laid out in memory (see `with_layout`)."""
        outcomes = []
        for mode in modes:
            try:
                outcomes.append(self._run_mode(mode, image, layout))
            except BadOutput as error:
                outcomes.append(("bad_output", "BadOutput", str(error)))
            except Exception as error:
                outcomes.append(error_outcome(error))
            finally:
                changed = restore_process_state()
                if changed:
                    self.state_changes.add("in %s: %s" % (mode, changed))
        return outcomes

    def _run_mode(self, mode, image, layout):
        # Every call gets its own copy, so a case that writes into its input cannot leak the
        # change into the next mode.
        if mode == "numpy":
            return array_outcome(self.numpy_fn(with_layout(image, layout)))
        if mode == "eager":
            return array_outcome(self.tensorflow_fn(tf.constant(image.copy())))
        if mode in ("graph", "xla", "tfdata"):
            function = self._traced(mode, image.ndim)
            if isinstance(function, tuple):
                return function
            return array_outcome(function(tf.constant(image.copy())))
        if mode == "v1":
            return self._run_v1(image)
        if mode == "tflite":
            return self._run_tflite(image)
        if mode == "saved_model":
            return self._run_saved_model(image)
        raise ValueError("unknown mode %r" % mode)

    def _function(self, mode, rank):
        """The tf.function of `mode` for one rank (unknown dimensions), not traced yet. It wraps
        the case's own function, so AutoGraph converts its source as it would in the user's
        code; tracing is counted by TensorFlow itself."""
        signature = [tf.TensorSpec([None] * rank, tf.uint8, name="image")]
        if mode == "tfdata":
            # An input pipeline: the case's function mapped over a dataset of the one image,
            # with tf.data's default options. The pipeline is built in a tf.function, as
            # Keras' fit iterates a dataset, so the map function is traced once per rank.
            tensorflow_fn = self.tensorflow_fn

            def pipeline(image):
                return tf.data.Dataset.from_tensors(image).map(tensorflow_fn).get_single_element()

            # AutoGraph converts the case's function where tf.data maps it, not the pipeline.
            return tf.function(pipeline, input_signature=signature, autograph=False)
        return tf.function(self.tensorflow_fn, input_signature=signature, jit_compile=(mode == "xla"))

    def _traced(self, mode, rank):
        """`_function(mode, rank)` traced, or the tracing error."""
        key = (mode, rank)
        if key not in self._functions:
            function = self._function(mode, rank)
            try:
                function.get_concrete_function()
                self._functions[key] = function
            except Exception as error:
                # Same signature, same trace: the error would repeat on every input.
                self._functions[key] = error_outcome(error)
                self._failed_traces[mode] += 1
        return self._functions[key]

    def pretrace_xla(self, ranks):
        """Traces the XLA function of each rank now. TensorFlow names a traced function with a
        process-wide counter, and XLA's persistent cache keys a program by that name: traced
        first thing, in the same order in every worker, the names are the same everywhere, so
        one worker's compiled programs serve all the others (and later runs)."""
        for rank in ranks:
            self._traced("xla", rank)

    def trace_counts(self):
        """What each mode built so far, failed attempts included — traces (graph, xla, tfdata,
        v1), conversions (tflite), exports (saved_model): one per rank when nothing rebuilds."""
        counts = dict(self._failed_traces)
        for (mode, _rank), function in self._functions.items():
            if not isinstance(function, tuple):
                counts[mode] += function.experimental_get_tracing_count()
        counts["v1"] += sum(1 for entry in self._sessions.values() if not isinstance(entry[0], str))
        counts["tflite"] += sum(1 for entry in self._tflite.values() if isinstance(entry, list))
        counts["saved_model"] += self._exports
        return counts

    def _run_v1(self, image):
        """The legacy graph: a placeholder fed through a tf.compat.v1.Session."""
        rank = image.ndim
        if rank not in self._sessions:
            graph = tf.Graph()
            with graph.as_default():
                placeholder = tf.compat.v1.placeholder(tf.uint8, shape=[None] * rank)
                try:
                    output = self.tensorflow_fn(placeholder)
                    session = tf.compat.v1.Session(graph=graph, config=session_config())
                    self._sessions[rank] = (session, placeholder, output)
                except Exception as error:
                    self._sessions[rank] = error_outcome(error)
                    self._failed_traces["v1"] += 1
        entry = self._sessions[rank]
        if isinstance(entry[0], str):
            return entry
        session, placeholder, output = entry
        return array_outcome(session.run(output, feed_dict={placeholder: image.copy()}))

    def _run_tflite(self, image):
        """The phone: the function converted to a TFLite model with dynamic dimensions (once
        per rank, the converter's defaults), its input resized to the image's shape."""
        rank = image.ndim
        if rank not in self._tflite:
            try:
                function = self._function("tflite", rank)
                converter = tf.lite.TFLiteConverter.from_concrete_functions(
                    [function.get_concrete_function()], function
                )
                self._tflite[rank] = [tflite_interpreter(converter.convert()), None]
            except Exception as error:
                # The converter's refusal is this mode's outcome on every input of the rank.
                self._tflite[rank] = error_outcome(error)
                self._failed_traces["tflite"] += 1
        entry = self._tflite[rank]
        if isinstance(entry, tuple):
            return entry
        interpreter, shape = entry
        index = interpreter.get_input_details()[0]["index"]
        if shape != image.shape:
            interpreter.resize_tensor_input(index, image.shape, strict=False)
            interpreter.allocate_tensors()
            entry[1] = image.shape
        interpreter.set_tensor(index, image.copy())
        interpreter.invoke()
        if shape is None:
            # Its first input: whether a delegate took part of this model (once per model).
            delegated = tflite_delegated(interpreter)
            if delegated is not None:
                self.tflite_xnnpack = bool(self.tflite_xnnpack) or delegated
        return array_outcome(single_output(
            [interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()]))

    def _run_saved_model(self, image):
        """The serving path: the function exported with tf.saved_model.save in a tf.Module
        with one signature per rank, reloaded with tf.saved_model.load and called through the
        signature of the image's rank."""
        rank = image.ndim
        if rank not in self._saved_models:
            self._export(rank)
        signature = self._saved_models[rank]
        if isinstance(signature, tuple):
            return signature
        outputs = signature(image=tf.constant(image.copy()))
        return array_outcome(single_output([outputs[key] for key in sorted(outputs)]))

    def _export(self, rank):
        """Exports a module with a signature for `rank` and for every rank exported before
        (a new rank, a new export: the ranks seen so far are all in the one module)."""
        ranks = sorted({r for r, s in self._saved_models.items() if not isinstance(s, tuple)} | {rank})
        module = tf.Module()
        try:
            signatures = {}
            for r in ranks:
                function = self._function("saved_model", r)
                setattr(module, "rank%d" % r, function)
                signatures["rank%d" % r] = function.get_concrete_function()
            directory = tempfile.mkdtemp(prefix="tfdiff-saved-model-")
            try:
                tf.saved_model.save(module, directory, signatures=signatures)
                loaded = tf.saved_model.load(directory)
            finally:
                shutil.rmtree(directory, ignore_errors=True)
        except Exception as error:
            self._saved_models[rank] = error_outcome(error)
            self._failed_traces["saved_model"] += 1
            return
        self._exports += 1
        self._loaded_model = loaded
        for r in ranks:
            self._saved_models[r] = loaded.signatures["rank%d" % r]


def single_output(outputs):
    """The one array among a model's outputs; a case returns one array."""
    if len(outputs) != 1:
        raise BadOutput("the converted model has %d outputs; a case returns one array" % len(outputs))
    return outputs[0]


def tflite_delegated(interpreter):
    """Whether a delegate (XNNPACK, on CPU) took over nodes of the interpreter's plan: they
    show as DELEGATE nodes. None when this interpreter cannot say."""
    try:
        return any(op["op_name"] == "DELEGATE" for op in interpreter._get_ops_details())
    except Exception:
        return None
