"""Open any model spec the CLI accepts: ``*.tflite``, ``*.keras`` or ``builtin:NAME``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import BackendError, ModelFileError
from .interpreter import EdgeModel, load_model

MODELS_DIR = Path(__file__).resolve().parent / "models"
BUILTIN_PREFIX = "builtin:"


def builtin_models() -> dict[str, Path]:
    """Shipped models: ``builtin:NAME`` -> ``edge/models/NAME*.tflite`` (first match, sorted)."""
    found: dict[str, Path] = {}
    for path in sorted(MODELS_DIR.glob("*.tflite")):
        stem = path.stem
        found.setdefault(stem, path)
        found.setdefault(stem.split("_")[0], path)
    return found


def resolve_model_path(spec: str) -> Path:
    spec = str(spec)
    if spec.startswith(BUILTIN_PREFIX):
        name = spec[len(BUILTIN_PREFIX):]
        models = builtin_models()
        if name not in models:
            valid = ", ".join(BUILTIN_PREFIX + k for k in sorted(models)) or "none shipped"
            raise ModelFileError(f"unknown built-in model {spec!r}; valid: {valid}")
        return models[name]
    return Path(spec)


def open_model(spec, *, num_threads=None, device=None, task=None, backend=None):
    """EdgeModel for .tflite / builtin:, KerasModel (needs the [train] extra) for .keras."""
    path = resolve_model_path(spec)
    if path.suffix == ".keras":
        if importlib.util.find_spec("tensorflow") is None:
            raise BackendError(
                f"{path}: evaluating a .keras model needs TensorFlow: pip install 'edgecnn[train]' "
                "(or convert it and use the .tflite)"
            )
        from edgecnn.train.keras_model import KerasModel  # lazy: the device never gets here

        return KerasModel(path, task=task)
    if path.suffix not in (".tflite", ".lite") and path.exists():
        raise ModelFileError(f"{path}: expected a .tflite or .keras model file, got suffix {path.suffix!r}")
    return load_model(path, num_threads=num_threads, device=device, task=task, backend=backend)


__all__ = ["EdgeModel", "builtin_models", "open_model", "resolve_model_path"]
