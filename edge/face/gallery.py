"""The enrolled-faces gallery: one file, written atomically, read without pickle.

File format (version 1): a NumPy ``.npz`` (zip) with three arrays, read with
``allow_pickle=False``:

* ``header``: uint8 bytes of a UTF-8 JSON object ``{"format": "edgecnn.gallery", "version": 1,
  "model_fingerprint", "embedding_size", "distance", "names": [...], "sources": [...],
  "threshold": float|null, "calibration": {...}|null}``
* ``embeddings``: float32 (N, D) unit vectors, one per enrolled image
* ``labels``: int32 (N,), index into ``names``

A gallery belongs to one model: loading it for another model (other fingerprint) is refused,
because embeddings from different models are not comparable.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.core.fileio import atomic_write_bytes, real_target, regular_file
from edgecnn.edge.face.runtime import DEFAULT_DISTANCE, DISTANCES, distance_matrix, l2_normalize

FORMAT = "edgecnn.gallery"
VERSION = 1
MIN_GENUINE_PAIRS = 10


def score_min(d: np.ndarray, labels: np.ndarray, n_people: int) -> np.ndarray:
    """Per person: the distance to their nearest enrolled image."""
    out = np.full(n_people, np.inf, np.float32)
    np.minimum.at(out, labels, d)
    return out


def score_mean(d: np.ndarray, labels: np.ndarray, n_people: int) -> np.ndarray:
    """Per person: the mean distance over their enrolled images."""
    sums = np.bincount(labels, weights=d, minlength=n_people)
    counts = np.bincount(labels, minlength=n_people)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.inf).astype(np.float32)


SCORES = {"min": score_min, "mean": score_mean}


class Match(NamedTuple):
    name: str  # the person, or "unknown" when no one is within tau
    distance: float  # the best person's score
    tau: float
    ranking: list  # [(name, score)] best first


@dataclass(frozen=True)
class Gallery:
    fingerprint: str
    embedding_size: int
    distance: str = DEFAULT_DISTANCE
    names: tuple[str, ...] = ()
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    sources: tuple[str, ...] = ()
    threshold: float | None = None
    calibration: dict | None = None

    @classmethod
    def empty(cls, fingerprint: str, embedding_size: int, distance: str = DEFAULT_DISTANCE) -> Gallery:
        return cls(fingerprint, int(embedding_size), distance, (),
                   np.zeros((0, int(embedding_size)), np.float32), np.zeros(0, np.int32))

    # -- queries ---------------------------------------------------------------------------
    def people(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.names))
        return {n: int(c) for n, c in zip(self.names, counts, strict=True)}

    def _index(self, name: str) -> int:
        if name not in self.names:
            enrolled = ", ".join(self.names) or "nobody"
            raise InputDataError(f"no person named {name!r} in the gallery (enrolled: {enrolled})")
        return self.names.index(name)

    def identify(self, embedding, tau: float, score: str = "min") -> Match:
        """The nearest person if their score is <= tau, else ``unknown``."""
        if score not in SCORES:
            raise ValueError(f"score must be one of {sorted(SCORES)}, got {score!r}")
        if len(self.labels) == 0:
            raise InputDataError("the gallery is empty: enroll someone first (edgecnn face enroll)")
        d = distance_matrix(embedding, self.embeddings, self.distance)[0]
        per_person = SCORES[score](d, self.labels, len(self.names))
        order = [i for i in np.argsort(per_person, kind="stable") if np.isfinite(per_person[i])]
        ranking = [(self.names[i], float(per_person[i])) for i in order]
        best_name, best = ranking[0]
        return Match(best_name if best <= tau else "unknown", best, float(tau), ranking)

    # -- edits (each returns a new Gallery) ---------------------------------------------------
    def enroll(self, name: str, embeddings, sources=()) -> Gallery:
        name = name.strip() if isinstance(name, str) else name
        if not isinstance(name, str) or not name or name == "unknown":
            raise InputDataError(f"name must be a non-empty string other than 'unknown', got {name!r}")
        emb = np.atleast_2d(np.asarray(embeddings, np.float32))
        if emb.shape[0] == 0 or emb.shape[1] != self.embedding_size:
            raise InputDataError(f"enroll {name!r}: expected embeddings (N>=1, {self.embedding_size}), got {emb.shape}")
        sources = tuple(str(s) for s in sources) or ("",) * len(emb)
        if len(sources) != len(emb):
            raise ValueError(f"sources must have one entry per embedding, got {len(sources)} for {len(emb)}")
        names = self.names if name in self.names else self.names + (name,)
        label = names.index(name)
        return replace(self, names=names, embeddings=np.concatenate([self.embeddings, l2_normalize(emb)]),
                       labels=np.concatenate([self.labels, np.full(len(emb), label, np.int32)]),
                       sources=self.sources + sources, threshold=None, calibration=None)

    def remove(self, name: str) -> Gallery:
        k = self._index(name)
        keep = self.labels != k
        labels = self.labels[keep]
        labels = np.where(labels > k, labels - 1, labels).astype(np.int32)
        return replace(self, names=self.names[:k] + self.names[k + 1 :], embeddings=self.embeddings[keep],
                       labels=labels, sources=tuple(s for s, m in zip(self.sources, keep, strict=True) if m),
                       threshold=None, calibration=None)

    def rename(self, old: str, new: str) -> Gallery:
        k = self._index(old)
        if not isinstance(new, str) or not new.strip() or new.strip() == "unknown":
            raise InputDataError(f"new name must be a non-empty string other than 'unknown', got {new!r}")
        if new.strip() in self.names:
            raise InputDataError(f"cannot rename {old!r} to {new!r}: that name is already enrolled")
        names = list(self.names)
        names[k] = new.strip()
        return replace(self, names=tuple(names))

    def calibrate(self, far: float = 1e-3, allow_few: bool = False) -> tuple[Gallery, dict]:
        """Fit tau on the enrolled faces: impostor pairs (different people) set FAR <= ``far``."""
        if not 0.0 < far < 1.0:
            raise ValueError(f"far must be in (0, 1), got {far!r}")
        genuine, impostor = self.pair_distances()
        need = math.ceil(1.0 / far)
        if len(impostor) == 0:
            raise InputDataError("calibration needs at least two enrolled people (impostor pairs), got "
                                 f"{len(self.names)}")
        if len(impostor) < need and not allow_few:
            raise InputDataError(
                f"too few impostor pairs for FAR {far:g}: have {len(impostor)}, need at least {need}; "
                "enroll more people or images, ask for a larger --far, or pass --allow-few"
            )
        imp = np.sort(impostor)
        allowed = int(math.floor(far * len(imp) + 1e-9))  # false accepts the target permits
        upper = imp[allowed] if allowed < len(imp) else imp[-1] + 1e-6
        lower = imp[allowed - 1] if allowed > 0 else min(upper, float(genuine.max()) if len(genuine) else upper) - 1e-6
        tau = float(lower + (upper - lower) * 0.5) if upper > lower else float(upper) - 1e-6
        report = {
            "threshold": tau, "far_target": far, "impostor_pairs": int(len(imp)), "genuine_pairs": int(len(genuine)),
            "far": float(np.mean(imp <= tau)),
            "tar": float(np.mean(genuine <= tau)) if len(genuine) else None,
            "far_resolution": 1.0 / len(imp), "warnings": [],
        }
        if len(imp) < need:
            report["warnings"].append(f"only {len(imp)} impostor pairs: FAR below {1.0 / len(imp):.2g} cannot be measured")
        if len(genuine) < MIN_GENUINE_PAIRS:
            report["warnings"].append(
                f"only {len(genuine)} genuine pairs (need {MIN_GENUINE_PAIRS}+ for a TAR estimate): enroll several images per person")
        return replace(self, threshold=tau, calibration=report), report

    def pair_distances(self) -> tuple[np.ndarray, np.ndarray]:
        """(genuine, impostor) distances over all pairs of enrolled images."""
        if len(self.labels) < 2:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        d = distance_matrix(self.embeddings, self.embeddings, self.distance)
        iu = np.triu_indices(len(self.labels), k=1)
        same = self.labels[iu[0]] == self.labels[iu[1]]
        return d[iu][same], d[iu][~same]


# -- file IO -------------------------------------------------------------------------------------
def to_bytes(g: Gallery) -> bytes:
    header = {
        "format": FORMAT, "version": VERSION, "model_fingerprint": g.fingerprint,
        "embedding_size": g.embedding_size, "distance": g.distance, "names": list(g.names),
        "sources": list(g.sources), "threshold": g.threshold, "calibration": g.calibration,
    }
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(json.dumps(header, allow_nan=False).encode("utf-8"), np.uint8),
             embeddings=g.embeddings.astype(np.float32), labels=g.labels.astype(np.int32))
    return buf.getvalue()


def save_gallery(path: str | os.PathLike, g: Gallery) -> Path:
    return atomic_write_bytes(path, to_bytes(g))


MAX_GALLERY_BYTES = 1 << 30          # 1 GiB: ~2M enrolled images of 128 floats
MAX_HEADER_BYTES = 64 << 20          # names and sources of that many images
LOCK_TIMEOUT_S = 30.0


@contextlib.contextmanager
def locked(path: str | os.PathLike, timeout: float = LOCK_TIMEOUT_S):
    """Hold an exclusive advisory lock for a gallery's read-modify-write (``PATH.lock`` beside the
    real file; symlinks followed). Waits up to ``timeout`` seconds for another writer, then fails
    with a message naming the file. Readers do not lock: writes are atomic replaces."""
    import fcntl

    target = real_target(path)
    if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout >= 0):
        raise ValueError(f"lock timeout: expected a finite number of seconds >= 0, got {timeout!r}")
    lock_path = target.with_name(target.name + ".lock")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot create the gallery lock ({exc.strerror})", str(lock_path)) from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise InputDataError(
                        f"{target}: another process is changing this gallery (lock {lock_path} held for "
                        f"{timeout:g} s); try again when it has finished") from None
                time.sleep(0.02)
        yield target
    finally:
        os.close(fd)  # releases the lock


def update_gallery(path: str | os.PathLike, change, *, fingerprint: str | None = None, new=None,
                   timeout: float = LOCK_TIMEOUT_S) -> Gallery:
    """Locked load -> ``change(gallery)`` -> atomic save; returns the saved gallery. ``new()``
    makes the gallery when the file does not exist yet (else a missing file is an error)."""
    with locked(path, timeout) as target:
        if new is not None and not target.exists():
            g = new()
        else:
            g = load_gallery(target, fingerprint=fingerprint)
        g = change(g)
        save_gallery(target, g)
    return g


def load_gallery(path: str | os.PathLike, fingerprint: str | None = None) -> Gallery:
    """Read a gallery; with ``fingerprint``, refuse one built with another model. Every field is
    checked; a damaged or hand-edited gallery is refused with the field, the expected and the
    actual value."""
    p, _ = regular_file(path, "gallery", MAX_GALLERY_BYTES,
                        missing="gallery not found (create it with `edgecnn face enroll`)")
    try:
        with zipfile.ZipFile(io.BytesIO(p.read_bytes())) as z:
            header = json.loads(_member(z, "header", np.uint8, 1, MAX_HEADER_BYTES).tobytes().decode("utf-8"))
            emb = _member(z, "embeddings", np.float32, 2, MAX_GALLERY_BYTES)
            labels = _member(z, "labels", np.int32, 1, MAX_GALLERY_BYTES)
    except InputDataError as exc:
        raise InputDataError(f"{p}: {exc}") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError, EOFError, RecursionError) as exc:
        raise InputDataError(f"{p}: not a readable edgecnn gallery ({type(exc).__name__}: {exc})"[:300]) from None
    g = _from_header(p, header, emb, labels)
    if fingerprint and fingerprint != g.fingerprint:
        raise InputDataError(
            f"{p}: gallery was enrolled with model {g.fingerprint}, this model is {fingerprint}; "
            "embeddings of different models do not compare: re-enroll with this model"
        )
    return g


def _member(z: zipfile.ZipFile, name: str, dtype, ndim: int, max_bytes: int) -> np.ndarray:
    """One ``.npy`` array of the archive, its header checked against its size before any allocation."""
    try:
        info = z.getinfo(name + ".npy")
    except KeyError:
        raise InputDataError(f"gallery array {name!r} missing") from None
    if info.file_size > max_bytes:
        raise InputDataError(f"gallery array {name!r}: {info.file_size} bytes, more than {max_bytes}")
    with z.open(info) as f:
        version = np.lib.format.read_magic(f)
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise InputDataError(f"gallery array {name!r}: unsupported .npy version {version}")
        shape, fortran, dt = readers[version](f, max_header_size=10000)
        header_end = f.tell()
        if dt != np.dtype(dtype) or len(shape) != ndim or fortran:
            raise InputDataError(f"gallery array {name!r}: expected {ndim}-D {np.dtype(dtype)}, got shape {shape} "
                                 f"dtype {dt}{' (Fortran order)' if fortran else ''}")
        need = int(np.prod(shape, dtype=np.int64)) * dt.itemsize if shape else dt.itemsize
        if need != info.file_size - header_end:
            raise InputDataError(f"gallery array {name!r}: header declares {shape} ({need} bytes), the file holds "
                                 f"{info.file_size - header_end}")
        data = f.read(need)
    return np.frombuffer(data, dtype=dt).reshape(shape).copy()


def _field(p: Path, h: dict, key: str, ok, expected: str):
    if key not in h or not ok(h[key]):
        got = repr(h.get(key, "<missing>"))
        raise InputDataError(f"{p}: gallery header field {key!r}: expected {expected}, got "
                             f"{got[:80]}; the file is damaged: rebuild it with `edgecnn face enroll`")
    return h[key]


def _is_str_list(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _from_header(p: Path, h, emb: np.ndarray, labels: np.ndarray) -> Gallery:
    if not isinstance(h, dict) or h.get("format") != FORMAT:
        raise InputDataError(f"{p}: not an edgecnn gallery (format {h.get('format') if isinstance(h, dict) else h!r})")
    version = _field(p, h, "version", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                     "an integer >= 1")
    if version > VERSION:
        raise InputDataError(f"{p}: gallery version {version} is newer than this edgecnn reads ({VERSION})")
    fp = _field(p, h, "model_fingerprint", lambda v: isinstance(v, str) and v.strip() != "",
                "the model's fingerprint (a non-empty string)")
    d = _field(p, h, "embedding_size", lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 65536,
               "an integer in 1..65536")
    distance = _field(p, h, "distance", lambda v: v in DISTANCES, f"one of {sorted(DISTANCES)}")
    names = _field(p, h, "names", lambda v: _is_str_list(v) and all(n.strip() and n != "unknown" for n in v)
                   and len(set(v)) == len(v), "a list of distinct, non-empty names")
    sources = _field(p, h, "sources", _is_str_list, "a list of strings, one per enrolled image")
    tau = _field(p, h, "threshold", lambda v: v is None or (isinstance(v, int | float) and not isinstance(v, bool)
                                                             and math.isfinite(v) and v > 0),
                 "null or a finite number > 0")
    calibration = _field(p, h, "calibration", lambda v: v is None or isinstance(v, dict), "null or an object")
    if emb.shape[1] != d or labels.shape != (emb.shape[0],) or len(sources) != len(labels):
        raise InputDataError(f"{p}: gallery arrays disagree: embeddings {emb.shape}, labels {labels.shape}, "
                             f"embedding_size {d}, {len(sources)} sources")
    if not np.all(np.isfinite(emb)):
        raise InputDataError(f"{p}: gallery embeddings hold NaN or infinite values")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(names)):
        raise InputDataError(f"{p}: gallery labels out of range for {len(names)} names")
    return Gallery(fp, d, distance, tuple(names), emb, labels, tuple(sources),
                   None if tau is None else float(tau), calibration)


class IdentifyPipeline:
    """Face identification as a pipeline of the camera loop (``edgecnn.edge.core.camera.run_loop``):
    find the face and crop or align it (preprocess), embed it (infer), look it up in the gallery (postprocess).
    A frame without a face gives ``(None, None)``; else ``(Match, Face)``."""

    def __init__(self, embedder, gallery: Gallery, tau: float, score: str = "min"):
        self.embedder, self.gallery, self.tau, self.score = embedder, gallery, float(tau), score

    def preprocess(self, frame_bgr):
        from edgecnn.edge.face.runtime import FaceNotFound

        try:
            face = self.embedder.extract(frame_bgr, "frame", still=False)
        except FaceNotFound:
            return None, None
        return face.pixels[None], face

    def infer(self, pixels):
        return None if pixels is None else self.embedder.embed_faces(pixels)[0]

    def postprocess(self, vector, face):
        if vector is None:
            return None, None
        return self.gallery.identify(vector, self.tau, self.score), face

