"""The device runtime. Imports only NumPy, OpenCV and a TFLite interpreter: never TensorFlow.

The public entries, one per job (see docs/api.md)::

    from edgecnn.edge import BeatClassifier, Detector, FaceVerifier

    Detector.open(model)(image_bgr) -> Detections
    FaceVerifier.open(model).verify(image_a, image_b) -> Verification
    BeatClassifier.open("builtin:ecg")(samples, fs) -> BeatResult; .stream(fs).push(...)/.flush()

Names are imported on first use, so ``import edgecnn.edge`` (and the CLI) stays light.
"""


import importlib

_EXPORTS = {
    "BeatClassifier": "api", "Detector": "api", "FaceVerifier": "api", "as_rgb": "api",
    "Detection": "detect", "Detections": "detect", "PostConfig": "detect",
    "BeatResult": "ecg", "StreamingClassifier": "ecg",
    "BackendError": "errors", "EdgeError": "errors", "InputDataError": "errors", "ModelFileError": "errors",
    "Verification": "face",
    "Gallery": "gallery", "Match": "gallery", "load_gallery": "gallery",
    "builtin_models": "loader", "open_model": "loader",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'edgecnn.edge' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
