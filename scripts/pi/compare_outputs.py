"""Run every int8 model on fixed inputs and compare raw integer outputs across machines.

    python scripts/pi/compare_outputs.py run --tree DIR --out x86.npz
    python scripts/pi/compare_outputs.py run --tree DIR --out arm.npz --inputs x86.npz   # same inputs
    python scripts/pi/compare_outputs.py compare x86-*.npz aarch64-*.npz [--max-lsb 1]

``run`` finds the quantized models under DIR (tests/fixtures/*.tflite, runs/demo/*/*.tflite,
edge/models/*.tflite), feeds each one raw integer inputs drawn from a seeded generator (or read
from ``--inputs``, so that two machines see exactly the same bytes) through ``edgecnn.edge``
and stores the raw outputs. A model that kills the interpreter (segfault) is run in a child
process, so the crash is recorded against that model and the others still run.
``compare`` prints one row per model and runtime with the largest difference in LSB (integer
units of the output tensor) between aarch64 and x86_64 under the same runtime, and exits 1 when
any is above ``--max-lsb`` (or that runtime's ``--runtime-max-lsb``) or a model is missing/crashed. The difference between tflite-runtime and
ai-edge-litert on x86_64 is shown too, for information (their kernels round differently).
Only numpy and edgecnn.edge are imported: it runs under ai-edge-litert and tflite-runtime alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

MODEL_GLOBS = ("tests/fixtures/*.tflite", "runs/demo/*/*.tflite", "edge/models/*.tflite")
SEP = "|"


def find_models(tree: Path) -> tuple[list[str], dict[str, str]]:
    """Quantized models under ``tree`` (relative paths) and the ones left out with the reason."""
    from edgecnn.edge.core.flatbuf import parse_model

    models, skipped = [], {}
    for pattern in MODEL_GLOBS:
        for path in sorted(tree.glob(pattern)):
            rel = path.relative_to(tree).as_posix()
            try:
                tables = parse_model(path.read_bytes(), source=rel)
            except ValueError as exc:
                skipped[rel] = f"not a readable .tflite ({exc})"
                continue
            if any(custom == "edgetpu-custom-op" for _, custom in tables.op_codes):
                skipped[rel] = "compiled for the Edge TPU (needs the device)"
            elif not any(t.dtype in ("int8", "uint8") for t in tables.tensors):
                skipped[rel] = "not quantized (float model)"
            else:
                models.append(rel)
    return models, skipped


def make_inputs(model, rel: str, samples: int) -> list[dict[str, np.ndarray]]:
    """Sample 0: every quantized input at its zero point (float 0); then seeded full-range integers."""
    rng = np.random.default_rng(zlib.crc32(rel.encode()))
    feeds = []
    for s in range(samples):
        feed = {}
        for t in model.inputs:
            if t.quantized:
                info = np.iinfo(t.dtype)
                raw = (np.full(t.shape, t.zero_point) if s == 0
                       else rng.integers(info.min, info.max + 1, size=t.shape))
                feed[t.name] = raw.astype(t.dtype)
            else:
                feed[t.name] = (np.zeros(t.shape) if s == 0 else rng.standard_normal(t.shape)).astype(t.dtype)
        feeds.append(feed)
    return feeds


def run_models(tree: Path, models: list[str], samples: int, given: dict | None, progress: Path | None) -> dict:
    """Run ``models``; returns npz entries ``model|sample|in|name`` and ``model|sample|out|name``."""
    from edgecnn.edge.core.interpreter import load_model

    arrays = {}
    for rel in models:
        if progress is not None:
            progress.write_text(rel)
        model = load_model(tree / rel, num_threads=1)
        feeds = [{k.split(SEP)[3]: v for k, v in (given or {}).items() if k.startswith(f"{rel}{SEP}{s}{SEP}in{SEP}")}
                 for s in range(samples)]
        if not all(feeds):  # no stored inputs for this model: draw them (same seed on every machine)
            feeds = make_inputs(model, rel, samples)
        for s, feed in enumerate(feeds):
            model.set_inputs(feed)
            model.invoke()
            for name, value in feed.items():
                arrays[f"{rel}{SEP}{s}{SEP}in{SEP}{name}"] = value
            for name, value in model.get_outputs(raw=True).items():
                arrays[f"{rel}{SEP}{s}{SEP}out{SEP}{name}"] = value
    return arrays


def _describe_machine() -> dict:
    from importlib.util import find_spec

    from edgecnn.edge.core.interpreter import BACKENDS

    # the backend the runtime will pick, found without importing it (tensorflow.lite would be slow)
    backend = os.environ.get("EDGECNN_BACKEND") or next(
        (b for b in BACKENDS if find_spec(b.split(".")[0]) is not None), "none")
    module = {"ai_edge_litert": "ai_edge_litert", "tflite_runtime": "tflite_runtime"}.get(backend, "tensorflow")
    try:
        from importlib.metadata import version

        runtime = version(module.replace("_", "-"))
    except Exception:  # noqa: BLE001 - the version is informative only
        runtime = "?"
    return {"machine": platform.machine(), "backend": backend, "runtime_version": runtime,
            "numpy": np.__version__, "python": platform.python_version()}


def cmd_child(args) -> int:
    """One process: run the models not excluded; writes ``args.out`` (npz) at the end."""
    tree = Path(args.tree)
    given = dict(np.load(args.inputs)) if args.inputs else None
    models = json.loads(Path(args.models_json).read_text())
    arrays = run_models(tree, models, args.samples, given, Path(args.progress))
    np.savez(args.out, **arrays)
    return 0


def cmd_run(args) -> int:
    """Parent: find models, run them in a child; a crashed model is recorded and the rest re-run."""
    tree = Path(args.tree).resolve()
    models, skipped = find_models(tree)
    if args.inputs:
        with np.load(args.inputs) as ref:
            samples = int(json.loads(str(ref["__meta__"]))["samples"])
    else:
        samples = args.samples
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.with_suffix(".work")
    work.mkdir(exist_ok=True)
    crashed: dict[str, str] = {}
    arrays: dict[str, np.ndarray] = {}
    todo = list(models)
    while todo:
        (work / "models.json").write_text(json.dumps(todo))
        progress, part = work / "progress.txt", work / "part.npz"
        progress.write_text("")
        part.unlink(missing_ok=True)
        cmd = [sys.executable, *(["-S"] if sys.flags.no_site else []), os.path.abspath(__file__), "_child", "--tree", str(tree), "--out", str(part),
               "--samples", str(samples), "--models-json", str(work / "models.json"), "--progress", str(progress)]
        if args.inputs:
            cmd += ["--inputs", str(Path(args.inputs).resolve())]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            with np.load(part) as got:
                arrays.update(dict(got))
            break
        current = progress.read_text().strip() or todo[0]
        tail = proc.stderr.strip().splitlines()[-1:] or [""]
        crashed[current] = f"exit status {proc.returncode}" + (f" ({tail[0][:120]})" if tail[0] else "")
        todo = [m for m in models if m not in crashed]  # run the others again, without the crashed ones
    meta = {**_describe_machine(), "tree": str(tree), "samples": samples, "models": models, "skipped": skipped, "crashed": crashed}
    np.savez(out, __meta__=np.array(json.dumps(meta)), **arrays)
    print(f"{out}: {len(models) - len(crashed)} model(s) run on {meta['machine']} with {meta['backend']} "
          f"{meta['runtime_version']}, {len(crashed)} crashed, {len(skipped)} skipped")
    for rel, why in crashed.items():
        print(f"  CRASHED {rel}: {why}")
    return 0


def _load(path: str) -> tuple[dict, dict]:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
        meta = json.loads(str(z["__meta__"]))
    return meta, arrays


def diff_lsb(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a - b| in units of the stored type (LSB for integer tensors)."""
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)), initial=0.0))


