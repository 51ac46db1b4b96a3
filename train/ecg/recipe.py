"""ECG beat classifier: a small residual 1-D CNN over the beat window plus RR features.

Inputs ``{"beat": (W, 1), "rr": (K,)}`` -> output ``{"probs": softmax over N, S, V, F, Q}``.
Built from the seed's blocks (:mod:`edgecnn.train.core.blocks`): conv-BN-ReLU stem, residual 1-D
blocks, max pooling, a 1x1 convolution, then dense layers joined with the RR branch. Every op
converts to int8 builtins the Edge TPU maps (Conv1D -> RESHAPE + CONV_2D, MAX_POOL_2D, ADD,
CONCATENATION, FULLY_CONNECTED, SOFTMAX). Class imbalance and patient identity: per-beat loss
weights ``(n_max / n_class) ** power`` (capped per class), a fresh fraction of the N beats each
epoch, augmented beat channel (:class:`~edgecnn.train.ecg.sampling.SamplingConfig`), cosine
learning-rate decay.

``edgecnn train ecg --data DIR|builtin:synthetic [--records DS1 ...] [--folds K --fold I] --out DIR``
(``--data ../shared/data --records DS1 SVDB``: MIT-BIH DS1 and every svdb record, from the database
folders ``mitdb/`` and ``svdb/``; see :func:`edgecnn.train.ecg.records.resolve_records`)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.ecg.evaluate import class_metrics
from edgecnn.edge.ecg.io import AAMI_CLASSES
from edgecnn.edge.ecg.runtime import ECGParams
from edgecnn.edge.ecg.signal import PREV_COLUMNS, RR_COLUMNS, RR_FEATURES, BeatWindow, RRConfig, normalize_rr
from edgecnn.edge.ecg.synthetic import SyntheticConfig, synth_records
from edgecnn.train.ecg.records import (
    BeatSet,
    database_folders,
    database_of,
    load_beats,
    patient_folds,
    record_beats,
    resolve_records,
)
from edgecnn.train.ecg.sampling import SamplingConfig, make_sequence

RECIPE_RR_FEATURES = RR_FEATURES  # "post_pre" and "irregularity" were tried: no gain in the CV
ATTRIBUTION = ("MIT-BIH Arrhythmia Database (PhysioNet mitdb 1.0.0, ODC-By 1.0): Moody GB, Mark RG. The impact "
               "of the MIT-BIH Arrhythmia Database. IEEE Eng in Med and Biol 20(3):45-50 (2001); Goldberger AL "
               "et al. PhysioBank, PhysioToolkit, and PhysioNet. Circulation 101(23):e215-e220 (2000).")
ATTRIBUTION_SVDB = ("MIT-BIH Supraventricular Arrhythmia Database (PhysioNet svdb 1.0.0, ODC-By 1.0): Greenwald SD. "
                    "Improved detection and classification of arrhythmias in noise-corrupted electrocardiograms "
                    "using contextual information. Thesis, MIT (1990); Goldberger AL et al. PhysioBank, "
                    "PhysioToolkit, and PhysioNet. Circulation 101(23):e215-e220 (2000).")
ATTRIBUTIONS = {"mitdb": ATTRIBUTION, "svdb": ATTRIBUTION_SVDB}  # database folder name -> what to cite


@dataclass(frozen=True)
class ECGModelConfig:
    """Network size. ``filters``: channels of the residual stages (each followed by 2x pooling)."""

    stem: int = 16
    filters: tuple = (16, 24, 32)
    kernel: int = 5
    squeeze: int = 8
    rr_units: int = 16
    hidden: int = 32
    dropout: float = 0.2


def build_model(window: BeatWindow, n_rr: int, cfg: ECGModelConfig = ECGModelConfig(), lr=3e-3,
                name: str = "ecg_cnn"):
    """The compiled Keras model with dict inputs ``beat``/``rr`` and dict output ``probs``.

    ``lr``: a learning rate or a ``keras.optimizers.schedules.LearningRateSchedule``."""
    import keras
    from keras import layers

    from edgecnn.train.core.blocks import conv_bn_act, pointwise, residual_block

    beat = keras.Input((window.length, window.channels), name="beat")
    rr = keras.Input((n_rr,), name="rr")
    x = conv_bn_act(beat, cfg.stem, 7, act="relu", dims=1, name="stem")
    x = layers.MaxPooling1D(2, name="stem_pool")(x)
    for i, f in enumerate(cfg.filters):
        x = residual_block(x, f, cfg.kernel, dims=1, name=f"res{i}")
        x = layers.MaxPooling1D(2, name=f"pool{i}")(x)
    x = pointwise(x, cfg.squeeze, act="relu", dims=1, name="squeeze")
    x = layers.Flatten(name="flat")(x)
    r = layers.Dense(cfg.rr_units, activation="relu", name="rr_dense")(rr)
    h = layers.Concatenate(name="join")([x, r])
    h = layers.Dropout(cfg.dropout, name="drop")(h)
    h = layers.Dense(cfg.hidden, activation="relu", name="hidden")(h)
    probs = layers.Dense(len(AAMI_CLASSES), activation="softmax", name="probs")(h)
    model = keras.Model({"beat": beat, "rr": rr}, {"probs": probs}, name=name)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss={"probs": "sparse_categorical_crossentropy"},
                  weighted_metrics={"probs": ["sparse_categorical_accuracy"]})
    return model


def ensemble_model(members: list):
    """One model whose ``probs`` are the mean of the members' ``probs`` (same inputs).

    In the int8 file this is the members side by side, then ADD and MUL: one invoke per beat.
    Averaging independently trained networks removes much of the seed-to-seed spread of the
    inter-patient scores (docs/ecg.md)."""
    import keras
    from keras import layers

    if len(members) == 1:
        return members[0]
    first = members[0]
    beat = keras.Input(first.input["beat"].shape[1:], name="beat")
    rr = keras.Input(first.input["rr"].shape[1:], name="rr")
    outs = [m({"beat": beat, "rr": rr})["probs"] for m in members]
    probs = layers.Average(name="probs")(outs)
    model = keras.Model({"beat": beat, "rr": rr}, {"probs": probs}, name="ecg_ensemble")
    model.compile(loss={"probs": "sparse_categorical_crossentropy"})
    return model


def _constant_lr(lr: float, total_steps: int):
    return lr


def _cosine_lr(lr: float, total_steps: int):
    import keras

    return keras.optimizers.schedules.CosineDecay(lr, max(1, total_steps), alpha=0.0)


LR_SCHEDULES = {"constant": _constant_lr, "cosine": _cosine_lr}


def lr_schedule(name: str, lr: float, total_steps: int):
    """The optimizer's learning rate: ``constant`` or ``cosine`` (decays to 0 over ``total_steps``)."""
    try:
        make = LR_SCHEDULES[name]
    except KeyError:
        raise ValueError(f"--lr-schedule must be one of {sorted(LR_SCHEDULES)}, got {name!r}") from None
    return make(lr, total_steps)


