"""CLI smoke run of the device verbs, as a user on the Pi would type them.

    python scripts/pi/smoke.py --tree DIR --work DIR --out smoke.json

Runs ``edgecnn --version``, ``info --json`` on the models it uses and the packaged ones, ``bench --json`` (also with
``--device usb``: without a Coral it must fall back to the CPU and say why), a bad-input error,
and per task ``detect``, ``face verify``, ``ecg`` on the demo models (runs/demo/TASK/model_int8.tflite).
Where a demo model does not exist yet, the task's tiny test model (tests/fixtures, found by the
task in its metadata) stands in, with a loud note; where neither exists the step is SKIPPED
loudly. Each step's output must be valid JSON. The inputs (a scene image, two face crops, a
synthetic ECG) are made here, deterministically. Exit status 1 when a step failed.
Only the stdlib, numpy and cv2 are imported (cv2 only to draw the scene).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_outputs import find_models  # noqa: E402

TASKS = ("detect", "face", "ecg")
BENCH_KEYS = ("model", "backend", "threads", "runs", "invoke_median_ms", "invoke_p90_ms", "run_median_ms",
              "run_p90_ms", "warnings")
LOUD = "!" * 78


def edgecnn_argv() -> list[str]:
    """The ``edgecnn`` console script beside this interpreter, else ``python -m edgecnn.cli``."""
    script = Path(sys.executable).with_name("edgecnn")
    return [str(script)] if script.exists() else [sys.executable, "-m", "edgecnn.cli"]


def synthetic_ecg(fs: float, seconds: float, seed: int = 0) -> np.ndarray:
    """A clean-ish single-lead ECG in mV: P-QRS-T Gaussians at ~75 bpm, baseline wander, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(fs * seconds)) / fs
    sig = 0.15 * np.sin(2 * np.pi * 0.25 * t) + rng.normal(0, 0.01, t.size)
    waves = ((0.12, 0.025, -0.20), (-0.12, 0.010, -0.035), (1.1, 0.011, 0.0), (-0.25, 0.012, 0.035), (0.3, 0.045, 0.26))
    beat = 0.6
    while beat < seconds - 0.6:
        for amp, width, offset in waves:
            sig += amp * np.exp(-0.5 * ((t - beat - offset) / width) ** 2)
        beat += 0.8 + rng.normal(0, 0.03)
    return sig


def scene_image(path: Path) -> Path:
    """A 320x240 scene with a few filled shapes on a textured background (PNG)."""
    import cv2

    rng = np.random.default_rng(1)
    img = (rng.integers(90, 140, (240, 320, 3))).astype(np.uint8)
    cv2.rectangle(img, (30, 40), (120, 150), (30, 30, 220), -1)
    cv2.circle(img, (220, 120), 50, (40, 200, 40), -1)
    cv2.fillPoly(img, [np.array([[150, 220], [200, 160], [250, 220]], np.int32)], (220, 60, 30))
    ok, enc = cv2.imencode(".png", img)
    path.write_bytes(enc.tobytes())
    return path


def face_images(tree: Path, work: Path) -> tuple[Path, Path]:
    """Two images of one identity from the test fixtures, else two synthetic face-like crops."""
    person = tree / "tests" / "fixtures" / "faces" / "person_0"
    found = sorted(person.glob("*.png")) if person.is_dir() else []
    if len(found) >= 2:
        return found[0].relative_to(tree), found[1].relative_to(tree)
    import cv2

    paths = []
    for i in range(2):
        img = np.full((96, 96, 3), 200, np.uint8)
        cv2.ellipse(img, (48, 50), (30, 38), 0, 0, 360, (150, 170, 210), -1)
        cv2.circle(img, (37 + i, 42), 4, (40, 40, 40), -1)
        cv2.circle(img, (59 + i, 42), 4, (40, 40, 40), -1)
        p = work / f"face_{i}.png"
        p.write_bytes(cv2.imencode(".png", img)[1].tobytes())
        paths.append(p)
    return paths[0], paths[1]


