"""``edgecnn face {verify,embed,enroll,identify,calibrate,remove,rename,list}``: verification on the device.

Bad input (no face, tiny or corrupt image, unknown name, empty gallery, a gallery of another
model) raises EdgeError; the dispatcher prints one line and exits with status 2.
"""

from __future__ import annotations

import sys

from edgecnn.edge.core.cliutil import OneLineParser

DEFAULT_FAR = 1e-3


class _IntermixedParser(OneLineParser):
    """Positionals may come after options (`identify MODEL --gallery G IMAGE`), which plain
    argparse refuses when a positional is optional (IMAGE or --camera)."""

    _busy = False

    def parse_known_args(self, args=None, namespace=None):
        if self._busy:
            return super().parse_known_args(args, namespace)
        self._busy = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._busy = False


def register(sub) -> None:
    p = sub.add_parser("face", help="face verification: verify, embed, enroll, identify, calibrate, remove, rename, list")
    verbs = p.add_subparsers(dest="face_verb", metavar="ACTION", parser_class=_IntermixedParser)
    verbs.required = True

    v = verbs.add_parser("verify", help="same person or not: distance vs tau")
    _model_args(v)
    v.add_argument("a", help="first image")
    v.add_argument("b", help="second image")
    v.add_argument("--tau", type=float, default=None, help="threshold (default: the model's)")
    v.set_defaults(func=cmd_verify)

    m = verbs.add_parser("embed", help="face vectors of images: one line (JSON with --json) per image")
    _model_args(m)
    m.add_argument("inputs", nargs="+", metavar="IMAGE|DIR",
                   help="images, or folders whose images (any depth, sorted) are embedded")
    m.set_defaults(func=cmd_embed)

    e = verbs.add_parser("enroll", help="add a person (several images recommended) to a gallery")
    _model_args(e)
    _gallery_arg(e)
    e.add_argument("--name", required=True, help="the person's name")
    e.add_argument("images", nargs="+", help="images of the person")
    e.add_argument("--skip-no-face", action="store_true", help="skip images without a face instead of failing")
    e.set_defaults(func=cmd_enroll)

    i = verbs.add_parser("identify", help="who is this: a name or 'unknown', with the distance")
    _model_args(i)
    _gallery_arg(i)
    i.add_argument("image", nargs="?", help="an image or a video file (or use --camera)")
    i.add_argument("--camera", type=int, default=None, help="camera index (JSON lines with --json)")
    i.add_argument("--frames", type=int, default=0,
                   help="camera or video: stop after N frames (0 = until Ctrl-C / the end of the video)")
    i.add_argument("--tau", type=float, default=None, help="threshold (default: gallery's calibrated, else model's)")
    i.add_argument("--score", default="min", help="person score: min (nearest image) or mean")
    i.set_defaults(func=cmd_identify)

    c = verbs.add_parser("calibrate", help="re-fit tau on the enrolled faces at a target false accept rate")
    _model_args(c)
    _gallery_arg(c)
    c.add_argument("--far", type=float, default=DEFAULT_FAR, help=f"target false accept rate (default {DEFAULT_FAR:g})")
    c.add_argument("--allow-few", action="store_true", help="calibrate even with fewer impostor pairs than 1/FAR")
    c.set_defaults(func=cmd_calibrate)
    _register_edits(verbs)


def _register_edits(verbs) -> None:
    """The verbs that edit or list a gallery without a model."""
    r = verbs.add_parser("remove", help="remove a person from a gallery")
    _gallery_arg(r)
    r.add_argument("name")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_remove)

    n = verbs.add_parser("rename", help="rename a person in a gallery")
    _gallery_arg(n)
    n.add_argument("old")
    n.add_argument("new")
    n.add_argument("--json", action="store_true")
    n.set_defaults(func=cmd_rename)

    ls = verbs.add_parser("list", help="people in a gallery, images each, threshold")
    _gallery_arg(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)


