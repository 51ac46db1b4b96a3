"""``edgecnn info MODEL``: metadata, tensors, ops, size, memory and Edge TPU readiness."""

from __future__ import annotations

from collections import Counter


def register(sub) -> None:
    p = sub.add_parser("info", help="describe a .tflite model (metadata, tensors, ops, size, Edge TPU readiness)")
    p.add_argument("model", help="a .tflite file or builtin:NAME")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def describe(spec) -> dict:
    from edgecnn.edge.core.edgetpu import op_name, readiness
    from edgecnn.edge.core.errors import BackendError
    from edgecnn.edge.core.interpreter import load_model
    from edgecnn.edge.core.loader import resolve_model_path
    from edgecnn.edge.core.metadata import metadata_from_tables, read_tables

    path = resolve_model_path(spec)
    tables = read_tables(path)
    meta = metadata_from_tables(tables, str(path))
    warnings: list[str] = []
    try:
        model = load_model(path)
        backend = model.backend
        inputs, outputs = [_tensor(t, t.dtype.name) for t in model.inputs], [_tensor(t, t.dtype.name) for t in model.outputs]
    except BackendError as exc:
        if not readiness(tables).compiled:
            raise
        # An Edge TPU model on a machine without the runtime: describe it from the file alone.
        backend = f"none: {EDGETPU_RUNTIME_MISSING}"
        warnings.append(str(exc))
        inputs, outputs = _io_from_tables(tables, "inputs"), _io_from_tables(tables, "outputs")
    ops = Counter(op_name(*tables.op_codes[i]) for i in tables.operators if i < len(tables.op_codes))
    activations = [t.nbytes for t in tables.tensors if not t.constant]
    return {
        "path": str(path),
        "task": meta.get("task"),
        "backend": backend,
        "file_size_bytes": path.stat().st_size,
        "weights_bytes": sum(t.nbytes for t in tables.tensors if t.constant),
        "activation_bytes_upper_bound": sum(activations),
        "largest_activation_bytes": max(activations, default=0),
        "inputs": inputs,
        "outputs": outputs,
        "ops": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        "op_count": sum(ops.values()),
        "edgetpu": readiness(tables).as_dict(),
        "warnings": warnings,
        "metadata": meta,
    }


EDGETPU_RUNTIME_MISSING = "compiled for the Edge TPU, whose runtime (libedgetpu) is not available here"


def _tensor(t, dtype: str) -> dict:
    return {"name": t.name, "dtype": dtype, "shape": list(t.shape), "scale": t.scale, "zero_point": t.zero_point}


def _io_from_tables(tables, kind: str) -> list[dict]:
    sig = next(iter(tables.signatures.values()), {}).get(kind, {})
    names = {idx: name for name, idx in sig.items()}
    indices = tables.inputs if kind == "inputs" else tables.outputs
    out = []
    for i in indices:
        t = tables.tensors[i]
        out.append({**_tensor(t, t.dtype), "name": names.get(i, t.name)})
    return out


def run(args) -> int:
    from edgecnn.edge.core.cliutil import emit_json

    info = describe(args.model)
    if args.json:
        emit_json(info)
        return 0
    print(format_text(info))
    return 0


def format_text(info: dict) -> str:
    meta = info["metadata"]
    lines = [
        f"model:     {info['path']}",
        f"task:      {info['task'] or 'unknown (no edgecnn metadata)'}",
        f"size:      {info['file_size_bytes'] / 1024:.1f} KiB (weights {info['weights_bytes'] / 1024:.1f} KiB)",
        f"memory:    activations <= {info['activation_bytes_upper_bound'] / 1024:.1f} KiB "
        f"(largest tensor {info['largest_activation_bytes'] / 1024:.1f} KiB)",
        f"backend:   {info['backend']}",
    ]
    for kind in ("inputs", "outputs"):
        for t in info[kind]:
            q = f" q=(scale {t['scale']:.6g}, zero {t['zero_point']})" if t["scale"] else ""
            lines.append(f"{kind[:-1]:>9}: {t['name']} {t['dtype']} {t['shape']}{q}")
    lines.append("ops:       " + ", ".join(f"{k} x{v}" for k, v in info["ops"].items()))
    tpu = info["edgetpu"]
    state = "compiled" if tpu["compiled_for_edgetpu"] else ("ready" if tpu["ready"] else "not ready")
    lines.append(f"edge tpu:  {state}" + "".join(f"\n           - {p}" for p in tpu["problems"]))
    if meta:
        lines.append(f"labels:    {', '.join(meta.get('labels', [])) or '-'}")
        for key in ("params", "quantization", "evaluation", "provenance"):
            if meta.get(key):
                lines.append(f"{key + ':':<11}" + _compact(meta[key]))
    return "\n".join(lines)


def _compact(value, limit: int = 600) -> str:
    import json

    text = json.dumps(value, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 3] + "..."