def task_model(tree: Path, task: str, models: list[str]) -> tuple[Path | None, str]:
    """The demo model of ``task``, else a quantized fixture whose metadata says ``task``."""
    demo = tree / "runs" / "demo" / task / "model_int8.tflite"
    if demo.is_file():
        return demo, ""
    from edgecnn.edge.core.metadata import read_metadata

    for rel in models:
        if rel.startswith("tests/fixtures/") and read_metadata(tree / rel).get("task") == task:
            return tree / rel, f"demo model {demo.relative_to(tree)} does not exist yet (run `make demo`): used {rel}"
    return None, f"no demo model {demo.relative_to(tree)} and no {task} test model: run `make demo`"


class Smoke:
    """Runs steps, checks their JSON, keeps a record of each."""

    def __init__(self, tree: Path, work: Path):
        self.tree, self.work = tree, work
        self.steps: list[dict] = []
        self.argv = edgecnn_argv()

    def run(self, name: str, args: list[str], check=None, expect_rc: int = 0, jsonl: bool = False, note: str = ""):
        t0 = time.perf_counter()
        proc = subprocess.run(self.argv + args, capture_output=True, text=True, cwd=self.tree, timeout=900)
        wall = time.perf_counter() - t0
        problem, result = "", None
        if proc.returncode != expect_rc:
            problem = f"exit status {proc.returncode}, expected {expect_rc}: {proc.stderr.strip()[-400:]}"
        elif expect_rc == 0:
            try:
                lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.strip()]
                result = lines if jsonl else (lines[0] if len(lines) == 1 else None)
                if result is None:
                    problem = f"expected one JSON object on stdout, got {len(lines)} line(s)"
            except json.JSONDecodeError as exc:
                problem = f"stdout is not JSON ({exc}): {proc.stdout[:200]!r}"
            if not problem and check is not None:
                problem = check(result) or ""
        else:
            err_lines = proc.stderr.strip().splitlines()
            if len(err_lines) != 1 or not err_lines[0].startswith("edgecnn: error:"):
                problem = f"expected one 'edgecnn: error:' line on stderr, got {proc.stderr.strip()[-300:]!r}"
        step = {"name": name, "cmd": "edgecnn " + shlex.join(args), "ok": not problem, "problem": problem,
                "note": note, "wall_s": round(wall, 2), "digest": digest(name, result)}
        self.steps.append(step)
        print(f"[{'ok' if step['ok'] else 'FAIL'}] {step['cmd']}  ({wall:.1f} s)" + (f"\n       {problem}" if problem else ""),
              flush=True)
        if note:
            print(f"{LOUD}\n  NOTE: {note}\n{LOUD}", flush=True)
        return result

    def skip(self, name: str, why: str) -> None:
        self.steps.append({"name": name, "cmd": "", "ok": True, "skipped": True, "problem": "", "note": why,
                           "wall_s": 0.0, "digest": None})
        print(f"{LOUD}\n  SKIPPED {name}: {why}\n{LOUD}", flush=True)


def digest(name: str, result):
    """The part of a step's result that must not depend on the machine (no timings)."""
    if result is None:
        return None
    if name.startswith("detect"):
        return [[(d.get("label"), d.get("class_id")) for d in frame.get("detections", [])]
                for frame in result if "detections" in frame]
    if name.startswith("face"):
        return {"same": result.get("same"), "distance": round(float(result.get("distance", 0)), 4)}
    if name.startswith("ecg"):
        return [b.get("class") for b in result.get("beats", [])]
    return None


def want_keys(keys):
    return lambda obj: (f"missing keys {sorted(set(keys) - set(obj))}" if not set(keys) <= set(obj) else None)


