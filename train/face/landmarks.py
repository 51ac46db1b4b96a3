"""A small five-point landmark network, trained on the dlib teacher's landmarks (docs/face_align.md).

Data: the teacher cache ``runs/face/teacher/{lfw,att}.npz`` (written by ``scripts/face_teacher.py
extract``: dlib's 5 points per image) and the images themselves. Only images where dlib's detector
found the face are used (its landmarks on a fall-back box are less trustworthy).

Split: people-disjoint by a hash of the person's name (``split_people``): a person is a test person
when ``sha256("edgecnn-face-split:" + name)`` read as a fraction is below ``test_fraction`` (0.2),
whatever else is in the data set. The test people are written to ``test_people.txt`` beside the
teacher cache; the distilled embedder uses the same people for its test. A further 8 % of the
remaining people (by the same hash) are validation people for monitoring.

Input: the crop the device makes (``edgecnn.edge.face.landmarks.crop_matrix``): the square around
a face box grown by ``margin`` per side, grey, ``size`` x ``size``. Boxes are the device finder's
(``haar_or_center``, framed as ``edgecnn eval`` frames LFW/AT&T) or, with probability
``teacher_box``, dlib's detection box, so the network does not depend on one finder's framing.
Augmentation: rotation, scale, shift, horizontal flip (mirroring the points *and* swapping left and
right, ``align.FLIP_ORDER``), brightness, contrast, blur, noise.

Network: conv-BN-ReLU6 stem and depthwise-separable blocks (int8 builtins only) down to 3 x 3,
a 1x1 reduction, flatten and a linear 10-unit dense layer that predicts each coordinate's offset from
the template's mean position in units of ``OUTPUT_SCALE`` (a ``Rescaling`` layer turns that into the
output ``landmarks``: the points normalised to the crop, ``edge.face.landmarks.to_unit``). Predicting
the raw coordinates directly (they vary by ~0.03 of the crop) collapsed to the mean. Loss: mean
absolute error of the normalised coordinates.

Run (project venv; the int8 conversion and the report are in ``scripts/face_teacher.py landmarks``)::

    .venv/bin/python -m edgecnn.train.face.landmarks --teacher runs/face/teacher --data ../shared/data \
        --out runs/face/landmarks
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import keras
import numpy as np
from keras import layers

from edgecnn.edge.core.fileio import atomic_write_json, atomic_write_npz, atomic_write_text
from edgecnn.edge.core.metadata import make_metadata
from edgecnn.edge.face import align
from edgecnn.edge.face.landmarks import (
    INPUT_NAME,
    LEARNED_BOX_SCALE,
    OUTPUT_NAME,
    LandmarkConfig,
    crop_matrix,
    crop_pixels,
    to_unit,
)
from edgecnn.edge.face.runtime import FaceConfig, auto_center_scale, find_haar_or_center, load_image
from edgecnn.train.core import blocks

SETS = {"lfw": "faces/lfw", "att": "faces/att_orl"}
SPLIT_SALT = "edgecnn-face-split:"
VAL_FRACTION = 0.08
OUTPUT_SCALE = 0.05  # the last dense layer's output unit, in crop widths


# -- the people-disjoint split ---------------------------------------------------------------------
def person_hash(name: str) -> float:
    """A stable number in [0, 1) for a person's name (sha256, first 8 bytes)."""
    digest = hashlib.sha256((SPLIT_SALT + str(name)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / float(1 << 64)


def split_people(names, test_fraction: float = 0.2, val_fraction: float = 0.0) -> tuple[list[str], ...]:
    """(train, test) people, or (train, val, test) when ``val_fraction`` > 0, by name hash:
    test when hash < test_fraction, validation when hash < test_fraction + val_fraction. The
    split of a person never depends on who else is in the data."""
    if not 0.0 <= test_fraction < 1.0 or not 0.0 <= val_fraction < 1.0 - test_fraction:
        raise ValueError(f"fractions out of range: test {test_fraction}, val {val_fraction}")
    train, val, test = [], [], []
    for n in sorted(set(map(str, names))):
        h = person_hash(n)
        (test if h < test_fraction else val if h < test_fraction + val_fraction else train).append(n)
    return (train, val, test) if val_fraction > 0 else (train, test)


def write_people(path, names) -> Path:
    """One name per line (the format of ``edgecnn eval --people``)."""
    path = Path(path)
    atomic_write_text(path, "".join(f"{n}\n" for n in names))
    return path


# -- configuration ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class AugmentConfig:
    rotate: float = 15.0  # degrees, uniform +-
    scale: tuple[float, float] = (0.85, 1.2)  # crop side multiplier
    shift: float = 0.07  # fraction of the crop side, uniform +- per axis
    flip: float = 0.5
    teacher_box: float = 0.4  # probability of framing the dlib box instead of the finder's
    learned_box: float = 0.0  # probability of framing the learned finder's box (scaled by LEARNED_BOX_SCALE)
    brightness: float = 0.3  # max relative change
    contrast: float = 0.3
    blur: float = 0.2  # probability of a 3x3 or 5x5 Gaussian blur
    noise: float = 4.0  # max std of Gaussian pixel noise (grey levels)


@dataclass(frozen=True)
class TrainConfig:
    crop: LandmarkConfig = field(default_factory=LandmarkConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    width: int = 16  # channels of the stem; blocks use 2x, 4x, 4x, 8x, 8x
    hidden: int = 0  # units of a dense layer before the output (0: none; a ReLU layer there learned slower)
    epochs: int = 70
    batch: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    test_fraction: float = 0.2


# -- data ----------------------------------------------------------------------------------------------
@dataclass
class LandmarkSet:
    """Parallel arrays over images: grey pixels, dlib landmarks (N, 5, 2) and boxes in image pixels."""

    images: list  # uint8 (H, W) grey, one per image
    landmarks: np.ndarray  # float32 (N, 5, 2)
    finder_boxes: np.ndarray  # float32 (N, 4): haar_or_center as the device frames these sets
    teacher_boxes: np.ndarray  # float32 (N, 4): dlib's detection
    found: np.ndarray  # bool (N,): dlib's detector found the face
    people: np.ndarray  # str (N,)
    paths: np.ndarray  # str (N,)
    sets: np.ndarray  # str (N,): "lfw" / "att"
    learned_boxes: np.ndarray | None = None  # float32 (N, 4): the learned finder's, scaled; NaN where none

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, mask) -> LandmarkSet:
        idx = np.flatnonzero(np.asarray(mask, bool)) if np.asarray(mask).dtype == bool else np.asarray(mask)
        return LandmarkSet([self.images[i] for i in idx], self.landmarks[idx], self.finder_boxes[idx],
                           self.teacher_boxes[idx], self.found[idx], self.people[idx], self.paths[idx],
                           self.sets[idx], None if self.learned_boxes is None else self.learned_boxes[idx])

    def of_people(self, names) -> LandmarkSet:
        return self.subset(np.isin(self.people, list(names)))


def finder_boxes(root: str, rel_paths, images_bgr, cache_file: Path | None = None) -> np.ndarray:
    """The device finder's boxes for a centred data set: ``haar_or_center`` with the centre box
    scaled by ``auto_center_scale`` over 200 seeded images, as ``edgecnn eval`` frames them."""
    key = hashlib.sha256(("\n".join(rel_paths)).encode()).hexdigest()[:16]
    if cache_file is not None and cache_file.is_file():
        with np.load(cache_file) as z:
            if str(z["key"]) == key:
                return z["boxes"]
    sample = np.random.default_rng(0).permutation(len(images_bgr))[:200]
    cfg = FaceConfig(finder="haar_or_center")
    cfg = replace(cfg, center_scale=auto_center_scale([images_bgr[i] for i in sample], cfg))
    boxes = np.array([find_haar_or_center(img, cfg)[0] for img in images_bgr], np.float32)
    if cache_file is not None:
        atomic_write_npz(cache_file, {"key": key, "boxes": boxes, "center_scale": cfg.center_scale, "root": root})
    return boxes


def learned_boxes(root: str, rel_paths, images_bgr, cache_file: Path | None = None) -> np.ndarray:
    """The learned finder's (builtin:face-finder) box nearest the image centre of each image of a
    centred data set, scaled by ``LEARNED_BOX_SCALE`` as the device does; NaN where it finds none."""
    from edgecnn.edge.face.runtime import find_faces, pick_face, scale_box

    key = hashlib.sha256(("learned\n" + "\n".join(rel_paths)).encode()).hexdigest()[:16]
    if cache_file is not None and cache_file.is_file():
        with np.load(cache_file) as z:
            if str(z["key"]) == key:
                return z["boxes"]
    cfg = FaceConfig(finder="learned")
    boxes = np.full((len(images_bgr), 4), np.nan, np.float32)
    for i, img in enumerate(images_bgr):
        found = find_faces(img, cfg)
        if found:
            boxes[i] = scale_box(pick_face(found, img.shape, "center"), LEARNED_BOX_SCALE)
    if cache_file is not None:
        atomic_write_npz(cache_file, {"key": key, "boxes": boxes, "root": root})
    return boxes


def load_landmark_set(teacher_dir, data_dir, sets=("lfw", "att"), cache_dir=None, log=print,
                      learned: bool = False) -> LandmarkSet:
    """Every image of the teacher cache with its landmarks and both boxes (and, with ``learned``,
    the learned finder's)."""
    parts = []
    for name in sets:
        with np.load(Path(teacher_dir) / f"{name}.npz", allow_pickle=False) as z:
            cache = {k: z[k] for k in z.files}
        root = Path(data_dir) / SETS[name]
        t0 = time.perf_counter()
        bgr = [load_image(root / p) for p in cache["paths"]]
        grey = [cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) for im in bgr]
        cache_file = Path(cache_dir) / f"finder_boxes_{name}.npz" if cache_dir else None
        fb = finder_boxes(str(root), [str(p) for p in cache["paths"]], bgr, cache_file)
        lb = None
        if learned:
            lf = Path(cache_dir) / f"learned_boxes_{name}.npz" if cache_dir else None
            lb = learned_boxes(str(root), [str(p) for p in cache["paths"]], bgr, lf)
        log(f"[{name}] {len(grey)} images, finder boxes in {time.perf_counter() - t0:.0f} s")
        n = len(grey)
        parts.append(LandmarkSet(grey, cache["landmarks"].astype(np.float32), fb, cache["boxes"].astype(np.float32),
                                 cache["found"].astype(bool), cache["people"].astype(str), cache["paths"].astype(str),
                                 np.array([name] * n), lb))
    fields = ("landmarks", "finder_boxes", "teacher_boxes", "found", "people", "paths", "sets")
    both = LandmarkSet([im for p in parts for im in p.images], *(np.concatenate([getattr(p, f) for p in parts])
                       for f in fields))
    if learned:
        both.learned_boxes = np.concatenate([p.learned_boxes for p in parts])
    return both


def _photometric(img: np.ndarray, rng: np.random.Generator, aug: AugmentConfig) -> np.ndarray:
    x = img.astype(np.float32)
    if rng.random() < aug.blur:
        k = 3 if rng.random() < 0.6 else 5
        x = cv2.GaussianBlur(x, (k, k), 0)
    mean = float(x.mean())
    x = (x - mean) * (1.0 + rng.uniform(-aug.contrast, aug.contrast)) + mean * (1.0 + rng.uniform(-aug.brightness, aug.brightness))
    if aug.noise > 0:
        x = x + rng.normal(0.0, rng.uniform(0.0, aug.noise), x.shape)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(img.shape)


def make_sample(ls: LandmarkSet, i: int, crop: LandmarkConfig, rng: np.random.Generator | None = None,
                aug: AugmentConfig | None = None, box: str = "finder") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crop uint8 (S, S, C), normalised landmarks (5, 2), matrix image -> crop) for image ``i``.
    Without ``rng`` the crop is the plain device crop of the ``box`` ("finder", "teacher" or
    "learned"; the finder's where the learned finder found none)."""
    img = ls.images[i]
    if rng is None or aug is None:
        m = crop_matrix(_box_of(ls, i, box), crop.margin, crop.size)
        flip = False
    else:
        r = rng.random()
        kind = "teacher" if r < aug.teacher_box else "learned" if r < aug.teacher_box + aug.learned_box else "finder"
        b = _box_of(ls, i, kind)
        flip = bool(rng.random() < aug.flip)
        m = crop_matrix(b, crop.margin, crop.size, angle=rng.uniform(-aug.rotate, aug.rotate),
                        scale=rng.uniform(*aug.scale), shift=rng.uniform(-aug.shift, aug.shift, 2), flip=flip)
    pixels = crop_pixels(img, m, crop)
    pts = align.transform_points(m, ls.landmarks[i])
    if flip:
        pts = pts[list(align.FLIP_ORDER)]
    if rng is not None and aug is not None:
        pixels = _photometric(pixels, rng, aug)
    return pixels, to_unit(pts, crop.size), m


def _box_of(ls: LandmarkSet, i: int, kind: str) -> np.ndarray:
    if kind == "teacher":
        return ls.teacher_boxes[i]
    if kind == "learned" and ls.learned_boxes is not None and np.isfinite(ls.learned_boxes[i]).all():
        return ls.learned_boxes[i]
    return ls.finder_boxes[i]


def make_arrays(ls: LandmarkSet, crop: LandmarkConfig, box: str = "finder"):
    """Plain device crops of every image: (pixels (N, S, S, C) uint8, unit (N, 5, 2), matrices (N, 2, 3))."""
    out = [make_sample(ls, i, crop, box=box) for i in range(len(ls))]
    return (np.stack([o[0] for o in out]), np.stack([o[1] for o in out]).astype(np.float32),
            np.stack([o[2] for o in out]))


def normalize(pixels, crop: LandmarkConfig) -> np.ndarray:
    return (np.asarray(pixels, np.float32) - np.float32(crop.mean)) / np.float32(crop.std)


class LandmarkBatches(keras.utils.PyDataset):
    """Augmented batches ({"image": x}, {"landmarks": y (B, 10)}), reshuffled every epoch."""

    def __init__(self, ls: LandmarkSet, cfg: TrainConfig, seed: int, **kw):
        super().__init__(**kw)
        self.ls, self.cfg, self.seed, self.epoch_no = ls, cfg, seed, 0
        self.order = np.random.default_rng(seed).permutation(len(ls))

    def __len__(self) -> int:
        return max(1, len(self.ls) // self.cfg.batch)

    def on_epoch_end(self):
        self.epoch_no += 1
        self.order = np.random.default_rng([self.seed, self.epoch_no]).permutation(len(self.ls))

    def __getitem__(self, k):
        rng = np.random.default_rng([self.seed, self.epoch_no, k, 7])
        idx = self.order[k * self.cfg.batch : (k + 1) * self.cfg.batch]
        xs, ys = [], []
        for i in idx:
            px, y, _ = make_sample(self.ls, int(i), self.cfg.crop, rng, self.cfg.augment)
            xs.append(px)
            ys.append(y.reshape(-1))
        return ({INPUT_NAME: normalize(np.stack(xs), self.cfg.crop)},
                {OUTPUT_NAME: np.stack(ys).astype(np.float32)})


# -- model -------------------------------------------------------------------------------------------
def build_model(cfg: TrainConfig) -> keras.Model:
    """``keras.Model({"image": (S, S, C)}, {"landmarks": (10,)})``; S a multiple of 32."""
    s, c, w = cfg.crop.size, cfg.crop.channels, cfg.width
    if s % 32:
        raise ValueError(f"crop size must be a multiple of 32, got {s}")
    inp = keras.Input((s, s, c), name=INPUT_NAME)
    x = blocks.conv_bn_act(inp, w, 3, 2, name="stem")  # S/2
    x = blocks.depthwise_separable(x, 2 * w, 2, name="b1")  # S/4
    x = blocks.depthwise_separable(x, 4 * w, 2, name="b2")  # S/8
    x = blocks.depthwise_separable(x, 4 * w, 1, name="b3")
    x = blocks.depthwise_separable(x, 8 * w, 2, name="b4")  # S/16
    x = blocks.depthwise_separable(x, 8 * w, 1, name="b5")
    x = blocks.depthwise_separable(x, 8 * w, 2, name="b6")  # S/32
    x = blocks.pointwise(x, 4 * w, name="reduce")
    x = layers.Flatten(name="flatten")(x)
    if cfg.hidden:
        x = layers.Dense(cfg.hidden, name="hidden")(x)
        x = layers.ReLU(6.0, name="hidden_relu")(x)
    x = layers.Dense(2 * align.NUM_POINTS, name="points", kernel_initializer=keras.initializers.Zeros())(x)
    # the points vary by a few hundredths of the crop around their mean: the dense layer predicts the
    # offset in units of OUTPUT_SCALE (so that Adam's steps on its many inputs do not swamp it)
    out = layers.Rescaling(OUTPUT_SCALE, offset=_mean_unit(cfg.crop).reshape(-1).tolist(), name="to_unit")(x)
    return keras.Model({INPUT_NAME: inp}, {OUTPUT_NAME: out}, name="face_landmarks5")


def _mean_unit(crop: LandmarkConfig) -> np.ndarray:
    """A start for the output bias: the template in a crop of a box ~ the template's face square."""
    t = align.TEMPLATE_UNIT
    return ((t - 0.5) / (1.0 + 2.0 * crop.margin) + 0.5).astype(np.float32)


def train_model(train: LandmarkSet, val: LandmarkSet | None, cfg: TrainConfig, out: Path, log=print):
    """Fit the model; returns (model, history dict). Checkpoints the best validation epoch."""
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(cfg)
    batches = LandmarkBatches(train, cfg, cfg.seed)
    steps = len(batches) * cfg.epochs
    sched = keras.optimizers.schedules.CosineDecay(cfg.lr * 0.1, steps, alpha=0.01, warmup_target=cfg.lr,
                                                   warmup_steps=min(len(batches) * 2, steps // 10))
    model.compile(optimizer=keras.optimizers.AdamW(sched, weight_decay=cfg.weight_decay), loss={OUTPUT_NAME: "mae"})
    callbacks = [keras.callbacks.CSVLogger(str(out / "history.csv"))]
    val_data = None
    if val is not None and len(val):
        px, unit, _ = make_arrays(val, cfg.crop)
        val_data = ({INPUT_NAME: normalize(px, cfg.crop)}, {OUTPUT_NAME: unit.reshape(len(val), -1)})
        callbacks.append(keras.callbacks.ModelCheckpoint(str(out / "best.weights.h5"), monitor="val_loss",
                                                         save_best_only=True, save_weights_only=True))
    log(f"landmarks: {len(train)} training images, {0 if val is None else len(val)} validation images, "
        f"{len(batches)} steps/epoch, {cfg.epochs} epochs, {model.count_params()} parameters")
    t0 = time.perf_counter()
    hist = model.fit(batches, epochs=cfg.epochs, validation_data=val_data, callbacks=callbacks, verbose=2)
    if val_data is not None and (out / "best.weights.h5").is_file():
        model.load_weights(str(out / "best.weights.h5"))
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    history["train_seconds"] = time.perf_counter() - t0
    return model, history


def metadata(cfg: TrainConfig, provenance: dict) -> dict:
    crop, c = cfg.crop, cfg.crop.channels
    params = {**crop.to_params(), "points": list(align.POINT_NAMES), "flip_order": list(align.FLIP_ORDER),
              "output_layout": "x0, y0, x1, y1, ... in (u + 0.5) / size of the crop",
              "teacher": "dlib shape_predictor_5_face_landmarks"}
    inputs = {INPUT_NAME: {"shape": [1, crop.size, crop.size, c], "layout": "NHWC", "color": "GRAY" if c == 1 else "RGB",
                           "normalization": {"mean": [crop.mean] * c, "std": [crop.std] * c},
                           "meaning": f"face crop: box + {crop.margin:.0%} margin per side, {crop.size}x{crop.size}"}}
    outputs = {OUTPUT_NAME: {"meaning": "5 landmarks (dlib order: eye_right_outer, eye_right_inner, eye_left_outer, "
                                        "eye_left_inner, nose_base) as (x, y) normalised to the crop"}}
    return make_metadata("face", labels=[], inputs=inputs, outputs=outputs, params=params, provenance=provenance)


def calibration_samples(ls: LandmarkSet, cfg: TrainConfig, n: int = 300, seed: int = 1) -> list[dict]:
    """Int8 calibration inputs: lightly augmented device crops of (training) images."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(ls))[:n]
    aug = replace(cfg.augment, rotate=cfg.augment.rotate / 2, noise=0.0, blur=0.0)
    return [{INPUT_NAME: normalize(make_sample(ls, int(i), cfg.crop, rng, aug)[0][None], cfg.crop)} for i in idx]


def predict_unit(model, pixels, crop: LandmarkConfig, batch: int = 256) -> np.ndarray:
    """A Keras model's normalised landmarks (N, 5, 2) for uint8 crops."""
    outs = []
    for s in range(0, len(pixels), batch):
        y = model({INPUT_NAME: normalize(pixels[s : s + batch], crop)}, training=False)[OUTPUT_NAME]
        outs.append(np.asarray(y, np.float64))
    return np.concatenate(outs).reshape(-1, align.NUM_POINTS, 2)


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=lambda o: list(o) if isinstance(o, tuple) else str(o)))


def run(args) -> dict:
    from edgecnn.train.core.keras_model import save_model

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    aug = AugmentConfig(teacher_box=args.teacher_box, learned_box=args.learned_box)
    cfg = TrainConfig(crop=LandmarkConfig(size=args.size, margin=args.margin), augment=aug, width=args.width,
                      hidden=args.hidden,
                      epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed,
                      test_fraction=args.test_fraction)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    ls = load_landmark_set(args.teacher, args.data, cache_dir=out, log=log, learned=args.learned_box > 0)
    train_p, val_p, test_p = split_people(ls.people, cfg.test_fraction, VAL_FRACTION)
    write_people(Path(args.teacher) / "test_people.txt", test_p)
    atomic_write_json(out / "split.json", {"train": train_p, "val": val_p, "test": test_p})
    usable = ls.subset(ls.found)
    train, val = usable.of_people(train_p), usable.of_people(val_p)
    if args.limit:
        train = train.subset(np.arange(min(args.limit, len(train))))
        val = val.subset(np.arange(min(max(args.limit // 4, 2), len(val))))
    model, history = train_model(train, val, cfg, out, log)
    provenance = {"created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                  "teacher": str(args.teacher), "data": str(args.data), "command": " ".join(sys.argv),
                  "config": _jsonable(asdict(cfg)), "train_people": len(train_p), "train_images": len(train),
                  "val_people": len(val_p), "test_people": len(test_p), "split": "sha256 name hash, see split_people"}
    path = save_model(model, out / "landmarks.keras", metadata(cfg, provenance))
    atomic_write_json(out / "train_history.json", history)
    log(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB) in {history['train_seconds'] / 60:.1f} min")
    return {"model": str(path), "history": history}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="train the 5-point landmark network on the dlib teacher's cache")
    p.add_argument("--teacher", default="runs/face/teacher", help="teacher cache folder ({lfw,att}.npz)")
    p.add_argument("--data", default="../shared/data", help="the shared data folder")
    p.add_argument("--out", default="runs/face/landmarks")
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--margin", type=float, default=0.2)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--hidden", type=int, default=0)
    p.add_argument("--epochs", type=int, default=70)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--limit", type=int, default=0, help="at most N training images (a quick try)")
    p.add_argument("--teacher-box", type=float, default=AugmentConfig.teacher_box,
                   help="share of training crops framed by dlib's box")
    p.add_argument("--learned-box", type=float, default=AugmentConfig.learned_box,
                   help="share framed by the learned finder's box (builtin:face-finder, scaled as on the device)")
    return p


def main(argv=None) -> int:
    run(parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
