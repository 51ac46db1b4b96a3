"""Five-point face alignment, the same code in training and on the device (NumPy + OpenCV only).

The five points are the ones dlib's ``shape_predictor_5_face_landmarks`` gives (our landmark
teacher), in its order, with *right* and *left* meaning the sides of the image (the person's
left eye is on the image's right):

    0 ``eye_right_outer``  1 ``eye_right_inner``  2 ``eye_left_outer``  3 ``eye_left_inner``
    4 ``nose_base`` (subnasale, where the nose meets the upper lip)

There are no mouth corners: the common ArcFace template (eye centres, nose tip, mouth corners)
names other points, so this module uses the template dlib aligns these five points to
(``get_face_chip_details`` in dlib/image_transforms/interpolation.h, the frame dlib's face
recogniser was trained on): ``TEMPLATE_UNIT``, in units of the tight face square, grown by
``padding`` per side (dlib's recogniser uses 150 px with padding 0.25). ``template(size, padding)``
gives it in pixels of a ``size`` x ``size`` crop.

Use::

    chip = align_face(image_bgr, landmarks, size=112)                     # BGR in, BGR out
    pixels = aligned_pixels(image_bgr, landmarks, size=112, channels=3)   # RGB, as Face.pixels

``similarity_transform(src, dst)`` is the least-squares similarity (Umeyama 1991: rotation,
uniform scale, translation; reflections excluded) as a 2 x 3 matrix for ``cv2.warpAffine``.
Points are ``(x, y)`` in pixels with pixel centres at integer coordinates (OpenCV's and dlib's
convention).
"""

from __future__ import annotations

import cv2
import numpy as np

from edgecnn.edge.core.errors import InputDataError

POINT_NAMES = ("eye_right_outer", "eye_right_inner", "eye_left_outer", "eye_left_inner", "nose_base")
NUM_POINTS = len(POINT_NAMES)
FLIP_ORDER = (2, 3, 0, 1, 4)  # point i of a mirrored face is point FLIP_ORDER[i] of the original
RIGHT_EYE = (0, 1)
LEFT_EYE = (2, 3)
OUTER_CORNERS = (0, 2)  # their distance is the inter-ocular distance used to normalise errors

# dlib's 5-point chip template (get_face_chip_details), x right, y down, in [0, 1] of the face square.
TEMPLATE_UNIT = np.array([
    [0.8595674595992, 0.2134981538014],  # eye_right_outer
    [0.6460604764104, 0.2289674387677],  # eye_right_inner
    [0.1205750620789, 0.2137274526848],  # eye_left_outer
    [0.3340850613712, 0.2290642403242],  # eye_left_inner
    [0.4901123135679, 0.6277975316475],  # nose_base
], np.float64)
DEFAULT_PADDING = 0.25  # dlib's compute_face_descriptor padding: the teacher's framing
DEFAULT_SIZE = 112


def template(size: int = DEFAULT_SIZE, padding: float = DEFAULT_PADDING) -> np.ndarray:
    """The five template points (5, 2) float64 in pixels of a ``size`` x ``size`` aligned crop."""
    if not isinstance(size, int | np.integer) or size < 8:
        raise ValueError(f"size must be an integer >= 8 pixels, got {size!r}")
    if not 0.0 <= padding <= 2.0:
        raise ValueError(f"padding must be in [0, 2], got {padding!r}")
    return (padding + TEMPLATE_UNIT) / (1.0 + 2.0 * padding) * float(size)


