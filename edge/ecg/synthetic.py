"""Labelled synthetic ECG (NumPy only), so demos and tests run offline.

Each beat is a sum of Gaussian waves (P, Q, R, S, T) placed at its R time; the morphology and
timing depend on the AAMI class:

* N: normal P-QRS-T at the underlying rhythm;
* S: premature (60-80 % of the RR, not closer than 0.3 s), normal narrow QRS, abnormal P (inverted, early, or absent);
* V: premature (55-75 %, not closer than 0.42 s: a Pan-Tompkins detector takes a wide beat closer to the
  previous R for its T wave), no P, wide bizarre QRS of either polarity with a discordant T,
  followed by a compensatory pause; its amplitude is 1-2x the patient's own R wave (as PVCs are: a V beat
  smaller and slower than the patient's QRS would look like a T wave to any R-peak detector);
* F: fusion of N and V (half the normal QRS plus half the V complex, slightly premature);
* Q: paced: a pacing spike then a wide QRS.

Each record draws a "patient" (amplitudes, widths, heart rate 40-180 bpm, heart-rate variability)
and noise: baseline wander, mains hum (50/60 Hz) and muscle noise. Amplitudes are in mV.
``python -m edgecnn.edge.ecg.synthetic --out DIR`` writes WFDB records (.hea/.dat/.atr).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edgecnn.edge.core.fileio import atomic_write_bytes, atomic_write_text
from edgecnn.edge.ecg.io import AAMI_CLASSES

SYMBOL_OF = {"N": "N", "S": "A", "V": "V", "F": "F", "Q": "/"}
_PREMATURE = {"S": (0.6, 0.8), "V": (0.55, 0.75), "F": (0.85, 0.95)}
_MIN_COUPLING = {"S": 0.3, "V": 0.42, "F": 0.42}  # s: no R-on-T beats
_MIT_CODE = {"N": 1, "A": 8, "V": 5, "F": 6, "/": 12}


@dataclass(frozen=True)
class SyntheticConfig:
    """One synthetic record. ``hr_bpm``: (low, high) range the record's rate is drawn from."""

    fs: float = 360.0
    duration_s: float = 60.0
    hr_bpm: tuple[float, float] = (55.0, 110.0)
    class_probs: dict = field(default_factory=lambda: {"S": 0.06, "V": 0.08, "F": 0.02, "Q": 0.01})
    baseline_mv: float = 0.3
    mains_mv: float = 0.03
    muscle_mv: float = 0.02
    hrv: float = 0.03


@dataclass(frozen=True)
class SyntheticRecord:
    signal: np.ndarray  # mV
    fs: float
    r_samples: np.ndarray  # int64
    labels: np.ndarray  # AAMI class ids (index into AAMI_CLASSES)
    symbols: np.ndarray  # MIT beat symbols

    @property
    def label_names(self) -> list[str]:
        return [AAMI_CLASSES[i] for i in self.labels]


def _patient(rng: np.random.Generator) -> dict:
    return {
        "p": rng.uniform(0.08, 0.25), "q": rng.uniform(0.0, 0.2), "r": rng.uniform(0.6, 1.8),
        "s": rng.uniform(0.05, 0.5), "t": rng.uniform(0.1, 0.5) * rng.choice([1, 1, 1, -1]),
        "qrs_w": rng.uniform(0.008, 0.014), "pr": rng.uniform(0.14, 0.2),
        "v_sign": rng.choice([-1.0, 1.0]), "v_gain": rng.uniform(1.0, 2.0), "v_w": rng.uniform(0.03, 0.05),
        "s_p": rng.choice(["inverted", "early", "absent"]),
    }


