"""Labelled beats from WFDB records (MIT-BIH layout) for training, through the ``wfdb`` package.

* the de Chazal et al. (IEEE TBME 2004) inter-patient split: DS1 (train) / DS2 (test), paced
  records 102 104 107 217 excluded (ANSI/AAMI EC57);
* patient-wise K-fold within a list of records (records of one patient stay together);
* beats are found by the device's own R-peak detector and labelled with the AAMI class of the
  reference annotation within 150 ms, so training sees exactly what the device will see;
* signals at any ``fs`` (the beat windows are resampled to the model's ``fs`` by the shared
  preprocessing in :mod:`edgecnn.edge.ecg.runtime`); :func:`edgecnn.edge.ecg.signal.resample` for whole signals.

The AAMI class map lives in :mod:`edgecnn.edge.ecg.io` (the device evaluation needs it too).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.ecg.evaluate import match_beats
from edgecnn.edge.ecg.io import aami_index
from edgecnn.edge.ecg.rpeaks import detect_rpeaks
from edgecnn.edge.ecg.runtime import ECGParams, beat_inputs, check_signal, is_flat

DS1 = ("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124", "201", "203",
       "205", "207", "208", "209", "215", "220", "223", "230")
DS2 = ("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212", "213", "214",
       "219", "221", "222", "228", "231", "232", "233", "234")
PACED = ("102", "104", "107", "217")
SAME_PATIENT = {"202": "201"}  # MIT-BIH records 201 and 202 come from one patient
SPLITS = {"DS1": DS1, "DS2": DS2}


@dataclass(frozen=True)
class BeatSet:
    """Beats ready for the model: raw (un-normalised) RR features; labels are AAMI class ids."""

    beat: np.ndarray  # (n, W, 1) float32
    rr: np.ndarray  # (n, K) float32, before normalisation
    label: np.ndarray  # (n,) int64
    record: np.ndarray  # (n,) record name per beat

    def __len__(self) -> int:
        return len(self.label)

    def subset(self, mask) -> BeatSet:
        return BeatSet(self.beat[mask], self.rr[mask], self.label[mask], self.record[mask])

    @staticmethod
    def concat(parts: list[BeatSet]) -> BeatSet:
        if not parts:
            raise InputDataError("no beats found in the given records")
        return BeatSet(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("beat", "rr", "label", "record")))


def resolve_records(data_dir, records=None) -> list[str]:
    """Record names: explicit list, a split name (DS1/DS2), or every record with .hea+.atr."""
    d = Path(data_dir)
    if not d.is_dir():
        raise InputDataError(f"--data {d}: not a folder of WFDB records")
    names: list[str] = []
    for item in records or []:
        names += list(SPLITS.get(str(item).upper(), [str(item)]))
    available = sorted(h.stem for h in d.glob("*.hea") if h.with_suffix(".atr").is_file())
    if not names:
        return available
    missing = [n for n in names if n not in available]
    if missing:
        raise InputDataError(f"--data {d}: record(s) {missing} missing (need .hea, .dat and .atr); found {available}")
    return names


def patient_folds(records, k: int, seed: int = 0) -> list[list[str]]:
    """Split records into ``k`` patient-disjoint folds (records of one patient stay together)."""
    if k < 2:
        raise ValueError(f"folds must be >= 2, got {k}")
    groups: dict[str, list[str]] = {}
    for r in records:
        groups.setdefault(SAME_PATIENT.get(str(r), str(r)), []).append(str(r))
    keys = sorted(groups)
    if len(keys) < k:
        raise ValueError(f"folds ({k}) must not exceed the number of patients ({len(keys)})")
    order = np.random.default_rng(seed).permutation(len(keys))
    folds: list[list[str]] = [[] for _ in range(k)]
    for i, g in enumerate(order):
        folds[i % k].extend(groups[keys[g]])
    return [sorted(f) for f in folds]


def read_labelled(path, lead=None) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """(signal in physical units, fs, annotation samples, symbols) through the wfdb package."""
    import wfdb

    base = str(Path(path).with_suffix("")) if Path(path).suffix in (".hea", ".dat", ".atr") else str(path)
    try:
        header = wfdb.rdheader(base)
        names = list(header.sig_name or [])
        channel = 0 if lead is None else (int(lead) if str(lead).isdigit() else names.index(lead))
        rec = wfdb.rdrecord(base, channels=[channel])
        ann = wfdb.rdann(base, "atr")
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{base}: cannot read WFDB record ({exc})") from None
    return rec.p_signal[:, 0].astype(np.float64), float(rec.fs), np.asarray(ann.sample, np.int64), np.asarray(ann.symbol)


def label_beats(rpeaks, ann_samples, ann_symbols, fs: float, tol_s: float = 0.15) -> np.ndarray:
    """AAMI class id of each detected beat from the reference within ``tol_s``; -1 if none."""
    cls = aami_index(ann_symbols)
    beats = cls >= 0
    _, d2r = match_beats(ann_samples[beats], rpeaks, int(round(tol_s * fs)))
    out = np.full(len(rpeaks), -1, np.int64)
    out[d2r >= 0] = cls[beats][d2r[d2r >= 0]]
    return out


def record_beats(name: str, x, fs: float, ann_samples, ann_symbols, params: ECGParams) -> BeatSet:
    """Detect, label and preprocess the beats of one record (unlabelled detections dropped)."""
    x, fs = check_signal(x, fs, name)
    if is_flat(x):
        raise InputDataError(f"{name}: flat signal, no beats")
    r = detect_rpeaks(x, fs, params.detector, params.detector_config)
    inputs = beat_inputs(x, fs, r, replace(params, rr_mean=(), rr_std=()))
    y = label_beats(r, ann_samples, ann_symbols, fs)
    keep = y >= 0
    return BeatSet(inputs["beat"][keep], inputs["rr"][keep], y[keep], np.full(int(keep.sum()), name))


def load_beats(data_dir, records, params: ECGParams, lead=None) -> BeatSet:
    """BeatSet over the named records of a WFDB folder."""
    parts = []
    for name in records:
        x, fs, samples, symbols = read_labelled(Path(data_dir) / name, lead)
        parts.append(record_beats(name, x, fs, samples, symbols, params))
    return BeatSet.concat(parts)
