"""``edgecnn train detect``: the task's options, the training run (anchors, fit, optional BatchNorm
re-estimation and QAT), and ``--qat-from`` on a trained model. The network, its losses and
metadata are in :mod:`edgecnn.train.detect.model`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from edgecnn.train.core.fit import recalibrate_batchnorm
from edgecnn.train.core.qat import add_args as qat_args
from edgecnn.train.detect import data as D
from edgecnn.train.detect.augment import AugmentConfig
from edgecnn.train.detect.model import (
    BACKBONES,
    DetectorConfig,
    _letterboxed_wh,
    build_model,
    head_specs,
    kmeans_anchors,
    letterboxed_batches,
    losses_for,
    make_detect_metadata,
    representative_dataset,
    validation_map,
)

MAX_BOXES = 50

# the task plug-in interface (see edgecnn.tasks; `edgecnn convert` calls representative_dataset)
__all__ = ["add_train_args", "run_train", "representative_dataset"]


def add_train_args(p: argparse.ArgumentParser) -> None:
    d = DetectorConfig()
    p.add_argument("--format", choices=("yolo", "voc", "coco", "wider"), default=None,
                   help="annotation format (guessed when omitted)")
    p.add_argument("--img-size", type=int, default=d.img_size, help=f"square input size, multiple of 32 (default {d.img_size})")
    p.add_argument("--backbone", choices=BACKBONES, default=d.backbone)
    p.add_argument("--alpha", type=float, default=d.alpha, help="width multiplier of a Keras application backbone")
    p.add_argument("--weights", default=d.weights, help="backbone weights: PATH (.weights.h5), imagenet or none")
    p.add_argument("--freeze", type=int, default=d.freeze, help="freeze the first N backbone layers")
    p.add_argument("--scales", type=int, choices=(1, 2, 3), default=d.scales,
                   help="output scales (1: p4; 2: p4 + p5; 3: p3 + p4 + p5, a stride-8 head for small objects)")
    p.add_argument("--anchors-per-scale", type=int, default=d.anchors_per_scale)
    p.add_argument("--width", type=int, default=d.width, help="head channels")
    p.add_argument("--obj-gain", type=float, default=d.obj_gain, help="multiplier on the objectness loss weight")
    p.add_argument("--cls-gain", type=float, default=d.cls_gain, help="multiplier on the classification loss weight")
    p.add_argument("--iou-gain", type=float, default=d.iou_gain, help="multiplier on the box (1 - GIoU) loss weight")
    p.add_argument("--head-clip", type=float, default=d.head_clip,
                   help=f"clamp the raw head outputs to +-N (default {d.head_clip:g}; 0 = off): a bounded range "
                        "gives the int8 outputs a finer step")
    p.add_argument("--box-gain", type=float, default=d.box_gain,
                   help=f"the head emits tx, ty, tw, th x N (default {d.box_gain:g} = plain): inside the clamp the "
                        "box values then use N times finer int8 steps, the decoder divides by N (no gain in the "
                        "cross-validation: docs/detect.md)")
    p.add_argument("--val-split", type=float, default=0.2, help="validation fraction (seeded split)")
    p.add_argument("--folds", type=int, default=0,
                   help="K-fold cross-validation: validate on part --fold of K seeded parts (instead of --val-split)")
    p.add_argument("--fold", type=int, default=0, help="which of the --folds parts is the validation set (0-based)")
    p.add_argument("--val-every", type=int, default=5, help="validation mAP every N epochs")
    p.add_argument("--steps", type=int, default=None, help="batches per epoch (default: one pass)")
    p.add_argument("--cache", default=None, help="folder for the decoded-image cache (default OUT/cache)")
    p.add_argument("--synthetic-images", type=int, default=400, help="scenes for --data builtin:synthetic")
    p.add_argument("--no-augment", action="store_true", help="train on letterboxed images only")
    p.add_argument("--aug-scale", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help=f"random zoom range relative to the letterbox fit, >1 crops (default "
                        f"{AugmentConfig().scale[0]:g} {AugmentConfig().scale[1]:g}; e.g. 0.6 2.5 to show small-face "
                        "data sets larger faces)")
    p.add_argument("--aug-gray", type=float, default=0.0,
                   help="probability of turning a training image grey (default 0; e.g. 0.15 for a finder that "
                        "also sees greyscale photos)")
    p.add_argument("--anchor-min-size", type=float, default=0.0,
                   help="fit the k-means anchors only to boxes at least N pixels on their shorter side at the input "
                        "size (default 0: all boxes); keeps a crowd of tiny faces from pulling every anchor down")
    p.add_argument("--max-boxes", type=int, default=MAX_BOXES,
                   help=f"boxes per training image used as targets (default {MAX_BOXES}); an image with more keeps "
                        "its largest ones (crowds: e.g. 120)")
    p.add_argument("--precise-bn", action="store_true",
                   help="after training, re-estimate BatchNorm statistics on un-augmented images "
                        "(helps short from-scratch runs; fine-tuned backbones do not need it)")
    qat_args(p.add_argument)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _config_from_args(args) -> DetectorConfig:
    return DetectorConfig(img_size=args.img_size, backbone=args.backbone, alpha=args.alpha, weights=args.weights,
                          freeze=args.freeze, scales=args.scales, anchors_per_scale=args.anchors_per_scale,
                          width=args.width, obj_gain=args.obj_gain, cls_gain=args.cls_gain, iou_gain=args.iou_gain, head_clip=args.head_clip,
                          box_gain=args.box_gain)


def run_train(args) -> int:
    from edgecnn.train.core.fit import FitConfig, fit, set_seed
    from edgecnn.train.core.keras_model import load_keras
    from edgecnn.train.core.qat import config_from_args

    qat = config_from_args(args)
    if args.qat_from:
        model, meta = load_keras(args.qat_from, "detect")
        cfg = DetectorConfig(**{**meta["params"]["config"], "head_clip": args.head_clip, "box_gain": args.box_gain})
        model = _rebuild(model, cfg, meta)
    else:
        cfg = _config_from_args(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    set_seed(args.seed)
    samples, ann = D.read_dataset(args.data, args.format, int(cfg.img_size * 1.25),
                                  Path(args.cache) if args.cache else out / "cache", args.seed, args.synthetic_images)
    if ann is not None and ann.issues:
        print(f"annotations: {len(ann.issues)} problem(s): {ann.summary()['issues']} (first: {ann.issues[0]})",
              file=sys.stderr)
    tr_idx, va_idx = D.split(len(samples), args.val_split, args.seed, args.folds, args.fold)
    D.write_split(out / "split.json", samples, tr_idx, va_idx)
    train, val = samples.subset(tr_idx), samples.subset(va_idx)
    labels = samples.labels
    if args.qat_from:
        if list(labels) != list(meta["labels"]):
            raise ValueError(f"--qat-from {args.qat_from}: the model's classes {meta['labels']} differ from "
                             f"--data's {list(labels)}")
        return _qat_only(model, meta, cfg, train, val, qat, out, args)
    anchors = kmeans_anchors(_anchor_boxes(train, cfg.img_size, getattr(args, "anchor_min_size", 0.0)),
                             cfg.anchors_per_scale * cfg.scales, args.seed)
    heads = head_specs(cfg, anchors)
    meta = make_detect_metadata(cfg, heads, labels, _provenance(args, ann, len(train), len(val)))
    epochs, bs, lr = args.epochs or 60, args.batch_size or 16, args.lr or 2e-3
    steps = args.steps or max(1, int(np.ceil(len(train) / bs)))
    aug = None if args.no_augment else _augment_config(args)
    seq = D.make_sequence(train, heads, len(labels), (cfg.img_size, cfg.img_size), bs, aug, args.seed,
                          max_boxes=_max_boxes(args), steps=steps)

    fcfg = FitConfig(out_dir=str(out), epochs=epochs, batch_size=bs, lr=lr, seed=args.seed,
                     strategy=args.strategy, resume=args.resume, val_every=args.val_every,
                     verbose=0 if args.quiet else 1, monitor="val_map50" if len(val) else "loss",
                     monitor_mode="max" if len(val) else "min", extra={"detector": asdict(cfg)})
    metrics = (lambda m: validation_map(m, meta, val)) if len(val) else None
    model, _ = fit(_builder(cfg, heads, len(labels), lr, epochs * steps), seq, fcfg, val_metrics=metrics)
    if args.precise_bn:
        recalibrate_batchnorm(model, letterboxed_batches(train, cfg.img_size, bs))
    return _finish(model, meta, cfg, train, val, qat, args.seed, out, args)


def _augment_config(args) -> AugmentConfig:
    """The training augmentation: the defaults, with ``--aug-scale`` and ``--aug-gray`` when given."""
    changes = {}
    scale = getattr(args, "aug_scale", None)
    if scale is not None:
        changes["scale"] = (float(scale[0]), float(scale[1]))
    if getattr(args, "aug_gray", 0.0):
        changes["gray"] = float(args.aug_gray)
    return AugmentConfig(**changes)


def _anchor_boxes(train, img_size: int, min_size: float) -> np.ndarray:
    """Letterboxed box sizes for the anchor fit; with ``min_size`` > 0 only boxes that large (all of
    them when none is)."""
    wh = _letterboxed_wh(train, img_size)
    if min_size and min_size > 0:
        big = wh[wh.min(axis=1) >= min_size] if len(wh) else wh
        return big if len(big) else wh
    return wh


def _max_boxes(args) -> int:
    n = int(getattr(args, "max_boxes", None) or MAX_BOXES)
    if n < 1:
        raise ValueError(f"--max-boxes: expected >= 1, got {n}")
    return n


def _builder(cfg: DetectorConfig, heads, num_classes: int, lr: float, total_steps: int):
    """A function that builds and compiles a fresh detector (Adam, cosine decay to 5 %, clipnorm 10)."""
    import keras

    def build():
        model = build_model(cfg, heads, num_classes)
        sched = keras.optimizers.schedules.CosineDecay(lr, total_steps, alpha=0.05, warmup_target=None)
        model.compile(optimizer=keras.optimizers.Adam(sched, clipnorm=10.0), loss=losses_for(heads, num_classes, cfg))
        return model

    return build


def _provenance(args, ann, n_train: int, n_val: int) -> dict:
    return {"created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "data": str(args.data), "format": ann.format if ann else "synthetic",
            "train_images": n_train, "val_images": n_val, "split": "split.json",
            **({"folds": args.folds, "fold": args.fold} if args.folds else {}),
            "command": " ".join(sys.argv), "seed": args.seed}


def _rebuild(model, cfg: DetectorConfig, meta: dict):
    """``model``'s weights in this code's architecture for ``cfg`` (e.g. with the head clamp added)."""
    from dataclasses import replace

    new = build_model(replace(cfg, weights="none"), meta["params"]["heads"], len(meta["labels"]))
    old_w = model.get_weights()
    if [w.shape for w in old_w] != [w.shape for w in new.get_weights()]:
        raise ValueError(f"--qat-from: the model's weights do not fit the detector built from its config {asdict(cfg)}")
    new.set_weights(old_w)
    return new


def _qat_only(model, meta, cfg: DetectorConfig, train, val, qat, out: Path, args) -> int:
    """``--qat-from``: QAT on a trained model, provenance extended, written to ``out``."""
    meta = dict(meta)
    meta["params"] = {**meta["params"], "config": asdict(cfg), "box_gain": cfg.box_gain}
    meta["provenance"] = {**meta.get("provenance", {}), "qat_command": " ".join(sys.argv),
                          "qat_from": str(args.qat_from)}
    return _finish(model, meta, cfg, train, val, qat, args.seed, out, args)


def _finetune_qat(model, meta, cfg: DetectorConfig, train, qat, seed: int, args=None) -> None:
    """Quantization-aware fine-tuning with the training loss and augmentation (train/core/qat.py)."""
    from edgecnn.train.core import qat as Q

    heads = meta["params"]["heads"]
    labels = meta["labels"]
    bs = 16
    seq = D.make_sequence(train, heads, len(labels), (cfg.img_size, cfg.img_size), bs, _augment_config(args),
                          seed + 1, max_boxes=_max_boxes(args), steps=max(1, int(np.ceil(len(train) / bs))))
    losses = losses_for(heads, len(labels), cfg)
    hist = Q.finetune(model, seq, lambda y, out: sum(losses[k](y[k], out[k]) for k in out), qat)
    meta["provenance"] = {**meta.get("provenance", {}), "qat": Q.record(qat, hist)}


def _finish(model, meta, cfg: DetectorConfig, train, val, qat, seed: int, out: Path, args=None) -> int:
    """QAT when asked (validation mAP before and after it in ``evaluation``), then ``out/model.keras``."""
    from edgecnn.train.core.keras_model import save_model

    meta["evaluation"] = {}
    if qat.epochs:
        meta["evaluation"]["float_val_before_qat"] = validation_map(model, meta, val) if len(val) else {}
        _finetune_qat(model, meta, cfg, train, qat, seed, args)
    final = validation_map(model, meta, val) if len(val) else {}
    meta["evaluation"]["float_val"] = final
    save_model(model, out / "model.keras", meta)
    print(f"wrote {out / 'model.keras'}" + (f" (val mAP@0.5 {final['val_map50']:.3f}, "
                                            f"mAP@[.5:.95] {final['val_map50_95']:.3f})" if final else ""),
          file=sys.stderr)
    return 0
