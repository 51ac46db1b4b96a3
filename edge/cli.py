"""The ``edgecnn`` command: one dispatcher; each verb lives in its own module.

Verb modules are imported at start-up only to register their arguments: they import nothing
heavy at module level. ``train`` and ``convert`` import TensorFlow when they run, never before.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys

from .errors import EdgeError

VERBS = {
    "info": "edgecnn.edge.cli_info",
    "bench": "edgecnn.edge.cli_bench",
    "eval": "edgecnn.edge.cli_eval",
    "detect": "edgecnn.edge.cli_detect",
    "face": "edgecnn.edge.cli_face",
    "ecg": "edgecnn.edge.cli_ecg",
    "train": "edgecnn.train.cli",
    "convert": "edgecnn.convert.cli",
}


class OneLineParser(argparse.ArgumentParser):
    """Usage errors are one line on stderr and exit status 2 (``--help`` still prints the usage)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from edgecnn import __version__

    parser = OneLineParser(
        prog="edgecnn", description="Train, convert to int8 TFLite, and run CNNs on the edge.")
    parser.add_argument("--version", action="version", version=f"edgecnn {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for module in VERBS.values():
        if importlib.util.find_spec(module) is None:
            continue
        importlib.import_module(module).register(sub)
    return parser


def fail(message: str) -> int:
    print(f"edgecnn: error: {message}", file=sys.stderr)
    return 2


def emit_json(obj) -> None:
    """Print one JSON object on stdout (the --json convention)."""
    print(json.dumps(obj, allow_nan=False, default=_json_default), flush=True)


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not getattr(args, "_accepts_unknown", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.task_argv = extra
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("edgecnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except (EdgeError, ValueError, TypeError, OSError) as exc:
        if os.environ.get("EDGECNN_DEBUG"):
            raise
        if isinstance(exc, OSError) and not getattr(exc, "filename", None) and not isinstance(exc, FileNotFoundError):
            msg = str(exc)
        else:
            msg = str(exc) if not isinstance(exc, OSError) else f"{exc.filename}: {exc.strerror}"
        return fail(" ".join(msg.split()) or type(exc).__name__)


if __name__ == "__main__":
    sys.exit(main())
