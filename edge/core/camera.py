"""The one camera / video loop every task uses: a capture thread that keeps only the newest frame,
reconnection with backoff, per-stage timing (capture, preprocess, invoke, postprocess) and FPS.

``open_source`` opens a camera index or a video file (checked first, with OpenCV's own warning
lines kept off the terminal) and gives a started ``FrameReader``; ``run_loop`` runs a *pipeline*
(anything with ``preprocess(frame_bgr) -> (inputs, info)``, ``infer(inputs) -> raw`` and
``postprocess(raw, info) -> result``) on its frames. Detection and face identification are two
such pipelines.

A *source* is anything with ``read() -> (ok, frame_bgr)`` and ``release()`` (``cv2.VideoCapture``
or a test fake); ``opener()`` makes a new one. Live sources (cameras) are read as fast as they
deliver; a file is paced at its own frame rate (``pace_fps``) so a slow model drops frames
instead of falling behind, exactly as with a camera. ``pace_fps=None`` and ``drop=False`` read a
file frame by frame without dropping (offline annotation).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecnn.edge.core.errors import InputDataError

# FFmpeg (inside OpenCV) prints its own lines ("moov atom not found", "[mpeg4 @ 0x..] Error at MB")
# straight to the terminal; we report unreadable and truncated videos ourselves, in one line. The
# level is read once, when the first capture opens; a user can still set it (e.g. 24 = warnings).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

STAGES = ("capture", "preprocess", "invoke", "postprocess")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
DEFAULT_CAMERA_FPS = 30.0


@dataclass(frozen=True)
class ReaderConfig:
    live: bool = True                 # reconnect when the source fails (a camera); False: end of file
    drop: bool = True                 # keep only the newest frame
    pace_fps: float | None = None     # read a file at this rate (None: as fast as possible)
    backoff: tuple[float, float] = (0.25, 8.0)   # first and longest wait between reconnects (s)
    max_reconnects: int | None = None  # give up after this many failed opens in a row (None: never)


class FrameReader:
    """Background capture: ``get()`` returns the newest frame not yet returned."""

    def __init__(self, opener: Callable[[], object], cfg: ReaderConfig = ReaderConfig(),
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._opener, self.cfg, self._clock, self._sleep = opener, cfg, clock, sleep
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._taken = 0
        self._frame_time = 0.0
        self._eof = False
        self._stop = threading.Event()
        self.dropped = 0
        self.reconnects = 0
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="edgecnn-capture", daemon=True)

    def start(self) -> FrameReader:
        self._thread.start()
        return self

    def _open(self):
        wait = self.cfg.backoff[0]
        failures = 0
        while not self._stop.is_set():
            try:
                source = self._opener()
                if source is not None and getattr(source, "isOpened", lambda: True)():
                    return source
                self.errors.append("source did not open")
            except Exception as exc:  # an opener may raise anything (driver errors)
                self.errors.append(f"{type(exc).__name__}: {exc}")
            failures += 1
            if not self.cfg.live or (self.cfg.max_reconnects is not None and failures > self.cfg.max_reconnects):
                return None
            self._stop.wait(wait)
            wait = min(wait * 2, self.cfg.backoff[1])
        return None

    def _run(self) -> None:
        source, first = None, True
        next_t = self._clock()
        while not self._stop.is_set():
            if source is None:
                source = self._open()
                if source is None:
                    break
                self.reconnects += 0 if first else 1
                first = False
            ok, frame = source.read()
            if not ok or frame is None:
                _release(source)
                source = None
                if not self.cfg.live:
                    break
                continue
            if self.cfg.pace_fps:
                next_t += 1.0 / self.cfg.pace_fps
                delay = next_t - self._clock()
                if delay > 0:
                    self._sleep(delay)
            self._put(frame)
        _release(source)
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _put(self, frame) -> None:
        with self._cond:
            if not self.cfg.drop:
                while self._taken < self._seq and not self._stop.is_set():
                    self._cond.wait(0.05)
            if self._taken < self._seq:
                self.dropped += 1
            self._frame, self._frame_time = frame, self._clock()
            self._seq += 1
            self._cond.notify_all()

    def get(self, timeout: float = 5.0) -> tuple[np.ndarray, int, float] | None:
        """``(frame, sequence number, capture time)``; None at the end of a file or on timeout."""
        deadline = self._clock() + timeout
        with self._cond:
            while self._taken >= self._seq:
                if self._eof:
                    return None
                left = deadline - self._clock()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.05))
            self._taken = self._seq
            self._cond.notify_all()
            return self._frame, self._seq, self._frame_time

    @property
    def frames_read(self) -> int:
        """Frames read from the source so far (processed or dropped)."""
        with self._cond:
            return self._seq

    @property
    def finished(self) -> bool:
        """True once the source has ended (end of file, or reconnecting was given up)."""
        with self._cond:
            return self._eof and self._taken >= self._seq

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)


def _release(source) -> None:
    if source is not None and hasattr(source, "release"):
        source.release()


@dataclass
class LoopStats:
    frames: int = 0
    dropped: int = 0
    reconnects: int = 0
    seconds: float = 0.0
    stage_seconds: dict = field(default_factory=lambda: {s: 0.0 for s in STAGES})

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def stage_ms(self) -> dict:
        n = max(self.frames, 1)
        return {s: 1000.0 * v / n for s, v in self.stage_seconds.items()}

    def as_dict(self) -> dict:
        return {"frames": self.frames, "dropped": self.dropped, "reconnects": self.reconnects,
                "fps": round(self.fps, 2), "stage_ms": {k: round(v, 3) for k, v in self.stage_ms().items()}}


def is_video(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


_OPENCV_LOG = (re.compile(r"^\[ ?(WARN|ERROR|INFO)(:\d+)?(@[\d.]+)?\]"),)


def quiet_capture(source):
    """cv2.VideoCapture without OpenCV's own warning lines (we report a failed open ourselves):
    its log level where the build exposes it (cv2.utils.logging), else those lines filtered."""
    import cv2

    from edgecnn.edge.core.native_log import filtered_native_output

    log = getattr(getattr(cv2, "utils", None), "logging", None)
    if log is None:
        with filtered_native_output(_OPENCV_LOG):
            return cv2.VideoCapture(source)
    level = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        return cv2.VideoCapture(source)
    finally:
        log.setLogLevel(level)


@dataclass(frozen=True)
class Source:
    """An opened frame source: the started reader, the source's frame rate and a label for messages."""

    reader: FrameReader
    fps: float
    label: str  # "camera:N" or the file path
    declared_frames: int | None = None  # a file's frame count from its header

    def warnings(self) -> list[str]:
        """After the loop: what went wrong with the source that the frames cannot show."""
        out = []
        read = self.reader.frames_read
        if self.declared_frames and self.reader.finished and read < self.declared_frames - 1:
            out.append(f"{self.label}: the video ended after {read} of the {self.declared_frames} frames its "
                       "header declares (truncated or damaged file)")
        if self.reader.errors and self.declared_frames is None:
            out.append(f"{self.label}: {len(self.reader.errors)} failed (re)connection attempt(s); "
                       f"last: {self.reader.errors[-1]}")
        return out


