"""ECG benchmarks, measured side by side in one run (one core: interpreter threads 1).

1. R-peak detection: our NumPy detector vs wfdb's XQRS on the same record(s), lead 0:
   wall time, times real time, Se and +P (150 ms, beat annotations outside VF episodes);
2. int8 latency per beat (one invoke, batch 1, quantize/dequantize included);
3. one 30-min record through the whole edge path (read WFDB with NumPy, filter, detect,
   windows + RR features, int8 model for every beat): wall time and times real time.

    .venv/bin/python bench/bench_ecg.py --data ../shared/data [--model builtin:ecg] [--records 208 ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from edgecnn.edge.core.loader import open_model  # noqa: E402
from edgecnn.edge.ecg.evaluate import peak_counts  # noqa: E402
from edgecnn.edge.ecg.io import read_annotations, read_wfdb  # noqa: E402
from edgecnn.edge.ecg.rpeaks import detect_rpeaks  # noqa: E402
from edgecnn.edge.ecg.runtime import classify  # noqa: E402


def _best_of(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_detectors(folder: Path, records, repeat: int, xqrs: bool) -> dict:
    out = {"ours": {"seconds": 0.0, "tp": 0, "fn": 0, "fp": 0}, "signal_seconds": 0.0, "records": list(records)}
    if xqrs:
        out["wfdb_xqrs"] = {"seconds": 0.0, "tp": 0, "fn": 0, "fp": 0}
    for name in records:
        rec, ann = read_wfdb(folder / name), read_annotations(folder / name)
        n, fs = len(rec.signal), rec.fs
        out["signal_seconds"] += n / fs
        runs = {"ours": lambda x=rec.signal, f=fs: detect_rpeaks(x, f)}
        if xqrs:
            runs["wfdb_xqrs"] = lambda x=rec.signal, f=fs: _xqrs(x, f)
        for key, fn in runs.items():
            sec, peaks = _best_of(fn, repeat if key == "ours" else 1)
            tp, fn_, fp = peak_counts(peaks, ann.sample, ann.symbol, n, fs)
            d = out[key]
            d["seconds"] += sec
            d["tp"], d["fn"], d["fp"] = d["tp"] + tp, d["fn"] + fn_, d["fp"] + fp
    for key in ("ours", "wfdb_xqrs"):
        if key in out:
            d = out[key]
            d.update(se=d["tp"] / (d["tp"] + d["fn"]), ppv=d["tp"] / (d["tp"] + d["fp"]),
                     realtime_x=out["signal_seconds"] / d["seconds"])
    if xqrs:
        out["speedup_vs_xqrs"] = out["wfdb_xqrs"]["seconds"] / out["ours"]["seconds"]
    return out


def _xqrs(x, fs):
    import logging

    import wfdb.processing

    logging.getLogger("wfdb").setLevel(logging.ERROR)
    q = wfdb.processing.XQRS(sig=x, fs=fs)
    q.detect(verbose=False)
    return q.qrs_inds


def bench_latency(model, n: int = 2000) -> dict:
    rng = np.random.default_rng(0)
    feeds = {t.name: rng.normal(size=t.shape).astype(np.float32) for t in model.inputs}
    for _ in range(50):
        model.run(feeds)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        model.run(feeds)
        times.append(time.perf_counter() - t0)
    t = np.array(times) * 1e6
    return {"median_us": float(np.median(t)), "p90_us": float(np.percentile(t, 90)), "beats": n}


def bench_record(model, folder: Path, name: str, repeat: int) -> dict:
    def whole():
        rec = read_wfdb(folder / name)
        return rec, classify(model, rec.signal, rec.fs)

    sec, (rec, res) = _best_of(whole, repeat)
    dur = len(rec.signal) / rec.fs
    return {"record": name, "signal_seconds": dur, "beats": len(res), "wall_seconds": sec, "realtime_x": dur / sec}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", help="folder holding mitdb/")
    ap.add_argument("--model", default="builtin:ecg")
    ap.add_argument("--records", nargs="*", default=["208"], help="records for the detector comparison")
    ap.add_argument("--record", default="208", help="the 30-min record for the whole edge path")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-xqrs", action="store_true", help="skip wfdb's XQRS (no wfdb installed)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    folder = Path(args.data) / "mitdb"
    if not folder.is_dir():
        print(f"bench_ecg: {folder} not found; skipping", file=sys.stderr)
        return 0
    model = open_model(args.model, num_threads=1, task="ecg")
    res = {"model": str(args.model), "model_bytes": model.size_bytes, "backend": model.backend,
           "detector": bench_detectors(folder, args.records, args.repeat, not args.no_xqrs),
           "int8_latency_per_beat": bench_latency(model),
           "whole_record": bench_record(model, folder, args.record, args.repeat)}
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    d = res["detector"]
    o = d["ours"]
    print(f"R-peak detection on {', '.join(d['records'])} ({d['signal_seconds']:.0f} s of signal, lead 0):")
    print(f"  ours      {o['seconds'] * 1e3:8.1f} ms  {o['realtime_x']:9.0f}x real time  Se {100 * o['se']:.2f} %  +P {100 * o['ppv']:.2f} %")
    if "wfdb_xqrs" in d:
        q = d["wfdb_xqrs"]
        print(f"  wfdb XQRS {q['seconds'] * 1e3:8.1f} ms  {q['realtime_x']:9.0f}x real time  Se {100 * q['se']:.2f} %  +P {100 * q['ppv']:.2f} %")
        print(f"  ours is {d['speedup_vs_xqrs']:.0f}x faster")
    lat = res["int8_latency_per_beat"]
    print(f"int8 per beat ({res['model_bytes'] / 1024:.1f} KiB model, 1 thread): median {lat['median_us']:.0f} us, p90 {lat['p90_us']:.0f} us")
    w = res["whole_record"]
    print(f"whole edge path, record {w['record']} ({w['signal_seconds']:.0f} s, {w['beats']} beats): "
          f"{w['wall_seconds']:.3f} s = {w['realtime_x']:.0f}x real time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
