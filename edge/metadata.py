"""The self-describing model file: our JSON inside the TFLite flatbuffer's metadata list.

The JSON sits in a model buffer referenced by a ``Metadata`` entry named ``"edgecnn"``; a
standard interpreter ignores it. Writing happens in ``edgecnn.convert`` (it needs the schema
classes); reading happens here with ``edgecnn.edge.flatbuf`` and no TensorFlow.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import ModelFileError
from .flatbuf import ModelTables, parse_model

METADATA_NAME = "edgecnn"
SCHEMA = "edgecnn.model"
SCHEMA_VERSION = 1
TASKS = ("ecg", "detect", "face", "generic")
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


def read_model_bytes(path: str | os.PathLike) -> bytes:
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"{p}: model file not found")
    if p.is_dir():
        raise ModelFileError(f"{p}: is a folder, expected a .tflite file")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{p}: cannot read model file ({exc.strerror})") from None


def read_tables(path_or_bytes: str | os.PathLike | bytes) -> ModelTables:
    if isinstance(path_or_bytes, bytes | bytearray):
        return parse_model(bytes(path_or_bytes))
    return parse_model(read_model_bytes(path_or_bytes), source=str(path_or_bytes))


def metadata_from_tables(tables: ModelTables, source: str) -> dict[str, Any]:
    raw = tables.metadata.get(METADATA_NAME)
    if raw is None:
        return {}
    try:
        meta = json.loads(raw.rstrip(b"\0").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{source}: edgecnn metadata is not valid JSON ({exc})") from None
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
