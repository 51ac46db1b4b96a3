"""Synthetic identities: drawn cartoon faces for checking the face pipeline offline.

THIS IS A PIPELINE CHECK, NOT A FACE MODEL. Each identity is a fixed set of drawing parameters
(head shape, skin, hair and eye colour, hair style, glasses, beard, eye spacing and size, nose,
mouth); each image of it varies pose (rotation, scale, shift), lighting, expression, background
(a wall of any brightness with a tint) and noise. A model trained on these learns to tell cartoons apart and nothing about real faces.
The images are already face crops (use the ``none`` finder). Verification on them is a real
task all the same: the people at test time are drawn with another seed, never seen in training.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgecnn.edge.core.fileio import atomic_write_bytes
from edgecnn.train.face.data import AugmentConfig, FaceSet

SYNTHETIC = "builtin:synthetic"
PIPELINE_CHECK_NOTE = "synthetic cartoon identities: a pipeline check, not a face model"
# Training augmentation for these identities: the default one without grey images. Colour
# (skin, hair, eyes) is part of who a cartoon is and test images are never grey, so grey
# training images only teach the model to confuse people, and strong saturation jitter moves
# one person's colours onto another's; the geometric jitter and brightness/contrast stay.
AUGMENT = AugmentConfig(grey=0.0, saturation=0.15)


def identity_params(rng: np.random.Generator) -> dict:
    return {
        "skin": rng.uniform(60, 230, 3), "hair": rng.uniform(0, 200, 3), "eye": rng.uniform(0, 160, 3),
        "head_w": rng.uniform(0.30, 0.40), "head_h": rng.uniform(0.38, 0.47), "hair_h": rng.uniform(0.05, 0.2),
        "eye_dx": rng.uniform(0.11, 0.19), "eye_y": rng.uniform(-0.1, 0.0), "eye_r": rng.uniform(0.025, 0.055),
        "nose": rng.uniform(0.05, 0.14), "mouth_w": rng.uniform(0.07, 0.17), "mouth_y": rng.uniform(0.16, 0.25),
        "brow": rng.uniform(-0.3, 0.3), "beard": rng.random() < 0.3,
        # shape cues that survive lighting changes (colour alone confuses people under dim light)
        "hair_style": int(rng.integers(len(HAIR_STYLES))), "glasses": rng.random() < 0.3,
    }


HAIR_STYLES = ("dome", "flat", "fringe", "long")


def identities(num_people: int, seed: int = 0) -> list[dict]:
    """The drawing parameters of ``num_people`` identities (the same for the same seed)."""
    rng = np.random.default_rng([seed, 1])
    return [identity_params(rng) for _ in range(num_people)]


def draw_face(p: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    """One RGB uint8 (size, size, 3) image of the identity ``p`` with random nuisance factors."""
    s = 4 * size  # draw large, then downsample (anti-aliasing)
    img = np.empty((s, s, 3), np.float32)
    img[:] = np.clip(rng.uniform(30, 230) + rng.normal(0, 45, 3), 0, 255)  # a wall: any brightness, a tint
    c = np.array([s / 2, s / 2])

    def pt(dx, dy):
        return (int(c[0] + dx * s), int(c[1] + dy * s))

    def ax(a, b):
        return (max(1, int(a * s)), max(1, int(b * s)))

    hair, style = p["hair"].tolist(), HAIR_STYLES[p.get("hair_style", 0)]
    if style == "flat":
        cv2.rectangle(img, pt(-p["head_w"] * 0.95, -p["head_h"] - p["hair_h"] - 0.03),
                      pt(p["head_w"] * 0.95, -p["head_h"] * 0.3), hair, -1)
    elif style == "long":
        cv2.ellipse(img, pt(0, 0.04), ax(p["head_w"] * 1.25, p["head_h"] * 1.05 + p["hair_h"] * 0.3), 0, 0, 360, hair, -1)
    else:
        cv2.ellipse(img, pt(0, -p["head_h"] * 0.55), ax(p["head_w"] * 1.05, p["hair_h"] + 0.25), 0, 180, 360, hair, -1)
    cv2.ellipse(img, pt(0, 0), ax(p["head_w"], p["head_h"]), 0, 0, 360, p["skin"].tolist(), -1)
    if style == "fringe":
        cv2.ellipse(img, pt(-p["head_w"] * 0.35, -p["head_h"] * 0.78), ax(p["head_w"] * 0.75, 0.09), -12, 0, 360, hair, -1)
    if p["beard"]:
        cv2.ellipse(img, pt(0, 0.12), ax(p["head_w"] * 0.9, p["head_h"] * 0.65), 0, 10, 170, p["hair"].tolist(), -1)
    for side in (-1, 1):
        cv2.circle(img, pt(side * p["eye_dx"], p["eye_y"]), int(p["eye_r"] * s * 1.6), (245, 245, 245), -1)
        cv2.circle(img, pt(side * p["eye_dx"], p["eye_y"]), int(p["eye_r"] * s), p["eye"].tolist(), -1)
        y0, y1 = p["eye_y"] - 0.08 - side * p["brow"] * 0.03, p["eye_y"] - 0.08 + side * p["brow"] * 0.03
        cv2.line(img, pt(side * (p["eye_dx"] - 0.06), y0), pt(side * (p["eye_dx"] + 0.06), y1),
                 p["hair"].tolist(), max(2, s // 60))
    if p.get("glasses"):
        frame, r, t = (25, 25, 25), int(p["eye_r"] * s * 1.6) + max(3, s // 40), max(2, s // 70)
        for side in (-1, 1):
            cv2.circle(img, pt(side * p["eye_dx"], p["eye_y"]), r, frame, t)
        cv2.line(img, pt(-p["eye_dx"] + r / s, p["eye_y"]), pt(p["eye_dx"] - r / s, p["eye_y"]), frame, t)
    nose_col = (p["skin"] * 0.7).tolist()
    cv2.line(img, pt(0, p["eye_y"] + 0.03), pt(0.02, p["eye_y"] + 0.03 + p["nose"]), nose_col, max(2, s // 80))
    smile = rng.uniform(-0.02, 0.05)
    cv2.ellipse(img, pt(0, p["mouth_y"]), ax(p["mouth_w"], abs(smile) + 0.01), 0, 0 if smile >= 0 else 180,
                180 if smile >= 0 else 360, (40, 20, 120), max(2, s // 70))
    m = cv2.getRotationMatrix2D((s / 2, s / 2), rng.uniform(-8, 8), rng.uniform(0.92, 1.08))
    m[:, 2] += rng.uniform(-0.04, 0.04, 2) * s
    img = cv2.warpAffine(img, m, (s, s), borderMode=cv2.BORDER_REPLICATE)
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    img = img * rng.uniform(0.7, 1.2) + rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_face_set(num_people: int = 40, images_per_person: int = 8, size: int = 112, seed: int = 0) -> FaceSet:
    """In-memory synthetic identities as a ready FaceSet of crops (RGB)."""
    if num_people < 2 or images_per_person < 2:
        raise ValueError(f"need >= 2 people and >= 2 images each, got {num_people} and {images_per_person}")
    rng = np.random.default_rng([seed, 2])
    pixels, labels, names, paths = [], [], [], []
    for person, params in enumerate(identities(num_people, seed)):
        names.append(f"synthetic_{person:03d}")
        for k in range(images_per_person):
            pixels.append(draw_face(params, size, rng))
            labels.append(person)
            paths.append(f"{SYNTHETIC}/{names[-1]}/{k}.png")
    return FaceSet(np.stack(pixels), np.array(labels, np.int32), tuple(names), tuple(paths), 0)


def write_identity_folder(out_dir, num_people: int = 6, images_per_person: int = 5, size: int = 112,
                          seed: int = 0) -> Path:
    """Write synthetic identities as ``out_dir/<person>/<k>.png`` (for demos and tests)."""
    fs = make_face_set(num_people, images_per_person, size, seed)
    out = Path(out_dir)
    for pix, path in zip(fs.pixels, fs.paths, strict=True):
        person, name = path.split("/")[-2:]
        ok, png = cv2.imencode(".png", cv2.cvtColor(pix, cv2.COLOR_RGB2BGR))
        if not ok:
            raise ValueError(f"PNG encoding failed for {path}")
        atomic_write_bytes(out / person / name, png.tobytes())
    return out


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=f"write {PIPELINE_CHECK_NOTE} as OUT/<person>/<k>.png")
    ap.add_argument("--out", required=True)
    ap.add_argument("--people", type=int, default=6)
    ap.add_argument("--images", type=int, default=5)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    write_identity_folder(args.out, args.people, args.images, args.size, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
