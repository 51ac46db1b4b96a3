"""Train several face-recipe configurations at once on a GPU machine without TensorFlow.

The recipe's batches are NumPy/OpenCV and its model/losses are keras.ops, so it runs under the
JAX (or torch) Keras backend. The face crops travel as a JPEG pack made from the training
cache; people are split exactly as ``edgecnn train face`` splits them (same seed, same code).
Each configuration keeps the embedder weights of its best validation epoch (validation people
only; test people are never touched); bring them home and make the model with
``edgecnn train face ... --finalize-only --init-weights NAME.weights.h5``.

    python research/gpu_face_sweep.py --make-pack runs/face/cache --pack runs/face/gpu/faces_pack.npz  # here
    python research/gpu_face_sweep.py --pack faces_pack.npz --weights mnv2.weights.h5 --out DIR \
        --minutes 5.5 --configs A,B,C,D                                                   # GPU machine

On the GPU machine (no TensorFlow): ``pip install --no-deps --target /tmp/kp keras namex optree``
wheels carried along, ``edgecnn`` importable through a folder of links (edgecnn/{edge,train,
convert} -> the checkout), ``PYTHONPATH=/tmp/kp:/tmp/shim``; JAX is tried first, torch second.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = {  # name -> recipe overrides
    "A": {"mining": "batch_hard", "aux_weight": 1.0, "head": "gdc", "lr": 2e-3},
    "B": {"mining": "semi_hard", "aux_weight": 0.0, "head": "gdc", "lr": 2e-3},
    "C": {"mining": "batch_hard", "aux_weight": 1.0, "head": "gap", "lr": 2e-3},
    "D": {"mining": "batch_hard", "aux_weight": 2.0, "head": "gdc", "lr": 3e-3, "dropout": 0.4},
    "E": {"mining": "batch_hard", "aux_weight": 0.0, "head": "gdc", "lr": 2e-3},
    "F": {"mining": "semi_hard", "aux_weight": 0.0, "head": "gap", "lr": 2e-3},
    "G": {"mining": "semi_hard", "aux_weight": 0.1, "head": "gdc", "lr": 2e-3},
}
SOURCES = {"lfw": "/work/shared/data/faces/lfw", "att_orl": "/work/shared/data/faces/att_orl"}


def make_pack(cache_dir, path) -> None:
    """On the workstation: the cached crops of each source (``edgecnn train face --cache``) as
    JPEG (quality 95) in one .npz small enough to travel (~40 MB for LFW + AT&T)."""
    import cv2
    import numpy as np

    arrays = {}
    for key in SOURCES:
        found = sorted(Path(cache_dir).glob(f"faces_{key}_*.npz"))
        if not found:
            raise SystemExit(f"no cache for {key} in {cache_dir}: run `edgecnn train face` (or real_face.sh) first")
        with np.load(found[-1], allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            blobs = [cv2.imencode(".jpg", cv2.cvtColor(p, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
                     for p in z["pixels"]]
            arrays[f"{key}_labels"] = z["labels"]
        arrays[f"{key}_jpeg"] = np.frombuffer(b"".join(blobs), np.uint8)
        arrays[f"{key}_offsets"] = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        keep = {k: meta[k] for k in ("names", "paths", "fallback")}
        arrays[f"{key}_meta"] = np.frombuffer(json.dumps(keep).encode(), np.uint8)
    np.savez(path, **arrays)


def load_pack(path):
    import cv2
    import numpy as np

    from edgecnn.train.data.faces import FaceSet

    z = np.load(path, allow_pickle=False)
    sets = {}
    for key, root in SOURCES.items():
        blob, offs = z[f"{key}_jpeg"], z[f"{key}_offsets"]
        meta = json.loads(bytes(z[f"{key}_meta"]).decode())
        pixels = np.stack([cv2.cvtColor(cv2.imdecode(blob[offs[i]:offs[i + 1]], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                           for i in range(len(offs) - 1)])
        sets[root] = FaceSet(pixels, z[f"{key}_labels"], tuple(meta["names"]), tuple(meta["paths"]), meta["fallback"])
    return sets


def child(args) -> int:
    import keras

    from edgecnn.edge.face import FaceConfig
    from edgecnn.train import embedder as E
    from edgecnn.train import face_recipe as R

    t0 = time.time()
    over = CONFIGS[args.child]
    keras.utils.set_random_seed(0)
    model_cfg = E.EmbedderConfig(weights=args.weights, head=over["head"], dropout=over.get("dropout", 0.2))
    rc = R.RecipeConfig(model_cfg, FaceConfig(size=112, margin=0.2, finder="haar_or_center"), p=32, k=4,
                        mining=over["mining"], aux_weight=over["aux_weight"], workers=args.workers)
    sets = load_pack(args.pack)
    if args.limit_people:  # a quick functional check of this script on a small CPU
        sets = {k: v.subset(v.names[: args.limit_people]) for k, v in sets.items()}
    splits = R.split_sets(sets, rc, seed=0)
    train, val = splits["train"], splits["val"]
    batches = R.FaceBatches(train, rc, seed=0)
    model = R.build_training(rc, len(train.names))
    R.compile_model(model, rc, 1e-4)
    for i in range(6):  # warm-up (compilation) and timing
        if i == 2:
            t_step = time.time()
        x, y = batches[i % len(batches)]
        model.train_on_batch(x, y)
    step = (time.time() - t_step) / 4
    val_metrics = R.make_val_metrics(val, rc.face, seed=0)
    t_val = time.time()
    first = val_metrics(E.extract_embedder(model))
    t_val = time.time() - t_val
    left = args.deadline - time.time()
    per_epoch = len(batches) * step * 1.15 + t_val / args.val_every
    epochs = int(max(3, min(args.max_epochs, left * 0.9 / per_epoch)))
    R.compile_model(model, rc, R.lr_schedule(over["lr"], len(batches), epochs))
    log = {"config": over, "backend": keras.backend.backend(), "epochs_planned": epochs, "step_s": step,
           "val_s": t_val, "setup_s": time.time() - t0, "history": [{"epoch": 0, **first}], "best": None}
    emb = E.extract_embedder(model)
    out_w = Path(args.out) / f"{args.child}.weights.h5"

    class Track(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            last = epoch + 1 == epochs or time.time() > args.deadline - 2 * per_epoch
            if (epoch + 1) % args.val_every and not last:
                return
            m = val_metrics(emb)
            row = {"epoch": epoch + 1, "t": time.time() - t0, **m,
                   **{k: float(v) for k, v in (logs or {}).items()}}
            log["history"].append(row)
            if log["best"] is None or m["val_auc"] > log["best"]["val_auc"]:
                log["best"] = row
                emb.save_weights(str(out_w))
            Path(args.log).write_text(json.dumps(log))
            if last:
                self.model.stop_training = True

    model.fit(batches, epochs=epochs, verbose=0, callbacks=[Track()])
    log["total_s"] = time.time() - t0
    Path(args.log).write_text(json.dumps(log))
    return 0


def parent(args) -> int:
    names = args.configs.split(",")
    deadline = time.time() + args.minutes * 60
    tmp = Path("/tmp/face_sweep")
    tmp.mkdir(exist_ok=True)
    procs, tries = {}, {}

    def launch(name, backend):
        env = {**os.environ, "KERAS_BACKEND": backend, "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
               "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.2", "TF_CPP_MIN_LOG_LEVEL": "2"}
        cmd = [sys.executable, __file__, "--child", name, "--pack", args.pack, "--weights", args.weights,
               "--out", args.out, "--log", str(tmp / f"{name}.json"), "--deadline", str(deadline),
               "--workers", str(args.workers), "--max-epochs", str(args.max_epochs), "--val-every", str(args.val_every),
               "--limit-people", str(args.limit_people)]
        err = open(tmp / f"{name}.{len(tries.get(name, []))}.{backend}.err", "w")
        procs[name] = (subprocess.Popen(cmd, env=env, stdout=err, stderr=subprocess.STDOUT), backend, time.time())
        tries.setdefault(name, []).append(backend)

    for n in names:
        launch(n, args.backend)
    results = {}
    while procs:
        time.sleep(2)
        for n, (p, backend, _started) in list(procs.items()):
            if p.poll() is None:
                if time.time() > deadline + 60:
                    p.kill()
                continue
            del procs[n]
            if p.returncode != 0 and backend == args.backend and time.time() < deadline - 120:
                launch(n, args.fallback)  # e.g. jax failed to start: try torch
                continue
            log = tmp / f"{n}.json"
            results[n] = json.loads(log.read_text()) if log.is_file() else {}
            results[n]["returncode"] = p.returncode
            results[n]["tries"] = tries[n]
            results[n]["stderr_tail"] = {f"{i}.{b}": (tmp / f"{n}.{i}.{b}.err").read_text()[-3000:]
                                         for i, b in enumerate(tries[n])}
            Path(args.out, "summary.json").write_text(json.dumps(results, indent=1))
    print(json.dumps({n: {"best": r.get("best"), "rc": r.get("returncode"), "backend": r.get("backend"),
                          "epochs": r.get("epochs_planned"), "step_s": r.get("step_s")} for n, r in results.items()},
                     indent=1))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pack", required=True)
    ap.add_argument("--make-pack", metavar="CACHE_DIR", default=None,
                    help="workstation: write --pack from the crop cache in CACHE_DIR, then stop")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--configs", default="A,B,C,D")
    ap.add_argument("--minutes", type=float, default=5.5)
    ap.add_argument("--backend", default="jax")
    ap.add_argument("--fallback", default="torch")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--max-epochs", type=int, default=250)
    ap.add_argument("--val-every", type=int, default=5)
    ap.add_argument("--limit-people", type=int, default=0, help="testing: only the first N people per source")
    ap.add_argument("--child", default=None)
    ap.add_argument("--log", default=None)
    ap.add_argument("--deadline", type=float, default=None)
    args = ap.parse_args()
    if args.make_pack:
        make_pack(args.make_pack, args.pack)
        return 0
    if not (args.weights and args.out):
        ap.error("--weights and --out are required to train")
    return child(args) if args.child else parent(args)


if __name__ == "__main__":
    sys.exit(main())
