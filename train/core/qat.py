"""Quantization-aware fine-tuning (QAT) for the int8 converter, in plain Keras 3.

Why: post-training int8 costs our MobileNet detectors 2-5 mAP points and the face embedder a
cosine of 0.987 to float. Measured on the kangaroo detector (docs/detect.md): rounding the
BN-folded weights to the per-channel int8 grid alone makes almost all of the output error
(|int8 - float| mean 0.153 of 0.155); rounding the ReLU6 outputs to the [0, 6] / 255 grid adds
little. Percentile activation calibration changed nothing (the ReLU6 outputs saturate at 6 in
3-8 % of the values, so [0, 6] is the right range).

What: a few epochs of fine-tuning where the forward pass sees what the converter will make:

* weights: each Conv/DepthwiseConv/Dense kernel is folded with the BatchNormalization that
  consumes it (``w * gamma / sqrt(var + eps)``, as the converter folds it), rounded to a
  symmetric per-output-channel int8 grid (step ``max|w_folded| / 127``, as the converter
  quantizes it) and unfolded again; gradients flow to the float "latent" weights (the
  straight-through estimator). BatchNormalization is frozen (inference statistics), so the
  folding scale does not move under the weights;
* activations: ReLU6 outputs are rounded to the ``[0, 6] / 255`` grid (straight-through).

After the last step the kernels stay on the grid, so the saved float model is exactly the
model the converter quantizes: its weights convert without rounding error. Nothing here
changes the architecture or the saved file format.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class QATConfig:
    """``epochs`` of fine-tuning at learning rate ``lr`` (cosine decay to 5 %); ``activations``:
    also round the ReLU6 outputs."""

    epochs: int = 0
    lr: float = 1e-4
    activations: bool = True

    def __post_init__(self):
        if self.epochs < 0:
            raise ValueError(f"QAT epochs must be >= 0, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"QAT learning rate must be > 0, got {self.lr}")


def add_args(add: Callable[..., Any]) -> None:
    """The QAT flags of ``edgecnn train detect|face``; ``add``: the parser's ``add_argument``."""
    add("--qat-epochs", type=int, default=0,
        help="after training, N epochs of quantization-aware fine-tuning (int8 weight grid, ReLU6 output grid; "
             "train/core/qat.py): the int8 model then keeps the float model's accuracy (default 0 = off)")
    add("--qat-lr", type=float, default=1e-4, help="QAT learning rate (default 1e-4)")
    add("--qat-from", default=None, metavar="MODEL",
        help="no training: fine-tune this trained .keras model with QAT (same data, seed and split as its "
             "training) and write it to --out")


def config_from_args(args) -> QATConfig:
    """QATConfig from the ``add_args`` flags; ``--qat-from`` without epochs is refused."""
    cfg = QATConfig(epochs=args.qat_epochs, lr=args.qat_lr)
    if args.qat_from and not cfg.epochs:
        raise ValueError("--qat-from needs --qat-epochs N (N > 0)")
    return cfg


def record(cfg: QATConfig, history: list[float]) -> dict:
    """What a model's provenance keeps of a fine-tuning: the config and the loss per epoch."""
    return {**asdict(cfg), "loss": [round(v, 5) for v in history]}


@dataclass
class Target:
    """A kernel the converter quantizes per output channel, with the BatchNormalization folded into it."""

    layer: Any
    bn: Any | None
    depthwise: bool

    def fold_scale(self) -> np.ndarray:
        """Per-channel factor the converter multiplies the kernel with (ones without a BN)."""
        w = self.layer.kernel
        n = int(np.prod(w.shape[-2:])) if self.depthwise else int(w.shape[-1])
        if self.bn is None:
            return np.ones(n, np.float32)
        var = _numpy(self.bn.moving_variance)
        gamma = _numpy(self.bn.gamma) if self.bn.gamma is not None else 1.0
        return (gamma / np.sqrt(var + self.bn.epsilon)).astype(np.float32)


