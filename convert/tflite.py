"""Keras -> float32 / fully-int8 TFLite with static batch-1 shapes and embedded metadata."""

from __future__ import annotations

import contextlib
import itertools
import json
import tempfile
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from edgecnn.edge.core.errors import EdgeError
from edgecnn.edge.core.metadata import METADATA_NAME, validate_metadata
from edgecnn.edge.core.native_log import TENSORFLOW_INFO, filtered_native_output

MODES = ("int8", "float32")
IO_DTYPES = ("int8", "uint8", "float32")


class ConversionError(EdgeError):
    """The model cannot be converted as asked (dynamic shapes, float islands, bad calibration)."""


def _tf():
    with filtered_native_output(TENSORFLOW_INFO):  # absl / oneDNN notices at import
        import tensorflow as tf

    return tf


def input_names(model) -> list[str]:
    return [t.name for t in model.inputs]


def static_batch_model(model):
    """Rebuild ``model`` on ``batch_size=1`` inputs so the TFLite file has no -1 dimensions."""
    import keras

    def fresh_input(t):
        dims = tuple(t.shape[1:])
        if any(d is None for d in dims):
            raise ConversionError(
                f"input {t.name!r} has dynamic dimensions {tuple(t.shape)}; the Edge TPU and the "
                "int8 converter need fixed shapes: build the model with a fixed input size"
            )
        return keras.Input(dims, batch_size=1, name=t.name, dtype=t.dtype)

    new_inputs = keras.tree.map_structure(fresh_input, model.input)
    from edgecnn.train.core.keras_model import output_dict

    outputs = output_dict(model(new_inputs, training=False))
    return keras.Model(new_inputs, outputs, name=f"{model.name}_b1")


def representative_samples(representative, names: list[str], limit: int) -> list[dict[str, np.ndarray]]:
    """Materialise up to ``limit`` calibration samples as dicts name -> float32 (1, ...) arrays."""
    source = representative() if callable(representative) else representative
    if source is None:
        raise ConversionError("int8 conversion needs representative data (calibration samples); got none")
    samples = []
    for i, item in enumerate(itertools.islice(iter(source), limit)):
        if not isinstance(item, dict):
            if len(names) != 1:
                raise ConversionError(f"calibration sample {i}: expected a dict keyed by {names}, got {type(item).__name__}")
            item = {names[0]: item}
        if sorted(item) != sorted(names):
            raise ConversionError(f"calibration sample {i}: keys {sorted(item)} do not match model inputs {sorted(names)}")
        sample = {}
        for k, v in item.items():
            arr = np.asarray(v, dtype=np.float32)
            if not np.all(np.isfinite(arr)):
                raise ConversionError(f"calibration sample {i}, input {k!r}: holds NaN or infinite values")
            sample[k] = arr
        samples.append(sample)
    if not samples:
        raise ConversionError("representative data yielded no samples")
    return samples


