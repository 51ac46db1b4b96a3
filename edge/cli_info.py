"""``edgecnn info MODEL``: metadata, tensors, ops, size, memory and Edge TPU readiness."""

from __future__ import annotations

from collections import Counter


def register(sub) -> None:
    p = sub.add_parser("info", help="describe a .tflite model (metadata, tensors, ops, size, Edge TPU readiness)")
    p.add_argument("model", help="a .tflite file or builtin:NAME")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def describe(spec) -> dict:
    from .edgetpu import op_name, readiness
    from .interpreter import load_model
    from .loader import resolve_model_path

    path = resolve_model_path(spec)
    model = load_model(path)
    tables = model.tables
    ops = Counter(op_name(*tables.op_codes[i]) for i in tables.operators if i < len(tables.op_codes))
    activations = [t.nbytes for t in tables.tensors if not t.constant]
    tensor = lambda t: {"name": t.name, "dtype": t.dtype.name, "shape": list(t.shape),  # noqa: E731
                        "scale": t.scale, "zero_point": t.zero_point}
    meta = model.metadata
    return {
        "path": str(path),
        "task": meta.get("task"),
        "backend": model.backend,
        "file_size_bytes": model.size_bytes,
        "weights_bytes": sum(t.nbytes for t in tables.tensors if t.constant),
        "activation_bytes_upper_bound": sum(activations),
        "largest_activation_bytes": max(activations, default=0),
        "inputs": [tensor(t) for t in model.inputs],
        "outputs": [tensor(t) for t in model.outputs],
        "ops": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        "op_count": sum(ops.values()),
        "edgetpu": readiness(tables).as_dict(),
        "metadata": meta,
    }


def run(args) -> int:
    from .cli import emit_json

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
