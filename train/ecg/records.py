"""Labelled beats from WFDB records (MIT-BIH layout) for training, through the ``wfdb`` package.

* the de Chazal et al. (IEEE TBME 2004) inter-patient split: DS1 (train) / DS2 (test), paced
  records 102 104 107 217 excluded (ANSI/AAMI EC57);
* one database folder (``--data .../mitdb``: records named ``101``) or a folder of database
  folders (``--data ../shared/data`` with ``mitdb/`` and ``svdb/``: records named ``mitdb/101``,
  ``svdb/800``); ``--records`` takes names, DS1/DS2 (mitdb) and database names (``SVDB``: every
  record of ``svdb/``), see :func:`resolve_records`;
* patient-wise K-fold within a list of records (records of one patient stay together), stratified
  by database (every fold gets records of every database that has at least K patients);
* the lead of each record from the device's lead table (:func:`edgecnn.edge.ecg.io.choose_lead`:
  MLII, ML2, II, ECG1 — not silently the first signal);
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
from edgecnn.edge.ecg.io import aami_index, choose_lead
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


def database_folders(data_dir) -> dict[str, Path]:
    """``{name: folder}`` of the database folders under ``data_dir`` (sub-folders holding WFDB records
    with .atr), or ``{}`` when ``data_dir`` itself holds records (the one-database layout)."""
    d = Path(data_dir)
    if not d.is_dir():
        raise InputDataError(f"--data {d}: not a folder of WFDB records")
    if _record_names(d):
        return {}
    return {sub.name: sub for sub in sorted(d.iterdir()) if sub.is_dir() and _record_names(sub)}


def _record_names(folder: Path) -> list[str]:
    return sorted(h.stem for h in folder.glob("*.hea") if h.with_suffix(".atr").is_file())


def resolve_records(data_dir, records=None) -> list[str]:
    """Record names in ``data_dir``, in the order asked, each once.

    One database folder (records directly in ``data_dir``): explicit names, DS1/DS2, the folder's own
    name (``SVDB`` for ``.../svdb``: all its records), default every record with .hea+.atr.
    A folder of database folders (``../shared/data`` with ``mitdb/``, ``svdb/``): names come back as
    ``DB/NAME``; ``DS1``/``DS2`` are records of ``mitdb/``, a database name (``SVDB``, ``MITDB``, any
    case) is every record of that folder, ``DB/NAME`` one record, a bare ``NAME`` the record of that
    name if one database has it; default every record of every database folder.
    """
    d = Path(data_dir)
    dbs = database_folders(d)
    if not dbs:
        return _resolve_flat(d, records)
    available = {db: _record_names(folder) for db, folder in dbs.items()}
    lower = {db.lower(): db for db in dbs}
    names: list[str] = []
    for item in records or []:
        item = str(item)
        if item.upper() in SPLITS:
            if "mitdb" not in dbs:
                raise InputDataError(f"--data {d}: {item.upper()} is a MIT-BIH Arrhythmia split, but there is no "
                                     f"mitdb/ folder (database folders: {sorted(dbs)})")
            names += [f"mitdb/{r}" for r in SPLITS[item.upper()]]
        elif item.lower() in lower:
            db = lower[item.lower()]
            names += [f"{db}/{r}" for r in available[db]]
        elif "/" in item:
            names.append(item)
        else:
            hits = [f"{db}/{item}" for db in dbs if item in available[db]]
            if len(hits) > 1:
                raise InputDataError(f"--data {d}: record {item!r} is in several databases {hits}; name one")
            names.append(hits[0] if hits else item)
    if not names:
        return [f"{db}/{r}" for db in dbs for r in available[db]]
    missing = [n for n in names if n.partition("/")[2] not in available.get(n.partition("/")[0], ())]
    if missing:
        raise InputDataError(f"--data {d}: record(s) {missing} missing (need .hea, .dat and .atr); database "
                             f"folders {sorted(dbs)}; sets DS1, DS2 (mitdb) and the database names")
    return list(dict.fromkeys(names))


def _resolve_flat(d: Path, records) -> list[str]:
    available = _record_names(d)
    names: list[str] = []
    for item in records or []:
        item = str(item)
        if item.upper() in SPLITS:
            names += list(SPLITS[item.upper()])
        elif item.lower() == d.resolve().name.lower():
            names += available
        else:
            names.append(item)
    if not names:
        return available
    missing = [n for n in names if n not in available]
    if missing:
        raise InputDataError(f"--data {d}: record(s) {missing} missing (need .hea, .dat and .atr); found {available}")
    return list(dict.fromkeys(names))


def database_of(name: str) -> str:
    """The database of a record name (``svdb/800`` -> ``svdb``; ``101`` -> ``""``, one-folder layout)."""
    return str(name).rpartition("/")[0]


def patient_of(name: str) -> str:
    """The patient of a record (one per record, but MIT-BIH 201 and 202 are one patient)."""
    db, _, base = str(name).rpartition("/")
    if db in ("", "mitdb") and base in SAME_PATIENT:
        return f"{db}/{SAME_PATIENT[base]}" if db else SAME_PATIENT[base]
    return str(name)


def patient_folds(records, k: int, seed: int = 0) -> list[list[str]]:
    """Split records into ``k`` patient-disjoint folds (records of one patient stay together).

    Stratified by database (:func:`database_of`): the patients of each database, in a seeded random
    order, are dealt round-robin onto the folds, continuing where the previous database stopped, so
    every fold gets records of every database with >= ``k`` patients and the fold sizes differ by at
    most one patient. With one database this is the earlier unstratified split, fold for fold."""
    if k < 2:
        raise ValueError(f"folds must be >= 2, got {k}")
    groups: dict[str, list[str]] = {}
    for r in records:
        groups.setdefault(patient_of(str(r)), []).append(str(r))
    keys = sorted(groups)
    if len(keys) < k:
        raise ValueError(f"folds ({k}) must not exceed the number of patients ({len(keys)})")
    by_db: dict[str, list[str]] = {}
    for key in keys:
        by_db.setdefault(database_of(key), []).append(key)
    rng = np.random.default_rng(seed)
    folds: list[list[str]] = [[] for _ in range(k)]
    i = 0
    for db in sorted(by_db):
        ks = by_db[db]
        for g in rng.permutation(len(ks)):
            folds[i % k].extend(groups[ks[g]])
            i += 1
    return [sorted(f) for f in folds]


@dataclass(frozen=True)
class Labelled:
    """One lead of a labelled record, with the lead chosen and why (the device's lead table)."""

    signal: np.ndarray
    fs: float
    ann_samples: np.ndarray
    ann_symbols: np.ndarray
    lead: str
    lead_reason: str


def read_labelled_record(path, lead=None) -> Labelled:
    """The lead of ``path`` that :func:`edgecnn.edge.ecg.io.choose_lead` picks (``lead`` = name or
    index wins), in physical units, with its reference annotations, through the wfdb package."""
    import wfdb

    base = str(Path(path).with_suffix("")) if Path(path).suffix in (".hea", ".dat", ".atr") else str(path)
    try:
        header = wfdb.rdheader(base)
        names = [n or f"sig{i}" for i, n in enumerate(header.sig_name or [])]
        channel, reason = choose_lead(names, lead, base)
        rec = wfdb.rdrecord(base, channels=[channel])
        ann = wfdb.rdann(base, "atr")
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{base}: cannot read WFDB record ({exc})") from None
    return Labelled(rec.p_signal[:, 0].astype(np.float64), float(rec.fs), np.asarray(ann.sample, np.int64),
                    np.asarray(ann.symbol), names[channel], reason)


def read_labelled(path, lead=None) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """(signal in physical units, fs, annotation samples, symbols): :func:`read_labelled_record`."""
    r = read_labelled_record(path, lead)
    return r.signal, r.fs, r.ann_samples, r.ann_symbols


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


def load_beats(data_dir, records, params: ECGParams, lead=None, leads: dict | None = None) -> BeatSet:
    """BeatSet over the named records of a WFDB folder (names as :func:`resolve_records` returns them).

    Each record is read at its own rate (svdb: 128 Hz) and its beat windows are interpolated to
    ``params.window.fs`` by the device's preprocessing. ``leads``: a dict to receive
    ``{record: (lead, reason)}``."""
    parts = []
    for name in records:
        rec = read_labelled_record(Path(data_dir) / name, lead)
        if leads is not None:
            leads[name] = (rec.lead, rec.lead_reason)
        parts.append(record_beats(name, rec.signal, rec.fs, rec.ann_samples, rec.ann_symbols, params))
    return BeatSet.concat(parts)
