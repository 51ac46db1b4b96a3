"""ECG evaluation: the same NumPy code judges the Keras model and the int8 model.

For every WFDB record in ``Options.data`` (a folder of ``.hea/.dat/.atr``): detect and classify beats, match
detections to the reference beat annotations within ``Options.tolerance`` (150 ms), then

* R-peak sensitivity (Se) and positive predictivity (+P) against every beat annotation,
  outside ventricular flutter/fibrillation episodes (``[`` ... ``]``), as in ANSI/AAMI EC57;
* per AAMI class Se, +P and F1 over matched beats whose reference has an AAMI class;
  ``macro_f1`` averages F1 over the classes N, S, V, F present in the reference (Q, 8 beats in
  all of DS1, is reported but not averaged, as in de Chazal 2004), ``accuracy`` over all classes;
* the confusion matrix (rows reference, columns predicted).

Signal quality (``Options.quality``, on by default; ``--no-quality``): beats the device reports as
unreadable are scored as predicted Q (that is what it outputs); R-peak detection is unchanged.

JSON keys: ``{"macro_f1", "accuracy", "per_class": {"N": {"se", "ppv", "f1", "support"}, ...},
"rpeak": {"se", "ppv", "tp", "fn", "fp"}, "confusion", "records": {...}}``; with quality also
``"quality": {"usable_s", "usable_fraction", "unreadable_s", "unreadable_beats",
"unreadable_by_reason", "unreadable_matched_beats", "unreadable_model_accuracy" (how often the
model's own class of the beats reported unreadable was right), "readable_only" (the class
metrics of the readable beats alone)}`` and per record ``usable_fraction``, ``unreadable_beats``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.ecg.io import (
    AAMI_CLASSES,
    BEAT_SYMBOLS,
    aami_index,
    list_records,
    read_annotations,
    read_wfdb,
)
from edgecnn.edge.ecg.quality import summary as quality_summary
from edgecnn.edge.ecg.runtime import BeatResult, classify, model_params

MACRO_CLASSES = ("N", "S", "V", "F")


def match_beats(ref: np.ndarray, det: np.ndarray, tol: int) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of reference and detected sample indices within ``tol`` samples.

    Closest pairs first. Returns ``(ref_to_det, det_to_ref)``: index of the partner or -1.
    """
    ref, det = np.asarray(ref, np.int64), np.asarray(det, np.int64)
    r2d, d2r = np.full(len(ref), -1, np.int64), np.full(len(det), -1, np.int64)
    if len(ref) == 0 or len(det) == 0:
        return r2d, d2r
    order = np.argsort(det, kind="stable")
    sdet = det[order]
    lo = np.searchsorted(sdet, ref - tol, side="left")
    hi = np.searchsorted(sdet, ref + tol, side="right")
    counts = hi - lo
    ri = np.repeat(np.arange(len(ref)), counts)
    dj = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)]) if counts.sum() else np.zeros(0, np.int64)
    dist = np.abs(sdet[dj] - ref[ri])
    for k in np.lexsort((dj, ri, dist)):
        i, j = ri[k], order[dj[k]]
        if r2d[i] < 0 and d2r[j] < 0:
            r2d[i], d2r[j] = j, i
    return r2d, d2r


def excluded_mask(samples: np.ndarray, symbols: np.ndarray, n: int) -> np.ndarray:
    """Samples inside ventricular flutter/fibrillation episodes ``[`` ... ``]`` (EC57 excludes them)."""
    mask = np.zeros(n, bool)
    start = None
    for s, y in zip(samples.tolist(), symbols.tolist(), strict=True):
        if y == "[":
            start = s
        elif y == "]" and start is not None:
            mask[max(0, start) : min(n, s + 1)] = True
            start = None
    if start is not None:
        mask[max(0, start) :] = True
    return mask


