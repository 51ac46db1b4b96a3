"""The shared training loop: tf.distribute strategy, seeds, progress bar, checkpoints, resume,
periodic validation metrics, the saved config and history.

Training scales on TensorFlow's own engine: ``--strategy mirrored`` uses every local GPU (or the
logical CPU devices a test creates), ``--strategy multiworker`` reads ``TF_CONFIG``.
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.edge.core.fileio import atomic_write_json

STRATEGIES = ("none", "mirrored", "multiworker")


@dataclass(frozen=True)
class FitConfig:
    out_dir: str
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    strategy: str = "none"
    resume: bool = True
    val_every: int = 1
    verbose: int = 1
    monitor: str = "val_loss"
    monitor_mode: str = "min"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}")
        if self.monitor_mode not in ("min", "max"):
            raise ValueError(f"monitor_mode must be 'min' or 'max', got {self.monitor_mode!r}")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (and ask for deterministic kernels where cheap)."""
    import keras

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def make_strategy(name: str):
    import tensorflow as tf

    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy 'multiworker' needs the TF_CONFIG environment variable (cluster and task)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")


def _periodic_metrics(val_metrics, every: int, log: list):
    import keras

    class PeriodicMetrics(keras.callbacks.Callback):
        """Calls ``val_metrics(model)`` every ``every`` epochs; values join the epoch logs."""

        last: dict[str, float] = {}

        def on_epoch_end(self, epoch, logs=None):
            if (epoch + 1) % every and epoch + 1 != self.params.get("epochs"):
                if logs is not None:  # carry the last values so checkpoint monitors always see them
                    logs.update(self.last)
                return
            values = val_metrics(self.model)
            log.append({"epoch": epoch + 1, **values})
            self.last = {k: float(v) for k, v in values.items() if isinstance(v, int | float)}
            if logs is not None:
                logs.update(self.last)
            print(" - ".join(f"{k}: {v:.4f}" for k, v in values.items() if isinstance(v, int | float)),
                  file=sys.stderr)

    return PeriodicMetrics()


def _best_checkpoint(path: str, monitor: str, mode: str):
    """``ModelCheckpoint(save_best_only=True)`` that considers only the epochs whose logs hold
    ``monitor``: with ``val_every`` > 1 the epochs before the first validation have no value, and
    Keras' own callback would warn about each of them ("Can save best model only with ... available")."""
    import keras

    class BestCheckpoint(keras.callbacks.ModelCheckpoint):
        def on_epoch_end(self, epoch, logs=None):
            if logs is None or logs.get(self.monitor) is None:
                return
            super().on_epoch_end(epoch, logs)

    return BestCheckpoint(path, monitor=monitor, mode=mode, save_best_only=True)


def fit(
    build_fn: Callable[[], Any],
    train_ds,
    cfg: FitConfig,
    *,
    val_ds=None,
    val_metrics: Callable[[Any], dict[str, float]] | None = None,
    callbacks: Sequence[Any] = (),
    steps_per_epoch: int | None = None,
):
    """Build (inside the strategy scope) and train. ``build_fn()`` returns a compiled keras.Model.

    Writes under ``cfg.out_dir``: ``config.json``, ``checkpoints/last.keras`` (every epoch),
    ``checkpoints/best.keras`` (by ``cfg.monitor``), ``history.csv``, ``backup/`` (resume state,
    removed after a finished run). Returns ``(model, history_dict)``.
    """
    import keras

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.seed)
    atomic_write_json(out / "config.json", {"fit": dataclasses.asdict(cfg), "argv": sys.argv})
    strategy = make_strategy(cfg.strategy)
    with strategy.scope():
        model = build_fn()
    metric_log: list[dict] = []
    monitor = cfg.monitor if (val_ds is not None or val_metrics is not None or not cfg.monitor.startswith("val_")) else "loss"
    resuming = cfg.resume and (out / "backup").exists()
    cbs = [
        keras.callbacks.ModelCheckpoint(str(out / "checkpoints" / "last.keras")),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=resuming),
    ]
    if val_metrics is not None:
        cbs.insert(0, _periodic_metrics(val_metrics, cfg.val_every, metric_log))
    cbs.append(_best_checkpoint(str(out / "checkpoints" / "best.keras"), monitor, cfg.monitor_mode))
    if cfg.resume:
        cbs.append(keras.callbacks.BackupAndRestore(str(out / "backup"), delete_checkpoint=True))
    (out / "checkpoints").mkdir(exist_ok=True)
    history = model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, verbose=cfg.verbose,
                        callbacks=[*cbs, *callbacks], steps_per_epoch=steps_per_epoch)
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    if metric_log:
        atomic_write_json(out / "val_metrics.json", metric_log)
    atomic_write_json(out / "history.json", hist)
    return model, hist


def recalibrate_batchnorm(model, batches) -> int:
    """Precise BatchNorm: replace moving statistics by their plain average over ``batches``.

    With few training steps (or heavy augmentation) the moving averages lag the weights and the
    inference-mode model drifts from the training-mode one; this re-estimates them on un-augmented
    images. Only BatchNorm statistics change. Returns the number of batches used.
    """
    import keras

    bns = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)
           and layer.trainable]
    saved = [layer.momentum for layer in bns]
    k = 0
    try:
        for k, x in enumerate(batches, 1):
            for layer in bns:
                layer.momentum = 1.0 - 1.0 / k
            model(x, training=True)
    finally:
        for layer, m in zip(bns, saved, strict=False):
            layer.momentum = m
    return k
