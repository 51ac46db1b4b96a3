"""Small report plots drawn with OpenCV (no matplotlib on the device), written atomically."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from edgecnn.edge.core.fileio import atomic_write_bytes

_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def color(i: int) -> tuple[int, int, int]:
    """A distinct colour (BGR) for series/class ``i``."""
    r, g, b = _COLORS[i % len(_COLORS)]
    return (b, g, r)


def save_png(path, image_bgr: np.ndarray) -> Path:
    ok, encoded = cv2.imencode(".png", image_bgr)
    if not ok:
        raise ValueError(f"{path}: PNG encoding failed")
    return atomic_write_bytes(path, encoded.tobytes())


def line_plot(path, curves: dict, *, title: str = "", xlabel: str = "", ylabel: str = "",
              xlog: bool = False, size=(640, 480), xlim=None, ylim=None) -> Path:
    """Plot ``{label: (x, y)}`` curves with axes, ticks and a legend; write a PNG."""
    w, h = size
    left, right, top, bottom = 70, 20, 40, 55
    img = np.full((h, w, 3), 255, np.uint8)
    tx = (lambda v: np.log10(np.maximum(v, 1e-12))) if xlog else (lambda v: np.asarray(v, float))
    xs = [tx(np.asarray(x, float)) for x, _ in curves.values()] or [np.array([0.0, 1.0])]
    ys = [np.asarray(y, float) for _, y in curves.values()] or [np.array([0.0, 1.0])]
    x0, x1 = (tx(np.array(xlim, float)) if xlim else (min(a.min() for a in xs), max(a.max() for a in xs)))
    y0, y1 = ylim if ylim else (min(a.min() for a in ys), max(a.max() for a in ys))
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)

    def to_px(x, y):
        px = left + (np.asarray(x) - x0) / (x1 - x0) * (w - left - right)
        py = h - bottom - (np.asarray(y) - y0) / (y1 - y0) * (h - top - bottom)
        return np.stack([px, py], axis=-1).round().astype(np.int32)

    cv2.rectangle(img, (left, top), (w - right, h - bottom), (0, 0, 0), 1)
    for k in range(6):
        fx, fy = x0 + (x1 - x0) * k / 5, y0 + (y1 - y0) * k / 5
        (px, _), (_, py) = to_px(fx, y0), to_px(x0, fy)
        xt = f"1e{fx:.1f}" if xlog else _fmt(fx)
        cv2.putText(img, xt, (int(px) - 15, h - bottom + 18), _FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, _fmt(fy), (5, int(py) + 4), _FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.line(img, (int(px), top), (int(px), h - bottom), (230, 230, 230), 1)
        cv2.line(img, (left, int(py)), (w - right, int(py)), (230, 230, 230), 1)
    for i, (label, (x, y)) in enumerate(curves.items()):
        pts = to_px(tx(np.asarray(x, float)), np.asarray(y, float))
        if len(pts):
            cv2.polylines(img, [pts.reshape(-1, 1, 2)], False, color(i), 2, cv2.LINE_AA)
        cv2.putText(img, str(label), (left + 10, top + 18 + 18 * i), _FONT, 0.45, color(i), 1, cv2.LINE_AA)
    cv2.putText(img, title, (left, 25), _FONT, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, xlabel, (w // 2 - 40, h - 12), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, ylabel, (5, top - 8), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return save_png(path, img)


def confusion_png(path, matrix, labels, *, title: str = "confusion matrix (rows: truth)") -> Path:
    """A confusion matrix as a heat map with counts; rows are the truth, columns the prediction."""
    m = np.asarray(matrix, dtype=np.int64)
    n = len(labels)
    if m.shape != (n, n):
        raise ValueError(f"confusion_png: matrix shape {m.shape} does not match {n} labels")
    cell, margin = 70, 80
    img = np.full((margin + cell * n + 20, margin + cell * n + 20, 3), 255, np.uint8)
    rows = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    for r in range(n):
        for c in range(n):
            shade = int(255 - 200 * rows[r, c])
            x, y = margin + c * cell, margin + r * cell
            cv2.rectangle(img, (x, y), (x + cell, y + cell), (255, shade, shade), -1)
            cv2.rectangle(img, (x, y), (x + cell, y + cell), (0, 0, 0), 1)
            ink = (255, 255, 255) if rows[r, c] > 0.6 else (0, 0, 0)
            cv2.putText(img, str(m[r, c]), (x + 6, y + cell // 2 + 5), _FONT, 0.45, ink, 1, cv2.LINE_AA)
        cv2.putText(img, str(labels[r]), (margin - 30, margin + r * cell + cell // 2 + 5), _FONT, 0.5, (0, 0, 0), 1)
        cv2.putText(img, str(labels[r]), (margin + r * cell + cell // 2 - 5, margin - 10), _FONT, 0.5, (0, 0, 0), 1)
    cv2.putText(img, title, (10, 22), _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return save_png(path, img)


def _fmt(v: float) -> str:
    if v == 0 or (1e-2 <= abs(v) < 1e4):
        return f"{v:.3g}"
    return f"{v:.0e}" if math.isfinite(v) else str(v)


def pairs_png(path, rows, *, title: str = "", side: int = 96) -> Path:
    """A sheet of image pairs, one row each: ``rows`` is a list of ``(image_a, image_b, text, ok)``
    with BGR uint8 images (any size; shown ``side`` px square), a caption and ``ok`` True (green
    caption), False (red) or None (black), e.g. face verification verdicts with their distances."""
    if not rows:
        raise ValueError("pairs_png: no rows")
    top, pad, text_w = 34, 8, 520
    width = 3 * pad + 2 * side + text_w
    img = np.full((top + len(rows) * (side + pad) + pad, width, 3), 255, np.uint8)
    cv2.putText(img, title, (pad, 22), _FONT, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    for r, (a, b, text, ok) in enumerate(rows):
        y = top + r * (side + pad)
        for c, im in enumerate((a, b)):
            im = np.asarray(im, np.uint8)
            if im.ndim == 2:
                im = cv2.cvtColor(im, cv2.COLOR_GRAY2BGR)
            x = pad + c * (side + pad)
            img[y : y + side, x : x + side] = cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA
                                                         if max(im.shape[:2]) > side else cv2.INTER_NEAREST)
        ink = (0, 0, 0) if ok is None else ((30, 140, 30) if ok else (30, 30, 200))
        for k, line in enumerate(str(text).split("\n")):
            cv2.putText(img, line, (3 * pad + 2 * side, y + side // 2 - 6 + 20 * k), _FONT, 0.5, ink, 1, cv2.LINE_AA)
    return save_png(path, img)
