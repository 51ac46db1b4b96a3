"""A minimal read-only FlatBuffers walker for the parts of the TFLite schema we need.

Neither ``tflite-runtime`` nor a Raspberry Pi has the generated schema classes, so the metadata,
signature and operator tables are read here with ``struct`` alone. Field numbers follow
``tensorflow/compiler/mlir/lite/schema/schema.fbs`` (Model, Buffer, Metadata, SignatureDef,
TensorMap, SubGraph, Tensor, Operator, OperatorCode).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from edgecnn.edge.core.errors import ModelFileError

FILE_IDENTIFIER = b"TFL3"

# Model fields
_M_OPERATOR_CODES, _M_SUBGRAPHS, _M_DESCRIPTION, _M_BUFFERS, _M_METADATA, _M_SIGNATURES = 1, 2, 3, 4, 6, 7
_TENSOR_TYPES = {  # TensorType enum -> (name, bytes per element)
    0: ("float32", 4), 1: ("float16", 2), 2: ("int32", 4), 3: ("uint8", 1), 4: ("int64", 8),
    5: ("string", 0), 6: ("bool", 1), 7: ("int16", 2), 8: ("complex64", 8), 9: ("int8", 1),
    10: ("float64", 8), 11: ("complex128", 16), 12: ("uint64", 8), 14: ("uint32", 4),
    15: ("uint16", 2), 16: ("int4", 1),
}


class _Reader:
    def __init__(self, buf: bytes, source: str):
        self.buf = memoryview(buf)
        self.source = source

    def _unpack(self, fmt: str, pos: int):
        try:
            return struct.unpack_from(fmt, self.buf, pos)[0]
        except struct.error:
            raise ModelFileError(f"{self.source}: truncated or corrupt TFLite flatbuffer (offset {pos})") from None

    def u32(self, pos: int) -> int:
        return self._unpack("<I", pos)

    def field_pos(self, table: int, field: int) -> int | None:
        vtable = table - self._unpack("<i", table)
        vt_size = self._unpack("<H", vtable)
        slot = 4 + 2 * field
        if slot >= vt_size:
            return None
        off = self._unpack("<H", vtable + slot)
        return table + off if off else None

    def scalar(self, table: int, field: int, fmt: str, default=0):
        pos = self.field_pos(table, field)
        return default if pos is None else self._unpack(fmt, pos)

    def indirect(self, pos: int) -> int:
        return pos + self.u32(pos)

    def vector(self, table: int, field: int) -> tuple[int, int]:
        """(start of elements, length); (0, 0) when absent."""
        pos = self.field_pos(table, field)
        if pos is None:
            return 0, 0
        vec = self.indirect(pos)
        return vec + 4, self.u32(vec)

    def tables(self, table: int, field: int) -> list[int]:
        start, n = self.vector(table, field)
        return [self.indirect(start + 4 * i) for i in range(n)]

    def string(self, table: int, field: int) -> str | None:
        pos = self.field_pos(table, field)
        if pos is None:
            return None
        s = self.indirect(pos)
        n = self.u32(s)
        return bytes(self.buf[s + 4 : s + 4 + n]).decode("utf-8", errors="replace")

    def bytes_vector(self, table: int, field: int) -> bytes:
        start, n = self.vector(table, field)
        if start + n > len(self.buf):
            raise ModelFileError(f"{self.source}: truncated TFLite flatbuffer (buffer past end of file)")
        return bytes(self.buf[start : start + n])

    def ints(self, table: int, field: int, fmt: str = "<i", size: int = 4) -> list[int]:
        start, n = self.vector(table, field)
        return [self._unpack(fmt, start + size * i) for i in range(n)]


@dataclass(frozen=True)
class TensorEntry:
    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    constant: bool
    scale: float = 0.0
    zero_point: int = 0


@dataclass(frozen=True)
class ModelTables:
    """What edgecnn reads from a .tflite file without an interpreter."""

    version: int
    description: str | None
    metadata: dict[str, bytes]
    signatures: dict[str, dict[str, dict[str, int]]]  # key -> {"inputs": {name: idx}, "outputs": ...}
    op_codes: list[tuple[int, str | None]]  # (builtin code, custom code)
    operators: list[int]  # opcode index per operator of subgraph 0
    tensors: list[TensorEntry]
    inputs: list[int]  # tensor indices of subgraph 0's inputs / outputs
    outputs: list[int]


def parse_model(buf: bytes, source: str = "<bytes>") -> ModelTables:
    """Parse the tables we need; ModelFileError on anything that is not a TFLite flatbuffer."""
    if len(buf) < 8 or bytes(buf[4:8]) != FILE_IDENTIFIER:
        got = bytes(buf[4:8]) if len(buf) >= 8 else b""
        raise ModelFileError(
            f"{source}: not a TFLite model (expected file identifier 'TFL3' at byte 4, got {got!r}, "
            f"file size {len(buf)} bytes)"
        )
    r = _Reader(buf, source)
    root = r.u32(0)
    buffers = r.tables(root, _M_BUFFERS)
    metadata = {}
    for entry in r.tables(root, _M_METADATA):
        name = r.string(entry, 0) or ""
        metadata[name] = _buffer_bytes(r, buffers, r.scalar(entry, 1, "<I"))
    return ModelTables(
        version=r.scalar(root, 0, "<I"),
        description=r.string(root, _M_DESCRIPTION),
        metadata=metadata,
        signatures=_signatures(r, root),
        op_codes=_op_codes(r, root),
        operators=_operators(r, root),
        tensors=_tensors(r, root, buffers),
        inputs=_io(r, root, 1),
        outputs=_io(r, root, 2),
    )


def _io(r: _Reader, root: int, field: int) -> list[int]:
    subgraphs = r.tables(root, _M_SUBGRAPHS)
    return r.ints(subgraphs[0], field) if subgraphs else []


def _buffer_bytes(r: _Reader, buffers: list[int], index: int) -> bytes:
    if index >= len(buffers):
        raise ModelFileError(f"{r.source}: metadata points at buffer {index}, the model has {len(buffers)}")
    table = buffers[index]
    offset = r.scalar(table, 1, "<Q")
    if offset > 1:  # large models keep buffer data after the flatbuffer
        size = r.scalar(table, 2, "<Q")
        return bytes(r.buf[offset : offset + size])
    return r.bytes_vector(table, 0)


def _signatures(r: _Reader, root: int) -> dict:
    out = {}
    for sig in r.tables(root, _M_SIGNATURES):
        key = r.string(sig, 2) or "serving_default"
        out[key] = {
            kind: {r.string(t, 0) or "": r.scalar(t, 1, "<I") for t in r.tables(sig, field)}
            for kind, field in (("inputs", 0), ("outputs", 1))
        }
    return out


def _op_codes(r: _Reader, root: int) -> list[tuple[int, str | None]]:
    codes = []
    for oc in r.tables(root, _M_OPERATOR_CODES):
        deprecated = r.scalar(oc, 0, "<b")
        builtin = r.scalar(oc, 3, "<i")
        codes.append((max(deprecated, builtin), r.string(oc, 1)))
    return codes


def _operators(r: _Reader, root: int) -> list[int]:
    subgraphs = r.tables(root, _M_SUBGRAPHS)
    if not subgraphs:
        return []
    return [r.scalar(op, 0, "<I") for op in r.tables(subgraphs[0], 3)]


def _quantization(r: _Reader, tensor: int) -> tuple[float, int]:
    """Per-tensor scale and zero point (the first ones for per-channel tensors); (0, 0) if none."""
    pos = r.field_pos(tensor, 4)
    if pos is None:
        return 0.0, 0
    q = r.indirect(pos)
    scales = r.ints(q, 2, "<f", 4)[:1]
    zeros = r.ints(q, 3, "<q", 8)[:1]
    return (float(scales[0]) if scales else 0.0), (int(zeros[0]) if zeros else 0)


def _tensors(r: _Reader, root: int, buffers: list[int]) -> list[TensorEntry]:
    subgraphs = r.tables(root, _M_SUBGRAPHS)
    if not subgraphs:
        return []
    entries = []
    for t in r.tables(subgraphs[0], 0):
        shape = tuple(r.ints(t, 0))
        dtype, width = _TENSOR_TYPES.get(r.scalar(t, 1, "<b"), ("unknown", 0))
        buf_index = r.scalar(t, 2, "<I")
        constant = False
        if 0 < buf_index < len(buffers):
            b = buffers[buf_index]
            constant = r.vector(b, 0)[1] > 0 or r.scalar(b, 1, "<Q") > 1
        n = 1
        for d in shape:
            n *= max(int(d), 1)
        scale, zero = _quantization(r, t)
        entries.append(TensorEntry(r.string(t, 3) or "", shape, dtype, n * width, constant, scale, zero))
    return entries
