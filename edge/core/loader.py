"""Open any model spec the CLI accepts: ``*.tflite``, ``builtin:NAME``, or a registered kind.

The runtime opens TFLite files itself. Other kinds (the workstation's ``.keras`` files) are opened
by whoever registers an opener for their suffix: the ``edgecnn`` dispatcher registers Keras, so that
nothing in ``edgecnn.edge`` imports the training code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgecnn.edge.core.errors import BackendError, ModelFileError
from edgecnn.edge.core.interpreter import EdgeModel, load_model

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
BUILTIN_PREFIX = "builtin:"
_OPENERS: dict[str, Callable] = {}


def register_opener(suffix: str, opener: Callable) -> None:
    """Open files ending in ``suffix`` with ``opener(path, task=...)``; it must return an object
    with EdgeModel's ``run``/``metadata``/``task``/``inputs`` interface."""
    _OPENERS[suffix.lower()] = opener


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
    """EdgeModel for .tflite / builtin:; a registered opener for other suffixes (``.keras``)."""
    path = resolve_model_path(spec)
    opener = _OPENERS.get(path.suffix.lower())
    if opener is not None:
        return opener(path, task=task)
    if path.suffix == ".keras":
        raise BackendError(f"{path}: a .keras model runs through the training side: use the `edgecnn` command "
                           "with edgecnn[train] installed, or convert it and use the .tflite")
    if path.suffix not in (".tflite", ".lite") and path.exists():
        raise ModelFileError(f"{path}: expected a .tflite or .keras model file, got suffix {path.suffix!r}")
    return load_model(path, num_threads=num_threads, device=device, task=task, backend=backend)


__all__ = ["EdgeModel", "builtin_models", "open_model", "register_opener", "resolve_model_path"]