def _waves(kind: str, pt: dict, rr: float) -> list[tuple[float, float, float]]:
    """(amplitude mV, centre s relative to R, width s) of each Gaussian wave of one beat."""
    qt = 0.28 * np.sqrt(max(rr, 0.3))
    w = pt["qrs_w"]
    qrs = [(-pt["q"], -2.5 * w, w), (pt["r"], 0.0, w), (-pt["s"], 2.5 * w, w)]
    normal_t = [(pt["t"], qt, 0.06)]
    if kind == "N":
        return [(pt["p"], -pt["pr"], 0.025)] + qrs + normal_t
    if kind == "S":
        p = {"inverted": [(-0.7 * pt["p"], -pt["pr"] + 0.02, 0.02)],
             "early": [(0.8 * pt["p"], -pt["pr"] - 0.06, 0.03)], "absent": []}[pt["s_p"]]
        return p + qrs + normal_t
    vs, va, vw = pt["v_sign"], pt["v_gain"] * pt["r"], pt["v_w"]
    wide = [(vs * va, 0.0, vw), (-vs * 0.4 * va, 1.8 * vw, vw)]
    if kind == "V":
        return wide + [(-vs * 0.5, qt + 0.04, 0.08)]
    if kind == "F":
        half = [(0.5 * a, c, width) for a, c, width in qrs + wide]
        return [(0.6 * pt["p"], -pt["pr"], 0.025)] + half + [(0.5 * pt["t"] - 0.25 * vs, qt, 0.07)]
    return [(3.0, -0.04, 0.002)] + wide + [(-vs * 0.4, qt + 0.04, 0.08)]  # Q: paced


def _beat_plan(cfg: SyntheticConfig, rng, rr0: float) -> tuple[np.ndarray, list[str]]:
    probs = {k: float(v) for k, v in cfg.class_probs.items()}
    kinds = ["N"] + list(probs)
    p = np.array([max(0.0, 1.0 - sum(probs.values()))] + list(probs.values()))
    times, labels, t, prev = [], [], 0.4 + rng.uniform(0, rr0), "N"
    while t < cfg.duration_s - 0.5:
        kind = str(rng.choice(kinds, p=p / p.sum())) if prev == "N" else "N"
        rr = rr0 * (1 + cfg.hrv * rng.standard_normal())
        if kind in _PREMATURE:
            rr = max(rr * rng.uniform(*_PREMATURE[kind]), min(_MIN_COUPLING[kind], rr))
        if prev == "V":
            rr = 2 * rr0 - (times[-1] - times[-2] if len(times) > 1 else rr0)
        elif prev == "S":
            rr *= 1.1
        t_next = t + max(rr, 0.28) if times else t
        times.append(t_next)
        labels.append(kind)
        t, prev = t_next, kind
    return np.asarray(times), labels


def _noise(cfg: SyntheticConfig, rng, n: int) -> np.ndarray:
    t = np.arange(n) / cfg.fs
    out = np.zeros(n)
    for _ in range(3):
        f = rng.uniform(0.05, 0.5)
        out += cfg.baseline_mv / 3 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    mains = rng.choice([50.0, 60.0])
    if mains < cfg.fs / 2:
        out += cfg.mains_mv * np.sin(2 * np.pi * mains * t + rng.uniform(0, 2 * np.pi))
    emg = rng.standard_normal(n)
    k = np.ones(max(1, int(cfg.fs / 150))) / max(1, int(cfg.fs / 150))
    return out + cfg.muscle_mv * np.convolve(emg, k, mode="same") / max(np.std(emg), 1e-9)


def synth_record(cfg: SyntheticConfig | None = None, seed: int = 0) -> SyntheticRecord:
    """One labelled synthetic record (deterministic for a seed)."""
    cfg = cfg or SyntheticConfig()
    rng = np.random.default_rng(seed)
    pt = _patient(rng)
    rr0 = 60.0 / rng.uniform(*cfg.hr_bpm)
    times, kinds = _beat_plan(cfg, rng, rr0)
    n = int(round(cfg.duration_s * cfg.fs))
    sig = np.zeros(n)
    grid = np.arange(n) / cfg.fs
    for i, (tr, kind) in enumerate(zip(times, kinds, strict=True)):
        rr = times[i] - times[i - 1] if i else rr0
        for amp, centre, width in _waves(kind, pt, rr):
            lo, hi = np.searchsorted(grid, [tr + centre - 5 * width, tr + centre + 5 * width])
            sig[lo:hi] += amp * np.exp(-0.5 * ((grid[lo:hi] - tr - centre) / width) ** 2)
    sig += _noise(cfg, rng, n)
    r = np.round(times * cfg.fs).astype(np.int64)
    labels = np.array([AAMI_CLASSES.index(k) for k in kinds], np.int64)
    symbols = np.array([SYMBOL_OF[k] for k in kinds])
    ok = r < n
    return SyntheticRecord(sig, cfg.fs, r[ok], labels[ok], symbols[ok])