def compare_one(ref: tuple[dict, dict], other: tuple[dict, dict], model: str) -> tuple[float, str]:
    """(largest difference over samples and outputs, problem or "") for one model, ``other`` vs ``ref``."""
    (rmeta, rarr), (ometa, oarr) = ref, other
    for meta, where in ((rmeta, ref_label(rmeta)), (ometa, ref_label(ometa))):
        if model not in meta["models"]:
            return float("nan"), f"MISSING on {where}"
        if model in meta["crashed"]:
            return float("nan"), f"CRASHED on {where}: {meta['crashed'][model]}"
    keys = [k for k in rarr if k.startswith(model + SEP) and k.split(SEP)[2] == "out"]
    missing = [k for k in keys if k not in oarr]
    if not keys or missing:
        return float("nan"), f"MISSING outputs ({len(missing)} of {len(keys)})"
    return max(diff_lsb(rarr[k], oarr[k]) for k in keys), ""


def fc_without_bias(path: Path) -> int:
    """FULLY_CONNECTED ops with no bias input in a model (0 when ai-edge-litert's tools are absent).

    tflite-runtime 2.14's aarch64 build dereferences the missing bias of an int8 per-channel
    FULLY_CONNECTED (gemmlowp OutputStageBiasAddition) and crashes; x86_64 and ai-edge-litert do not.
    """
    try:
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.tools import flatbuffer_utils
    except ImportError:
        return 0
    model = flatbuffer_utils.read_model(str(path))
    count = 0
    for graph in model.subgraphs:
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            inputs = list(op.inputs)
            if builtin == schema.BuiltinOperator.FULLY_CONNECTED and (len(inputs) < 3 or inputs[2] < 0):
                count += 1
    return count


def ref_label(meta: dict) -> str:
    return f"{meta['machine']} {meta['backend']} {meta['runtime_version']}"


