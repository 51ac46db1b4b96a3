"""Edge runtime vs TensorFlow: time to first result and peak RSS of a fresh process.

Each path runs in its own fresh Python process (import, load the model, one inference), the two
alternating ``--repeats`` times in one run so both see the same machine load. Prints medians and
the two ratios the foundation issue targets: edge first result >= 20x faster, peak RSS <= 1/4.

    .venv/bin/python bench/bench_runtime.py [--model M.tflite] [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import time, resource, sys
    t0 = time.perf_counter()
    import numpy as np
    path, kind = sys.argv[1], sys.argv[2]
    if kind == "edge":
        from edgecnn.edge.core.interpreter import load_model
        m = load_model(path)
        feeds = {t.name: np.zeros(t.shape, np.float32) for t in m.inputs}
        out = m.run(feeds)
    else:
        import tensorflow as tf
        it = tf.lite.Interpreter(model_path=path)
        it.allocate_tensors()
        for d in it.get_input_details():
            it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
        it.invoke()
        out = [it.get_tensor(d["index"]) for d in it.get_output_details()]
    t1 = time.perf_counter()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"RESULT {t1 - t0:.6f} {rss_kb}")
    """
)


def run_child(model: Path, kind: str) -> tuple[float, float]:
    import time

    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(model), kind], capture_output=True, text=True,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}, timeout=600)
    wall = time.perf_counter() - start
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    if proc.returncode != 0 or not line:
        raise SystemExit(f"{kind} child failed: {proc.stderr[-1500:]}")
    _, _, rss_kb = line[0].split()
    return wall, int(rss_kb) / 1024.0


def default_model() -> Path:
    from edgecnn.edge.core.loader import builtin_models

    models = builtin_models()
    return models.get("ecg", ROOT / "tests" / "fixtures" / "generic_int8.tflite")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    model = args.model or default_model()
    runs = {"edge": [], "tensorflow": []}
    for _ in range(args.repeats):
        for kind in runs:
            runs[kind].append(run_child(model, kind))
    med = {k: (statistics.median(w for w, _ in v), statistics.median(r for _, r in v)) for k, v in runs.items()}
    result = {
        "model": str(model), "repeats": args.repeats,
        "edge_first_result_s": med["edge"][0], "tf_first_result_s": med["tensorflow"][0],
        "edge_peak_rss_mb": med["edge"][1], "tf_peak_rss_mb": med["tensorflow"][1],
        "first_result_speedup": med["tensorflow"][0] / med["edge"][0],
        "peak_rss_ratio": med["edge"][1] / med["tensorflow"][1],
    }
    result["targets_met"] = result["first_result_speedup"] >= 20 and result["peak_rss_ratio"] <= 0.25
    if args.json:
        print(json.dumps(result))
    else:
        print(f"model: {model} ({args.repeats} alternating runs, medians; process start to first result)")
        print(f"  edge runtime : {result['edge_first_result_s']:.3f} s, peak RSS {result['edge_peak_rss_mb']:.0f} MB")
        print(f"  tensorflow   : {result['tf_first_result_s']:.3f} s, peak RSS {result['tf_peak_rss_mb']:.0f} MB")
        print(f"  first result : edge {result['first_result_speedup']:.1f}x faster (target >= 20x)")
        print(f"  peak RSS     : edge/tf = {result['peak_rss_ratio']:.3f} (target <= 0.25)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
