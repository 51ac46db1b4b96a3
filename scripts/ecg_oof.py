"""Out-of-fold beat probabilities of an ECG cross-validation (scripts/ecg_cv2.sh or scripts/real_ecg.sh).

    python scripts/ecg_oof.py RUNS DATA [--folds K] [--kinds int8 float] [--out RUNS/oof.npz] [--check]

``RUNS/fold$i`` holds ``model.keras`` (+ ``model.keras.json`` naming the held-out records in
``provenance.validation_records``) and ``model_int8.tflite``; ``DATA`` is the folder the records are
named from (``../shared/data`` for ``mitdb/101``, ``svdb/800``; ``../shared/data/mitdb`` for ``101``).
Each held-out record goes through the device path exactly as ``edgecnn eval --no-quality`` scores it
(:func:`edgecnn.edge.ecg.runtime.classify` with ``quality=False``: own R-peak detection, beats matched
to the reference within 150 ms by :func:`edgecnn.edge.ecg.evaluate.matched_beats`). Signal quality is
off so that runs made before and after it was added compare beat for beat.

Saved per matched beat with an AAMI class: ``y`` (class index), ``p_int8`` / ``p_float`` (n, 5),
``record`` (``db/name``), ``db``, ``fold``, ``sample`` (detected R), ``rr_raw`` (the 8 recipe RR
columns before normalisation, for analysis) and ``rhythm`` (the reference rhythm label in force, from
the ``.atr`` aux notes, e.g. ``(N``, ``(AFIB``, ``(SVTA``; svdb has none: ""); per record the R-peak
``tp``/``fn``/``fp`` (``rp_record``, ``rp_counts``). ``--check``: each fold's argmax confusion per
database is compared with its ``eval_model[_int8]_DB.json`` (or ``eval_model[_int8].json``) where one
exists and the differing cells are listed (an eval made with signal quality on predicts Q in unreadable
stretches); ``--check strict`` stops at a difference.
Also writes the pooled table per database (:func:`summary_rows`) beside the .npz (``oof.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from edgecnn.edge.core.fileio import atomic_write_npz, atomic_write_text
from edgecnn.edge.ecg.evaluate import class_metrics, matched_beats, score_record
from edgecnn.edge.ecg.io import AAMI_CLASSES, read_annotations, read_wfdb
from edgecnn.edge.ecg.runtime import classify, model_params
from edgecnn.edge.ecg.signal import RRConfig, pre_post_rr, rr_features

MODELS = {"int8": "model_int8.tflite", "float": "model.keras"}
EVAL_STEM = {"int8": "model_int8", "float": "model"}


def held_out(fold_dir: Path) -> list[str]:
    side = fold_dir / "model.keras.json"
    recs = json.loads(side.read_text()).get("provenance", {}).get("validation_records")
    if not recs:
        raise SystemExit(f"{side}: provenance.validation_records missing or empty; expected the held-out records")
    return [str(r) for r in recs]


def rhythm_at(base: Path, samples: np.ndarray) -> np.ndarray:
    """The reference rhythm label (aux note of the last ``+`` annotation) at each sample; "" without wfdb."""
    try:
        import wfdb
    except ImportError:
        return np.full(len(samples), "")
    ann = wfdb.rdann(str(base), "atr")
    sym = np.asarray(ann.symbol)
    pos = np.asarray(ann.sample)[sym == "+"]
    notes = np.asarray([str(a).strip("\x00 ") for a, s in zip(ann.aux_note, sym, strict=True) if s == "+"])
    if not len(pos):
        return np.full(len(samples), "")
    i = np.searchsorted(pos, samples, side="right") - 1
    return np.where(i >= 0, notes[np.maximum(i, 0)], "")


def record_beats(models: dict, data: Path, name: str) -> dict:
    """Matched beats of one record for every model (same detector: same beats), and R-peak counts."""
    base = data / name
    sig, ann = read_wfdb(base), read_annotations(base)
    out: dict = {}
    ref = None
    for kind, (model, params) in models.items():
        result = classify(model, sig.signal, sig.fs, params, quality=False)
        y, rows = matched_beats(result, ann.sample, ann.symbol, len(sig.signal), sig.fs)
        s = score_record(result, ann.sample, ann.symbol, len(sig.signal), sig.fs)
        if ref is None:
            ref = (result.sample, y, rows)
            pre, post = pre_post_rr(result.sample, sig.fs, RRConfig(), n_samples=len(sig.signal))
            out.update(y=y, sample=result.sample[rows], rr_raw=rr_features(pre, post, RRConfig())[rows],
                       rhythm=rhythm_at(base, result.sample[rows]), rp=(s["tp"], s["fn"], s["fp"]))
        elif not (np.array_equal(result.sample, ref[0]) and np.array_equal(rows, ref[2])):
            raise SystemExit(f"{base}: the {kind} model detects other beats than the first model (detector params differ?)")
        out[f"p_{kind}"] = result.probs[rows].astype(np.float32)
    return out


def confusion(y: np.ndarray, pred: np.ndarray, k: int = len(AAMI_CLASSES)) -> np.ndarray:
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def check_fold(fold_dir: Path, beats: dict, kinds: list[str], strict: bool = False) -> list[str]:
    """Compare the fold's argmax confusion per database with its eval JSON files; lines saying what matched
    (``strict``: stop at the first difference)."""
    said = []
    for kind in kinds:
        for db in np.unique(beats["db"]):
            sel = beats["db"] == db
            names = [f"eval_{EVAL_STEM[kind]}_{db}.json"] + ([f"eval_{EVAL_STEM[kind]}.json"] if db == "" else [])
            found = [fold_dir / n for n in names if (fold_dir / n).is_file()]
            if not found:
                said.append(f"{fold_dir.name} {kind} {db or '-'}: no eval JSON to check against")
                continue
            want = np.array(json.loads(found[0].read_text())["confusion"])
            got = confusion(beats["y"][sel], beats[f"p_{kind}"][sel].argmax(axis=1))
            if np.array_equal(want, got):
                said.append(f"{fold_dir.name} {kind} {db or '-'}: confusion equals {found[0].name}")
                continue
            if strict:
                raise SystemExit(f"{found[0]}: confusion differs from the recomputed one:\n{want}\nvs\n{got}")
            cells = [f"{AAMI_CLASSES[i]}->{AAMI_CLASSES[j]} {want[i, j]} vs {got[i, j]}"
                     for i, j in zip(*np.nonzero(want != got), strict=True)]
            said.append(f"{fold_dir.name} {kind} {db or '-'}: DIFFERS from {found[0].name} (file vs now): "
                        + ", ".join(cells))
    return said


def fold_beats(runs: Path, data: Path, fold: int, kinds: list[str], check: str | None) -> dict:
    from edgecnn.edge.core.loader import open_model

    if "float" in kinds:
        import edgecnn.train.core.keras_model  # noqa: F401  (registers the .keras opener)
    d = runs / f"fold{fold}"
    records = held_out(d)
    models = {}
    for kind in kinds:
        m = open_model(d / MODELS[kind])
        models[kind] = (m, model_params(m))
    per = {}
    t0 = time.perf_counter()
    for r in records:
        per[r] = record_beats(models, data, r)
    keys = ["y", "sample", "rr_raw", "rhythm"] + [f"p_{k}" for k in kinds]
    out = {k: np.concatenate([per[r][k] for r in records]) for k in keys}
    out["record"] = np.concatenate([np.full(len(per[r]["y"]), r) for r in records])
    out["db"] = np.asarray([r.rpartition("/")[0] for r in out["record"]])
    out["fold"] = np.full(len(out["y"]), fold)
    out["rp_record"] = np.asarray(records)
    out["rp_counts"] = np.asarray([per[r]["rp"] for r in records], np.int64)
    print(f"fold {fold}: {len(out['y'])} beats of {len(records)} records, {time.perf_counter() - t0:.0f} s",
          file=sys.stderr, flush=True)
    if check:
        for line in check_fold(d, out, kinds, strict=check == "strict"):
            print("  " + line, file=sys.stderr)
    return out


def metrics_row(name: str, cm: np.ndarray, rp: np.ndarray | None) -> str:
    """One markdown row: R Se/+P, N/S/V/F Se/+P, macro-F1 (N, S, V, F), accuracy."""
    m = class_metrics(cm)
    pc = m["per_class"]
    cells = [f"{100 * (pc[c]['se'] or 0):.1f}/{100 * (pc[c]['ppv'] or 0):.1f}" for c in "NSVF"]
    if rp is None:
        r = "- | -"
    else:
        tp, fn, fp = (int(v) for v in rp.sum(axis=0))
        r = f"{100 * tp / max(tp + fn, 1):.2f} | {100 * tp / max(tp + fp, 1):.2f}"
    return f"| {name} | {int(cm.sum())} | {r} | " + " | ".join(cells) + f" | {m['macro_f1']:.4f} | {m['accuracy']:.4f} |"


HEADER = ("| rows | beats | R Se % | R +P % | N Se/+P % | S Se/+P % | V Se/+P % | F Se/+P % | macro-F1 | acc |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def summary_rows(d: dict, kinds, label: str = "") -> list[str]:
    """Rows per database then pooled, for each kind (``p_int8``, ``p_float``) in the arrays ``d``."""
    rows = []
    dbs = sorted(set(d["db"].tolist()))
    rec_db = np.asarray([r.rpartition("/")[0] for r in d["rp_record"]])
    for kind in kinds:
        pred = d[f"p_{kind}"].argmax(axis=1)
        for db in dbs + (["pooled"] if len(dbs) > 1 else []):
            sel = np.ones(len(pred), bool) if db == "pooled" else d["db"] == db
            rsel = np.ones(len(rec_db), bool) if db == "pooled" else rec_db == db
            rows.append(metrics_row(f"{label}{db or 'all'}, {kind}", confusion(d["y"][sel], pred[sel]),
                                    d["rp_counts"][rsel]))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, help="the CV folder (fold0, fold1, ...)")
    ap.add_argument("data", type=Path, help="the data folder the held-out record names are relative to")
    ap.add_argument("--folds", type=int, default=None, help="number of folds (default: every foldN folder)")
    ap.add_argument("--kinds", nargs="+", default=["int8"], choices=sorted(MODELS), help="models (default int8)")
    ap.add_argument("--out", type=Path, default=None, help="default RUNS/oof.npz")
    ap.add_argument("--check", nargs="?", const="report", choices=("report", "strict"), default=None,
                    help="compare with the eval JSON files of each fold: report differences (default) or stop "
                         "at one (strict); an eval made with signal quality on predicts Q in unreadable stretches")
    args = ap.parse_args(argv)
    folds = args.folds if args.folds is not None else len(list(args.runs.glob("fold[0-9]*")))
    per = [fold_beats(args.runs, args.data, i, args.kinds, args.check) for i in range(folds)]
    arrays = {k: np.concatenate([f[k] for f in per]) for k in per[0]}
    arrays["labels"] = np.asarray(AAMI_CLASSES)
    out = args.out or args.runs / "oof.npz"
    atomic_write_npz(out, arrays, compressed=True)
    table = "\n".join([HEADER, *summary_rows(arrays, args.kinds)])
    atomic_write_text(out.with_suffix(".md"), f"# {args.runs}: out-of-fold, quality off\n\n{table}\n")
    print(table)
    print(f"wrote {out}: {len(arrays['y'])} beats", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