def _model_args(p) -> None:
    p.add_argument("model", help="face model: builtin:face, a .tflite (or .keras with the [train] extra)")
    p.add_argument("--finder", default=None, help="face finder override: haar, haar_or_center, center, none, learned (builtin:face-finder)")
    p.add_argument("--threads", type=int, default=None, help="interpreter threads")
    p.add_argument("--pick", choices=("largest", "center"), default=None,
                   help="which face of several: the largest (default) or the one nearest the image centre")
    p.add_argument("--landmarks", default=None,
                   help="landmark model for a 5-point aligned face model (default: the one its metadata names)")
    p.add_argument("--json", action="store_true",
                   help="print JSON (one object; JSON lines for embed and for camera/video frames)")


def _gallery_arg(p) -> None:
    p.add_argument("--gallery", required=True, help="gallery file (.npz, written atomically)")


def _embedder(args):
    from edgecnn.edge.core.loader import open_model
    from edgecnn.edge.face.runtime import Embedder

    model = open_model(args.model, num_threads=args.threads, task="face")
    return Embedder.from_model(model, finder=args.finder, landmarks=args.landmarks, pick=args.pick)


def _points(face):
    return None if face.landmarks is None else [[round(float(x), 2), round(float(y), 2)] for x, y in face.landmarks]


def _out(args, obj: dict, text: str) -> int:
    if args.json:
        from edgecnn.edge.core.cliutil import emit_json

        emit_json(obj)
    else:
        print(text)
    return 0


def cmd_verify(args) -> int:
    emb = _embedder(args)
    ea, fa = emb.embed_file(args.a)
    eb, fb = emb.embed_file(args.b)
    res = emb.verify(ea, eb, args.tau)
    verdict = "same person" if res.same else "different people"
    sign = "<=" if res.same else ">"
    return _out(args, {"same": res.same, "distance": res.distance, "tau": res.tau, "distance_name": emb.distance,
                       "a": args.a, "b": args.b, "box_a": list(fa.box), "box_b": list(fb.box),
                       "landmarks_a": _points(fa), "landmarks_b": _points(fb)},
                f"{verdict}: distance {res.distance:.4f} {sign} tau {res.tau:.4f} ({emb.distance})")


def image_paths(inputs) -> list[str]:
    """The images named by ``inputs``: files as given, folders expanded (recursively, sorted) to
    their files with an image suffix; a missing path or a folder without images is an error."""
    from pathlib import Path

    from edgecnn.edge.core.errors import InputDataError
    from edgecnn.edge.core.image import IMAGE_SUFFIXES

    out = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if not found:
                raise InputDataError(f"{p}: no image files (expected one of {', '.join(IMAGE_SUFFIXES)})")
            out.extend(found)
        elif p.exists() or p.is_symlink():
            out.append(str(p))
        else:
            raise InputDataError(f"{p}: no such file or folder")
    return out


def cmd_embed(args) -> int:
    """One record per image: path, the finder's box, the landmarks (aligned models) and the unit
    embedding; an image without a face or that cannot be read gives a record with ``error`` and
    the command ends with status 1 after the others."""
    from edgecnn.edge.core.cliutil import emit_json
    from edgecnn.edge.core.errors import InputDataError

    emb = _embedder(args)
    paths = image_paths(args.inputs)
    failed = 0
    for path in paths:
        try:
            vec, face = emb.embed_file(path)
        except InputDataError as exc:  # FaceNotFound included
            failed += 1
            if args.json:
                emit_json({"path": path, "error": str(exc), "box": None, "landmarks": None, "embedding": None})
            else:
                print(f"{path}: error: {exc}")
            continue
        if args.json:
            emit_json({"path": path, "box": [int(v) for v in face.box], "landmarks": _points(face),
                       "embedding": [round(float(v), 6) for v in vec]})
        else:
            x, y, w, h = face.box
            print(f"{path}: face at x={x} y={y} w={w} h={h}, {len(vec)}-d vector "
                  f"[{', '.join(f'{v:+.3f}' for v in vec[:4])}, ...]")
    if failed:
        print(f"edgecnn: {failed} of {len(paths)} image(s) gave no vector", file=sys.stderr)
    return 1 if failed else 0