def class_weights(labels: np.ndarray, power: float = 0.5, cap: float = 30.0) -> np.ndarray:
    """Weight per class ``(n_max / n_c) ** power`` (classes absent -> 0), capped at ``cap``."""
    counts = np.bincount(labels, minlength=len(AAMI_CLASSES)).astype(np.float64)
    w = np.where(counts > 0, (counts.max() / np.maximum(counts, 1)) ** power, 0.0)
    return np.minimum(w, cap)


def cap_weights(weights: np.ndarray, caps) -> np.ndarray:
    """Apply ``["F=1", "Q=0", ...]`` caps (class label = max weight) to per-class weights."""
    out = np.array(weights, np.float64, copy=True)
    for item in caps or []:
        name, _, value = str(item).partition("=")
        if name not in AAMI_CLASSES or not value:
            raise ValueError(f"--max-weight: expected CLASS=W with CLASS in {list(AAMI_CLASSES)}, got {item!r}")
        try:
            cap = float(value)
        except ValueError:
            raise ValueError(f"--max-weight: expected a number after '=', got {item!r}") from None
        k = AAMI_CLASSES.index(name)
        out[k] = min(out[k], cap)
    return out


def rr_stats(rr: np.ndarray) -> tuple[list[float], list[float]]:
    mean, std = rr.mean(axis=0), rr.std(axis=0)
    return [round(float(v), 6) for v in mean], [round(float(max(v, 1e-3)), 6) for v in std]


