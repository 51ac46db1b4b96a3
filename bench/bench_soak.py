"""Long runs with flat memory: the device verbs as a user runs them, their RSS sampled from /proc.

* ``detect``: N video frames (default 10,000) through ``edgecnn detect MODEL video --every-frame
  --json``; frames processed and dropped from its summary line.
* ``face``: N frames (default 10,000) of a video through ``edgecnn face identify MODEL --gallery G
  video --json`` (the face loop), faces found per frame from its summary line.
* ``ecg``: a long stream (default 24 h at 360 Hz: the shipped MIT-BIH excerpt repeated) piped as
  text through ``edgecnn ecg builtin:ecg - --stream --fs 360 --json``, as fast as it is read
  ("sped up"); beats emitted against the beats in the input (every repeat holds the excerpt's
  annotated beats).

Reported per run: peak RSS, RSS once warmed up (after 10 % of the input) and at the end, their
difference (the growth; target < 5 MB), wall time, and the counts above.

    .venv/bin/python bench/bench_soak.py [--frames 10000] [--hours 24] [--model MODEL] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgecnn.edge.ecg.io import read_annotations, read_signal, resolve_signal_path  # noqa: E402

EDGECNN = [sys.executable, "-m", "edgecnn.cli"]


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class Sampler:
    """RSS of a process every ``every`` seconds, with a progress value from the caller."""

    def __init__(self, pid: int, every: float = 0.2):
        self.pid, self.every, self.samples = pid, every, []  # (time, progress, rss_kb)
        self.progress = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        t0 = time.monotonic()
        while not self._stop.is_set():
            r = rss_kb(self.pid)
            if r is not None:
                self.samples.append((time.monotonic() - t0, self.progress, r))
            self._stop.wait(self.every)

    def stop(self) -> dict:
        self._stop.set()
        self._t.join()
        if not self.samples:
            return {}
        rss = np.array([s[2] for s in self.samples]) / 1024
        prog = np.array([s[1] for s in self.samples])
        warm = rss[np.searchsorted(prog, 0.1)] if prog[-1] >= 0.1 else rss[0]
        end = rss[-1]
        return {"peak_rss_mb": round(float(rss.max()), 1), "warm_rss_mb": round(float(warm), 1),
                "end_rss_mb": round(float(end), 1), "growth_mb": round(float(end - warm), 2),
                "max_after_warm_mb": round(float(rss[prog >= 0.1].max() - warm), 2) if (prog >= 0.1).any() else 0.0}


def make_video(path: Path, frames: int, size=(320, 240), fps: float = 30.0) -> None:
    """Moving shapes on a textured background, ``frames`` long (MJPG .avi: fast to write and read)."""
    rng = np.random.default_rng(0)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    bg = rng.integers(60, 200, (size[1], size[0], 3), dtype=np.uint8)
    for i in range(frames):
        f = bg.copy()
        x = int((i * 3) % (size[0] - 60))
        cv2.circle(f, (x + 30, 80), 25, (20, 20, 230), -1)
        cv2.rectangle(f, (size[0] - x - 60, 140), (size[0] - x - 10, 190), (230, 40, 40), -1)
        w.write(f)
    w.release()


def run_frames(argv: list[str], frames: int) -> dict:
    """Run a verb that prints one JSON line per frame then ``{"summary": ...}``, RSS sampled while
    it runs: frames out, its summary, exit status, stderr lines, wall time and the memory figures."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(proc.pid)
    seen, summary = 0, {}
    for line in proc.stdout:
        obj = json.loads(line)
        if "summary" in obj:
            summary = obj["summary"]
        else:
            seen += 1
            sampler.progress = seen / frames
    err = proc.stderr.read()
    proc.wait()
    mem = sampler.stop()
    return {"frames_out": seen, "summary": summary, "exit": proc.returncode, "stderr_lines": len(err.splitlines()),
            "wall_s": round(time.monotonic() - t0, 1), **mem}


