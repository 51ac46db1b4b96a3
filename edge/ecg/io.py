"""ECG records on the device, NumPy only: WFDB header/.dat (formats 212, 16, 80) and MIT
annotation (.atr) readers, CSV / .npy signals, and the AAMI beat-class map (the one place it lives).

The WFDB readers follow the PhysioNet WFDB format documentation; the workstation's training code
may use the ``wfdb`` package, the device has only these.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.ecg.signal import check_fs

AAMI_CLASSES = ("N", "S", "V", "F", "Q")
AAMI_MAP = {
    **dict.fromkeys("NLRej", "N"),
    **dict.fromkeys("AaJS", "S"),
    **dict.fromkeys("VE", "V"),
    "F": "F",
    **dict.fromkeys("/fQ", "Q"),
}
# Every beat annotation (the reference for R-peak detection), AAMI-mapped or not.
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")
# MIT annotation codes -> symbols (WFDB ecgcodes.h).
_CODES = dict(enumerate(" NLRaVFJASEj/Q~", 0))
_CODES.update({16: "|", 18: "s", 19: "T", 20: "*", 21: "D", 22: '"', 23: "=", 24: "p", 25: "B",
               26: "^", 27: "t", 28: "+", 29: "u", 30: "?", 31: "!", 32: "[", 33: "]", 34: "e",
               35: "n", 36: "@", 37: "x", 38: "f", 39: "(", 40: ")", 41: "r"})
_SKIP, _NUM, _SUB, _CHN, _AUX = 59, 60, 61, 62, 63
_BYTES_PER_SAMPLE = {16: 2.0, 80: 1.0, 212: 1.5}
MAX_SIGNAL_FILE_BYTES = 4 << 30   # 4 GiB: 2 leads of 24 h at 10 kHz in format 16


def aami_class(symbol: str) -> str | None:
    """AAMI class (N, S, V, F, Q) of a beat symbol; None for non-beat / unmapped symbols."""
    return AAMI_MAP.get(symbol)


def aami_index(symbols) -> np.ndarray:
    """Class ids (index into AAMI_CLASSES) per symbol, -1 where the symbol has no AAMI class."""
    lut = {s: AAMI_CLASSES.index(c) for s, c in AAMI_MAP.items()}
    return np.array([lut.get(s, -1) for s in symbols], np.int64)


@dataclass(frozen=True)
class Record:
    """One ECG lead in physical units (usually mV) at ``fs`` Hz."""

    signal: np.ndarray
    fs: float
    lead: str
    name: str
    units: str = "mV"
    leads: tuple[str, ...] = field(default_factory=tuple)
    lead_reason: str = ""  # why this lead: asked for, the lead table's match, the only signal (see choose_lead)


@dataclass(frozen=True)
class Annotations:
    """Annotations of a record: sample indices and symbols (parallel)."""

    sample: np.ndarray
    symbol: np.ndarray


@dataclass(frozen=True)
class _SignalSpec:
    file: str
    fmt: int
    gain: float
    baseline: int
    units: str
    desc: str
    offset: int


def _record_base(path) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".hea", ".dat", ".atr") else p


def _parse_header(hea: Path) -> tuple[float, int, list[_SignalSpec]]:
    try:
        lines = [ln.split("#")[0].strip() for ln in hea.read_text(errors="replace").splitlines()]
    except OSError as exc:
        raise InputDataError(f"{hea}: cannot read the WFDB header ({exc.strerror or exc})") from None
    lines = [ln for ln in lines if ln]
    try:
        head = lines[0].split()
        nsig = int(head[1])
        fs = float(head[2].split("/")[0].split("(")[0]) if len(head) > 2 else 250.0
        nsamp = int(head[3]) if len(head) > 3 else -1
        specs = [_parse_signal_line(ln) for ln in lines[1 : 1 + nsig]]
    except (IndexError, ValueError) as exc:
        raise InputDataError(f"{hea}: not a valid WFDB header ({exc})") from None
    if "/" in head[0]:
        raise InputDataError(f"{hea}: multi-segment WFDB records are not supported")
    if len(specs) != nsig or nsig < 1:
        raise InputDataError(f"{hea}: header announces {nsig} signals, found {len(specs)} signal lines")
    return fs, nsamp, specs


def _parse_signal_line(line: str) -> _SignalSpec:
    tok = line.split()
    fmt_tok = tok[1]
    offset = int(fmt_tok.split("+")[1]) if "+" in fmt_tok else 0
    fmt = int(fmt_tok.split("+")[0].split(":")[0].split("x")[0])
    gain, baseline, units = 200.0, None, "mV"
    if len(tok) > 2:
        g = tok[2]
        if "/" in g:
            g, units = g.split("/", 1)
        if "(" in g:
            g, b = g.rstrip(")").split("(")
            baseline = int(b)
        gain = float(g) or 200.0
        if not math.isfinite(gain) or gain < 0:
            raise ValueError(f"ADC gain {g!r} of signal {tok[0]!r}: expected a finite number > 0")
    if fmt not in _BYTES_PER_SAMPLE:
        raise ValueError(f"signal format {fmt} of {tok[0]!r} is not supported (supported: 16, 80, 212)")
    adczero = int(tok[4]) if len(tok) > 4 else 0
    desc = " ".join(tok[8:]) if len(tok) > 8 else ""
    return _SignalSpec(tok[0], fmt, gain, adczero if baseline is None else baseline, units, desc, offset)


def _decode(raw: bytes, fmt: int, nsig: int, source: Path) -> np.ndarray:
    """Digital samples (frames, nsig) from a .dat file's bytes."""
    if fmt == 16:
        data = np.frombuffer(raw[: len(raw) // 2 * 2], "<i2").astype(np.int32)
    elif fmt == 80:
        data = np.frombuffer(raw, np.uint8).astype(np.int32) - 128
    elif fmt == 212:
        b = np.frombuffer(raw[: len(raw) // 3 * 3], np.uint8).astype(np.int32).reshape(-1, 3)
        s0 = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
        s1 = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
        data = np.stack([s0, s1], axis=1).ravel()
        data = np.where(data >= 2048, data - 4096, data)
    else:
        raise InputDataError(f"{source}: WFDB signal format {fmt} is not supported (supported: 16, 80, 212)")
    frames = len(data) // nsig
    return data[: frames * nsig].reshape(frames, nsig)


def read_wfdb(path, lead: str | int | None = None) -> Record:
    """Read one lead of a WFDB record (``dir/100``, ``dir/100.hea`` or ``dir/100.dat``).

    ``lead``: signal name (e.g. ``MLII``) or index; default the lead table's choice
    (:func:`choose_lead`: MLII, ML2, II, ECG1, else the only signal, else an error). The Record's
    ``lead`` and ``lead_reason`` say which lead was read and why.
    """
    base = _record_base(path)
    hea = base.with_suffix(".hea")
    if not hea.is_file():
        raise InputDataError(f"{base}: no WFDB header {hea.name} (expected {hea})")
    fs, nsamp, specs = _parse_header(hea)
    idx, reason = choose_lead([s.desc or f"sig{i}" for i, s in enumerate(specs)], lead, hea)
    spec = specs[idx]
    group = [i for i, s in enumerate(specs) if s.file == spec.file]
    if any(specs[i].fmt != spec.fmt for i in group):
        raise InputDataError(f"{hea}: signals in {spec.file} mix formats")
    dat = hea.parent / spec.file
    raw = _read_signal_file(dat, spec.offset)
    _check_size(raw, spec.fmt, len(group), nsamp, dat, hea)
    digital = _decode(raw, spec.fmt, len(group), dat)[:, group.index(idx)]
    if nsamp > 0:
        digital = digital[:nsamp]
    if len(digital) == 0:
        raise InputDataError(f"{dat}: the WFDB signal file holds no samples")
    invalid = digital == (-2048 if spec.fmt == 212 else -32768 if spec.fmt == 16 else -128)
    signal = (digital - spec.baseline) / spec.gain
    if invalid.any():
        signal = np.where(invalid, np.nan, signal)
    leads = tuple(s.desc for s in specs)
    return Record(signal.astype(np.float64), check_fs(fs, f"{hea.name} sampling rate"), leads[idx] or f"sig{idx}",
                  base.name, spec.units, leads, reason)


def _read_signal_file(dat: Path, offset: int) -> bytes:
    """A WFDB signal file's bytes after ``offset``: a regular file of bounded size (never a device
    such as /dev/zero, a FIFO that blocks, or a file that exhausts memory)."""
    _, st = _regular_file(dat, "WFDB signal file", missing="the WFDB signal file named in the header does not exist")
    if offset < 0 or offset > st.st_size:
        raise InputDataError(f"{dat}: byte offset {offset} from the header is outside the file ({st.st_size} bytes)")
    try:
        with open(dat, "rb") as f:
            f.seek(offset)
            return f.read()
    except OSError as exc:
        raise InputDataError(f"{dat}: cannot read the WFDB signal file ({exc.strerror or exc})") from None


def _check_size(raw: bytes, fmt: int, nsig: int, nsamp: int, dat: Path, hea: Path) -> None:
    """The header's sample count and format must account for the file's bytes, to the frame: a
    file cut short, or a header that names another format or count, is an error, not a shorter or
    garbled signal."""
    per_frame = _BYTES_PER_SAMPLE[fmt] * nsig
    if nsamp <= 0:
        if len(raw) % per_frame and not (fmt == 212 and (len(raw) * 2) % 3 == 0):
            raise InputDataError(f"{dat}: {len(raw)} bytes is not a whole number of {nsig}-signal frames in format "
                                 f"{fmt} ({per_frame:g} bytes each): the file is cut short or the format is wrong")
        return
    need = math.ceil(nsamp * per_frame)
    if len(raw) < need:
        raise InputDataError(f"{dat}: cut short: {hea.name} declares {nsamp} samples x {nsig} signal(s) in format "
                             f"{fmt} = {need} bytes, the file holds {len(raw)}")
    if len(raw) > need + math.ceil(per_frame):
        raise InputDataError(f"{dat}: holds {len(raw)} bytes, but {hea.name} declares {nsamp} samples x {nsig} "
                             f"signal(s) in format {fmt} = {need}: the header's count or format is wrong")


# The lead table: signal names of a (modified) lead II channel in PhysioNet databases, in order of
# preference. The classifier is trained on MIT-BIH's modified limb lead II (MLII); a WFDB record read
# without ``lead`` gets the first signal whose name is in this table (case-insensitive), and the
# Record says which and why. Not "the first signal": MIT-BIH record 114 has V5 first and MLII second.
LEAD_TABLE: tuple[tuple[str, str], ...] = (
    ("MLII", "modified limb lead II, as in mitdb"),
    ("ML2", "modified limb lead II, other spelling"),
    ("II", "limb lead II, as in 12-lead databases"),
    # svdb (nsrdb and afdb name theirs alike) does not say which lead its first Holter channel is; it is
    # the lead II-like one: upright QRS in 29 of the 39 svdb records here, ECG2 in 9 (docs/ecg_svdb.md)
    ("ECG1", "svdb's first Holter channel, lead not named, taken as lead II-like"),
)


def choose_lead(names, lead=None, source="record") -> tuple[int, str]:
    """``(index, reason)`` of the lead to read from a WFDB record's signal ``names``.

    ``lead`` (a name or an index) wins. Without it: the first name of :data:`LEAD_TABLE` the record
    has; a record of one signal uses that signal; a record of several signals none of which the
    table knows is refused (InputDataError listing its leads and how to pick one): the model was
    trained on lead II, and V1 or V5 read in its place would give wrong classes without a sign.
    """
    names = [str(n) for n in names]
    if lead is not None:
        return _pick_lead(names, lead, source), f"asked for ({'index' if _is_index(lead) else 'name'} {lead})"
    upper = [n.strip().upper() for n in names]
    for want, why in LEAD_TABLE:
        if want in upper:
            i = upper.index(want)
            return i, f"lead table: {want}, {why}" + (f"; signal {i} of {names}" if len(names) > 1 else "")
    if len(names) == 1:
        return 0, f"the record's only signal ({names[0]!r} is not in the lead table)"
    known = ", ".join(w for w, _ in LEAD_TABLE)
    raise InputDataError(f"{source}: none of the leads {names} is in the lead table ({known}); pick one "
                         f"by name or index (lead={names[0]!r} or lead=0; --lead on the command line; the model "
                         "expects a lead II-like signal)")


def _is_index(lead) -> bool:
    return isinstance(lead, int) or (isinstance(lead, str) and lead.isdigit())


def _pick_lead(names: list[str], lead, source) -> int:
    """A column / signal by name or index; ``None`` -> 0 (CSV, .npy and streams: the first column)."""
    if lead is None:
        return 0
    if _is_index(lead):
        i = int(lead)
        if 0 <= i < len(names):
            return i
        raise InputDataError(f"{source}: lead index {i} out of range 0..{len(names) - 1} (leads: {names})")
    if lead in names:
        return names.index(lead)
    raise InputDataError(f"{source}: no lead named {lead!r}; leads: {names}")


def read_annotations(path, extension: str = "atr") -> Annotations:
    """Read a WFDB annotation file in MIT format (e.g. ``dir/100.atr``)."""
    base = _record_base(path)
    f = base.with_suffix("." + extension)
    try:
        if not f.is_file():
            raise FileNotFoundError
        raw = f.read_bytes()
    except FileNotFoundError:
        raise InputDataError(f"{base}: no annotation file {f.name} (expected {f}, a regular file)") from None
    except OSError as exc:
        raise InputDataError(f"{f}: cannot read the annotations ({exc.strerror or exc})") from None
    if len(raw) < 2:
        raise InputDataError(f"{f}: annotation file is empty")
    return _parse_mit(np.frombuffer(raw[: len(raw) // 2 * 2], "<u2"), f)


def _parse_mit(words: np.ndarray, source: Path) -> Annotations:
    samples, symbols = [], []
    t, i, n = 0, 0, len(words)
    ended = False
    while i < n:
        w = int(words[i])
        code, val = w >> 10, w & 0x3FF
        i += 1
        if code == 0 and val == 0:
            ended = True
            break
        if code == _SKIP:
            if i + 1 >= n:
                break
            t += _int32(int(words[i]), int(words[i + 1]))
            i += 2
        elif code == _AUX:
            i += (val + 1) // 2
        elif code in (_NUM, _SUB, _CHN):
            continue
        else:
            t += val
            samples.append(t)
            symbols.append(_CODES.get(code, "?" if code else " "))
    if i < n and samples == [] and n > 1:
        raise InputDataError(f"{source}: no annotations found (not an MIT-format annotation file?)")
    if not ended:
        raise InputDataError(f"{source}: annotation file cut short: no end-of-file marker after "
                             f"{len(samples)} annotations ({2 * n} bytes)")
    return Annotations(np.asarray(samples, np.int64), np.asarray(symbols, dtype="<U1"))


def _int32(hi: int, lo: int) -> int:
    v = (hi << 16) | lo
    return v - (1 << 32) if v >= 1 << 31 else v


def read_csv(path, fs, lead: str | int | None = None) -> Record:
    """A CSV / text file (one sample per line, or columns with an optional header row)."""
    p, _ = _regular_file(path, "signal file", hint="; stream a FIFO with --stream")
    try:
        lines = p.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise InputDataError(f"{p}: cannot read ({exc.strerror or exc})") from None
    return parse_text_samples(lines, fs, lead, source=str(p))


def _regular_file(path, what: str, max_bytes: int = MAX_SIGNAL_FILE_BYTES, *, missing: str | None = None,
                  hint: str = "") -> tuple[Path, os.stat_result]:
    """``(path, stat)`` of a readable regular file of bounded size: the package's one boundary
    check (:func:`edgecnn.edge.core.fileio.regular_file`) with the signal-file size limit."""
    from edgecnn.edge.core.fileio import regular_file

    return regular_file(path, what, max_bytes, missing=missing, hint=hint)


def parse_text_samples(lines, fs, lead=None, source="input") -> Record:
    """Parse text lines of samples (see :func:`read_csv`)."""
    fs = check_fs(fs, "sampling rate fs")
    rows = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    names: list[str] = []
    if rows and not _numeric(rows[0].replace(";", ",").split(",")[0]):
        names = [c.strip() for c in rows[0].replace(";", ",").split(",")]
        rows = rows[1:]
    try:
        table = np.array([[float(v) for v in r.replace(";", ",").split(",")] for r in rows], np.float64)
    except ValueError as exc:
        raise InputDataError(f"{source}: not numeric CSV ({exc})") from None
    if table.ndim != 2 or table.size == 0:
        table = table.reshape(-1, 1) if table.size else np.zeros((0, 1))
    names = names or [f"col{i}" for i in range(table.shape[1])]
    col = _pick_lead(names, lead, source)
    if col >= table.shape[1]:
        raise InputDataError(f"{source}: column {col} missing")
    return Record(table[:, col], fs, names[col], Path(str(source)).stem, "", tuple(names), _column_reason(lead))


def _numeric(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_npy(path, fs, lead: str | int | None = None) -> Record:
    p, _ = _regular_file(path, "signal file", hint="; stream a FIFO with --stream")
    try:
        arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputDataError(f"{p}: cannot read a .npy array ({exc})") from None
    arr = np.asarray(arr)
    if arr.ndim == 2:
        col = _pick_lead([f"col{i}" for i in range(arr.shape[1])], lead, p)
        arr = arr[:, col]
    if arr.ndim != 1 or arr.dtype.kind not in "fiu":
        raise InputDataError(f"{p}: expected a 1-D (or samples x leads) numeric array, got {arr.dtype} {arr.shape}")
    return Record(arr.astype(np.float64), check_fs(fs, "sampling rate fs"), str(lead or "col0"), p.stem, "", (),
                  _column_reason(lead))


def _column_reason(lead) -> str:
    """CSV / .npy keep "the first column" as the default (no lead names to look up): said, not silent."""
    return "the first column (the default for CSV / .npy; pick another by name or index)" if lead is None \
        else f"asked for ({'index' if _is_index(lead) else 'name'} {lead})"


SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples"
SAMPLE_PREFIX = "builtin:"


def builtin_samples() -> dict[str, Path]:
    """Shipped ECG samples (``edge/samples/``, see its README.md): ``builtin:ecg-sample`` (the first
    record) and ``builtin:NAME`` per record, -> the record path without suffix."""
    found: dict[str, Path] = {}
    for hea in sorted(SAMPLES_DIR.glob("*.hea")):
        found.setdefault("ecg-sample", hea.with_suffix(""))
        found[hea.stem] = hea.with_suffix("")
    return found


def resolve_signal_path(spec) -> Path:
    """``builtin:ecg-sample`` / ``builtin:NAME`` -> the shipped record; anything else -> ``Path(spec)``."""
    spec = str(spec)
    if not spec.startswith(SAMPLE_PREFIX):
        return Path(spec)
    samples = builtin_samples()
    name = spec[len(SAMPLE_PREFIX):]
    if name not in samples:
        valid = ", ".join(SAMPLE_PREFIX + k for k in samples) or "none shipped"
        raise InputDataError(f"unknown built-in ECG sample {spec!r}; valid: {valid}")
    return samples[name]


def read_signal(path, fs=None, lead=None) -> Record:
    """Any supported signal: WFDB record (fs from the header), ``.csv``/``.txt`` or ``.npy`` (fs needed),
    or a shipped sample (``builtin:ecg-sample``, see :func:`builtin_samples`)."""
    p = resolve_signal_path(path)
    if p.suffix in (".csv", ".txt", ".npy"):
        if fs is None:
            raise InputDataError(f"{p}: a {p.suffix} signal needs its sampling rate fs in Hz (--fs on the command line)")
        reader = read_npy if p.suffix == ".npy" else read_csv
        return reader(p, fs, lead)
    rec = read_wfdb(p, lead)
    if fs is not None and not math.isclose(float(fs), rec.fs):
        raise InputDataError(f"{p}: sampling rate fs {fs} contradicts the header's {rec.fs:g} Hz (a WFDB record "
                                 "carries its own: give none)")
    return rec


def list_records(folder) -> list[Path]:
    """WFDB records (``.hea`` with a matching ``.atr``) in a folder, sorted by name."""
    d = Path(folder)
    if not d.is_dir():
        raise InputDataError(f"{d}: not a folder of WFDB records")
    return sorted(h.with_suffix("") for h in d.glob("*.hea") if h.with_suffix(".atr").is_file())
