"""What one ECG training epoch sees: balanced resampling, beat augmentation, made-up rhythms.

The N beats are drawn anew each epoch, ectopic beats repeated; the beat channel is stretched,
scaled, shifted and made noisy; a share of the N beats is made premature in its RR features and
labelled S (:func:`make_premature`), another put inside a run of supraventricular beats and
labelled S (:func:`make_run`), another put in an atrial-fibrillation context and kept N
(:func:`make_irregular`). :func:`make_sequence` serves it to Keras as a ``PyDataset``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecnn.edge.ecg.io import AAMI_CLASSES
from edgecnn.edge.ecg.runtime import ECGParams
from edgecnn.edge.ecg.signal import PREV_COLUMNS, RR_COLUMNS, RRConfig, normalize_rr, prev_lags
from edgecnn.train.ecg.records import BeatSet


@dataclass(frozen=True)
class SamplingConfig:
    """What one training epoch sees. ``n_keep``: fraction of the N beats drawn anew each epoch
    (balanced sampling); ``ectopic_copies``: extra copies of every S/V/F/Q beat. Augmentation
    of the beat channel (the template channel is left as is, as on the device): amplitude
    ``x (1 + amp * z)``, baseline shift ``shift * z``, noise std ``noise``, time stretch around R
    by a factor uniform in ``1 +- stretch`` (all relative to the template's std). ``premature``:
    share of the N beats in each batch turned into S examples by making them premature in their RR
    features (see :func:`make_premature`); ``irregular``: share of the other N beats given an
    irregularly irregular context and kept N (see :func:`make_irregular`); ``run``: share put inside a
    run of supraventricular beats (SVT) and labelled S (see :func:`make_run`). ``synth_regular``
    (0 = off): the made-up S beats (``premature``, ``run``) are made only from N beats whose rhythm
    before them is regular, :func:`context_irregularity` <= ``synth_regular`` (an early beat in atrial
    fibrillation is an N beat, so S examples made from AF beats teach the wrong rule); their share of
    those beats is raised so that an epoch holds as many made-up S beats as without it. ``synth_p_wave``
    (0 = off): the share of the made-up S beats whose P wave is changed in the beat channel
    (:func:`alter_p_wave`: inverted or flattened, as from an ectopic atrial or junctional focus); without
    it every made-up S beat keeps its patient's sinus P wave, which teaches that the P wave says nothing."""

    n_keep: float = 0.3
    ectopic_copies: int = 1
    amp: float = 0.1
    shift: float = 0.1
    noise: float = 0.05
    stretch: float = 0.08
    premature: float = 0.05
    irregular: float = 0.0
    run: float = 0.05
    synth_regular: float = 0.0
    synth_p_wave: float = 0.0

    def __post_init__(self):
        if not 0.0 < self.n_keep <= 1.0:
            raise ValueError(f"n_keep must be in (0, 1], got {self.n_keep}")
        if self.ectopic_copies < 0 or min(self.amp, self.shift, self.noise, self.stretch) < 0:
            raise ValueError(f"ectopic_copies and augmentation sizes must be >= 0, got {self}")
        shares = (self.premature, self.irregular, self.run)
        if min(shares) < 0.0 or sum(shares) >= 1.0:
            raise ValueError(f"premature, irregular and run must be >= 0 with a sum below 1, got {shares}")
        if self.synth_regular < 0.0:
            raise ValueError(f"synth_regular must be >= 0 (0 = off), got {self.synth_regular}")
        if not 0.0 <= self.synth_p_wave <= 1.0:
            raise ValueError(f"synth_p_wave must be a share in [0, 1] (0 = off), got {self.synth_p_wave}")


PREMATURE_PRE = (0.55, 0.85)   # pre-RR x this: how early a made-up S beat comes (S beats of MIT-BIH: ~0.5-0.85)
PREMATURE_POST = (1.0, 1.35)   # post-RR x this: the (non-compensatory) pause after it
PREMATURE_NEEDS = ("pre_rr", "post_rr", "local_rr", "long_rr")


IRREGULAR_RR = (0.55, 1.45)     # pre- and post-RR / local mean of an N beat in atrial fibrillation
IRREGULARITY = (0.12, 0.40)     # mean |RR step| / local mean there (sinus rhythm: ~0.02-0.06)


def prev_intervals(column, cfg: RRConfig, n: int) -> np.ndarray | None:
    """The earlier RR intervals (s) of raw rows, ``(n, max lag)`` (column K-1 = RR_{i-K}), from their
    ``prevK_local`` columns and ``local_rr``; lags not among the columns are 0. None without any."""
    lags = prev_lags(cfg.names)
    if not lags:
        return None
    out = np.zeros((n, max(lags)))
    for k in lags:
        out[:, k - 1] = column(PREV_COLUMNS[k - 1]) * column("local_rr")
    return out


def _rewrite_rhythm(rr: np.ndarray, cfg: RRConfig, needs: tuple, what: str, make_ctx) -> np.ndarray:
    """``rr`` (raw feature rows, columns ``cfg.names``) with every column recomputed from the context
    ``make_ctx(column, n)`` returns ({pre, post, local, long[, irregularity][, prev]}); ``column(name)``
    reads an input column. Without ``irregularity`` in that context, the column keeps its value; without
    ``prev`` the earlier intervals keep theirs (in seconds: their ratios follow the new local mean)."""
    col = {n: i for i, n in enumerate(cfg.names)}
    missing = [n for n in needs if n not in col]
    if missing:
        raise ValueError(f"{what} augmentation needs the RR columns {list(needs)}; missing {missing}")
    out = np.array(rr, np.float64, copy=True)
    column = lambda name: out[:, col[name]]  # noqa: E731
    ctx = make_ctx(column, len(out))
    if "prev" not in ctx:
        prev = prev_intervals(column, cfg, len(out))
        if prev is not None:
            ctx["prev"] = prev
    for name, i in col.items():
        if name != "irregularity" or "irregularity" in ctx:
            out[:, i] = RR_COLUMNS[name](ctx)
    return out.astype(np.float32)


def make_irregular(rr: np.ndarray, cfg: RRConfig, rng: np.random.Generator) -> np.ndarray:
    """Raw RR feature rows of N beats put in atrial fibrillation: pre- and post-RR drawn around the
    local mean, a high ``irregularity``; an early beat there is no sign of an S beat."""
    def ctx(column, n):
        local = column("local_rr")
        return {"pre": np.clip(local * rng.uniform(*IRREGULAR_RR, n), cfg.rr_min, cfg.rr_max),
                "post": np.clip(local * rng.uniform(*IRREGULAR_RR, n), cfg.rr_min, cfg.rr_max),
                "local": local, "long": column("long_rr"), "irregularity": rng.uniform(*IRREGULARITY, n)}

    return _rewrite_rhythm(rr, cfg, (*PREMATURE_NEEDS, "irregularity"), "irregular-rhythm", ctx)


def make_premature(rr: np.ndarray, cfg: RRConfig, rng: np.random.Generator) -> np.ndarray:
    """Raw RR feature rows (columns ``cfg.names``) of beats moved earlier: pre-RR shortened, post-RR
    lengthened, every ratio recomputed; the local/long means and irregularity are kept.

    This is how an S beat differs from its patient's N beats in rhythm. The beat shape is the
    patient's own N shape, which is what an S beat's QRS looks like; the P wave is not changed."""
    def ctx(column, n):
        return {"pre": np.clip(column("pre_rr") * rng.uniform(*PREMATURE_PRE, n), cfg.rr_min, cfg.rr_max),
                "post": np.clip(column("post_rr") * rng.uniform(*PREMATURE_POST, n), cfg.rr_min, cfg.rr_max),
                "local": column("local_rr"), "long": column("long_rr")}

    return _rewrite_rhythm(rr, cfg, PREMATURE_NEEDS, "premature", ctx)


RUN_RATE = (0.45, 0.8)        # RR inside a made-up SVT run / the patient's RR (MIT-BIH 207/209 runs: ~0.55-0.75)
RUN_JITTER = (0.9, 1.1)       # beat-to-beat RR variation inside a run
RUN_LAST = 0.2                # share of the made-up run beats that end their run (post-RR: a pause)


def make_run(rr: np.ndarray, cfg: RRConfig, rng: np.random.Generator) -> np.ndarray:
    """Raw RR feature rows of beats moved inside a run of supraventricular beats (SVT): the beat
    is the k-th (k uniform in 1..``cfg.local_beats``) of a run at ``f`` x the patient's rhythm (the
    local mean before it), so its pre-RR is short, its post-RR too (or a pause if it ends the run),
    and k of the intervals in the local mean are the run's; the long mean stays the patient's.

    :func:`make_premature` teaches "earlier than the local rhythm"; inside a run the local mean
    follows the run and only the long mean still says premature. MIT-BIH DS1 has such runs in
    only two patients (207, 209), one fold of a patient-disjoint split."""
    def ctx(column, n):
        f = rng.uniform(*RUN_RATE, n)
        span = cfg.local_beats
        k = rng.integers(1, span + 1, n)
        base = column("local_rr")
        last = rng.random(n) < RUN_LAST
        post = np.where(last, column("post_rr") * rng.uniform(*PREMATURE_POST, n),
                        base * f * rng.uniform(*RUN_JITTER, n))
        local = base * (k * f + (span - k)) / span
        out = {"pre": np.clip(base * f * rng.uniform(*RUN_JITTER, n), cfg.rr_min, cfg.rr_max),
               "post": np.clip(post, cfg.rr_min, cfg.rr_max), "local": local, "long": column("long_rr")}
        prev = prev_intervals(column, cfg, n)
        if prev is not None:  # the k - 1 intervals before the beat's own are the run's
            inside = np.arange(1, prev.shape[1] + 1)[None, :] < k[:, None]
            run_rr = np.clip(base[:, None] * f[:, None] * rng.uniform(*RUN_JITTER, prev.shape), cfg.rr_min, cfg.rr_max)
            out["prev"] = np.where(inside, run_rr, prev)
        return out

    return _rewrite_rhythm(rr, cfg, PREMATURE_NEEDS, "SVT-run", ctx)


P_WAVE_S = (0.24, 0.06)  # the P wave lies between these many seconds before R (PR 0.12-0.20 s + half a QRS)
P_GAIN = (-1.0, 0.3)     # its new size relative to the patient's: inverted (< 0) or flattened (0 .. 0.3)


def alter_p_wave(beat: np.ndarray, rng: np.random.Generator, fs: float, r_index: int) -> np.ndarray:
    """Copies of ``beat`` (n, W, C) whose channel 0 has its P-wave segment (P_WAVE_S before R) scaled by
    a gain drawn from P_GAIN around the straight line joining the segment's ends (so the beat stays
    continuous): an inverted or flattened P wave, as in an ectopic atrial or junctional beat. The
    template channel is left as is: the beat no longer matches the patient's sinus P wave."""
    b = np.array(beat, np.float32, copy=True)
    lo = max(0, r_index - int(round(P_WAVE_S[0] * fs)))
    hi = min(b.shape[1] - 1, r_index - int(round(P_WAVE_S[1] * fs)))
    if len(b) == 0 or hi - lo < 2:
        return b
    seg = b[:, lo : hi + 1, 0]
    t = np.linspace(0.0, 1.0, hi - lo + 1, dtype=np.float32)[None, :]
    line = seg[:, :1] + (seg[:, -1:] - seg[:, :1]) * t
    gain = rng.uniform(*P_GAIN, (len(b), 1)).astype(np.float32)
    b[:, lo : hi + 1, 0] = line + gain * (seg - line)
    return b


CONTEXT_STEPS = 8  # RR steps before a beat that context_irregularity averages


def context_irregularity(rr: np.ndarray, record: np.ndarray, cfg: RRConfig, steps: int = CONTEXT_STEPS) -> np.ndarray:
    """Per beat, mean |RR_j - RR_j-1| over the ``steps`` steps before its own pre-RR, / its local mean,
    from the raw ``pre_rr`` / ``local_rr`` columns of consecutive beats of each record (a BeatSet keeps
    the detector's order; the few unlabelled beats it dropped are skipped). Sinus rhythm ~0.02-0.06,
    atrial fibrillation 0.12-0.4; the first beats of a record use what they have (0 for the first)."""
    col = {n: i for i, n in enumerate(cfg.names)}
    if "pre_rr" not in col or "local_rr" not in col:
        raise ValueError("context irregularity needs the RR columns pre_rr and local_rr")
    out = np.zeros(len(rr))
    rec = np.asarray(record)
    starts = np.flatnonzero(np.r_[True, rec[1:] != rec[:-1]]) if len(rec) else np.zeros(0, np.int64)
    for a, b in zip(starts, np.r_[starts[1:], len(rec)], strict=True):
        pre = np.asarray(rr[a:b, col["pre_rr"]], np.float64)
        step = np.abs(np.diff(pre, prepend=pre[0]))  # step[j] = |RR_j - RR_j-1|
        c = np.concatenate([[0.0], np.cumsum(step)])
        i = np.arange(b - a)
        lo = np.maximum(0, i - steps)  # steps lo .. i-1: before the beat's own step
        mean = (c[i] - c[lo]) / np.maximum(i - lo, 1)
        out[a:b] = mean / np.maximum(np.asarray(rr[a:b, col["local_rr"]], np.float64), 1e-6)
    return out


def augment_beats(beat: np.ndarray, rng: np.random.Generator, cfg: SamplingConfig, r_index: int) -> np.ndarray:
    """Randomly stretched / scaled / shifted / noisy copies of the beat channel (channel 0) of ``beat``."""
    b = np.array(beat, np.float32, copy=True)
    n, w = b.shape[:2]
    if n == 0:
        return b
    if cfg.stretch:
        f = rng.uniform(1.0 - cfg.stretch, 1.0 + cfg.stretch, n)
        pos = np.clip(r_index + (np.arange(w)[None, :] - r_index) * f[:, None], 0, w - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, w - 1)
        frac = (pos - lo).astype(np.float32)
        rows = np.arange(n)[:, None]
        b[:, :, 0] = b[rows, lo, 0] * (1.0 - frac) + b[rows, hi, 0] * frac
    b[:, :, 0] *= (1.0 + cfg.amp * rng.standard_normal((n, 1))).astype(np.float32)
    b[:, :, 0] += (cfg.shift * rng.standard_normal((n, 1))).astype(np.float32)
    b[:, :, 0] += (cfg.noise * rng.standard_normal((n, w))).astype(np.float32)
    return b


def epoch_indices(labels: np.ndarray, cfg: SamplingConfig, rng: np.random.Generator) -> np.ndarray:
    """Beat indices of one epoch: the N beats drawn with probability ``n_keep``, every other beat
    ``1 + ectopic_copies`` times, shuffled."""
    keep = (labels > 0) | (rng.random(len(labels)) < cfg.n_keep)
    idx = np.flatnonzero(keep)
    ect = idx[labels[idx] > 0]
    return rng.permutation(np.concatenate([idx, np.repeat(ect, cfg.ectopic_copies)]))


def make_sequence(beats: BeatSet, params: ECGParams, weights: np.ndarray, batch: int, cfg: SamplingConfig,
                  seed: int):
    """A ``keras.utils.PyDataset`` of ``(x, y, sample_weight)`` batches, resampled and augmented anew each epoch."""
    import keras

    rr = normalize_rr(beats.rr, params.rr_mean, params.rr_std)
    sw = weights.astype(np.float32)
    n_ect = int(np.sum(beats.label > 0))
    expected = cfg.n_keep * (len(beats) - n_ect) + n_ect * (1 + cfg.ectopic_copies)
    steps = max(1, int(np.ceil(expected / batch)))
    s_label = AAMI_CLASSES.index("S")
    eligible = np.ones(len(beats), bool)  # N beats that made-up S beats may come from
    scale = 1.0
    if cfg.synth_regular and (cfg.premature or cfg.run):
        eligible = context_irregularity(beats.rr, beats.record, params.rr) <= cfg.synth_regular
        n_beats = beats.label == 0
        frac = eligible[n_beats].mean() if n_beats.any() else 1.0
        scale = 1.0 / max(frac, 1e-3)
        if (cfg.premature + cfg.run) * scale + cfg.irregular >= 1.0:
            scale = (1.0 - cfg.irregular - 1e-6) / (cfg.premature + cfg.run)
    # made-up rhythms: (share of the N beats, RR rewrite, new label or None = stays N, only eligible beats)
    rhythms = ((cfg.premature * scale, make_premature, s_label, True), (cfg.irregular, make_irregular, None, False),
               (cfg.run * scale, make_run, s_label, True))

    class ECGBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch, self._plan = 0, None

        def __len__(self):
            return steps

        def __getitem__(self, i):
            if self._plan is None or self._plan[0] != self.epoch:
                idx = epoch_indices(beats.label, cfg, np.random.default_rng([seed, self.epoch]))
                self._plan = (self.epoch, np.resize(idx, steps * batch))
            idx = self._plan[1][i * batch : (i + 1) * batch]
            rng = np.random.default_rng([seed, self.epoch, i])
            b = augment_beats(beats.beat[idx], rng, cfg, params.window.before)
            x_rr, label = rr[idx], beats.label[idx]
            if cfg.premature or cfg.irregular or cfg.run:
                u = rng.random(len(idx))
                x_rr, label = x_rr.copy(), label.copy()
                lo = 0.0
                ok = eligible[idx]
                for share, rewrite, new_label, gated in rhythms:  # disjoint bands of u, in this order
                    rows = np.flatnonzero((label == 0) & (u >= lo) & (u < lo + share) & (ok if gated else True))
                    lo += share
                    if len(rows):
                        x_rr[rows] = normalize_rr(rewrite(beats.rr[idx[rows]], params.rr, rng),
                                                  params.rr_mean, params.rr_std)
                        if new_label is not None:
                            label[rows] = new_label
                        if new_label == s_label and cfg.synth_p_wave:
                            alter = rows[rng.random(len(rows)) < cfg.synth_p_wave]
                            b[alter] = alter_p_wave(b[alter], rng, params.window.fs, params.window.before)
            return {"beat": b, "rr": x_rr}, {"probs": label}, sw[label]

        def on_epoch_end(self):
            self.epoch += 1

    return ECGBatches()
