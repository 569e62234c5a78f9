"""Renders a run's findings as a Markdown matrix: one row per case, one column per mode, each
cell what that mode gave against the NumPy reference (the numpy-MODE pair). Used by
scripts/findings-table.sh for the README's table.

    python scripts/findings_table.py RUN_DIR
"""

import csv
import json
import os
import sys


def error_side(text):
    """'numpy: ValueError: zero-size ...' -> 'numpy ValueError'; both sides when both raised."""
    parts = []
    for part in text.split(" | "):
        mode, _, rest = part.partition(": ")
        kind = rest.split(":", 1)[0].strip()
        if mode and kind:
            parts.append("%s %s" % (mode, kind))
    return ", ".join(parts) or "raised"


def ulps(value):
    if value is None:
        return "–"
    return "%.1e" % value if value >= 10000 else str(value)


def cell(pair, rows):
    if pair is None:
        return ""
    if pair["diverge"] == 0:
        return "agree · %s ulp" % ulps(pair["max_ulp"])
    parts = []
    for kind, count in sorted(pair["kinds"].items()):
        text = "%s %d/%d" % (kind, count, pair["inputs"])
        row = rows.get(kind)
        if kind in ("error", "crash", "timeout") and row:
            text += " (%s)" % error_side(row["error"])
        elif kind == "value":
            dtypes = "%s vs %s" % ("/".join(pair["dtypes_a"]), "/".join(pair["dtypes_b"]))
            text += " · %s ulp · %s" % (ulps(pair["max_ulp"]), dtypes)
        parts.append(text)
    status = pair.get("status")
    mark = "" if status == "known" else " **%s**" % status
    return "; ".join(parts) + mark


def main():
    run_dir = sys.argv[1]
    with open(os.path.join(run_dir, "run.json")) as file:
        run = json.load(file)
    rows = {}
    with open(os.path.join(run_dir, "divergences.csv")) as file:
        for row in csv.DictReader(file):
            key = (row["case"], row["mode_a"], row["mode_b"])
            rows.setdefault(key, {}).setdefault(row["kind"], row)
    modes = [m for m in run["config"]["modes"] if m != "numpy"]
    pairs = {(p["case"], p["mode_a"], p["mode_b"]): p for p in run["pairs"]}
    cases = [c["name"] for c in run["cases"]]
    print("| case | " + " | ".join(modes) + " |")
    print("|---" * (len(modes) + 1) + "|")
    for case in cases:
        cells = []
        for mode in modes:
            key = (case, "numpy", mode)
            cells.append(cell(pairs.get(key), rows.get(key, {})))
        print("| %s | %s |" % (case, " | ".join(cells)))


if __name__ == "__main__":
    main()