def _load_or_new(path, emb):
    from pathlib import Path

    from edgecnn.edge.face.gallery import Gallery, load_gallery

    if Path(path).exists():
        return load_gallery(path, fingerprint=emb.fingerprint)
    return Gallery.empty(emb.fingerprint, emb.embedding_size, emb.distance)


def cmd_enroll(args) -> int:
    import numpy as np

    from edgecnn.edge.face.gallery import Gallery, update_gallery
    from edgecnn.edge.face.runtime import FaceNotFound

    emb = _embedder(args)
    _load_or_new(args.gallery, emb)  # a damaged or foreign gallery fails before the images are embedded
    vectors, used, skipped = [], [], []
    for path in args.images:
        try:
            vectors.append(emb.embed_file(path)[0])
            used.append(path)
        except FaceNotFound as exc:
            if not args.skip_no_face:
                raise FaceNotFound(f"{exc}; nothing enrolled (use --skip-no-face to skip such images)") from None
            skipped.append(path)
    if not vectors:
        raise FaceNotFound(f"enroll {args.name!r}: no face found in any of {len(args.images)} image(s)")
    g = update_gallery(args.gallery, lambda g: g.enroll(args.name, np.stack(vectors), used),
                       fingerprint=emb.fingerprint,
                       new=lambda: Gallery.empty(emb.fingerprint, emb.embedding_size, emb.distance))
    count = g.people()[args.name.strip()]
    note = " (gallery threshold reset: run `edgecnn face calibrate`)" if len(g.names) > 1 else ""
    return _out(args, {"name": args.name.strip(), "enrolled": len(used), "skipped_no_face": skipped,
                       "images_of_person": count, "people": len(g.names), "gallery": args.gallery},
                f"enrolled {len(used)} image(s) of {args.name.strip()!r} ({count} in total, {len(g.names)} "
                f"people in {args.gallery}){note}" + (f"; skipped without a face: {', '.join(skipped)}" if skipped else ""))


def _tau(args, g, emb) -> tuple[float, str]:
    if args.tau is not None:
        return args.tau, "command line"
    if g.threshold is not None:
        return float(g.threshold), f"gallery (calibrated at FAR {g.calibration.get('far_target', 0):g})"
    return emb.threshold, "model"


def _match_obj(m, source: str, extra: dict) -> dict:
    return {"name": m.name, "distance": m.distance, "tau": m.tau, "tau_source": source,
            "ranking": [{"name": n, "distance": d} for n, d in m.ranking[:5]], **extra}


def cmd_identify(args) -> int:
    from edgecnn.edge.face.gallery import load_gallery

    if (args.image is None) == (args.camera is None):
        raise ValueError("identify needs exactly one of IMAGE or --camera N")
    emb = _embedder(args)
    g = load_gallery(args.gallery, fingerprint=emb.fingerprint)
    tau, source = _tau(args, g, emb)
    if args.frames < 0:
        raise ValueError(f"--frames must be >= 0 (0: until the end), got {args.frames}")
    if args.camera is not None:
        if args.camera < 0:
            raise ValueError(f"--camera must be a camera index >= 0, got {args.camera}")
        return _identify_frames(args, emb, g, tau, source, camera=args.camera)
    from edgecnn.edge.core.camera import is_video

    if is_video(args.image):
        return _identify_frames(args, emb, g, tau, source, path=args.image)
    vec, face = emb.embed_file(args.image)
    m = g.identify(vec, tau, args.score)
    sign = "<=" if m.name != "unknown" else ">"
    who = m.name if m.name != "unknown" else f"unknown (nearest: {m.ranking[0][0]})"
    return _out(args, _match_obj(m, source, {"image": args.image, "box": list(face.box)}),
                f"{who}: distance {m.distance:.4f} {sign} tau {tau:.4f} ({source})")