# ----------------------------------------------------------------------------- data
def load_training_beats(data: str, records, params: ECGParams, lead=None, synthetic_records: int = 24,
                        seed: int = 0, leads: dict | None = None) -> BeatSet:
    """Beats of ``data``: a WFDB folder or a folder of database folders (``records``: names, DS1/DS2,
    database names such as SVDB; :func:`resolve_records`) or ``builtin:synthetic``. ``leads``: a
    dict to receive ``{record: (lead, reason)}`` (the device's lead table picks the lead)."""
    if str(data).startswith("builtin:"):
        if data != "builtin:synthetic":
            raise InputDataError(f"--data {data}: the only built-in ECG data is builtin:synthetic")
        recs = synth_records(synthetic_records, SyntheticConfig(duration_s=120.0), seed=seed)
        return BeatSet.concat([record_beats(f"syn{i:03d}", r.signal, r.fs, r.r_samples, r.symbols, params)
                               for i, r in enumerate(recs)])
    chosen: dict = {} if leads is None else leads
    beats = load_beats(data, resolve_records(data, records), params, lead, chosen)
    print(f"ecg: leads {lead_summary(chosen)}", file=sys.stderr)
    return beats


def lead_summary(leads: dict) -> str:
    """One line: records per lead and why, e.g. ``MLII x 22 (lead table: ...); ECG1 x 39 (...)``."""
    by: dict[tuple, int] = {}
    for lead, reason in leads.values():
        key = (lead, reason.split(";")[0])
        by[key] = by.get(key, 0) + 1
    return "; ".join(f"{lead} x {n} ({why})" for (lead, why), n in by.items()) or "none"


def data_databases(data: str, records) -> list[str]:
    """Database folder names the training records come from (``svdb/800`` -> svdb; one folder -> its
    name), for the attribution."""
    if str(data).startswith("builtin:"):
        return []
    dbs = sorted({database_of(r) for r in records} - {""})
    if not dbs and not database_folders(data):
        dbs = [Path(str(data)).resolve().name]
    return dbs


def split_folds(beats: BeatSet, folds: int, fold: int, seed: int) -> tuple[BeatSet, BeatSet | None, list]:
    """(train, validation, validation records) for patient-wise fold ``fold`` of ``folds``."""
    if not folds:
        return beats, None, []
    if not 0 <= fold < folds:
        raise ValueError(f"--fold must be in 0..{folds - 1}, got {fold}")
    names = sorted(set(beats.record.tolist()))
    held = patient_folds(names, folds, seed)[fold]
    mask = np.isin(beats.record, held)
    return beats.subset(~mask), beats.subset(mask), held


def _dataset(beats: BeatSet, params: ECGParams, weights: np.ndarray, batch: int, shuffle: bool, seed: int):
    import tensorflow as tf

    x = {"beat": beats.beat, "rr": normalize_rr(beats.rr, params.rr_mean, params.rr_std)}
    ds = tf.data.Dataset.from_tensor_slices((x, {"probs": beats.label}, weights[beats.label].astype(np.float32)))
    if shuffle:
        ds = ds.shuffle(min(len(beats), 100_000), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch).prefetch(2)


