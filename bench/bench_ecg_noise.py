"""ECG noise stress test in the style of AAMI EC57 / the MIT-BIH Noise Stress Test Database.

Synthetic baseline wander (bw), muscle artifact (ma), electrode motion (em) and their equal-power
sum (mix) — recipes in ``bench/ecg_noise.py`` and docs/ecg_noise.md — are added to the MIT-BIH DS1
and SVDB records with nst's standard protocol (5 min clean, then 2 min noisy / 2 min clean) at
24, 18, 12, 6 and 0 dB SNR (nst's definition: S = (QRS peak-to-peak)^2 / 8, N = trimmed mean
1-s chunk RMS, squared). Every noisy record is classified on its own, as a user runs it
(``classify(model, x, fs)``), and scored with ``edgecnn.edge.ecg.evaluate``'s matching
(150 ms, VF episodes excluded): R-peak Se/+P and V, S Se/+P as gross statistics (TP/FN/FP summed
over records), per database and pooled, over the noisy segments only and over the whole record.

    .venv/bin/python bench/bench_ecg_noise.py --data ../shared/data --model builtin:ecg --out runs/bench/ecg_noise

Writes OUT/ecg_noise.md (the tables, also printed), OUT/ecg_noise.json, OUT/ecg_noise.png (Se and +P
against SNR, R-peak / V / S panels, noisy segments, pooled) and the three panels as
OUT/ecg_noise_{rpeak,V,S}.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ecg_noise as en  # noqa: E402

from edgecnn.edge.core.fileio import atomic_write_json, atomic_write_text  # noqa: E402
from edgecnn.edge.core.loader import open_model  # noqa: E402
from edgecnn.edge.core.plots import line_plot, save_png  # noqa: E402
from edgecnn.edge.ecg.evaluate import class_metrics, match_record, rpeak_se_ppv  # noqa: E402
from edgecnn.edge.ecg.io import (  # noqa: E402
    AAMI_CLASSES,
    list_records,
    read_annotations,
    read_wfdb,
)
from edgecnn.edge.ecg.runtime import classify, model_params  # noqa: E402

DATABASES = {"DS1": "mitdb", "SVDB": "svdb"}
POOLED = "pooled"
LEVELS = (24.0, 18.0, 12.0, 6.0, 0.0)
CLEAN = "clean"
SCOPES = ("noisy", "ec57", "whole")
SCOPE_TITLE = {"noisy": "noisy segments only",
               "ec57": "from minute 5 to the end (bxb's default start, as EC57 scores nstdb records: noisy + clean segments)",
               "whole": "whole record (as `edgecnn eval` scores: learning period included)"}
MD_SCOPES = {"noisy": None, "ec57": None, "whole": ("pooled",)}  # the tables in the markdown (None: every db)
TARGET = (12.0, 0.99)  # R-peak Se >= 99 % at 12 dB SNR


# ----------------------------------------------------------------------------- scoring
def _zero() -> dict:
    k = len(AAMI_CLASSES)
    return {"tp": 0, "fn": 0, "fp": 0, "confusion": np.zeros((k, k), np.int64)}


def split_counts(result, ann_samples, ann_symbols, n: int, fs: float, tol_s: float, masks: dict) -> dict:
    """R-peak tp/fn/fp and the class confusion for the whole record and for each sample mask of ``masks``.

    The matching is evaluate.py's (:func:`~edgecnn.edge.ecg.evaluate.match_record`: beat annotations
    and detections outside VF episodes, one-to-one within ``tol_s``, closest first) done once on the
    whole record; a reference beat is counted (TP or FN, and in the confusion) where it lies, an
    unmatched detection (FP) where it lies. The whole-record counts are ``evaluate.score_record``'s."""
    m = match_record(result, ann_samples, ann_symbols, n, fs, tol_s)
    return {"whole": m.counts(), **{scope: m.counts(mask) for scope, mask in masks.items()}}


def _add(acc: dict, c: dict) -> None:
    for k in ("tp", "fn", "fp"):
        acc[k] += int(c[k])
    acc["confusion"] = acc["confusion"] + np.asarray(c["confusion"], np.int64)


def metrics(c: dict) -> dict:
    """Gross statistics from summed counts: R-peak Se/+P and per-class Se/+P (evaluate.class_metrics)."""
    tp, fn, fp = c["tp"], c["fn"], c["fp"]
    cm = class_metrics(c["confusion"])["per_class"]
    se, ppv = rpeak_se_ppv(tp, fn, fp)
    out = {"rpeak": {"se": se, "ppv": ppv, "tp": tp, "fn": fn, "fp": fp}, "beats": tp + fn}
    for lab in ("V", "S"):
        p = cm[lab]
        out[lab] = {"se": p["se"], "ppv": p["ppv"], "support": p["support"], "predicted": p["predicted"]}
    return out


