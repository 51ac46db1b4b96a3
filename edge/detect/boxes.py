"""Box formats, IoU and non-max suppression in NumPy.

Formats have explicit names and every converter is called ``<src>_to_<dst>``:

* ``xyxy``   : ``x1, y1, x2, y2`` in pixels (corners; x2 > x1 for a non-empty box)
* ``xywh``   : ``x1, y1, w, h`` in pixels (top-left corner and size, as COCO writes them)
* ``cxcywh`` : ``cx, cy, w, h`` in pixels (centre and size, as YOLO decodes them)
* ``*_norm`` : the same divided by the image width/height (YOLO txt files use ``cxcywh_norm``)

All functions take ``(N, 4)`` arrays (any float dtype) and return float32 arrays; ``N == 0`` is
always allowed and gives an empty result.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_CELL = 0.35
FORMATS = ("xyxy", "xywh", "cxcywh", "xyxy_norm", "xywh_norm", "cxcywh_norm")


def as_boxes(boxes, name: str = "boxes") -> np.ndarray:
    """Return ``boxes`` as a float32 ``(N, 4)`` array; ``(4,)`` is one box. ValueError otherwise."""
    arr = np.asarray(boxes, dtype=np.float32)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None, :]
    if arr.size == 0:
        return np.zeros((0, 4), np.float32)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name}: expected an (N, 4) array, got shape {arr.shape}")
    return arr


# --------------------------------------------------------------------------- converters


def xyxy_to_xywh(b) -> np.ndarray:
    b = as_boxes(b)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


def xywh_to_xyxy(b) -> np.ndarray:
    b = as_boxes(b)
    return np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1)


def xyxy_to_cxcywh(b) -> np.ndarray:
    b = as_boxes(b)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return np.stack([b[:, 0] + w / 2, b[:, 1] + h / 2, w, h], axis=1)


def cxcywh_to_xyxy(b) -> np.ndarray:
    b = as_boxes(b)
    hw, hh = b[:, 2] / 2, b[:, 3] / 2
    return np.stack([b[:, 0] - hw, b[:, 1] - hh, b[:, 0] + hw, b[:, 1] + hh], axis=1)


def _scale(b, width: float, height: float, inverse: bool) -> np.ndarray:
    if not (width > 0 and height > 0):
        raise ValueError(f"image size: expected width, height > 0, got {width}x{height}")
    s = np.array([width, height, width, height], np.float32)
    return as_boxes(b) / s if inverse else as_boxes(b) * s


def xyxy_to_xyxy_norm(b, width: float, height: float) -> np.ndarray:
    return _scale(b, width, height, inverse=True)


def xyxy_norm_to_xyxy(b, width: float, height: float) -> np.ndarray:
    return _scale(b, width, height, inverse=False)


def xyxy_to_cxcywh_norm(b, width: float, height: float) -> np.ndarray:
    return _scale(xyxy_to_cxcywh(b), width, height, inverse=True)


def cxcywh_norm_to_xyxy(b, width: float, height: float) -> np.ndarray:
    return cxcywh_to_xyxy(_scale(b, width, height, inverse=False))


def xyxy_to_xywh_norm(b, width: float, height: float) -> np.ndarray:
    return _scale(xyxy_to_xywh(b), width, height, inverse=True)


def xywh_norm_to_xyxy(b, width: float, height: float) -> np.ndarray:
    return xywh_to_xyxy(_scale(b, width, height, inverse=False))


_TO_XYXY: dict[str, Callable] = {
    "xyxy": lambda b, w, h: as_boxes(b),
    "xywh": lambda b, w, h: xywh_to_xyxy(b),
    "cxcywh": lambda b, w, h: cxcywh_to_xyxy(b),
    "xyxy_norm": xyxy_norm_to_xyxy,
    "xywh_norm": xywh_norm_to_xyxy,
    "cxcywh_norm": cxcywh_norm_to_xyxy,
}
_FROM_XYXY: dict[str, Callable] = {
    "xyxy": lambda b, w, h: as_boxes(b),
    "xywh": lambda b, w, h: xyxy_to_xywh(b),
    "cxcywh": lambda b, w, h: xyxy_to_cxcywh(b),
    "xyxy_norm": xyxy_to_xyxy_norm,
    "xywh_norm": xyxy_to_xywh_norm,
    "cxcywh_norm": xyxy_to_cxcywh_norm,
}


def convert(boxes, src: str, dst: str, width: float = 1.0, height: float = 1.0) -> np.ndarray:
    """Convert between any two named formats; ``width``/``height`` are used by ``*_norm``."""
    for name, fmt in (("src", src), ("dst", dst)):
        if fmt not in _TO_XYXY:
            raise ValueError(f"{name}: expected one of {list(FORMATS)}, got {fmt!r}")
    return _FROM_XYXY[dst](_TO_XYXY[src](boxes, width, height), width, height)


# --------------------------------------------------------------------------- geometry


def area(xyxy) -> np.ndarray:
    """Areas of ``xyxy`` boxes; inverted boxes have area 0."""
    b = as_boxes(xyxy)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def clip_xyxy(xyxy, width: float, height: float) -> np.ndarray:
    """Clip ``xyxy`` boxes to the image ``[0, width] x [0, height]``."""
    b = as_boxes(xyxy).copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height)
    return b


def iou_matrix(a, b) -> np.ndarray:
    """Pairwise IoU of ``xyxy`` boxes: ``(N, 4), (M, 4) -> (N, M)`` float32; 0 where union is 0."""
    a, b = as_boxes(a, "a"), as_boxes(b, "b")
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def iou_wh(wh_a, wh_b) -> np.ndarray:
    """IoU of box shapes aligned at one corner: ``(N, 2), (M, 2) -> (N, M)`` (anchor matching)."""
    a = np.asarray(wh_a, np.float32).reshape(-1, 2)
    b = np.asarray(wh_b, np.float32).reshape(-1, 2)
    inter = np.minimum(a[:, None, 0], b[None, :, 0]) * np.minimum(a[:, None, 1], b[None, :, 1])
    union = (a[:, 0] * a[:, 1])[:, None] + (b[:, 0] * b[:, 1])[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


# --------------------------------------------------------------------------- selection


def score_order(scores) -> np.ndarray:
    """Indices by descending score; ties keep input order (stable), so results are reproducible."""
    s = np.asarray(scores, np.float32).reshape(-1)
    return np.argsort(-s, kind="stable")


def top_k(scores, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores in descending order (ties: earlier index first)."""
    if k < 0:
        raise ValueError(f"k: expected >= 0, got {k}")
    return score_order(scores)[:k]