def evaluate_beats(model, beats: BeatSet, params: ECGParams) -> dict:
    """Per-class metrics on labelled beats (no detection step), the edge/ metric code."""
    x = {"beat": beats.beat, "rr": normalize_rr(beats.rr, params.rr_mean, params.rr_std)}
    pred = model.predict(x, batch_size=1024, verbose=0)["probs"].argmax(axis=1)
    k = len(AAMI_CLASSES)
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (beats.label, pred), 1)
    return {**class_metrics(cm), "confusion": cm.tolist()}


# ----------------------------------------------------------------------------- CLI
def add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--records", nargs="*", default=None,
                   help="record names, DS1/DS2 (MIT-BIH splits) or database names (SVDB: every svdb record); "
                        "--data may be one database folder or a folder of them (mitdb/, svdb/: records "
                        "named mitdb/101, svdb/800) (default: all in --data)")
    p.add_argument("--lead", default=None,
                   help="lead name or index (default: the lead table MLII, ML2, II, ECG1 of edge/ecg/io.py; a "
                        "record with several leads none of which it knows is refused)")
    p.add_argument("--folds", type=int, default=0, help="patient-wise K-fold: hold out one fold for validation")
    p.add_argument("--fold", type=int, default=0, help="which fold to hold out (0..K-1)")
    p.add_argument("--model-fs", type=float, default=180.0, help="model sampling rate in Hz (default 180)")
    p.add_argument("--weight-power", type=float, default=0.5, help="class weight = (n_max/n_c)**power, capped at 30")
    p.add_argument("--max-weight", nargs="*", default=["F=1", "Q=0", "S=2"], metavar="CLASS=W",
                   help="cap the weight of classes (default F=1 Q=0 S=2: fusion is not learnable across patients, "
                        "Q has 5 beats in DS1, and the made-up S beats of --premature/--run make S about 3x as "
                        "frequent per epoch as the real ones)")
    s = SamplingConfig()
    p.add_argument("--n-keep", type=float, default=s.n_keep, help="fraction of N beats drawn anew each epoch")
    p.add_argument("--ectopic-copies", type=int, default=s.ectopic_copies, help="extra copies of S/V/F/Q beats")
    p.add_argument("--augment-amp", type=float, default=s.amp, help="beat amplitude jitter (relative std)")
    p.add_argument("--augment-shift", type=float, default=s.shift, help="beat baseline shift std")
    p.add_argument("--augment-noise", type=float, default=s.noise, help="beat noise std (0: off)")
    p.add_argument("--augment-stretch", type=float, default=s.stretch, help="time stretch around R, +- fraction")
    p.add_argument("--premature", type=float, default=s.premature,
                   help="share of N beats per batch made premature in their RR features and labelled S "
                        "(default 0.05; 0 = off)")
    p.add_argument("--irregular", type=float, default=s.irregular,
                   help="share of N beats per batch given an atrial-fibrillation RR context and kept N "
                        "(needs the irregularity RR column; default 0 = off)")
    p.add_argument("--run", type=float, default=s.run,
                   help="share of N beats per batch put inside a made-up run of supraventricular beats (SVT) "
                        "in their RR features and labelled S (default 0.05; 0 = off)")
    p.add_argument("--synth-regular", type=float, default=s.synth_regular, metavar="IRR",
                   help="make the --premature/--run S beats only from N beats whose preceding rhythm is regular "
                        "(mean |RR step| over the 8 steps before / local mean <= IRR, e.g. 0.1; an early beat in "
                        "atrial fibrillation is N), at the same number per epoch (default 0 = from any N beat)")
    p.add_argument("--synth-p-wave", type=float, default=s.synth_p_wave, metavar="SHARE",
                   help="share of the --premature/--run S beats whose P wave is inverted or flattened in the beat "
                        "channel (an ectopic focus; without it they keep the patient's sinus P wave) (default 0 = off)")
    p.add_argument("--synthetic-records", type=int, default=24, help="records for builtin:synthetic")
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier of the network")
    p.add_argument("--members", type=int, default=1,
                   help="train N networks (training seeds SEED..SEED+N-1, same data and folds) and ship their "
                        "averaged probabilities as one model (default 1)")
    p.add_argument("--rr-features", nargs="+", default=list(RECIPE_RR_FEATURES), metavar="NAME",
                   help=f"RR feature columns, from {sorted(set(RR_COLUMNS) - set(PREV_COLUMNS))} and the rhythm "
                        f"context {PREV_COLUMNS[0]} .. {PREV_COLUMNS[-1]} (earlier RR intervals / local mean)")
    p.add_argument("--lr-schedule", default="cosine", help=f"one of {sorted(LR_SCHEDULES)} (default cosine)")
    p.add_argument("--precise-bn", action="store_true",
                   help="after training, re-estimate the BatchNorm statistics on the un-augmented training beats "
                        "(short runs: with a few dozen steps the moving averages still hold their initial values, "
                        "and the inference-mode / int8 model is not the network that was trained)")