# ----------------------------------------------------------------------------- one record
_STATE: dict = {}


def _init_worker(model_spec: str) -> None:
    m = open_model(model_spec, num_threads=1, task="ecg")
    _STATE.update(model=m, params=model_params(m))


def cond_key(kind: str, level: float | None) -> str:
    return CLEAN if kind == CLEAN else f"{kind}@{level:g}"


def run_record(job: dict) -> dict:
    """Every condition (clean, then each noise type at each level) for one record."""
    model, params = _STATE["model"], _STATE["params"]
    rec = read_wfdb(job["path"], job["lead"])
    ann = read_annotations(job["path"])
    x, fs = rec.signal, rec.fs
    if job["max_seconds"]:
        x = x[: int(round(job["max_seconds"] * fs))]
    n = len(x)
    keep = ann.sample < n
    samples, symbols = ann.sample[keep], ann.symbol[keep]
    segments = en.noisy_segments(n, fs)
    noisy = en.noisy_mask(n, segments)
    masks = {"noisy": noisy, "ec57": np.arange(n) >= int(round(en.LEARN_S * fs))}
    s_pow = en.signal_power(x, samples, symbols, fs)
    out = {"db": job["db"], "record": rec.name, "fs": fs, "seconds": n / fs, "noisy_seconds": float(noisy.sum()) / fs,
           "qrs_pp_mv": float(np.sqrt(8 * s_pow)), "conditions": {}, "snr_error_db": 0.0, "classify_s": 0.0}
    t0 = time.perf_counter()
    res = classify(model, x, fs, params, quality=job["quality"])
    out["classify_s"] += time.perf_counter() - t0
    out["conditions"][CLEAN] = split_counts(res, samples, symbols, n, fs, job["tolerance"], masks)
    for kind in job["noise"]:
        unit = en.make_noise(kind, n, fs, en.noise_rng(job["seed"], rec.name, kind))
        for level in job["levels"]:
            y, _ = en.add_noise(x, unit, fs, level, s_pow, segments)
            err = abs(en.measured_snr(x, y, samples, symbols, fs, segments) - level)
            out["snr_error_db"] = max(out["snr_error_db"], err)
            t0 = time.perf_counter()
            res = classify(model, y, fs, params, quality=job["quality"])
            out["classify_s"] += time.perf_counter() - t0
            out["conditions"][cond_key(kind, level)] = split_counts(res, samples, symbols, n, fs, job["tolerance"], masks)
    return out


# ----------------------------------------------------------------------------- aggregation
def aggregate(per_record: list[dict], conditions: list[str]) -> dict:
    """results[scope][db or pooled][condition] = metrics of the counts summed over records."""
    dbs = [d for d in DATABASES if any(r["db"] == d for r in per_record)]
    out = {}
    for scope in SCOPES:
        out[scope] = {}
        for db in [*dbs, POOLED]:
            recs = [r for r in per_record if db == POOLED or r["db"] == db]
            out[scope][db] = {}
            for cond in conditions:
                acc = _zero()
                for r in recs:
                    _add(acc, r["conditions"][cond][scope])
                out[scope][db][cond] = metrics(acc)
    return out


def _pct(v, digits: int) -> str:
    return "—" if v is None else f"{100 * v:.{digits}f}"