def open_source(*, camera: int | None = None, path=None, every_frame: bool = False,
                max_reconnects: int | None = None) -> Source:
    """A started ``FrameReader`` on camera ``camera`` or the video file ``path`` (exactly one).

    A camera is live: frames are dropped when the pipeline is slower, and a lost camera is
    reconnected with backoff. A file is paced at its own frame rate and drops frames the same way,
    unless ``every_frame`` (then every frame is processed, as fast as the pipeline goes). A camera
    or file that cannot be opened raises InputDataError naming it, before any thread starts.
    """
    import cv2

    if (camera is None) == (path is None):
        raise ValueError("open_source: give exactly one of camera or path")
    if camera is not None:
        if isinstance(camera, bool) or not isinstance(camera, int) or camera < 0:
            raise ValueError(f"camera must be a camera index >= 0, got {camera!r}")
        probe = quiet_capture(camera)
        if not probe.isOpened():
            raise InputDataError(f"camera {camera}: cannot open it (no such device, no permission, or busy)")
        probe.release()
        cfg = ReaderConfig(live=True, max_reconnects=max_reconnects)
        return Source(FrameReader(lambda: cv2.VideoCapture(camera), cfg).start(), DEFAULT_CAMERA_FPS,
                      f"camera:{camera}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no such video file", str(path))
    probe = quiet_capture(str(path))
    if not probe.isOpened():
        raise InputDataError(f"{path}: cannot open video (unsupported codec or corrupt file)")
    fps = probe.get(cv2.CAP_PROP_FPS)
    fps = float(fps) if np.isfinite(fps) and 0 < fps <= 1000 else DEFAULT_CAMERA_FPS
    count = probe.get(cv2.CAP_PROP_FRAME_COUNT)
    declared = int(count) if np.isfinite(count) and 0 < count < 1e9 else None
    probe.release()
    cfg = ReaderConfig(live=False, drop=not every_frame, pace_fps=None if every_frame else fps)
    return Source(FrameReader(lambda: cv2.VideoCapture(str(path)), cfg).start(), fps, str(path), declared)


def run_loop(reader: FrameReader, pipeline, on_frame: Callable, *, max_frames: int | None = None,
             timeout: float = 5.0, clock: Callable[[], float] = time.perf_counter) -> LoopStats:
    """Run ``pipeline`` on frames from ``reader`` until it ends, ``max_frames`` or ``on_frame``
    returns False.

    ``pipeline`` has ``preprocess(frame_bgr) -> (inputs, info)``, ``infer(inputs) -> raw`` and
    ``postprocess(raw, info) -> result``. ``on_frame(seq, frame_bgr, result, timings_s)`` is called
    once per processed frame; ``timings_s`` holds this frame's seconds per stage. While a live
    source is away the loop waits for the reader to reconnect.
    """
    stats = LoopStats()
    start = clock()
    while max_frames is None or stats.frames < max_frames:
        t0 = clock()
        got = reader.get(timeout)
        if got is None:
            if reader.finished:
                break
            continue  # a live camera is reconnecting: keep waiting
        frame, seq, _ = got
        t1 = clock()
        inputs, info = pipeline.preprocess(frame)
        t2 = clock()
        raw = pipeline.infer(inputs)
        t3 = clock()
        result = pipeline.postprocess(raw, info)
        t4 = clock()
        timings = dict(zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=False))
        for k, v in timings.items():
            stats.stage_seconds[k] += v
        stats.frames += 1
        if on_frame(seq, frame, result, timings) is False:
            break
    stats.seconds = clock() - start
    stats.dropped, stats.reconnects = reader.dropped, reader.reconnects
    return stats
