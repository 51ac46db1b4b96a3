"""The TFLite interpreter wrapper: backend choice, Edge TPU delegate, IO by name, quantized IO.

Backends are tried in order ``ai_edge_litert`` -> ``tflite_runtime`` -> ``tensorflow.lite``.
Callers pass and receive float arrays keyed by the Keras input/output names that the model's
signature carries; quantization happens in ``edgecnn.edge.core.quant`` from each tensor's own
scale and zero point.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.edge.core.errors import BackendError, InputDataError, ModelFileError
from edgecnn.edge.core.flatbuf import parse_model
from edgecnn.edge.core.metadata import check_task, metadata_from_tables, read_model_bytes
from edgecnn.edge.core.native_log import RUNTIME_INFO, filtered_native_output
from edgecnn.edge.core.quant import dequantize, quantize

BACKENDS = ("ai_edge_litert", "tflite_runtime", "tensorflow.lite")
_BACKEND_MODULES = {
    "ai_edge_litert": "ai_edge_litert.interpreter",
    "tflite_runtime": "tflite_runtime.interpreter",
    "tensorflow.lite": "tensorflow.lite.python.interpreter",
}
EDGETPU_LIBRARY = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}
EDGETPU_CUSTOM_OP = "edgetpu-custom-op"
_DEVICE_RE = re.compile(r"^(usb|pci)(:\d+)?$")
EDGETPU_INSTALL_HINT = (
    "install the Edge TPU runtime (Debian/Pi OS: add the coral-edgetpu apt repository, then "
    "`sudo apt install libedgetpu1-std`), plug the Coral in and make sure your user may access it "
    "(udev rules from the package; re-plug or reboot)"
)


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output: its signature name and how it is stored."""

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale > 0 and np.dtype(self.dtype).kind in "iu"


def _import_backend(name: str):
    if name not in _BACKEND_MODULES:
        raise BackendError(f"unknown backend {name!r}; valid: {', '.join(BACKENDS)}")
    module = importlib.import_module(_BACKEND_MODULES[name])
    return module.Interpreter, module.load_delegate


def available_backends() -> list[str]:
    found = []
    for name in BACKENDS:
        try:
            _import_backend(name)
        except ImportError:
            continue
        found.append(name)
    return found


def _pick_backend(requested: str | None):
    names = [requested] if requested else list(BACKENDS)
    if requested is None and os.environ.get("EDGECNN_BACKEND"):
        names = [os.environ["EDGECNN_BACKEND"]]
    errors = []
    for name in names:
        try:
            interpreter_cls, load_delegate = _import_backend(name)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
            continue
        return name, interpreter_cls, load_delegate
    raise BackendError(
        "no TFLite interpreter found (tried " + "; ".join(errors) + "). "
        "Install one: `pip install ai-edge-litert` (NumPy 2) or `pip install tflite-runtime 'numpy<2'`"
    )


def parse_edgetpu_device(device: str) -> str:
    """Validate an Edge TPU device string: ``usb``, ``usb:N``, ``pci``, ``pci:N``."""
    if not isinstance(device, str) or not _DEVICE_RE.match(device):
        raise BackendError(f"Edge TPU device must be 'usb', 'usb:N', 'pci' or 'pci:N', got {device!r}")
    return device


def edgetpu_library() -> str:
    return EDGETPU_LIBRARY.get(platform.system(), "libedgetpu.so.1")


