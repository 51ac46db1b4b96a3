"""The markdown report of ``bench_face_vs_dlib.py`` (its JSON result -> tables), and the names
both share. Plain Python: the dlib child, run under the teacher's interpreter, imports it too."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETS = {"lfw": "lfw", "att": "att_orl"}
SET_TITLES = {"lfw": "LFW", "att": "AT&T"}


def _rel(p) -> str:
    try:
        return os.path.relpath(os.path.abspath(p), ROOT)
    except ValueError:
        return str(p)


def _pct(x, std=None) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.2f} ± {100 * std:.2f} %" if std is not None else f"{100 * x:.1f} %"


def _mb(b) -> str:
    return f"{b / 1e6:.2f} MB ({b:,} B)"


def _num(x, fmt: str = ".2f") -> str:
    return "–" if x is None else format(x, fmt)


def _faces(x) -> str:
    return ", ".join(f"{k.replace('up', 'upsample ')}: {v}" for k, v in x.items()) if isinstance(x, dict) else str(x)


def markdown(res: dict) -> str:
    lines = [f"# Face verification: our int8 pipeline vs the dlib teacher ({res['date']})", ""]
    lines += [f"Host: {res['host']['cpu']}, {res['host']['cores']} cores, load average {res['host']['load_start']} "
              f"at the start, {res['host']['load_end']} at the end; run {res['wall_s']:.0f} s. "
              f"Command: `{res['command']}`", ""]
    acc = res.get("accuracy")
    if acc:
        lines += ["## Accuracy, held-out test people (same pairs for every row)", "",
                  "Strictly balanced pairs (`balanced_pairs(..., strict=True)`, seed 0), 10-fold pair accuracy "
                  "(threshold fitted on 9 folds). Ours: squared L2 between unit embeddings, threshold = the model's "
                  f"metadata tau (int8 {acc['int8_threshold']:.3f}"
                  + (f", float {acc['float_threshold']:.3f}" if acc.get("float_threshold") else "") + "). "
                  "dlib: Euclidean distance between raw descriptors (dlib's convention), tau 0.6 = dlib's "
                  "documented threshold; the squared-L2-on-unit-vectors row is the project's distance on the same "
                  "descriptors. dlib's descriptors come from the teacher cache (HOG detector, fall-back box where "
                  "it found no face). \"No-face pairs\": pairs with an image where our finder found no face, "
                  "left out of the other columns; \"all pairs\" counts them as wrong.", ""]
        head = ("| set | pipeline | pairs (same) | no-face pairs | pair accuracy, 10-fold | 10-fold, all pairs "
                "| AUC | TAR @ FAR 1e-2 | TAR @ FAR 1e-3 | acc @ tau | acc @ tau, all pairs |")
        lines += [head, "|" + "---|" * (head.count("|") - 1)]
        labels = {"ours_int8": "**ours int8** (finder + landmarks + align + embed, device path)",
                  "ours_float": "ours float (Keras, the same crops)",
                  "dlib_euclidean": "dlib teacher (raw Euclidean)",
                  "dlib_unit_sql2": "dlib teacher (squared L2, unit vectors)"}
        for name in SETS:
            r = acc.get(name)
            if not r:
                continue
            for key, label in labels.items():
                m = r.get(key)
                if not m:
                    continue
                nf = m["pairs_without_face"] if key.startswith("ours") else (
                    f"0 ({m['pairs_with_fallback_box']} with a fall-back box)")
                lines.append(
                    f"| {SET_TITLES[name]} ({r['people']} people, {r['images_in_pairs']} of {r['images']} images) | "
                    f"{label} | "
                    f"{m['num_pairs'] if not key.startswith('ours') else m['pairs_total']} ({r['same_pairs']}) | {nf} | "
                    f"{_pct(m['pair_accuracy'], m['pair_accuracy_std'])} | {_pct(m['pair_accuracy_all_pairs'])} | "
                    f"{m['auc']:.4f} | {_pct(m['tar_at_far']['0.01'])} | {_pct(m['tar_at_far']['0.001'])} | "
                    + (f"{_pct(m['accuracy_at_model_threshold'])} (tau {m['model_threshold']:.3f}) | "
                       f"{_pct(m['accuracy_at_model_threshold_all_pairs'])} |" if "model_threshold" in m else "– | – |"))
        lines.append("")
        notes = []
        for name in SETS:
            r = acc.get(name)
            if not r:
                continue
            s = (f"{SET_TITLES[name]}: our finder found no face in {r['images_without_face']} of "
                 f"{r['images_in_pairs']} images")
            if "dlib_euclidean" in r:
                s += f"; dlib's detector in {r['dlib_euclidean']['images_fallback_box']} (fall-back box used)"
            if "float_vs_int8_cosine" in r:
                c = r["float_vs_int8_cosine"]
                s += f"; float vs int8 embedding cosine mean {c['mean']:.4f} (5th percentile {c['p5']:.4f})"
            s += (f"; ours {r['ms_per_image_in_process']:.1f} ms per image in this process. {r['pairs'] - r['same_pairs']} "
                  f"different-person pairs: a FAR step is {1 / max(r['pairs'] - r['same_pairs'], 1):.1e}")
            if "float_vs_int8_cosine" in r and r["float_vs_int8_cosine"]["mean"] < 0.9:
                s += (". **Warning**: float and int8 embeddings disagree (cosine < 0.9): is --float-model "
                      "the source of --model?")
            notes.append(s + ".")
        lines += [f"- {n}" for n in notes] + [""]
    sp = res.get("speed")
    if sp and (sp.get("ours") or sp.get("dlib")):
        lines += ["## Speed, one 640x480 frame with one face, one thread", "",
                  f"Frame: `{sp['frame_source']}`, {sp['frame_recipe']} (`{sp['frame']}`). Each pipeline in its own "
                  f"child process, alternated ours/dlib for {sp['rounds']} round(s); {sp['frames_ours']} timed frames "
                  f"per round for ours, {sp['frames_dlib']} for dlib, after warm-up; medians and 90th percentiles "
                  "pooled over the rounds (per-round medians in the JSON).", ""]
        lines += ["| pipeline | step | median ms | p90 ms |", "|---|---|---|---|"]
        steps = {"ours": [("find", "learned finder (int8)"), ("landmarks", "5-point landmarks (int8)"),
                          ("align", "align (similarity warp, 96 px)"), ("embed", "embed one face (int8)"),
                          ("frame", "**whole frame**: find + landmarks + align + embed")],
                 "dlib": [("detect_up0", "HOG detect, upsample 0"), ("detect_up1", "HOG detect, upsample 1 (the teacher's)"),
                          ("shape", "5-point shape"), ("descriptor", "descriptor (ResNet, 150 px chip)"),
                          ("frame", "**whole frame**: detect (upsample 1) + shape + descriptor")]}
        for side, rows in steps.items():
            s = sp.get(side)
            if not s:
                continue
            for key, label in rows:
                if key in s["ms"]:
                    lines.append(f"| {'ours int8' if side == 'ours' else 'dlib'} | {label} | "
                                 f"{s['ms'][key]['median']:.2f} | {s['ms'][key]['p90']:.2f} |")
            parts = [k for k in (("find", "landmarks", "align", "embed") if side == "ours"
                                 else ("detect_up1", "shape", "descriptor")) if k in s["ms"]]
            lines.append(f"| {'ours int8' if side == 'ours' else 'dlib'} | sum of the steps' medians | "
                         f"{sum(s['ms'][k]['median'] for k in parts):.2f} | |")
        rt = sp.get("ratio_dlib_over_ours")
        if rt:
            lines += ["", f"dlib / ours, this run: whole frame **{rt['frame']:.0f}x** (per round: "
                      + ", ".join(f"{x:.0f}x" for x in sp["ratio_frame_per_round"]) + f"), descriptor vs embed "
                      f"{rt['descriptor_vs_embed']:.0f}x, HOG detect (upsample 1 / 0) vs our finder "
                      f"{rt['detect_up1_vs_find']:.1f}x / {rt['detect_up0_vs_find']:.1f}x."]
        lines.append("")
        lines += ["| pipeline | python | peak RSS (VmHWM) | peak RSS after loading | start-up s | load s | "
                  "CPU s per wall s | faces in the frame |", "|---|---|---|---|---|---|---|---|"]
        for side in ("ours", "dlib"):
            s = sp.get(side)
            if s:
                lines.append(f"| {'ours int8 (' + s.get('backend', '?') + ')' if side == 'ours' else 'dlib ' + s.get('dlib', '')} | "
                             f"`{_rel(s['python'])}` | {s['peak_rss_mb']:.0f} MB | {s['rss_after_load_mb']:.0f} MB | "
                             f"{_num(s['ready_s'])} | {s['load_s']:.2f} | {s['cpu_per_wall']:.2f} | {_faces(s['faces_in_frame'])} |")
        lines.append("")
    fs = res.get("files")
    if fs:
        lines += ["## Files", "", "| pipeline | file | size |", "|---|---|---|"]
        for k, v in fs["ours"].items():
            lines.append(f"| ours int8 | `{v['file']}` ({k}) | {_mb(v['bytes'])} |")
        if "ours_total_bytes" in fs:
            lines.append(f"| ours int8 | **total** | {_mb(fs['ours_total_bytes'])} |")
        if "float_keras" in fs:
            lines.append(f"| ours float | `{fs['float_keras']['file']}` (Keras, training side) | {_mb(fs['float_keras']['bytes'])} |")
        for k, v in fs["dlib"].items():
            lines.append(f"| dlib | `{v['file']}` ({k}) | {_mb(v['bytes'])} |")
        if "dlib_total_bytes" in fs:
            lines.append(f"| dlib | **total** (+ the HOG detector, compiled into dlib) | {_mb(fs['dlib_total_bytes'])} |")
        lines.append("")
    if res.get("skipped"):
        lines += ["Skipped: " + "; ".join(res["skipped"]), ""]
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------------
