"""The gallery under concurrent writers, damaged or hostile files, and symlinks (#17)."""

from __future__ import annotations

import io
import json
import multiprocessing as mp
import zipfile

import numpy as np
import pytest

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.face import gallery as G

D = 8


def _emb(seed):
    v = np.random.default_rng(seed).normal(size=(2, D)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _enroll(path, name, seed, barrier):
    barrier.wait()
    G.update_gallery(path, lambda g: g.enroll(name, _emb(seed)), fingerprint="fp",
                     new=lambda: G.Gallery.empty("fp", D))


def _header(**changes):
    h = {"format": G.FORMAT, "version": 1, "model_fingerprint": "fp", "embedding_size": D,
         "distance": "squared_l2_unit", "names": ["ada"], "sources": ["a.jpg", "b.jpg"], "threshold": 0.8,
         "calibration": None}
    h.update(changes)
    return {k: v for k, v in h.items() if v != "<drop>"}


def _write(path, header, emb=None, labels=None):
    emb = _emb(0) if emb is None else emb
    labels = np.zeros(len(emb), np.int32) if labels is None else labels
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), np.uint8), embeddings=emb, labels=labels)
    path.write_bytes(buf.getvalue())


class TestConcurrentWriters:
    def test_no_lost_enrolment_in_100_rounds(self, tmp_path):
        ctx = mp.get_context("fork")
        lost = 0
        for r in range(100):
            path = tmp_path / f"g{r}.npz"
            barrier = ctx.Barrier(2)
            procs = [ctx.Process(target=_enroll, args=(path, f"p{r}_{k}", r * 2 + k, barrier)) for k in (0, 1)]
            for p in procs:
                p.start()
            for p in procs:
                p.join(30)
                assert p.exitcode == 0
            lost += 2 - len(G.load_gallery(path).names)
        assert lost == 0

    def test_lock_timeout_names_the_gallery(self, tmp_path):
        path = tmp_path / "g.npz"
        G.save_gallery(path, G.Gallery.empty("fp", D))
        with G.locked(path), pytest.raises(InputDataError, match="another process is changing"):
            G.update_gallery(path, lambda g: g, timeout=0.1)

    @pytest.mark.parametrize("timeout", [float("nan"), -1, float("inf"), "1"])
    def test_bad_timeout(self, tmp_path, timeout):
        with pytest.raises(ValueError, match="timeout"), G.locked(tmp_path / "g.npz", timeout):
            pass

    def test_symlinked_gallery_gets_the_person(self, tmp_path):
        real = tmp_path / "real.npz"
        G.save_gallery(real, G.Gallery.empty("fp", D))
        link = tmp_path / "link.npz"
        link.symlink_to(real)
        G.update_gallery(link, lambda g: g.enroll("ada", _emb(1)), fingerprint="fp")
        assert link.is_symlink() and G.load_gallery(real).names == ("ada",)


class TestDamagedHeaders:
    @pytest.mark.parametrize("change, field", [
        ({"names": "ada"}, "names"),
        ({"names": ["ada", "ada"]}, "names"),
        ({"names": [""]}, "names"),
        ({"names": [3]}, "names"),
        ({"names": None}, "names"),
        ({"names": "<drop>"}, "names"),
        ({"threshold": float("nan")}, "threshold"),
        ({"threshold": -0.5}, "threshold"),
        ({"threshold": "0.8"}, "threshold"),
        ({"model_fingerprint": ""}, "model_fingerprint"),
        ({"model_fingerprint": None}, "model_fingerprint"),
        ({"embedding_size": "8"}, "embedding_size"),
        ({"embedding_size": -1}, "embedding_size"),
        ({"embedding_size": True}, "embedding_size"),
        ({"distance": "cosine"}, "distance"),
        ({"sources": [1, 2]}, "sources"),
        ({"version": "1"}, "version"),
        ({"calibration": [1]}, "calibration"),
    ])
    def test_refused_with_the_field(self, tmp_path, change, field):
        p = tmp_path / "g.npz"
        _write(p, _header(**change))
        with pytest.raises(InputDataError, match=f"field '{field}'.*rebuild it"):
            G.load_gallery(p)

    def test_valid_file_still_loads(self, tmp_path):
        p = tmp_path / "g.npz"
        _write(p, _header())
        assert G.load_gallery(p, fingerprint="fp").names == ("ada",)

    def test_nan_embeddings(self, tmp_path):
        p = tmp_path / "g.npz"
        emb = _emb(0)
        emb[0, 0] = np.nan
        _write(p, _header(), emb=emb)
        with pytest.raises(InputDataError, match="NaN"):
            G.load_gallery(p)

    def test_npy_header_declaring_terabytes(self, tmp_path):
        """The declared shape is checked against the stored bytes before anything is allocated."""
        p = tmp_path / "g.npz"
        _write(p, _header())
        with zipfile.ZipFile(p) as z:
            parts = {n: z.read(n) for n in z.namelist()}
        parts["embeddings.npy"] = parts["embeddings.npy"].replace(b"(2, 8)", b"(100000000000, 8)")
        with zipfile.ZipFile(p, "w") as z:
            for n, data in parts.items():
                z.writestr(n, data)
        with pytest.raises(InputDataError, match="header declares"):
            G.load_gallery(p)

    @pytest.mark.parametrize("content", [b"", b"PK\x03\x04garbage", b"\x00" * 100, b"[" * 100000])
    def test_garbage(self, tmp_path, content):
        p = tmp_path / "g.npz"
        p.write_bytes(content)
        with pytest.raises(InputDataError):
            G.load_gallery(p)

    def test_deeply_nested_header_json(self, tmp_path):
        p = tmp_path / "g.npz"
        buf = io.BytesIO()
        np.savez(buf, header=np.frombuffer(b"[" * 200000 + b"]" * 200000, np.uint8), embeddings=_emb(0),
                 labels=np.zeros(2, np.int32))
        p.write_bytes(buf.getvalue())
        with pytest.raises(InputDataError):
            G.load_gallery(p)

    def test_a_folder_or_fifo_is_not_a_gallery(self, tmp_path):
        import os

        with pytest.raises(InputDataError, match="not a regular file"):
            G.load_gallery(tmp_path)
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        with pytest.raises(InputDataError, match="not a regular file"):
            G.load_gallery(fifo)
