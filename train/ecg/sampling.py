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
from edgecnn.edge.ecg.signal import RR_COLUMNS, RRConfig, normalize_rr
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
    run of supraventricular beats (SVT) and labelled S (see :func:`make_run`)."""

    n_keep: float = 0.3
    ectopic_copies: int = 1
    amp: float = 0.1
    shift: float = 0.1
    noise: float = 0.05
    stretch: float = 0.08
    premature: float = 0.05
    irregular: float = 0.0
    run: float = 0.05

    def __post_init__(self):
        if not 0.0 < self.n_keep <= 1.0:
            raise ValueError(f"n_keep must be in (0, 1], got {self.n_keep}")
        if self.ectopic_copies < 0 or min(self.amp, self.shift, self.noise, self.stretch) < 0:
            raise ValueError(f"ectopic_copies and augmentation sizes must be >= 0, got {self}")
        shares = (self.premature, self.irregular, self.run)
        if min(shares) < 0.0 or sum(shares) >= 1.0:
            raise ValueError(f"premature, irregular and run must be >= 0 with a sum below 1, got {shares}")


PREMATURE_PRE = (0.55, 0.85)   # pre-RR x this: how early a made-up S beat comes (S beats of MIT-BIH: ~0.5-0.85)
PREMATURE_POST = (1.0, 1.35)   # post-RR x this: the (non-compensatory) pause after it
PREMATURE_NEEDS = ("pre_rr", "post_rr", "local_rr", "long_rr")


IRREGULAR_RR = (0.55, 1.45)     # pre- and post-RR / local mean of an N beat in atrial fibrillation
IRREGULARITY = (0.12, 0.40)     # mean |RR step| / local mean there (sinus rhythm: ~0.02-0.06)


def _rewrite_rhythm(rr: np.ndarray, cfg: RRConfig, needs: tuple, what: str, make_ctx) -> np.ndarray:
    """``rr`` (raw feature rows, columns ``cfg.names``) with every column recomputed from the context
    ``make_ctx(column, n)`` returns ({pre, post, local, long[, irregularity]}); ``column(name)`` reads
    an input column. Without ``irregularity`` in that context, the column keeps its value."""
    col = {n: i for i, n in enumerate(cfg.names)}
    missing = [n for n in needs if n not in col]
    if missing:
        raise ValueError(f"{what} augmentation needs the RR columns {list(needs)}; missing {missing}")
    out = np.array(rr, np.float64, copy=True)
    ctx = make_ctx(lambda name: out[:, col[name]], len(out))
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
        return {"pre": np.clip(base * f * rng.uniform(*RUN_JITTER, n), cfg.rr_min, cfg.rr_max),
                "post": np.clip(post, cfg.rr_min, cfg.rr_max), "local": local, "long": column("long_rr")}

    return _rewrite_rhythm(rr, cfg, PREMATURE_NEEDS, "SVT-run", ctx)


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
    # made-up rhythms: (share of the N beats, RR rewrite, new label or None = stays N)
    rhythms = ((cfg.premature, make_premature, s_label), (cfg.irregular, make_irregular, None),
               (cfg.run, make_run, s_label))

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
                for share, rewrite, new_label in rhythms:  # disjoint bands of u, in this order
                    rows = np.flatnonzero((label == 0) & (u >= lo) & (u < lo + share))
                    lo += share
                    if len(rows):
                        x_rr[rows] = normalize_rr(rewrite(beats.rr[idx[rows]], params.rr, rng),
                                                  params.rr_mean, params.rr_std)
                        if new_label is not None:
                            label[rows] = new_label
            return {"beat": b, "rr": x_rr}, {"probs": label}, sw[label]

        def on_epoch_end(self):
            self.epoch += 1

    return ECGBatches()
