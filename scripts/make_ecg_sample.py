"""Regenerate the shipped ECG sample ``edge/samples/mitdb_<REC>.{hea,dat,atr}`` (``builtin:ecg-sample``).

An excerpt of one MIT-BIH Arrhythmia record (one lead, MLII, format 212 as the original, the
annotations inside the excerpt with their sample numbers shifted). Needs the ``wfdb`` package
(the [train] extra) and the shared data folder:

    python scripts/make_ecg_sample.py --data ../shared/data/mitdb            # the shipped excerpt
    python scripts/make_ecg_sample.py --data ../shared/data/mitdb --record 223 --start 405 --out /tmp/s

MIT-BIH Arrhythmia Database (PhysioNet mitdb 1.0.0, ODC-By 1.0): Moody GB, Mark RG, IEEE Eng Med
Biol 20(3):45-50 (2001); Goldberger AL et al., Circulation 101(23):e215 (2000).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

RECORD, START_S, SECONDS, LEAD = "223", 405.0, 240.0, "MLII"
OUT = Path(__file__).resolve().parent.parent / "edge" / "samples"


def make_sample(data, record: str = RECORD, start_s: float = START_S, seconds: float = SECONDS,
                lead: str = LEAD, out=OUT) -> Path:
    """Write ``out/mitdb_<record>`` (.hea/.dat/.atr); returns the record path (without suffix)."""
    import wfdb

    src = str(Path(data) / record)
    header = wfdb.rdheader(src)
    fs = float(header.fs)
    a, b = int(round(start_s * fs)), int(round((start_s + seconds) * fs))
    rec = wfdb.rdrecord(src, sampfrom=a, sampto=b, channel_names=[lead], physical=False)
    ann = wfdb.rdann(src, "atr", sampfrom=a, sampto=b - 1)
    name = f"mitdb_{record}"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    comment = (f"excerpt of MIT-BIH Arrhythmia record {record} ({lead}), {start_s:g} s to {start_s + seconds:g} s; "
               "PhysioNet mitdb 1.0.0, ODC-By 1.0")
    wfdb.wrsamp(name, fs=fs, units=[rec.units[0]], sig_name=[lead], d_signal=rec.d_signal[:, :1].astype(np.int64),
                fmt=["212"], adc_gain=[rec.adc_gain[0]], baseline=[rec.baseline[0]], comments=[comment],
                write_dir=str(out))
    keep = (ann.sample >= a) & (ann.sample < b)
    aux = [ann.aux_note[i] for i in np.flatnonzero(keep)] if ann.aux_note else None
    wfdb.wrann(name, "atr", np.asarray(ann.sample)[keep] - a, list(np.asarray(ann.symbol)[keep]),
               subtype=np.asarray(ann.subtype)[keep], chan=np.zeros(int(keep.sum()), np.int64),
               num=np.asarray(ann.num)[keep], aux_note=aux, write_dir=str(out))
    return out / name


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder of MIT-BIH Arrhythmia records (e.g. ../shared/data/mitdb)")
    ap.add_argument("--record", default=RECORD, help=f"record name (default {RECORD})")
    ap.add_argument("--start", type=float, default=START_S, help=f"start in seconds (default {START_S:g})")
    ap.add_argument("--seconds", type=float, default=SECONDS, help=f"length in seconds (default {SECONDS:g})")
    ap.add_argument("--lead", default=LEAD, help=f"lead name (default {LEAD})")
    ap.add_argument("--out", default=str(OUT), help="output folder (default edge/samples)")
    args = ap.parse_args(argv)
    path = make_sample(args.data, args.record, args.start, args.seconds, args.lead, args.out)
    sizes = {p.name: p.stat().st_size for p in sorted(path.parent.glob(path.name + ".*"))}
    print(f"wrote {path}: {sizes}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
