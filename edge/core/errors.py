"""Errors a user can fix. The CLI prints ``str(error)`` on one line and exits with status 2."""

from __future__ import annotations


class EdgeError(ValueError):
    """Base class: bad input, bad file, wrong model. Never a bug in edgecnn."""


class ModelFileError(EdgeError):
    """A model file is missing, corrupt, not TFLite, of the wrong task or lacks metadata."""


class InputDataError(EdgeError):
    """Input data (an image, a record, a gallery, a sample stream) is unusable."""


class BackendError(EdgeError):
    """No TFLite interpreter, or a delegate (Edge TPU) that cannot be loaded."""
