"""The conversion pipeline behind ``edgecnn convert`` / ``make convert``.

load .keras + metadata -> calibration samples from the task's own preprocessing -> int8 (and
optionally float32) TFLite -> parity through edge/ -> optional float-vs-int8 evaluation with the
same edge/ metric code -> accuracy gate -> metadata embedded -> files written atomically ->
optional Edge TPU compile.
"""

from __future__ import annotations

import datetime as dt
import itertools
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from edgecnn import __version__, tasks
from edgecnn.convert.tflite import ConversionError, convert_keras, embed_metadata, parity
from edgecnn.edge.core.errors import EdgeError
from edgecnn.edge.core.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text
from edgecnn.edge.core.interpreter import load_model


def _trainer(task: str):
    return tasks.get(task).train_module("recipe")


def evaluate_with_edge_code(model, task: str, data: str, eval_args: list[str] | None = None) -> dict[str, Any]:
    """Run the task's edge/ evaluator on ``data`` with its options ``eval_args`` (defaults if none)."""
    from edgecnn.edge.verbs.eval import evaluator, parse_options

    module = evaluator(task)
    return module.evaluate(model, parse_options(module, task, data, list(eval_args or [])))


def convert_model(model_path, *, task, calib, out, float_out=None, io_dtype="int8", num_calib=200,
                  parity_samples=50, eval_data=None, eval_args=None, max_drop=None, edgetpu=False,
                  seed=0) -> dict[str, Any]:
    import tensorflow as tf

    from edgecnn.train.core.keras_model import KerasModel

    if max_drop is not None and eval_data is None:
        raise ValueError("max_drop needs eval_data (labelled data to compare float and int8 on)")
    keras_model = KerasModel(model_path, task=task)
    meta = dict(keras_model.metadata)
    calib = calib or meta.get("provenance", {}).get("data") or "builtin:synthetic"
    calib_set, check_set = _calibration_samples(meta, task, calib, num_calib, parity_samples, seed)
    meta["provenance"] = {**meta.get("provenance", {}), "converted": {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "edgecnn_version": __version__, "tensorflow_version": tf.__version__,
        "python": platform.python_version(), "command": " ".join(sys.argv), "calibration_data": str(calib)}}
    flat = convert_keras(keras_model.model, mode="int8", representative=calib_set, io_dtype=io_dtype,
                         metadata=meta, num_calibration=len(calib_set))
    report: dict[str, Any] = {"model": str(model_path), "task": task, "out": str(out),
                              "calibration_samples": len(calib_set)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp) / "int8.tflite"
        tmp_path.write_bytes(flat)
        edge = load_model(tmp_path)
        report["parity"] = parity(keras_model, edge, check_set)
        evaluation: dict[str, Any] = {"parity": report["parity"]}
        if eval_data:
            evaluation["data"] = str(eval_data)
            evaluation["eval_args"] = list(eval_args or [])
            evaluation["float"] = evaluate_with_edge_code(keras_model, task, eval_data, eval_args)
            evaluation["int8"] = evaluate_with_edge_code(edge, task, eval_data, eval_args)
            gate(evaluation, task, max_drop)
    meta = {**meta, "quantization": _read_quant(flat), "evaluation": evaluation}
    flat = embed_metadata(flat, meta)
    atomic_write_bytes(out, flat)
    report.update(size_bytes=len(flat), evaluation=evaluation, warnings=meta["quantization"].get("warnings", []))
    if float_out:
        flat32 = convert_keras(keras_model.model, mode="float32", metadata={**meta, "evaluation": {}})
        atomic_write_bytes(float_out, flat32)
        report["float_out"], report["float_size_bytes"] = str(float_out), len(flat32)
    if edgetpu:
        report["edgetpu"] = _edgetpu(out, meta)
    atomic_write_json(Path(out).with_suffix(".report.json"), report)
    atomic_write_text(Path(out).with_suffix(".report.md"), summary_text(report) + "\n")
    return report


def _calibration_samples(meta: dict, task: str, calib, num_calib: int, parity_samples: int, seed: int):
    """(calibration samples, held-back parity samples) from the task's representative dataset."""
    stream = _trainer(task).representative_dataset(meta, calib, num_calib + parity_samples, seed=seed)
    samples = list(itertools.islice(iter(stream), num_calib + parity_samples))
    if len(samples) < 2:
        raise ConversionError(f"calibration data {calib!r} gave {len(samples)} sample(s); need at least 2")
    n_cal = max(1, len(samples) - parity_samples) if len(samples) > parity_samples else len(samples) // 2
    return samples[:n_cal], samples[n_cal:]


def _read_quant(flat: bytes) -> dict[str, Any]:
    from edgecnn.edge.core.metadata import read_metadata

    return read_metadata(flat).get("quantization", {})


def gate(evaluation: dict[str, Any], task: str, max_drop: float | None) -> None:
    """The accuracy gate: int8 may lose at most ``max_drop`` points of the task's main metric."""
    key = tasks.get(task).main_metric
    f, q = evaluation["float"].get(key), evaluation["int8"].get(key)
    if f is None or q is None:
        raise ConversionError(f"evaluation did not report {key!r} for both models")
    drop = 100.0 * (f - q)
    evaluation["gate"] = {"metric": key, "float": f, "int8": q, "drop_points": drop, "max_drop": max_drop,
                          "passed": max_drop is None or drop <= max_drop}
    if max_drop is not None and drop > max_drop:
        raise ConversionError(
            f"accuracy gate: int8 {key} {q:.4f} is {drop:.2f} points below float {f:.4f} "
            f"(allowed {max_drop}); model not written")


def _edgetpu(out, meta) -> dict[str, Any]:
    from edgecnn.convert.edgetpu import compile_model, compiler_path

    if compiler_path() is None:
        from edgecnn.convert.edgetpu import INSTALL_HINT

        return {"compiled": False, "note": INSTALL_HINT}
    try:
        compiled = compile_model(out)
    except EdgeError as exc:
        return {"compiled": False, "note": str(exc)}
    atomic_write_bytes(compiled, embed_metadata(compiled.read_bytes(), meta))
    return {"compiled": True, "path": str(compiled)}


def summary_text(report: dict[str, Any]) -> str:
    lines = [f"wrote {report['out']} ({report['size_bytes'] / 1024:.1f} KiB, {report['task']}, "
             f"{report['calibration_samples']} calibration samples)"]
    for name, p in report["parity"].items():
        lines.append(f"  parity {name}: max |keras - int8| {p['max_abs']:.4g}, mean {p['mean_abs']:.4g} "
                     f"(output step {p['output_scale']:.4g})")
    for warning in report.get("warnings", []):
        lines.append(f"  warning: {warning}")
    g = report.get("evaluation", {}).get("gate")
    if g:
        lines.append(f"  {g['metric']}: float {g['float']:.4f}, int8 {g['int8']:.4f} "
                     f"(drop {g['drop_points']:.2f} points)")
    if "float_out" in report:
        lines.append(f"  float32 model: {report['float_out']} ({report['float_size_bytes'] / 1024:.1f} KiB)")
    if "edgetpu" in report:
        e = report["edgetpu"]
        lines.append(f"  edge tpu: {e.get('path') if e['compiled'] else e['note']}")
    return "\n".join(lines)
