"""The YOLO loss for one head, in TensorFlow (Keras loss object, serialisable).

``y_pred``: the raw head ``[B, Sy, Sx, A*(5+C)]``, its box channels multiplied by ``box_gain``. ``y_true``: ``[B, Sy*Sx*A + M, 5+C]`` from
``detect_data.build_targets`` (per-anchor targets, then the M ground-truth boxes).

* box: ``1 - GIoU`` between the decoded box (the ``yolov5`` decoder of ``edge/detect/runtime.py``) and
  the target box, over positives;
* objectness: binary cross-entropy against ``(1 - r) + r * IoU(pred, target)`` (``r`` =
  ``iou_ratio``; 1 as in YOLOv5, 0 as in YOLOv3) for positives and 0 for
  negatives, except negatives whose box already overlaps some ground truth with IoU above
  ``ignore_thresh`` (they are ignored, YOLOv3-style), averaged over all anchors;
* classification: binary cross-entropy per class over positives (skipped when C == 1).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def _giou(a, b):
    """GIoU and IoU of xyxy boxes of matching shape ``[..., 4]``."""
    iw = tf.nn.relu(tf.minimum(a[..., 2], b[..., 2]) - tf.maximum(a[..., 0], b[..., 0]))
    ih = tf.nn.relu(tf.minimum(a[..., 3], b[..., 3]) - tf.maximum(a[..., 1], b[..., 1]))
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    cw = tf.maximum(a[..., 2], b[..., 2]) - tf.minimum(a[..., 0], b[..., 0])
    ch = tf.maximum(a[..., 3], b[..., 3]) - tf.minimum(a[..., 1], b[..., 1])
    hull = cw * ch + 1e-7
    return iou - (hull - union) / hull, iou


@keras.saving.register_keras_serializable(package="edgecnn")
class YoloHeadLoss(keras.losses.Loss):
    def __init__(self, grid, stride, anchors, num_classes, ignore_thresh=0.5, box_weight=0.05,
                 obj_weight=1.0, cls_weight=0.5, iou_ratio=1.0, box_gain=1.0, name="yolo_head_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.grid = [int(v) for v in grid]
        self.stride = float(stride)
        self.anchors = [[float(w), float(h)] for w, h in anchors]
        self.num_classes = int(num_classes)
        self.ignore_thresh = float(ignore_thresh)
        self.box_weight, self.obj_weight, self.cls_weight = float(box_weight), float(obj_weight), float(cls_weight)
        self.iou_ratio = float(iou_ratio)
        self.box_gain = float(box_gain)
        sy, sx = self.grid
        a = len(self.anchors)
        ys, xs = np.meshgrid(np.arange(sy), np.arange(sx), indexing="ij")
        cells = np.stack([xs, ys], -1).reshape(-1, 1, 2).repeat(a, axis=1).reshape(-1, 2)
        self._cells = tf.constant(cells, tf.float32)
        self._anchor_wh = tf.constant(np.tile(np.asarray(self.anchors, np.float32), (sy * sx, 1)))

    def get_config(self):
        return {"grid": self.grid, "stride": self.stride, "anchors": self.anchors,
                "num_classes": self.num_classes, "ignore_thresh": self.ignore_thresh,
                "box_weight": self.box_weight, "obj_weight": self.obj_weight,
                "cls_weight": self.cls_weight, "iou_ratio": self.iou_ratio, "box_gain": self.box_gain,
                "name": self.name}

    def decode(self, p):
        s = tf.sigmoid(p[..., :4] / self.box_gain)
        xy = (s[..., 0:2] * 2.0 - 0.5 + self._cells) * self.stride
        wh = tf.square(s[..., 2:4] * 2.0) * self._anchor_wh
        return tf.concat([xy - wh / 2, xy + wh / 2], axis=-1)

    def call(self, y_true, y_pred):
        sy, sx = self.grid
        n = sy * sx * len(self.anchors)
        depth = 5 + self.num_classes
        p = tf.reshape(tf.cast(y_pred, tf.float32), [-1, n, depth])
        y_true = tf.cast(y_true, tf.float32)
        t, gt = y_true[:, :n], y_true[:, n:]
        pos = t[..., 4]
        npos = tf.maximum(tf.reduce_sum(pos, axis=1), 1.0)
        pbox = self.decode(p)
        giou, iou = _giou(pbox, t[..., :4])
        box_loss = tf.reduce_sum(pos * (1.0 - giou), axis=1) / npos
        _, iou_gt = _giou(pbox[:, :, None, :], gt[:, None, :, :4])
        best = tf.reduce_max(iou_gt * gt[:, None, :, 4], axis=2)
        keep = tf.where((pos < 0.5) & (best > self.ignore_thresh), 0.0, 1.0)
        iou_t = tf.stop_gradient(tf.clip_by_value(iou, 0.0, 1.0))
        obj_target = pos * ((1.0 - self.iou_ratio) + self.iou_ratio * iou_t)
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=obj_target, logits=p[..., 4])
        obj_loss = tf.reduce_sum(bce * keep, axis=1) / float(n)
        total = self.box_weight * box_loss + self.obj_weight * obj_loss
        if self.num_classes > 1:
            cls_bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=t[..., 5:], logits=p[..., 5:])
            total += self.cls_weight * tf.reduce_sum(pos * tf.reduce_mean(cls_bce, -1), axis=1) / npos
        return total
