"""``edgecnn ecg MODEL RECORD|CSV|-``: classify every heartbeat of one ECG lead.

Batch: a WFDB record (``dir/100``; fs from its header), a CSV/text or .npy file (``--fs``).
``--stream``: text samples (one per line, or CSV rows with ``--lead`` naming/indexing the
column) from stdin (``-``) or a growing file, fed in chunks of ``--chunk`` samples; each beat
is printed once classified (JSON lines with ``--json``), then a summary line.

Signal quality (``edge/ecg/quality.py``, off with ``--no-quality``): beats in unreadable stretches
are printed as class Q with ``"unreadable": true`` and a ``"reason"``; the summary's ``quality``
block gives the usable time and the stretches. A stream also prints each stretch when it ends
(``{"stretch": {"start_s", "end_s", "reason"}}`` with ``--json``; beat lines have ``"sample"``).
"""

from __future__ import annotations

import math
import sys
import time

from edgecnn.edge.core.errors import InputDataError


def register(sub) -> None:
    p = sub.add_parser("ecg", help="classify heartbeats of an ECG record or stream (AAMI N, S, V, F, Q)")
    p.add_argument("model", help="ECG model: .tflite, .keras or builtin:ecg (shipped, trained on MIT-BIH DS1)")
    p.add_argument("record", help="WFDB record (dir/NAME), .csv/.txt/.npy file, - for stdin (--stream), or "
                                  "builtin:ecg-sample (a shipped MIT-BIH excerpt, edge/samples/README.md)")
    p.add_argument("--fs", type=float, default=None, help="sampling rate in Hz (CSV/npy/stream; WFDB: from header)")
    p.add_argument("--lead", default=None, help="lead name or column index (default: the first)")
    p.add_argument("--json", action="store_true", help="one JSON object (batch) or JSON lines (stream)")
    p.add_argument("--stream", action="store_true", help="read text samples incrementally, emit beats as classified")
    p.add_argument("--chunk", type=int, default=None, help="samples per processing step in --stream (default fs/4)")
    p.add_argument("--idle-timeout", type=float, default=2.0,
                   help="--stream from a file: stop after this many seconds without new data (default 2)")
    p.add_argument("--threads", type=int, default=None, help="interpreter threads")
    p.add_argument("--no-quality", dest="quality", action="store_false",
                   help="do not assess signal quality (by default beats in flat, saturated, noisy, mains or "
                        "motion stretches are reported as unreadable Q)")
    p.add_argument("--units", default=None,
                   help="signal units for the quality thresholds: mV, uV or V (default: the WFDB header's, else mV)")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="batch: also draw an ECG strip with the beat labels (model above; the reference below "
                        "when a WFDB record has an .atr)")
    p.add_argument("--plot-seconds", type=float, default=10.0, help="length of the --plot strip (default 10 s)")
    p.add_argument("--plot-start", type=float, default=None,
                   help="start of the --plot strip in s (default: a little before the first S/V/F beat)")
    p.set_defaults(func=run)


def run(args) -> int:
    from edgecnn.edge.core.loader import open_model

    if args.stream and getattr(args, "plot", None):
        raise InputDataError("--plot draws a classified record: it needs batch mode (no --stream)")
    model = open_model(args.model, num_threads=args.threads, task="ecg")
    if args.stream:
        return _run_stream(model, args)
    return _run_batch(model, args)


def _run_batch(model, args) -> int:
    from edgecnn.edge.core.cliutil import emit_json
    from edgecnn.edge.ecg.io import read_signal
    from edgecnn.edge.ecg.quality import units_per_mv
    from edgecnn.edge.ecg.runtime import classify, summarize

    if args.record == "-":
        raise InputDataError("reading stdin needs --stream (and --fs)")
    rec = read_signal(args.record, args.fs, args.lead)
    t0 = time.perf_counter()
    result = classify(model, rec.signal, rec.fs, quality=quality_arg(args, rec.units))
    wall = time.perf_counter() - t0
    summary = summarize(result, len(rec.signal) / rec.fs)
    summary["wall_s"] = round(wall, 3)
    if "quality" in summary and getattr(args, "units", None) is None and rec.units and units_per_mv(rec.units) is None:
        summary["warnings"].append(f"signal units {rec.units!r} are not mV, uV or V: the quality thresholds "
                                   "assumed mV (--units)")
    if getattr(args, "plot", None):
        summary["plot"] = str(plot_strip(args.plot, args.record, rec, result, model,
                                         args.plot_seconds, args.plot_start))
    if args.json:
        emit_json({"record": str(args.record), "lead": rec.lead, "fs": rec.fs, "beats": result.rows(), "summary": summary})
        return 0
    print(f"{args.record}: lead {rec.lead}, {rec.fs:g} Hz, {len(rec.signal) / rec.fs:.1f} s")
    print(f"{'time_s':>10}  class  confidence")
    for row in result.rows():
        print(_beat_line(row))
    _print_summary(summary)
    if summary.get("plot"):
        print(f"strip: {summary['plot']}")
    return 0


