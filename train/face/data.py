"""Face training data: identity folders, people-disjoint splits, a cache of face crops, the
P x K batch sampler and image augmentation.

Everything here is NumPy + OpenCV (no TensorFlow), so the same batches feed any Keras backend.
Crops are made once by ``edgecnn.edge.face.runtime`` (the device's own preprocessing) and cached as
uint8 in an ``.npz``; augmentation works on those crops.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.core.fileio import atomic_write_npz
from edgecnn.edge.face.data import Identities, PairList, balanced_pairs, list_identities, parse_pairs
from edgecnn.edge.face.runtime import (
    FaceConfig,
    FaceNotFound,
    auto_center_scale,
    extract_face,
    find_center,
    load_image,
)

__all__ = ["Identities", "PairList", "balanced_pairs", "list_identities", "parse_pairs", "people_split",
           "FaceSet", "load_face_set", "PKSampler", "AugmentConfig", "augment_batch"]


def people_split(names, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> list[list[str]]:
    """Shuffle people (seeded) and cut them into disjoint groups of the given fractions."""
    names = sorted(names)
    if not fractions or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be >= 0 and sum to 1, got {fractions}")
    order = np.random.default_rng(seed).permutation(len(names))
    cuts = np.round(np.cumsum(fractions) * len(names)).astype(int)
    groups, start = [], 0
    for end in cuts:
        groups.append([names[i] for i in sorted(order[start:end])])
        start = end
    return groups


@dataclass(frozen=True)
class FaceSet:
    """Cached crops: ``pixels[i]`` (uint8 S x S x C) shows ``names[labels[i]]``, from ``paths[i]``."""

    pixels: np.ndarray
    labels: np.ndarray
    names: tuple[str, ...]
    paths: tuple[str, ...]
    fallback: int = 0  # images framed by the centre box because no face was found

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, people) -> FaceSet:
        keep = {n: i for i, n in enumerate(people)}
        idx = np.array([i for i, lab in enumerate(self.labels) if self.names[lab] in keep], np.int64)
        labels = np.array([keep[self.names[self.labels[i]]] for i in idx], np.int32)
        return FaceSet(self.pixels[idx], labels, tuple(people), tuple(self.paths[i] for i in idx), 0)

    @staticmethod
    def concat(sets) -> FaceSet:
        names, pixels, labels, paths = [], [], [], []
        for s in sets:
            labels.append(s.labels + len(names))
            names += list(s.names)
            pixels.append(s.pixels)
            paths += list(s.paths)
        return FaceSet(np.concatenate(pixels), np.concatenate(labels).astype(np.int32), tuple(names),
                       tuple(paths), sum(s.fallback for s in sets))


def _cache_key(ids: Identities, cfg: FaceConfig) -> str:
    h = hashlib.sha256(json.dumps([cfg.to_params(), list(ids.paths)]).encode())
    for p in ids.paths:
        st = os.stat(p)
        h.update(f"{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def load_face_set(root, cfg: FaceConfig, cache_dir=None, min_images: int = 1) -> FaceSet:
    """Crop every image of the identity folder ``root`` once; cache the crops under ``cache_dir``.

    With finder ``haar_or_center`` the centre box is sized from this data set's own Haar hits, so
    pre-cropped sets (LFW, AT&T) are framed like the device's Haar finder frames a camera image.
    Images where the finder finds nothing are dropped (``haar``) or centre-framed (fallback count).
    """
    ids = list_identities(root, min_images=min_images)
    cache = Path(cache_dir) / f"faces_{Path(root).name}_{_cache_key(ids, cfg)}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            return FaceSet(z["pixels"], z["labels"], tuple(meta["names"]), tuple(meta["paths"]), meta["fallback"])
    if cfg.finder == "haar_or_center":
        sample = np.random.default_rng(0).permutation(len(ids))[:200]
        cfg = replace(cfg, center_scale=auto_center_scale([load_image(ids.paths[i]) for i in sample], cfg))
    pixels, labels, paths, fallback = [], [], [], 0
    for path, lab in zip(ids.paths, ids.labels, strict=True):
        image = load_image(path)
        try:
            face = extract_face(image, cfg, name=path)
        except FaceNotFound:
            continue
        fallback += cfg.finder == "haar_or_center" and face.box == find_center(image, cfg)[0]
        pixels.append(face.pixels)
        labels.append(lab)
        paths.append(path)
    if not pixels:
        raise InputDataError(f"{root}: no face found in any image (finder {cfg.finder!r})")
    fs = _renumber(np.stack(pixels), np.array(labels, np.int32), ids.names, tuple(paths), int(fallback))
    if cache is not None:
        meta = json.dumps({"names": list(fs.names), "paths": list(fs.paths), "fallback": fs.fallback,
                           "config": cfg.to_params()}).encode()
        atomic_write_npz(cache, {"pixels": fs.pixels, "labels": fs.labels, "meta": np.frombuffer(meta, np.uint8)})
    return fs


def _renumber(pixels, labels, names, paths, fallback) -> FaceSet:
    used = np.unique(labels)
    remap = np.full(len(names), -1, np.int32)
    remap[used] = np.arange(len(used), dtype=np.int32)
    return FaceSet(pixels, remap[labels], tuple(names[i] for i in used), paths, fallback)


class PKSampler:
    """Batches of P people x K images each (FaceNet-style), for online triplet mining.

    Only people with >= 2 images are anchors; a person with fewer than K images is sampled with
    replacement. One epoch visits every eligible person about once (``len(self)`` batches).
    """

    def __init__(self, labels, p: int, k: int, seed: int = 0):
        if p < 2 or k < 2:
            raise ValueError(f"P x K sampling needs p >= 2 people and k >= 2 images, got p={p}, k={k}")
        labels = np.asarray(labels)
        self.groups = [np.flatnonzero(labels == lab) for lab in np.unique(labels)]
        self.groups = [g for g in self.groups if len(g) >= 2]
        if len(self.groups) < p:
            raise InputDataError(f"P x K sampling: need at least p={p} people with 2+ images, have {len(self.groups)}")
        self.p, self.k = p, k
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return max(1, len(self.groups) // self.p)

    def epoch(self) -> list[np.ndarray]:
        """One epoch of index batches, each (P*K,), people shuffled, images drawn per person."""
        order = self.rng.permutation(len(self.groups))
        batches = []
        for b in range(len(self)):
            people = order[b * self.p : (b + 1) * self.p]
            idx = [self.rng.choice(self.groups[i], self.k, replace=len(self.groups[i]) < self.k) for i in people]
            batches.append(np.concatenate(idx))
        return batches


@dataclass(frozen=True)
class AugmentConfig:
    """flip: probability; scale: (min, max) zoom of the crop; shift: max shift as a fraction of
    the side; rotate: max degrees; brightness/contrast/saturation: max relative change;
    grey: probability of a grey image (replicated to 3 channels)."""

    flip: float = 0.5
    scale: tuple[float, float] = (0.9, 1.1)
    shift: float = 0.06
    rotate: float = 10.0
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.3
    grey: float = 0.15


def augment_batch(pixels: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Augment uint8 crops (N, S, S, C) -> uint8 (N, S, S, C): one affine warp + colour jitter."""
    out = np.empty_like(pixels)
    n, s = pixels.shape[0], pixels.shape[1]
    for i in range(n):
        angle = rng.uniform(-cfg.rotate, cfg.rotate)
        zoom = rng.uniform(*cfg.scale)
        m = cv2.getRotationMatrix2D((s / 2.0, s / 2.0), angle, zoom)
        m[:, 2] += rng.uniform(-cfg.shift, cfg.shift, size=2) * s
        if rng.random() < cfg.flip:
            m = np.array([[-1, 0, s - 1], [0, 1, 0]], np.float64) @ np.vstack([m, [0, 0, 1]])
        img = cv2.warpAffine(pixels[i], m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        out[i] = _colour(img.reshape(s, s, -1), rng, cfg)
    return out


def _colour(img: np.ndarray, rng, cfg: AugmentConfig) -> np.ndarray:
    x = img.astype(np.float32)
    if x.shape[2] == 3:
        grey = x.mean(axis=2, keepdims=True)
        if rng.random() < cfg.grey:
            x = np.repeat(grey, 3, axis=2)
        else:
            x = grey + (x - grey) * (1.0 + rng.uniform(-cfg.saturation, cfg.saturation))
    mean = x.mean()
    x = (x - mean) * (1.0 + rng.uniform(-cfg.contrast, cfg.contrast)) + mean
    x = x * (1.0 + rng.uniform(-cfg.brightness, cfg.brightness))
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)
