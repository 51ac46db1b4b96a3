"""Face verification metrics, the same NumPy code for the Keras model and the int8 model.

Convention: a pair is accepted ("same person") when its distance ``d <= tau``.
* ``roc``: false accept rate (FAR, impostor pairs accepted) and true accept rate (TAR, genuine
  pairs accepted) at every threshold; ``auc`` the area under it.
* ``kfold_accuracy``: LFW protocol, tau fitted on 9 folds and tested on the 10th, mean and std.
* ``tar_at_far``: TAR at the largest tau whose FAR stays at or below the target.
* ``identification_top1``: one gallery image per person, the rest are probes.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.core.fileio import atomic_write_json
from edgecnn.edge.face.data import DEFAULT_FOLDS, balanced_pairs, list_identities, parse_pairs
from edgecnn.edge.face.runtime import (
    DEFAULT_DISTANCE,
    Embedder,
    FaceNotFound,
    auto_center_scale,
    distance_matrix,
    face_from_file,
    load_image,
    pair_distances,
)

FAR_TARGETS = (1e-2, 1e-3)


def _check(distances, same):
    d = np.asarray(distances, np.float64).ravel()
    s = np.asarray(same, bool).ravel()
    if d.shape != s.shape:
        raise ValueError(f"distances and same must have the same length, got {d.shape} and {s.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("distances must be finite")
    return d, s


def roc(distances, same):
    """Return (far, tar, thresholds), increasing, starting at (0, 0) for tau below every distance."""
    d, s = _check(distances, same)
    n_pos, n_neg = int(s.sum()), int((~s).sum())
    if n_pos == 0 or n_neg == 0:
        raise InputDataError(f"need both same and different pairs for a ROC, got {n_pos} same and {n_neg} different")
    order = np.argsort(d, kind="stable")
    d, s = d[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(d)), len(d) - 1]  # last index of each distinct distance
    tp = np.cumsum(s)[last]
    fp = np.cumsum(~s)[last]
    tar = np.r_[0.0, tp / n_pos]
    far = np.r_[0.0, fp / n_neg]
    thresholds = np.r_[d[0] - 1e-6, d[last]]
    return far, tar, thresholds


def auc(distances, same) -> float:
    far, tar, _ = roc(distances, same)
    return float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2.0))


def tar_at_far(distances, same, far_target: float) -> tuple[float, float]:
    """(TAR, tau) at the largest threshold whose FAR <= ``far_target``."""
    if not 0.0 <= far_target <= 1.0:
        raise ValueError(f"far_target must be in [0, 1], got {far_target!r}")
    far, tar, thr = roc(distances, same)
    k = int(np.flatnonzero(far <= far_target + 1e-12)[-1])
    return float(tar[k]), float(thr[k])


def best_threshold(distances, same) -> float:
    """The tau with the highest accuracy (midpoint between neighbouring distances)."""
    d, s = _check(distances, same)
    if d.size == 0:
        raise InputDataError("no pairs to fit a threshold on")
    u = np.unique(d)
    candidates = np.r_[u[0] - 1e-6, (u[:-1] + u[1:]) / 2.0, u[-1] + 1e-6]
    order = np.argsort(d, kind="stable")
    ds, ss = d[order], s[order]
    accepted = np.searchsorted(ds, candidates, side="right")  # pairs with d <= tau
    tp = np.r_[0, np.cumsum(ss)][accepted]
    fp = accepted - tp
    correct = tp + (int((~ss).sum()) - fp)
    return float(candidates[int(np.argmax(correct))])


def accuracy_at(distances, same, tau: float) -> float:
    d, s = _check(distances, same)
    return float(np.mean((d <= tau) == s)) if d.size else float("nan")


def kfold_accuracy(distances, same, folds=None, num_folds: int = DEFAULT_FOLDS) -> dict:
    """LFW protocol: for each fold, tau fitted on the other folds, accuracy on this one."""
    d, s = _check(distances, same)
    folds = np.arange(d.size) % num_folds if folds is None else np.asarray(folds).ravel()
    if folds.shape != d.shape:
        raise ValueError(f"folds must have one entry per pair, got {folds.shape} for {d.shape}")
    accs, taus = [], []
    for f in np.unique(folds):
        test = folds == f
        if test.all():
            raise InputDataError("k-fold accuracy needs at least two folds")
        tau = best_threshold(d[~test], s[~test])
        accs.append(accuracy_at(d[test], s[test], tau))
        taus.append(tau)
    return {"mean": float(np.mean(accs)), "std": float(np.std(accs)), "per_fold": accs, "thresholds": taus}


def identification_top1(embeddings, labels, distance: str = DEFAULT_DISTANCE, seed: int = 0) -> dict:
    """One random gallery image per person; every other image is a probe scored by nearest gallery."""
    emb = np.asarray(embeddings, np.float32)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    gallery_idx = np.array([rng.choice(np.flatnonzero(labels == lab)) for lab in np.unique(labels)], np.int64)
    probe_mask = np.ones(len(labels), bool)
    probe_mask[gallery_idx] = False
    if not probe_mask.any():
        return {"top1": float("nan"), "probes": 0, "gallery": int(len(gallery_idx))}
    d = distance_matrix(emb[probe_mask], emb[gallery_idx], distance)
    hits = labels[gallery_idx][np.argmin(d, axis=1)] == labels[probe_mask]
    return {"top1": float(hits.mean()), "probes": int(probe_mask.sum()), "gallery": int(len(gallery_idx))}


def pair_metrics(distances, same, folds=None, model_tau: float | None = None) -> dict:
    """All pair metrics in the DESIGN.md keys (plus a few extra)."""
    d, s = _check(distances, same)
    kf = kfold_accuracy(d, s, folds)
    out = {
        "pair_accuracy": kf["mean"],
        "pair_accuracy_std": kf["std"],
        "auc": auc(d, s),
        "tar_at_far": {f"{far:g}": tar_at_far(d, s, far)[0] for far in FAR_TARGETS},
        "threshold": best_threshold(d, s),
        "num_pairs": int(d.size),
        "num_same": int(s.sum()),
    }
    if model_tau is not None:
        out["model_threshold"] = float(model_tau)
        out["accuracy_at_model_threshold"] = accuracy_at(d, s, model_tau)
    return out


# -- the `edgecnn eval` plug-in -------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    """What to evaluate and how; ``edgecnn eval`` fills it from its flags (same names)."""

    data: str  # a folder with one sub-folder of photos per person
    pairs: str | None = None  # an LFW-format pair list (default: balanced pairs built from data)
    num_pairs: int = 3000  # balanced pairs to build when no pair list is given
    seed: int = 0  # seed for balanced pairs and the gallery/probe split
    people: str | None = None  # a file naming the people to use, one per line
    flip_tta: str = "model"  # "model" (as its metadata says), "on" or "off"
    finder: str | None = None  # face finder override (haar, haar_or_center, center, none, learned)
    landmarks: str | None = None  # landmark model override for 5-point aligned models
    pick: str | None = None  # which face of several: largest (default) or center
    report: str | None = None  # a folder for eval.json and the ROC plot


def _add(parser: argparse.ArgumentParser, *flags, **kw) -> None:
    if not any(f in parser._option_string_actions for f in flags):  # the common CLI may own it
        parser.add_argument(*flags, **kw)


def add_eval_args(parser: argparse.ArgumentParser) -> None:
    _add(parser, "--pairs", default=None, help="LFW-format pair list; default: balanced pairs built from --data")
    _add(parser, "--num-pairs", type=int, default=3000, help="balanced pairs to build without --pairs")
    _add(parser, "--seed", type=int, default=0, help="seed for balanced pairs and the gallery/probe split")
    _add(parser, "--people", default=None, help="only these people (a file, one name per line), e.g. held-out test people")
    _add(parser, "--flip-tta", choices=("model", "on", "off"), default="model",
         help="embed the mirrored face too and add the embeddings (default: as the model metadata says)")
    _add(parser, "--finder", default=None, help="face finder override (haar, haar_or_center, center, none, learned)")
    _add(parser, "--pick", choices=("largest", "center"), default=None,
         help="which face of several: the largest (default) or the one nearest the image centre")
    _add(parser, "--landmarks", default=None,
         help="landmark model for a 5-point aligned face model (default: the one its metadata names)")


def read_people(path, ids) -> list[str]:
    """Names from a file (one per line) that exist in ``ids``; InputDataError when none do."""
    p = Path(path)
    if not p.is_file():
        raise InputDataError(f"{p}: people list not found")
    wanted = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    present = [n for n in wanted if n in set(ids.names)]
    if not present:
        raise InputDataError(f"{p}: none of its {len(wanted)} names is a person folder under {ids.root}")
    return present


def embed_paths(embedder: Embedder, paths) -> tuple[dict[str, np.ndarray], list[str]]:
    """Embed each distinct path once; returns ({path: vector}, [paths without a face])."""
    unique = list(dict.fromkeys(paths))
    crops, kept, no_face = [], [], []
    for p in unique:
        try:
            crops.append(face_from_file(p, embedder.config, embedder.landmarks).pixels)
            kept.append(p)
        except FaceNotFound:
            no_face.append(p)
    emb = embedder.embed_faces(np.stack(crops)) if crops else np.zeros((0, embedder.embedding_size), np.float32)
    return dict(zip(kept, emb, strict=True)), no_face


def evaluate(model, opts: Options) -> dict:
    """Pair metrics (+ identification top-1) of ``model`` on the identity folder ``opts.data``."""
    if opts.flip_tta not in ("model", "on", "off"):
        raise ValueError(f"flip_tta must be 'model', 'on' or 'off', got {opts.flip_tta!r}")
    tta = {"model": None, "on": True, "off": False}[opts.flip_tta]
    embedder = Embedder.from_model(model, finder=opts.finder, flip_tta=tta, landmarks=opts.landmarks,
                                   pick=opts.pick)
    ids = list_identities(opts.data)
    if opts.people:
        ids = ids.subset(read_people(opts.people, ids))
    seed = int(opts.seed)
    if opts.pairs:
        pl = parse_pairs(opts.pairs, opts.data)
        keep = set(ids.paths)
        sel = np.array([x in keep and y in keep for x, y in zip(pl.a, pl.b, strict=True)], bool)
        a, b = [x for x, k in zip(pl.a, sel, strict=True) if k], [y for y, k in zip(pl.b, sel, strict=True) if k]
        same, folds, skipped = pl.same[sel], pl.folds[sel], pl.skipped
    else:
        # strictly balanced: as many different-person pairs as same-person ones (LFW's protocol),
        # also on sets with few same pairs (AT&T), where answering "different" would score high
        ia, ib, same, folds = balanced_pairs(ids.labels, int(opts.num_pairs), seed, strict=True)
        a, b, skipped = [ids.paths[i] for i in ia], [ids.paths[i] for i in ib], 0
    if not a:
        raise InputDataError(f"{opts.data}: no usable pairs ({skipped} skipped for missing files)")
    if embedder.config.finder == "haar_or_center":  # frame centred data sets like the Haar finder does
        sample = np.random.default_rng(0).permutation(len(ids))[:200]
        scale = auto_center_scale([load_image(ids.paths[i]) for i in sample], embedder.config)
        embedder.config = replace(embedder.config, center_scale=scale)
    vectors, no_face = embed_paths(embedder, list(ids.paths) + a + b)
    ok = np.array([x in vectors and y in vectors for x, y in zip(a, b, strict=True)], bool)
    if not ok.any():
        raise InputDataError(f"{opts.data}: no pair has a face found in both images")
    va = np.stack([vectors[x] for x, k in zip(a, ok, strict=True) if k])
    vb = np.stack([vectors[y] for y, k in zip(b, ok, strict=True) if k])
    d = pair_distances(va, vb, embedder.distance)
    result = pair_metrics(d, same[ok], folds[ok], model_tau=embedder.threshold)
    id_mask = [p in vectors for p in ids.paths]
    emb = np.stack([vectors[p] for p, k in zip(ids.paths, id_mask, strict=True) if k])
    result["identification"] = identification_top1(emb, ids.labels[id_mask], embedder.distance, seed)
    result.update(flip_tta=embedder.flip_tta, skipped_pairs=int(skipped), pairs_without_face=int((~ok).sum()), images_without_face=len(no_face))
    if opts.report:
        write_report(opts.report, d, same[ok], result)
    return result


def write_report(folder: str | os.PathLike, distances, same, result: dict) -> Path:
    """``roc.png`` (TAR vs FAR, log x) and ``face_eval.json`` under ``folder``."""
    from edgecnn.edge.core import plots  # OpenCV drawing, imported only when a report is asked for

    out = Path(folder)
    far, tar, _ = roc(distances, same)
    floor = 1.0 / max(1, int((~np.asarray(same, bool)).sum()))
    plots.line_plot(out / "roc.png", {"ROC": (np.maximum(far, floor), tar)}, title="face verification ROC",
                    xlabel="false accept rate", ylabel="true accept rate", xlog=True)
    atomic_write_json(out / "face_eval.json", result)
    return out