def plot_strip(path, source, rec, result, model, seconds: float = 10.0, start_s=None):
    """Write the ECG strip PNG of a classified record (reference labels from its .atr, if any)."""
    import numpy as np

    from edgecnn.edge.ecg.io import read_annotations, resolve_signal_path
    from edgecnn.edge.ecg.report import strip_png
    from edgecnn.edge.ecg.runtime import model_params

    if seconds <= 0:
        raise InputDataError(f"--plot-seconds must be positive, got {seconds}")
    samples, symbols = np.zeros(0, np.int64), np.zeros(0, "<U1")
    base = resolve_signal_path(source)
    atr = base.with_suffix(".atr") if base.suffix in ("", ".hea", ".dat") else None
    if atr is not None and atr.is_file():
        ann = read_annotations(atr)
        samples, symbols = ann.sample, ann.symbol
    return strip_png(path, rec.signal, rec.fs, result, samples, symbols, model_params(model), seconds, start_s)


def quality_arg(args, record_units: str | None = None):
    """The ``quality`` argument of classify / StreamingClassifier from ``--no-quality`` / ``--units``."""
    from edgecnn.edge.ecg.quality import QualityConfig, units_per_mv

    if not getattr(args, "quality", True):
        return False
    given = getattr(args, "units", None)
    if given is not None:
        scale = units_per_mv(given)
        if scale is None:
            raise InputDataError(f"--units: expected mV, uV or V, got {given!r}")
    else:  # a CSV / .npy / stream has no units: mV; so has a header whose units are not a voltage
        scale = units_per_mv(record_units) or 1.0
    return QualityConfig(units_per_mv=scale)


def _beat_line(row: dict) -> str:
    line = f"{row['time_s']:>10.3f}  {row['class']:^5}  {row['confidence']:.3f}"
    return line + f"  unreadable ({row['reason']})" if row.get("unreadable") else line


def _stretch_line(st: dict) -> str:
    return f"unreadable {st['start_s']:.3f}-{st['end_s']:.3f} s ({st['reason']})"


def _print_summary(s: dict) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in s["counts"].items())
    print(f"beats {s['beats']}, heart rate {s['heart_rate_bpm']} bpm, ectopic {s['ectopic_per_min']}/min ({counts})")
    q = s.get("quality")
    if q is not None:
        print(f"usable {q['usable_s']:.1f} s of {s['duration_s']:.1f} s ({100 * q['usable_fraction']:.1f} %), "
              f"{q['unreadable_beats']} unreadable beat(s)")
        for st in q["stretches"]:
            print("  " + _stretch_line(st))
    for w in s.get("warnings", []):
        print(f"warning: {w}", file=sys.stderr)


def _run_stream(model, args) -> int:
    from edgecnn.edge.core.cliutil import emit_json
    from edgecnn.edge.ecg.runtime import StreamingClassifier

    if args.fs is None:
        raise InputDataError("--stream needs the sampling rate: pass --fs HZ")
    clf = StreamingClassifier(model, args.fs, quality=quality_arg(args))
    chunk = args.chunk or max(1, int(clf.fs / 4))
    if chunk < 1:
        raise InputDataError(f"--chunk must be a positive number of samples, got {args.chunk}")
    if not (math.isfinite(args.idle_timeout) and args.idle_timeout >= 0):
        raise InputDataError(f"--idle-timeout must be a finite number of seconds >= 0, got {args.idle_timeout}")
    parser = _LineParser(args.lead)
    window_s = clf.quality.window / clf.fs if clf.quality is not None else None
    tally = StreamTally(clf.params.labels, quality_window_s=window_s)

    def emit(result):
        for row in result.rows():
            tally.add(row["class"], row["time_s"], not row.get("unreadable", False))
            if args.json:
                emit_json(row)
            else:
                print(_beat_line(row), flush=True)
        for st in result.stretches:
            tally.add_stretch(st)
            if args.json:
                emit_json({"stretch": st.to_dict()})
            else:
                print(_stretch_line(st.to_dict()), flush=True)

    pending: list[float] = []
    for line in _lines(args.record, args.idle_timeout):
        value = parser.parse(line)
        if value is None:
            continue
        pending.append(value)
        if len(pending) >= chunk:
            emit(clf.push(pending))
            pending = []
    if pending:
        emit(clf.push(pending))
    emit(clf.flush())
    summary = tally.summary(clf.detector.n_samples / clf.fs)
    if args.json:
        emit_json({"summary": summary})
    else:
        _print_summary(summary)
    return 0