def load_edgetpu_delegate(load_delegate, device: str | None, *, check_library: bool = False):
    """Load ``libedgetpu`` for ``device`` (None = first found); BackendError saying what to install.

    ``check_library`` first loads the library with ``ctypes``: asking the interpreter's
    ``load_delegate`` for a missing library leaves a half-built Delegate whose destructor prints a
    traceback, so the common "not installed" case is caught before that.
    """
    options = {"device": parse_edgetpu_device(device)} if device else {}
    library = edgetpu_library()
    where = f"device {device!r}" if device else "any Edge TPU"
    if check_library:
        try:
            ctypes.CDLL(library)
        except OSError as exc:
            raise BackendError(f"cannot open the Edge TPU delegate {library} for {where} ({exc}); "
                               + EDGETPU_INSTALL_HINT) from None
    try:
        return load_delegate(library, options)
    except (OSError, ValueError, RuntimeError) as exc:
        raise BackendError(
            f"cannot open the Edge TPU delegate {library} for {where} ({str(exc).strip() or type(exc).__name__}); "
            + EDGETPU_INSTALL_HINT
        ) from None


MAX_THREADS = 256


class EdgeModel:
    """A loaded .tflite model. ``run(inputs)`` takes and returns float arrays keyed by name."""

    def __init__(self, path, *, num_threads=None, device=None, task=None, backend=None):
        self.path = Path(path)
        buf = read_model_bytes(self.path)
        self.tables = parse_model(buf, source=str(self.path))
        self.metadata = metadata_from_tables(self.tables, str(self.path))
        if task is not None:
            check_task(self.metadata, task, str(self.path))
        self.size_bytes = len(buf)
        self.warnings: list[str] = []
        self.backend, interpreter_cls, load_delegate = _pick_backend(backend)
        delegates = self._delegates(load_delegate, device)
        if num_threads is not None and (not isinstance(num_threads, int) or isinstance(num_threads, bool)
                                        or not 1 <= num_threads <= MAX_THREADS):
            raise ValueError(f"threads: expected an integer in 1..{MAX_THREADS}, got {num_threads!r}")
        self.num_threads = num_threads  # None: the runtime's default
        try:
            with filtered_native_output(RUNTIME_INFO):  # the XNNPACK "INFO: Created ..." line
                self._interp = interpreter_cls(
                    model_content=buf, num_threads=num_threads, experimental_delegates=delegates or None
                )
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(f"{self.path}: the {self.backend} interpreter cannot load it ({msg})") from None
        self.inputs = self._bind(self._interp.get_input_details(), "inputs")
        self.outputs = self._bind(self._interp.get_output_details(), "outputs")

    # -- construction helpers -------------------------------------------------------------
    @property
    def needs_edgetpu(self) -> bool:
        return any(custom == EDGETPU_CUSTOM_OP for _, custom in self.tables.op_codes)

    def _delegates(self, load_delegate, device):
        if not self.needs_edgetpu and device is None:
            return []
        if device is not None:
            parse_edgetpu_device(device)  # a misspelt device is an error, never a silent CPU run
        try:
            delegate = load_edgetpu_delegate(load_delegate, device, check_library=True)
        except BackendError as exc:
            if self.needs_edgetpu:
                raise BackendError(f"{self.path}: is compiled for the Edge TPU; {exc}") from None
            self.warnings.append(f"Edge TPU unavailable, running on the CPU instead: {exc}")
            self.backend += " (cpu fallback)"
            return []
        self.backend += " + edgetpu"
        return [delegate]

    def _bind(self, details, kind: str) -> list[TensorInfo]:
        by_index = {}
        sig = next(iter(self.tables.signatures.values()), None)
        if sig:
            by_index = {idx: name for name, idx in sig[kind].items()}
        infos = []
        for d in details:
            scale, zero = d.get("quantization", (0.0, 0))
            name = by_index.get(d["index"], d["name"])
            infos.append(TensorInfo(name, int(d["index"]), tuple(int(s) for s in d["shape"]),
                                    np.dtype(d["dtype"]), float(scale), int(zero)))
        return sorted(infos, key=lambda t: t.name) if sig else infos

    # -- properties ------------------------------------------------------------------------
    @property
    def task(self) -> str | None:
        return self.metadata.get("task")

    def input(self, name: str) -> TensorInfo:
        return _find(self.inputs, name, "input", self.path)

    def output(self, name: str) -> TensorInfo:
        return _find(self.outputs, name, "output", self.path)

    # -- running ---------------------------------------------------------------------------
    def run(self, inputs) -> dict[str, np.ndarray]:
        """Run on a batch (looped one by one); returns float32 outputs keyed by output name."""
        feeds = self._feeds(inputs)
        n = next(iter(feeds.values())).shape[0]
        results: dict[str, list[np.ndarray]] = {t.name: [] for t in self.outputs}
        for i in range(n):
            self.set_inputs({name: arr[i : i + 1] for name, arr in feeds.items()})
            self.invoke()
            for name, value in self.get_outputs().items():
                results[name].append(value)
        return {name: np.concatenate(parts, axis=0) for name, parts in results.items()}

    def set_inputs(self, feeds: dict[str, np.ndarray]) -> None:
        """Set batch-1 inputs (float -> quantized with the tensor's own parameters)."""
        for info in self.inputs:
            self._interp.set_tensor(info.index, _to_tensor(feeds[info.name], info))

    def invoke(self) -> None:
        self._interp.invoke()

    def get_outputs(self, raw: bool = False) -> dict[str, np.ndarray]:
        out = {}
        for info in self.outputs:
            value = self._interp.get_tensor(info.index)
            out[info.name] = value.copy() if raw or not info.quantized else dequantize(value, info.scale, info.zero_point)
        return out

    def _feeds(self, inputs) -> dict[str, np.ndarray]:
        if not isinstance(inputs, dict):
            if len(self.inputs) != 1:
                names = ", ".join(t.name for t in self.inputs)
                raise InputDataError(f"{self.path.name}: model has inputs {names}; pass a dict keyed by name")
            inputs = {self.inputs[0].name: inputs}
        unknown = sorted(set(inputs) - {t.name for t in self.inputs})
        missing = sorted({t.name for t in self.inputs} - set(inputs))
        if unknown or missing:
            raise InputDataError(
                f"{self.path.name}: input names do not match: missing {missing or 'none'}, "
                f"unknown {unknown or 'none'} (model inputs: {[t.name for t in self.inputs]})"
            )
        feeds = {t.name: _batched(inputs[t.name], t) for t in self.inputs}
        sizes = {a.shape[0] for a in feeds.values()}
        if len(sizes) != 1:
            raise InputDataError(f"{self.path.name}: inputs have different batch sizes {sorted(sizes)}")
        return feeds


