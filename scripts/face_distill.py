"""Distil the dlib face teacher into our int8-ready embedder, on 5-point aligned crops.

``python scripts/face_distill.py --teacher runs/face/teacher --data ../shared/data/faces
--out runs/face/student``:

1. align every image of the teacher caches (``runs/face/teacher/{lfw,att}.npz``: paths, 5 dlib
   landmarks, 128-d descriptors) with ``edge.face.align.aligned_pixels`` (the teacher's own frame:
   dlib template, padding 0.25) and cache the crops as ``OUT/aligned_<size>_{pixels,...}.npy``;
2. split people: the teacher's ``test_people.txt`` is never trained or tuned on; a seeded 10 % of
   the other people is held out as *validation* people (threshold, best epoch); every other crop
   trains (no identity labels are needed);
3. train the embedder (``train.face.model.build_embedder``) with the distillation loss
   ``(1 - cos(student, teacher)) + sim_weight * mean((S S^T - T T^T)^2)`` on L2-normalised vectors
   (the second term matches the pairwise similarities within the batch);
4. tau on the validation people's balanced pairs, ``model.keras`` + metadata (task ``face``,
   ``params.align = "5point"`` with the template), and ``model_int8.tflite`` calibrated on aligned
   crops; ``--eval`` then scores float and int8 on the test people with the teacher's landmarks
   ("oracle landmarks") beside the teacher's own descriptors on the same pairs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from edgecnn.edge.core.fileio import atomic_write_json
from edgecnn.edge.core.metadata import make_metadata
from edgecnn.edge.face import align as A
from edgecnn.edge.face import evaluate as eval_face
from edgecnn.edge.face.data import balanced_pairs
from edgecnn.edge.face.runtime import (
    DEFAULT_DISTANCE,
    FaceConfig,
    l2_normalize,
    normalize_pixels,
    pair_distances,
)
from edgecnn.train.face import model as E

SETS = {"lfw": "lfw", "att": "att_orl", "wider": "../facedet/wider/images"}  # teacher cache -> folder under --data
LABELLED = ("lfw", "att")  # sets with identities; WIDER's faces (face_teacher_wider.py) only ever train


@dataclass(frozen=True)
class DistillConfig:
    size: int = 96
    padding: float = A.DEFAULT_PADDING
    alpha: float = 0.35
    head: str = "gap"
    weights: str | None = None
    epochs: int = 6
    batch: int = 64
    lr: float = 2e-3
    sim_weight: float = 1.0
    val_fraction: float = 0.1
    seed: int = 0
    jitter: float = 0.0  # geometric jitter strength: 1.0 = up to 6 deg, 5 % scale, 2.5 % shift


# -- loss ------------------------------------------------------------------------------------------
class DistillLoss(keras.losses.Loss):
    """Cosine distance to the teacher's unit vector plus within-batch similarity matching."""

    def __init__(self, sim_weight: float = 1.0, name: str = "distill", **kw):
        super().__init__(name=name, **kw)
        self.sim_weight = float(sim_weight)

    def call(self, y_true, y_pred):
        ops = keras.ops
        t = y_true / ops.maximum(ops.norm(y_true, axis=-1, keepdims=True), 1e-12)
        s = y_pred / ops.maximum(ops.norm(y_pred, axis=-1, keepdims=True), 1e-12)
        cos = 1.0 - ops.sum(s * t, axis=-1)
        if self.sim_weight <= 0:
            return cos
        diff = ops.matmul(s, ops.transpose(s)) - ops.matmul(t, ops.transpose(t))
        return cos + self.sim_weight * ops.mean(ops.square(diff), axis=-1)

    def get_config(self):
        return {**super().get_config(), "sim_weight": self.sim_weight}


# -- data ------------------------------------------------------------------------------------------
def align_set(cache: dict, root: Path, size: int, padding: float) -> np.ndarray:
    """Aligned RGB crops (N, size, size, 3) uint8 of a teacher cache, in its order."""
    from edgecnn.edge.face.runtime import load_image

    out = np.empty((len(cache["paths"]), size, size, 3), np.uint8)
    for i, (p, lm) in enumerate(zip(cache["paths"], cache["landmarks"], strict=True)):
        out[i] = A.aligned_pixels(load_image(root / str(p)), lm, size=size, channels=3, padding=padding)
    return out


