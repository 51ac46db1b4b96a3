"""Face data sets without TensorFlow: identity folders (the LFW layout) and pair lists.

An identity folder is ``ROOT/<person>/<image>`` with any image type OpenCV reads, grey or
colour, any size. Pair lists use LFW's ``pairs.txt`` format: a header line (``N`` for View 1,
``SETS N`` for View 2), then ``name n1 n2`` (same person) and ``name1 n1 name2 n2`` (different)
lines; image ``n`` of ``name`` is ``name/name_000n.*`` (or ``name/n.*``, the AT&T naming).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.edge.core.errors import InputDataError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FOLDS = 10


@dataclass(frozen=True)
class Identities:
    """Parallel lists: ``paths[i]`` shows person ``names[labels[i]]``."""

    root: str
    names: tuple[str, ...]
    paths: tuple[str, ...]
    labels: np.ndarray  # int32 (N,)

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, people) -> Identities:
        """Only the images of ``people`` (names); labels renumbered in ``people`` order."""
        keep = {n: i for i, n in enumerate(people)}
        idx = [i for i, lab in enumerate(self.labels) if self.names[lab] in keep]
        labels = np.array([keep[self.names[self.labels[i]]] for i in idx], np.int32)
        return Identities(self.root, tuple(people), tuple(self.paths[i] for i in idx), labels)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."))


def list_identities(root: str | os.PathLike, min_images: int = 1) -> Identities:
    """Read ``root/<person>/<image>``; people with fewer than ``min_images`` images are left out."""
    base = Path(root)
    if not base.is_dir():
        raise InputDataError(f"{base}: identity folder not found (expected ROOT/<person>/<image>)")
    names, paths, labels = [], [], []
    for person in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = _images_in(person)
        if len(images) < min_images:
            continue
        labels += [len(names)] * len(images)
        names.append(person.name)
        paths += [str(p) for p in images]
    if not paths:
        raise InputDataError(f"{base}: no person folders with at least {min_images} image(s) of types {', '.join(IMAGE_EXTS)}")
    return Identities(str(base), tuple(names), tuple(paths), np.array(labels, np.int32))


@dataclass(frozen=True)
class PairList:
    """Pairs of image paths, ``same[i]`` True for the same person, ``folds[i]`` in 0..folds-1."""

    a: tuple[str, ...]
    b: tuple[str, ...]
    same: np.ndarray  # bool (N,)
    folds: np.ndarray  # int32 (N,)
    skipped: int = 0  # pairs whose image files are absent

    def __len__(self) -> int:
        return len(self.a)


class _Finder:
    """Maps (person, number) to a file under root, LFW ``name_000n.*`` or AT&T ``n.*`` naming."""

    def __init__(self, root: Path):
        self.root = root
        self.cache: dict[str, dict[str, str]] = {}

    def __call__(self, name: str, number: int) -> str | None:
        if name not in self.cache:
            folder = self.root / name
            self.cache[name] = {p.stem: str(p) for p in _images_in(folder)} if folder.is_dir() else {}
        stems = self.cache[name]
        return stems.get(f"{name}_{number:04d}") or stems.get(str(number))


def _parse_int(token: str, path, line_no: int) -> int:
    try:
        return int(token)
    except ValueError:
        raise InputDataError(f"{path}:{line_no}: expected an image number, got {token!r}") from None


def parse_pairs(path: str | os.PathLike, root: str | os.PathLike, folds: int = DEFAULT_FOLDS) -> PairList:
    """Read an LFW pair list; pairs whose files are absent under ``root`` are skipped and counted.

    View 2 files (header ``SETS N``) keep their sets as folds; View 1 files (header ``N``) get
    ``folds`` folds assigned round-robin within the same and the different pairs.
    """
    p = Path(path)
    if not p.is_file():
        raise InputDataError(f"{p}: pair list not found")
    lines = [ln.split() for ln in p.read_text(encoding="utf-8", errors="replace").splitlines()]
    lines = [(i + 1, t) for i, t in enumerate(lines) if t]
    if not lines or not all(tok.isdigit() for tok in lines[0][1]) or len(lines[0][1]) > 2:
        raise InputDataError(f"{p}: first line must be 'N' or 'SETS N' (LFW pairs format)")
    header = [int(t) for t in lines[0][1]]
    per_set = 2 * header[-1]
    find = _Finder(Path(root))
    a, b, same, fold, skipped, counters = [], [], [], [], 0, [0, 0]
    for k, (line_no, tok) in enumerate(lines[1:]):
        if len(tok) == 3:
            pa, pb, is_same = find(tok[0], _parse_int(tok[1], p, line_no)), find(tok[0], _parse_int(tok[2], p, line_no)), True
        elif len(tok) == 4:
            pa, pb, is_same = find(tok[0], _parse_int(tok[1], p, line_no)), find(tok[2], _parse_int(tok[3], p, line_no)), False
        else:
            raise InputDataError(f"{p}:{line_no}: expected 'name n1 n2' or 'name1 n1 name2 n2', got {' '.join(tok)!r}")
        f = k // per_set if len(header) == 2 else counters[is_same] % folds
        counters[is_same] += 1
        if pa is None or pb is None:
            skipped += 1
            continue
        a.append(pa)
        b.append(pb)
        same.append(is_same)
        fold.append(f)
    return PairList(tuple(a), tuple(b), np.array(same, bool), np.array(fold, np.int32), skipped)


def balanced_pairs(labels: np.ndarray, num_pairs: int, seed: int = 0, folds: int = DEFAULT_FOLDS,
                   strict: bool = False):
    """Half same-person, half different-person index pairs, unique, seeded.

    Returns (idx_a, idx_b, same, folds); fewer same pairs come back when the data holds fewer,
    with ``num_pairs / 2`` different pairs all the same, unless ``strict``: then as many
    different pairs as same ones, so the set stays balanced (needed to fit a threshold by
    accuracy: on a set with few same pairs the "best" tau rejects nearly everything).
    """
    labels = np.asarray(labels)
    if num_pairs < 2:
        raise ValueError(f"num_pairs must be >= 2, got {num_pairs}")
    rng = np.random.default_rng(seed)
    by_person = [np.flatnonzero(labels == lab) for lab in np.unique(labels)]
    multi = [g for g in by_person if len(g) >= 2]
    if not multi or len(by_person) < 2:
        raise InputDataError("need at least two people and one person with two images to build pairs")
    want = num_pairs // 2
    all_same = sum(len(g) * (len(g) - 1) // 2 for g in multi)
    same = _sample_pairs(rng, lambda: _same_pair(rng, multi), min(want, all_same))
    diff = _sample_pairs(rng, lambda: _diff_pair(rng, labels), len(same) if strict else want)
    pairs = np.array(same + diff, np.int64).reshape(-1, 2)
    is_same = np.array([True] * len(same) + [False] * len(diff))
    fold = np.concatenate([np.arange(len(same)) % folds, np.arange(len(diff)) % folds]).astype(np.int32)
    return pairs[:, 0], pairs[:, 1], is_same, fold


def _same_pair(rng, groups):
    g = groups[rng.integers(len(groups))]
    i, j = rng.choice(len(g), 2, replace=False)
    return tuple(sorted((int(g[i]), int(g[j]))))


def _diff_pair(rng, labels):
    while True:
        i, j = rng.integers(len(labels), size=2)
        if labels[i] != labels[j]:
            return tuple(sorted((int(i), int(j))))


def _sample_pairs(rng, draw, count: int) -> list:
    seen: set = set()
    tries = 0
    while len(seen) < count and tries < 50 * count + 100:
        seen.add(draw())
        tries += 1
    out = sorted(seen)
    rng.shuffle(out)
    return out
