"""YOLO-style detector: backbone (seed blocks or a Keras application), 1-3 output scales,
k-means (IoU distance) anchors, losses, validation mAP and calibration data; the training run
(``edgecnn train detect``) is :mod:`edgecnn.train.detect.recipe`.

The head emits raw ``[1, Sy, Sx, A*(5+C)]`` tensors named ``p4`` (stride 16) and ``p5``
(stride 32), and with ``scales=3`` also ``p3`` (stride 8, for small objects such as faces in
crowds); decoding and NMS happen in NumPy (``edgecnn.edge.detect.runtime``), so the float Keras
model and the int8 model are judged by the same code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgecnn.edge.core.errors import EdgeError
from edgecnn.edge.detect import boxes as B
from edgecnn.train.core.blocks import (  # registered for load_keras: saved detectors hold these layers
    ChannelGain,
    Clamp,
)
from edgecnn.train.detect import data as D

BACKBONES = ("tiny", "convnet", "mobilenet", "mobilenet_v2")
SCALES = {1: (16,), 2: (16, 32), 3: (8, 16, 32)}  # scales -> head strides (finest first)
OBJ_BALANCE = {8: 4.0, 16: 1.0, 32: 0.4}  # YOLOv5's per-stride objectness balance
WEIGHTS_HINT = ("ImageNet weights cannot be downloaded here; pass --weights PATH to a local .weights.h5 "
                "(e.g. ../shared/data/weights/mobilenet_2_5_224_tf_no_top.weights.h5 for --backbone mobilenet "
                "--alpha 0.25) or --weights none")


@dataclass(frozen=True)
class DetectorConfig:
    img_size: int = 320
    backbone: str = "mobilenet"
    alpha: float = 0.25
    weights: str = "none"          # PATH | imagenet | none
    freeze: int = 0                # freeze the first N backbone layers
    scales: int = 2                # 1: p4 only, 2: p4 + p5, 3: p3 + p4 + p5 (stride 8 for small objects)
    anchors_per_scale: int = 3
    width: int = 96                # head channels
    ignore_thresh: float = 0.5
    head_clip: float = 8.0         # raw head outputs clamped to +-head_clip (0: off); bounds the int8 output step
    box_gain: float = 1.0          # tx, ty, tw, th leave the model x box_gain (finer int8 steps); decode divides
    obj_gain: float = 1.0          # multipliers on the YOLOv5-style loss weights
    cls_gain: float = 1.0
    iou_gain: float = 1.0          # ... and on the box (1 - GIoU) loss weight

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone: expected one of {list(BACKBONES)}, got {self.backbone!r}")
        if self.scales not in SCALES:
            raise ValueError(f"scales: expected one of {sorted(SCALES)}, got {self.scales}")
        if self.img_size % 32:
            raise ValueError(f"img_size: expected a multiple of 32, got {self.img_size}")
        if self.head_clip < 0:
            raise ValueError(f"head_clip: expected >= 0 (0 = off), got {self.head_clip}")
        if not (np.isfinite(self.box_gain) and self.box_gain > 0):
            raise ValueError(f"box_gain: expected a number > 0, got {self.box_gain}")


# --------------------------------------------------------------------------- anchors


def kmeans_anchors(wh, k: int, seed: int = 0, iters: int = 100) -> np.ndarray:
    """k-means on box sizes with distance ``1 - IoU`` (boxes aligned at a corner); sorted by area.

    Returns ``(k, 2)`` float32. Fewer distinct boxes than ``k`` are padded by scaled copies.
    """
    wh = np.asarray(wh, np.float64).reshape(-1, 2)
    wh = wh[(wh > 0).all(axis=1)]
    if len(wh) == 0:
        raise ValueError("kmeans_anchors: no boxes with positive width and height")
    rng = np.random.default_rng(seed)
    uniq = np.unique(wh, axis=0)
    centers = uniq[rng.choice(len(uniq), min(k, len(uniq)), replace=False)]
    for _ in range(iters):
        assign = np.argmax(B.iou_wh(wh, centers), axis=1)
        new = np.array([np.median(wh[assign == j], axis=0) if np.any(assign == j) else centers[j]
                        for j in range(len(centers))])
        if np.allclose(new, centers):
            break
        centers = new
    while len(centers) < k:
        centers = np.vstack([centers, centers[-1] * 1.5])
    return centers[np.argsort(centers.prod(axis=1))].astype(np.float32)


def head_specs(cfg: DetectorConfig, anchors: np.ndarray) -> list[dict]:
    """Anchors split over the scales, small ones on the finer grid."""
    strides = list(SCALES[cfg.scales])
    a = cfg.anchors_per_scale
    return [{"name": f"p{int(np.log2(s))}", "stride": s, "grid": [cfg.img_size // s] * 2,
             "anchors": anchors[i * a:(i + 1) * a].round(2).tolist()} for i, s in enumerate(strides)]


# --------------------------------------------------------------------------- model


def _backbone(cfg: DetectorConfig, inp):
    """(stride-16 features, stride-32 features) and the backbone's layer list."""
    _, c4, c5, base = _backbone_features(cfg, inp)
    return c4, c5, base


