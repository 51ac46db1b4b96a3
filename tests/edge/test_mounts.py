"""Writes onto real file systems that refuse them: a read-only mount and a full one.

The other reliability tests inject EROFS / ENOSPC into the write calls; these mount a small tmpfs
in a private mount namespace (``unshare -m``, or ``unshare -rm`` as an unprivileged user), fill
it or remount it read-only, and run the real ``edgecnn`` command against it. Skipped where mount
namespaces are not allowed (some containers).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EDGECNN = f"{sys.executable} -m edgecnn.cli"


def _unshare_prefix() -> list[str] | None:
    if shutil.which("unshare") is None or not sys.platform.startswith("linux"):
        return None
    for prefix in (["unshare", "-m"], ["unshare", "-rm"]):
        probe = subprocess.run([*prefix, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null || "
                                "mount -t tmpfs -o size=64k tmpfs \"$TMPDIR\""], capture_output=True,
                               env={**os.environ, "TMPDIR": "/tmp"}, timeout=30)
        if probe.returncode == 0:
            return prefix
    return None


PREFIX = _unshare_prefix()
pytestmark = pytest.mark.skipif(PREFIX is None, reason="no private mount namespace here (unshare -m / -rm)")


def in_namespace(tmp_path: Path, script: str) -> subprocess.CompletedProcess:
    """Run ``script`` (sh) with ``$M`` a fresh 256 KiB tmpfs mounted on tmp_path/m, only for it."""
    mnt = tmp_path / "m"
    mnt.mkdir()
    body = f"set -u\nM={mnt}\nmount -t tmpfs -o size=256k,mode=0777 tmpfs \"$M\"\n" + textwrap.dedent(script)
    return subprocess.run([*PREFIX, "sh", "-c", body], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


class TestReadOnlyMount:
    def test_enroll_and_outputs_on_a_read_only_mount(self, tmp_path):
        model, img = FIXTURES / "face_tiny_int8.tflite", FIXTURES / "faces" / "person_0" / "0.png"
        det = FIXTURES / "det_tiny_int8.tflite"
        r = in_namespace(tmp_path, f"""
            {EDGECNN} face enroll {model} --gallery "$M/g.npz" --name p0 {img} >/dev/null || exit 90
            cp "$M/g.npz" "$M/../before.npz"
            mount -o remount,ro "$M" || exit 91
            {EDGECNN} face enroll {model} --gallery "$M/g.npz" --name p1 {FIXTURES / 'faces' / 'person_1' / '0.png'}
            echo "enroll=$?"
            {EDGECNN} detect {det} {img} --out "$M/out.png"
            echo "detect=$?"
            cmp "$M/g.npz" "$M/../before.npz" && echo same
            echo LS; ls -A "$M"
        """)
        assert "enroll=2" in r.stdout and "detect=2" in r.stdout, (r.stdout, r.stderr)
        assert "same" in r.stdout  # the gallery still holds p0 alone, byte for byte
        errors = _lines(r.stderr)
        assert len(errors) == 2, errors
        assert all(e.startswith("edgecnn: error: ") and "Read-only file system" in e for e in errors), errors
        assert "g.npz" in errors[0] and "out.png" in errors[1]
        listing = r.stdout.split("LS\n", 1)[1].split()
        assert sorted(listing) == ["g.npz", "g.npz.lock"]  # no temporary file, no out.png


class TestFullDisk:
    def test_a_full_mount_keeps_the_old_file_and_leaves_no_temporaries(self, tmp_path):
        det = FIXTURES / "det_tiny_int8.tflite"
        img = FIXTURES / "faces" / "person_0" / "0.png"
        r = in_namespace(tmp_path, f"""
            {EDGECNN} detect {det} {img} --out "$M/out.png" >/dev/null || exit 90
            cp "$M/out.png" "$M/../first.png"
            head -c 400000 /dev/urandom > "$M/filler" 2>/dev/null  # fills the 256 KiB mount
            {EDGECNN} detect {det} {img} --out "$M/out.png" --conf 0.01
            echo "detect=$?"
            cmp "$M/out.png" "$M/../first.png" && echo same
            echo LS; ls -A "$M"
        """)
        assert "detect=2" in r.stdout, (r.stdout, r.stderr)
        errors = _lines(r.stderr)
        assert len(errors) == 1 and "out.png" in errors[0] and "No space left on device" in errors[0], errors
        assert "same" in r.stdout
        assert sorted(r.stdout.split("LS\n", 1)[1].split()) == ["filler", "out.png"]  # no temporaries