def _params_for(args) -> ECGParams:
    base = ECGParams()
    w = base.window
    scale = args.model_fs / w.fs
    window = replace(w, fs=float(args.model_fs), before=int(round(w.before * scale)), after=int(round(w.after * scale)))
    return replace(base, window=window, rr=RRConfig(names=tuple(args.rr_features)))
# defaults of `edgecnn train ecg` = the recipe of scripts/real_ecg.sh: 8 epochs, batch 256, lr 3e-3 cosine, power 0.5


def ecg_metadata(params: ECGParams, n_rr: int, provenance: dict) -> dict:
    """The model metadata (task ecg): labels, inputs, outputs, the device's preprocessing params."""
    from edgecnn.edge.core.metadata import make_metadata

    return make_metadata("ecg", labels=list(AAMI_CLASSES), inputs=_input_meta(params, n_rr),
                         outputs={"probs": {"meaning": "softmax over labels (AAMI N, S, V, F, Q)"}},
                         params=params.to_dict(), provenance=provenance)


def run_train(args) -> int:
    from edgecnn.train.core.fit import FitConfig, fit
    from edgecnn.train.core.keras_model import save_model

    epochs, batch, lr = args.epochs or 8, args.batch_size or 256, args.lr or 3e-3
    if args.members < 1:
        raise ValueError(f"--members: expected >= 1, got {args.members}")
    params = _params_for(args)
    leads: dict = {}
    beats = load_training_beats(args.data, args.records, params, args.lead, args.synthetic_records, args.seed, leads)
    train, val, held = split_folds(beats, args.folds, args.fold, args.seed)
    mean, std = rr_stats(train.rr)
    params = replace(params, rr_mean=tuple(mean), rr_std=tuple(std))
    weights = cap_weights(class_weights(train.label, args.weight_power), args.max_weight)
    sampling = SamplingConfig(args.n_keep, args.ectopic_copies, args.augment_amp, args.augment_shift,
                              args.augment_noise, args.augment_stretch, args.premature, args.irregular, args.run,
                              getattr(args, "synth_regular", 0.0), getattr(args, "synth_p_wave", 0.0))
    cfg = ECGModelConfig()
    cfg = replace(cfg, stem=_w(cfg.stem, args.width), filters=tuple(_w(f, args.width) for f in cfg.filters))
    fit_cfg = FitConfig(out_dir=args.out, epochs=epochs, batch_size=batch, lr=lr, seed=args.seed,
                        strategy=args.strategy, resume=args.resume, monitor="loss", monitor_mode="min",
                        extra={"task": "ecg", "params": params.to_dict(), "model": asdict(cfg),
                               "class_weights": weights.tolist(), "sampling": asdict(sampling),
                               "validation_records": held,
                               **({"precise_bn": True} if getattr(args, "precise_bn", False) else {})})
    val_fn = (lambda m: _flat_metrics(evaluate_beats(m, val, params))) if val is not None and len(val) else None
    print(f"ecg: {len(train)} training beats {np.bincount(train.label, minlength=5).tolist()}, "
          f"{0 if val is None else len(val)} validation beats (records {held})", file=sys.stderr)
    members = []
    for k in range(args.members):
        seed = args.seed + k
        mcfg = fit_cfg if args.members == 1 else replace(fit_cfg, out_dir=str(Path(args.out) / f"member{k}"), seed=seed)
        train_ds = make_sequence(train, params, weights, batch, sampling, seed)
        schedule = lr_schedule(args.lr_schedule, lr, len(train_ds) * epochs)
        name = "ecg_cnn" if args.members == 1 else f"member{k}"
        done = _finished_member(mcfg) if args.members > 1 else None
        if done is not None:
            print(f"ecg: member {k} finished in an earlier run with this configuration: "
                  f"{Path(mcfg.out_dir) / 'checkpoints' / 'last.keras'}", file=sys.stderr)
            members.append(_maybe_precise_bn(done, args, train, params, batch, seed))
            continue
        model, _ = fit(lambda s=schedule, n=name: build_model(params.window, train.rr.shape[1], cfg, s, name=n),
                       train_ds, mcfg, val_metrics=val_fn)
        members.append(_maybe_precise_bn(model, args, train, params, batch, seed))
    model = ensemble_model(members)
    meta = ecg_metadata(params, train.rr.shape[1], _provenance(args, beats, train, held, leads))
    if val is not None and len(val):
        meta["evaluation"] = {"float_validation_beats": evaluate_beats(model, val, params)}
    save_model(model, Path(args.out) / "model.keras", meta)
    return 0