def _identify_frames(args, emb, g, tau, tau_source, *, camera=None, path=None) -> int:
    """Identify the face in the frames of a camera (live: the newest frame, reconnecting when the
    camera is lost) or of a video file (every frame, to its end), on the loop detection uses; a
    last summary line with frames, faces, FPS and per-stage milliseconds."""
    from edgecnn.edge.core.camera import open_source, run_loop
    from edgecnn.edge.core.cliutil import emit_json
    from edgecnn.edge.face.gallery import IdentifyPipeline

    source = open_source(camera=camera, path=path, every_frame=path is not None)
    faces = 0

    def on_frame(seq, frame, result, timings):
        nonlocal faces
        m, face = result
        if m is None:
            emit_json({"frame": seq, "name": None, "face": False}) if args.json else print(f"frame {seq}: no face")
            return
        faces += 1
        obj = _match_obj(m, tau_source, {"frame": seq, "face": True, "box": list(face.box)})
        emit_json(obj) if args.json else print(f"frame {seq}: {m.name} (distance {m.distance:.4f}, tau {tau:.4f})")
        sys.stdout.flush()

    try:
        stats = run_loop(source.reader, IdentifyPipeline(emb, g, tau, args.score), on_frame,
                         max_frames=args.frames or None)
    finally:
        source.reader.stop()
    summary = {"frames": stats.frames, "faces": faces, **stats.as_dict()}
    for warning in source.warnings():
        print(f"edgecnn: warning: {warning}", file=sys.stderr)
    if args.json:
        emit_json({"summary": summary})
    else:
        print(f"{stats.frames} frames, a face in {faces}, {summary['fps']} FPS, dropped {summary['dropped']}, "
              f"reconnects {summary['reconnects']}")
    return 0


def cmd_calibrate(args) -> int:
    from edgecnn.edge.face.gallery import update_gallery

    emb = _embedder(args)
    reports = []

    def calibrate(g):
        g, report = g.calibrate(args.far, allow_few=args.allow_few)
        reports.append(report)
        return g

    update_gallery(args.gallery, calibrate, fingerprint=emb.fingerprint)
    report = reports[0]
    tar = "n/a" if report["tar"] is None else f"{report['tar']:.3f}"
    text = (f"tau {report['threshold']:.4f} for FAR <= {args.far:g} (model tau {emb.threshold:.4f}): "
            f"on enrolled faces FAR {report['far']:.4f} over {report['impostor_pairs']} impostor pairs, "
            f"TAR {tar} over {report['genuine_pairs']} genuine pairs")
    for w in report["warnings"]:
        text += f"\nwarning: {w}"
    return _out(args, {**report, "model_threshold": emb.threshold, "gallery": args.gallery}, text)


def cmd_remove(args) -> int:
    from edgecnn.edge.face.gallery import update_gallery

    g = update_gallery(args.gallery, lambda g: g.remove(args.name))
    return _out(args, {"removed": args.name, "people": len(g.names)},
                f"removed {args.name!r} ({len(g.names)} people left; gallery threshold reset)")


def cmd_rename(args) -> int:
    from edgecnn.edge.face.gallery import update_gallery

    update_gallery(args.gallery, lambda g: g.rename(args.old, args.new))
    return _out(args, {"renamed": args.old, "to": args.new.strip()}, f"renamed {args.old!r} to {args.new.strip()!r}")


def cmd_list(args) -> int:
    from edgecnn.edge.face.gallery import load_gallery

    g = load_gallery(args.gallery)
    people = g.people()
    obj = {"people": people, "threshold": g.threshold, "calibration": g.calibration,
           "model_fingerprint": g.fingerprint, "embedding_size": g.embedding_size, "distance": g.distance}
    lines = [f"{name}: {count} image(s)" for name, count in people.items()] or ["(empty gallery)"]
    lines.append(f"threshold: {'model default' if g.threshold is None else f'{g.threshold:.4f} (calibrated)'}")
    return _out(args, obj, "\n".join(lines))