class StreamTally:
    """The stream's summary in constant memory, however long it runs: counts per class and a
    histogram of RR intervals (0.1 ms bins up to 6 s; the median is read from it), not a list of
    every beat (a 24-hour stream has ~100,000 beats). With signal quality (``quality_window_s``),
    the unreadable beats and stretches (one entry per stretch, kept for the summary)."""

    BIN_S, MAX_RR_S = 1e-4, 6.0

    def __init__(self, labels, quality_window_s: float | None = None):
        import numpy as np

        self.labels = tuple(labels)
        self.counts = dict.fromkeys(self.labels, 0)
        self.rr_hist = np.zeros(int(self.MAX_RR_S / self.BIN_S) + 1, np.int64)
        self.beats, self.last_t = 0, None
        self.quality_window_s = quality_window_s
        self.unreadable_beats = 0
        self.stretches: list = []

    def add(self, label: str, time_s: float, readable: bool = True) -> None:
        """One beat; RR intervals count between two readable beats (as :func:`summarize` does)."""
        self.beats += 1
        self.counts[label] = self.counts.get(label, 0) + 1
        if not readable:
            self.unreadable_beats += 1
            self.last_t = None
            return
        if self.last_t is not None:
            rr = min(max(time_s - self.last_t, 0.0), self.MAX_RR_S)
            self.rr_hist[int(round(rr / self.BIN_S))] += 1
        self.last_t = time_s

    def add_stretch(self, stretch) -> None:
        self.stretches.append(stretch)

    def median_rr(self) -> float | None:
        import numpy as np

        n = int(self.rr_hist.sum())
        if n == 0:
            return None
        cum = np.cumsum(self.rr_hist)
        lo = int(np.searchsorted(cum, (n - 1) // 2 + 1))   # the two middle order statistics
        hi = int(np.searchsorted(cum, n // 2 + 1))
        return 0.5 * (lo + hi) * self.BIN_S

    def summary(self, duration_s: float) -> dict:
        from edgecnn.edge.ecg.quality import summary as quality_summary
        from edgecnn.edge.ecg.runtime import summary_from

        quality = None
        if self.quality_window_s is not None:
            quality = quality_summary(self.stretches, duration_s, self.unreadable_beats, self.quality_window_s)
        return summary_from(self.counts, self.beats, self.median_rr(), duration_s, quality)


class _LineParser:
    """Text sample lines: a number, or CSV rows (optional header row naming the columns)."""

    def __init__(self, lead):
        self.lead, self.col, self.lineno = lead, None, 0

    def parse(self, line: str):
        self.lineno += 1
        text = line.strip()
        if not text or text.startswith("#"):
            return None
        cells = [c.strip() for c in text.replace(";", ",").split(",")]
        if self.col is None:
            if not _is_number(cells[0]):  # header row
                self.col = self._header_column(cells)
                return None
            self.col = self._index_column()
        if self.col >= len(cells):
            raise InputDataError(f"stream line {self.lineno}: no column {self.col} in {text!r}")
        try:
            return float(cells[self.col])
        except ValueError:
            raise InputDataError(f"stream line {self.lineno}: not a number: {cells[self.col]!r}") from None

    def _header_column(self, names) -> int:
        if self.lead is None:
            return 0
        if str(self.lead) in names:
            return names.index(str(self.lead))
        if str(self.lead).isdigit():
            return int(self.lead)
        raise InputDataError(f"stream: no column named {self.lead!r}; columns: {names}")

    def _index_column(self) -> int:
        if self.lead is None:
            return 0
        if str(self.lead).isdigit():
            return int(self.lead)
        raise InputDataError(f"stream: --lead {self.lead!r} names a column but the stream has no header row")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _lines(source: str, idle_timeout: float):
    """Lines of stdin (``-``) or of a file that may still be growing (stop after ``idle_timeout`` idle)."""
    if source == "-":
        yield from sys.stdin
        return
    try:
        handle = open(source, encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError as exc:
        raise InputDataError(f"{source}: cannot open ({exc.strerror or exc})") from None
    with handle:
        partial, idle_since = "", None
        while True:
            line = handle.readline()
            if line:
                idle_since = None
                partial += line
                if partial.endswith("\n"):
                    yield partial
                    partial = ""
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= idle_timeout:
                break
            time.sleep(0.05)
        if partial:
            yield partial