def backend_check(obj) -> str | None:
    want = os.environ.get("EDGECNN_BACKEND")
    if want and not str(obj.get("backend", "")).startswith(want):
        return f"backend {obj.get('backend')!r}, expected {want!r} (EDGECNN_BACKEND)"
    return None


def run_all(tree: Path, work: Path) -> Smoke:
    s = Smoke(tree, work)
    models, _ = find_models(tree)
    proc = subprocess.run(s.argv + ["--version"], capture_output=True, text=True)
    print(f"[{'ok' if proc.returncode == 0 else 'FAIL'}] edgecnn --version: {proc.stdout.strip()}", flush=True)
    s.steps.append({"name": "version", "cmd": "edgecnn --version", "ok": proc.returncode == 0, "problem": proc.stderr[-300:],
                    "note": "", "wall_s": 0.0, "digest": None})
    chosen = {task: task_model(tree, task, models) for task in TASKS}
    shown = [str(m.relative_to(tree)) for m, _ in chosen.values() if m is not None]
    shown += [m for m in models if m.startswith("edge/models/")]
    for rel in shown:
        s.run(f"info {rel}", ["info", rel, "--json"], check=lambda o: want_keys(("task", "backend", "edgetpu"))(o) or backend_check(o))
    if shown:
        s.run("bench", ["bench", shown[0], "--runs", "3", "--warmup", "1", "--json"], check=want_keys(BENCH_KEYS))
        s.run("bench --device usb", ["bench", shown[0], "--runs", "2", "--warmup", "0", "--device", "usb", "--json"],
              check=lambda o: None if ("cpu fallback" in o["backend"] and any("libedgetpu" in w for w in o["warnings"]))
              else f"expected a CPU fallback naming libedgetpu, got backend {o['backend']!r}, warnings {o['warnings']}")
    s.run("error: missing model", ["info", "no/such/model.tflite", "--json"], expect_rc=2)
    for task in TASKS:
        model, note = chosen[task]
        if model is None:
            s.skip(task, note)
            continue
        rel = str(model.relative_to(tree))
        if task == "detect":
            img = scene_image(work / "scene.png")
            s.run("detect", ["detect", rel, str(img), "--json", "--out", str(work / "scene_boxes.png")], jsonl=True,
                  check=lambda r: None if r and "detections" in r[0] else "no 'detections' in the output", note=note)
        elif task == "face":
            a, b = face_images(tree, work)
            s.run("face verify", ["face", "verify", rel, str(a), str(b), "--json"],
                  check=want_keys(("same", "distance", "tau")), note=note)
        else:
            csv = work / "ecg_360hz.csv"
            csv.write_text("\n".join(f"{v:.5f}" for v in synthetic_ecg(360.0, 30.0)) + "\n")
            s.run("ecg", ["ecg", rel, str(csv), "--fs", "360", "--json"],
                  check=lambda r: None if r.get("beats") else "no beats found in a clean synthetic ECG", note=note)
            if any(m.startswith("edge/models/") for m in models):
                s.run("ecg builtin", ["ecg", "builtin:ecg", str(csv), "--fs", "360", "--json"],
                      check=lambda r: None if r.get("beats") else "no beats found in a clean synthetic ECG")
    return s


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", required=True, help="project tree (tests/fixtures, runs/demo, edge/models)")
    parser.add_argument("--work", required=True, help="folder for the generated inputs and outputs")
    parser.add_argument("--out", required=True, help="JSON summary to write")
    args = parser.parse_args(argv)
    tree, work = Path(args.tree).resolve(), Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    s = run_all(tree, work)
    failed = [st for st in s.steps if not st["ok"]]
    skipped = [st for st in s.steps if st.get("skipped")]
    Path(args.out).write_text(json.dumps({"steps": s.steps, "failed": len(failed), "skipped": len(skipped)}, indent=2))
    print(f"smoke: {len(s.steps) - len(failed) - len(skipped)} ok, {len(failed)} failed, {len(skipped)} skipped", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