def table(res: dict, conditions: list[str]) -> str:
    lines = ["| noise | SNR (dB) | R-peak Se | R-peak +P | V Se | V +P | S Se | S +P | beats | R FN | R FP |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cond in conditions:
        m = res[cond]
        kind, _, level = cond.partition("@")
        lines.append(f"| {kind} | {level or '∞'} | {_pct(m['rpeak']['se'], 2)} | {_pct(m['rpeak']['ppv'], 2)} | "
                     f"{_pct(m['V']['se'], 1)} | {_pct(m['V']['ppv'], 1)} | {_pct(m['S']['se'], 1)} | "
                     f"{_pct(m['S']['ppv'], 1)} | {m['beats']} | {m['rpeak']['fn']} | {m['rpeak']['fp']} |")
    return "\n".join(lines)


def target_line(res: dict, noise: list[str]) -> str:
    level, goal = TARGET
    key = f"@{level:g}"
    parts = []
    for kind in noise:
        m = res.get(kind + key)
        if m is None:
            continue
        se = m["rpeak"]["se"]
        parts.append(f"{kind} {_pct(se, 2)} % ({'met' if se is not None and se >= goal else 'NOT met'})")
    if not parts:
        return f"Target R-peak Se >= {100 * goal:g} % at {level:g} dB: level not run."
    return f"Target R-peak Se >= {100 * goal:g} % at {level:g} dB SNR (noisy segments, pooled): " + ", ".join(parts) + "."


def markdown(doc: dict, conditions: list[str]) -> str:
    res, cfg = doc["results"], doc["config"]
    dbs = [d for d in res["noisy"] if d != POOLED]
    per_db = ", ".join(f"{d} {doc['records_per_db'][d]}" for d in dbs)
    head = [f"# ECG noise stress test ({cfg['model']})", "",
            f"Records: {doc['n_records']} ({per_db}), "
            f"{doc['signal_seconds'] / 3600:.2f} h of signal per condition"
            + (f" (each record truncated to its first {cfg['max_seconds']:g} s)" if cfg["max_seconds"] else "")
            + f", {doc['noisy_seconds'] / 3600:.2f} h of it noisy. Noise seed {cfg['seed']}; SNR as nst defines it "
            f"(calibration check: max |measured - requested| = {doc['snr_error_db_max']:.2g} dB). "
            f"Wall time {doc['wall_seconds']:.0f} s ({cfg['jobs']} process(es)).", "",
            target_line(res["noisy"][POOLED], cfg["noise"]), ""]
    body = []
    for scope in SCOPES:
        for db in MD_SCOPES[scope] or [POOLED, *dbs]:
            name = "DS1 + SVDB" if db == POOLED else db
            body += [f"## {name}, {SCOPE_TITLE[scope]}", "", table(res[scope][db], conditions), ""]
    return "\n".join(head + body)


def plot(out: Path, res: dict, noise: list[str], levels: list[float]) -> list[Path]:
    """Se and +P against SNR (noisy segments, pooled): one panel per metric family, one line per
    noise type and statistic; the rightmost point of each line is the clean record."""
    x_clean = max(levels) + 6.0
    xs = sorted(levels) + [x_clean]
    panels = []
    for fam, title in (("rpeak", "R-peak"), ("V", "V beats"), ("S", "S beats")):
        curves = {}
        for kind in noise:
            for stat, lab in (("se", "Se"), ("ppv", "+P")):
                ys = [res[f"{kind}@{lv:g}"][fam][stat] for lv in sorted(levels)] + [res[CLEAN][fam][stat]]
                curves[f"{kind} {lab}"] = (xs, [100 * (v or 0.0) for v in ys])
        lo = min(min(y) for _, y in curves.values())
        ylim = (max(v for v in (0.0, 50.0, 75.0, 90.0, 95.0) if v <= lo), 100.0)  # round ticks
        panels.append(line_plot(out / f"ecg_noise_{fam}.png", curves, title=f"{title} Se / +P (%), noisy segments",
                                xlabel=f"SNR dB ({x_clean:g} = clean)", ylabel="%", ylim=ylim, size=(640, 480)))
    import cv2

    img = cv2.hconcat([cv2.imread(str(p)) for p in panels])
    return [save_png(out / "ecg_noise.png", img), *panels]


# ----------------------------------------------------------------------------- main
def find_records(data: Path, names, databases) -> list[tuple[str, Path]]:
    if not data.is_dir():
        raise SystemExit(f"bench_ecg_noise: data folder {data} not found (expected {data}/mitdb and/or {data}/svdb; "
                         "see ../shared/data/README.md)")
    out = []
    for db in databases:
        folder = data / DATABASES[db]
        if not folder.is_dir():
            print(f"bench_ecg_noise: {folder} not found; {db} skipped", file=sys.stderr)
            continue
        out += [(db, p) for p in list_records(folder)]
    if names:
        wanted = {str(r) for r in names}
        out = [(d, p) for d, p in out if p.name in wanted]
        missing = wanted - {p.name for _, p in out}
        if missing:
            raise SystemExit(f"bench_ecg_noise: record(s) {sorted(missing)} not found under {data}")
    if not out:
        raise SystemExit(f"bench_ecg_noise: no WFDB records with .atr under {data}/{{{','.join(DATABASES.values())}}}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", help="folder holding mitdb/ and svdb/")
    ap.add_argument("--model", default="builtin:ecg")
    ap.add_argument("--out", default="runs/bench/ecg_noise", help="output folder")
    ap.add_argument("--databases", nargs="+", default=list(DATABASES), choices=list(DATABASES))
    ap.add_argument("--records", nargs="*", default=None, help="record names (default: every record)")
    ap.add_argument("--levels", nargs="+", type=float, default=list(LEVELS), help="SNR levels in dB")
    ap.add_argument("--noise", nargs="+", default=list(en.ALL_NOISE), choices=list(en.ALL_NOISE))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=None, help="truncate every record (> 300 s: the learning period)")
    ap.add_argument("--lead", default=None, help="lead name or index (default: the lead table, edge/ecg/io.py)")
    ap.add_argument("--quality", choices=("on", "off"), default="on",
                    help="signal quality on (the device's default: beats in unreadable stretches come out Q) or "
                         "off (the classifier's answer for every beat)")
    ap.add_argument("--tolerance", type=float, default=0.15, help="beat matching window, s")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (one record each at a time)")
    ap.add_argument("--from-json", default=None, help="rewrite the markdown and plots of an earlier run's "
                    "ecg_noise.json into --out (no classification)")
    args = ap.parse_args(argv)
    if args.from_json:
        return write_outputs(Path(args.out), json.loads(Path(args.from_json).read_text()))
    if args.max_seconds is not None and args.max_seconds <= en.LEARN_S + 1:
        ap.error(f"--max-seconds must exceed the {en.LEARN_S:g} s learning period (noise starts at 300 s)")
    lead = int(args.lead) if args.lead is not None and args.lead.isdigit() else args.lead
    recs = find_records(Path(args.data), args.records, args.databases)
    levels = sorted({float(v) for v in args.levels}, reverse=True)
    noise = list(dict.fromkeys(args.noise))
    conditions = [CLEAN] + [cond_key(k, lv) for k in noise for lv in levels]
    jobs = [{"db": db, "path": str(p), "lead": lead, "max_seconds": args.max_seconds, "noise": noise, "levels": levels,
             "seed": args.seed, "tolerance": args.tolerance, "quality": args.quality == "on"} for db, p in recs]
    print(f"bench_ecg_noise: {len(jobs)} records x {len(conditions)} conditions, {args.jobs} process(es)", file=sys.stderr)
    t0 = time.perf_counter()
    per_record = []
    if args.jobs <= 1:
        _init_worker(args.model)
        for i, j in enumerate(jobs):
            per_record.append(run_record(j))
            print(f"  {i + 1}/{len(jobs)} {j['db']} {Path(j['path']).name} {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    else:
        with ProcessPoolExecutor(args.jobs, initializer=_init_worker, initargs=(args.model,)) as ex:
            for i, r in enumerate(ex.map(run_record, jobs)):
                per_record.append(r)
                print(f"  {i + 1}/{len(jobs)} {r['db']} {r['record']} {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    wall = time.perf_counter() - t0
    results = aggregate(per_record, conditions)
    doc = {
        "config": {"data": str(args.data), "model": str(args.model), "databases": args.databases, "levels": levels,
                   "noise": noise, "seed": args.seed, "max_seconds": args.max_seconds, "lead": args.lead,
                   "tolerance_s": args.tolerance, "jobs": args.jobs, "quality": args.quality,
                   "protocol": {"learn_s": en.LEARN_S, "segment_s": en.SEGMENT_S},
                   "snr": "nst: S = (trimmed-mean QRS peak-to-peak, +-50 ms, first 300 normal beats)^2 / 8; "
                          "N = (trimmed mean of 1-s chunk RMS about the chunk mean)^2, over the noisy segments"},
        "n_records": len(per_record),
        "records_per_db": {d: sum(r["db"] == d for r in per_record) for d in DATABASES},
        "signal_seconds": sum(r["seconds"] for r in per_record),
        "noisy_seconds": sum(r["noisy_seconds"] for r in per_record),
        "snr_error_db_max": max(r["snr_error_db"] for r in per_record),
        "classify_seconds": sum(r["classify_s"] for r in per_record),
        "wall_seconds": wall,
        "results": results,
        "records": {f"{r['db']}/{r['record']}": {
            "seconds": r["seconds"], "qrs_pp_mv": round(r["qrs_pp_mv"], 4),
            "rpeak": {c: {s: [r["conditions"][c][s][k] for k in ("tp", "fn", "fp")] for s in SCOPES} for c in conditions}}
            for r in per_record},
    }
    return write_outputs(Path(args.out), doc)


def write_outputs(out: Path, doc: dict) -> int:
    cfg = doc["config"]
    conditions = [CLEAN] + [cond_key(k, lv) for k in cfg["noise"] for lv in cfg["levels"]]
    md = markdown(doc, conditions)
    atomic_write_json(out / "ecg_noise.json", doc)
    atomic_write_text(out / "ecg_noise.md", md + "\n")
    plot(out, doc["results"]["noisy"][POOLED], cfg["noise"], cfg["levels"])
    print(md)
    print(f"\nwrote {out}/ecg_noise.md, ecg_noise.json, ecg_noise.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