def _maybe_precise_bn(model, args, train: BeatSet, params: ECGParams, batch: int, seed: int):
    if getattr(args, "precise_bn", False):
        n = precise_batchnorm(model, train, params, batch, seed)
        print(f"ecg: BatchNorm statistics re-estimated on {n} batches of un-augmented training beats", file=sys.stderr)
    return model


def precise_batchnorm(model, beats: BeatSet, params: ECGParams, batch: int = 256, seed: int = 0,
                      max_batches: int = 40) -> int:
    """Replace the BatchNorm moving statistics by their average over un-augmented training beats
    (what the device feeds the model: natural class mix, RR features normalised). Keras' moving
    averages (momentum 0.99) need a few hundred steps to forget their initial values; a short run
    (the synthetic demo: ~10 steps per epoch) ends with statistics that do not match its weights,
    so the inference-mode model, and the int8 file folded from it, is not the trained network.
    Only the BatchNorm statistics change. Returns the number of batches used."""
    from edgecnn.train.core.fit import recalibrate_batchnorm

    idx = np.random.default_rng(seed).permutation(len(beats))[: batch * max_batches]
    rr = normalize_rr(beats.rr, params.rr_mean, params.rr_std)
    batches = ({"beat": beats.beat[idx[i : i + batch]], "rr": rr[idx[i : i + batch]]}
               for i in range(0, len(idx), batch))
    return recalibrate_batchnorm(model, batches)