def cmd_compare(args) -> int:
    """Per model and runtime: aarch64 vs x86_64 with the same runtime (gated), and that runtime vs
    ai_edge_litert on x86_64 (informative: the two runtimes' kernels round differently)."""
    runs = {}
    for path in args.runs:
        meta, arrays = _load(path)
        runs[(meta["machine"], meta["backend"])] = (meta, arrays)
    base = runs.get(("x86_64", "ai_edge_litert"))
    backends = sorted({b for m, b in runs if m != "x86_64"})
    models = sorted({m for meta, _ in runs.values() for m in meta["models"]})
    skipped = {k: v for meta, _ in runs.values() for k, v in meta["skipped"].items()}
    some = next(iter(runs.values()))[0]
    host_tree = next((meta.get("tree") for (machine, _), (meta, _) in runs.items() if machine == "x86_64"), None)
    tolerance = {b: args.max_lsb for b in backends} | dict(args.runtime_max_lsb)
    print(f"{some['samples']} fixed input sample(s) per model; raw integer outputs; tolerance in LSB: "
          + ", ".join(f"{b} {tolerance[b]:g}" for b in backends))
    for rel, why in sorted(skipped.items()):
        print(f"  not compared: {rel}: {why}")
    header = f"{'model':<40} {'runtime':<24} {'aarch64 vs x86_64':>17} {'vs litert (x86)':>15}  status"
    print(header)
    print("-" * len(header))
    failed, rows = 0, []
    for model in models:
        for backend in backends:
            arm, x86 = runs.get(("aarch64", backend)), runs.get(("x86_64", backend))
            if x86 is None:
                worst, problem = float("nan"), f"no x86_64 {backend} run to compare with"
            else:
                worst, problem = compare_one(x86, arm, model)
            info = float("nan")
            if base is not None and x86 is not None and backend != "ai_edge_litert":
                info = compare_one(base, x86, model)[0]
            if problem.startswith("CRASHED") and backend == "tflite_runtime":
                n = fc_without_bias(Path(host_tree) / model) if host_tree else 0
                if n:
                    problem += f" [{n} FULLY_CONNECTED without bias: tflite-runtime 2.14 on aarch64 crashes on those]"
            bad = bool(problem) or worst > tolerance[backend]
            status = problem or (f"FAIL: > {tolerance[backend]:g} LSB" if bad else "ok")
            failed += bad
            label = f"{backend} {arm[0]['runtime_version']}"
            show = lambda v: "-" if not np.isfinite(v) else f"{v:g}"  # noqa: E731
            print(f"{model:<40} {label:<24} {show(worst):>17} {show(info):>15}  {status}")
            rows.append({"model": model, "backend": backend, "runtime_version": arm[0]["runtime_version"],
                         "aarch64_vs_x86_lsb": None if not np.isfinite(worst) else worst,
                         "vs_litert_x86_lsb": None if not np.isfinite(info) else info,
                         "tolerance_lsb": tolerance[backend], "status": status, "failed": bad})
    if args.json:
        from edgecnn.edge.core.fileio import atomic_write_json

        atomic_write_json(args.json, {"rows": rows, "runs": [meta for meta, _ in runs.values()]})
    print(f"{failed} failure(s) among {len(rows)} model x runtime comparison(s)")
    return 1 if failed else 0


def _runtime_tolerance(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError(text)
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected RUNTIME=N (e.g. tflite_runtime=8), got {text!r}") from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run every quantized model under --tree on fixed inputs")
    r.add_argument("--tree", required=True, help="project tree holding tests/fixtures, runs/demo, edge/models")
    r.add_argument("--out", required=True, help="npz to write (raw inputs and outputs, metadata)")
    r.add_argument("--samples", type=int, default=6, help="input samples per model (default 6)")
    r.add_argument("--inputs", default=None, help="reuse the inputs stored in this npz (another machine's run)")
    r.set_defaults(func=cmd_run)
    c = sub.add_parser("_child")
    for flag in ("--tree", "--out", "--models-json", "--progress"):
        c.add_argument(flag, required=True)
    c.add_argument("--samples", type=int, required=True)
    c.add_argument("--inputs", default=None)
    c.set_defaults(func=cmd_child)
    k = sub.add_parser("compare", help="compare aarch64 runs with x86_64 runs of the same runtime")
    k.add_argument("runs", nargs="+", help="npz files written by `run` (x86_64 and aarch64, one per runtime)")
    k.add_argument("--max-lsb", type=float, default=1.0, help="largest allowed difference (default 1 LSB)")
    k.add_argument("--runtime-max-lsb", type=_runtime_tolerance, action="append", default=[], metavar="RUNTIME=N",
                   help="another tolerance for one runtime, e.g. tflite_runtime=8 (repeatable)")
    k.add_argument("--json", default=None, help="also write the table as JSON here")
    k.set_defaults(func=cmd_compare)
    args = parser.parse_args(argv)
    if getattr(args, "samples", 1) < 1:
        parser.error(f"--samples must be >= 1, got {args.samples}")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
