"""The face embedder: a compact CNN -> 128-d L2-normalised embedding, trained with triplet loss.

* Backbones (``BACKBONES``): ``mobilenetv2`` (keras.applications MobileNetV2, alpha 0.35 by
  default, ImageNet weights from a local ``--weights`` file) or ``mobilefacenet`` (the seed's
  depthwise-separable and inverted-residual bottleneck blocks, from scratch).
* Heads (``HEADS``): ``gap`` (global average pooling; the default: on LFW validation people it
  scored as well as ``gdc`` and kept closer to float after int8) or ``gdc`` (MobileFaceNet's
  global depthwise convolution).
* The embedding is normalised with ``tf.math.l2_normalize`` (the int8 L2_NORMALIZATION op);
  under other Keras backends the same layer uses ``keras.ops.normalize``.
* Triplet loss on squared L2 between unit vectors, online mining (``MINING``): ``batch_hard``
  (hardest positive and negative per anchor) or ``semi_hard`` (FaceNet: the closest negative
  farther than the positive; if none, the farthest negative).
* An optional CosFace-style classification term (``--aux-weight``, default 0) on training
  people only; the classifier is dropped from the saved embedder. On LFW it lowered validation
  accuracy (0.80-0.82 vs 0.87-0.89 for triplet loss alone), so it is off.

The plug-in functions ``add_train_args``, ``run_train`` and ``representative_dataset`` live in
``edgecnn.train.face.recipe`` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers, ops

from edgecnn.train.core import blocks

INPUT_NAME = "image"
OUTPUT_NAME = "embedding"
LOGITS_NAME = "logits"
IMAGENET_HINT = (
    "ImageNet weights cannot be downloaded here (no network); pass a local file with "
    "--weights PATH, e.g. /work/shared/data/weights/mobilenet_v2_0.35_224_no_top_imagenet_tm.weights.h5, "
    "or --weights none to train from scratch"
)


@dataclass(frozen=True)
class EmbedderConfig:
    size: int = 112
    channels: int = 3
    embedding_size: int = 128
    backbone: str = "mobilenetv2"
    alpha: float = 0.35
    weights: str | None = None
    head: str = "gap"
    dropout: float = 0.2
    bn_momentum: float = 0.9

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {self.backbone!r}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {sorted(HEADS)}, got {self.head!r}")
        if self.size < 32 or self.size % 16:
            raise ValueError(f"input size must be a multiple of 16 and >= 32, got {self.size}")
        if self.embedding_size < 2:
            raise ValueError(f"embedding_size must be >= 2, got {self.embedding_size}")


@keras.saving.register_keras_serializable(package="edgecnn")
class L2Normalize(layers.Layer):
    """Unit-length rows; converts to the int8 TFLite L2_NORMALIZATION op under TensorFlow."""

    def call(self, x):
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            return tf.math.l2_normalize(x, axis=-1)
        return ops.normalize(x, axis=-1, order=2)


@keras.saving.register_keras_serializable(package="edgecnn")
class CosineClassifier(layers.Layer):
    """cos(embedding, class centre) for each training person (class centres are unit vectors)."""

    def __init__(self, num_classes: int, **kw):
        super().__init__(**kw)
        self.num_classes = int(num_classes)

    def build(self, input_shape):
        self.centres = self.add_weight(shape=(input_shape[-1], self.num_classes), initializer="glorot_uniform",
                                       name="centres")

    def call(self, x):
        return ops.matmul(x, ops.normalize(self.centres, axis=0, order=2))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


# -- backbones ----------------------------------------------------------------------------------
def mobilenetv2_backbone(x, cfg: EmbedderConfig):
    weights = cfg.weights
    if weights == "imagenet":
        weights = "imagenet"  # keras downloads; offline this fails and run_train explains
    base = keras.applications.MobileNetV2(input_shape=(cfg.size, cfg.size, cfg.channels), alpha=cfg.alpha,
                                          include_top=False, weights=weights)
    return base(x)


def mobilefacenet_backbone(x, cfg: EmbedderConfig):
    """MobileFaceNet-like, width-scaled by ``alpha`` (1.0 = the paper's 64/128 channels)."""
    c = max(8, int(round(64 * cfg.alpha / 8)) * 8)
    x = blocks.conv_bn_act(x, c, 3, strides=2, name="mfn_stem")
    x = blocks.depthwise_separable(x, c, name="mfn_dw")
    plan = [(2, c, 3, 2), (4, 2 * c, 1, 2), (2, 2 * c, 4, 1), (4, 2 * c, 1, 2), (2, 2 * c, 2, 1)]
    for stage, (t, ch, n, s) in enumerate(plan):
        for i in range(n):
            x = blocks.inverted_residual(x, ch, strides=s if i == 0 else 1, expansion=t, name=f"mfn_b{stage}_{i}")
    return blocks.pointwise(x, 8 * c, name="mfn_last")


BACKBONES = {"mobilenetv2": mobilenetv2_backbone, "mobilefacenet": mobilefacenet_backbone}


# -- heads: feature map -> embedding (before normalisation) ---------------------------------------
def gdc_head(x, cfg: EmbedderConfig):
    h, w = int(x.shape[1]), int(x.shape[2])
    x = layers.DepthwiseConv2D((h, w), padding="valid", use_bias=False, name="gdc_dw")(x)
    x = layers.BatchNormalization(name="gdc_bn")(x)
    x = layers.Reshape((int(x.shape[-1]),), name="gdc_flat")(x)
    return _project(x, cfg)


def gap_head(x, cfg: EmbedderConfig):
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return _project(x, cfg)


def _project(x, cfg: EmbedderConfig):
    if cfg.dropout > 0:
        x = layers.Dropout(cfg.dropout, name="head_dropout")(x)
    x = layers.Dense(cfg.embedding_size, use_bias=False, name="head_dense")(x)
    return layers.BatchNormalization(name="head_bn")(x)


HEADS = {"gdc": gdc_head, "gap": gap_head}


def build_embedder(cfg: EmbedderConfig) -> keras.Model:
    """``keras.Model({"image": (S, S, C) in [-1, 1]}, {"embedding": (D,) unit vector})``."""
    inp = keras.Input((cfg.size, cfg.size, cfg.channels), name=INPUT_NAME)
    feat = BACKBONES[cfg.backbone](inp, cfg)
    emb = L2Normalize(name=OUTPUT_NAME)(HEADS[cfg.head](feat, cfg))
    model = keras.Model({INPUT_NAME: inp}, {OUTPUT_NAME: emb}, name="face_embedder")
    set_bn_momentum(model, cfg.bn_momentum)
    return model


def set_bn_momentum(model, momentum: float) -> None:
    """BatchNorm moving statistics must follow the face domain within a short fine-tuning run
    (keras.applications' MobileNetV2 uses 0.999, i.e. ImageNet statistics for ~thousands of steps)."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = momentum


def build_training_model(embedder: keras.Model, num_classes: int) -> keras.Model:
    """The embedder plus a cosine classifier over the training people (dropped after training)."""
    emb = embedder.outputs[0]
    logits = CosineClassifier(num_classes, name=LOGITS_NAME)(emb)
    return keras.Model({INPUT_NAME: embedder.inputs[0]}, {OUTPUT_NAME: emb, LOGITS_NAME: logits},
                       name="face_trainer")


def extract_embedder(model: keras.Model) -> keras.Model:
    """The embedding sub-model of a training model (or the model itself)."""
    emb = model.get_layer(OUTPUT_NAME).output
    return keras.Model({INPUT_NAME: model.get_layer(INPUT_NAME).output}, {OUTPUT_NAME: emb}, name="face_embedder")


# -- losses ---------------------------------------------------------------------------------------
def pairwise_squared_l2(emb):
    """(N, D) unit vectors -> (N, N) squared distances ``2 - 2 a.b`` clipped at 0."""
    return ops.maximum(2.0 - 2.0 * ops.matmul(emb, ops.transpose(emb)), 0.0)


def _masks(labels):
    labels = ops.reshape(labels, (-1,))
    same = ops.equal(labels[:, None], labels[None, :])
    eye = ops.eye(ops.shape(labels)[0], dtype="bool")
    return ops.logical_and(same, ops.logical_not(eye)), ops.logical_not(same)


def batch_hard(labels, emb, margin: float):
    """Per anchor: max d(a, p) - min d(a, n) + margin, hinged; mean over anchors with both."""
    d = pairwise_squared_l2(emb)
    pos, neg = _masks(labels)
    hardest_pos = ops.max(ops.where(pos, d, 0.0), axis=1)
    hardest_neg = ops.min(ops.where(neg, d, 1e9), axis=1)
    valid = ops.cast(ops.logical_and(ops.any(pos, axis=1), ops.any(neg, axis=1)), d.dtype)
    loss = ops.relu(hardest_pos - hardest_neg + margin) * valid
    return ops.sum(loss) / ops.maximum(ops.sum(valid), 1.0)


def semi_hard(labels, emb, margin: float):
    """Every (a, p): the closest n with d(a, n) > d(a, p) (else the farthest n); mean hinge."""
    d = pairwise_squared_l2(emb)
    pos, neg = _masks(labels)
    d_ap = d[:, :, None]  # (a, p, 1)
    d_an = d[:, None, :]  # (a, 1, n)
    negs = neg[:, None, :]
    semi = ops.logical_and(negs, ops.greater(d_an, d_ap))
    closest_semi = ops.min(ops.where(semi, d_an, 1e9), axis=2)
    farthest = ops.max(ops.where(neg, d, -1.0), axis=1)[:, None]
    has_semi = ops.any(semi, axis=2)
    chosen = ops.where(has_semi, closest_semi, farthest)
    valid = ops.cast(ops.logical_and(pos, ops.any(neg, axis=1)[:, None]), d.dtype)
    loss = ops.relu(d - chosen + margin) * valid
    return ops.sum(loss) / ops.maximum(ops.sum(valid), 1.0)


MINING = {"batch_hard": batch_hard, "semi_hard": semi_hard}


@keras.saving.register_keras_serializable(package="edgecnn")
class TripletLoss(keras.losses.Loss):
    """Triplet loss with online mining; y_true = person ids (N,), y_pred = unit embeddings (N, D)."""

    def __init__(self, margin: float = 0.2, mining: str = "batch_hard", name="triplet", **kw):
        super().__init__(name=name, **kw)
        if mining not in MINING:
            raise ValueError(f"mining must be one of {sorted(MINING)}, got {mining!r}")
        self.margin, self.mining = float(margin), mining

    def call(self, y_true, y_pred):
        return MINING[self.mining](ops.reshape(y_true, (-1,)), y_pred, self.margin)

    def get_config(self):
        return {"margin": self.margin, "mining": self.mining, "name": self.name}


@keras.saving.register_keras_serializable(package="edgecnn")
class CosFaceLoss(keras.losses.Loss):
    """Softmax over ``scale * (cos - margin * onehot)`` (large-margin cosine loss)."""

    def __init__(self, scale: float = 30.0, margin: float = 0.25, name="cosface", **kw):
        super().__init__(name=name, **kw)
        self.scale, self.margin = float(scale), float(margin)

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        onehot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        logits = self.scale * (y_pred - self.margin * onehot)
        return ops.mean(keras.losses.categorical_crossentropy(onehot, logits, from_logits=True))

    def get_config(self):
        return {"scale": self.scale, "margin": self.margin, "name": self.name}