def _kernel_layers():
    import keras

    return (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


def all_layers(model) -> list:
    """Every leaf layer, nested models included."""
    return [layer for layer in model._flatten_layers(include_self=False) if not hasattr(layer, "layers")]


def _producer(layer):
    """The layer whose output feeds ``layer`` (its first input), or None."""
    nodes = getattr(layer, "_inbound_nodes", [])
    if not nodes or not nodes[0].input_tensors:
        return None
    return nodes[0].input_tensors[0]._keras_history.operation


def targets(model) -> list[Target]:
    """The quantized kernels of ``model``, each with the BatchNormalization that consumes it."""
    import keras

    layers = all_layers(model)
    bn_of = {}
    for layer in layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            src = _producer(layer)
            if src is not None:
                bn_of[id(src)] = layer
    return [Target(layer, bn_of.get(id(layer)), isinstance(layer, keras.layers.DepthwiseConv2D))
            for layer in layers if isinstance(layer, _kernel_layers()) and getattr(layer, "kernel", None) is not None]


def _fold(w: np.ndarray, scale: np.ndarray, depthwise: bool):
    """(broadcast scale, channel-reduction axes) for a kernel: channels are the last axis (Conv,
    Dense), or the last two for a depthwise kernel ``(kh, kw, in, multiplier)``."""
    if depthwise:
        return scale.reshape(w.shape[-2:])[None, None], (0, 1)
    return scale, tuple(range(w.ndim - 1))


def _step(folded: np.ndarray, axes) -> np.ndarray:
    step = np.abs(folded).max(axis=axes, keepdims=True) / 127.0
    return np.where(step > 0, step, 1.0)


def quantize_kernel(w: np.ndarray, scale: np.ndarray, depthwise: bool) -> np.ndarray:
    """``w`` with ``w * scale`` rounded to the symmetric per-channel int8 grid (step max|.| / 127)."""
    w = np.asarray(w, np.float32)
    s, axes = _fold(w, scale, depthwise)
    folded = w * s
    step = _step(folded, axes)
    safe = np.where(s != 0, s, 1.0)
    return np.where(s != 0, np.round(folded / step) * step / safe, w).astype(np.float32)


def grid_error(model) -> float:
    """Largest distance of a folded kernel value from its int8 grid, in grid steps (~0 after ``finetune``)."""
    worst = 0.0
    for t in targets(model):
        w, scale = _numpy(t.layer.kernel), t.fold_scale()
        s, axes = _fold(w, scale, t.depthwise)
        err = np.abs(quantize_kernel(w, scale, t.depthwise) - w) * np.abs(s) / _step(w * s, axes)
        worst = max(worst, float(err.max()))
    return worst


def _numpy(v) -> np.ndarray:
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v)


def snap(tgts: list[Target], scales: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Put every kernel on its int8 grid; returns the float kernels it replaced. ``scales``: the
    targets' ``fold_scale()``, when the caller already has them (they do not change while the
    BatchNormalization is frozen)."""
    scales = [t.fold_scale() for t in tgts] if scales is None else scales
    latent = []
    for t, scale in zip(tgts, scales, strict=True):
        w = _numpy(t.layer.kernel)
        latent.append(w)
        t.layer.kernel.assign(quantize_kernel(w, scale, t.depthwise))
    return latent


def _restore(tgts: list[Target], latent: list[np.ndarray]) -> None:
    for t, w in zip(tgts, latent, strict=True):
        t.layer.kernel.assign(w)


def _is_relu6(layer) -> bool:
    import keras

    return isinstance(layer, keras.layers.ReLU) and layer.max_value is not None and float(layer.max_value) == 6.0 \
        and not float(layer.negative_slope) and not float(layer.threshold)


@contextlib.contextmanager
def fake_quant_relu6(model):
    """Within the block, every ReLU6 layer rounds its output to the int8 grid [0, 6] / 255."""
    from keras import ops

    def call(x):
        y = ops.clip(x, 0.0, 6.0)
        return y + ops.stop_gradient(ops.round(y * (255.0 / 6.0)) * (6.0 / 255.0) - y)

    patched = [layer for layer in all_layers(model) if _is_relu6(layer)]
    for layer in patched:
        layer.call = call
    try:
        yield len(patched)
    finally:
        for layer in patched:
            del layer.call


@contextlib.contextmanager
def frozen_batchnorm(model):
    """BatchNormalization layers not trainable (inference statistics) within the block."""
    import keras

    bns = [layer for layer in all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    was = [layer.trainable for layer in bns]
    for layer in bns:
        layer.trainable = False
    try:
        yield
    finally:
        for layer, t in zip(bns, was, strict=True):
            layer.trainable = t


def finetune(model, seq, loss_fn: Callable[[Any, Any], Any], cfg: QATConfig, log=None) -> list[float]:
    """Fine-tune ``model`` in place for ``cfg.epochs``; returns the mean loss per epoch.

    ``seq``: ``len(seq)`` batches ``seq[i] = (x, y)`` (a keras PyDataset; ``on_epoch_end`` is
    called after each epoch); ``loss_fn(y, model(x, training=True))`` is a scalar. The kernels
    end on their int8 grid (also with ``epochs == 0``).
    """
    import keras
    import tensorflow as tf

    log = log or (lambda msg: print(msg, file=sys.stderr))
    tgts = targets(model)
    history: list[float] = []
    steps = len(seq)
    sched = keras.optimizers.schedules.CosineDecay(cfg.lr, max(1, cfg.epochs * steps), alpha=0.05)
    opt = keras.optimizers.Adam(sched, clipnorm=10.0)
    with frozen_batchnorm(model), (fake_quant_relu6(model) if cfg.activations else contextlib.nullcontext()):
        variables = model.trainable_variables
        scales = [t.fold_scale() for t in tgts]  # BatchNorm is frozen: read its statistics once, not every step
        for epoch in range(cfg.epochs):
            t0, total = time.time(), 0.0
            for i in range(steps):
                x, y = seq[i]
                latent = snap(tgts, scales)
                with tf.GradientTape() as tape:
                    loss = loss_fn(y, model(x, training=True))
                grads = tape.gradient(loss, variables)
                _restore(tgts, latent)
                opt.apply_gradients([(g, v) for g, v in zip(grads, variables, strict=True) if g is not None])
                total += float(loss)
            if hasattr(seq, "on_epoch_end"):
                seq.on_epoch_end()
            history.append(total / max(steps, 1))
            log(f"qat epoch {epoch + 1}/{cfg.epochs}: loss {history[-1]:.4f} ({time.time() - t0:.0f} s)")
    snap(tgts)
    return history