def class_metrics(confusion: np.ndarray, labels=AAMI_CLASSES) -> dict:
    """Se, +P, F1 per class, macro-F1 (N,S,V,F present) and accuracy from a confusion matrix."""
    cm = np.asarray(confusion, np.float64)
    tp = np.diag(cm)
    ref, pred = cm.sum(axis=1), cm.sum(axis=0)
    per = {}
    for i, lab in enumerate(labels):
        se = tp[i] / ref[i] if ref[i] else None
        ppv = tp[i] / pred[i] if pred[i] else (None if not ref[i] else 0.0)
        f1 = 2 * tp[i] / (ref[i] + pred[i]) if ref[i] + pred[i] else None
        per[lab] = {"se": _r(se), "ppv": _r(ppv), "f1": _r(f1), "support": int(ref[i]), "predicted": int(pred[i])}
    f1s = [per[c]["f1"] for c in MACRO_CLASSES if c in per and per[c]["support"] > 0]
    total = cm.sum()
    return {"macro_f1": _r(float(np.mean(f1s)) if f1s else 0.0), "accuracy": _r(tp.sum() / total if total else 0.0),
            "per_class": per, "macro_classes": [c for c in MACRO_CLASSES if c in per and per[c]["support"] > 0]}


def _r(v):
    return None if v is None else round(float(v), 5)


@dataclass(frozen=True)
class BeatMatching:
    """How one record's detections pair with its reference beats, as scored: beat annotations and
    detections outside VF episodes, one-to-one within the tolerance, closest first."""

    n: int  # samples in the record
    ref_sample: np.ndarray  # the reference beats scored (sample indices)
    ref_symbol: np.ndarray  # their annotation symbols
    ref_row: np.ndarray  # the row of the result matched to each reference beat, or -1
    det_row: np.ndarray  # the rows of the result scored (detections outside VF episodes)
    det_sample: np.ndarray  # their sample indices
    det_matched: np.ndarray  # bool per ``det_row``: matched to a reference beat
    pred: np.ndarray  # the result's class id of each row

    def counts(self, where: np.ndarray | None = None) -> dict:
        """R-peak tp/fn/fp and the class confusion (rows reference, columns predicted, matched beats
        whose reference has an AAMI class). ``where``: a bool mask over the record's samples; a
        reference beat (TP or FN, and in the confusion) counts where it lies, an unmatched
        detection (FP) where it lies. Default: the whole record."""
        ref_in = np.ones(len(self.ref_row), bool) if where is None else where[np.clip(self.ref_sample, 0, self.n - 1)]
        det_in = np.ones(len(self.det_row), bool) if where is None else where[np.clip(self.det_sample, 0, self.n - 1)]
        hit = (self.ref_row >= 0) & ref_in
        truth, rows = _with_class(self.ref_symbol[ref_in], self.ref_row[ref_in])
        k = len(AAMI_CLASSES)
        cm = np.zeros((k, k), np.int64)
        np.add.at(cm, (truth, self.pred[rows]), 1)
        return {"tp": int(hit.sum()), "fn": int(((self.ref_row < 0) & ref_in).sum()),
                "fp": int((~self.det_matched & det_in).sum()), "confusion": cm}


def match_peaks(peaks, ann_samples, ann_symbols, n: int, fs: float, tol_s: float = 0.15):
    """R peaks against a record's reference beats, as EC57 scores them: references are the beat
    symbols, and references and detections inside VF / flutter episodes are left out.
    Returns ``(use, rows, r2d, d2r)``: the reference annotations used (bool mask), the rows of
    ``peaks`` kept, and ``match_beats`` on those two."""
    peaks = np.asarray(peaks, np.int64)
    vf = excluded_mask(ann_samples, ann_symbols, n)
    use = np.isin(ann_symbols, list(BEAT_SYMBOLS)) & ~vf[np.clip(ann_samples, 0, n - 1)]
    rows = np.flatnonzero(~vf[np.clip(peaks, 0, n - 1)]) if len(peaks) else np.zeros(0, np.int64)
    r2d, d2r = match_beats(ann_samples[use], peaks[rows], int(round(tol_s * fs)))
    return use, rows, r2d, d2r


