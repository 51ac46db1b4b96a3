"""ECG evaluation report files: markdown, confusion-matrix PNG, ECG strip PNG with beat labels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgecnn.edge.core.fileio import atomic_write_json, atomic_write_text
from edgecnn.edge.core.plots import color, confusion_png, save_png
from edgecnn.edge.ecg.io import AAMI_CLASSES, aami_class
from edgecnn.edge.ecg.runtime import ECGParams
from edgecnn.edge.ecg.signal import filter_ecg

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def markdown(result: dict) -> str:
    """The evaluation as a markdown page."""
    rp = result["rpeak"]
    lines = ["# ECG evaluation", "",
             f"- records: {len(result.get('records', {}))}, signal {result.get('signal_seconds', 0):.0f} s, "
             f"edge path {result.get('realtime_factor')}x real time",
             f"- R peaks (150 ms): Se {100 * rp['se']:.2f} %, +P {100 * rp['ppv']:.2f} % "
             f"(TP {rp['tp']}, FN {rp['fn']}, FP {rp['fp']})",
             f"- macro-F1 ({', '.join(result.get('macro_classes', []))}): {result['macro_f1']:.4f}, "
             f"accuracy {result['accuracy']:.4f}", "",
             "| class | support | Se % | +P % | F1 |", "|---|---:|---:|---:|---:|"]
    for lab, m in result["per_class"].items():
        lines.append(f"| {lab} | {m['support']} | {_pct(m['se'])} | {_pct(m['ppv'])} | {_num(m['f1'])} |")
    labels = result.get("labels", list(AAMI_CLASSES))
    lines += ["", "Confusion matrix (rows: reference, columns: predicted)", "",
              "| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for lab, row in zip(labels, result["confusion"], strict=True):
        lines.append(f"| **{lab}** | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "| record | beats | R FN | R FP | macro-F1 | accuracy |", "|---|---:|---:|---:|---:|---:|"]
    for name, r in result.get("records", {}).items():
        lines.append(f"| {name} | {r['beats']} | {r['rpeak_fn']} | {r['rpeak_fp']} | {_num(r['macro_f1'])} | "
                     f"{_num(r['accuracy'])} |")
    return "\n".join(lines) + "\n"


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def _num(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def strip_png(path, x, fs, result, ann_samples, ann_symbols, params: ECGParams, seconds: float = 10.0,
              start_s: float | None = None, size=(1400, 360)) -> Path:
    """An ECG strip (filtered signal) with predicted labels above and reference labels below."""
    w, h = size
    sig = filter_ecg(x, fs, params.filter)
    n = int(seconds * fs)
    if start_s is None:  # show ectopic beats when there are some
        ect = result.sample[np.isin(result.label, ["S", "V", "F"])] if len(result) else []
        start = max(0, int(ect[0] - n // 3)) if len(ect) else 0
    else:
        start = int(start_s * fs)
    seg = sig[start : start + n]
    img = np.full((h, w, 3), 255, np.uint8)
    if len(seg) < 2:
        return save_png(path, img)
    lo, hi = np.percentile(seg, 0.5), np.percentile(seg, 99.5)
    hi = hi if hi > lo else lo + 1
    xs = np.linspace(20, w - 20, len(seg))
    ys = 60 + (1 - (seg - lo) / (hi - lo)) * (h - 130)
    cv2.polylines(img, [np.stack([xs, ys], 1).astype(np.int32)], False, (40, 40, 40), 1, cv2.LINE_AA)
    for t in range(int(seconds) + 1):
        px = int(20 + t * fs * (w - 40) / max(len(seg) - 1, 1))
        cv2.line(img, (px, h - 45), (px, h - 40), (0, 0, 0), 1)
        cv2.putText(img, f"{start / fs + t:.0f}s", (px - 8, h - 28), _FONT, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    for s, lab in zip(result.sample.tolist(), result.label.tolist(), strict=True):
        if start <= s < start + len(seg):
            px, ci = int(xs[s - start]), AAMI_CLASSES.index(lab) if lab in AAMI_CLASSES else 0
            cv2.line(img, (px, 35), (px, int(ys[s - start])), color(ci), 1)
            cv2.putText(img, lab, (px - 4, 30), _FONT, 0.5, color(ci), 1, cv2.LINE_AA)
    for s, sym in zip(ann_samples.tolist(), ann_symbols.tolist(), strict=True):
        lab = aami_class(sym)
        if lab and start <= s < start + len(seg):
            cv2.putText(img, lab, (int(xs[s - start]) - 4, h - 8), _FONT, 0.45, (90, 90, 90), 1, cv2.LINE_AA)
    cv2.putText(img, "top: model   bottom: reference", (20, 14), _FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return save_png(path, img)


def write_report(folder: Path, result: dict, strip, params: ECGParams, strip_seconds: float) -> None:
    folder = Path(folder)
    atomic_write_json(folder / "eval_ecg.json", result)
    atomic_write_text(folder / "eval_ecg.md", markdown(result))
    confusion_png(folder / "confusion.png", result["confusion"], result.get("labels", list(AAMI_CLASSES)),
                  title="ECG beats (rows: reference)")
    if strip is not None:
        name, x, fs, res, samples, symbols = strip
        strip_png(folder / f"strip_{name}.png", x, fs, res, samples, symbols, params, strip_seconds)
