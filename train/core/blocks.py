"""The seed's building blocks (course notes, modules 1-2): conv-BN-ReLU, 1x1 convolutions,
depthwise-separable convolutions, inverted-residual bottlenecks, residual blocks in 1-D and 2-D.

All of them convert to int8 TFLite builtins that the Edge TPU maps (CONV_2D, DEPTHWISE_CONV_2D,
ADD, RELU/RELU6 fused); Conv1D becomes RESHAPE + CONV_2D.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers


def conv_bn_act(x, filters: int, kernel=3, strides=1, *, act: str | None = "relu6", name: str | None = None, dims: int = 2):
    """Convolution (no bias) -> BatchNorm -> activation. ``dims`` 1 or 2."""
    conv = layers.Conv1D if dims == 1 else layers.Conv2D
    x = conv(filters, kernel, strides=strides, padding="same", use_bias=False,
             name=None if name is None else f"{name}_conv")(x)
    x = layers.BatchNormalization(name=None if name is None else f"{name}_bn")(x)
    return _act(x, act, name)


def pointwise(x, filters: int, *, act: str | None = "relu6", name: str | None = None, dims: int = 2):
    """The 1x1 convolution: mixes channels, changes depth, costs little."""
    return conv_bn_act(x, filters, 1, act=act, name=name, dims=dims)


def depthwise_separable(x, filters: int, strides=1, *, act: str = "relu6", name: str | None = None):
    """Depthwise 3x3 (one filter per channel) followed by a pointwise 1x1 (MobileNet v1 block)."""
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False,
                               name=None if name is None else f"{name}_dw")(x)
    x = layers.BatchNormalization(name=None if name is None else f"{name}_dw_bn")(x)
    x = _act(x, act, None if name is None else f"{name}_dw")
    return pointwise(x, filters, act=act, name=None if name is None else f"{name}_pw")


def inverted_residual(x, filters: int, strides=1, *, expansion: int = 4, name: str | None = None):
    """MobileNet v2 bottleneck: 1x1 expand -> depthwise 3x3 -> linear 1x1 project (+ skip if shapes match)."""
    in_ch = x.shape[-1]
    y = pointwise(x, in_ch * expansion, name=None if name is None else f"{name}_expand")
    y = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False,
                               name=None if name is None else f"{name}_dw")(y)
    y = layers.BatchNormalization(name=None if name is None else f"{name}_dw_bn")(y)
    y = _act(y, "relu6", None if name is None else f"{name}_dw")
    y = pointwise(y, filters, act=None, name=None if name is None else f"{name}_project")
    if strides == 1 and in_ch == filters:
        y = layers.Add(name=None if name is None else f"{name}_add")([x, y])
    return y


def residual_block(x, filters: int, kernel=3, strides=1, *, dims: int = 2, name: str | None = None):
    """Two convolutions with a skip connection (ResNet); a 1x1 projection when the shape changes."""
    shortcut = x
    y = conv_bn_act(x, filters, kernel, strides, act="relu", dims=dims, name=None if name is None else f"{name}_a")
    y = conv_bn_act(y, filters, kernel, 1, act=None, dims=dims, name=None if name is None else f"{name}_b")
    if strides != 1 or x.shape[-1] != filters:
        shortcut = conv_bn_act(x, filters, 1, strides, act=None, dims=dims, name=None if name is None else f"{name}_proj")
    y = layers.Add(name=None if name is None else f"{name}_add")([shortcut, y])
    return _act(y, "relu", None if name is None else f"{name}_out")


def _act(x, act: str | None, name: str | None):
    if act is None:
        return x
    acts = {"relu": layers.ReLU(), "relu6": layers.ReLU(6.0), "leaky": layers.LeakyReLU(0.1)}
    if act not in acts:
        raise ValueError(f"activation must be one of {sorted(acts)}, got {act!r}")
    layer = acts[act]
    if name is not None:
        layer = type(layer).from_config({**layer.get_config(), "name": f"{name}_{act}"})
    return layer(x)


__all__ = ["conv_bn_act", "pointwise", "depthwise_separable", "inverted_residual", "residual_block", "keras"]


@keras.saving.register_keras_serializable(package="edgecnn")
class Clamp(layers.Layer):
    """``clip(x, -limit, limit)`` (MINIMUM + MAXIMUM in TFLite, int8 builtins the Edge TPU maps).

    On raw detection heads it bounds the int8 output range: background objectness logits reach
    -20 and more, and a range of [-22, 7] quantizes every logit in steps of 0.11, which alone
    costs mAP (docs/detect.md); beyond +-8 a sigmoid is saturated anyway.
    """

    def __init__(self, limit: float = 8.0, **kwargs):
        super().__init__(**kwargs)
        if not limit > 0:
            raise ValueError(f"Clamp limit must be > 0, got {limit}")
        self.limit = float(limit)

    def call(self, x):
        return keras.ops.clip(x, -self.limit, self.limit)

    def get_config(self):
        return {**super().get_config(), "limit": self.limit}


@keras.saving.register_keras_serializable(package="edgecnn")
class ChannelGain(layers.Layer):
    """``x * gains`` over the last axis, constant (no weights).

    The TFLite converter folds it into the preceding convolution, so the int8 file has no extra op.
    On a detection head it spreads the box logits (tx, ty, tw, th, a few units wide) over the
    clamped int8 output range that the objectness logits need: with gain g the box values are
    stored g times finer, and the decoder divides by g (metadata ``params.box_gain``).
    """

    def __init__(self, gains, **kwargs):
        super().__init__(**kwargs)
        gains = [float(g) for g in np.asarray(gains, np.float64).reshape(-1)]
        if not gains or not all(np.isfinite(g) and g > 0 for g in gains):
            raise ValueError(f"ChannelGain gains must be finite and > 0, got {gains}")
        self.gains = gains

    def call(self, x):
        return x * keras.ops.convert_to_tensor(np.asarray(self.gains, np.float32))

    def get_config(self):
        return {**super().get_config(), "gains": self.gains}