def load_aligned(teacher: Path, data: Path, out: Path, size: int, padding: float, sets=LABELLED) -> dict:
    """{"pixels", "targets", "people", "paths", "source", "found"}; crops cached under ``out``."""
    parts = {k: [] for k in ("pixels", "targets", "people", "paths", "source", "found")}
    for name in sets:
        with np.load(teacher / f"{name}.npz", allow_pickle=False) as z:
            cache = {k: z[k] for k in ("paths", "people", "landmarks", "descriptors", "found")}
        f = out / f"aligned_{name}_{size}_p{padding:g}.npy"
        if f.is_file():
            pix = np.load(f)
        else:
            t0 = time.time()
            pix = align_set(cache, data / SETS[name], size, padding)
            out.mkdir(parents=True, exist_ok=True)
            np.save(f, pix)
            print(f"distill: aligned {len(pix)} {name} crops in {time.time() - t0:.0f} s -> {f}", file=sys.stderr)
        parts["pixels"].append(pix)
        parts["targets"].append(l2_normalize(cache["descriptors"]))  # raw teacher, unit length
        parts["people"].append(np.array([f"{name}:{p}" for p in cache["people"]]))
        parts["paths"].append(np.array([str(data / SETS[name] / str(p)) for p in cache["paths"]]))
        parts["source"].append(np.full(len(pix), name))
        parts["found"].append(cache["found"].astype(bool))
    return {k: np.concatenate(v) for k, v in parts.items()}


