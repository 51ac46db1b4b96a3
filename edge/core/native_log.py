"""Keep the TFLite / TensorFlow runtimes' informational C++ log lines off the user's terminal.

The interpreters write ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` straight to
file descriptor 2 when a model is allocated, and TensorFlow's converter writes absl-format
``I0000 ...`` / ``W0000 ...`` lines and ``fully_quantize: ...`` to descriptors 1 and 2; Python's
``warnings`` and ``logging`` cannot reach them, so every ``--json`` run and every one-line error
would carry them. :func:`filtered_native_output` points the descriptors at a temporary file for
the duration of a call, then writes back every line that is not a known informational one, in
order. Errors (``E0000 ...``, ``ERROR: ...``, anything unrecognised) pass through unchanged; the
dropped lines go to the ``edgecnn.native`` logger at DEBUG level, so nothing is lost for a user
who turns that logger on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence

log = logging.getLogger("edgecnn.native")

#: what the TFLite interpreters (ai-edge-litert, tflite-runtime, tf.lite) print on good input
RUNTIME_INFO: tuple[re.Pattern, ...] = (
    re.compile(r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.\s*$"),
    re.compile(r"^INFO: Initialized TensorFlow Lite runtime\.\s*$"),
)

#: what TensorFlow prints at import and while converting: absl INFO/WARNING lines, the converter's
#: quantization summary, the note about logging before absl is initialised, the oneDNN notice
TENSORFLOW_INFO: tuple[re.Pattern, ...] = RUNTIME_INFO + (
    re.compile(r"^[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.\-/]+:\d+\] "),
    re.compile(r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.\s*$"),
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\s*$"),
    re.compile(r"^fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, "
               r"output_inference_type: \w+\s*$"),
)


def _flush_all() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):  # C stdio buffers (printf in the native libraries)
        import ctypes

        ctypes.CDLL(None).fflush(None)


def _write_back(fd: int, data: bytes, patterns: Sequence[re.Pattern]) -> None:
    kept = []
    for raw in data.splitlines(keepends=True):
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if any(p.search(line) for p in patterns):
            log.debug("%s", line)
        else:
            kept.append(raw)
    out = b"".join(kept)
    while out:
        try:
            n = os.write(fd, out)
        except OSError:  # the terminal or pipe went away: nothing more to show
            return
        out = out[n:]


@contextlib.contextmanager
def filtered_native_output(patterns: Sequence[re.Pattern] = RUNTIME_INFO,
                           fds: Sequence[int] = (2,)) -> Iterator[None]:
    """Within the block, lines written to ``fds`` that match ``patterns`` are dropped (to the
    ``edgecnn.native`` debug log); all other output is written back when the block ends, also when
    it raises. Where a descriptor cannot be redirected, the block runs unfiltered."""
    _flush_all()
    saved: list[tuple[int, int, object]] = []
    try:
        for fd in fds:
            tmp = tempfile.TemporaryFile()
            try:
                orig = os.dup(fd)
            except OSError:
                tmp.close()
                continue
            os.dup2(tmp.fileno(), fd)
            saved.append((fd, orig, tmp))
    except OSError:
        pass
    try:
        yield
    finally:
        _flush_all()
        for fd, orig, tmp in reversed(saved):
            os.dup2(orig, fd)
            os.close(orig)
            try:
                tmp.seek(0)
                data = tmp.read()
            finally:
                tmp.close()
            _write_back(fd, data, patterns)
