"""Keras vs int8 head error by channel group, in decoder units (box channels divided by box_gain).

    python research/detect_head_error.py FLOAT.keras INT8.tflite --data DIR [--split split.json] [--json]

Both models see the same letterboxed images through edge/detect.py. Printed per group: the mean
|Keras - int8| of ``tx, ty`` and ``tw, th`` (the values the decoder feeds to the sigmoid, i.e.
after dividing by ``params.box_gain``) at the anchors where the float model is confident
(objectness >= 0.25: the boxes that are scored), and of the objectness logits everywhere; plus the
int8 output step of each group in the same units. This is how the box gain is judged: it makes the
box values' int8 step finer without touching the network.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from edgecnn.edge.detect import Detector, sigmoid, split_head
from edgecnn.edge.eval_detect import load_eval_set
from edgecnn.edge.image import load_image
from edgecnn.edge.loader import open_model


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("float_model")
    p.add_argument("int8_model")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default=None)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    dets = [Detector(open_model(m, task="detect")) for m in (a.float_model, a.int8_model)]
    params = dets[0].params
    gain = float(params.get("box_gain", 1.0))
    nc = int(params["num_classes"])
    ann = load_eval_set(a.data, None, dets[0].labels, a.split)
    err = {"txty": [], "twth": [], "obj": []}
    for r in ann.records:
        img = load_image(r.path)
        outs = [d.infer(d.preprocess(img)[0]) for d in dets]
        for h in params["heads"]:
            f, q = (split_head(o[h["name"]], len(h["anchors"]), nc) for o in outs)
            conf = sigmoid(f[..., 4]) >= 0.25
            d = np.abs(f - q)
            err["txty"].append(d[..., 0:2][conf].ravel() / gain)
            err["twth"].append(d[..., 2:4][conf].ravel() / gain)
            err["obj"].append(d[..., 4].ravel())
    res = {k: float(np.mean(np.concatenate(v))) if sum(map(len, v)) else float("nan") for k, v in err.items()}
    scales = [dets[1].model.output(h["name"]).scale for h in params["heads"]]
    res.update({"box_gain": gain, "images": len(ann.records),
                "int8_step_box": max(scales) / gain, "int8_step_obj": max(scales)})
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{len(ann.records)} images, box_gain {gain:g}: mean |Keras - int8| tx,ty {res['txty']:.4f}, "
              f"tw,th {res['twth']:.4f} (confident anchors), objectness {res['obj']:.4f}; "
              f"int8 step box {res['int8_step_box']:.4f}, objectness {res['int8_step_obj']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
