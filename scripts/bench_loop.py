"""The single-process limit for scripts/bench.sh: a plain Python loop that runs the same cases in
the same modes on the same inputs as tfdiff, in one process, with no harness — no worker, no
pipe, no comparison, no report. It uses tfdiff's own mode implementations (Case.run in
harness/python/tfdiff_runtime.py) so that both sides do the same TensorFlow work.

    python scripts/bench_loop.py [--xla-cache DIR] INPUT_DIR MODES CASE_FILE...

INPUT_DIR is what `tfdiff inputs` wrote. With --xla-cache, XLA's programs are kept in DIR as a
tfdiff worker keeps them (and its XLA functions traced first, as a worker's are). Prints one
line: inputs, seconds, inputs/s. Start-up (imports, loading, tracing first) is not timed.
"""

import csv
import importlib.util
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIME = os.path.join(HERE, "..", "harness", "python", "tfdiff_runtime.py")


def main():
    args = sys.argv[1:]
    cache = None
    if args[:1] == ["--xla-cache"]:
        cache, args = args[1], args[2:]
    input_dir, modes, case_files = args[0], args[1].split(","), args[2:]
    spec = importlib.util.spec_from_file_location("tfdiff_runtime", RUNTIME)
    runtime = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runtime)
    runtime.import_numpy()
    if cache:
        runtime.xla_cache_directory(cache)
    runtime.import_tensorflow()
    runtime.prepare_worker()
    cases = [runtime.load_case(path) for path in case_files]
    if cache and "xla" in modes:
        for case in cases:
            case.pretrace_xla([2, 3])
    with open(os.path.join(input_dir, "inputs.csv")) as index:
        inputs = [
            (np.load(os.path.join(input_dir, row["file"])), row["layout"])
            for row in csv.DictReader(index)
        ]
    started = time.perf_counter()
    for case in cases:
        for image, layout in inputs:
            case.run(image, modes, layout)
    seconds = time.perf_counter() - started
    count = len(cases) * len(inputs)
    print("%d %.3f %.1f" % (count, seconds, count / seconds))


if __name__ == "__main__":
    main()