def load_views(views: Path, ds: dict, train_idx: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(pixels, raw teacher unit vectors) of the teacher-described views (``face_teacher_views.py``,
    ``views_{set}.npz``) whose face is a training row of ``ds``; sets without a views file add none."""
    pix, vec = [], []
    train = np.zeros(len(ds["source"]), bool)
    train[train_idx] = True
    for name in dict.fromkeys(ds["source"]):
        f = views / f"views_{name}.npz"
        if not f.is_file():
            print(f"distill: no {f}: no teacher views for {name}", file=sys.stderr)
            continue
        with np.load(f, allow_pickle=False) as z:
            if int(z["size"]) != size:
                raise SystemExit(f"{f}: views are {int(z['size'])} px, the student is {size} px")
            rows = np.flatnonzero(ds["source"] == name)[z["row"]]  # row in the set -> row in ds
            keep = train[rows]
            pix.append(z["pixels"][keep])
            vec.append(l2_normalize(z["descriptors"][keep]))
    if not pix:
        return np.zeros((0, size, size, 3), np.uint8), np.zeros((0, 128), np.float32)
    return np.concatenate(pix), np.concatenate(vec)


def read_test_people(path: Path) -> set[str]:
    return {ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip()}


def split(ds: dict, test_people: set[str], val_fraction: float, seed: int) -> dict:
    """Index arrays: test (teacher's test people), val (seeded fraction of the others), train."""
    bare = np.array([p.split(":", 1)[1] for p in ds["people"]])
    test = np.isin(bare, sorted(test_people))
    others = sorted(p for p in set(ds["people"][~test]) if p.split(":", 1)[0] in LABELLED)
    order = np.random.default_rng(seed).permutation(len(others))
    val_people = {others[i] for i in order[: round(val_fraction * len(others))]}
    val = np.isin(ds["people"], sorted(val_people)) & ~test
    return {"train": np.flatnonzero(~test & ~val), "val": np.flatnonzero(val), "test": np.flatnonzero(test)}


def subsample_people(people: np.ndarray, idx: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The crops of ``idx`` whose person is in a seeded ``fraction`` of the people ``idx`` holds
    (a person's crops stay together: the curve is over identities, not images)."""
    names = sorted(set(people[idx]))
    keep = np.random.default_rng(seed + 1).permutation(len(names))[: max(1, round(fraction * len(names)))]
    return idx[np.isin(people[idx], [names[i] for i in keep])]


def jitter_crops(x: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Small random similarity transforms of aligned crops (rotation, scale, shift about the centre),
    reflected at the border: the alignment error a landmark network makes on the device."""
    import cv2

    n, h, w = x.shape[:3]
    out = np.empty_like(x)
    ang = rng.uniform(-6, 6, n) * strength
    scale = 1.0 + rng.uniform(-0.05, 0.05, n) * strength
    shift = rng.uniform(-0.025, 0.025, (n, 2)) * strength * np.array([w, h])
    for i in range(n):
        m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), float(ang[i]), float(scale[i]))
        m[:, 2] += shift[i]
        out[i] = cv2.warpAffine(x[i], m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out


class DistillBatches(keras.utils.PyDataset):
    """Shuffled batches of aligned crops, mirrored at random (with the same target), with a mild
    brightness / contrast jitter and (``jitter`` > 0) small similarity transforms:
    ({"image": x}, {"embedding": teacher unit vectors}). Rows where ``exact`` is True (views the
    teacher described itself, ``face_teacher_views.py``) are used as they are."""

    def __init__(self, pixels, targets, batch: int, seed: int, face: FaceConfig, jitter: float = 0.0,
                 exact=None, **kw):
        super().__init__(**kw)
        self.pixels, self.targets, self.batch, self.seed, self.face = pixels, targets, batch, seed, face
        self.jitter = float(jitter)
        self.exact = np.zeros(len(pixels), bool) if exact is None else np.asarray(exact, bool)
        self.epoch_no = 0
        self._shuffle()

    def _shuffle(self):
        self.order = np.random.default_rng([self.seed, self.epoch_no]).permutation(len(self.pixels))

    def __len__(self):
        return max(1, len(self.pixels) // self.batch)

    def __getitem__(self, i):
        idx = np.sort(self.order[i * self.batch : (i + 1) * self.batch])
        rng = np.random.default_rng([self.seed, self.epoch_no, i])
        x = self.pixels[idx]
        keep = self.exact[idx]
        if self.jitter > 0:
            x = np.where(keep[:, None, None, None], x, jitter_crops(x, rng, self.jitter))
        x = x.astype(np.float32)
        flip = (rng.random(len(idx)) < 0.5) & ~keep
        x[flip] = x[flip, :, ::-1]
        gain = np.where(keep, 1.0, rng.uniform(0.8, 1.2, len(idx))).astype(np.float32)[:, None, None, None]
        bias = np.where(keep, 0.0, rng.uniform(-20, 20, len(idx))).astype(np.float32)[:, None, None, None]
        x = np.clip(x * gain + bias, 0, 255)
        return {E.INPUT_NAME: normalize_pixels(x, self.face)}, {E.OUTPUT_NAME: self.targets[idx]}

    def on_epoch_end(self):
        self.epoch_no += 1
        self._shuffle()


# -- model -----------------------------------------------------------------------------------------
def embed(model, pixels: np.ndarray, face: FaceConfig, batch: int = 128) -> np.ndarray:
    out = [np.asarray(model({E.INPUT_NAME: normalize_pixels(pixels[s : s + batch], face)}, training=False)
                      [E.OUTPUT_NAME], np.float32) for s in range(0, len(pixels), batch)]
    return np.concatenate(out)


def pair_scores(emb: np.ndarray, labels: np.ndarray, num_pairs: int, seed: int, strict: bool = False,
                model_tau: float | None = None) -> tuple[dict, np.ndarray, np.ndarray]:
    ia, ib, same, folds = balanced_pairs(labels, num_pairs, seed, strict=strict)
    d = pair_distances(emb[ia], emb[ib], DEFAULT_DISTANCE)
    return eval_face.pair_metrics(d, same, folds, model_tau=model_tau), d, same


def labels_of(people: np.ndarray) -> np.ndarray:
    return np.unique(people, return_inverse=True)[1]


def fitted_taus(metrics: dict, d: np.ndarray, same: np.ndarray) -> dict:
    """tau of best accuracy (from ``pair_metrics``) and tau at FAR 1e-3, clipped to (0, 4]: the
    device wants tau there, and an untrained model can put the best cut below 0."""
    _, tau_far = eval_face.tar_at_far(d, same, 1e-3)
    return {"threshold": float(np.clip(metrics["threshold"], 1e-6, 4.0)),
            "threshold_far_1e-3": float(np.clip(tau_far, 1e-6, 4.0))}


def choose_threshold(emb: np.ndarray, people: np.ndarray, seed: int) -> dict:
    m, d, same = pair_scores(emb, labels_of(people), 4000, seed + 1, strict=True)
    return {**fitted_taus(m, d, same), "validation": m}


def student_metadata(cfg: DistillConfig, tau: dict, provenance: dict) -> dict:
    from edgecnn.edge.face.landmarks import LEARNED_BOX_SCALE

    # the device path: learned finder, the shipped landmark network, alignment (scripts/face_ship.py
    # re-fits tau through it and may name another landmark model)
    face = FaceConfig(size=cfg.size, margin=cfg.padding, finder="learned", align="5point",
                      align_padding=cfg.padding, learned_box_scale=LEARNED_BOX_SCALE)
    params = {
        **face.to_params(), "embedding_size": 128, "distance": DEFAULT_DISTANCE,
        "threshold": tau["threshold"], "threshold_far_1e-3": tau["threshold_far_1e-3"],
        "threshold_source": "best accuracy on validation people's balanced pairs (aligned with the teacher's landmarks)",
        "training_finder": "haar_or_center", "validation": tau["validation"], "flip_tta": False,
        "align": "5point", "align_template": "dlib_5point (edge.face.align.TEMPLATE_UNIT)",
        "landmarks_model": "builtin:face-landmarks",
        "align_padding": cfg.padding, "align_size": cfg.size, "align_points": list(A.POINT_NAMES),
        "teacher": "dlib_face_recognition_resnet_model_v1 (distilled)",
    }
    inputs = {E.INPUT_NAME: {
        "shape": [1, cfg.size, cfg.size, 3], "layout": "NHWC", "color": "RGB",
        "normalization": {"mean": [face.mean] * 3, "std": [face.std] * 3},
        "meaning": f"5-point aligned face (edge.face.align.aligned_pixels, size {cfg.size}, padding {cfg.padding})"}}
    outputs = {E.OUTPUT_NAME: {"meaning": "L2-normalised 128-d embedding (distilled from dlib's descriptor); "
                                          "same person when squared L2 distance <= threshold"}}
    return make_metadata("face", labels=[], inputs=inputs, outputs=outputs, params=params, provenance=provenance)


def train_student(pixels, targets, val_pixels, val_people, cfg: DistillConfig, out: Path, verbose: int = 2,
                  exact=None, init: str | None = None):
    """Fit the embedder (from ``init``, a student's model.keras, when given); returns (model, history dict)."""
    keras.utils.set_random_seed(cfg.seed)
    face = FaceConfig(size=cfg.size, margin=cfg.padding, finder="none")
    if init:
        from edgecnn.train.core.keras_model import load_keras

        model, _ = load_keras(init, task="face")
        if tuple(model.inputs[0].shape[1:3]) != (cfg.size, cfg.size):
            # the network is convolutional up to global pooling: its weights fit any input size
            fresh = E.build_embedder(E.EmbedderConfig(size=cfg.size, alpha=cfg.alpha, weights=None, head=cfg.head))
            try:
                fresh.set_weights(model.get_weights())
            except ValueError as exc:
                raise SystemExit(f"--init {init}: its weights do not fit a {cfg.size} px embedder with "
                                 f"alpha {cfg.alpha}, head {cfg.head} ({exc})") from None
            model = fresh
    else:
        model = E.build_embedder(E.EmbedderConfig(size=cfg.size, alpha=cfg.alpha, weights=cfg.weights, head=cfg.head))
    batches = DistillBatches(pixels, targets, cfg.batch, cfg.seed, face, jitter=cfg.jitter, exact=exact)
    steps = max(1, len(batches) * cfg.epochs)
    schedule = keras.optimizers.schedules.CosineDecay(cfg.lr * 0.1, steps, alpha=0.01, warmup_target=cfg.lr,
                                                      warmup_steps=min(len(batches), steps // 5))
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss={E.OUTPUT_NAME: DistillLoss(cfg.sim_weight)},
                  jit_compile=False)
    hist = {"loss": [], "val_pair_accuracy": [], "val_auc": [], "epoch_s": []}
    best, best_weights = -1.0, None
    for epoch in range(cfg.epochs):
        t0 = time.time()
        h = model.fit(batches, epochs=epoch + 1, initial_epoch=epoch, verbose=verbose)
        hist["loss"].append(float(h.history["loss"][-1]))
        if len(val_pixels):
            m, _, _ = pair_scores(embed(model, val_pixels, face), labels_of(val_people), 2000, cfg.seed, strict=True)
            hist["val_pair_accuracy"].append(m["pair_accuracy"])
            hist["val_auc"].append(m["auc"])
            if m["auc"] > best:
                best, best_weights = m["auc"], model.get_weights()
        hist["epoch_s"].append(time.time() - t0)
        print(f"distill: epoch {epoch + 1}/{cfg.epochs} loss {hist['loss'][-1]:.4f} "
              f"val acc {hist['val_pair_accuracy'][-1] if hist['val_pair_accuracy'] else float('nan'):.4f} "
              f"({hist['epoch_s'][-1]:.0f} s)", file=sys.stderr)
        if out is not None:
            atomic_write_json(out / "history.json", hist)
    if best_weights is not None:
        model.set_weights(best_weights)
    return model, hist


def convert_int8(model, meta: dict, calib_pixels: np.ndarray, size: int, path: Path, seed: int = 0) -> Path:
    """int8 TFLite calibrated on aligned crops (the device's input once it aligns)."""
    from edgecnn.convert.tflite import convert_keras

    face = FaceConfig(size=size, margin=0.0, finder="none")
    pick = np.random.default_rng(seed).permutation(len(calib_pixels))[:200]
    samples = [{E.INPUT_NAME: normalize_pixels(calib_pixels[i : i + 1], face)} for i in pick]
    flat = convert_keras(model, mode="int8", representative=samples, metadata=meta, num_calibration=len(samples))
    path.write_bytes(flat)
    return path


# -- evaluation ------------------------------------------------------------------------------------
def predicted_crops(pred_file: Path, root: str, paths, size: int, padding: float) -> np.ndarray | None:
    """Test crops aligned on the landmark network's points (``pred_<set>.npz`` of the landmarks
    step: paths relative to ``root``, landmarks (N, 5, 2) in image pixels); None if any is missing."""
    from edgecnn.edge.face.runtime import load_image

    if not pred_file.is_file():
        return None
    with np.load(pred_file, allow_pickle=False) as z:
        pred = {str(Path(root) / str(p)): lm for p, lm in zip(z["paths"], z["landmarks"], strict=True)}
    if not all(p in pred for p in paths):
        return None
    return np.stack([A.aligned_pixels(load_image(p), pred[p], size=size, channels=3, padding=padding) for p in paths])


def evaluate(out: Path, ds: dict, idx: dict, num_pairs: int = 3000, seed: int = 0, teacher_mean=None,
             landmarks_from: Path | None = None) -> dict:
    """Float, int8 and teacher on the test people of each set (aligned with the teacher's landmarks:
    "oracle landmarks"; with ``landmarks_from`` also on the landmark network's points, ``*_predlm``);
    pairs made exactly as the teacher's evaluation (list_identities order, balanced_pairs seed 0)."""
    from edgecnn.edge.core.interpreter import load_model
    from edgecnn.edge.face.data import list_identities
    from edgecnn.edge.face.runtime import Embedder
    from edgecnn.train.core.keras_model import KerasModel

    embedders = {"student_float": Embedder.from_model(KerasModel(out / "model.keras", task="face")),
                 "student_int8": Embedder.from_model(load_model(out / "model_int8.tflite", num_threads=1))}
    tau = embedders["student_float"].threshold
    results = {}
    for name in LABELLED:
        sel = idx["test"][ds["source"][idx["test"]] == name]
        if not len(sel):
            continue
        by_path = {p: i for i, p in zip(sel, ds["paths"][sel], strict=True)}
        root = str(Path(ds["paths"][sel[0]]).parent.parent)
        test_people = sorted({p.split(":", 1)[1] for p in ds["people"][sel]})
        ids = list_identities(root).subset(test_people)
        rows = np.array([by_path[p] for p in ids.paths])
        ia, ib, same, folds = balanced_pairs(ids.labels, num_pairs, seed)
        vecs = {"teacher": ds["targets"][rows]}
        if teacher_mean is not None:
            vecs["teacher_centred"] = l2_normalize(ds["targets"][rows] - teacher_mean)
        for key, emb in embedders.items():
            vecs[key] = emb.embed_faces(ds["pixels"][rows])
        if landmarks_from is not None:
            cfg = embedders["student_float"].config
            pix = predicted_crops(Path(landmarks_from) / f"pred_{name}.npz", root, ids.paths, cfg.size,
                                  float(embedders["student_float"].model.metadata["params"]["align_padding"]))
            if pix is not None:
                for key, emb in embedders.items():
                    vecs[f"{key}_predlm"] = emb.embed_faces(pix)
        res = {}
        for key, v in vecs.items():
            d = pair_distances(v[ia], v[ib], DEFAULT_DISTANCE)
            res[key] = eval_face.pair_metrics(d, same, folds, model_tau=tau if key.startswith("student") else None)
        res["people"], res["images"], res["pairs"] = len(test_people), len(rows), len(same)
        ref = vecs.get("teacher_centred", vecs["teacher"])
        res["cos_to_centred_teacher"] = {k: float(np.mean(np.sum(v * ref, axis=1)))
                                         for k, v in vecs.items() if k.startswith("student")}
        results[name] = res
    return results


# -- cli -------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/face_distill.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", default="runs/face/teacher", help="folder with lfw.npz, att.npz, test_people.txt")
    p.add_argument("--data", default="../shared/data/faces", help="folder holding lfw/ and att_orl/")
    p.add_argument("--out", default="runs/face/student")
    p.add_argument("--sets", nargs="+", default=list(LABELLED), choices=list(SETS),
                   help="teacher caches to use (wider: face_teacher_wider.py, training only)")
    p.add_argument("--size", type=int, default=DistillConfig.size)
    p.add_argument("--alpha", type=float, default=DistillConfig.alpha)
    p.add_argument("--head", default=DistillConfig.head, choices=sorted(E.HEADS))
    p.add_argument("--weights", default=None, help="backbone .weights.h5 (e.g. MobileNetV2-0.35 ImageNet)")
    p.add_argument("--epochs", type=int, default=DistillConfig.epochs)
    p.add_argument("--batch", type=int, default=DistillConfig.batch)
    p.add_argument("--lr", type=float, default=DistillConfig.lr)
    p.add_argument("--sim-weight", type=float, default=DistillConfig.sim_weight)
    p.add_argument("--val-fraction", type=float, default=DistillConfig.val_fraction)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jitter", type=float, default=DistillConfig.jitter,
                   help="geometric augmentation strength (1.0: up to 6 deg rotation, 5 %% scale, 2.5 %% shift)")
    p.add_argument("--views", default=None,
                   help="folder with views_{set}.npz (face_teacher_views.py): teacher-described views added to training")
    p.add_argument("--init", default=None, help="start from this student model.keras (fine-tuning)")
    p.add_argument("--max-train", type=int, default=0, help="use at most this many training crops (0: all)")
    p.add_argument("--people-fraction", type=float, default=1.0,
                   help="train on a seeded share of the training people only (a learning curve over identities)")
    p.add_argument("--no-center", dest="center", action="store_false",
                   help="match the raw teacher vectors (default: centred on the training mean, re-normalised)")
    p.add_argument("--landmarks-from", default=None,
                   help="folder with pred_{lfw,att}.npz (landmark network): also evaluate on crops aligned on those")
    p.add_argument("--eval-only", action="store_true", help="no training: evaluate OUT/model.keras and model_int8.tflite")
    p.add_argument("--no-eval", dest="eval", action="store_false", help="skip the test-people evaluation")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv=None) -> int:
    from edgecnn.train.core.keras_model import save_model

    args = build_parser().parse_args(argv)
    cfg = DistillConfig(size=args.size, alpha=args.alpha, head=args.head, weights=args.weights, epochs=args.epochs,
                        batch=args.batch, lr=args.lr, sim_weight=args.sim_weight, val_fraction=args.val_fraction,
                        seed=args.seed, jitter=args.jitter)
    teacher, out = Path(args.teacher), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = load_aligned(teacher, Path(args.data), out, cfg.size, cfg.padding, tuple(args.sets))
    idx = split(ds, read_test_people(teacher / "test_people.txt"), cfg.val_fraction, cfg.seed)
    train_idx = idx["train"][: args.max_train] if args.max_train else idx["train"]
    if not 0.0 < args.people_fraction <= 1.0:
        raise SystemExit(f"--people-fraction must be in (0, 1], got {args.people_fraction}")
    if args.people_fraction < 1.0:
        train_idx = subsample_people(ds["people"], train_idx, args.people_fraction, cfg.seed)
    if args.eval_only:
        mean = np.load(out / "teacher_mean.npy") if (out / "teacher_mean.npy").is_file() else None
        res = evaluate(out, ds, idx, teacher_mean=mean, landmarks_from=args.landmarks_from)
        atomic_write_json(out / "eval.json", res)
        print(json.dumps(res, indent=1, default=float))
        return 0
    print(f"distill: {len(train_idx)} training crops, {len(idx['val'])} validation crops "
          f"({len(set(ds['people'][idx['val']]))} people), {len(idx['test'])} test crops never used", file=sys.stderr)
    # dlib's unit vectors share a large common part (different people: cos ~0.75): matching them
    # raw let the student collapse onto the mean (loss ~0.2, validation accuracy 52 %). Centre them
    # on the training mean and re-normalise; the student learns the teacher's spread directions.
    mean = ds["targets"][train_idx].mean(axis=0) if args.center else np.zeros(128, np.float32)
    targets = l2_normalize(ds["targets"] - mean)
    np.save(out / "teacher_mean.npy", mean)
    pixels, tvecs = ds["pixels"][train_idx], targets[train_idx]
    exact = np.zeros(len(train_idx), bool)
    if args.views:
        vp, vv = load_views(Path(args.views), ds, train_idx, cfg.size)
        print(f"distill: + {len(vp)} teacher-described views", file=sys.stderr)
        pixels, tvecs = np.concatenate([pixels, vp]), np.concatenate([tvecs, l2_normalize(vv - mean)])
        exact = np.concatenate([exact, np.ones(len(vp), bool)])
    t0 = time.time()
    model, hist = train_student(pixels, tvecs, ds["pixels"][idx["val"]], ds["people"][idx["val"]], cfg, out,
                                verbose=2 if args.quiet else 1, exact=exact, init=args.init)
    train_s = time.time() - t0
    face = FaceConfig(size=cfg.size, margin=cfg.padding, finder="none")
    tau = choose_threshold(embed(model, ds["pixels"][idx["val"]], face), ds["people"][idx["val"]], cfg.seed)
    provenance = {"created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                  "data": str(Path(args.data) / "lfw"), "teacher": str(teacher), "command": " ".join(sys.argv),
                  "config": asdict(cfg), "train_images": len(train_idx), "train_seconds": round(train_s, 1),
                  "teacher_centred": bool(args.center), "sets": list(args.sets), "views": args.views,
                  "teacher_views": int(exact.sum()), "init": args.init,
                  "history": hist}
    meta = student_metadata(cfg, tau, provenance)
    save_model(model, out / "model.keras", meta)
    convert_int8(model, meta, ds["pixels"][train_idx], cfg.size, out / "model_int8.tflite", cfg.seed)
    summary = {"train_seconds": round(train_s, 1), "threshold": tau, "history": hist,
               "model_int8_bytes": (out / "model_int8.tflite").stat().st_size,
               "split": {k: int(len(v)) for k, v in idx.items()}, "train_images": len(train_idx),
               "train_people": len(set(ds["people"][train_idx])), "people_fraction": args.people_fraction}
    if args.eval and len(idx["test"]):
        summary["test"] = evaluate(out, ds, idx, teacher_mean=mean, landmarks_from=args.landmarks_from)
    atomic_write_json(out / "summary.json", summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
