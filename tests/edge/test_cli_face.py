"""`edgecnn face ...` end to end on the tiny int8 model and synthetic identities; bad input -> exit 2."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from edgecnn.cli import main

MODEL = "face_tiny_int8.tflite"


@pytest.fixture
def env(fixtures_dir, tmp_path):
    faces = tmp_path / "faces"
    shutil.copytree(fixtures_dir / "faces", faces)
    return {"model": str(fixtures_dir / MODEL), "faces": faces, "gallery": str(tmp_path / "gallery.npz"),
            "tmp": tmp_path}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def enroll_all(capsys, env, images=(0, 1)):
    for person in sorted(p.name for p in env["faces"].iterdir()):
        files = [env["faces"] / person / f"{k}.png" for k in images]
        code, _, err = run(capsys, "face", "enroll", env["model"], "--gallery", env["gallery"], "--name", person, *files)
        assert code == 0, err


class TestVerbs:
    def test_enroll_list_identify(self, capsys, env):
        enroll_all(capsys, env)
        code, out, _ = run(capsys, "face", "list", "--gallery", env["gallery"], "--json")
        assert code == 0 and json.loads(out)["people"] == {f"person_{i}": 2 for i in range(4)}
        hits = 0
        for i in range(4):
            code, out, _ = run(capsys, "face", "identify", env["model"], "--gallery", env["gallery"],
                               env["faces"] / f"person_{i}" / "2.png", "--json", "--tau", "4")
            res = json.loads(out)
            assert code == 0 and set(res) >= {"name", "distance", "tau", "ranking"}
            # values: the answer is the nearest person, its distance the best of the ranking, tau as asked
            assert res["ranking"][0]["name"] == res["name"] or res["name"] == "unknown"
            assert res["distance"] == res["ranking"][0]["distance"] and res["tau"] == 4.0
            assert [r["distance"] for r in res["ranking"]] == sorted(r["distance"] for r in res["ranking"])
            hits += res["name"] == f"person_{i}"
        assert hits >= 2  # unseen renderings, a tiny cartoon model: chance is 1 of 4
        code, out, _ = run(capsys, "face", "identify", env["model"], "--gallery", env["gallery"],
                           env["faces"] / "person_3" / "1.png", "--json")  # an enrolled image: exact match
        res = json.loads(out)
        assert res["name"] == "person_3" and res["distance"] < 1e-4 and res["tau_source"] == "model"

    def test_verify_text_and_json(self, capsys, env):
        a, b = env["faces"] / "person_0" / "0.png", env["faces"] / "person_1" / "0.png"
        code, out, _ = run(capsys, "face", "verify", env["model"], a, b, "--json")
        res = json.loads(out)
        assert code == 0 and res["same"] == (res["distance"] <= res["tau"])
        code, out, _ = run(capsys, "face", "verify", env["model"], a, a, "--tau", "0.01")
        assert code == 0 and out.startswith("same person") and "tau 0.0100" in out

    def test_calibrate_remove_rename(self, capsys, env):
        enroll_all(capsys, env, images=(0, 1, 2))
        code, _, err = run(capsys, "face", "calibrate", env["model"], "--gallery", env["gallery"])
        assert code == 2 and "too few impostor pairs" in err and "\n" not in err.strip()
        code, out, _ = run(capsys, "face", "calibrate", env["model"], "--gallery", env["gallery"],
                           "--far", "0.05", "--allow-few", "--json")
        rep = json.loads(out)
        assert code == 0 and rep["impostor_pairs"] == 54 and rep["genuine_pairs"] == 12 and rep["far"] <= 0.05
        code, out, _ = run(capsys, "face", "list", "--gallery", env["gallery"], "--json")
        assert json.loads(out)["threshold"] == rep["threshold"]
        assert run(capsys, "face", "rename", "--gallery", env["gallery"], "person_0", "zoe")[0] == 0
        assert run(capsys, "face", "remove", "--gallery", env["gallery"], "person_1")[0] == 0
        code, out, _ = run(capsys, "face", "list", "--gallery", env["gallery"], "--json")
        assert sorted(json.loads(out)["people"]) == ["person_2", "person_3", "zoe"]


class TestBadInput:
    def _write(self, env, name, image):
        path = env["tmp"] / name
        cv2.imwrite(str(path), image)
        return path

    def test_bad_images(self, capsys, env):
        tiny = self._write(env, "tiny.png", np.zeros((8, 8, 3), np.uint8))
        corrupt = env["tmp"] / "corrupt.jpg"
        corrupt.write_bytes(b"\xff\xd8\xff\xe0 garbage")
        blank = self._write(env, "blank.png", np.full((120, 120, 3), 128, np.uint8))
        ok = env["faces"] / "person_0" / "0.png"
        cases = [
            (["face", "verify", env["model"], tiny, ok], "too small"),
            (["face", "verify", env["model"], corrupt, ok], "cannot decode"),
            (["face", "verify", env["model"], env["tmp"] / "absent.png", ok], "not found"),
            (["face", "verify", env["model"], blank, ok, "--finder", "haar"], "no face"),
            (["face", "enroll", env["model"], "--gallery", env["gallery"], "--name", "x", blank, "--finder", "haar"],
             "no face"),
        ]
        for argv, word in cases:
            code, out, err = run(capsys, *argv)
            assert code == 2 and word in err and err.count("\n") == 1 and out == "", (argv, err)

    def test_gallery_problems(self, capsys, env):
        img = env["faces"] / "person_0" / "0.png"
        code, _, err = run(capsys, "face", "identify", env["model"], "--gallery", env["gallery"], img)
        assert code == 2 and "gallery not found" in err
        assert run(capsys, "face", "enroll", env["model"], "--gallery", env["gallery"], "--name", "a", img)[0] == 0
        code, _, err = run(capsys, "face", "remove", "--gallery", env["gallery"], "nobody")
        assert code == 2 and "no person named 'nobody'" in err
        assert run(capsys, "face", "remove", "--gallery", env["gallery"], "a")[0] == 0
        code, _, err = run(capsys, "face", "identify", env["model"], "--gallery", env["gallery"], img)
        assert code == 2 and "empty" in err

    def test_missing_camera_and_both_sources(self, capsys, env):
        img = env["faces"] / "person_0" / "0.png"
        assert run(capsys, "face", "enroll", env["model"], "--gallery", env["gallery"], "--name", "a", img)[0] == 0
        code, _, err = run(capsys, "face", "identify", env["model"], "--gallery", env["gallery"], "--camera", "97")
        assert code == 2 and "camera 97: cannot open it" in err
        code, _, err = run(capsys, "face", "identify", env["model"], "--gallery", env["gallery"], img, "--camera", "0")
        assert code == 2 and "exactly one of IMAGE or --camera" in err

    def test_gallery_of_another_model_is_refused(self, capsys, env):
        from edgecnn.edge.face.gallery import Gallery, save_gallery

        save_gallery(env["gallery"], Gallery.empty("0123456789abcdef", 16))
        code, _, err = run(capsys, "face", "identify", env["model"], "--gallery", env["gallery"],
                           env["faces"] / "person_0" / "0.png")
        assert code == 2 and "re-enroll" in err

    def test_wrong_task_model(self, capsys, env, fixtures_dir):
        code, _, err = run(capsys, "face", "verify", fixtures_dir / "generic_int8.tflite",
                           env["faces"] / "person_0" / "0.png", env["faces"] / "person_0" / "1.png")
        assert code == 2 and "face" in err
