"""``edgecnn train face``: data -> people-disjoint split -> P x K triplet training -> tau on
validation people -> ``model.keras`` + metadata. Also the calibration-data plug-in.

The batches are made in NumPy/OpenCV (``FaceBatches``), so the same recipe runs under any Keras
backend; ``run_train`` uses the shared ``edgecnn.train.core.fit`` loop (TensorFlow).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import keras
import numpy as np

from edgecnn.edge.core.fileio import atomic_write_json, atomic_write_text
from edgecnn.edge.core.metadata import make_metadata
from edgecnn.edge.face import evaluate as eval_face
from edgecnn.edge.face.data import balanced_pairs, list_identities
from edgecnn.edge.face.runtime import (
    DEFAULT_DISTANCE,
    FaceConfig,
    FaceNotFound,
    auto_center_scale,
    extract_face,
    l2_normalize,
    load_image,
    normalize_pixels,
    pair_distances,
)
from edgecnn.train.core.qat import add_args as qat_args
from edgecnn.train.face import model as E
from edgecnn.train.face import synthetic as synthetic_faces
from edgecnn.train.face.data import (
    AugmentConfig,
    FaceSet,
    PKSampler,
    augment_batch,
    load_face_set,
    people_split,
)


@dataclass(frozen=True)
class RecipeConfig:
    model: E.EmbedderConfig
    face: FaceConfig
    p: int = 32
    k: int = 4
    margin: float = 0.2
    mining: str = "semi_hard"
    aux_weight: float = 0.0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    workers: int = 2
    synthetic_people: int = 60
    synthetic_images: int = 8


def _add(parser, *flags, **kw):
    if not any(f in parser._option_string_actions for f in flags):
        parser.add_argument(*flags, **kw)


def add_train_args(parser: argparse.ArgumentParser) -> None:
    a = lambda *f, **k: _add(parser, *f, **k)  # noqa: E731
    a("--extra-data", action="append", default=[], help="another identity folder to train on (repeatable), e.g. AT&T")
    a("--backbone", default="mobilenetv2", choices=sorted(E.BACKBONES))
    a("--alpha", type=float, default=0.35, help="backbone width multiplier")
    a("--weights", default=None, help="backbone weights: a local .weights.h5, 'imagenet' (needs internet) or 'none'")
    a("--head", default="gap", choices=sorted(E.HEADS),
      help="gap (default: better validation accuracy and int8 fidelity here) or gdc (MobileFaceNet)")
    a("--input-size", type=int, default=112, help="model input side, pixels")
    a("--embedding-size", type=int, default=128)
    a("--margin", type=float, default=0.2, help="triplet margin alpha (squared L2 on unit vectors)")
    a("--mining", default="semi_hard", choices=sorted(E.MINING))
    a("--p", type=int, default=None, help="people per batch (default batch-size / k)")
    a("--k", type=int, default=4, help="images per person per batch")
    a("--aux-weight", type=float, default=0.0,
      help="weight of an optional CosFace term on training people (default 0: triplet loss only)")
    a("--finder", default="haar_or_center", help="face finder for the training images")
    a("--crop-margin", type=float, default=0.2, help="crop margin around the face box (fraction per side)")
    a("--device-finder", default="haar", help="face finder written into the model metadata for the device")
    a("--val-fraction", type=float, default=0.1, help="people held out for validation (threshold, best epoch)")
    a("--test-fraction", type=float, default=0.1, help="people held out for the final test (never seen)")
    a("--cache", default=None, help="folder for cached face crops (default OUT/cache)")
    a("--workers", type=int, default=2, help="threads making augmented batches")
    a("--no-flip-tta", dest="flip_tta", action="store_false",
      help="do not ask the device to embed the mirrored face too (default: it does, 2x compute)")
    a("--init-weights", default=None, help="start from these embedder weights (.weights.h5)")
    a("--finalize-only", action="store_true",
      help="no training: load --init-weights (e.g. trained under another Keras backend), fit tau, save")
    qat_args(a)
    a("--quiet", action="store_true", help="no progress bar (one line per epoch is still printed)")
    a("--synthetic-people", type=int, default=60)
    a("--synthetic-images", type=int, default=8)


def recipe_from_args(args) -> RecipeConfig:
    synthetic = str(args.data) == synthetic_faces.SYNTHETIC
    weights = args.weights
    if weights is None or str(weights).lower() == "none":
        weights = None
    elif weights != "imagenet" and not Path(weights).is_file():
        raise ValueError(f"--weights: file {weights} not found; {E.IMAGENET_HINT}")
    batch = args.batch_size or 128
    model = E.EmbedderConfig(size=args.input_size, embedding_size=args.embedding_size, backbone=args.backbone,
                             alpha=args.alpha, weights=weights, head=args.head)
    finder = "none" if synthetic else args.finder
    face = FaceConfig(size=args.input_size, margin=0.0 if synthetic else args.crop_margin, finder=finder)
    return RecipeConfig(model, face, p=args.p or max(2, batch // args.k), k=args.k, margin=args.margin,
                        mining=args.mining, aux_weight=args.aux_weight, val_fraction=args.val_fraction,
                        test_fraction=args.test_fraction, workers=args.workers,
                        synthetic_people=args.synthetic_people, synthetic_images=args.synthetic_images)


# -- data ------------------------------------------------------------------------------------------
def load_splits(data: str, extra, rc: RecipeConfig, cache_dir, seed: int) -> dict:
    """Read (and cache) every source, then split each one people-disjointly (``split_sets``)."""
    sets = {}
    for root in [str(data), *extra]:
        if root == synthetic_faces.SYNTHETIC:
            sets[root] = synthetic_faces.make_face_set(rc.synthetic_people, rc.synthetic_images, rc.face.size, seed)
        else:
            sets[root] = load_face_set(root, rc.face, cache_dir=cache_dir)
    return split_sets(sets, rc, seed)


def split_fractions(n: int, rc: RecipeConfig) -> tuple[float, float, float]:
    """(train, val, test) fractions; small sets keep >= 10 test and >= 5 validation people
    (a third and a sixth at most), so that e.g. AT&T's 30 people give a usable test split."""
    n_test = max(round(n * rc.test_fraction), min(10, n // 3))
    n_val = max(round(n * rc.val_fraction), min(5, n // 6))
    return (n - n_val - n_test) / n, n_val / n, n_test / n


def split_sets(sets: dict, rc: RecipeConfig, seed: int) -> dict:
    """{"train": FaceSet, "val": FaceSet, "lists": {source: {"train"|"val"|"test": [people]}}}."""
    train, val, lists = [], [], {}
    for root, fs in sets.items():
        tr, va, te = people_split(fs.names, split_fractions(len(fs.names), rc), seed=seed)
        train.append(fs.subset(tr))
        val.append(fs.subset(va))
        lists[root] = {"train": tr, "val": va, "test": te, "fallback_framed": fs.fallback}
    return {"train": FaceSet.concat(train), "val": FaceSet.concat(val), "lists": lists}


class FaceBatches(keras.utils.PyDataset):
    """P x K batches of augmented, normalised crops: ({"image": x}, {"embedding": y[, "logits": y]})."""

    def __init__(self, fs: FaceSet, rc: RecipeConfig, seed: int, augment: AugmentConfig | None = None, **kw):
        super().__init__(workers=rc.workers, use_multiprocessing=False, **kw)
        self.fs, self.rc, self.seed = fs, rc, seed
        self.aug = augment or AugmentConfig()
        self.sampler = PKSampler(fs.labels, rc.p, rc.k, seed)
        self.epoch_no = 0
        self.batches = self.sampler.epoch()

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        idx = self.batches[i]
        rng = np.random.default_rng([self.seed, self.epoch_no, i])
        x = normalize_pixels(augment_batch(self.fs.pixels[idx], rng, self.aug), self.rc.face)
        y = self.fs.labels[idx].astype("float32")
        targets = {E.OUTPUT_NAME: y}
        if self.rc.aux_weight > 0:
            targets[E.LOGITS_NAME] = y
        return {E.INPUT_NAME: x}, targets

    def on_epoch_end(self):
        self.epoch_no += 1
        self.batches = self.sampler.epoch()


def build_training(rc: RecipeConfig, num_classes: int):
    """The embedder, wrapped with the cosine classifier when ``aux_weight > 0`` (not compiled)."""
    embedder = E.build_embedder(rc.model)
    return E.build_training_model(embedder, num_classes) if rc.aux_weight > 0 else embedder


def compile_model(model, rc: RecipeConfig, lr_schedule):
    losses = {E.OUTPUT_NAME: E.TripletLoss(rc.margin, rc.mining)}
    weights = {E.OUTPUT_NAME: 1.0}
    if rc.aux_weight > 0:
        losses[E.LOGITS_NAME] = E.CosFaceLoss()
        weights[E.LOGITS_NAME] = rc.aux_weight
    model.compile(optimizer=keras.optimizers.Adam(lr_schedule), loss=losses, loss_weights=weights)
    return model


def build_compiled(rc: RecipeConfig, num_classes: int, lr_schedule):
    return compile_model(build_training(rc, num_classes), rc, lr_schedule)


def lr_schedule(lr: float, steps_per_epoch: int, epochs: int):
    """Linear warm-up (2 epochs) from lr/10 to lr, then cosine decay to lr/100."""
    steps = max(1, steps_per_epoch * epochs)
    return keras.optimizers.schedules.CosineDecay(lr * 0.1, steps, alpha=0.01, warmup_target=lr,
                                                  warmup_steps=min(steps_per_epoch * 2, steps // 5))


def embed(model, fs: FaceSet, face: FaceConfig, batch: int = 128) -> np.ndarray:
    out = []
    for s in range(0, len(fs), batch):
        res = model({E.INPUT_NAME: normalize_pixels(fs.pixels[s : s + batch], face)}, training=False)
        out.append(np.asarray(res[E.OUTPUT_NAME], np.float32))
    return np.concatenate(out)


def val_pairs(fs: FaceSet, seed: int, num_pairs: int = 2000):
    """Strictly balanced pairs of the validation people: tau is chosen by accuracy on them, and
    with few people (e.g. 8 x 8 images: 224 same pairs) a set of those 224 beside 1000 different
    pairs made the "best" tau reject nearly every genuine pair."""
    return balanced_pairs(fs.labels, num_pairs, seed, strict=True)


def pair_eval(model, fs: FaceSet, face: FaceConfig, pairs, flip_tta: bool = False):
    """(metrics, distances, same) of validation pairs; ``flip_tta`` as the device would embed."""
    emb = embed(model, fs, face)
    if flip_tta:
        mirrored = FaceSet(fs.pixels[:, :, ::-1], fs.labels, fs.names, fs.paths)
        emb = l2_normalize(emb) + l2_normalize(embed(model, mirrored, face))
    ia, ib, same, folds = pairs
    d = pair_distances(emb[ia], emb[ib], DEFAULT_DISTANCE)
    return eval_face.pair_metrics(d, same, folds), d, same


def make_val_metrics(fs: FaceSet, face: FaceConfig, seed: int):
    pairs = val_pairs(fs, seed)

    def val_metrics(model) -> dict:
        m, _, _ = pair_eval(model, fs, face, pairs)
        return {"val_pair_accuracy": m["pair_accuracy"], "val_auc": m["auc"]}

    return val_metrics


def choose_threshold(model, fs: FaceSet, face: FaceConfig, seed: int, flip_tta: bool = False) -> dict:
    """tau with the best accuracy on validation people's pairs, plus tau at FAR 1e-3."""
    metrics, d, same = pair_eval(model, fs, face, val_pairs(fs, seed + 1, 4000), flip_tta)
    _, tau_far = eval_face.tar_at_far(d, same, 1e-3)
    return {"threshold": metrics["threshold"], "threshold_far_1e-3": tau_far, "validation": metrics}


def face_metadata(rc: RecipeConfig, tau: dict, *, device_finder: str, data: str, provenance: dict,
                  flip_tta: bool = False) -> dict:
    face = replace(rc.face, finder=device_finder if rc.face.finder != "none" else "none")
    c = rc.face.channels
    params = {
        **face.to_params(), "embedding_size": rc.model.embedding_size, "distance": DEFAULT_DISTANCE,
        "threshold": float(tau["threshold"]), "threshold_far_1e-3": float(tau["threshold_far_1e-3"]),
        "threshold_source": "best accuracy on validation people's balanced pairs",
        "training_finder": rc.face.finder, "validation": tau["validation"], "flip_tta": bool(flip_tta),
    }
    if data == synthetic_faces.SYNTHETIC:
        params["note"] = synthetic_faces.PIPELINE_CHECK_NOTE
    inputs = {E.INPUT_NAME: {
        "shape": [1, rc.model.size, rc.model.size, c], "layout": "NHWC", "color": "RGB" if c == 3 else "GRAY",
        "normalization": {"mean": [face.mean] * c, "std": [face.std] * c},
        "meaning": f"face crop: finder box + {face.margin:.0%} margin per side, resized to {face.size}x{face.size}"}}
    outputs = {E.OUTPUT_NAME: {"meaning": f"L2-normalised {rc.model.embedding_size}-d embedding; "
                                          "same person when squared L2 distance <= threshold"}}
    return make_metadata("face", labels=[], inputs=inputs, outputs=outputs, params=params, provenance=provenance)


def run_train(args) -> int:
    from edgecnn.train.core import fit as fitlib
    from edgecnn.train.core.keras_model import load_keras, save_model
    from edgecnn.train.core.qat import config_from_args

    rc = recipe_from_args(args)
    out = Path(args.out)
    cache = args.cache or str(out / "cache")
    splits = load_splits(args.data, args.extra_data, rc, cache, args.seed)
    train, val = splits["train"], splits["val"]
    atomic_write_json(out / "split.json", splits["lists"])
    for root, lists in splits["lists"].items():
        name = "synthetic" if root == synthetic_faces.SYNTHETIC else Path(root).name
        atomic_write_text(out / f"test_people_{name}.txt", "\n".join(lists["test"]) + "\n")
    epochs = args.epochs or (8 if str(args.data) == synthetic_faces.SYNTHETIC else 40)
    augment = synthetic_faces.AUGMENT if str(args.data) == synthetic_faces.SYNTHETIC else None
    batches = FaceBatches(train, rc, args.seed, augment)
    lr = args.lr or 1e-3
    schedule = lr_schedule(lr, len(batches), epochs)
    cfg = fitlib.FitConfig(out_dir=str(out), epochs=epochs, batch_size=rc.p * rc.k, lr=lr, seed=args.seed,
                           strategy=args.strategy, resume=args.resume, monitor="val_auc", monitor_mode="max",
                           verbose=2 if getattr(args, "quiet", False) else 1,
                           extra={"recipe": _jsonable(asdict(rc))})
    print(f"face: {len(train)} training images of {len(train.names)} people, {len(val)} validation images of "
          f"{len(val.names)} people; P x K = {rc.p} x {rc.k}, {len(batches)} steps/epoch", file=sys.stderr)
    qat = config_from_args(args)
    if args.qat_from:
        model, _ = load_keras(args.qat_from, "face")
        epochs = 0
    elif args.finalize_only:
        if not args.init_weights:
            raise ValueError("--finalize-only needs --init-weights PATH")
        model = E.build_embedder(replace(rc.model, weights=None))
        model.load_weights(args.init_weights)
        epochs = 0
    else:
        model = _train(rc, train, val, batches, cfg, schedule, args)
    emb_model = E.extract_embedder(model)
    qat_log = finetune_qat(emb_model, train, rc, qat, args.seed) if qat.epochs else None
    tau = choose_threshold(emb_model, val, rc.face, args.seed, args.flip_tta)
    provenance = {"created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                  "data": str(args.data), "extra_data": list(args.extra_data), "command": " ".join(sys.argv),
                  "config": _jsonable(asdict(rc)), "seed": args.seed, "epochs": epochs,
                  "init_weights": args.init_weights, "qat_from": args.qat_from, "qat": qat_log,
                  "train_people": len(train.names), "train_images": len(train)}
    meta = face_metadata(rc, tau, device_finder=args.device_finder, data=str(args.data), provenance=provenance,
                         flip_tta=args.flip_tta)
    save_model(emb_model, out / "model.keras", meta)
    print(f"wrote {out / 'model.keras'}: validation pair accuracy {tau['validation']['pair_accuracy']:.4f}, "
          f"AUC {tau['validation']['auc']:.4f}, tau {tau['threshold']:.4f}", file=sys.stderr)
    return 0


def finetune_qat(emb_model, train, rc: RecipeConfig, qat, seed: int) -> dict:
    """Quantization-aware fine-tuning of the embedder with the triplet loss (train/core/qat.py)."""
    from edgecnn.train.core import qat as Q

    batches = FaceBatches(train, replace(rc, aux_weight=0.0), seed + 1)
    triplet = E.TripletLoss(rc.margin, rc.mining)
    hist = Q.finetune(emb_model, batches, lambda y, out: triplet(y[E.OUTPUT_NAME], out[E.OUTPUT_NAME]), qat)
    return Q.record(qat, hist)


def _train(rc, train, val, batches, cfg, schedule, args):
    from edgecnn.train.core import fit as fitlib

    def build():
        model = build_compiled(rc, len(train.names), schedule)
        if args.init_weights:  # the embedder's layers are shared with the training model
            E.extract_embedder(model).load_weights(args.init_weights)
        return model

    try:
        model, _ = fitlib.fit(build, batches, cfg, val_metrics=make_val_metrics(val, rc.face, args.seed))
    except Exception as exc:  # offline `weights="imagenet"` fails inside Keras' downloader
        if rc.model.weights == "imagenet" and ("URL" in str(exc) or "fetch" in str(exc).lower()):
            raise ValueError(E.IMAGENET_HINT) from None
        raise
    best = Path(cfg.out_dir) / "checkpoints" / "best.keras"
    return keras.models.load_model(best, compile=False) if best.is_file() else model


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def representative_dataset(metadata: dict, data_path, num_samples: int, seed: int = 0):
    """Calibration inputs {"image": (1, S, S, C)} made by the device's own preprocessing."""
    params = metadata.get("params", {})
    face = FaceConfig.from_params(params)
    if str(data_path) == synthetic_faces.SYNTHETIC:
        n = max(2, math.ceil(num_samples / 4))
        fs = synthetic_faces.make_face_set(n, 4, face.size, seed + 1000)
        order = np.random.default_rng(seed).permutation(len(fs))[:num_samples]
        for i in order:
            yield {E.INPUT_NAME: normalize_pixels(fs.pixels[i : i + 1], face)}
        return
    ids = list_identities(data_path)
    order = np.random.default_rng(seed).permutation(len(ids))[:num_samples]
    images = [load_image(ids.paths[i]) for i in order]
    crop = replace(face, finder=params.get("training_finder", face.finder))
    if crop.finder == "haar_or_center":
        crop = replace(crop, center_scale=auto_center_scale(images[:200], crop))
    for i, image in zip(order, images, strict=True):
        try:
            pixels = extract_face(image, crop, name=ids.paths[i]).pixels
        except FaceNotFound:
            continue
        yield {E.INPUT_NAME: normalize_pixels(pixels[None], face)}