def synth_records(n: int, cfg: SyntheticConfig | None = None, seed: int = 0, vary: bool = True) -> list[SyntheticRecord]:
    """``n`` records ("patients"); with ``vary`` each gets its own heart-rate range and noise."""
    cfg = cfg or SyntheticConfig()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        c = cfg
        if vary:
            lo = rng.uniform(45, 120)
            c = replace(cfg, hr_bpm=(lo, lo + 20), baseline_mv=rng.uniform(0.05, 0.5),
                        mains_mv=rng.uniform(0.0, 0.05), muscle_mv=rng.uniform(0.0, 0.04))
        out.append(synth_record(c, seed=seed * 1000 + i))
    return out


# ----------------------------------------------------------------------------- WFDB writer
def write_wfdb(folder, name: str, rec: SyntheticRecord, leads=None) -> Path:
    """Write ``name.hea`` / ``name.dat`` (format 16, gain 1000/mV) / ``name.atr`` (MIT format).

    ``leads``: the signals of the record, as ``(lead name, samples in mV)`` pairs, each as long as
    ``rec.signal`` (stored multiplexed, in this order); default one lead, ``("MLII", rec.signal)``.
    The annotations are ``rec``'s beats. Returns the record path (without extension).
    """
    d = Path(folder)
    leads = [("MLII", rec.signal)] if leads is None else list(leads)
    if not leads or any(len(sig) != len(rec.signal) for _, sig in leads):
        raise ValueError(f"{name}: leads must be (name, signal) pairs as long as the record ({len(rec.signal)})")
    digital = np.stack([np.clip(np.round(np.asarray(sig, np.float64) * 1000.0), -32767, 32767).astype("<i2")
                        for _, sig in leads], axis=1)
    atomic_write_bytes(d / f"{name}.dat", digital.ravel().tobytes())
    hea = f"{name} {len(leads)} {rec.fs:g} {len(digital)}\n" + "".join(
        f"{name}.dat 16 1000/mV 16 0 {int(first)} 0 0 {lead}\n"
        for (lead, _), first in zip(leads, digital[0], strict=True))
    atomic_write_text(d / f"{name}.hea", hea + "# synthetic ECG (edgecnn)\n")
    atomic_write_bytes(d / f"{name}.atr", _mit_annotations(rec.r_samples, rec.symbols))
    return d / name


def write_wfdb_leads(folder, name: str, rec: SyntheticRecord, names=("ECG1", "ECG2")) -> Path:
    """A two-lead record (as in mitdb / svdb) in ``folder`` (created if missing): ``names[0]`` is
    ``rec.signal``, ``names[1]`` the same inverted and halved, so a reader test sees which lead was
    read. Returns the record path (without extension)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    return write_wfdb(folder, name, rec, [(names[0], rec.signal), (names[1], rec.signal * -0.5)])


def _mit_annotations(samples: np.ndarray, symbols) -> bytes:
    words, prev = [], 0
    for s, sym in zip(samples.tolist(), symbols, strict=True):
        delta = int(s) - prev
        if delta > 1023:
            words += [59 << 10, (delta >> 16) & 0xFFFF, delta & 0xFFFF]
            delta = 0
        words.append((_MIT_CODE[str(sym)] << 10) | delta)
        prev = int(s)
    words.append(0)
    return np.asarray(words, "<u2").tobytes()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="write synthetic labelled ECG records (WFDB)")
    ap.add_argument("--out", required=True, help="folder for the records")
    ap.add_argument("--records", type=int, default=4, help="number of records")
    ap.add_argument("--duration", type=float, default=300.0, help="seconds per record")
    ap.add_argument("--fs", type=float, default=360.0, help="sampling rate (Hz)")
    ap.add_argument("--seed", type=int, default=1, help="random seed")
    args = ap.parse_args(argv)
    cfg = SyntheticConfig(fs=args.fs, duration_s=args.duration)
    for i, rec in enumerate(synth_records(args.records, cfg, seed=args.seed)):
        write_wfdb(args.out, f"syn{i:03d}", rec)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
