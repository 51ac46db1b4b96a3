"""Patient-wise K-fold sweep of ECG model variants on cached DS1 beats (a GPU box with Keras + JAX).

Not part of `make`: the recipe of record is scripts/real_ecg.sh (CPU, TensorFlow). This script
only runs the same model code (edgecnn.train.ecg.build_model, class weights, RR statistics,
edge/ metrics) faster on a lent accelerator, to choose between variants; it also trains each
variant on all of DS1 and saves the .keras files (backend independent) for conversion here.

    python scripts/gpu_ecg_sweep.py --cache .ecgcache/ds1_beats.npz --out OUT [--configs a,b]

The cache holds the device preprocessing of DS1 (edgecnn.train.ecg.load_training_beats),
written by `python scripts/gpu_ecg_sweep.py --make-cache DATA --cache FILE`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from multiprocessing import get_context

import numpy as np

CONFIGS = {
    "base": {},
    "wide": {"width": 1.5},
    "pw1": {"power": 1.0},
    "small": {"model": {"filters": (8, 16, 16), "hidden": 16}},
    "reg": {"model": {"dropout": 0.5}, "noise": 0.1},
}
# The recipe chosen from the first sweep (4-fold, 15 epochs; see docs/ecg.md): pw1 at 12 epochs.


def make_cache(data: str, path: str) -> None:
    from edgecnn.edge.ecg import ECGParams
    from edgecnn.train import ecg as E

    b = E.load_training_beats(data, ["DS1"], ECGParams())
    np.savez_compressed(path, beat=b.beat.astype(np.float16), rr=b.rr, label=b.label, record=b.record)


def _run(job):
    name, opts, fold, folds, cache, out, epochs = job
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    from edgecnn.edge.ecg import ECGParams
    from edgecnn.edge.eval_ecg import class_metrics
    from edgecnn.edge.signal import normalize_rr
    from edgecnn.train import ecg as E
    from edgecnn.train.data.wfdb_records import BeatSet, patient_folds

    z = np.load(cache)
    beats = BeatSet(z["beat"].astype(np.float32), z["rr"], z["label"], z["record"])
    names = sorted(set(beats.record.tolist()))
    held = patient_folds(names, folds, 0)[fold] if fold >= 0 else []
    mask = np.isin(beats.record, held)
    tr, va = beats.subset(~mask), beats.subset(mask)
    mean, std = E.rr_stats(tr.rr)
    params = replace(ECGParams(), rr_mean=tuple(mean), rr_std=tuple(std))
    w = E.class_weights(tr.label, opts.get("power", 0.5))
    tr = E._augment(tr, 0, opts.get("noise", 0.05))
    cfg = E.ECGModelConfig(**opts.get("model", {}))
    width = opts.get("width", 1.0)
    cfg = replace(cfg, stem=E._w(cfg.stem, width), filters=tuple(E._w(f, width) for f in cfg.filters))
    keras.utils.set_random_seed(0)
    model = E.build_model(params.window, tr.rr.shape[1], cfg, opts.get("lr", 3e-3))
    x = {"beat": tr.beat, "rr": normalize_rr(tr.rr, params.rr_mean, params.rr_std)}
    curve = []

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if fold < 0 and (epoch + 1) % 3 == 0 and epoch + 1 >= 6:
                os.makedirs(f"{out}/full_{name}", exist_ok=True)
                self.model.save(f"{out}/full_{name}/e{epoch + 1}.keras")
            if len(va) and (epoch + 1) % 3 == 0:
                xv = {"beat": va.beat, "rr": normalize_rr(va.rr, params.rr_mean, params.rr_std)}
                pred = self.model.predict(xv, batch_size=2048, verbose=0)["probs"].argmax(1)
                cm = np.zeros((5, 5), np.int64)
                np.add.at(cm, (va.label, pred), 1)
                curve.append({"epoch": epoch + 1, "confusion": cm.tolist(), **_short(class_metrics(cm))})

    t0 = time.time()
    model.fit(x, {"probs": tr.label}, sample_weight=w[tr.label].astype(np.float32), batch_size=256,
              epochs=epochs, shuffle=True, verbose=0, callbacks=[Probe()])
    res = {"config": name, "fold": fold, "held": held, "seconds": round(time.time() - t0, 1), "curve": curve}
    if fold < 0 or os.environ.get("SAVE_FOLDS"):
        used = sorted(set(names) - set(held))
        meta = E.ecg_metadata(params, tr.rr.shape[1], {"data": "mitdb", "records": used, "validation_records": held,
                                                        "config": name, "opts": json.loads(json.dumps(opts)),
                                                        "epochs": epochs, "attribution": E.ATTRIBUTION})
        folder = f"{out}/full_{name}" if fold < 0 else f"{out}/fold{fold}_{name}"
        os.makedirs(folder, exist_ok=True)
        model.save(f"{folder}/model.keras")
        with open(f"{folder}/model.keras.json", "w") as fh:
            json.dump(meta, fh, indent=1)
    return res


def _short(m):
    pc = m["per_class"]
    return {"macro_f1": m["macro_f1"], **{f"{c}_{k}": pc[c][k] for c in "NSV" for k in ("se", "ppv")}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--out", default="runs/ecg/sweep")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--make-cache", default=None, help="WFDB folder: write the cache and exit")
    args = ap.parse_args()
    if args.make_cache:
        make_cache(args.make_cache, args.cache)
        return
    os.makedirs(args.out, exist_ok=True)
    jobs = [(c, CONFIGS[c], f, args.folds, args.cache, args.out, args.epochs)
            for c in args.configs.split(",") for f in [*range(args.folds), -1]]
    with get_context("spawn").Pool(args.workers) as pool:
        results = []
        for r in pool.imap_unordered(_run, jobs):
            results.append(r)
            last = r["curve"][-1] if r["curve"] else {}
            print(r["config"], r["fold"], r["seconds"], {k: v for k, v in last.items() if k != "confusion"}, flush=True)
    summary = {}
    for c in args.configs.split(","):
        per_epoch = {}
        for r in results:
            if r["config"] == c and r["fold"] >= 0:
                for point in r["curve"]:
                    per_epoch.setdefault(point["epoch"], np.zeros((5, 5), np.int64))
                    per_epoch[point["epoch"]] += np.array(point["confusion"])
        from edgecnn.edge.eval_ecg import class_metrics

        summary[c] = {e: {**_short(class_metrics(cm)), "confusion": cm.tolist()} for e, cm in sorted(per_epoch.items())}
    with open(f"{args.out}/sweep.json", "w") as fh:
        json.dump({"results": results, "summary": summary}, fh, indent=1)
    for c, eps in summary.items():
        for e, m in eps.items():
            print(c, e, {k: v for k, v in m.items() if k != "confusion"})


if __name__ == "__main__":
    main()
