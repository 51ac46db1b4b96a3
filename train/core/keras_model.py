"""Saving/loading Keras models with their edgecnn metadata, and a runner with EdgeModel's interface."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn import tasks
from edgecnn.edge.core.errors import ModelFileError
from edgecnn.edge.core.fileio import atomic_write_json
from edgecnn.edge.core.loader import register_opener
from edgecnn.edge.core.metadata import check_task, validate_metadata


def output_dict(outputs) -> dict:
    """A Keras model's outputs keyed by name: dicts stay, a tensor or list becomes ``output_i``."""
    if isinstance(outputs, dict):
        return outputs
    flat = outputs if isinstance(outputs, list | tuple) else [outputs]
    return {f"output_{i}": o for i, o in enumerate(flat)}


def metadata_path(model_path) -> Path:
    return Path(str(model_path) + ".json")


def save_model(model, path, metadata: dict[str, Any]) -> Path:
    """Write ``path`` (.keras) atomically plus its sidecar metadata ``path.json``."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"save_model: path must end in .keras, got {path}")
    validate_metadata(metadata, source=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".keras", dir=path.parent)
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    atomic_write_json(metadata_path(path), metadata)
    return path


def load_metadata(path) -> dict[str, Any]:
    side = metadata_path(path)
    if not side.is_file():
        raise ModelFileError(f"{path}: metadata file {side.name} not found beside the model (written by `edgecnn train`)")
    try:
        meta = json.loads(side.read_text())
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{side}: not valid JSON ({exc})") from None
    return validate_metadata(meta, str(side))


def load_keras(path, task: str | None = None):
    """(keras.Model, metadata) with the task's custom objects registered."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    meta = load_metadata(path)
    if task is not None:
        check_task(meta, task, str(path))
    if meta["task"] in tasks.TASKS:  # importing the task's recipe registers its custom Keras objects
        tasks.get(meta["task"]).train_module("recipe")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for unreadable archives
        raise ModelFileError(f"{path}: cannot load Keras model ({str(exc).strip().splitlines()[0]})") from None
    return model, meta


@dataclass(frozen=True)
class KerasTensorInfo:
    name: str
    shape: tuple[int | None, ...]


class KerasModel:
    """The float model behind the same ``run``/``metadata``/``task``/``inputs`` interface as EdgeModel."""

    backend = "keras"

    def __init__(self, path, *, task: str | None = None, batch_size: int = 64):
        self.path = Path(path)
        self.model, self.metadata = load_keras(path, task)
        self.batch_size = batch_size
        self.inputs = [KerasTensorInfo(t.name, tuple(t.shape)) for t in self.model.inputs]
        self.outputs = [KerasTensorInfo(n, ()) for n in self.metadata.get("outputs", {})]
        self.warnings: list[str] = []
        self.size_bytes = self.path.stat().st_size

    @property
    def task(self) -> str | None:
        return self.metadata.get("task")

    def run(self, inputs) -> dict[str, np.ndarray]:
        if not isinstance(inputs, dict):
            inputs = {self.inputs[0].name: inputs}
        feeds = {k: np.asarray(v, dtype=np.float32) for k, v in inputs.items()}
        n = next(iter(feeds.values())).shape[0]
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, n, self.batch_size):
            chunk = {k: v[start : start + self.batch_size] for k, v in feeds.items()}
            for k, v in output_dict(self.model(chunk, training=False)).items():
                parts.setdefault(k, []).append(np.asarray(v, dtype=np.float32))
        return {k: np.concatenate(v, axis=0) for k, v in parts.items()}


def _open_keras(path, *, task=None, **_):
    return KerasModel(path, task=task)


register_opener(".keras", _open_keras)  # edgecnn.edge's open_model now runs .keras files too