def _finished_member(cfg):
    """The model of an ensemble member that an earlier run with this same fit configuration trained
    to the end (``--resume``: an interrupted ensemble does not train its finished members again),
    else None. Finished = ``history.json`` written, no ``backup/`` left, ``config.json`` equal."""
    out = Path(cfg.out_dir)
    last = out / "checkpoints" / "last.keras"
    if not cfg.resume or (out / "backup").exists() or not (out / "history.json").is_file() or not last.is_file():
        return None
    try:
        saved = json.loads((out / "config.json").read_text())["fit"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if saved != json.loads(json.dumps(asdict(cfg))):
        return None
    import keras

    return keras.models.load_model(last, compile=False)


def _w(c: int, width: float) -> int:
    return max(4, int(round(c * width / 4)) * 4)


def _flat_metrics(m: dict) -> dict:
    out = {"val_macro_f1": m["macro_f1"]}
    for c in ("N", "S", "V"):
        pc = m["per_class"][c]
        out[f"val_{c}_se"], out[f"val_{c}_ppv"] = pc["se"] or 0.0, pc["ppv"] or 0.0
    return out


def _input_meta(params: ECGParams, n_rr: int) -> dict:
    w = params.window
    return {
        "beat": {"shape": [1, w.length, w.channels], "layout": "NWC", "color": None,
                 "normalization": {"per_beat": w.norm, "template_beats": w.template_beats},
                 "meaning": f"filtered ECG around the R peak at {w.fs:g} Hz: {w.before} samples before, {w.after} "
                            "from R; channel 0 the beat, channel 1 the median of the previous beats (template)"},
        "rr": {"shape": [1, n_rr], "layout": "NC", "color": None,
               "normalization": {"mean": list(params.rr_mean), "std": list(params.rr_std)},
               "meaning": "RR features " + ", ".join(params.rr.to_dict()["names"]) + " (s and ratios), standardised"},
    }


def _provenance(args, beats: BeatSet, train: BeatSet, held, leads: dict | None = None) -> dict:
    names = sorted(set(train.record.tolist()))
    digest = hashlib.sha256(",".join(names).encode() + np.ascontiguousarray(train.rr).tobytes()).hexdigest()[:16]
    prov = {"data": str(args.data), "records": names, "validation_records": list(held),
            "beats_per_class": dict(zip(AAMI_CLASSES, np.bincount(train.label, minlength=5).tolist(), strict=True)),
            "data_fingerprint": digest, "command": "edgecnn train ecg " + " ".join(sys.argv[3:]),
            "seed": args.seed}
    if getattr(args, "precise_bn", False):
        prov["precise_bn"] = "BatchNorm statistics re-estimated on the un-augmented training beats"
    if args.members > 1:
        prov["members"] = {"count": args.members, "seeds": list(range(args.seed, args.seed + args.members)),
                           "combine": "mean of the members' probabilities"}
    if leads:
        prov["leads"] = lead_summary(leads)
    if not str(args.data).startswith("builtin:"):
        dbs = data_databases(args.data, sorted(set(beats.record.tolist())))
        prov["attribution"] = " ".join(ATTRIBUTIONS[d] for d in dbs if d in ATTRIBUTIONS) or ATTRIBUTION
    return prov


def representative_dataset(metadata: dict, data_path, num_samples: int, seed: int = 0):
    """Calibration inputs ``{"beat": (1, W, 1), "rr": (1, K)}`` with the device's preprocessing.

    Beats are drawn class-balanced-ish (every class represented) from ``data_path``.
    """
    params = ECGParams.from_metadata(metadata)
    raw = replace(params, rr_mean=(), rr_std=())
    prov = metadata.get("provenance") or {}
    records = prov.get("records") if not str(data_path).startswith("builtin:") else None
    if records and not all((Path(str(data_path)) / f"{r}.hea").is_file() for r in records):
        records = None
    beats = load_training_beats(str(data_path), records, raw, seed=seed)
    rng = np.random.default_rng(seed)
    per_class = max(1, num_samples // (2 * len(AAMI_CLASSES)))
    chosen = [rng.permutation(np.flatnonzero(beats.label == c))[:per_class] for c in range(len(AAMI_CLASSES))]
    picked = np.concatenate(chosen)
    rest = rng.permutation(np.setdiff1d(np.arange(len(beats)), picked))[: max(0, num_samples - len(picked))]
    idx = rng.permutation(np.concatenate([picked, rest]))[:num_samples]
    rr = normalize_rr(beats.rr[idx], params.rr_mean, params.rr_std) if params.rr_mean else beats.rr[idx]
    for i in range(len(idx)):
        yield {"beat": beats.beat[idx[i] : idx[i] + 1], "rr": rr[i : i + 1]}