def soak_detect(model: str, frames: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "soak.avi"
        make_video(video, frames)
        run = run_frames([*EDGECNN, "detect", model, str(video), "--every-frame", "--json"], frames)
    summary = run.pop("summary")
    return {"job": "detect video", "input_frames": frames, "frames_out": run.pop("frames_out"),
            "frames": summary.get("frames"), "dropped": summary.get("dropped"), **run}


def make_face_video(path: Path, frames: int, face_png: Path, size=(320, 240), fps: float = 30.0) -> None:
    """A face image moving across a plain background, ``frames`` long (MJPG .avi)."""
    face = cv2.resize(cv2.imread(str(face_png)), (120, 120))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        f = np.full((size[1], size[0], 3), 90, np.uint8)
        x = 20 + (i * 2) % (size[0] - 160)
        f[60:180, x:x + 120] = face
        w.write(f)
    w.release()


def soak_face(model: str, frames: int) -> dict:
    """N frames through `edgecnn face identify MODEL --gallery G video --json` (the face loop)."""
    faces = ROOT / "tests" / "fixtures" / "faces"
    with tempfile.TemporaryDirectory() as tmp:
        video, gallery = Path(tmp) / "faces.avi", Path(tmp) / "g.npz"
        make_face_video(video, frames, faces / "person_0" / "0.png")
        subprocess.run([*EDGECNN, "face", "enroll", model, "--gallery", str(gallery), "--name", "p0",
                        str(faces / "person_0" / "0.png")], check=True, capture_output=True)
        run = run_frames([*EDGECNN, "face", "identify", model, "--gallery", str(gallery), str(video), "--json"],
                         frames)
    summary = run.pop("summary")
    return {"job": "face video", "input_frames": frames, "frames_out": run.pop("frames_out"),
            "faces": summary.get("faces"), **run}


def soak_ecg(hours: float) -> dict:
    sample = resolve_signal_path("builtin:ecg-sample")
    rec = read_signal(sample)
    ann = read_annotations(sample)
    beats_per_copy = int(np.isin(ann.symbol, list("NLRBAaJSVrFejnE/fQ")).sum())
    copies = max(1, int(round(hours * 3600 / (len(rec.signal) / rec.fs))))
    text = ("\n".join(f"{v:.3f}" for v in rec.signal) + "\n").encode()
    t0 = time.monotonic()
    proc = subprocess.Popen([*EDGECNN, "ecg", "builtin:ecg", "-", "--stream", "--fs", str(rec.fs), "--json"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sampler = Sampler(proc.pid)
    counts = {"beats": 0, "summary": None}

    def read_out():
        for line in proc.stdout:
            obj = json.loads(line)
            if "summary" in obj:
                counts["summary"] = obj["summary"]
            else:
                counts["beats"] += 1

    reader = threading.Thread(target=read_out, daemon=True)
    reader.start()
    for k in range(copies):
        proc.stdin.write(text)
        sampler.progress = (k + 1) / copies
    proc.stdin.close()
    reader.join()
    err = proc.stderr.read().decode()
    proc.wait()
    mem = sampler.stop()
    return {"job": "ecg stream", "hours": round(copies * len(rec.signal) / rec.fs / 3600, 2),
            "samples": copies * len(rec.signal), "beats_in_input": copies * beats_per_copy,
            "beats_emitted": counts["beats"], "exit": proc.returncode, "stderr_lines": len(err.splitlines()),
            "wall_s": round(time.monotonic() - t0, 1),
            "x_real_time": round(copies * len(rec.signal) / rec.fs / max(time.monotonic() - t0, 1e-9), 1), **mem}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "tests" / "fixtures" / "det_tiny_int8.tflite"),
                    help="detection model for the video run (default: the test fixture)")
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--face-model", default=str(ROOT / "tests" / "fixtures" / "face_tiny_int8.tflite"),
                    help="face model for the face-loop run (default: the test fixture)")
    ap.add_argument("--only", choices=("detect", "face", "ecg"), default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    if args.only in (None, "detect"):
        rows.append(soak_detect(args.model, args.frames))
    if args.only in (None, "face"):
        rows.append(soak_face(args.face_model, args.frames))
    if args.only in (None, "ecg"):
        rows.append(soak_ecg(args.hours))
    for r in rows:
        print(json.dumps(r) if args.json else "  ".join(f"{k}={v}" for k, v in r.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