def _backbone_features(cfg: DetectorConfig, inp):
    """(stride-8, stride-16, stride-32 features) and the backbone; the stride-8 tensor is an
    intermediate of the same graph (only ``scales=3`` attaches a head to it)."""
    import keras

    from edgecnn.train.core.blocks import conv_bn_act, depthwise_separable, inverted_residual

    if cfg.backbone == "tiny":
        x = conv_bn_act(inp, 16, 3, 2, name="stem")
        c3 = None
        for i, (f, s) in enumerate([(24, 2), (32, 2), (48, 1), (64, 2)]):
            x = depthwise_separable(x, f, s, name=f"bb{i}")
            c3 = x if i == 2 else c3
        c4 = inverted_residual(x, 64, expansion=3, name="bb_ir4")
        x = depthwise_separable(c4, 128, 2, name="bb5")
        c5 = inverted_residual(x, 128, expansion=2, name="bb_ir5")
        return c3, c4, c5, None
    if cfg.backbone == "convnet":  # plain 3x3 convolutions: learns from scratch in a few hundred steps
        x = inp
        c3 = None
        for i, (f, s) in enumerate([(16, 2), (32, 2), (48, 1), (64, 2), (96, 2)]):
            x = conv_bn_act(x, f, 3, s, name=f"cb{i}")
            c3 = x if i == 3 else c3
        c4 = conv_bn_act(x, 96, 3, 1, name="cb_c4")
        x = conv_bn_act(c4, 128, 3, 2, name="cb5")
        c5 = conv_bn_act(x, 128, 3, 1, name="cb_c5")
        return c3, c4, c5, None
    apps = {"mobilenet": (keras.applications.MobileNet, "conv_pw_5_relu", "conv_pw_11_relu", "conv_pw_13_relu"),
            "mobilenet_v2": (keras.applications.MobileNetV2, "block_6_expand_relu", "block_13_expand_relu",
                             "out_relu")}
    ctor, n3, n4, n5 = apps[cfg.backbone]
    weights = None if cfg.weights in ("none", "") else cfg.weights
    if weights not in (None, "imagenet") and not Path(weights).is_file():
        raise EdgeError(f"--weights: file not found: {weights}")
    try:
        base = ctor(input_tensor=inp, alpha=cfg.alpha, include_top=False, weights=weights)
    except Exception as exc:  # download failures surface as many exception types
        if weights == "imagenet":
            raise EdgeError(f"{WEIGHTS_HINT} ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
        raise EdgeError(f"--weights {weights}: cannot load into {cfg.backbone} alpha={cfg.alpha} ({exc})") from None
    for layer in base.layers[: cfg.freeze]:
        layer.trainable = False
    return base.get_layer(n3).output, base.get_layer(n4).output, base.get_layer(n5).output, base


def build_model(cfg: DetectorConfig, heads: list[dict], num_classes: int):
    """Functional model ``{"image": [N,H,W,3]} -> {head name: [N,Sy,Sx,A*(5+C)]}``."""
    import keras
    from keras import layers

    from edgecnn.train.core.blocks import depthwise_separable, pointwise

    inp = keras.Input((cfg.img_size, cfg.img_size, 3), name="image")
    c3, c4, c5, _ = _backbone_features(cfg, inp)
    depth = cfg.anchors_per_scale * (5 + num_classes)
    w = cfg.width
    outputs = {}
    p5 = depthwise_separable(pointwise(c5, w, name="neck5_in"), w, name="neck5")
    if cfg.scales >= 2:
        outputs["p5"] = layers.Conv2D(depth, 1, name="p5")(p5)
        up = _upsample(pointwise(p5, w // 2, name="neck5_lat"), cfg.img_size // 16)
        p4 = layers.Concatenate(name="neck4_cat")([up, pointwise(c4, w // 2, name="neck4_lat")])
    else:
        up = _upsample(p5, cfg.img_size // 16)
        p4 = layers.Concatenate(name="neck4_cat")([up, c4])
    p4 = depthwise_separable(p4, w, name="neck4")
    outputs["p4"] = layers.Conv2D(depth, 1, name="p4")(p4)
    if cfg.scales == 3:  # one more top-down step: stride 8
        up = _upsample(pointwise(p4, w // 2, name="neck4_lat_up"), cfg.img_size // 8, name="neck4_up")
        p3 = layers.Concatenate(name="neck3_cat")([up, pointwise(c3, w // 2, name="neck3_lat")])
        p3 = depthwise_separable(p3, w, name="neck3")
        outputs["p3"] = layers.Conv2D(depth, 1, name="p3")(p3)
    if cfg.box_gain != 1.0:
        gains = np.tile([cfg.box_gain] * 4 + [1.0] * (1 + num_classes), cfg.anchors_per_scale)
        outputs = {k: ChannelGain(gains, name=f"{k}_gain")(v) for k, v in outputs.items()}
    if cfg.head_clip:
        outputs = {k: Clamp(cfg.head_clip, name=f"{k}_clamp")(v) for k, v in outputs.items()}
    model = keras.Model({"image": inp}, {h["name"]: outputs[h["name"]] for h in heads}, name="yolo_detector")
    _init_bias(model, heads, num_classes, cfg.img_size)
    return model


def _upsample(x, size: int, name: str = "neck5_up"):
    """Nearest 2x upsampling as RESIZE_NEAREST_NEIGHBOR (UpSampling2D converts to a 5-D TILE)."""
    from keras import layers

    return layers.Resizing(size, size, interpolation="nearest", name=name)(x)


def _init_bias(model, heads, num_classes: int, img_size: int) -> None:
    """Objectness prior ~8 objects per image; class prior 1/C (YOLOv5's initialisation)."""
    for h in heads:
        layer = model.get_layer(h["name"])
        b = np.zeros(layer.bias.shape, np.float32).reshape(len(h["anchors"]), 5 + num_classes)
        b[:, 4] = np.log(8 / (img_size / h["stride"]) ** 2)
        b[:, 5:] = np.log(0.6 / max(num_classes - 0.99, 1.0))
        layer.bias.assign(b.reshape(-1))


def losses_for(heads, num_classes: int, cfg: DetectorConfig) -> dict:
    """YOLOv5's weights: box 0.05, objectness 1.0 x (img/640)^2 x per-scale balance, classes
    0.5 x C/80, each x 3/scales; ``cfg.obj_gain``/``cls_gain`` multiply them (small from-scratch
    models at small inputs learn faster with a larger objectness weight). The losses decode the
    heads of a model built from the same ``cfg`` (its ``box_gain``)."""
    from edgecnn.train.detect.loss import YoloHeadLoss

    img_size, obj_gain, cls_gain = cfg.img_size, cfg.obj_gain, cfg.cls_gain
    if cfg.iou_gain <= 0 or obj_gain <= 0 or cls_gain <= 0:
        raise ValueError(f"loss gains must be > 0, got iou {cfg.iou_gain}, obj {obj_gain}, cls {cls_gain}")

    balance = OBJ_BALANCE
    nl = len(heads)
    return {h["name"]: YoloHeadLoss(h["grid"], h["stride"], h["anchors"], num_classes, cfg.ignore_thresh,
                                    box_weight=cfg.iou_gain * 0.05 * 3 / nl,
                                    obj_weight=obj_gain * balance[h["stride"]] * (img_size / 640) ** 2 * 3 / nl,
                                    cls_weight=cls_gain * 0.5 * max(num_classes, 1) / 80 * 3 / nl,
                                    box_gain=cfg.box_gain, name=f"loss_{h['name']}")
            for h in heads}


# --------------------------------------------------------------------------- metadata


def make_detect_metadata(cfg: DetectorConfig, heads, labels, provenance: dict) -> dict:
    from edgecnn.edge.core.metadata import make_metadata

    s = cfg.img_size
    c = len(labels)
    outputs = {h["name"]: {"meaning": f"raw YOLO head, stride {h['stride']}: [1, {h['grid'][0]}, {h['grid'][1]}, "
                                      f"{len(h['anchors'])}*(5+{c})], per anchor tx, ty, tw, th (each x box_gain), "
                                      "obj, class logits"}
               for h in heads}
    params = {"img_size": [s, s], "num_classes": c, "decoder": "yolov5", "box_gain": cfg.box_gain,
              "heads": [{k: h[k] for k in ("name", "stride", "grid", "anchors")} for h in heads],
              "conf": 0.25, "iou": 0.45, "max_det": 100, "letterbox_fill": 114, "config": asdict(cfg)}
    inputs = {"image": {"shape": [1, s, s, 3], "layout": "NHWC", "color": "RGB",
                        "normalization": {"mean": [D.MEAN] * 3, "std": [D.STD] * 3},
                        "meaning": "letterboxed RGB image (fill 114), (pixel - mean) / std"}}
    return make_metadata("detect", labels=list(labels), inputs=inputs, outputs=outputs, params=params,
                         provenance=provenance)


class _LiveModel:
    """A Keras model in training behind the EdgeModel interface (for edge/ metric code)."""

    backend = "keras"

    def __init__(self, model, metadata):
        self.model, self.metadata = model, metadata
        self.inputs = [type("T", (), {"name": "image"})()]

    def run(self, inputs):
        x = inputs["image"] if isinstance(inputs, dict) else inputs
        out = self.model({"image": np.asarray(x, np.float32)}, training=False)
        return {k: np.asarray(v) for k, v in out.items()}


def letterboxed_batches(samples: D.Samples, img_size: int, batch_size: int = 16, max_batches: int = 20):
    """Un-augmented, letterboxed input batches ``{"image": x}`` (for BatchNorm recalibration)."""
    from edgecnn.train.detect.augment import letterbox_sample

    n = min(len(samples), batch_size * max_batches)
    for start in range(0, n, batch_size):
        imgs = [letterbox_sample(samples.images[i], samples.boxes[i], samples.class_ids[i], (img_size, img_size))[0]
                for i in range(start, min(n, start + batch_size))]
        yield {"image": D.normalize(np.stack(imgs))}


def validation_map(model, metadata, val: D.Samples) -> dict:
    """mAP@0.5 and @[.5:.95] of a Keras model on validation samples, through edge/ code."""
    from edgecnn.edge.detect.evaluate import EVAL_CONF, evaluate_detections
    from edgecnn.edge.detect.runtime import Detector

    det = Detector(_LiveModel(model, metadata)).with_config(conf=EVAL_CONF, max_det=300)
    preds = [det(img) for img in val.images]
    res = evaluate_detections(preds, list(zip(val.boxes, val.class_ids, strict=False)), det.labels)
    return {"val_map50": res["map50"], "val_map50_95": res["map50_95"]}


def _letterboxed_wh(samples: D.Samples, size: int) -> np.ndarray:
    whs = []
    for img, bx in zip(samples.images, samples.boxes, strict=False):
        s = size / max(img.shape[:2])
        whs.append((bx[:, 2:] - bx[:, :2]) * s)
    return np.concatenate(whs) if whs else np.zeros((0, 2))


def representative_dataset(metadata: dict, data_path, num_samples: int, seed: int = 0):
    """Calibration inputs ``{"image": [1,H,W,3]}``: the device's letterbox + normalisation."""
    from edgecnn.edge.core.image import letterbox

    params = metadata["params"]
    size = tuple(params["img_size"])
    if str(data_path).startswith("builtin:"):
        samples = D.synthetic_samples(num_samples, seed + 7919)
        images = samples.images
    else:
        from edgecnn.edge.core.image import load_image
        from edgecnn.edge.detect.annotations import read_annotations

        recs = read_annotations(data_path).records
        order = np.random.default_rng(seed).permutation(len(recs))[:num_samples]
        images = (load_image(recs[i].path) for i in order)
    for img in images:
        canvas, _ = letterbox(img, size, fill=int(params.get("letterbox_fill", 114)))
        yield {"image": D.normalize(canvas)[None]}