def _find(infos, name, kind, path):
    for t in infos:
        if t.name == name:
            return t
    raise ModelFileError(f"{path}: no {kind} named {name!r}; {kind}s: {[t.name for t in infos]}")


def _batched(value, info: TensorInfo) -> np.ndarray:
    arr = np.asarray(value)
    want = info.shape[1:]
    if arr.shape[1:] != want and arr.shape == want:
        arr = arr[None]
    if arr.shape[1:] != want or arr.ndim != len(info.shape):
        raise InputDataError(
            f"input {info.name!r}: expected shape (N, {', '.join(map(str, want))}), got {tuple(arr.shape)}"
        )
    return arr


def _to_tensor(arr: np.ndarray, info: TensorInfo) -> np.ndarray:
    if arr.dtype == info.dtype and arr.dtype.kind in "iu":
        return np.ascontiguousarray(arr)  # raw integers pass untouched
    if arr.dtype.kind not in "fiub":
        raise InputDataError(f"input {info.name!r}: expected numbers, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise InputDataError(f"input {info.name!r}: holds NaN or infinite values")
    if info.quantized:
        return quantize(arr, info.scale, info.zero_point, info.dtype)
    return np.ascontiguousarray(arr, dtype=info.dtype)


def load_model(path, *, num_threads=None, device=None, task=None, backend=None) -> EdgeModel:
    """Open a .tflite file; ``task`` refuses a model of another task; ``device`` = Edge TPU."""
    return EdgeModel(path, num_threads=num_threads, device=device, task=task, backend=backend)
