"""Patient-disjoint K-fold comparison of ECG training variants on cached DS1 beats (CPU, TensorFlow).

Not part of `make`: the recipe of record is scripts/real_ecg.sh (whole edge path, int8 too). This
script trains the same model with the same sampling / augmentation / class-weight code
(edgecnn.train.ecg) on a cache of the device preprocessing, and pools the held-out confusion
matrices over the folds (beats, not detections), to choose between variants quickly:

    python research/ecg_cv_sweep.py --make-cache ../shared/data/mitdb --cache /tmp/ds1_beats.npz
    python research/ecg_cv_sweep.py --cache /tmp/ds1_beats.npz --configs recipe,pw1_const --out runs/ecg/sweep
    python research/ecg_cv_sweep.py --cache /tmp/ds1_beats.npz --folds 22 ...       (leave one patient out)
    python research/ecg_cv_sweep.py --make-cache ../shared/data/mitdb --lead 1 --cache /tmp/ds1_lead1.npz
    python research/ecg_cv_sweep.py --cache /tmp/ds1_beats.npz --extra-cache /tmp/ds1_lead1.npz ...  (train on both leads)

A variant is a set of overrides of RECIPE (below = the defaults of `edgecnn train ecg`).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

RECIPE = {"power": 0.5, "caps": ["F=1", "Q=0", "S=2"], "sampling": {"premature": 0.05, "run": 0.05}, "schedule": "cosine",
          "epochs": 8, "lr": 3e-3, "model": {}, "seed": 0}
# a variant's "sampling" entries override those of RECIPE (the rest are SamplingConfig defaults)
CONFIGS = {
    "recipe": {},
    "round2": {"caps": ["F=1", "Q=0"], "sampling": {"premature": 0.0, "run": 0.0}},  # before --premature
    "round4": {"caps": ["F=1", "Q=0"], "sampling": {"premature": 0.1, "run": 0.0}},   # the recipe before --run
    "round5": {"caps": ["F=1", "Q=0"]},                                          # before the S cap
    "const_lr": {"schedule": "constant"},
    "pw1": {"power": 1.0},
    "no_caps": {"caps": []},
    "all_n": {"sampling": {"n_keep": 1.0, "amp": 0.0, "shift": 0.0, "stretch": 0.0}},
    "small": {"model": {"filters": (8, 16, 16), "hidden": 16, "dropout": 0.4}},
    "wide": {"model": {"stem": 32, "filters": (32, 48, 64), "squeeze": 16, "hidden": 64}},
    "wide_e12": {"model": {"stem": 32, "filters": (32, 48, 64), "squeeze": 16, "hidden": 64}, "epochs": 12},
    "s_cap35": {"caps": ["F=1", "Q=0", "S=3.5"]},
    # round-5 variants (without the S cap)
    "run05": {"caps": ["F=1", "Q=0"], "sampling": {"premature": 0.1, "run": 0.05}},
    "run10": {"caps": ["F=1", "Q=0"], "sampling": {"premature": 0.1, "run": 0.1}},
    "run05_noise30": {"caps": ["F=1", "Q=0"], "sampling": {"premature": 0.1, "run": 0.05, "noise": 0.3, "shift": 0.3}},
    # needs a cache with the irregularity column (--make-cache ... --rr-features <the recipe's 8> irregularity)
    "irr10": {"caps": ["F=1", "Q=0"], "sampling": {"irregular": 0.1}},
    "round1": {"power": 1.0, "caps": [], "schedule": "constant", "epochs": 12,
               "sampling": {"n_keep": 1.0, "amp": 0.0, "shift": 0.0, "stretch": 0.0, "premature": 0.0, "run": 0.0}},
}


def params_with_rr(rr_names=None):
    """Default ECGParams with the RR columns ``rr_names`` (None: the recipe's)."""
    from edgecnn.edge.ecg import ECGParams
    from edgecnn.edge.signal import RRConfig

    base = ECGParams()
    if rr_names is None or not len(rr_names):
        return base
    return replace(base, rr=RRConfig(names=tuple(str(n) for n in rr_names)))


def recent_percentile(values: np.ndarray, records: np.ndarray, q: float, span: int = 31) -> np.ndarray:
    """The ``q``-th percentile of the ``span`` values before each beat in its record (causal, as a
    device could; a record's first beat gets its own value). Beats of a record are in time order."""
    out = np.empty(len(values))
    for r in np.unique(records):
        idx = np.flatnonzero(records == r)
        v = values[idx]
        out[idx] = [np.percentile(v[max(0, i - span):i], q) if i else v[0] for i in range(len(v))]
    return out


def template_dispersion(beat: np.ndarray, record: np.ndarray, beats: int = 31) -> np.ndarray:
    """log(0.02 + median RMS deviation of the ``beats`` previous beats of the record from their
    templates): how much this patient's beats have recently varied."""
    dev = np.sqrt(((beat[:, :, 0].astype(np.float32) - beat[:, :, 1]) ** 2).mean(axis=1))
    return np.log(0.02 + recent_percentile(dev, record, 50, beats).astype(np.float32))


def qrs_width(x: np.ndarray, r_index: int = 54, fs: float = 180.0) -> np.ndarray:
    """Seconds between 20 % and 80 % of the cumulative |slope| from 100 ms before R to 150 ms after."""
    seg = x[:, r_index - 18 : r_index + 27].astype(np.float32)
    c = np.cumsum(np.abs(np.diff(seg, axis=1)), axis=1)
    c = c / np.maximum(c[:, -1:], 1e-6)
    return ((c < 0.8).sum(axis=1) - (c < 0.2).sum(axis=1)) / fs


def make_cache(data: str, path: str, rr_names: list[str] | None, lead=None, dispersion: bool = False,
               width: bool = False) -> None:
    from edgecnn.train import ecg as E

    params = params_with_rr(rr_names)
    b = E.load_training_beats(data, ["DS1"], params, lead=lead)
    rr, beat = b.rr, b.beat.astype(np.float16)
    if dispersion:  # an extra, unnamed RR-branch column (of the cached beats): the made-up rhythms leave it as it is
        rr = np.concatenate([rr, template_dispersion(beat, b.record)[:, None].astype(rr.dtype)], axis=1)
    if width:  # two more: the beat's QRS width and its difference from the template's
        wb, wt = qrs_width(beat[:, :, 0]), qrs_width(beat[:, :, 1])
        rr = np.concatenate([rr, np.stack([wb, wb - wt], axis=1).astype(rr.dtype)], axis=1)
    np.savez(path, beat=beat, rr=rr, label=b.label, record=b.record,
             rr_names=np.array(params.rr.names))


def load_cache(path):
    """A cache written by --make-cache as a BeatSet (beats as float32)."""
    from edgecnn.train.data.wfdb_records import BeatSet

    z = np.load(path)
    return BeatSet(z["beat"].astype(np.float32), z["rr"], z["label"], z["record"])


def confusion(label: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """AAMI confusion matrix (rows: reference class, columns: predicted)."""
    cm = np.zeros((5, 5), np.int64)
    np.add.at(cm, (label, pred), 1)
    return cm


def summary(m: dict) -> str:
    """``macro-F1 x N se/+P S se/+P V se/+P F se/+P`` (percent) of class_metrics output."""
    pc = m["per_class"]
    return f"macro-F1 {m['macro_f1']:.4f} " + " ".join(
        f"{c} {100 * (pc[c]['se'] or 0):.1f}/{100 * (pc[c]['ppv'] or 0):.1f}" for c in "NSVF")


def run_fold(beats, held, opts: dict, base, extra=None) -> np.ndarray:
    """Train on all but ``held`` records (plus the beats of ``extra`` from the same training
    records, e.g. another lead); held-out probabilities."""
    import keras

    from edgecnn.train import ecg as E
    from edgecnn.train import ecg_sampling as S
    from edgecnn.train.data.wfdb_records import BeatSet

    mask = np.isin(beats.record, held)
    tr, va = beats.subset(~mask), beats.subset(mask)
    if extra is not None:
        tr = BeatSet.concat([tr, extra.subset(~np.isin(extra.record, held))])
    mean, std = E.rr_stats(tr.rr)
    params = replace(base, rr_mean=tuple(mean), rr_std=tuple(std))
    weights = E.cap_weights(E.class_weights(tr.label, opts["power"]), opts["caps"])
    seq = S.make_sequence(tr, params, weights, 256, S.SamplingConfig(**opts["sampling"]), opts["seed"])
    keras.utils.set_random_seed(opts["seed"])
    lr = E.lr_schedule(opts["schedule"], opts["lr"], len(seq) * opts["epochs"])
    model = E.build_model(params.window, tr.rr.shape[1], E.ECGModelConfig(**opts["model"]), lr)
    model.fit(seq, epochs=opts["epochs"], verbose=0)
    x = {"beat": va.beat, "rr": E.normalize_rr(va.rr, params.rr_mean, params.rr_std)}
    return model.predict(x, batch_size=2048, verbose=0)["probs"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--make-cache", default=None, help="WFDB folder: write the cache and exit")
    ap.add_argument("--configs", default="recipe")
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--out", default="runs/ecg/sweep")
    ap.add_argument("--seed", type=int, default=0, help="training seed (the folds stay those of seed 0)")
    ap.add_argument("--save-probs", action="store_true",
                    help="also write OUT/NAME_seedS_probs.npz (held-out probabilities of every beat, cache order), "
                         "e.g. to compare seed ensembles")
    ap.add_argument("--rr-features", nargs="+", default=None, metavar="NAME",
                    help="with --make-cache: the RR columns to cache (default: those of the recipe)")
    ap.add_argument("--lead", default=None, help="with --make-cache: the lead (index or name; default 0)")
    ap.add_argument("--dispersion", action="store_true",
                    help="with --make-cache: add the template dispersion of the recent beats as one more RR-branch column")
    ap.add_argument("--qrs-width", action="store_true",
                    help="with --make-cache: add the QRS width of the beat and beat - template width as two more columns")
    ap.add_argument("--extra-cache", default=None,
                    help="a cache of more training beats of the same records (e.g. lead 1), added to every fold's "
                         "training set; held-out beats come from --cache only")
    args = ap.parse_args()
    if args.make_cache:
        make_cache(args.make_cache, args.cache, args.rr_features, args.lead, args.dispersion, args.qrs_width)
        return
    from edgecnn.edge.eval_ecg import class_metrics
    from edgecnn.edge.fileio import atomic_write_json
    from edgecnn.train.data.wfdb_records import patient_folds

    beats = load_cache(args.cache)
    extra = load_cache(args.extra_cache) if args.extra_cache else None
    z = np.load(args.cache)
    base = params_with_rr(z["rr_names"] if "rr_names" in z.files else None)  # older caches: the default 8
    folds = patient_folds(sorted(set(beats.record.tolist())), args.folds, 0)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for name in args.configs.split(","):
        opts = {**RECIPE, **CONFIGS[name], "seed": args.seed}
        opts["sampling"] = {**RECIPE["sampling"], **CONFIGS[name].get("sampling", {})}
        t0 = time.time()
        oof = np.zeros((len(beats.label), 5), np.float32)
        for held in folds:  # the folds cover every beat once
            oof[np.isin(beats.record, held)] = run_fold(beats, held, opts, base, extra)
        cm = confusion(beats.label, oof.argmax(1))
        if args.save_probs:
            np.savez(Path(args.out) / f"{name}_seed{args.seed}_probs.npz", probs=oof, label=beats.label,
                     record=beats.record)
        m = class_metrics(cm)
        atomic_write_json(Path(args.out) / f"{name}_seed{args.seed}.json", {"opts": json.loads(json.dumps(opts)), "folds": folds,
                                                           "metrics": m, "confusion": cm.tolist()})
        print(name, f"{time.time() - t0:.0f} s", summary(m), flush=True)


if __name__ == "__main__":
    main()