def peak_counts(peaks, ann_samples, ann_symbols, n: int, fs: float, tol_s: float = 0.15) -> tuple[int, int, int]:
    """R-peak (tp, fn, fp) of one record (``match_peaks``)."""
    use, rows, r2d, _ = match_peaks(peaks, ann_samples, ann_symbols, n, fs, tol_s)
    tp = int((r2d >= 0).sum())
    return tp, int(use.sum()) - tp, len(rows) - tp


def match_record(result: BeatResult, ann_samples, ann_symbols, n: int, fs: float, tol_s: float = 0.15) -> BeatMatching:
    """Match ``result``'s beats to a record's reference annotations (see :class:`BeatMatching`)."""
    use, rows, r2d, d2r = match_peaks(result.sample, ann_samples, ann_symbols, n, fs, tol_s)
    det = result.sample[rows]
    ref_row = np.full(len(r2d), -1, np.int64)
    ref_row[r2d >= 0] = rows[r2d[r2d >= 0]]
    return BeatMatching(n, ann_samples[use], ann_symbols[use], ref_row, rows, det, d2r >= 0, result.class_id)


def matched_beats(result: BeatResult, ann_samples, ann_symbols, n: int, fs: float,
                  tol_s: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Matched reference beats that have an AAMI class: (class index, row of ``result``), as scored."""
    m = match_record(result, ann_samples, ann_symbols, n, fs, tol_s)
    return _with_class(m.ref_symbol, m.ref_row)


def _with_class(ref_sym: np.ndarray, ref_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    truth = aami_index(ref_sym)
    ok = (ref_row >= 0) & (truth >= 0)
    return truth[ok], ref_row[ok]


def score_record(result: BeatResult, ann_samples, ann_symbols, n: int, fs: float, tol_s: float = 0.15) -> dict:
    """Counts for one record: R-peak tp/fn/fp and the class confusion matrix."""
    return match_record(result, ann_samples, ann_symbols, n, fs, tol_s).counts()


def rpeak_se_ppv(tp: int, fn: int, fp: int) -> tuple[float | None, float | None]:
    """R-peak sensitivity and positive predictivity from counts; None where undefined (no beats)."""
    return (tp / (tp + fn) if tp + fn else None, tp / (tp + fp) if tp + fp else None)


@dataclass(frozen=True)
class Options:
    """What to evaluate and how; ``edgecnn eval`` fills it from its flags (same names)."""

    data: str  # a folder of WFDB records with .atr reference annotations
    records: tuple[str, ...] | None = None  # record names (default: every record with a .atr)
    lead: str | int | None = None  # lead name or index (default: the lead table, edge/ecg/io.py LEAD_TABLE)
    tolerance: float = 0.15  # beat matching window, seconds
    strip_seconds: float = 10.0  # length of the ECG strip PNG in the report
    report: str | None = None  # a folder for eval.md and PNGs (the caller makes it atomic)
    quality: bool = True  # assess signal quality: beats in unreadable stretches are predicted Q


def add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--records", nargs="*", default=None, help="record names to evaluate (default: every record with a .atr)")
    p.add_argument("--lead", default=None, help="lead name or index (default: the lead table MLII, ML2, II, ECG1)")
    p.add_argument("--tolerance", type=float, default=0.15, help="beat matching window in seconds (default 0.15)")
    p.add_argument("--strip-seconds", type=float, default=10.0, help="length of the ECG strip PNG in the report")
    p.add_argument("--no-quality", dest="quality", action="store_false",
                   help="do not assess signal quality (default: beats in unreadable stretches are predicted Q)")


def _records(opts: Options) -> list:
    data = str(opts.data)
    if data.startswith("builtin:"):
        raise InputDataError(f"{data}: ECG evaluation reads a folder of WFDB records; write synthetic ones "
                             "with `python -m edgecnn.edge.ecg.synthetic --out DIR`")
    recs = list_records(data)
    if opts.records:
        wanted = {str(r) for r in opts.records}
        recs = [r for r in recs if r.name in wanted]
        missing = wanted - {r.name for r in recs}
        if missing:
            raise InputDataError(f"{data}: record(s) {sorted(missing)} not found (need .hea, .dat and .atr)")
    if not recs:
        raise InputDataError(f"{data}: no WFDB records with .atr annotations found")
    return recs


def _load(rec: Path, lead):
    r = read_wfdb(rec, lead)
    ann = read_annotations(rec)
    return r.name, r.signal, r.fs, ann.sample, ann.symbol


def evaluate(model, opts: Options) -> dict:
    """Metrics over every record in ``opts.data`` (see the module docstring)."""
    params = model_params(model)
    total_cm = np.zeros((len(AAMI_CLASSES),) * 2, np.int64)
    tp = fn = fp = 0
    per_record, seconds, wall = {}, 0.0, 0.0
    strip = None
    stretches, unreadable = [], 0
    cm_readable = np.zeros_like(total_cm)
    flagged = [0, 0]  # matched reference beats reported unreadable; of them, the model's own class right
    for rec in _records(opts):
        name, x, fs, samples, symbols = _load(rec, opts.lead)
        t0 = time.perf_counter()
        result = classify(model, x, fs, params, quality=opts.quality)
        wall += time.perf_counter() - t0
        seconds += len(x) / fs
        s = score_record(result, samples, symbols, len(x), fs, opts.tolerance)
        tp, fn, fp = tp + s["tp"], fn + s["fn"], fp + s["fp"]
        total_cm += s["confusion"]
        m = class_metrics(s["confusion"])
        per_record[name] = {"beats": int(s["confusion"].sum()), "rpeak_fn": s["fn"], "rpeak_fp": s["fp"],
                            "macro_f1": m["macro_f1"], "accuracy": m["accuracy"]}
        if result.windows is not None:
            q = quality_summary(result.stretches, len(x) / fs, int((~result.readable).sum()))
            per_record[name].update(usable_fraction=q["usable_fraction"], unreadable_beats=q["unreadable_beats"])
            stretches += result.stretches
            unreadable += q["unreadable_beats"]
            truth, rows = matched_beats(result, samples, symbols, len(x), fs, opts.tolerance)
            ok = result.readable[rows]
            np.add.at(cm_readable, (truth[ok], result.class_id[rows[ok]]), 1)
            flagged[0] += int((~ok).sum())
            flagged[1] += int(np.sum(result.probs[rows[~ok]].argmax(axis=1) == truth[~ok]))
        if strip is None:
            strip = (name, x, fs, result, samples, symbols)
    out = class_metrics(total_cm)
    se, ppv = rpeak_se_ppv(tp, fn, fp)
    out["rpeak"] = {"se": _r(0.0 if se is None else se), "ppv": _r(0.0 if ppv is None else ppv),
                    "tp": tp, "fn": fn, "fp": fp}
    out.update(confusion=total_cm.tolist(), labels=list(AAMI_CLASSES), records=per_record,
               signal_seconds=round(seconds, 1), wall_seconds=round(wall, 3),
               realtime_factor=round(seconds / wall, 1) if wall else None)
    if opts.quality:
        q = quality_summary(stretches, seconds, unreadable)
        m = class_metrics(cm_readable)
        out["quality"] = {**{k: v for k, v in q.items() if k != "stretches"},
                          "unreadable_matched_beats": flagged[0],
                          "unreadable_model_accuracy": _r(flagged[1] / flagged[0]) if flagged[0] else None,
                          "readable_only": {"macro_f1": m["macro_f1"], "accuracy": m["accuracy"],
                                            "per_class": {c: {"se": v["se"], "ppv": v["ppv"], "support": v["support"]}
                                                          for c, v in m["per_class"].items()}}}
    if opts.report:
        from edgecnn.edge.ecg.report import write_report

        write_report(Path(opts.report), out, strip, params, opts.strip_seconds)
    return out