def _points(pts, name: str) -> np.ndarray:
    arr = np.asarray(pts, dtype=np.float64)
    if arr.ndim == 1 and arr.size % 2 == 0:
        arr = arr.reshape(-1, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputDataError(f"{name}: expected points of shape (K, 2), got {np.shape(pts)}")
    if not np.all(np.isfinite(arr)):
        raise InputDataError(f"{name}: points hold NaN or infinite values")
    return arr


def _spread(p: np.ndarray) -> float:
    """RMS distance of the points from their centroid."""
    return float(np.sqrt(np.mean(np.sum((p - p.mean(axis=0)) ** 2, axis=1))))


def similarity_transform(src_pts, dst_pts) -> np.ndarray:
    """Least-squares similarity ``dst ~ s R src + t`` (no reflection) as a 2 x 3 float64 matrix.

    Umeyama's closed form: exact for points related by a similarity, the least-squares fit
    otherwise. InputDataError for mismatched shapes, fewer than 2 points, non-finite values or
    degenerate point sets (all points coinciding in ``src`` or in ``dst``).
    """
    src, dst = _points(src_pts, "src_pts"), _points(dst_pts, "dst_pts")
    if src.shape != dst.shape:
        raise InputDataError(f"similarity_transform: src {src.shape} and dst {dst.shape} differ in shape")
    if len(src) < 2:
        raise InputDataError(f"similarity_transform: need at least 2 point pairs, got {len(src)}")
    scale_ref = 1.0 + float(max(np.abs(src).max(), np.abs(dst).max()))
    for name, p in (("src_pts", src), ("dst_pts", dst)):
        if _spread(p) <= 1e-9 * scale_ref:
            raise InputDataError(f"similarity_transform: {name} are degenerate (all points coincide)")
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    sc, dc = src - mu_s, dst - mu_d
    var_s = np.mean(np.sum(sc * sc, axis=1))
    cov = dc.T @ sc / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.array([1.0, 1.0 if np.linalg.det(u) * np.linalg.det(vt) >= 0 else -1.0])
    rot = u @ np.diag(d) @ vt
    scale = float(np.sum(sig * d) / var_s)
    if not scale > 0:
        raise InputDataError("similarity_transform: the points give no usable scale (degenerate or mirrored set)")
    m = np.empty((2, 3), np.float64)
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def transform_points(matrix, pts) -> np.ndarray:
    """Apply a 2 x 3 affine matrix to points (K, 2) -> (K, 2) float64."""
    m = np.asarray(matrix, np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"matrix must be 2 x 3, got {m.shape}")
    p = _points(pts, "pts")
    return p @ m[:, :2].T + m[:, 2]


def invert_affine(matrix) -> np.ndarray:
    """The inverse of a 2 x 3 affine matrix (maps aligned-crop pixels back to the image)."""
    m = np.asarray(matrix, np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"matrix must be 2 x 3, got {m.shape}")
    a = m[:, :2]
    if abs(np.linalg.det(a)) < 1e-12:
        raise InputDataError("invert_affine: the matrix is singular")
    inv = np.linalg.inv(a)
    return np.hstack([inv, -inv @ m[:, 2:3]])


def align_matrix(landmarks, size: int = DEFAULT_SIZE, padding: float = DEFAULT_PADDING) -> np.ndarray:
    """The 2 x 3 similarity taking image pixels to the aligned ``size`` x ``size`` crop."""
    pts = _points(landmarks, "landmarks")
    if pts.shape != (NUM_POINTS, 2):
        raise InputDataError(f"landmarks: expected {NUM_POINTS} points (5, 2) in dlib order, got {pts.shape}")
    return similarity_transform(pts, template(size, padding))


def warp(image: np.ndarray, matrix, size: int, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """``cv2.warpAffine`` to ``size`` x ``size`` (bilinear); a large shrink first downsizes the
    image by an integer factor with INTER_AREA so that the crop is not aliased."""
    m = np.asarray(matrix, np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    factor = int(np.floor(1.0 / scale)) if scale > 0 else 1
    if factor >= 2 and min(image.shape[:2]) // factor >= 2:
        h, w = (image.shape[0] // factor), (image.shape[1] // factor)  # exact integer ratio: trim the rest
        image = cv2.resize(image[: h * factor, : w * factor], (w, h), interpolation=cv2.INTER_AREA)
        # small pixel j covers big pixels factor*j .. factor*j + factor - 1: centre factor*j + (factor-1)/2
        m = np.hstack([m[:, :2] * factor, (m[:, :2] @ np.full((2, 1), (factor - 1) / 2.0)) + m[:, 2:3]])
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=border)


def _image(image) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise InputDataError(f"image: expected uint8 pixels, got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise InputDataError(f"image: expected an (H, W) or (H, W, 3) image, got shape {arr.shape}")
    if min(arr.shape[:2]) < 2:
        raise InputDataError(f"image: too small ({arr.shape[1]}x{arr.shape[0]} pixels)")
    return arr


def align_face(image_bgr, landmarks, size: int = DEFAULT_SIZE, padding: float = DEFAULT_PADDING) -> np.ndarray:
    """The aligned face: landmarks (5, 2) in image pixels, dlib order -> (size, size, 3) uint8.

    Colour order is kept (BGR in, BGR out); a grey image (H, W) or (H, W, 1) comes back as 3
    equal channels. Borders outside the image are replicated, as ``crop_square`` does.
    """
    img = _image(image_bgr)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return warp(img, align_matrix(landmarks, size, padding), size)


def aligned_pixels(image_bgr, landmarks, size: int = DEFAULT_SIZE, channels: int = 3,
                   padding: float = DEFAULT_PADDING) -> np.ndarray:
    """The aligned crop in the model's pixel convention (as ``runtime.Face.pixels``): RGB
    (size, size, 3) when ``channels`` is 3, grey (size, size, 1) when it is 1."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    chip = align_face(image_bgr, landmarks, size, padding)
    if channels == 1:
        return cv2.cvtColor(chip, cv2.COLOR_BGR2GRAY)[:, :, None]
    return cv2.cvtColor(chip, cv2.COLOR_BGR2RGB)


def flip_points(pts, width: float) -> np.ndarray:
    """Landmarks of the horizontally mirrored image (``width`` pixels wide): x -> width - 1 - x,
    and the left/right points swapped (``FLIP_ORDER``) so that the order stays dlib's."""
    p = _points(pts, "pts")
    if p.shape[0] != NUM_POINTS:
        raise InputDataError(f"pts: expected {NUM_POINTS} points, got {p.shape[0]}")
    out = p[list(FLIP_ORDER)].copy()
    out[:, 0] = (width - 1.0) - out[:, 0]
    return out


def interocular(pts) -> np.ndarray:
    """Distance between the outer eye corners (points 0 and 2) of (..., 5, 2) landmarks."""
    p = np.asarray(pts, np.float64)
    return np.linalg.norm(p[..., OUTER_CORNERS[0], :] - p[..., OUTER_CORNERS[1], :], axis=-1)


def landmark_error(pred, ref) -> np.ndarray:
    """Normalised mean error per face: mean point distance / inter-ocular distance of ``ref``;
    (N, 5, 2), (N, 5, 2) -> (N,)."""
    p, r = np.asarray(pred, np.float64), np.asarray(ref, np.float64)
    if p.shape != r.shape or p.shape[-2:] != (NUM_POINTS, 2):
        raise InputDataError(f"landmark_error: shapes {p.shape} and {r.shape} must both be (N, 5, 2)")
    return np.linalg.norm(p - r, axis=-1).mean(axis=-1) / np.maximum(interocular(r), 1e-9)


__all__ = ["DEFAULT_PADDING", "DEFAULT_SIZE", "FLIP_ORDER", "NUM_POINTS", "POINT_NAMES", "TEMPLATE_UNIT",
           "align_face", "align_matrix", "aligned_pixels", "flip_points", "interocular", "invert_affine",
           "landmark_error", "similarity_transform", "template", "transform_points", "warp"]