def score_filter(scores, threshold: float) -> np.ndarray:
    """Boolean mask ``scores >= threshold``."""
    return np.asarray(scores, np.float32).reshape(-1) >= threshold


def _greedy_block(iou_block: np.ndarray, thr: float) -> np.ndarray:
    """Exact greedy NMS inside one score-sorted block given its IoU matrix; returns a keep mask."""
    over = np.triu(iou_block > thr, k=1)
    alive = np.ones(len(iou_block), bool)
    rows = np.flatnonzero(over.any(axis=1))
    for i in rows:
        if alive[i]:
            alive &= ~over[i]
    return alive


def _candidate_pairs(b: np.ndarray, thr: float, max_pairs: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Pairs ``(i, j)`` that may have IoU > ``thr``: j's centre lies in i's zone.

    IoU > t needs the intersection width above ``t * max(w_i, w_j)``, which bounds the centre
    offset: ``|cx_i - cx_j| < (1 - t) * k * w_i`` with ``k = max(1, 1 / (2t))`` (likewise in y),
    whichever box is wider. So the zone of half-size ``(1 - t) * k * (w_i, h_i)`` around box i
    holds every box that can overlap it that much, and each such pair is found from both sides.
    Centres are hashed into a uniform grid; the zone's cells are looked up with searchsorted.
    Returns None when there would be more than ``max_pairs`` pairs.
    """
    n = len(b)
    w = np.maximum(b[:, 2] - b[:, 0], 0)
    h = np.maximum(b[:, 3] - b[:, 1], 0)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    k = (1 - thr) * max(1.0, 1.0 / (2.0 * max(thr, 1e-3))) * 1.001
    rx, ry = k * w + 1e-6, k * h + 1e-6
    g = max(float(np.median(np.maximum(rx, ry))) * _CELL, 1e-6)
    x0, y0 = float(cx.min()), float(cy.min())
    gx = ((cx - x0) / g).astype(np.int64)
    gy = ((cy - y0) / g).astype(np.int64)
    nx = int(gx.max()) + 3
    cell = gy * nx + gx
    order = np.argsort(cell, kind="stable")
    sorted_cells = cell[order]
    lo_x = np.floor((cx - rx - x0) / g).astype(np.int64)
    hi_x = np.floor((cx + rx - x0) / g).astype(np.int64)
    lo_y = np.floor((cy - ry - y0) / g).astype(np.int64)
    hi_y = np.floor((cy + ry - y0) / g).astype(np.int64)
    lo_x, hi_x = np.clip(lo_x, 0, nx - 1), np.clip(hi_x, 0, nx - 1)
    # one query per (box, zone row): the cells of a row are contiguous in the cell id
    rows = np.maximum(hi_y - lo_y + 1, 0)
    qi = np.repeat(np.arange(n), rows)
    qy = lo_y[qi] + _ranges(rows)
    start = np.searchsorted(sorted_cells, qy * nx + lo_x[qi], side="left")
    stop = np.searchsorted(sorted_cells, qy * nx + hi_x[qi], side="right")
    counts = stop - start
    if int(counts.sum()) > max_pairs:
        return None
    i = np.repeat(qi, counts)
    j = order[np.repeat(start, counts) + _ranges(counts)]
    return i, j


def _ranges(counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(c)`` for every ``c`` in ``counts`` (vectorised)."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(counts)
    return np.arange(total, dtype=np.int64) - np.repeat(ends - counts, counts)


def _pair_iou(b: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    bi, bj = b[i], b[j]
    iw = np.minimum(bi[:, 2], bj[:, 2]) - np.maximum(bi[:, 0], bj[:, 0])
    ih = np.minimum(bi[:, 3], bj[:, 3]) - np.maximum(bi[:, 1], bj[:, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    a = area(b)
    union = a[i] + a[j] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _resolve_greedy(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Greedy NMS on a sparse graph (``src`` outranks and overlaps ``dst``); returns a keep mask.

    A box is kept when all boxes that outrank and overlap it are suppressed, and suppressed when
    one of them is kept; iterating these two rules reproduces the sequential greedy result.
    """
    state = np.zeros(n, np.int8)  # 0 undecided, 1 kept, 2 suppressed
    while True:
        undecided = state == 0
        if not undecided.any():
            return state == 1
        live = state[dst] == 0
        src, dst = src[live], dst[live]
        s_state = state[src]
        killed = np.zeros(n, bool)
        killed[dst[s_state == 1]] = True
        blocked = np.zeros(n, bool)
        blocked[dst[s_state != 2]] = True
        state[undecided & killed] = 2
        state[undecided & ~killed & ~blocked] = 1


def _nms_sparse(b: np.ndarray, subset: np.ndarray, rank: np.ndarray, thr: float,
                max_pairs: int) -> np.ndarray | None:
    """Greedy NMS of ``b[subset]`` (``subset`` in score order); a keep mask over ``subset``."""
    pairs = _candidate_pairs(b[subset], thr, max_pairs)
    if pairs is None:
        return None
    i, j = subset[pairs[0]], subset[pairs[1]]
    m = rank[i] < rank[j]  # every pair is found from both boxes: keep one orientation
    i, j = i[m], j[m]
    m = _pair_iou(b, i, j) > thr
    return _resolve_greedy(len(b), i[m], j[m])[subset]


def _block_step(b: np.ndarray, remaining: np.ndarray, thr: float, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy over the first ``block`` candidates, then drop every later one they suppress."""
    head, rest = remaining[:block], remaining[block:]
    kept = head[_greedy_block(iou_matrix(b[head], b[head]), thr)]
    if len(rest):
        rest = rest[~_overlaps(b[kept], b[rest], thr).any(axis=0)]
    return kept, rest


def _nms_adaptive(b: np.ndarray, order: np.ndarray, thr: float, limit: int, block: int,
                  max_pairs: int | None) -> np.ndarray:
    """Blocks while they remove many boxes (clusters); the sparse graph once boxes are spread out.

    After a block, every remaining box is clear of all boxes kept so far, so greedy NMS on the
    remainder alone continues the same greedy result.
    """
    remaining = order
    keep: list[np.ndarray] = []
    n_kept = removed = 0
    step = min(8, block)  # blocks grow 8, 16, 32, ... up to ``block``: the top boxes clear most clusters
    sparse_tried = False
    while len(remaining) and n_kept < limit:
        if not sparse_tried and keep and len(remaining) > 4 * step:
            sparse_tried = True  # decide once, after the first block showed how clustered boxes are
            if len(keep[-1]) * 4 > step and removed < 4 * step:
                budget = 150 * len(remaining) + 10_000 if max_pairs is None else int(max_pairs)
                rank = np.empty(len(b), np.int64)
                rank[remaining] = np.arange(len(remaining))
                mask = _nms_sparse(b, remaining, rank, thr, budget)
                if mask is not None:
                    keep.append(remaining[mask])
                    break
        before = len(remaining)
        kept, remaining = _block_step(b, remaining, thr, step)
        removed = before - len(remaining) - len(kept)
        keep.append(kept)
        n_kept += len(kept)
        step = min(step * 2, block)
    return np.concatenate(keep)[:limit] if keep else np.zeros(0, np.int64)


def _overlaps(a: np.ndarray, b: np.ndarray, thr: float) -> np.ndarray:
    """``iou_matrix(a, b) > thr`` without the division: ``inter * (1 + t) > t * (area_a + area_b)``."""
    iw = np.minimum(a[:, None, 2], b[None, :, 2])
    iw -= np.maximum(a[:, None, 0], b[None, :, 0])
    np.maximum(iw, 0, out=iw)
    ih = np.minimum(a[:, None, 3], b[None, :, 3])
    ih -= np.maximum(a[:, None, 1], b[None, :, 1])
    np.maximum(ih, 0, out=ih)
    iw *= ih
    iw *= 1.0 + thr
    rhs = area(a)[:, None] + area(b)[None, :]
    rhs *= thr
    return iw > rhs


def _nms_numpy(b: np.ndarray, s: np.ndarray, c: np.ndarray | None, thr: float, limit: int, block: int,
               max_pairs: int | None) -> np.ndarray:
    if c is not None:  # each class in its own region of the plane, then one pass
        span = float(max(np.abs(b).max(), 1.0)) * 2.0 + 1.0
        b = b + (c.astype(np.float32) * span)[:, None]
    order = score_order(s)
    if thr >= 1.0:
        return order[:limit]
    return _nms_adaptive(b, order, thr, limit, block, max_pairs)


def _nms_opencv(b: np.ndarray, s: np.ndarray, c: np.ndarray | None, thr: float, limit: int, block: int,
                max_pairs: int | None) -> np.ndarray:
    """``cv2.dnn.NMSBoxesBatched`` with the inputs arranged so that it gives the NumPy result.

    Same IoU (no +1 pixel, double precision), same strict ``>``, same stable tie order. Arranged:
    coordinates shifted to >= 0 (it separates classes by ``class * (max coordinate + 1)``, which
    merges classes when coordinates are negative); class ids as int32 (``nms`` renumbered them); zero-area
    boxes (incl. inverted ones) kept aside, since OpenCV calls two of them an overlap of 1 where
    ours is 0 (they never suppress, are never suppressed), and merged back in score order;
    ``score_threshold=-inf`` (its filter is a strict ``>``: 0 would drop zero scores); no ``top_k``
    (OpenCV's cuts the candidates before NMS, not the kept boxes).
    """
    import cv2

    xywh = np.empty((len(b), 4), np.float64)
    xywh[:, :2] = b[:, :2].astype(np.float64) - b[:, :2].min(axis=0)
    xywh[:, 2:] = np.maximum(b[:, 2:] - b[:, :2], 0)
    ids = np.zeros(len(b), np.int32) if c is None else c.astype(np.int32)
    solid = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
    if solid.all():
        keep = np.asarray(cv2.dnn.NMSBoxesBatched(xywh, s, ids, -np.inf, thr), np.int64).reshape(-1)
        return keep[:limit]
    sub = np.flatnonzero(solid)
    keep = np.asarray(cv2.dnn.NMSBoxesBatched(xywh[sub], s[sub], ids[sub], -np.inf, thr) if len(sub) else (),
                      np.int64).reshape(-1)
    keep = np.concatenate([sub[keep], np.flatnonzero(~solid)])
    return keep[np.lexsort((keep, -s[keep]))][:limit]


def _nms_auto(b: np.ndarray, s: np.ndarray, c: np.ndarray | None, thr: float, limit: int, block: int,
              max_pairs: int | None) -> np.ndarray:
    fn = _nms_opencv if len(b) <= OPENCV_MAX_BOXES else _nms_numpy
    return fn(b, s, c, thr, limit, block, max_pairs)


NMS_BACKENDS: dict[str, Callable] = {"auto": _nms_auto, "numpy": _nms_numpy, "opencv": _nms_opencv}
# "auto" runs OpenCV up to this many boxes, NumPy above (bench/bench_nms.py, docs/detect.md): up to
# 300 OpenCV is faster on clustered and on spread-out boxes; above, its O(N * kept) loop loses on
# spread-out boxes (3x at 1k, 18x at 10k) while NumPy stays within 2x of it on clustered ones.
OPENCV_MAX_BOXES = 300


def nms(xyxy, scores, iou_threshold: float = 0.5, *, class_ids=None, max_det: int | None = None,
        block: int = 64, max_pairs: int | None = None, backend: str = "auto") -> np.ndarray:
    """Greedy non-max suppression; returns kept indices in descending score order.

    A box is dropped when a kept box of higher score (earlier index on ties) overlaps it with
    IoU > ``iou_threshold`` (IoU of the boxes as given: no +1 pixel). With ``class_ids`` boxes of
    different classes never suppress each other. ``max_det`` caps the kept boxes (after NMS).

    ``backend``: ``"numpy"``, ``"opencv"`` (``cv2.dnn.NMSBoxesBatched``) or ``"auto"`` (OpenCV up
    to ``OPENCV_MAX_BOXES`` boxes, NumPy above: the faster at each size, bench/bench_nms.py). All
    give the same indices in the same order (tests/edge/test_boxes.py).

    NumPy: two exact strategies, chosen after the first block. Blocks of 8, 16, 32, ... up to
    ``block`` candidates: greedy inside the block, then one vectorised overlap test removes every
    later box a kept box suppresses (fast for detector output, which clusters around few objects).
    Or, when the first block removed few boxes (spread-out boxes), candidate pairs from a centre
    grid resolved on a sparse graph, unless that needs more than ``max_pairs`` pairs (default
    ``150 * N``; then blocks continue). Classes are shifted to their own regions of the plane.
    ``block`` and ``max_pairs`` only steer the NumPy path.
    """
    if backend not in NMS_BACKENDS:
        raise ValueError(f"backend: expected one of {sorted(NMS_BACKENDS)}, got {backend!r}")
    b = as_boxes(xyxy, "xyxy")
    s = np.asarray(scores, np.float32).reshape(-1)
    if len(s) != len(b):
        raise ValueError(f"scores: expected {len(b)} values (one per box), got {len(s)}")
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold: expected a value in [0, 1], got {iou_threshold}")
    if max_det is not None and max_det < 0:
        raise ValueError(f"max_det: expected >= 0 or None, got {max_det}")
    c = None
    if class_ids is not None:
        c = np.asarray(class_ids).reshape(-1)
        if len(c) != len(b):
            raise ValueError(f"class_ids: expected {len(b)} values (one per box), got {len(c)}")
    if len(b) == 0:
        return np.zeros(0, np.int64)
    if c is not None:  # any ids -> 0..K-1 (small shifts in NumPy, int32 for OpenCV)
        c = np.unique(c, return_inverse=True)[1].reshape(-1)
    limit = len(b) if max_det is None else int(max_det)
    return NMS_BACKENDS[backend](b, s, c, float(iou_threshold), limit, block, max_pairs)
