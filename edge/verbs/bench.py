"""``edgecnn bench MODEL``: invoke latency (median, p90) on random inputs, any model."""

from __future__ import annotations

import time

import numpy as np


def register(sub) -> None:
    p = sub.add_parser("bench", help="time a model's inference on this machine")
    p.add_argument("model", help="a .tflite file or builtin:NAME")
    p.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    p.add_argument("--runs", type=int, default=100, help="timed runs (default 100)")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs first (default 10)")
    p.add_argument("--device", default=None, help="Edge TPU device: usb, usb:N, pci, pci:N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def random_inputs(model, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Batch-1 float inputs that exercise each input's quantized range."""
    feeds = {}
    for t in model.inputs:
        if t.quantized:
            info = np.iinfo(t.dtype)
            q = rng.integers(info.min, info.max + 1, size=t.shape)
            feeds[t.name] = ((q - t.zero_point) * t.scale).astype(np.float32)
        else:
            feeds[t.name] = rng.standard_normal(t.shape).astype(np.float32)
    return feeds


MAX_RUNS = 100_000


def measure(model, feeds, runs: int, warmup: int) -> dict[str, float]:
    """Median/p90/mean of invoke alone and of run() (quantize + invoke + dequantize), in ms."""
    for _ in range(warmup):
        model.run(feeds)
    invoke, full = [], []
    model.set_inputs(feeds)
    for _ in range(runs):
        t0 = time.perf_counter()
        model.invoke()
        invoke.append(time.perf_counter() - t0)
    for _ in range(runs):
        t0 = time.perf_counter()
        model.run(feeds)
        full.append(time.perf_counter() - t0)
    ms = lambda xs, q: float(np.percentile(np.asarray(xs) * 1e3, q))  # noqa: E731
    return {
        "invoke_median_ms": ms(invoke, 50), "invoke_p90_ms": ms(invoke, 90),
        "run_median_ms": ms(full, 50), "run_p90_ms": ms(full, 90),
        "invoke_mean_ms": float(np.mean(invoke) * 1e3),
    }


def run(args) -> int:
    from edgecnn.edge.core.cliutil import emit_json
    from edgecnn.edge.core.interpreter import load_model
    from edgecnn.edge.core.loader import resolve_model_path

    if not 1 <= args.runs <= MAX_RUNS or not 0 <= args.warmup <= MAX_RUNS:
        raise ValueError(f"--runs / --warmup: expected 1..{MAX_RUNS} / 0..{MAX_RUNS}, got {args.runs} / "
                         f"{args.warmup}")
    path = resolve_model_path(args.model)
    model = load_model(path, num_threads=args.threads, device=args.device)
    result = {"model": str(path), "backend": model.backend, "threads": args.threads, "runs": args.runs,
              **measure(model, random_inputs(model, np.random.default_rng(args.seed)), args.runs, args.warmup),
              "warnings": model.warnings}
    if args.json:
        emit_json(result)
    else:
        print(f"{path.name}: {model.backend}, {args.threads} thread(s), {args.runs} runs")
        print(f"  invoke: median {result['invoke_median_ms']:.3f} ms, p90 {result['invoke_p90_ms']:.3f} ms")
        print(f"  run (with quantize/dequantize): median {result['run_median_ms']:.3f} ms, p90 {result['run_p90_ms']:.3f} ms")
        for w in model.warnings:
            print(f"  warning: {w}")
    return 0
