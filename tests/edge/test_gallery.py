"""The gallery: edits, identify, calibrate, the file format, atomic writes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.face import gallery as G


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def three_people(noise=0.05, per=3, seed=0):
    """Three tight clusters around orthogonal directions in 4-D."""
    rng = np.random.default_rng(seed)
    g = G.Gallery.empty("fp1", 4)
    for i, name in enumerate(["ana", "bo", "cy"]):
        centre = np.eye(4)[i]
        g = g.enroll(name, unit(centre + rng.normal(0, noise, (per, 4))), [f"{name}{k}.jpg" for k in range(per)])
    return g


class TestEdits:
    def test_enroll_appends_to_an_existing_person(self):
        g = three_people().enroll("bo", unit([[0, 1, 0.1, 0]]))
        assert g.people() == {"ana": 3, "bo": 4, "cy": 3} and len(g.sources) == 10

    @pytest.mark.parametrize("name", ["", "  ", "unknown", None])
    def test_bad_names(self, name):
        with pytest.raises(InputDataError, match="name"):
            G.Gallery.empty("fp", 4).enroll(name, unit([[1, 0, 0, 0]]))

    def test_wrong_embedding_size(self):
        with pytest.raises(InputDataError, match=r"\(N>=1, 4\)"):
            G.Gallery.empty("fp", 4).enroll("x", np.ones((1, 3)))

    def test_remove_renumbers_labels(self):
        g = three_people().remove("ana")
        assert g.names == ("bo", "cy") and set(g.labels.tolist()) == {0, 1}
        assert g.identify(unit([0, 1, 0, 0]), 0.5).name == "bo"

    def test_rename(self):
        g = three_people().rename("bo", "bob")
        assert g.names == ("ana", "bob", "cy")

    @pytest.mark.parametrize("op", [lambda g: g.remove("zed"), lambda g: g.rename("zed", "x")])
    def test_unknown_name_lists_the_enrolled(self, op):
        with pytest.raises(InputDataError, match="no person named 'zed'.*ana, bo, cy"):
            op(three_people())

    def test_rename_onto_an_existing_name(self):
        with pytest.raises(InputDataError, match="already enrolled"):
            three_people().rename("ana", "bo")

    def test_edits_reset_the_calibrated_threshold(self):
        g, _ = three_people().calibrate(0.1, allow_few=True)
        assert g.threshold is not None
        assert g.enroll("dee", unit([[0, 0, 0, 1]])).threshold is None
        assert g.remove("ana").threshold is None


class TestIdentify:
    @pytest.mark.parametrize("probe, tau, name", [
        ([1, 0.05, 0, 0], 0.5, "ana"), ([0, 0, 1, 0], 0.5, "cy"),
        ([0, 0, 0, 1], 0.5, "unknown"),  # nobody within tau
        ([0, 0, 0, 1], 2.5, "ana"),  # everyone within tau: the nearest wins (ties: enrolment order)
    ])
    def test_table(self, probe, tau, name):
        m = three_people(noise=0.0).identify(unit(probe), tau)
        assert m.name == name and m.tau == tau
        assert [d for _, d in m.ranking] == sorted(d for _, d in m.ranking)

    def test_empty_gallery(self):
        with pytest.raises(InputDataError, match="empty"):
            G.Gallery.empty("fp", 4).identify(unit([1, 0, 0, 0]), 1.0)

    def test_scores(self):
        g = three_people()
        for score in G.SCORES:
            assert g.identify(unit([1, 0, 0, 0]), 1.0, score).name == "ana"
        with pytest.raises(ValueError, match="min"):
            g.identify(unit([1, 0, 0, 0]), 1.0, "max")


class TestCalibrate:
    def test_pair_counts(self):
        genuine, impostor = three_people().pair_distances()
        assert len(genuine) == 3 * 3 and len(impostor) == 27

    def test_too_few_impostor_pairs_is_explained(self):
        with pytest.raises(InputDataError, match="have 27, need at least 1000"):
            three_people().calibrate(1e-3)

    def test_allow_few_separates_clusters(self):
        g, rep = three_people().calibrate(1e-3, allow_few=True)
        genuine, impostor = g.pair_distances()
        assert genuine.max() < g.threshold < impostor.min()
        assert rep["far"] == 0.0 and rep["tar"] == 1.0 and rep["warnings"]

    def test_far_target_is_respected(self):
        rng = np.random.default_rng(1)
        g = G.Gallery.empty("fp", 8)
        for i in range(12):
            g = g.enroll(f"p{i}", unit(rng.normal(size=(4, 8))))  # random: impostors overlap genuine
        g, rep = g.calibrate(0.05)
        assert rep["impostor_pairs"] == 48 * 47 // 2 - 12 * 6
        assert rep["far"] <= 0.05 and rep["far"] > 0.0

    def test_needs_two_people(self):
        g = G.Gallery.empty("fp", 4).enroll("solo", unit(np.eye(4)[:2]))
        with pytest.raises(InputDataError, match="two enrolled people"):
            g.calibrate(0.1)


class TestFile:
    def test_round_trip(self, tmp_path):
        g, _ = three_people().calibrate(0.1, allow_few=True)
        path = G.save_gallery(tmp_path / "g.npz", g)
        back = G.load_gallery(path, fingerprint="fp1")
        assert back.names == g.names and back.sources == g.sources and back.threshold == g.threshold
        assert back.calibration == g.calibration
        np.testing.assert_array_equal(back.embeddings, g.embeddings)
        np.testing.assert_array_equal(back.labels, g.labels)
        with np.load(path, allow_pickle=False) as z:  # plain arrays only
            assert sorted(z.files) == ["embeddings", "header", "labels"]

    def test_other_model_is_refused(self, tmp_path):
        G.save_gallery(tmp_path / "g.npz", three_people())
        with pytest.raises(InputDataError, match="re-enroll"):
            G.load_gallery(tmp_path / "g.npz", fingerprint="another")

    @pytest.mark.parametrize("content, word", [
        (b"", "not a readable"), (b"PK\x03\x04 broken zip", "not a readable"), (os.urandom(200), "not a readable"),
    ])
    def test_corrupt_files(self, tmp_path, content, word):
        (tmp_path / "g.npz").write_bytes(content)
        with pytest.raises(InputDataError, match=word):
            G.load_gallery(tmp_path / "g.npz")

    def test_missing_file(self, tmp_path):
        with pytest.raises(InputDataError, match="not found"):
            G.load_gallery(tmp_path / "nope.npz")

    @pytest.mark.parametrize("patch, word", [({"format": "other"}, "not an edgecnn gallery"),
                                             ({"version": 99}, "newer"), ({"embedding_size": 5}, "disagree")])
    def test_bad_headers(self, tmp_path, patch, word):
        import io
        import json

        data = G.to_bytes(three_people())
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        header = {**json.loads(bytes(arrays["header"]).decode()), **patch}
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
        np.savez(tmp_path / "g.npz", **arrays)
        with pytest.raises(InputDataError, match=word):
            G.load_gallery(tmp_path / "g.npz")

    def test_failed_replace_keeps_the_old_gallery(self, tmp_path, monkeypatch):
        path = G.save_gallery(tmp_path / "g.npz", three_people())

        def boom(*a, **k):
            raise OSError("disk pulled")

        monkeypatch.setattr(os, "replace", boom)
        with pytest.raises(OSError):
            G.save_gallery(path, three_people().remove("ana"))
        monkeypatch.undo()
        assert G.load_gallery(path).names == ("ana", "bo", "cy")
        assert [p.name for p in tmp_path.iterdir()] == ["g.npz"]

    def test_process_killed_mid_write_keeps_the_old_gallery(self, tmp_path):
        path = G.save_gallery(tmp_path / "g.npz", three_people())
        code = textwrap.dedent(f"""
            import os, time
            from edgecnn.edge.face import gallery as G
            os.replace = lambda *a, **k: time.sleep(60)   # stall between the temp write and the rename
            g = G.load_gallery({str(path)!r}).remove("ana")
            G.save_gallery({str(path)!r}, g)
        """)
        proc = subprocess.Popen([sys.executable, "-c", code])
        try:
            deadline = time.time() + 60
            while not list(tmp_path.glob(".g.npz.*.tmp")) and time.time() < deadline:
                time.sleep(0.05)
            assert list(tmp_path.glob(".g.npz.*.tmp")), "the writer never reached its temporary file"
            time.sleep(0.2)
        finally:
            proc.kill()
            proc.wait()
        assert G.load_gallery(path).names == ("ana", "bo", "cy")
