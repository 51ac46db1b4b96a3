"""``edgecnn detect MODEL IMAGE|DIR|VIDEO|--camera N [--out FILE] [--json] [--conf] [--iou] [--threads N]``.

Images: boxes drawn into ``--out`` (a file for one image, a folder for a folder). Video and
camera: the capture loop of ``edge/core/camera.py``; ``--out`` writes the annotated video. ``--json``
prints one JSON object per frame (JSON lines) and a last ``{"summary": ...}`` line with FPS and
per-stage milliseconds; text mode prints the same to the terminal.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

VIDEO_OUT_SUFFIXES = (".mp4", ".avi")
IMAGE_OUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def register(sub) -> None:
    p = sub.add_parser("detect", help="detect objects in images, a video or a camera stream")
    p.add_argument("model", help="a detection .tflite (or .keras)")
    p.add_argument("source", nargs="?", default=None, help="an image, a folder of images or a video file")
    p.add_argument("--camera", type=int, default=None, metavar="N", help="read camera N instead of a file")
    p.add_argument("--out", default=None, help="annotated image (folder for a folder) or video to write")
    p.add_argument("--json", action="store_true", help="JSON lines: one object per frame, then a summary")
    p.add_argument("--conf", type=float, default=None, help="score threshold (default: the model's)")
    p.add_argument("--iou", type=float, default=None, help="NMS IoU threshold (default: the model's)")
    p.add_argument("--max-det", type=int, default=None, help="most detections per frame")
    p.add_argument("--threads", type=int, default=None, help="interpreter threads")
    p.add_argument("--device", default=None, help="Edge TPU device (usb, usb:N, pci:N)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many processed frames")
    p.add_argument("--every-frame", action="store_true", help="video files: process every frame (no dropping)")
    p.set_defaults(func=run)


def _detector(args):
    from edgecnn.edge.core.loader import open_model
    from edgecnn.edge.detect.runtime import Detector

    model = open_model(args.model, num_threads=args.threads, device=args.device, task="detect")
    for w in getattr(model, "warnings", []):
        print(f"edgecnn: warning: {w}", file=sys.stderr)
    return Detector(model).with_config(conf=args.conf, iou=args.iou, max_det=args.max_det)


def run(args) -> int:
    from edgecnn.edge.core.camera import is_video
    from edgecnn.edge.core.image import IMAGE_SUFFIXES

    if (args.source is None) == (args.camera is None):
        raise ValueError("detect: give exactly one of SOURCE (image, folder, video) or --camera N")
    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max-frames must be >= 1, got {args.max_frames}")
    src = None if args.source is None else Path(args.source)
    if src is not None and not src.exists():
        raise FileNotFoundError(2, "no such file or folder", str(src))
    if args.camera is not None and args.camera < 0:
        raise ValueError(f"--camera must be a camera index >= 0, got {args.camera}")
    video = args.camera is not None or (src is not None and is_video(src))
    if args.out and not (src is not None and src.is_dir()):
        allowed = VIDEO_OUT_SUFFIXES if video else IMAGE_OUT_SUFFIXES
        if Path(args.out).suffix.lower() not in allowed:
            raise ValueError(f"--out {args.out}: expected a file ending in {', '.join(allowed)}, "
                             f"got {Path(args.out).suffix or 'no extension'!r}")
    images = sorted(p for p in src.iterdir() if _is_image(p)) if src is not None and src.is_dir() else None
    if images == []:
        raise ValueError(f"{src}: no images in this folder (looked for {', '.join(IMAGE_SUFFIXES)})")
    detector = _detector(args)
    if args.camera is not None:
        return _run_stream(detector, args, camera=args.camera)
    if images is not None:
        return _run_images(detector, args, images, folder=True)
    if video:
        return _run_stream(detector, args, path=src)
    return _run_images(detector, args, [src], folder=False)


def _is_image(p: Path) -> bool:
    from edgecnn.edge.core.image import IMAGE_SUFFIXES

    return p.suffix.lower() in IMAGE_SUFFIXES


def _emit(args, obj: dict, text: str) -> None:
    from edgecnn.edge.core.cliutil import emit_json

    if args.json:
        emit_json(obj)
    else:
        print(text, flush=True)


def _describe(dets) -> str:
    return ", ".join(f"{n} {s:.2f}" for n, s in zip(dets.label_names(), dets.scores, strict=False)) or "nothing"


def _run_images(detector, args, paths, folder: bool) -> int:
    import cv2

    from edgecnn.edge.core.image import load_image
    from edgecnn.edge.core.plots import save_png
    from edgecnn.edge.detect.runtime import draw_detections

    if folder and args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(paths):
        img = load_image(p)
        t0 = time.perf_counter()
        dets = detector(img)
        ms = 1000 * (time.perf_counter() - t0)
        if args.out:
            target = Path(args.out) / (p.stem + ".png") if folder else Path(args.out)
            drawn = draw_detections(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), dets)
            if target.suffix.lower() == ".png":
                save_png(target, drawn)
            else:
                from edgecnn.edge.core.fileio import atomic_write_bytes

                ok, enc = cv2.imencode(target.suffix.lower() or ".jpg", drawn)
                if not ok:
                    raise ValueError(f"--out {target}: unsupported image type {target.suffix!r}")
                atomic_write_bytes(target, enc.tobytes())
        _emit(args, {"source": str(p), "frame": i, "ms": round(ms, 2), "detections": dets.to_list()},
              f"{p}: {_describe(dets)} ({ms:.1f} ms)")
    return 0


def _run_stream(detector, args, *, camera: int | None = None, path: Path | None = None) -> int:
    from edgecnn.edge.core.camera import open_source, run_loop
    from edgecnn.edge.detect.runtime import FramePipeline, draw_detections

    source = open_source(camera=camera, path=path, every_frame=args.every_frame)
    writer = _VideoOut(args.out, source.fps) if args.out else None

    def on_frame(seq, frame, dets, timings):
        if writer is not None:
            writer.write(draw_detections(frame, dets))
        ms = {k: round(1000 * v, 2) for k, v in timings.items()}
        _emit(args, {"source": source.label, "frame": seq, "stage_ms": ms,
                     "detections": dets.to_list()}, f"frame {seq}: {_describe(dets)}")

    try:
        stats = run_loop(source.reader, FramePipeline(detector), on_frame, max_frames=args.max_frames)
    finally:
        source.reader.stop()
        if writer is not None:
            writer.close()
    summary = stats.as_dict()
    for warning in source.warnings():
        print(f"edgecnn: warning: {warning}", file=sys.stderr)
    _emit(args, {"summary": summary},
          f"{summary['frames']} frames, {summary['fps']} FPS, dropped {summary['dropped']}, "
          f"reconnects {summary['reconnects']}, ms per stage {summary['stage_ms']}")
    return 0


class _VideoOut:
    """cv2.VideoWriter into a temporary file beside ``path``, renamed into place on close."""

    def __init__(self, path, fps: float):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix or '.mp4'}")
        self.fps = fps
        self._w = None

    def write(self, frame) -> None:
        import cv2

        if self._w is None:
            fourcc = cv2.VideoWriter_fourcc(*("MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"))
            self._w = cv2.VideoWriter(str(self.tmp), fourcc, self.fps, (frame.shape[1], frame.shape[0]))
            if not self._w.isOpened():
                raise ValueError(f"--out {self.path}: cannot write video of this type")
        self._w.write(frame)

    def close(self) -> None:
        if self._w is not None:
            self._w.release()
            os.replace(self.tmp, self.path)
