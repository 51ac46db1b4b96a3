"""Out-of-fold beat probabilities of the ECG cross-validation of scripts/real_ecg.sh -> runs/ecg/oof.npz.

    python research/ecg_oof.py [--runs runs/ecg] [--data ../shared/data/mitdb] [--folds 4] [--out runs/ecg/oof.npz]

For every fold, the float (model.keras) and the int8 (model_int8.tflite) model classify the fold's
held-out records (``provenance.validation_records`` of model.keras.json) through the code path of
`edgecnn eval` (edge.ecg.classify; beats matched to the reference within 150 ms by
edge.eval_ecg.matched_beats). Saved per matched beat with an AAMI class: ``y`` (class index),
``p_float`` and ``p_int8`` (n, 5 probabilities), ``record``, ``fold``, ``sample`` (detected R peak).
The argmax confusion of each fold must equal the fold's eval_model*.json (else the script stops).
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np

from edgecnn.edge.ecg import classify, model_params
from edgecnn.edge.ecg_io import AAMI_CLASSES, read_annotations, read_wfdb
from edgecnn.edge.eval_ecg import matched_beats
from edgecnn.edge.fileio import atomic_write_bytes
from edgecnn.edge.loader import open_model

MODELS = {"float": "model.keras", "int8": "model_int8.tflite"}


def held_out(fold_dir: Path) -> list[str]:
    side = fold_dir / "model.keras.json"
    recs = json.loads(side.read_text()).get("provenance", {}).get("validation_records")
    if not recs:
        raise SystemExit(f"{side}: provenance.validation_records missing or empty; expected the held-out records")
    return [str(r) for r in recs]


def record_beats(model, params, record: Path) -> dict[str, np.ndarray]:
    """Matched beats of one record: y, probs, sample (as `edgecnn eval` scores them)."""
    sig, ann = read_wfdb(record), read_annotations(record)
    result = classify(model, sig.signal, sig.fs, params)
    y, rows = matched_beats(result, ann.sample, ann.symbol, len(sig.signal), sig.fs)
    return {"y": y, "probs": result.probs[rows], "sample": result.sample[rows]}


def model_beats(path: Path, data: Path, records: list[str]) -> dict[str, np.ndarray]:
    model = open_model(path)
    params = model_params(model)
    per = [record_beats(model, params, data / r) for r in records]
    out = {k: np.concatenate([b[k] for b in per]) for k in ("y", "probs", "sample")}
    out["record"] = np.concatenate([np.full(len(b["y"]), r) for b, r in zip(per, records, strict=True)])
    return out


def check_confusion(y: np.ndarray, probs: np.ndarray, eval_json: Path) -> None:
    k = len(AAMI_CLASSES)
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (y, probs.argmax(axis=1)), 1)
    want = np.array(json.loads(eval_json.read_text())["confusion"])
    if not np.array_equal(cm, want):
        raise SystemExit(f"{eval_json}: confusion differs from the recomputed one:\n{want}\nvs\n{cm}")


def fold_beats(runs: Path, data: Path, fold: int) -> dict[str, np.ndarray]:
    d = runs / f"fold{fold}"
    records = held_out(d)
    got = {kind: model_beats(d / name, data, records) for kind, name in MODELS.items()}
    ref = got["int8"]
    for kind, name in MODELS.items():
        b = got[kind]
        if not (np.array_equal(b["sample"], ref["sample"]) and np.array_equal(b["y"], ref["y"])):
            raise SystemExit(f"{d / name}: matched beats differ from the int8 model's (detector params differ?)")
        check_confusion(b["y"], b["probs"], d / f"eval_{Path(name).stem}.json")
    print(f"fold {fold}: {len(ref['y'])} beats from {' '.join(records)}", flush=True)
    return {"y": ref["y"], "sample": ref["sample"], "record": ref["record"], "fold": np.full(len(ref["y"]), fold),
            **{f"p_{kind}": got[kind]["probs"] for kind in MODELS}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=Path("runs/ecg"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data/mitdb"))
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path("runs/ecg/oof.npz"))
    args = ap.parse_args()
    per = [fold_beats(args.runs, args.data, i) for i in range(args.folds)]
    arrays = {k: np.concatenate([f[k] for f in per]) for k in per[0]}
    arrays["labels"] = np.asarray(AAMI_CLASSES)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(args.out, buf.getvalue())
    print(f"wrote {args.out}: {len(arrays['y'])} beats")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
