"""The shared training loop: tf.distribute strategy, seeds, progress bar, checkpoints, resume,
periodic validation metrics, the saved config and history.

Training scales on TensorFlow's own engine: ``--strategy mirrored`` uses every local GPU (or the
logical CPU devices a test creates), ``--strategy multiworker`` reads ``TF_CONFIG`` (docs/distributed.md;
tests/train/test_multiworker.py trains with two worker processes). ``--batch-size`` is the global
batch: each of N replicas computes 1/N of it.
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


def _patch_keras_multiworker(model, strategy) -> None:
    """Two Keras 3 TF-trainer bugs make ``model.fit`` fail under MultiWorkerMirroredStrategy with
    more than one worker (keras-team/keras#20585, #20329); both are worked around on this model only.

    1. Before training Keras builds the compiled loss and metrics from one batch that it first
       averages over the replicas with ``strategy.reduce("MEAN", batch)``, which cannot all-reduce
       a nested batch (a tuple or dict of ``PerReplica``): "Attempt to convert a value ... to a
       Tensor". The build needs shapes and dtypes only: it is handed this worker's own batch.
    2. After each step the per-replica logs (scalars) are combined with
       ``strategy.reduce("MEAN", value, axis=0)``: "Invalid reduction dimension 0 for input with 0
       dimensions". The train and test steps return their scalars as length-1 vectors, which that
       reduce averages back into scalars (the metric variables are already in sync, so the mean of
       the replicas' equal values is the value).
    """
    import tensorflow as tf

    if not getattr(strategy.extended, "_in_multi_worker_mode", lambda: True)():
        return  # one worker: Keras' own paths work
    build = model._maybe_symbolic_build

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def build_locally(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(local, next(it))
                break
        return build(data_batch=data_batch)

    def vector_logs(step):
        def run(data):
            logs = step(data)
            return tf.nest.map_structure(lambda v: tf.reshape(v, [1]) if tf.is_tensor(v) and v.shape.rank == 0 else v,
                                         logs)

        return run

    model._maybe_symbolic_build = build_locally
    model.train_step = vector_logs(model.train_step)
    model.test_step = vector_logs(model.test_step)


def cluster_task(strategy) -> dict | None:
    """This process's place in a multi-worker cluster (from ``TF_CONFIG``): ``{"type", "index",
    "chief", "workers"}``; None outside one. The chief is task ``chief`` if the cluster names one,
    else ``worker`` 0 (TensorFlow's rule)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return None
    spec = resolver.cluster_spec().as_dict()
    kind, index = resolver.task_type, int(resolver.task_id or 0)
    chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in spec)
    return {"type": kind, "index": index, "chief": chief,
            "workers": sum(len(spec.get(k, [])) for k in ("chief", "worker"))}


def _sync_moving_statistics(model, strategy):
    """A callback that averages the BatchNorm moving statistics over all replicas at each epoch end,
    or None when there is nothing to average (one replica, no BatchNorm).

    Keras 3 creates ``moving_mean``/``moving_variance`` with aggregation "none": under a
    tf.distribute strategy each replica updates its own copy from its own part of the batch, and
    saving reads the first local copy. Without this every worker of a multi-worker run would write
    different statistics (each from its own half of the data) and the inference-mode model would
    depend on which worker saved it. The mean of the replicas' copies is what Keras 2 read
    (``ON_READ``/``MEAN``): the moving mean over the whole global batch, and the moving variance of
    the per-replica batches that training normalised with. It runs before the validation metrics
    and checkpoints of that epoch, on every worker (it is a collective operation)."""
    import keras
    import tensorflow as tf

    if strategy.num_replicas_in_sync < 2:
        return None
    stats = [v.value for layer in model._flatten_layers()
             if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
             for v in (layer.moving_mean, layer.moving_variance)]
    if not stats:
        return None

    def average():
        means = tf.distribute.get_replica_context().all_reduce("MEAN", [tf.identity(v) for v in stats])
        for var, mean in zip(stats, means, strict=True):
            var.assign(mean)

    sync = tf.function(lambda: strategy.run(average))

    class SyncMovingStatistics(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            sync()

    return SyncMovingStatistics()


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

    ``multiworker``: every worker runs this same code in lockstep and ends with the same weights
    (BatchNorm statistics averaged at each epoch end); each writes the set above into its own
    ``out_dir``, which must not be shared with another worker (a local disk, or one folder per
    worker on a shared file system): the recipes read their checkpoints back from it. The chief's
    folder is the result; ``config.json`` names the worker (``cluster_task``). docs/distributed.md.
    """
    import keras

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.seed)
    strategy = make_strategy(cfg.strategy)
    task = cluster_task(strategy) if cfg.strategy == "multiworker" else None
    atomic_write_json(out / "config.json", {"fit": dataclasses.asdict(cfg), "argv": sys.argv,
                                            **({"cluster_task": task} if task else {})})
    with strategy.scope():
        model = build_fn()
    if cfg.strategy == "multiworker":
        _patch_keras_multiworker(model, strategy)
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
    sync = _sync_moving_statistics(model, strategy)
    if sync is not None:  # first: the metrics and checkpoints of the epoch see the averaged statistics
        cbs.insert(0, sync)
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
