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
    "Detection": "detect.runtime", "Detections": "detect.runtime", "PostConfig": "detect.runtime",
    "BeatResult": "ecg.runtime", "StreamingClassifier": "ecg.runtime",
    "BackendError": "core.errors", "EdgeError": "core.errors", "InputDataError": "core.errors",
    "ModelFileError": "core.errors",
    "Verification": "face.runtime",
    "Gallery": "face.gallery", "Match": "face.gallery", "load_gallery": "face.gallery",
    "builtin_models": "core.loader", "open_model": "core.loader",
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