def convert_keras(
    model,
    *,
    mode: str = "int8",
    representative: Callable[[], Iterable] | Iterable | None = None,
    io_dtype: str = "int8",
    metadata: dict[str, Any] | None = None,
    num_calibration: int = 200,
) -> bytes:
    """Convert a Keras model. ``mode='int8'``: int8 builtins only, per-channel weights, int8/uint8 IO."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if io_dtype not in IO_DTYPES:
        raise ValueError(f"io_dtype must be one of {IO_DTYPES}, got {io_dtype!r}")
    tf = _tf()
    static = static_batch_model(model)
    with tempfile.TemporaryDirectory(prefix="edgecnn-export-") as export_dir, _quiet_tensorflow():
        try:
            static.export(export_dir, format="tf_saved_model", verbose=False,
                          input_signature=[_input_signature(tf, static)])
        except Exception as exc:  # report the exporter's first line, keep the cause
            raise ConversionError(f"exporting the Keras model failed: {_first_line(exc)}") from exc
        converter = tf.lite.TFLiteConverter.from_saved_model(export_dir)
        flat, n_samples, io_dtype = _run_converter(tf, converter, static, mode, representative, io_dtype,
                                                   num_calibration)
    with _quiet_tensorflow():
        interp = _interpreter(flat)
    check_converted(interp, mode)
    if metadata is not None:
        meta = dict(metadata)
        meta["quantization"] = quantization_summary(interp, mode, io_dtype, n_samples)
        flat = embed_metadata(flat, meta)
    return bytes(flat)


@contextlib.contextmanager
def _quiet_tensorflow():
    """TensorFlow's exporter and converter print absl INFO/WARNING lines and a quantization summary
    on the process's stdout/stderr, and its calibrator builds a ``tf.lite.Interpreter`` that warns it
    is deprecated (TensorFlow's own code, not ours: edge/ runs models with ai-edge-litert). Keep
    those off the user's terminal; errors still pass (see ``edgecnn.edge.core.native_log``)."""
    with warnings.catch_warnings(), filtered_native_output(TENSORFLOW_INFO, fds=(1, 2)):
        warnings.filterwarnings("ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated",
                                category=UserWarning)
        yield


def _input_signature(tf, model):
    """Batch-1 TensorSpecs named like the Keras inputs, in the model's own input structure."""
    import keras

    return keras.tree.map_structure(
        lambda t: tf.TensorSpec((1, *t.shape[1:]), dtype=t.dtype, name=t.name), model.input)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _run_converter(tf, converter, static, mode, representative, io_dtype, num_calibration):
    samples: list = []
    if mode == "int8":
        samples = representative_samples(representative, input_names(static), num_calibration)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: iter(samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io_dtype != "float32":
            converter.inference_input_type = getattr(tf, io_dtype)
            converter.inference_output_type = getattr(tf, io_dtype)
    elif io_dtype != "float32":
        io_dtype = "float32"  # a float model has float IO
    try:
        flat = converter.convert()
    except Exception as exc:  # the converter raises many types; report its first line
        raise ConversionError(f"TFLite conversion failed: {_first_line(exc)}") from exc
    return flat, len(samples), io_dtype


def _interpreter(flat: bytes):
    from edgecnn.edge.core.interpreter import _pick_backend

    _, cls, _ = _pick_backend(None)
    interp = cls(model_content=bytes(flat))
    interp.allocate_tensors()
    return interp


def check_converted(interp, mode: str) -> None:
    """No dynamic dimensions; in int8 mode no float tensors between the (de)quantize boundary ops.

    ``interp``: an allocated interpreter of the converted model (see ``_interpreter``).
    """
    for d in interp.get_input_details() + interp.get_output_details():
        if np.any(np.asarray(d.get("shape_signature", d["shape"])) < 0):
            raise ConversionError(f"converted tensor {d['name']!r} has a dynamic dimension {d['shape_signature']}")
    if mode != "int8":
        return
    ops = interp._get_ops_details()
    floats = sorted({op["op_name"] for op in ops if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE")
                     and any(interp._get_tensor_details(t, 0)["dtype"] == np.float32
                             for t in list(op["inputs"]) + list(op["outputs"]) if t >= 0)})
    if floats:
        raise ConversionError(
            f"int8 model still computes in float in ops {floats} (a float island breaks full-int8 "
            "and the Edge TPU); replace the layer, e.g. UnitNormalization -> tf.math.l2_normalize"
        )


def quantization_summary(interp, mode: str, io_dtype: str, n_samples: int) -> dict[str, Any]:
    sig = interp.get_signature_list().get("serving_default", {})
    by_index = {}
    full = getattr(interp, "_get_full_signature_list", lambda: {})().get("serving_default", {})
    for kind in ("inputs", "outputs"):
        for name, idx in full.get(kind, {}).items():
            by_index[idx] = name
    tensors = {}
    for d in interp.get_input_details() + interp.get_output_details():
        scale, zero = d["quantization"]
        tensors[by_index.get(d["index"], d["name"])] = {
            "dtype": np.dtype(d["dtype"]).name, "scale": float(scale), "zero_point": int(zero)}
    return {
        "mode": mode,
        "io_dtype": io_dtype,
        "per_channel": mode == "int8",
        "calibration_samples": n_samples,
        "tensors": tensors,
        "signature": sig,
        "warnings": portability_warnings(interp),
    }


def portability_warnings(interp) -> list[str]:
    """Known runtime traps a converted model walks into.

    tflite-runtime 2.14 on aarch64 (the Coral route) crashes in its per-channel int8
    FULLY_CONNECTED kernel when the op has no bias; the converter drops an all-zero bias.
    """
    ops = interp._get_ops_details()
    missing = [op["index"] for op in ops if op["op_name"] == "FULLY_CONNECTED"
               and (len(op["inputs"]) < 3 or op["inputs"][2] < 0)]
    if not missing:
        return []
    return [f"{len(missing)} FULLY_CONNECTED op(s) without a bias (op index {missing[:5]}): tflite-runtime 2.14 "
            "on aarch64 crashes on these; give the Dense layer a non-zero bias (use_bias=True, trained)"]


def _flatbuffer_utils():
    try:
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.tools import flatbuffer_utils
    except ImportError:  # fall back to the copy inside TensorFlow
        from tensorflow.lite.python import schema_py_generated as schema
        from tensorflow.lite.tools import flatbuffer_utils
    return flatbuffer_utils, schema


def embed_metadata(flat: bytes, metadata: dict[str, Any]) -> bytes:
    """Return ``flat`` with our JSON metadata stored (replacing any earlier edgecnn entry)."""
    validate_metadata(metadata, source="embed_metadata")
    fb, schema = _flatbuffer_utils()
    model = fb.read_model_from_bytearray(bytearray(flat))
    payload = json.dumps(metadata, allow_nan=False, separators=(",", ":")).encode("utf-8")
    model.metadata = [m for m in (model.metadata or []) if _name(m.name) != METADATA_NAME]
    buf = schema.BufferT()
    buf.data = np.frombuffer(payload, dtype=np.uint8)
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    return bytes(fb.convert_object_to_bytearray(model))


def _name(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def keras_outputs(model, sample: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run a Keras model (or our KerasModel wrapper) and return a dict name -> numpy array."""
    if hasattr(model, "run"):
        return model.run(sample)
    from edgecnn.train.core.keras_model import output_dict

    return {k: np.asarray(v) for k, v in output_dict(model(sample, training=False)).items()}


def parity(keras_model, tflite, samples: Iterable[dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """Per-output max/mean absolute error between Keras and the TFLite model run through edge/."""
    from edgecnn.edge.core.interpreter import EdgeModel, load_model

    edge = tflite if isinstance(tflite, EdgeModel) else load_model(tflite)
    errors: dict[str, list[np.ndarray]] = {}
    for sample in samples:
        ref = keras_outputs(keras_model, sample)
        got = edge.run(sample)
        for name, value in got.items():
            if name not in ref:
                raise ConversionError(f"parity: TFLite output {name!r} is not a Keras output {sorted(ref)}")
            errors.setdefault(name, []).append(np.abs(np.asarray(ref[name], np.float32) - value).ravel())
    if not errors:
        raise ConversionError("parity: no samples given")
    report = {}
    for name, parts in errors.items():
        err = np.concatenate(parts)
        info = edge.output(name)
        report[name] = {"max_abs": float(err.max()), "mean_abs": float(err.mean()),
                        "output_scale": float(info.scale)}
    return report
