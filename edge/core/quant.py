"""Affine (de)quantization, in one place, from a tensor's own scale and zero point.

real = scale * (q - zero_point);  q = clip(round(real / scale) + zero_point, dtype range)
"""

from __future__ import annotations

import numpy as np

_INT_DTYPES = {np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16), np.dtype(np.int32)}


def _check_params(scale: float, zero_point: int, dtype: np.dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in _INT_DTYPES:
        raise TypeError(f"quantize: dtype must be one of int8, uint8, int16, int32, got {dtype}")
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"quantize: scale must be a positive finite number, got {scale!r}")
    info = np.iinfo(dtype)
    if not info.min <= int(zero_point) <= info.max:
        raise ValueError(f"quantize: zero_point {zero_point} outside the {dtype} range [{info.min}, {info.max}]")
    return dtype


def quantize(x, scale: float, zero_point: int, dtype) -> np.ndarray:
    """Float array -> integer array of ``dtype`` (round half to even, saturate to the dtype range)."""
    dtype = _check_params(float(scale), int(zero_point), dtype)
    info = np.iinfo(dtype)
    values = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("quantize: input holds NaN or infinite values")
    q = np.rint(values / float(scale)) + int(zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q, scale: float, zero_point: int) -> np.ndarray:
    """Integer array -> float32 array: ``scale * (q - zero_point)``."""
    arr = np.asarray(q)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"dequantize: expected an integer array, got dtype {arr.dtype}")
    return ((arr.astype(np.int64) - int(zero_point)) * float(scale)).astype(np.float32)


def quant_range(scale: float, zero_point: int, dtype) -> tuple[float, float]:
    """The real-valued interval a quantized tensor can represent."""
    dtype = _check_params(float(scale), int(zero_point), dtype)
    info = np.iinfo(dtype)
    return (scale * (info.min - zero_point), scale * (info.max - zero_point))
