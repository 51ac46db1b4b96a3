"""Face embedder on the edge runtime: model size, embedding latency on one thread, face finding.

    .venv/bin/python bench/bench_face.py [--model runs/face/model_int8.tflite] [--data ../shared/data]
                                         [--threads 1] [--repeats 200] [--json]

The timings are medians (and the minimum, less sensitive to other processes on a shared CPU) of
single-face invocations (set input, invoke, read output), after warm-up. Face finding times the
Haar cascade + crop on LFW images (150x150) and on a 640x480 frame.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def time_calls(fn, repeats: int) -> list[float]:
    for _ in range(5):
        fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000.0)
    return out


def stats(ms: list[float]) -> dict:
    return {"median": statistics.median(ms), "min": min(ms), "p90": float(np.percentile(ms, 90))}


def sample_images(data: Path | None, n: int = 20):
    from edgecnn.edge.face.runtime import load_image

    paths = sorted((data / "faces" / "lfw").glob("*/*.jpg"))[:: 97][:n] if data else []
    if paths:
        return [load_image(p) for p in paths]
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (150, 150, 3), dtype=np.uint8) for _ in range(n)]


def bench(model_path: Path, data: Path | None, threads: int, repeats: int) -> dict:
    import cv2

    from edgecnn.edge.core.interpreter import load_model
    from edgecnn.edge.face.runtime import Embedder, FaceNotFound, normalize_pixels

    t0 = time.perf_counter()
    model = load_model(model_path, num_threads=threads, task="face")
    load_s = time.perf_counter() - t0
    emb = Embedder.from_model(model)
    images = sample_images(data)
    crops = []
    for img in images:
        try:
            crops.append(emb.extract(img).pixels)
        except FaceNotFound:
            continue
    crops = crops or [np.zeros((emb.config.size, emb.config.size, emb.config.channels), np.uint8)]
    feed = {"image": normalize_pixels(crops[0][None], emb.config)}
    model.set_inputs(feed)
    embed_ms = time_calls(lambda: (model.set_inputs(feed), model.invoke(), model.get_outputs()), repeats)
    lfw_ms = time_calls(lambda: _find(images[0], emb), max(20, repeats // 5))
    frame = cv2.resize(images[0], (640, 480))
    frame_ms = time_calls(lambda: _find(frame, emb), max(10, repeats // 10))
    res = {
        "model": str(model_path), "backend": model.backend, "threads": threads, "size_bytes": model.size_bytes,
        "load_s": load_s, "embed_ms": stats(embed_ms), "embed_ms_median": statistics.median(embed_ms),
        "find_face_ms_150px": stats(lfw_ms), "find_face_ms_640x480": stats(frame_ms),
        "faces_found": f"{len(crops)}/{len(images)}", "finder": emb.config.finder,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }
    float_path = model_path.with_name(model_path.name.replace("int8", "float32"))
    if float_path != model_path and float_path.is_file():
        fm = load_model(float_path, num_threads=threads)
        ffeed = {"image": feed["image"]}
        fm.set_inputs(ffeed)
        res["float32_embed_ms"] = stats(time_calls(lambda: (fm.set_inputs(ffeed), fm.invoke(), fm.get_outputs()), repeats))
        res["float32_size_bytes"] = fm.size_bytes
    return res


def parity(keras_path: Path, int8_path: Path, data: Path, people: Path, limit: int = 400) -> dict:
    """Float (Keras) vs int8 embeddings of held-out people's LFW faces: cosine and nearest
    neighbours (needs TensorFlow for the .keras model)."""
    from edgecnn.edge.core.interpreter import load_model
    from edgecnn.edge.face.data import list_identities
    from edgecnn.edge.face.runtime import Embedder, distance_matrix, face_from_file
    from edgecnn.train.core.keras_model import KerasModel

    ids = list_identities(data / "faces" / "lfw")
    ids = ids.subset([n for n in people.read_text().split() if n in ids.names])
    out = {"faces": min(limit, len(ids))}
    for tta in (False, True):
        ke = Embedder.from_model(KerasModel(keras_path), finder="center", flip_tta=tta)
        qe = Embedder.from_model(load_model(int8_path), finder="center", flip_tta=tta)
        crops = np.stack([face_from_file(p, ke.config).pixels for p in ids.paths[:limit]])
        a, b = ke.embed_faces(crops), qe.embed_faces(crops)
        cos = np.sum(a * b, axis=1)
        dk, dq = distance_matrix(a, a), distance_matrix(b, b)
        np.fill_diagonal(dk, np.inf)
        np.fill_diagonal(dq, np.inf)
        two = np.sort(dk, axis=1)[:, :2]
        clear = two[:, 1] - two[:, 0] >= 0.05
        same = np.argmin(dk, axis=1) == np.argmin(dq, axis=1)
        out["flip_tta" if tta else "plain"] = {
            "cos_mean": float(cos.mean()), "cos_median": float(np.median(cos)), "cos_min": float(cos.min()),
            "cos_p1": float(np.percentile(cos, 1)), "frac_cos_ge_0.99": float(np.mean(cos >= 0.99)),
            "same_nn_all": float(same.mean()), "same_nn_clear": float(same[clear].mean()), "clear": int(clear.sum())}
    return out


def _find(image, emb):
    from edgecnn.edge.face.runtime import FaceNotFound

    try:
        return emb.extract(image)
    except FaceNotFound:
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "runs" / "face" / "model_int8.tflite"))
    ap.add_argument("--data", default=None, help="the shared data folder (LFW images for face finding)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--parity-keras", default=None, help="also compare this .keras model's embeddings with --model "
                    "on the LFW people listed in --people (needs TensorFlow and --data)")
    ap.add_argument("--people", default=None, help="people file for --parity-keras (e.g. test_people_lfw.txt)")
    args = ap.parse_args(argv)
    model = Path(args.model)
    if not model.is_file():
        print(f"bench_face: {model} not found (run `make real` or pass --model); skipped", file=sys.stderr)
        return 0
    data = Path(args.data) if args.data and Path(args.data).is_dir() else None
    res = bench(model, data, args.threads, args.repeats)
    if args.parity_keras and data and args.people:
        res["parity"] = parity(Path(args.parity_keras), model, data, Path(args.people))
    if args.json:
        print(json.dumps(res))
    else:
        e, f = res["embed_ms"], res["find_face_ms_640x480"]
        print(f"{model.name}: {res['size_bytes'] / 1e6:.2f} MB, {res['backend']}, {args.threads} thread(s)")
        print(f"  embedding: median {e['median']:.2f} ms, min {e['min']:.2f} ms, p90 {e['p90']:.2f} ms per face")
        if "float32_embed_ms" in res:
            print(f"  float32 model: median {res['float32_embed_ms']['median']:.2f} ms")
        print(f"  face finding ({res['finder']}): 150x150 {res['find_face_ms_150px']['median']:.2f} ms, "
              f"640x480 {f['median']:.2f} ms; peak RSS {res['peak_rss_mb']:.0f} MB")
        for k, v in res.get("parity", {}).items():
            if isinstance(v, dict):
                print(f"  parity ({k}): cosine mean {v['cos_mean']:.4f}, min {v['cos_min']:.4f}, "
                      f">=0.99 {v['frac_cos_ge_0.99']:.0%}; same nearest neighbour {v['same_nn_all']:.0%} "
                      f"(clear ones {v['same_nn_clear']:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
