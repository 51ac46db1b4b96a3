"""Compile an int8 model for the Coral Edge TPU with Google's ``edgetpu_compiler`` (if installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from edgecnn.edge.core.errors import EdgeError

COMPILER = "edgetpu_compiler"
INSTALL_HINT = (
    "edgetpu_compiler is not installed (x86-64 Debian/Ubuntu only): add Coral's apt repository "
    "(coral-edgetpu-stable) and `sudo apt install edgetpu-compiler`, then rerun with --edgetpu"
)


def compiler_path() -> str | None:
    return shutil.which(COMPILER)


def compile_model(tflite_path, out_dir=None, *, timeout_s: int = 600) -> Path:
    """Run the compiler (argv list, no shell); returns the ``*_edgetpu.tflite`` path."""
    exe = compiler_path()
    if exe is None:
        raise EdgeError(INSTALL_HINT)
    src = Path(tflite_path)
    out = Path(out_dir) if out_dir else src.parent
    proc = subprocess.run([exe, "-s", "-o", str(out), str(src)], capture_output=True, text=True,
                          timeout=timeout_s, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EdgeError(f"{COMPILER} failed on {src} (exit {proc.returncode}): {tail[0]}")
    result = out / f"{src.stem}_edgetpu.tflite"
    if not result.is_file():
        raise EdgeError(f"{COMPILER} reported success but {result} was not written")
    return result
