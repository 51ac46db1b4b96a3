"""Images: size from the file header, loading, and letterboxing (resize keeping aspect ratio,
pad) with its exact inverse."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgecnn.edge.core.errors import InputDataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp")


def image_size(path) -> tuple[int, int]:
    """``(width, height)`` from a PNG/JPEG/BMP header (no decoding); OpenCV for anything else."""
    p = Path(path)
    if not p.is_file():
        raise InputDataError(f"{p}: image file not found (or not a regular file)")
    with open(p, "rb") as f:
        head = f.read(32)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
            w, h = struct.unpack(">II", head[16:24])
            return int(w), int(h)
        if head[:2] == b"BM" and len(head) >= 26:
            w, h = struct.unpack("<ii", head[18:26])
            return int(w), abs(int(h))
        if head[:2] == b"\xff\xd8":
            size = _jpeg_size(f)
            if size is not None:
                return size
    img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputDataError(f"{p}: cannot read image size (corrupt or unsupported file)")
    return int(img.shape[1]), int(img.shape[0])


def _jpeg_size(f) -> tuple[int, int] | None:
    f.seek(2)
    while True:
        marker = f.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        code = marker[1]
        if code in (0xD8, 0x01) or 0xD0 <= code <= 0xD7:
            continue
        length_bytes = f.read(2)
        if len(length_bytes) < 2:
            return None
        length = struct.unpack(">H", length_bytes)[0]
        if code in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            data = f.read(5)
            if len(data) < 5:
                return None
            h, w = struct.unpack(">HH", data[1:5])
            return int(w), int(h)
        f.seek(length - 2, 1)


MAX_IMAGE_PIXELS = 100_000_000     # 100 MP: far above any camera frame, far below what exhausts a Pi
MAX_IMAGE_BYTES = 256 << 20


def load_image(path, *, color: str = "RGB") -> np.ndarray:
    """Read an image file as uint8 ``(H, W, 3)`` RGB (or ``(H, W)`` with ``color='GRAY'``).

    The size in the file's header is checked before decoding: a header claiming 100000 x 100000
    pixels is refused, not allocated."""
    from edgecnn.edge.core.fileio import regular_file

    p, _ = regular_file(path, "image file", MAX_IMAGE_BYTES)
    try:
        w, h = image_size(p)
    except (InputDataError, struct.error, OSError, cv2.error):
        w = h = 0  # not a header we parse: OpenCV decides below
    if w * h > MAX_IMAGE_PIXELS:
        raise InputDataError(f"{p}: header claims {w} x {h} pixels, more than {MAX_IMAGE_PIXELS} this reads")
    data = np.fromfile(str(p), dtype=np.uint8)
    flag = cv2.IMREAD_GRAYSCALE if color == "GRAY" else cv2.IMREAD_COLOR
    try:
        img = cv2.imdecode(data, flag) if data.size else None
    except cv2.error as exc:
        msg = str(exc).strip().splitlines()[-1][:160] if str(exc).strip() else "OpenCV error"
        raise InputDataError(f"{p}: cannot decode image ({msg})") from None
    if img is None:
        raise InputDataError(f"{p}: cannot decode image (corrupt file or unsupported format)")
    if color == "RGB":
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if color in ("BGR", "GRAY"):
        return img
    raise ValueError(f"load_image: color must be 'RGB', 'BGR' or 'GRAY', got {color!r}")


@dataclass(frozen=True)
class LetterboxInfo:
    """How an image of ``src_hw`` was mapped onto a canvas: ``canvas = src * scale + (pad_x, pad_y)``."""

    src_hw: tuple[int, int]
    dst_hw: tuple[int, int]
    scale: float
    pad_x: float
    pad_y: float


def letterbox(img: np.ndarray, size, *, fill: int = 114, interpolation: int | None = None) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize ``img`` into ``size`` (int or (H, W)) keeping its aspect ratio; pad the rest with ``fill``.

    ``interpolation``: an OpenCV flag; default INTER_AREA when shrinking (best quality, slower on
    multi-megapixel frames: pass ``cv2.INTER_LINEAR`` in a camera loop), INTER_LINEAR when growing.
    """
    if img.ndim not in (2, 3) or img.shape[0] < 1 or img.shape[1] < 1:
        raise InputDataError(f"letterbox: expected an (H, W[, C]) image, got shape {img.shape}")
    dst_h, dst_w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    src_h, src_w = img.shape[:2]
    scale = min(dst_h / src_h, dst_w / src_w)
    new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    interp = interpolation if interpolation is not None else (cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    resized = cv2.resize(img, (new_w, new_h), interpolation=interp)
    pad_x, pad_y = (dst_w - new_w) // 2, (dst_h - new_h) // 2
    canvas = np.full((dst_h, dst_w) + img.shape[2:], fill, dtype=img.dtype)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized.reshape((new_h, new_w) + img.shape[2:])
    # the effective scale per axis differs by rounding; keep the exact mapping of the corners
    info = LetterboxInfo((src_h, src_w), (dst_h, dst_w), scale, float(pad_x), float(pad_y))
    return canvas, info


def letterbox_boxes(xyxy: np.ndarray, info: LetterboxInfo) -> np.ndarray:
    """Map xyxy boxes in source pixels onto the letterboxed canvas."""
    b = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
    b[:, [0, 2]] = b[:, [0, 2]] * info.scale + info.pad_x
    b[:, [1, 3]] = b[:, [1, 3]] * info.scale + info.pad_y
    return b


def unletterbox_boxes(xyxy: np.ndarray, info: LetterboxInfo, *, clip: bool = True) -> np.ndarray:
    """Inverse of :func:`letterbox_boxes`: canvas xyxy -> source-image xyxy (clipped to the image)."""
    b = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
    b[:, [0, 2]] = (b[:, [0, 2]] - info.pad_x) / info.scale
    b[:, [1, 3]] = (b[:, [1, 3]] - info.pad_y) / info.scale
    if clip:
        h, w = info.src_hw
        b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
        b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    return b
