"""The self-describing model file: our JSON inside the TFLite flatbuffer's metadata list.

The JSON sits in a model buffer referenced by a ``Metadata`` entry named ``"edgecnn"``; a
standard interpreter ignores it. Writing happens in ``edgecnn.convert`` (it needs the schema
classes); reading happens here with ``edgecnn.edge.core.flatbuf`` and no TensorFlow.
"""

from __future__ import annotations

import json
import os
from typing import Any

from edgecnn import tasks as _tasks
from edgecnn.edge.core.errors import ModelFileError
from edgecnn.edge.core.flatbuf import ModelTables, parse_model

METADATA_NAME = "edgecnn"
SCHEMA = "edgecnn.model"
SCHEMA_VERSION = 1
TASKS = (*_tasks.names(), _tasks.GENERIC)  # from the task registry
_REQUIRED = ("schema", "schema_version", "task", "inputs", "outputs")


def make_metadata(
    task: str,
    *,
    labels: list[str] | None = None,
    inputs: dict[str, dict],
    outputs: dict[str, dict],
    params: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build a metadata dict (validated). ``inputs``/``outputs`` are keyed by tensor name."""
    meta = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "task": task,
        "labels": list(labels or []),
        "inputs": dict(inputs),
        "outputs": dict(outputs),
        "params": dict(params or {}),
        "provenance": dict(provenance or {}),
    }
    validate_metadata(meta, source="make_metadata")
    return meta


def validate_metadata(meta: Any, source: str = "metadata") -> dict[str, Any]:
    """Check the fields every consumer relies on; ModelFileError naming the field otherwise."""
    if not isinstance(meta, dict):
        raise ModelFileError(f"{source}: metadata must be a JSON object, got {type(meta).__name__}")
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise ModelFileError(f"{source}: metadata lacks field(s) {', '.join(missing)}")
    if meta["schema"] != SCHEMA:
        raise ModelFileError(f"{source}: metadata schema is {meta['schema']!r}, expected {SCHEMA!r}")
    if not isinstance(meta["schema_version"], int) or meta["schema_version"] > SCHEMA_VERSION:
        raise ModelFileError(
            f"{source}: metadata schema_version {meta['schema_version']!r} is newer than this "
            f"edgecnn understands ({SCHEMA_VERSION}); upgrade edgecnn"
        )
    if meta["task"] not in TASKS:
        raise ModelFileError(f"{source}: metadata task {meta['task']!r} is not one of {', '.join(TASKS)}")
    for key in ("inputs", "outputs"):
        if not isinstance(meta[key], dict) or not meta[key]:
            raise ModelFileError(f"{source}: metadata field {key!r} must be a non-empty object keyed by tensor name")
    return meta


MAX_MODEL_BYTES = 2 << 30        # a TFLite flatbuffer cannot exceed 2 GiB
MAX_METADATA_BYTES = 4 << 20     # our JSON is a few KB
MAX_METADATA_DEPTH = 32          # nesting of objects/arrays (ours: 5)


def read_model_bytes(path: str | os.PathLike) -> bytes:
    from edgecnn.edge.core.fileio import regular_file

    p, _ = regular_file(path, "model file", MAX_MODEL_BYTES, error=ModelFileError, hint=", expected a .tflite file")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{p}: cannot read model file ({exc.strerror})") from None


def json_depth(text: str) -> int:
    """Deepest nesting of objects/arrays in a JSON text (strings skipped), without parsing it."""
    depth = best = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
        elif ch in "]}":
            depth -= 1
    return best


def read_tables(path_or_bytes: str | os.PathLike | bytes) -> ModelTables:
    if isinstance(path_or_bytes, bytes | bytearray):
        return parse_model(bytes(path_or_bytes))
    return parse_model(read_model_bytes(path_or_bytes), source=str(path_or_bytes))


def metadata_from_tables(tables: ModelTables, source: str) -> dict[str, Any]:
    raw = tables.metadata.get(METADATA_NAME)
    if raw is None:
        return {}
    if len(raw) > MAX_METADATA_BYTES:
        raise ModelFileError(f"{source}: edgecnn metadata is {len(raw)} bytes, expected at most {MAX_METADATA_BYTES}")
    try:
        text = raw.rstrip(b"\0").decode("utf-8")
        depth = json_depth(text)
        if depth > MAX_METADATA_DEPTH:
            raise ModelFileError(f"{source}: edgecnn metadata nests {depth} levels deep, expected at most "
                                 f"{MAX_METADATA_DEPTH}")
        meta = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{source}: edgecnn metadata is not valid JSON ({type(exc).__name__}: "
                             f"{str(exc)[:120]})") from None
    return validate_metadata(meta, source)


def read_metadata(path_or_bytes: str | os.PathLike | bytes) -> dict[str, Any]:
    """The edgecnn metadata of a .tflite file or buffer, ``{}`` when it has none."""
    source = "<bytes>" if isinstance(path_or_bytes, bytes | bytearray) else str(path_or_bytes)
    return metadata_from_tables(read_tables(path_or_bytes), source)


def check_task(meta: dict[str, Any], expected: str, source: str) -> None:
    """Refuse a model of another task (or one without our metadata) with a clear message."""
    got = meta.get("task") if meta else None
    if got is None:
        raise ModelFileError(
            f"{source}: has no edgecnn metadata, so it cannot be used for task {expected!r} "
            f"(convert it with `edgecnn convert --task {expected}`)"
        )
    if got != expected:
        raise ModelFileError(f"{source}: is a {got!r} model, this command needs a {expected!r} model")
