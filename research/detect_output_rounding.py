"""How much of the float-vs-int8 mAP difference the int8 output grid alone explains.

    python research/detect_output_rounding.py --runs RUN_DIR... --data DIR [--json]

For each run (model.keras, model_int8.tflite, split.json) the float model is run three ways on its
own validation images, through the same edge/ decode and mAP code: as is, with only its raw head
outputs rounded to the int8 model's output grid (its scale and zero point: nothing else
quantized), and the int8 model itself. Detections are pooled over the runs (as
scripts/detect_gap.py --runs does). If "float, outputs rounded" is as far from float as int8 is,
the int8 network is as good as the float one and the difference comes from representing the raw
head (scores and boxes) in 256 levels.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edgecnn.edge.eval_detect import evaluate_detections

# detect_gap.py is a recipe (scripts/detect_cv.sh, scripts/real_detect.sh call it) and stays in scripts/
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from detect_gap import pool_runs, run_files  # noqa: E402


class RoundedOutputs:
    """A model whose outputs are rounded to the int8 grid of another model's outputs."""

    def __init__(self, model, grid_model):
        self.model, self.metadata = model, model.metadata
        self.grid = {t.name: (t.scale, t.zero_point) for t in grid_model.outputs}

    def __getattr__(self, name):
        return getattr(self.model, name)

    def run(self, inputs):
        out = {}
        for name, v in self.model.run(inputs).items():
            scale, zero = self.grid[name]
            q = np.clip(np.round(np.asarray(v, np.float64) / scale) + zero, -128, 127)
            out[name] = ((q - zero) * scale).astype(np.float32)
        return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", required=True, help="run folders (model.keras, model_int8.tflite, split.json)")
    p.add_argument("--data", required=True)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    names = ("float", "float_outputs_rounded", "int8")
    truths, preds, labels, _ = pool_runs(a.data, [run_files(r) for r in a.runs],
                                         lambda f, q: {"float": f, "float_outputs_rounded": RoundedOutputs(f, q),
                                                       "int8": q})
    res = {"runs": len(a.runs), "images": len(truths),
           **{f"{k}_map50": evaluate_detections(preds[k], truths, labels)["map50"] for k in names}}
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{res['images']} images: mAP@0.5 float {res['float_map50']:.3f}, float with outputs rounded to the "
              f"int8 grid {res['float_outputs_rounded_map50']:.3f}, int8 {res['int8_map50']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
