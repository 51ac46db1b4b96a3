"""The capture loop with fake sources: newest-frame dropping, reconnects, end of file, stage timings."""

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgecnn.edge.core.camera import STAGES, FrameReader, ReaderConfig, run_loop
from edgecnn.edge.detect.runtime import Detections

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "det_tiny_int8.tflite"


class FakeSource:
    """Delivers ``n`` numbered frames, then fails (a camera unplugged) or ends (a file)."""

    def __init__(self, n, start=0, delay=0.0):
        self.i, self.n, self.start, self.delay = 0, n, start, delay
        self.released = False

    def read(self):
        if self.i >= self.n:
            return False, None
        time.sleep(self.delay)
        frame = np.full((24, 32, 3), (self.start + self.i) % 256, np.uint8)
        self.i += 1
        return True, frame

    def release(self):
        self.released = True


class SlowDetector:
    """Stands in for Detector: records the frames it saw, takes ``delay`` seconds to 'infer'."""

    def __init__(self, delay):
        self.delay, self.seen = delay, []

    def preprocess(self, rgb):
        self.seen.append(int(rgb[0, 0, 0]))
        return {"image": rgb}, None

    def infer(self, inputs):
        time.sleep(self.delay)
        return {}

    def postprocess(self, raw, info):
        return Detections.empty()


class TestFrameReader:
    def test_file_every_frame_no_drop(self):
        reader = FrameReader(lambda: FakeSource(20), ReaderConfig(live=False, drop=False)).start()
        det = SlowDetector(0.0)
        stats = run_loop(reader, det, lambda *a: True)
        reader.stop()
        assert det.seen == list(range(20)) and stats.dropped == 0 and stats.frames == 20

    def test_slow_model_drops_instead_of_lagging(self):
        reader = FrameReader(lambda: FakeSource(60, delay=0.002), ReaderConfig(live=False, drop=True)).start()
        det = SlowDetector(0.02)
        stats = run_loop(reader, det, lambda *a: True)
        reader.stop()
        assert stats.dropped > 20
        assert det.seen == sorted(det.seen) and stats.frames + stats.dropped == 60
        assert det.seen[-1] == 59  # the newest frame, not a stale one

    def test_reconnects_with_backoff(self):
        opened = []

        def opener():
            opened.append(1)
            if len(opened) == 2:
                raise OSError("camera gone")
            return FakeSource(5, start=10 * len(opened))

        reader = FrameReader(opener, ReaderConfig(live=True, drop=False, backoff=(0.05, 0.1))).start()
        det = SlowDetector(0.0)
        stats = run_loop(reader, det, lambda *a: True, max_frames=10, timeout=0.005)  # outlives timeouts
        reader.stop()
        assert stats.frames == 10 and stats.reconnects >= 1
        assert det.seen[:5] == [10, 11, 12, 13, 14] and det.seen[5:] == [30, 31, 32, 33, 34]
        assert any("camera gone" in e for e in reader.errors)

    def test_gives_up_after_max_reconnects(self):
        reader = FrameReader(lambda: None, ReaderConfig(live=True, backoff=(0.001, 0.001), max_reconnects=2)).start()
        assert reader.get(timeout=2.0) is None
        reader.stop()
        assert len(reader.errors) == 3

    def test_stop_does_not_hang(self):
        reader = FrameReader(lambda: FakeSource(10**9, delay=0.001), ReaderConfig(live=True)).start()
        assert reader.get(1.0) is not None
        t = time.monotonic()
        reader.stop()
        assert time.monotonic() - t < 2.0 and not any(th.name == "edgecnn-capture" and th.is_alive()
                                                       for th in threading.enumerate() if th is reader._thread)


class TestLoopWithModel:
    @pytest.mark.skipif(not FIXTURE.is_file(), reason="det fixture missing")
    def test_stage_times_and_callback(self):
        from edgecnn.edge.core.interpreter import load_model
        from edgecnn.edge.detect.runtime import Detector, FramePipeline

        det = Detector(load_model(FIXTURE, num_threads=1))
        reader = FrameReader(lambda: FakeSource(4), ReaderConfig(live=False, drop=False)).start()
        got = []
        stats = run_loop(reader, FramePipeline(det), lambda seq, f, d, t: got.append((seq, len(d), sorted(t))))
        reader.stop()
        assert [g[0] for g in got] == [1, 2, 3, 4]
        assert all(g[2] == sorted(STAGES) for g in got)
        assert stats.as_dict()["fps"] > 0 and stats.stage_ms()["invoke"] > 0

    @pytest.mark.skipif(not FIXTURE.is_file(), reason="det fixture missing")
    def test_frame_pipeline_turns_bgr_frames_to_rgb(self):
        """Camera frames are BGR; the detector wants RGB: the pipeline converts, once."""
        from edgecnn.edge.core.interpreter import load_model
        from edgecnn.edge.detect.runtime import Detector, FramePipeline

        det = Detector(load_model(FIXTURE, num_threads=1))
        rgb = np.zeros((48, 64, 3), np.uint8)
        rgb[..., 0] = 200  # red
        bgr = rgb[..., ::-1].copy()
        via_pipeline, _ = FramePipeline(det).preprocess(bgr)
        direct, _ = det.preprocess(rgb)
        swapped, _ = det.preprocess(bgr)
        name = next(iter(direct))
        np.testing.assert_array_equal(via_pipeline[name], direct[name])
        assert not np.array_equal(swapped[name], direct[name])
